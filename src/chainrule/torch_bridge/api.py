"""The functions of ``chainrule.torch``: trace, recording, explain, compare, first_nonfinite."""
from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..numfmt import fmt
from ..trace import Trace, build
from . import graph as G
from .graph import torch_module

__all__ = ["trace", "recording", "explain", "compare", "first_nonfinite", "Comparison", "NonFinite"]


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------

def _caller_names(depth: int) -> dict:
    """The tensors among the local variables of the user's frame (``depth`` frames up)."""
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return {}
    torch = torch_module()
    return {k: v for k, v in frame.f_locals.items() if isinstance(v, torch.Tensor) and not k.startswith("_")}


def _names(names, depth: int) -> dict:
    """name -> tensor from ``names``: a dict, a module (``named_parameters()``), or a list of them;
    None: the caller's local variables that hold tensors."""
    torch = torch_module()
    caller = _caller_names(depth + 1)
    if names is None:
        return caller
    out: dict = {}
    items = names if isinstance(names, (list, tuple)) else [names]
    for item in items:
        if isinstance(item, torch.nn.Module):
            for k, p in item.named_parameters():
                out.setdefault(k, p)
        elif isinstance(item, dict):
            for k, v in item.items():
                if not isinstance(k, str):
                    raise InputError(f"names: a key must be a name (a string), got {type(k).__name__} {k!r:.40}")
                if isinstance(v, torch.Tensor):
                    out.setdefault(k, v)
        else:
            raise InputError("names must be a dict of name -> tensor (locals() works), a torch.nn.Module, "
                             f"or a list of them; got {type(item).__name__}")
    for k, v in caller.items():            # the caller's variables name what ``names`` leaves unnamed
        out.setdefault(k, v)
    return out


# --------------------------------------------------------------------------
# trace
# --------------------------------------------------------------------------

def _check_loss(loss, grad, what="trace"):
    torch = torch_module()
    if not isinstance(loss, torch.Tensor):
        raise InputError(f"chainrule.torch.{what}() needs a torch.Tensor computed from tensors that require "
                         f"grad, got {type(loss).__name__} {loss!r:.60}")
    if loss.grad_fn is None:
        if loss.requires_grad:
            raise InputError(f"chainrule.torch.{what}(): this tensor is a leaf (made directly, not computed): "
                             "there is no graph behind it; pass the loss computed from it")
        raise InputError(f"chainrule.torch.{what}(): this tensor has no grad_fn: nothing it was computed from "
                         "requires grad (set requires_grad=True on the inputs), or it was computed under "
                         "torch.no_grad()")
    if loss.is_complex():
        raise InputError(f"chainrule.torch.{what}() works with real numbers; this tensor is complex")
    if grad is None:
        if loss.numel() != 1:
            raise InputError(f"chainrule.torch.{what}(): the output has shape {tuple(loss.shape)}, not a single "
                             "number: pass grad= (the gradient to start from, like loss.backward(gradient)), "
                             "or reduce it first (loss.sum())")
        return torch.ones_like(loss)
    if not isinstance(grad, torch.Tensor):
        grad = torch.as_tensor(grad, dtype=loss.dtype)
    if tuple(grad.shape) != tuple(loss.shape):
        raise InputError(f"chainrule.torch.{what}(): grad has shape {tuple(grad.shape)} but the output has shape "
                         f"{tuple(loss.shape)}")
    return grad.to(loss.dtype)


def trace(loss, names=None, *, grad=None) -> Trace:
    """The :class:`~chainrule.trace.Trace` of a PyTorch computation, with PyTorch's backward.

    ``names``: where labels come from: a dict name -> tensor (``locals()``), a
    ``torch.nn.Module`` (its ``named_parameters()``) or a list of them; the tensors among the
    caller's local variables name whatever these leave unnamed. ``grad``: the gradient to start from for an
    output that is not a single number (as ``loss.backward(gradient)``).

    PyTorch's ``.grad`` fields are not touched. Call it before ``loss.backward()`` (which frees
    what PyTorch saved), after ``backward(retain_graph=True)``, or on a forward computed inside
    :func:`recording`.
    """
    seed = _check_loss(loss, grad)
    return _trace(loss, _names(names, 1), seed)


