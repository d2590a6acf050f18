"""Module-level tensor functions and factories, with PyTorch's names."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import InputError
from ..ops import OPS, TENSOR_OPS, Op
from .checks import ShapeError, _dim, _dtype, _shape_arg
from .core import (_CAT, _FORWARD, _LINEAR, _STACK, _WHERE, _XENT, Tensor, _apply, _as_tensor, _binary,
                   _leaf, _lift, _make, _pair, _raw, _to_array, _unary)

float32 = np.float32      # dtype names, as torch.float32
float64 = np.float64


def apply(op, *inputs, k=None) -> Tensor:
    """Apply a table row (a name or a row of ``OPS``/``TENSOR_OPS``) to tensors.

    This is how fused rows are reached from elsewhere (e.g. ``nn.functional``)::

        apply("linear", x, W, b)
        apply("cross_entropy", logits, k=(targets, "mean"))
    """
    if isinstance(op, str):
        row = TENSOR_OPS.get(op) or OPS.get(op)
        if row is None:
            raise InputError(f"unknown op {op!r}")
        op = row
    first = next((t for t in inputs if isinstance(t, Tensor)), None)
    if first is None:
        raise InputError(f"{op.name}: needs at least one Tensor input")
    prev = tuple(_lift(t, first) for t in inputs)
    xs = tuple(p.data for p in prev)
    if isinstance(op, Op):
        if len(prev) != op.arity:
            raise InputError(f"{op.name} takes {op.arity} input(s), got {len(prev)}")
        try:
            data = _FORWARD[op.name](xs[0], xs[1] if op.arity == 2 else None, k)
        except ValueError:
            raise ShapeError(f"{op.name}: shapes {[x.shape for x in xs]} cannot be broadcast together") from None
        return _make(op, prev, xs, data, k)
    try:
        data = op.forward(xs, k)
    except (ValueError, IndexError) as e:
        raise ShapeError(f"{op.name}: inputs of shapes {[x.shape for x in xs]} don't fit: {e}") from None
    return _make(op, prev, xs, data, k)


def tensor(data, dtype=None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new leaf tensor (``data`` is copied)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def from_numpy(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A leaf sharing ``array``'s memory (float32/float64 kept)."""
    t = _leaf(_to_array(array, None, copy=False))
    return t.requires_grad_(True) if requires_grad else t


def _factory(arr, requires_grad, name=None):
    t = _leaf(arr, name)
    return t.requires_grad_(True) if requires_grad else t


