"""Check gradients against finite differences, the way you would by hand.

``gradcheck(fn, inputs)`` runs ``fn`` once with a backward pass (the
*analytic* gradient) and twice more per input with that input nudged by
``±eps`` (the *numeric* gradient, a central difference)::

    >>> from chainrule.gradcheck import gradcheck
    >>> r = gradcheck(lambda x, y: (x * y + x.sin()) ** 2, [1.0, 2.0])
    >>> r.ok
    True
    >>> print(r)            # one row per input: analytic, numeric, errors

``dot_product_test(fn, inputs)`` checks a vector function
``fn(list) -> list`` in one go with the identity ``vᵀ(J u) = (vᵀJ) u``
(HIPS autograd's check): the left side comes from a central difference along
a random direction ``u``, the right side from one backward sweep of
``Σ vᵢ fᵢ`` for random weights ``v``.

Both work on anything with ``.data`` (a float or a NumPy array), ``.grad``
and ``.backward()``: plain floats become :class:`~chainrule.scalar.Value`
leaves; objects with ``.detach()`` (Tensors) are copied into fresh leaves, so
neither check changes your inputs or their gradients.
"""
from __future__ import annotations

import inspect
import math
import sys
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Callable

import numpy as np

from .autodiff import no_grad
from .errors import ChainruleError, InputError
from .numfmt import fmt
from .textfmt import fit_lines, text_table
from .scalar import Value

__all__ = ["gradcheck", "dot_product_test", "GradcheckResult", "InputCheck", "DotProductResult",
           "GradcheckError"]

_EPS_MACHINE = sys.float_info.epsilon


class GradcheckError(ChainruleError, AssertionError):
    """Raised with ``raise_on_failure=True`` when a gradient does not match; the message is the table."""


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------

@dataclass
class InputCheck:
    """One input (or one element of a tensor input): both gradients and how far apart they are."""

    name: str
    analytic: float
    numeric: float
    abs_error: float
    rel_error: float
    tolerance: float        # the largest abs_error accepted here
    ok: bool
    note: str = ""          # why the numeric side could not be computed, if so


@dataclass
class GradcheckResult:
    """What :func:`gradcheck` found; ``.ok`` is True when every input matched."""

    output: float
    checks: list[InputCheck]
    eps: float
    rtol: float
    atol: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failures(self) -> list[InputCheck]:
        return [c for c in self.checks if not c.ok]

    def __getitem__(self, name: str) -> InputCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no input named {name!r}; inputs: {', '.join(c.name for c in self.checks)}")

    def __str__(self) -> str:
        verdict = "ok" if self.ok else f"FAILED for {len(self.failures)} of {len(self.checks)}"
        head = (f"gradcheck {verdict}: output {fmt(self.output)}, central differences with "
                f"eps={_kw(self.eps)}, rtol={_kw(self.rtol)}, atol={_kw(self.atol)}")
        rows = [(c.name, fmt(c.analytic), fmt(c.numeric), _e(c.abs_error), _e(c.rel_error),
                 "ok" if c.ok else "MISMATCH" + (f" ({c.note})" if c.note else ""))
                for c in _shown(self.checks)]
        table = _table(("input", "analytic", "numeric", "abs error", "rel error", ""), rows)
        more = len(self.checks) - len(rows)
        return "\n".join(fit_lines([head])) + "\n" + table + (f"\n… and {more} more rows that match" if more else "")


@dataclass
class DotProductResult:
    """What :func:`dot_product_test` found: ``vᵀ(J u)`` (numeric) against ``(vᵀJ) u`` (backward)."""

    numeric: float          # vᵀ (J u), J u by a central difference along u
    analytic: float         # (vᵀ J) · u, vᵀ J by one backward sweep of Σ vᵢ fᵢ
    abs_error: float
    rel_error: float
    tolerance: float
    ok: bool
    eps: float
    seed: int
    u: list = field(repr=False, default_factory=list)   # the direction, all input elements in order
    v: list = field(repr=False, default_factory=list)   # the output weights, all output elements in order

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return "\n".join(fit_lines((f"dot-product test {verdict} (seed {self.seed}, eps={_kw(self.eps)}):\n"
                f"  vᵀ(J u) by central difference along u = {fmt(self.numeric)}\n"
                f"  (vᵀJ)·u by one backward sweep         = {fmt(self.analytic)}\n"
                f"  abs error {_e(self.abs_error)}, rel error {_e(self.rel_error)}, "
                f"allowed {_e(self.tolerance)}").split("\n")))


