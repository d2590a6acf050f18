"""What a trace warns about: where a value or a gradient first stops being a finite number and
why (from the op table's domains and singular points), and a graph whose numbers were changed
in place after they were used (:class:`StaleGraphError`).

:func:`chainrule.trace.build` calls these while it records; ``StaleGraphError`` and
``check_fresh`` are reached as ``chainrule.trace.StaleGraphError`` and ``chainrule.trace.check_fresh``.
"""
from __future__ import annotations

import math

import numpy as np

from . import autodiff
from .errors import InputError
from .numfmt import constant

__all__ = ["StaleGraphError", "check_fresh"]


# --------------------------------------------------------------------------
# Non-finite numbers: where they first appear, and why
# --------------------------------------------------------------------------

def _finite(v) -> bool:
    if v is None:
        return True
    if isinstance(v, np.ndarray):
        return bool(np.isfinite(v).all()) if v.dtype.kind in "fc" else True
    return math.isfinite(v)


def _what(v) -> str:
    """"nan", "inf", "−inf", or "not finite" for an array holding several kinds."""
    if isinstance(v, np.ndarray):
        bad = v[~np.isfinite(v)]
        kinds = {str(float(b)) for b in bad.ravel()[:1000]}
        return kinds.pop() if len(kinds) == 1 else "not finite (nan and inf)"
    return str(float(v))


def _where(tn, label) -> str:
    """``a = w · x`` for a node the learner knows by the expression too, else its label."""
    return f"{label} = {tn.expr}" if tn.op and tn.expr and label == tn.label and tn.expr != label else label


def _first_nonfinite_value(graph, nodes, shown) -> tuple | None:
    """(id, warning) for the first node (forward order) whose value is not finite, or None."""
    for n, tn, label in zip(graph, nodes, shown):
        v = n.data
        if isinstance(v, np.ndarray):
            if tn.norm is not None and math.isfinite(tn.norm):
                continue
            if _finite(v):
                continue
        elif math.isfinite(v):
            continue
        what = _what(v) if isinstance(v, np.ndarray) else str(float(v))
        where = _where(tn, label)
        domain = getattr(n._op, "domain", "") if n._op is not None else ""
        why = f": {domain}" if domain else (
            ": it is a leaf, given that way" if n._op is None else ": its inputs are finite")
        return tn.id, f"{where} is {what}, the first value in the forward pass that is not a finite number{why}"
    return None


def _why_nonfinite(node, j, local, incoming, names) -> str:
    """Why input ``j``'s contribution from ``node`` stopped being finite (the incoming one is finite)."""
    op = node._op
    key = ("x", "y")[j] if j < 2 else None
    arg = names.get(key, "its input") if key else "its input"
    if isinstance(local, str):   # a tensor row: ``local`` is the Jacobian's form in words
        reason = op.singular_reason(j, **names) if hasattr(op, "singular_reason") else ""
        return reason or f"its backward step ({local}) gives a value that is not a finite number"
    if not math.isfinite(local):
        reason = op.singular_reason(j, **names) if hasattr(op, "singular_reason") else ""
        values = ", ".join(f"{names[k]} = {constant(v)}" for k, v in
                           zip(("x", "y"), [p.data for p in node._parents()]) if k in names)
        zero = " and the gradient arriving there is 0 (0 · inf is nan)" if (
            math.isinf(local) and incoming == 0) else ""
        if reason:   # a one-input row's reason names its point already ("√x … at x = 0")
            return f"{reason} (here {values}){zero}" if values and len(names) > 2 + ("k" in names) else reason + zero
        formula = op.formula(j, **names) if hasattr(op, "formula") else "its local derivative"
        return f"its local derivative ∂{names['out']}/∂{arg} = {formula} is {_what(local)} at {values}"
    return f"the gradient times the local derivative ({constant(local)}) is too large for a float"


def _nonfinite_grad_message(nodes, origins, bad_grads, shown, out) -> tuple:
    """(id of the node whose gradient first stopped being finite, one line: which gradients are not
    finite, the first node (forward order) where that began, and why)."""
    i, pid, why = min(origins)
    where = _where(nodes[i], shown[i])
    out_label = shown[out]
    leaves = [shown[k] for k in sorted(bad_grads)]
    if leaves:
        which = ", ".join(f"∂{out_label}/∂{lab}" for lab in leaves[:4]) + (
            f" and {len(leaves) - 4} more" if len(leaves) > 4 else "")
        what = f"{which} {'is' if len(leaves) == 1 else 'are'} {_what(_grad_of(nodes[sorted(bad_grads)[0]]))}"
    else:
        what = f"∂{out_label}/∂{shown[pid]} is not a finite number"
    more = f" (and at {len(origins) - 1} more place{'s' if len(origins) > 2 else ''})" if len(origins) > 1 else ""
    return pid, (f"{what}: it first appears at {where}, "
            f"on the way to {shown[pid]}{more}: {why}")


def _grad_of(tn):
    g = tn.grad
    if isinstance(g, list):
        return np.asarray(g, dtype=float)
    return math.nan if g is None else g


# --------------------------------------------------------------------------
# Out-of-date graphs: numbers changed in place after they were used
# --------------------------------------------------------------------------

class StaleGraphError(InputError):
    """The graph was computed from numbers that have since been changed in place."""


def _node_name(n) -> str:
    if getattr(n, "name", None):
        return n.name
    d = n.data
    if isinstance(d, np.ndarray):
        return f"an unnamed tensor of shape {tuple(d.shape)}"
    return f"an unnamed Value (now {constant(float(d))})"


def _stale_message(output, graph, on_stale: str = "raise", name=_node_name) -> str:
    """"" if ``graph`` is up to date; else the reason (or raise :class:`StaleGraphError`)."""
    if on_stale not in ("raise", "warn"):
        raise InputError(f"on_stale must be 'raise' or 'warn', got {on_stale!r}")
    bad = autodiff.changed_after_use(graph)
    if not bad:
        return ""
    leaves = [n for n, _ in bad if n._op is None]
    made = [n for n, _ in bad if n._op is not None]
    out = name(output) if name is not _node_name else (getattr(output, "name", None) or "the output")
    parts = []
    if leaves:
        names = [name(n) for n in leaves]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        parts.append(f"{shown} {'was' if len(names) == 1 else 'were'} changed in place after {out} was "
                     "computed from "
                     + ("it" if len(names) == 1 else "them")
                     + " (by an optimizer step, an assignment to .data, or an in-place operation)")
    if made:
        names = [name(n) for n in made]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        parts.append(f"{shown} {'was' if len(names) == 1 else 'were'} changed in place after "
                     f"{'it was' if len(names) == 1 else 'they were'} computed, so "
                     f"{'its value no longer follows' if len(names) == 1 else 'their values no longer follow'}"
                     " from the inputs")
    msg = (f"the graph of {out} is out of date: " + "; ".join(parts)
           + f", so its recorded values and the gradients from them no longer match: explain or trace "
             f"before the update (before opt.step()), or compute {out} again")
    if on_stale == "raise":
        raise StaleGraphError(msg)
    return msg


def check_fresh(output, name=_node_name) -> None:
    """Raise :class:`StaleGraphError` if numbers in ``output``'s graph changed in place after use.

    ``name(node)`` gives the name a message uses for a node.
    """
    _stale_message(output, autodiff.ancestors(output), "raise", name)
