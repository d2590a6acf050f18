"""Argument checks for tensor ops: a clear error naming the op and the shapes, never a deep NumPy traceback."""
from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["ShapeError", "BackwardError"]


class ShapeError(InputError, ValueError):
    """Shapes that don't fit an op (matmul, broadcasting, a bad dim)."""


class BackwardError(InputError, RuntimeError):
    """``backward()`` cannot run as asked (non-scalar output without a gradient, no grad)."""


def _dtype(dtype):
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise InputError(f"unknown dtype {dtype!r}: use float32 or float64") from None
    return dt


def _dim(d, nd: int, op: str) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
        raise ShapeError(f"{op}: dim must be an int, got {type(d).__name__} {d!r}")
    lo = -nd if nd else -1
    hi = nd - 1 if nd else 0
    if not lo <= d <= hi:
        raise ShapeError(f"{op}: dim {d} is out of range for a tensor with {nd} dims "
                         f"(expected {lo} … {hi})")
    return int(d) % nd if nd else 0


def _reduce_k(t, op: str, dim, keepdim, axis, keepdims):
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    nd = t.data.ndim
    if dim is None:
        return None, bool(keepdim)
    if isinstance(dim, (list, tuple)):
        dims = tuple(sorted({_dim(d, nd, op) for d in dim}))
        if len(dims) != len(dim):
            raise ShapeError(f"{op}: dim {tuple(dim)} names a dim twice")
        if nd == 0:
            return None, bool(keepdim)
        return dims, bool(keepdim)
    d = _dim(dim, nd, op)
    if nd == 0:
        return None, bool(keepdim)
    return (d,), bool(keepdim)


def _count(shape, dims) -> int:
    if dims is None:
        return int(np.prod(shape))
    return int(np.prod([shape[d] for d in dims]))


def _nonempty(t, op: str, dims):
    if _count(t.shape, dims) == 0 or t.data.size == 0:
        raise ShapeError(f"{op}: cannot reduce an empty tensor (shape {t.shape})")


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ShapeError(f"a shape needs whole numbers, got {tuple(shape)!r}")
    return tuple(int(s) for s in shape)


def _reshape_target(old: tuple, new: tuple) -> tuple:
    size = int(np.prod(old))
    if new.count(-1) > 1 or any(s < -1 for s in new):
        raise ValueError
    if -1 in new:
        rest = int(np.prod([s for s in new if s != -1]))
        if rest == 0 or size % rest:
            raise ValueError
        new = tuple(size // rest if s == -1 else s for s in new)
    if int(np.prod(new)) != size:
        raise ValueError
    return new


def _repeats(key) -> bool:
    """True if an integer array is part of the index (positions may repeat: use np.add.at)."""
    parts = key if isinstance(key, tuple) else (key,)
    return any(isinstance(p, np.ndarray) and p.dtype.kind in "iu" and p.ndim > 0 for p in parts)