def _e(x: float) -> str:
    """An error's size: two significant digits are enough."""
    return fmt(x, 2)


def _kw(x: float) -> str:
    """A keyword argument's value as it would be typed in Python: ``eps=1e-6``."""
    return fmt(x, ascii=True)


def _shown(checks: list[InputCheck], limit: int = 20) -> list[InputCheck]:
    """Every failure, then matches up to ``limit`` rows (tensors can have thousands)."""
    if len(checks) <= limit:
        return checks
    bad = [c for c in checks if not c.ok]
    good = [c for c in checks if c.ok][:max(0, limit - len(bad))]
    keep = {id(c) for c in bad + good}
    return [c for c in checks if id(c) in keep]


def _table(header: tuple, rows: list[tuple]) -> str:
    return "\n".join(text_table(header, rows))


# --------------------------------------------------------------------------
# Leaves: copy the inputs so that the check changes nothing of the caller's
# --------------------------------------------------------------------------

def _leaf(x, name: str | None):
    if isinstance(x, Value):
        return Value(x.data, name=x.name or name)
    if isinstance(x, Real) and not isinstance(x, bool):
        return Value(float(x), name=name)
    if hasattr(x, "detach") and hasattr(x, "data"):       # a Tensor
        leaf = x.detach()
        if _is_array(leaf.data):
            # float64 always: differences of 1e-6 mean nothing in float32
            leaf.data = np.array(leaf.data, dtype=np.float64)
        if hasattr(leaf, "requires_grad_"):
            leaf.requires_grad_(True)
        else:
            leaf.requires_grad = True
        leaf.grad = None if _is_array(leaf.data) else 0.0
        return leaf
    which = f"input {name}" if name else "an input"
    raise InputError(f"gradcheck {which} must be a number, a Value or a Tensor, got {type(x).__name__} {x!r}")


def _is_array(d) -> bool:
    return isinstance(d, np.ndarray)


def _names(fn: Callable, n: int) -> list[str]:
    """The parameter names of ``fn`` if it has ``n`` plain ones, else x0, x1, …"""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if len(params) == n:
        return [p.name for p in params]
    return [f"x{i}" for i in range(n)]


def _prepare(fn, inputs):
    """(leaves, labels, call) where ``call()`` runs ``fn`` on the leaves."""
    if isinstance(inputs, dict):
        keys = list(inputs)
        leaves = [_leaf(inputs[k], str(k)) for k in keys]
        return leaves, [str(k) for k in keys], lambda: fn(**dict(zip(keys, leaves)))
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    names = _names(fn, len(inputs))
    labels = [getattr(x, "name", None) or n for x, n in zip(inputs, names)]
    leaves = [_leaf(x, n) for x, n in zip(inputs, labels)]
    return leaves, labels, lambda: fn(*leaves)


def _scalar(out) -> float:
    """The float value of ``fn``'s output (a Value, a size-1 Tensor, or a number)."""
    d = getattr(out, "data", out)
    if _is_array(d):
        if d.size != 1:
            raise InputError(f"gradcheck needs fn to return a single number, got shape {d.shape}; "
                             "use dot_product_test for functions with several outputs")
        return float(d.reshape(()))
    if isinstance(d, Real):
        return float(d)
    raise InputError(f"gradcheck needs fn to return a Value or a number, got {type(out).__name__}")


def _grad_array(leaf) -> np.ndarray:
    g = getattr(leaf, "grad", None)
    shape = np.shape(leaf.data)
    if g is None:
        return np.zeros(shape)
    return np.broadcast_to(np.asarray(g, dtype=float), shape).astype(float)


def _backward_grads(call, leaves) -> tuple[Any, list[np.ndarray]]:
    """Run ``fn`` once and backward; return (output, gradient array per leaf)."""
    for leaf in leaves:
        leaf.grad = None if _is_array(leaf.data) else 0.0
    out = call()
    if getattr(out, "requires_grad", False):
        out.backward()
    return out, [_grad_array(leaf) for leaf in leaves]