def _trace(loss, names: dict, seed) -> Trace:
    g = G.read_graph(loss, names)
    if g.root.name is None:
        g.root.name = next((k for k, v in names.items() if v is loss), None)
    record = G.run_backward(g, seed)
    t = build(g.root, record, _graph=g.nodes)
    unknown = {tn.id for tn, n in zip(t.nodes, g.nodes) if not n.known}
    for i in unknown:                      # not saved by PyTorch nor recorded: shown as unknown
        t.nodes[i].value = t.nodes[i].norm = None
    for step in t.forward:
        if step.node in unknown:
            step.value = None
    t.warnings.extend(g.notes)
    eps = float(torch_module().finfo(loss.dtype).eps) if loss.is_floating_point() else 0.0
    t.tolerance = 0.0 if eps <= np.finfo(np.float64).eps else 1000 * eps   # as explain_tensor's rtol
    t.warnings.extend(_check_against_autograd(loss, seed, g))
    t.torch_graph, t.torch_record = g, record
    return t


def _check_against_autograd(loss, seed, g) -> list[str]:
    """Each leaf's gradient from the step-by-step run against torch.autograd.grad (when the graph
    is still there): a difference means a step was read wrongly, and is said."""
    torch = torch_module()
    leaves = [(n, n.tensor) for n in g.leaves.values() if n.tensor is not None and n.grad is not None]
    if not leaves:
        return []
    try:
        got = torch.autograd.grad(loss, [t for _, t in leaves], seed, retain_graph=True, allow_unused=True)
    except RuntimeError:
        return []      # freed: the recorded backward was used
    out = []
    for (n, _), ref in zip(leaves, got):
        if ref is None:
            continue
        a, b = G._as_array(n.grad), G._as_array(ref)
        if a.shape == b.shape and not np.allclose(a, b, rtol=1e-5, atol=1e-7, equal_nan=True):
            out.append(f"the step-by-step backward gives {n.name or 'a leaf'} a gradient that differs from "
                       f"torch.autograd.grad's (norms {fmt(float(np.linalg.norm(a)))} and "
                       f"{fmt(float(np.linalg.norm(b)))})")
    return out