def _float_dtype(dtype):
    dt = _dtype(dtype)
    return np.dtype(np.float64) if dt is None else dt


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _factory(np.zeros(_shape_arg(size), _float_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _factory(np.ones(_shape_arg(size), _float_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return _factory(np.full(_shape_arg((size,)), fill_value, _float_dtype(dtype)), requires_grad)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    arr = _raw(t)
    return _factory(np.zeros(np.shape(arr), _dtype(dtype) or np.asarray(arr).dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    arr = _raw(t)
    return _factory(np.ones(np.shape(arr), _dtype(dtype) or np.asarray(arr).dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, requires_grad: bool = False) -> Tensor:
    return _factory(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """Like ``torch.arange``: whole-number arguments give int64, otherwise the float dtype."""
    if end is None:
        start, end = 0, start
    dt = _dtype(dtype)
    if dt is None:
        ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, end, step))
        dt = np.dtype(np.int64) if ints else np.dtype(np.float64)
    return _factory(np.arange(start, end, step, dtype=dt), requires_grad)


def linspace(start, end, steps: int, dtype=None, requires_grad: bool = False) -> Tensor:
    return _factory(np.linspace(start, end, steps, dtype=_float_dtype(dtype)), requires_grad)


def _rng(generator, seed):
    if generator is None:
        generator = seed
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is None or isinstance(generator, (int, np.integer)):
        return np.random.default_rng(generator)
    raise InputError(f"generator must be a numpy.random.Generator or an int seed, got {type(generator).__name__}")


def randn(*size, generator=None, seed=None, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples; ``generator`` is a ``np.random.Generator`` or an int seed."""
    dt = _float_dtype(dtype)
    return _factory(_rng(generator, seed).standard_normal(_shape_arg(size), dtype=dt), requires_grad)


def rand(*size, generator=None, seed=None, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1); ``generator`` is a ``np.random.Generator`` or an int seed."""
    dt = _float_dtype(dtype)
    return _factory(_rng(generator, seed).random(_shape_arg(size), dtype=dt), requires_grad)


def _unary_function(name):
    op = OPS[name]

    def fn(input):  # noqa: A002 (PyTorch's name)
        return _unary(op, _as_tensor(input))
    fn.__name__ = name
    fn.__doc__ = f"{name}, elementwise: local derivative {op.text[0].format(x='x', out='out')}."
    return fn


exp = _unary_function("exp")
log = _unary_function("log")
sqrt = _unary_function("sqrt")
tanh = _unary_function("tanh")
sigmoid = _unary_function("sigmoid")
relu = _unary_function("relu")
abs = _unary_function("abs")  # noqa: A001
sin = _unary_function("sin")
cos = _unary_function("cos")
square = _unary_function("square")


def leaky_relu(input, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    return _as_tensor(input).leaky_relu(negative_slope)


def pow(input, exponent) -> Tensor:  # noqa: A001,A002
    if isinstance(input, Tensor):
        return input ** exponent
    return exponent.__rpow__(input)


def maximum(input, other) -> Tensor:  # noqa: A002
    a, b = _pair(input, other)
    return _binary(OPS["maximum"], a, b)


def minimum(input, other) -> Tensor:  # noqa: A002
    a, b = _pair(input, other)
    return _binary(OPS["minimum"], a, b)


def linear(input, weight, bias=None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias`` in one node (``weight`` of shape (out, in), as torch.nn.Linear)."""
    x = _as_tensor(input)
    w = _as_tensor(weight, x)
    xd, wd = x.data, w.data
    if wd.ndim != 2 or xd.ndim == 0 or xd.shape[-1] != wd.shape[1]:
        raise ShapeError(f"linear: input of shape {xd.shape} does not fit weight of shape {wd.shape} "
                         "(weight must be (out_features, in_features) and the input's last dim in_features)")
    if bias is None:
        prev, xs = (x, w), (xd, wd)
    else:
        b = _as_tensor(bias, x)
        if b.data.shape not in ((wd.shape[0],), ()):
            raise ShapeError(f"linear: bias of shape {b.data.shape} does not fit weight of shape {wd.shape} "
                             f"(expected ({wd.shape[0]},))")
        prev, xs = (x, w, b), (xd, wd, b.data)
    return _make(_LINEAR, prev, xs, _LINEAR.forward(xs, None), None)


def sum(input, dim=None, keepdim: bool = False, **kw) -> Tensor:  # noqa: A001,A002
    return _as_tensor(input).sum(dim, keepdim, **kw)


def mean(input, dim=None, keepdim: bool = False, **kw) -> Tensor:  # noqa: A002
    return _as_tensor(input).mean(dim, keepdim, **kw)


def amax(input, dim=None, keepdim: bool = False, **kw) -> Tensor:  # noqa: A002
    return _as_tensor(input).amax(dim, keepdim, **kw)


def amin(input, dim=None, keepdim: bool = False, **kw) -> Tensor:  # noqa: A002
    return _as_tensor(input).amin(dim, keepdim, **kw)


def reshape(input, *shape) -> Tensor:  # noqa: A002
    return _as_tensor(input).reshape(*shape)


def transpose(input, dim0: int = -2, dim1: int = -1) -> Tensor:  # noqa: A002
    return _as_tensor(input).transpose(dim0, dim1)


def permute(input, *dims) -> Tensor:  # noqa: A002
    return _as_tensor(input).permute(*dims)


def _tensors(tensors, op: str) -> tuple:
    if isinstance(tensors, Tensor) or not isinstance(tensors, Iterable):
        raise InputError(f"{op} takes a list or tuple of tensors")
    items = list(tensors)
    if not items:
        raise InputError(f"{op}: needs at least one tensor")
    first = next((t for t in items if isinstance(t, Tensor)), None)
    ts = tuple(_as_tensor(t, first) for t in items)
    return ts


def cat(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join tensors along an existing dim (``torch.cat``; ``concatenate`` and ``axis=`` too)."""
    ts = _tensors(tensors, "cat")
    if axis is not None:
        dim = axis
    nd = ts[0].ndim
    if nd == 0:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated (use stack)")
    d = _dim(dim, nd, "cat")
    for i, t in enumerate(ts):
        s0, s = ts[0].shape, t.shape
        if t.ndim != nd or s[:d] + s[d + 1:] != s0[:d] + s0[d + 1:]:
            raise ShapeError(f"cat: tensor {i} has shape {s} but tensor 0 has {s0}; all dims except "
                             f"dim {d} must match")
    xs = tuple(t.data for t in ts)
    return _make(_CAT, ts, xs, _CAT.forward(xs, d), d)


concatenate = cat


def stack(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """Join same-shape tensors along a new dim."""
    ts = _tensors(tensors, "stack")
    if axis is not None:
        dim = axis
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ShapeError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has {ts[0].shape}; "
                             "all must match")
    d = _dim(dim, ts[0].ndim + 1, "stack")
    xs = tuple(t.data for t in ts)
    return _make(_STACK, ts, xs, _STACK.forward(xs, d), d)


def where(condition, input, other) -> Tensor:  # noqa: A002
    """``input`` where ``condition`` holds, else ``other`` (gradient flows to the chosen side)."""
    cond = np.asarray(_raw(condition)).astype(bool, copy=False)
    a, b = _pair(input, other)
    try:
        data = np.where(cond, a.data, b.data)
    except ValueError:
        raise ShapeError(f"where: shapes {cond.shape}, {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None
    return _make(_WHERE, (a, b), (a.data, b.data), data, cond)


def softmax(input, dim: int = -1) -> Tensor:  # noqa: A002
    return _as_tensor(input).softmax(dim)


def log_softmax(input, dim: int = -1) -> Tensor:  # noqa: A002
    return _as_tensor(input).log_softmax(dim)


def logsumexp(input, dim=None, keepdim: bool = False, **kw) -> Tensor:  # noqa: A002
    return _as_tensor(input).logsumexp(dim, keepdim, **kw)


def cross_entropy(input, target, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Cross-entropy of logits ``input`` (N, C) against class indices ``target`` (N,), in one node.

    Equal to ``-log_softmax(input)[range(N), target].mean()``; the backward is
    ``(softmax(input) − onehot(target)) / N``.
    """
    z = _as_tensor(input)
    t = np.asarray(_raw(target))
    if reduction not in ("mean", "sum", "none"):
        raise InputError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if z.ndim not in (1, 2) or t.shape != z.shape[:-1]:
        raise ShapeError(f"cross_entropy: logits of shape {z.shape} need class-index targets of shape "
                         f"{z.shape[:-1]}, got {t.shape}")
    if t.dtype.kind == "f":
        if not np.all(t == np.round(t)):
            raise InputError("cross_entropy: targets must be class indices (whole numbers)")
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise InputError(f"cross_entropy: targets must be class indices, got dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= z.shape[-1]):
        raise InputError(f"cross_entropy: target {int(t.max() if t.max() >= z.shape[-1] else t.min())} "
                         f"is out of range for {z.shape[-1]} classes")
    return _apply(_XENT, (z,), (z.data,), (t, reduction))
