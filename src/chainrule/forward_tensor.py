"""Forward mode on tensors: Jacobian-vector products pushed through the op table's rows.

``jvp(fn, primals, tangents)`` runs ``fn`` on Tensors once, then carries a
tangent forward through every node it made, in creation order (each node's
inputs are done before it): for an elementwise row the tangent of the output is
Σᵢ (the row's local derivative i, its ``np_d``) ⊙ (tangent of input i), the
same rows reverse mode multiplies by; for a structural row it is that row's
Jacobian applied to the inputs' tangents (``JVPS``). A row that is linear in
its inputs (reshape, transpose, sum, indexing, cat, ...) has its own forward as
its Jacobian, applied to the tangents.

Checked against reverse mode by the dot-product test ⟨v, J·u⟩ = ⟨Jᵀ·v, u⟩ and
against ``torch.func.jvp`` (tests/test_forward_tensor.py).

    >>> import chainrule.tensor as ct
    >>> from chainrule.forward import jvp
    >>> out, t = jvp(lambda a: (a * a).sum(), [ct.tensor([1.0, 2.0])], [ct.tensor([1.0, 0.0])])
    >>> float(t)
    2.0
"""
from __future__ import annotations

import numpy as np

from . import autodiff
from .errors import InputError
from .ops import Op, _linear_f, _matmul_f, _softmax_f
from .tensor.checks import ShapeError
from .tensor.core import _LOCAL, Tensor, _leaf

__all__ = ["jvp", "JVPS"]


def _linear_in_inputs(t, xs, k, out, op):
    """A row linear in its inputs: its Jacobian applied to the tangents is its forward of them."""
    return op.forward(tuple(np.zeros_like(x) if ti is None else ti for ti, x in zip(t, xs, strict=True)), k)


def _jvp_matmul(t, xs, k, out, op):
    a, b = xs
    ta, tb = t
    total = 0
    if ta is not None:
        total = _matmul_f((ta, b), None)
    if tb is not None:
        total = total + _matmul_f((a, tb), None)
    return total


def _jvp_linear(t, xs, k, out, op):
    total = 0
    if t[0] is not None:
        total = _linear_f((t[0], xs[1]), None)
    if t[1] is not None:
        total = total + _linear_f((xs[0], t[1]), None)
    if len(xs) == 3 and t[2] is not None:
        total = total + t[2]
    return total


def _kept(a, shape, dims, keepdim):
    if keepdim or dims is None and a.ndim == len(shape):
        return a
    return np.reshape(a, tuple(1 if dims is None or i in dims else n for i, n in enumerate(shape)))


def _jvp_extreme(t, xs, k, out, op):
    x, (dims, keepdim) = xs[0], k
    hit = x == _kept(out, x.shape, dims, keepdim)
    share = hit / np.sum(hit, axis=dims, keepdims=True)
    return np.sum(share * t[0], axis=dims, keepdims=keepdim)


def _jvp_where(t, xs, k, out, op):
    ta = np.zeros_like(xs[0]) if t[0] is None else t[0]
    tb = np.zeros_like(xs[1]) if t[1] is None else t[1]
    return np.where(k, ta, tb)


def _jvp_clip(t, xs, k, out, op):
    x = xs[0]
    lo, hi = k
    keep = np.ones(x.shape, bool)
    if lo is not None:
        keep &= x >= lo
    if hi is not None:
        keep &= x <= hi
    return t[0] * keep


def _jvp_softmax(t, xs, k, out, op):
    return out * (t[0] - np.sum(out * t[0], axis=k, keepdims=True))


def _jvp_log_softmax(t, xs, k, out, op):
    return t[0] - np.sum(np.exp(out) * t[0], axis=k, keepdims=True)


def _jvp_logsumexp(t, xs, k, out, op):
    x, (dims, keepdim) = xs[0], k
    return np.sum(np.exp(x - _kept(out, x.shape, dims, keepdim)) * t[0], axis=dims, keepdims=keepdim)


def _jvp_cross_entropy(t, xs, k, out, op):
    z, (target, reduction) = xs[0], k
    p = _softmax_f((z,), -1)
    tz = t[0]
    if z.ndim == 1:
        losses = np.sum(p * tz) - tz[target]
    else:
        losses = np.sum(p * tz, axis=-1) - tz[np.arange(z.shape[0]), target]
    if reduction == "mean":
        return np.sum(losses) / max(np.size(target), 1)
    if reduction == "sum":
        return np.sum(losses)
    return losses