class recording:
    """``with chainrule.torch.recording(): loss = model(x)`` keeps every op's output as it is made
    (values PyTorch does not save for its backward), and the gradients of the next backward PyTorch
    runs, so a later :func:`trace` shows every value, even after ``loss.backward()``."""

    def __enter__(self):
        torch = torch_module()
        self.rec = G.Recording()
        rec = self.rec

        class _Mode(torch.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                rec.calls += 1
                rec.keep(out, args)
                return out

        self._mode = _Mode()
        self._mode.__enter__()
        G.push_recording(rec)
        return rec

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        G.pop_recording(self.rec)
        G.finish(self.rec)
        return False


# --------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------

def _as_trace(target, depth: int, names=None) -> Trace:
    if isinstance(target, Trace):
        if not hasattr(target, "torch_graph"):
            raise InputError("chainrule.torch.explain() needs a trace made by chainrule.torch.trace(); for "
                             "chainrule's own traces use chainrule.explain")
        return target
    seed = _check_loss(target, None, "explain")
    return _trace(target, _names(names, depth + 1), seed)


def _wrt_node(t: Trace, wrt):
    """The stand-in node for ``wrt``: a label, or a torch tensor of the graph."""
    torch = torch_module()
    g = t.torch_graph
    if isinstance(wrt, str):
        for i, n in enumerate(t.nodes):
            if n.label == wrt:
                return g.nodes[i]
        raise InputError(f"no input or variable named {wrt!r}; inputs: "
                         + ", ".join(n.label for n in t.inputs))
    if isinstance(wrt, torch.Tensor):
        for node in g.nodes:
            if (node.tensor is wrt) or (wrt.grad_fn is not None and node.fn is wrt.grad_fn):
                return node
        raise InputError("this tensor is not part of the graph being explained (or does not require grad)")
    raise InputError(f"wrt must be a name or a torch tensor of the graph, got {type(wrt).__name__}")


def explain(target, wrt=None, *, index=None, names=None, **kw):
    """The chain rule for a PyTorch computation, with PyTorch's numbers.

    ``target``: a loss tensor (traced here) or a :func:`trace`. For a graph of single
    numbers: :func:`chainrule.explain.explain` (the chain product in numbers, for every input
    or for ``wrt``). For tensors: :func:`chainrule.explain_tensor.explain_record`, the
    layer-level chain with shapes for one ``wrt`` (``index=(i, j)``: one weight's scalar chains).
    """
    t = _as_trace(target, 1, names)
    g = t.torch_graph
    if g.scalar:
        from ..explain import explain as explain_trace
        if index is not None:
            raise InputError("index= picks one element of a tensor; every number in this graph is a scalar")
        labels = None
        if wrt is not None:
            items = wrt if isinstance(wrt, (list, tuple)) else [wrt]
            labels = [t.nodes[g.nodes.index(_wrt_node(t, w))].label for w in items]
            labels = labels if isinstance(wrt, (list, tuple)) else labels[0]
        return explain_trace(t, labels, **kw)
    from ..explain.tensor import explain_record
    if wrt is None or isinstance(wrt, (list, tuple)):
        raise InputError("explain(loss, wrt) for tensors: name one tensor to explain, e.g. "
                         "explain(loss, '0.weight') or explain(loss, model[0].weight)")
    node = _wrt_node(t, wrt)
    if node.grad is None:
        raise InputError(f"{t.nodes[g.nodes.index(node)].label} has no gradient in this graph")
    if index is not None:
        generic = sorted({n.op for n in g.nodes if G.is_generic(n._op)})
        if generic:
            raise InputError("one weight's scalar chains need every step in chainrule's op table, and "
                             f"{', '.join(generic)} {'is' if len(generic) == 1 else 'are'} PyTorch's own; "
                             "explain without index= for the layer-level chain")
    labels = {n: tn.label for n, tn in zip(g.nodes, t.nodes) if n.name}
    from ..explain.tensor import _labels
    lab = _labels(g.nodes, g.root)
    lab.update(labels)
    return explain_record(g.root, node, t.torch_record, index, nodes=g.nodes, labels=lab, **kw)


# --------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------

@dataclass
class Comparison:
    """Where the same computation in chainrule and in PyTorch first differs (forward order)."""
    same: bool
    node: str | None = None          # chainrule's label of the first node that differs ("a → x": the
                                     # gradient a's backward step sends to x)
    what: str = ""                   # "value" or "gradient"
    chainrule: Any = None
    torch: Any = None
    matched: int = 0                 # nodes compared
    unmatched: list = field(default_factory=list)   # steps only one side has
    chainrule_trace: Trace | None = field(default=None, repr=False)
    torch_trace: Trace | None = field(default=None, repr=False)

    def __str__(self) -> str:
        if self.same:
            extra = f" ({len(self.unmatched)} step(s) only one side has: {', '.join(self.unmatched[:4])})" \
                if self.unmatched else ""
            return f"chainrule and PyTorch agree on all {self.matched} nodes, values and gradients{extra}"
        return (f"first difference, in forward order, at {self.node}: its {self.what} is "
                f"{_show(self.chainrule)} in chainrule and {_show(self.torch)} in PyTorch")


def _show(v) -> str:
    if isinstance(v, (list, np.ndarray)):
        a = np.asarray(v, dtype=float)
        if a.size == 1:
            return fmt(float(a))
        return " ".join(np.array2string(a, precision=6, threshold=12, separator=", ").split())
    return "nothing" if v is None else fmt(v)


def compare(fn, inputs, *, rtol: float = 1e-6, atol: float = 1e-9) -> Comparison:
    """Run ``fn`` on chainrule Values/Tensors and on PyTorch tensors (float64) made from
    ``inputs`` (name -> number or array; the names are ``fn``'s parameters) and report the
    first node, in forward order, whose value or gradient differs, with both numbers.

    Nodes are paired along the two graphs' op sequences (PyTorch may spell a step
    differently, or add one: such steps are listed in ``unmatched``).
    """
    import chainrule
    torch = torch_module()
    if not callable(fn):
        raise InputError(f"compare(fn, inputs): fn must be a function, got {type(fn).__name__}")
    if not isinstance(inputs, dict) or not inputs or not all(isinstance(k, str) for k in inputs):
        raise InputError("compare(fn, inputs): inputs must be a dict of name -> number or array, e.g. "
                         "{'w': 0.5, 'x': 2.0}")
    ours, theirs = {}, {}
    for k, v in inputs.items():
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"compare: input {k!r} must be a number or an array of numbers, got "
                             f"{type(v).__name__}") from None
        ours[k] = chainrule.Value(float(a), name=k) if a.ndim == 0 else chainrule.Tensor(a, requires_grad=True,
                                                                                       name=k)
        theirs[k] = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    try:
        out_c = fn(**ours)
        out_t = fn(**theirs)
    except InputError:
        raise
    except Exception as e:  # the user's function failed on one side: say which, in one line
        raise InputError(f"compare: fn failed: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") \
            from None
    if not hasattr(out_c, "_parents"):
        raise InputError(f"compare: fn must return a chainrule Value or Tensor for chainrule inputs, got "
                         f"{type(out_c).__name__}")
    if not isinstance(out_c, chainrule.Value) and np.size(out_c.data) != 1:
        out_c, out_t = out_c.sum(), out_t.sum()
    tc = chainrule.trace(out_c)
    seed = _check_loss(out_t, None, "compare")
    tt = _trace(out_t, theirs, seed)
    return _compare_traces(tc, tt, rtol, atol)


