"""A recorded tensor node as the explainers read it: the op row that made it, the arrays it
saw, its constant, and that row's forward and vector-Jacobian product re-run on request.

The node's own slots (``_op``, ``_xs``, ``_k``) stay private to :mod:`.core`;
:mod:`chainrule.explain` reads a node through these functions only.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..ops import TensorOp
from .core import _FORWARD, _LOCAL, _unbroadcast

__all__ = ["NodeStep", "step_of", "forward_of", "vjp_of"]


class NodeStep(NamedTuple):
    """How a tensor was computed: ``op`` (an ``ops.Op`` or ``ops.TensorOp`` row, None for a leaf),
    ``arrays`` (its inputs' arrays as the op saw them) and ``const`` (the op's constant, or None)."""
    op: object
    arrays: tuple
    const: object


def step_of(t) -> NodeStep:
    return NodeStep(t._op, t._xs, t._k)


def forward_of(t, arrays) -> np.ndarray:
    """``t``'s op re-run on ``arrays`` (one per input) with ``t``'s constant."""
    op, k = t._op, t._k
    if isinstance(op, TensorOp):
        return np.asarray(op.forward(tuple(arrays), k))
    return np.asarray(_FORWARD[op.name](arrays[0], arrays[1] if len(arrays) == 2 else None, k))


def vjp_of(t, slot: int, seed) -> np.ndarray:
    """What ``seed`` (a gradient of ``t``'s shape) sends to input ``slot``, in that input's shape."""
    op, xs, k, out = t._op, t._xs, t._k, t.data
    if isinstance(op, TensorOp):
        c = op.vjp[0](seed, xs, k, out)[slot] if op.arity < 0 else op.vjp[slot](seed, xs, k, out)
    else:
        d = _LOCAL[op.name][slot]
        c = seed * (d if isinstance(d, float) else d(xs[0], xs[1] if len(xs) == 2 else None, k, out))
    c = np.asarray(c)
    shape = xs[slot].shape
    return c if c.shape == shape else _unbroadcast(c, shape)
