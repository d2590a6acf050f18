"""Module-level tensor functions and factories, with PyTorch's names."""
from __future__ import annotations

import inspect
from typing import Iterable

import numpy as np

from ..errors import InputError
from ..ops import OPS, TENSOR_OPS, Op, on_register, variant
from .checks import ShapeError, _dim, _dtype, _shape_arg
from .core import (_CAT, _FORWARD, _LINEAR, _STACK, _WHERE, _XENT, Tensor, _apply, _as_tensor,
                   _leaf, _lift, _make, _pair, _raw, _to_array)

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


def _number_dtype(value) -> np.dtype:
    """The dtype PyTorch infers for a Python number: bool, int64 for a whole-number int, else the
    default float dtype (float64 here, see the package docs)."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, (int, np.integer)):
        return np.dtype(np.int64)
    return np.dtype(np.float64)


def full(size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``: ``full((2,), 4)`` is int64 and ``full((2,), 4.0)``
    float64, as PyTorch infers from the number (a Tensor fill value that requires grad stays in the graph)."""
    shape = _shape_arg((size,))
    if isinstance(fill_value, Tensor):
        if fill_value.data.size != 1:
            raise ShapeError(f"full: fill_value must be a number or a one-element tensor, got shape "
                             f"{fill_value.shape}")
        if fill_value.requires_grad:
            out = ones(shape, dtype=dtype or fill_value.dtype) * fill_value.reshape(())
            return out
        fill_value = fill_value.data.reshape(())[()]
    if isinstance(fill_value, np.ndarray) or not isinstance(fill_value, (int, float, np.number, np.bool_)):
        raise InputError(f"full: fill_value must be a number, got {type(fill_value).__name__}")
    dt = _dtype(dtype) or _number_dtype(fill_value)
    return _factory(np.full(shape, fill_value, dt), requires_grad)


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
    """``steps`` evenly spaced numbers from ``start`` to ``end`` (both included).

    A ``start`` or ``end`` tensor that requires grad stays in the graph: the result is
    ``start·(1 − w) + end·w`` with ``w = i/(steps − 1)``, so each point's gradient reaches
    both ends (PyTorch gives such a result no gradient at all).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise InputError(f"linspace: steps must be a non-negative whole number, got {steps!r}")
    ends = [v for v in (start, end) if isinstance(v, Tensor)]
    for v in ends:
        if v.data.size != 1:
            raise ShapeError(f"linspace: start and end must be numbers or one-element tensors, got shape {v.shape}")
    if any(v.requires_grad for v in ends):
        dt = _dtype(dtype) or next(v.dtype for v in ends if v.requires_grad)
        w = np.linspace(0.0, 1.0, steps, dtype=dt)
        a, b = (v.reshape(()) if isinstance(v, Tensor) else v for v in (start, end))
        out = a * (1.0 - w) + b * w
        return out if out.shape == (steps,) else out.expand(steps)
    start, end = (v.data.reshape(())[()] if isinstance(v, Tensor) else v for v in (start, end))
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


# -- one module function per op row with a method: exp(t), maximum(a, b), pow(t, 2), leaky_relu(t, 0.2) --

def _function(op: Op):
    method = op.method
    if op.arity == 2:
        if variant(op) is not None:
            def fn(input, exponent):  # noqa: A002 (PyTorch's names)
                if isinstance(input, Tensor) or not isinstance(exponent, Tensor):
                    return getattr(_as_tensor(input), method)(exponent)
                return getattr(_lift(input, exponent), method)(exponent)
        else:
            def fn(input, other):  # noqa: A002
                a, b = _pair(input, other)
                return getattr(a, method)(b)
    elif op.param:
        def fn(input, *args, **kwargs):  # noqa: A002
            return getattr(_as_tensor(input), method)(*args, **kwargs)
        fn.__signature__ = _signature(op)
    else:
        def fn(input):  # noqa: A002
            return getattr(_as_tensor(input), method)()
    fn.__name__ = fn.__qualname__ = method
    fn.__doc__ = f"{method}, elementwise: local derivative {op.formula(0)}."
    return fn


def _signature(op: Op) -> inspect.Signature:
    P = inspect.Parameter
    return inspect.Signature([P("input", P.POSITIONAL_OR_KEYWORD),
                              P(op.keyword or "k", P.POSITIONAL_OR_KEYWORD,
                                default=P.empty if op.default is None else op.default)])


# name -> function, for every row with a method; chainrule.tensor exports these (and registered rows)
ELEMENTWISE: dict = {}


def _install(op: Op) -> None:
    if op.method:
        if op.method in globals() and op.method not in ELEMENTWISE:
            raise ValueError(f"chainrule.tensor already has {op.method!r}: row {op.name!r} cannot take it")
        ELEMENTWISE[op.method] = globals()[op.method] = _function(op)
        for hook in _INSTALL_HOOKS:
            hook(op.method, ELEMENTWISE[op.method])


def _uninstall(op: Op) -> None:
    if op.method in ELEMENTWISE:
        del ELEMENTWISE[op.method], globals()[op.method]
        for hook in _INSTALL_HOOKS:
            hook(op.method, None)


_INSTALL_HOOKS: list = []   # the package's namespace follows ELEMENTWISE (chainrule/tensor/__init__.py)
on_register(_install, _uninstall)


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


def legacy_reduction(size_average, reduce, reduction: str, fn: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` flags, when given, decide the reduction."""
    if size_average is None and reduce is None:
        if reduction not in ("mean", "sum", "none"):
            raise InputError(f"{fn}: reduction must be one of 'mean', 'sum', 'none', got {reduction!r}")
        return reduction
    if reduce is not None and not reduce:
        return "none"
    return "sum" if size_average is not None and not size_average else "mean"