def _compare_traces(tc: Trace, tt: Trace, rtol, atol) -> Comparison:
    # inputs pair by name (PyTorch does not say when a leaf was made); steps along the op sequences
    theirs = {n.label: n for n in tt.inputs}
    pairs = [(n, theirs[n.label]) for n in tc.inputs if n.label in theirs]
    a = [n for n in tc.nodes if n.op]
    b = [n for n in tt.nodes if n.op]
    sm = difflib.SequenceMatcher(a=[n.op for n in a], b=[n.op for n in b], autojunk=False)
    unmatched = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            pairs += list(zip(a[i1:i2], b[j1:j2]))
        elif tag == "replace" and i2 - i1 == j2 - j1:
            pairs += list(zip(a[i1:i2], b[j1:j2]))    # the same step, spelled differently
        else:
            unmatched += [f"{n.label} (chainrule)" for n in a[i1:i2]] + [f"{n.label} (PyTorch)" for n in b[j1:j2]]
    pairs.sort(key=lambda p: p[0].id)
    found = _first_difference(tc, tt, pairs, rtol, atol)
    if found is None:
        return Comparison(True, None, "", None, None, len(pairs), unmatched, tc, tt)
    label, what, u, v = found
    return Comparison(False, label, what, u, v, len(pairs), unmatched, tc, tt)


def _first_difference(tc, tt, pairs, rtol, atol):
    """(label, "value" | "gradient", chainrule's, PyTorch's) or None.

    Values: the first node, in forward order, whose value differs (every later one follows from
    it). Gradients, when every value agrees: the first node, in forward order, that receives
    the same gradient on both sides but sends a different one to an input (its local
    derivative differs); else the first node whose gradient differs."""
    for x, y in pairs:
        if not _close(x.value, y.value, rtol, atol):
            return x.label, "value", x.value, y.value
    steps_c = {s.node: s for s in tc.backward}
    steps_t = {s.node: s for s in tt.backward}
    for x, y in pairs:
        sc, st = steps_c.get(x.id), steps_t.get(y.id)
        if sc is None or st is None or not _close(x.grad, y.grad, rtol, atol):
            continue
        for lc, lt in zip(sc.locals, st.locals):
            if not _close(lc.contribution, lt.contribution, rtol, atol):
                return (f"{x.label} → {tc.nodes[lc.input].label}", "gradient", lc.contribution,
                        lt.contribution)
    for x, y in pairs:
        if not _close(x.grad, y.grad, rtol, atol):
            return x.label, "gradient", x.grad, y.grad
    return None