def _evaluate(call, leaf, value) -> float:
    """``fn``'s value with ``leaf.data`` set to ``value`` (no graph), then restore it.

    The number is read before the leaf is restored: ``fn`` may return the leaf itself
    (the identity, a reshape to the same shape), whose data the restore changes back.
    """
    saved = leaf.data
    leaf.data = value
    try:
        with no_grad():
            return _scalar(call())
    finally:
        leaf.data = saved


def _tolerance(numeric: float, f_plus: float, f_minus: float, eps: float, rtol: float, atol: float) -> float:
    # A central difference cannot be more accurate than the rounding noise in
    # f itself, divided by 2·eps; allow for that on top of atol + rtol·|numeric|
    # so that e.g. f = 1e8 + x³ does not fail for the wrong reason.
    noise = 8 * _EPS_MACHINE * (abs(f_plus) + abs(f_minus)) / (2 * eps)
    return atol + rtol * abs(numeric) + noise


def _compare(analytic: float, numeric: float, tol: float) -> tuple[float, float, bool]:
    abs_error = abs(analytic - numeric)
    scale = max(abs(analytic), abs(numeric))
    rel_error = abs_error / scale if scale > 0 else 0.0
    if math.isnan(abs_error):
        # inf vs inf (e.g. both say the slope is infinite) counts as agreeing
        same_inf = math.isinf(analytic) and analytic == numeric
        return (0.0, 0.0, True) if same_inf else (math.inf, math.inf, False)
    return abs_error, rel_error, abs_error <= tol


# --------------------------------------------------------------------------
# gradcheck
# --------------------------------------------------------------------------

def gradcheck(fn: Callable, inputs, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-8,
              raise_on_failure: bool = False) -> GradcheckResult:
    """Compare ``fn``'s backward gradients with central differences, input by input.

    ``inputs`` is a list of numbers/Values/Tensors (``fn`` is called as
    ``fn(*inputs)``), a dict (``fn(**inputs)``), or a single one. ``fn`` must
    return one number (a Value or a size-1 Tensor).

    An input passes when ``|analytic − numeric| ≤ atol + rtol·|numeric| + noise``
    where ``noise = 8·ε·(|f(x+eps)| + |f(x−eps)|)/(2·eps)`` is the rounding
    error a central difference cannot avoid (ε = 2.2e-16).
    Nothing is raised on a mismatch unless ``raise_on_failure`` is set; look
    at ``result.ok`` and ``print(result)``.
    """
    if not (eps > 0):
        raise InputError(f"gradcheck eps must be positive, got {eps!r}")
    leaves, labels, call = _prepare(fn, inputs)
    out, grads = _backward_grads(call, leaves)
    output = _scalar(out)

    checks: list[InputCheck] = []
    for leaf, grad, base in zip(leaves, grads, labels):
        data = leaf.data
        array = _is_array(data)
        for index in (np.ndindex(data.shape) if array else [None]):
            name = base if index is None else f"{base}[{', '.join(map(str, index))}]"
            analytic = float(grad[index] if index is not None else grad)
            numeric, f_plus, f_minus, note = _central_difference(call, leaf, index, eps)
            tol = _tolerance(numeric, f_plus, f_minus, eps, rtol, atol) if not note else 0.0
            abs_error, rel_error, ok = _compare(analytic, numeric, tol)
            checks.append(InputCheck(name, analytic, numeric, abs_error, rel_error, tol, ok, note))

    result = GradcheckResult(output, checks, eps, rtol, atol)
    if raise_on_failure and not result.ok:
        raise GradcheckError(str(result))
    return result


def _nudged(data, index, delta):
    if index is None:
        return data + delta
    arr = np.array(data, dtype=float, copy=True)
    arr[index] += delta
    return arr