def _class_dim(z: Tensor) -> int:
    return 0 if z.ndim == 1 else 1


def _class_targets(z: Tensor, target, ignore_index: int, fn: str) -> np.ndarray:
    """Class-index targets as int64, checked against logits ``z`` of shape (C,), (N, C) or (N, C, d1, …)."""
    t = np.asarray(_raw(target))
    if z.ndim == 0:
        raise ShapeError(f"{fn}: input must have a class dim, got a 0-d tensor")
    want = () if z.ndim == 1 else z.shape[:1] + z.shape[2:]
    if t.shape != want:
        raise ShapeError(f"{fn}: input of shape {z.shape} needs class-index targets of shape {want} "
                         f"(the classes are dim {_class_dim(z)}), got {t.shape}")
    if t.dtype.kind == "f":
        if not np.all(t == np.round(t)):
            raise InputError(f"{fn}: targets must be class indices (whole numbers)")
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise InputError(f"{fn}: targets must be class indices, got dtype {t.dtype}")
    n_classes = z.shape[_class_dim(z)]
    bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
    if np.any(bad):
        raise InputError(f"{fn}: target {int(t[bad].flat[0])} is out of range for {n_classes} classes")
    return t.astype(np.int64, copy=False)


def _class_weight(weight, z: Tensor, fn: str):
    if weight is None:
        return None
    w = np.asarray(_raw(weight), dtype=z.dtype)
    n_classes = z.shape[_class_dim(z)]
    if w.shape != (n_classes,):
        raise ShapeError(f"{fn}: weight must have one entry per class, shape ({n_classes},), got {w.shape}")
    return w