#: row name -> ``jvp(tangents, input arrays, k, out, row) -> the output's tangent``
#: (a tangent is None where that input does not move).
JVPS = {name: _linear_in_inputs for name in
        ("reshape", "transpose", "permute", "expand", "index", "index_grad", "cat", "stack", "sum", "mean",
         "cast")}
JVPS.update({
    "matmul": _jvp_matmul, "linear": _jvp_linear, "amax": _jvp_extreme, "amin": _jvp_extreme,
    "where": _jvp_where, "clip": _jvp_clip, "softmax": _jvp_softmax, "log_softmax": _jvp_log_softmax,
    "logsumexp": _jvp_logsumexp, "cross_entropy": _jvp_cross_entropy,
})


def _elementwise(op: Op, t, xs, k, out):
    x = xs[0]
    y = xs[1] if len(xs) == 2 else None
    total = None
    for i, ti in enumerate(t):
        if ti is None:
            continue
        d = _LOCAL[op.name][i]
        local = d if isinstance(d, float) else d(x, y, k, out)
        term = np.where(ti == 0, 0.0, local * ti)     # an unmoving entry adds 0, even where local is inf
        total = term if total is None else total + term
    return np.broadcast_to(total, out.shape).astype(out.dtype, copy=False)


def _tangent_of(node, tangents):
    op = node._op
    t = [tangents.get(id(p)) for p in node._prev]
    if all(ti is None for ti in t):
        return None
    xs, k, out = node._xs, node._k, node.data
    if isinstance(op, Op):
        return _elementwise(op, t, xs, k, out)
    rule = JVPS.get(op.name)
    if rule is None:
        raise InputError(f"jvp: the {op.name} op has no forward-mode rule yet; use reverse mode "
                         "(backward or chainrule.grad) for it")
    return np.asarray(rule(t, xs, k, out, op), dtype=out.dtype)


def jvp(fn, primals, tangents):
    """``(fn(*primals), J·tangents)`` for Tensors, as ``torch.func.jvp``: both as Tensors (or tuples of
    them when ``fn`` returns several). The primals' numbers are used, not their graphs."""
    primals, tangents = list(primals), list(tangents)
    if len(primals) != len(tangents):
        raise InputError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    leaves, seeds = [], {}
    for i, (p, t) in enumerate(zip(primals, tangents, strict=True)):
        arr = np.asarray(p.data if isinstance(p, Tensor) else p, dtype=np.float64 if not isinstance(
            p, Tensor) or p.dtype.kind != "f" else p.dtype)
        tan = np.asarray(t.data if isinstance(t, Tensor) else t, dtype=arr.dtype)
        if tan.shape != arr.shape:
            raise ShapeError(f"jvp: tangent {i} has shape {tan.shape} but primal {i} has shape {arr.shape}; "
                             "they must match")
        leaf = _leaf(arr).requires_grad_(True)
        leaves.append(leaf)
        seeds[id(leaf)] = tan
    with autodiff.enable_grad():
        out = fn(*leaves)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise InputError(f"jvp: fn must return a Tensor (or a tuple of them), output {i} is "
                             f"{type(o).__name__}")
    nodes: dict[int, Tensor] = {}
    stack = [o for o in outs if o.requires_grad]
    while stack:
        n = stack.pop()
        if id(n) in nodes:
            continue
        nodes[id(n)] = n
        stack.extend(p for p in n._prev if p.requires_grad and id(p) not in nodes)
    tangent_of = dict(seeds)
    with np.errstate(all="ignore"):
        for n in sorted(nodes.values(), key=lambda n: n._seq):
            if n._op is not None:
                tn = _tangent_of(n, tangent_of)
                if tn is not None:
                    tangent_of[id(n)] = tn
    values = [_leaf(o.data) for o in outs]
    tans = [_leaf(tangent_of[id(o)] if id(o) in tangent_of else np.zeros_like(o.data)) for o in outs]
    if isinstance(out, (list, tuple)):
        return tuple(values), tuple(tans)
    return values[0], tans[0]