def _close(u, v, rtol, atol) -> bool:
    if u is None or v is None:
        return True      # one side did not record it: nothing to compare
    a, b = np.asarray(u, dtype=float), np.asarray(v, dtype=float)
    if a.size != b.size:
        return False
    return bool(np.allclose(a.reshape(-1), b.reshape(-1), rtol=rtol, atol=atol, equal_nan=True))


# --------------------------------------------------------------------------
# first_nonfinite
# --------------------------------------------------------------------------

@dataclass
class NonFinite:
    """The first node, in forward order, whose value (or else gradient) is not a finite number."""
    node: str                 # its label
    what: str                 # "value" or "gradient"
    expr: str                 # how it was computed, in its inputs' labels ("log(x)")
    op: str | None
    value: Any
    inputs: list              # [label, value] of each input
    chain: list               # labels from this node up to the loss
    message: str
    trace: Trace | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.message


def first_nonfinite(loss, names=None, *, grad=None) -> NonFinite | None:
    """The first node in *forward* order whose value is not finite (else the node where a finite
    gradient first turned non-finite), with its inputs and its chain to the loss; None if
    every value and gradient is finite.

    ``torch.autograd.detect_anomaly`` answers from the backward side: it stops at the first
    backward node that *returns* a NaN, which is downstream of where the NaN was made.
    """
    seed = _check_loss(loss, grad, "first_nonfinite")
    t = _trace(loss, _names(names, 1), seed)
    return _first_bad(t)


def _first_bad(t: Trace) -> NonFinite | None:
    g = t.torch_graph
    bad = None
    for tn, node in zip(t.nodes, g.nodes):
        if node.data is not None and not G.finite(node.data):
            bad = (tn.id, "value")
            break
    sent_to = None
    if bad is None:
        # every value is finite: the first step (forward order) whose backward turns a finite
        # incoming gradient into a non-finite one for an input
        for step in sorted(t.backward, key=lambda s: s.node):
            if not G.finite(_arr(step.incoming)):
                continue
            hit = next((ls.input for ls in step.locals if not G.finite(_arr(ls.contribution))), None)
            if hit is not None:
                bad, sent_to = (step.node, "gradient"), hit
                break
    if bad is None:
        return None
    i, what = bad
    tn = t.nodes[i]
    inputs = [[t.nodes[p].label, t.nodes[p].value] for p in tn.inputs]
    chain = _chain_up(t, i)
    shown = f"{tn.label} = {tn.expr}" if tn.op and tn.expr and tn.expr != tn.label else tn.label
    args = ", ".join(f"{lab} = {_show(v)}" for lab, v in inputs)
    if what == "value":
        number = tn.value
        head = f"{shown} is the first node, in forward order, whose value is not finite ({_show(number)})"
    else:
        number = next(ls.contribution for s in t.backward if s.node == i for ls in s.locals if ls.input == sent_to)
        head = (f"{shown} is the first node, in forward order, whose backward step makes a gradient that is "
                f"not finite: it receives {_show(tn.grad)} and sends {_show(number)} to {t.nodes[sent_to].label}")
    why = next((m for _, m in t.nonfinite if "∂" in m), "") if what == "gradient" else ""
    msg = (head + (f"; its inputs: {args}" if args else "") + f"; its chain to the loss: {' → '.join(chain)}"
           + (f" ({why})" if why else ""))
    return NonFinite(tn.label, what, tn.expr, tn.op, number, inputs, chain, msg, t)


def _arr(v):
    return v if v is None or isinstance(v, float) else np.asarray(v, dtype=float)


def _chain_up(t: Trace, i: int) -> list[str]:
    """Labels from node ``i`` to the output along the first consumer each time."""
    users: dict = {}
    for n in t.nodes:
        for p in n.inputs:
            users.setdefault(p, []).append(n.id)
    reach = {t.output}
    for n in reversed(t.nodes):          # nodes that lead to the output
        if n.id in reach:
            reach.update(n.inputs)
    chain, cur = [t.nodes[i].label], i
    while cur != t.output:
        nxt = [u for u in users.get(cur, []) if u in reach]
        if not nxt:
            break
        cur = min(nxt)
        chain.append(t.nodes[cur].label)
    return chain