def _classes_last(x: Tensor) -> Tensor:
    """(N, C, d1, …) → (N·d1·…, C); (C,) → (1, C)."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim > 2:
        x = x.permute(0, *range(2, x.ndim), 1)
    return x.reshape(-1, x.shape[-1])


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,  # noqa: A002
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``, as PyTorch.

    ``input`` is (C,), (N, C) or (N, C, d1, …) with targets (), (N,) or (N, d1, …); ``weight`` (C,)
    scales each class, positions whose target is ``ignore_index`` count for nothing, and ``'mean'``
    divides by the total weight of the counted targets.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "nll_loss")
    x = _as_tensor(input)
    t = _class_targets(x, target, ignore_index, "nll_loss")
    w = _class_weight(weight, x, "nll_loss")
    flat, tf = _classes_last(x), t.reshape(-1)
    keep = tf != ignore_index
    safe = np.where(keep, tf, 0)
    scale = (np.ones(tf.shape, x.dtype) if w is None else w[safe]) * keep
    picked = flat[np.arange(tf.size), safe]
    losses = -(picked * scale)
    if reduction == "none":
        return losses.reshape(t.shape)
    total = losses.sum()
    if reduction == "sum":
        return total
    return _mean_by(total, scale.sum())


def _mean_by(total: Tensor, weight_sum) -> Tensor:
    """``total / weight_sum``; when nothing was counted, NaN with a zero gradient, as PyTorch gives."""
    if weight_sum == 0:
        return total * 0.0 + np.nan
    return total / weight_sum


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,  # noqa: A002
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``input`` against ``target``, with PyTorch's signature and numbers.

    The classes are dim 1 of ``input`` (dim 0 of a 1-D input): (C,), (N, C) or (N, C, d1, …).
    ``target`` is class indices of shape (), (N,) or (N, d1, …), or class probabilities of
    ``input``'s own shape. Plain class indices (no weight, nothing ignored, no smoothing) take the
    op table's fused row: one node whose backward is ``(softmax(input) − onehot(target)) / N``.
    Otherwise it is ``log_softmax`` along the class dim followed by :func:`nll_loss` (or
    ``−Σ target · log_softmax`` for probabilities), with ``label_smoothing`` as PyTorch defines it.
    """
    reduction = legacy_reduction(size_average, reduce, reduction, "cross_entropy")
    z = _as_tensor(input)
    if z.ndim == 0:
        raise ShapeError("cross_entropy: input must have a class dim, got a 0-d tensor")
    ls = label_smoothing
    if isinstance(ls, bool) or not isinstance(ls, (int, float)) or not 0.0 <= ls <= 1.0:
        raise InputError(f"cross_entropy: label_smoothing must be a number in [0, 1], got {ls!r}")
    cdim = _class_dim(z)
    n_classes = z.shape[cdim]
    w = _class_weight(weight, z, "cross_entropy")
    raw = np.asarray(_raw(target))
    if raw.shape == z.shape and raw.dtype.kind == "f":         # class probabilities
        q = raw.astype(z.dtype)
        if ls > 0:
            q = q * (1 - ls) + ls / n_classes
        wq = q if w is None else q * w.reshape((-1,) + (1,) * (z.ndim - 1 - cdim))
        losses = -(z.log_softmax(cdim) * wq).sum(cdim)
        if reduction == "none":
            return losses
        total = losses.sum()
        if reduction == "sum":
            return total
        return _mean_by(total, z.data.size // n_classes if n_classes else 0)
    t = _class_targets(z, raw, ignore_index, "cross_entropy")
    if w is None and ls == 0 and not np.any(t == ignore_index):
        if z.ndim <= 2:
            return _apply(_XENT, (z,), (z.data,), (t, reduction))
        flat = _classes_last(z)
        out = _apply(_XENT, (flat,), (flat.data,), (t.reshape(-1), reduction))
        return out.reshape(t.shape) if reduction == "none" else out
    logp = z.log_softmax(cdim)
    nll = nll_loss(logp, t, w, ignore_index=ignore_index, reduction=reduction)
    if ls == 0:
        return nll
    keep = t != ignore_index
    per_class = logp if w is None else logp * w.reshape((-1,) + (1,) * (z.ndim - 1 - cdim))
    smooth = -per_class.sum(cdim) * keep.astype(z.dtype)
    if reduction == "none":
        smooth_r = smooth
    elif reduction == "sum":
        smooth_r = smooth.sum()
    else:
        smooth_r = _mean_by(smooth.sum(), keep.sum() if w is None else w[t[keep]].sum())
    return nll * (1 - ls) + smooth_r * (ls / n_classes)