def _central_difference(call, leaf, index, eps):
    """(numeric slope, f(x+eps), f(x−eps), note) for one input element."""
    try:
        f_plus = _evaluate(call, leaf, _nudged(leaf.data, index, eps))
        f_minus = _evaluate(call, leaf, _nudged(leaf.data, index, -eps))
    except (ChainruleError, ArithmeticError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        return math.nan, math.nan, math.nan, f"fn fails within eps of this point: {e}"
    return (f_plus - f_minus) / (2 * eps), f_plus, f_minus, ""


# --------------------------------------------------------------------------
# The dot-product test
# --------------------------------------------------------------------------

def dot_product_test(fn: Callable, inputs, seed: int = 0, eps: float = 1e-6, rtol: float = 1e-5,
                     atol: float = 1e-8, raise_on_failure: bool = False) -> DotProductResult:
    """Check a vector function's whole Jacobian at once: ``vᵀ(J u) = (vᵀJ) u``.

    ``fn(list_of_inputs) -> list_of_outputs`` (a single output is fine too).
    ``u`` (one entry per input element) and ``v`` (one per output element)
    are drawn from a normal distribution with ``seed``. The left side needs
    only two calls of ``fn`` (at ``x ± eps·u``); the right side one backward
    sweep of ``Σ vᵢ fᵢ``. A wrong entry anywhere in J shows up here with
    probability 1.
    """
    if not (eps > 0):
        raise InputError(f"dot_product_test eps must be positive, got {eps!r}")
    single = not isinstance(inputs, (list, tuple))
    xs = [inputs] if single else list(inputs)
    leaves = [_leaf(x, f"x{i}") for i, x in enumerate(xs)]

    def call():
        outs = fn(leaves[0] if single else list(leaves))
        return list(outs) if isinstance(outs, (list, tuple)) else [outs]

    rng = np.random.default_rng(seed)
    u = [rng.standard_normal(np.shape(leaf.data)) for leaf in leaves]

    # numeric: vᵀ (f(x + eps·u) − f(x − eps·u)) / (2·eps)
    saved = [leaf.data for leaf in leaves]
    try:
        with no_grad():
            for leaf, x, ui in zip(leaves, saved, u):
                leaf.data = x + eps * (ui if _is_array(x) else float(ui))
            f_plus = [_flat(o) for o in call()]
            for leaf, x, ui in zip(leaves, saved, u):
                leaf.data = x - eps * (ui if _is_array(x) else float(ui))
            f_minus = [_flat(o) for o in call()]
    finally:
        for leaf, x in zip(leaves, saved):
            leaf.data = x
    v = [rng.standard_normal(fp.shape) for fp in f_plus]
    numeric = float(sum(np.dot(vi, (fp - fm) / (2 * eps)) for vi, fp, fm in zip(v, f_plus, f_minus)))

    # analytic: one backward sweep of Σ vᵢ fᵢ, then (vᵀJ)·u
    for leaf in leaves:
        leaf.grad = None if _is_array(leaf.data) else 0.0
    outs = call()
    _backward_weighted(outs, v)
    analytic = float(sum(np.dot(_grad_array(leaf).ravel(), np.ravel(ui)) for leaf, ui in zip(leaves, u)))

    f_abs = sum(float(np.dot(np.abs(vi), np.abs(fp) + np.abs(fm))) for vi, fp, fm in zip(v, f_plus, f_minus))
    noise = 8 * _EPS_MACHINE * f_abs / (2 * eps)
    tol = atol + rtol * abs(numeric) + noise
    abs_error, rel_error, ok = _compare(analytic, numeric, tol)
    result = DotProductResult(numeric, analytic, abs_error, rel_error, tol, ok, eps, seed,
                              np.concatenate([np.ravel(x) for x in u]).tolist(),
                              np.concatenate([np.ravel(x) for x in v]).tolist())
    if raise_on_failure and not ok:
        raise GradcheckError(str(result))
    return result


def _flat(out) -> np.ndarray:
    return np.ravel(np.asarray(getattr(out, "data", out), dtype=float))


def _backward_weighted(outs: list, v: list) -> None:
    """Backward of Σ vᵢ fᵢ: one sweep when every output is a scalar, else one seeded sweep per output."""
    live = [(o, vi) for o, vi in zip(outs, v) if getattr(o, "requires_grad", False)]
    if not live:
        return
    if all(not _is_array(o.data) for o, _ in live):
        total = None
        for o, vi in live:
            term = o * float(vi[0])
            total = term if total is None else total + term
        total.backward()
    else:
        for o, vi in live:
            o.backward(vi.reshape(np.shape(o.data)) if _is_array(o.data) else float(vi[0]))
