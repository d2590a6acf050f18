"""The tensor node: ``Tensor``, how ops build nodes, and how a node sends its gradient back.

See :mod:`chainrule.tensor` for the overview.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import autodiff, display
from ..autodiff import active_record, mark_changed, next_seq, run_backward, sweep_lock
from ..errors import InputError
from ..errors import graph_cut as _cut
from ..ops import (NUMPY_FUNCS, OPS, TENSOR_OPS, Op, _compile, attributes, install, keyword_method, on_register,
                   uninstall, variant)
from .checks import (BackwardError, ShapeError, _count, _dim, _dtype, _nonempty, _reduce_k, _repeats,
                     _reshape_target, _shape_arg)

__all__ = ["Tensor", "matmul", "clamp", "clip"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_ndarray = np.ndarray
_new = object.__new__
_state = autodiff._state          # read on every op: no function call


# --------------------------------------------------------------------------
# The node
# --------------------------------------------------------------------------

def _unbroadcast(c, shape):
    """Sum a gradient of the broadcast shape back to an input's ``shape``."""
    extra = c.ndim - len(shape)
    if extra > 0:
        c = c.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and c.shape[i] != 1)
    if axes:
        c = c.sum(axis=axes, keepdims=True)
    if c.__class__ is not _ndarray:
        c = np.asarray(c)
    return c


def _send(p, c, g, inplace):
    """Add contribution ``c`` (computed from the incoming ``g``) to input ``p``'s buffer.

    A buffer this sweep allocated for ``p`` alone is "owned" and may be added
    to in place; ``g`` passed straight through, or a view of it, is shared
    with other nodes and must never be written to.
    """
    d = p.data
    if c.__class__ is not _ndarray:
        c = np.asarray(c)
    if c.shape != d.shape:
        try:
            c = _unbroadcast(c, d.shape)
        except (ValueError, IndexError):
            raise ShapeError(f"gradient of shape {c.shape} does not fit an input of shape {d.shape}") from None
    if c.dtype != d.dtype:
        c = c.astype(d.dtype)
    buf = p._g
    if buf is None:
        p._g = c
        p._gown = c is not g and c.base is None
    elif inplace and p._gown:
        buf += c
    else:
        p._g = buf + c
        p._gown = True
    return c


# Elementwise rows, compiled for arrays.  The expressions are the rows' own
# (ops.OPS[...].forward / .grads); only ``where`` gets a faster NumPy spelling:
# np.where picks per element, which is slow on random masks, while a 1-or-0
# choice is just the boolean mask (and g * mask keeps g's dtype).
def _where(c, a, b):
    if a.__class__ is float and b.__class__ is float and a == 1.0 and b == 0.0:
        return c
    return np.where(c, a, b)


_TENSOR_FUNCS = dict(NUMPY_FUNCS, where=_where)


def _local(expr: str):
    """A plain constant (add: 1, sub: 1 and −1, neg: −1) needs no array work; else compile."""
    try:
        return float(expr)
    except ValueError:
        return _compile(expr, "x, y, k, out", _TENSOR_FUNCS)


# row name -> local derivatives (a float for a constant one), and the forward for arrays (a row's
# ``fast`` spelling if it has one: relu as maximum(x, 0), branch-free; tests check it is the same).
# Filled for every row by ``_install`` below.
_LOCAL: dict = {}
_FORWARD: dict = {}


class Tensor:
    """An n-dimensional array node: ``data`` (a NumPy array), ``grad``, and how it was made.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)`` copies
    ``data``; floats default to float64, a float32 array stays float32,
    integers become int64 (they cannot require grad). Arithmetic with tensors,
    Python numbers or arrays builds the graph; ``loss.backward()`` fills the
    ``.grad`` of every leaf that requires grad (adding to what is there, as in
    PyTorch: call ``zero_grad()`` between steps).
    """

    __slots__ = ("_data", "grad", "name", "requires_grad", "_op", "_prev", "_xs", "_k", "_seq", "_g",
                 "_gown", "_retain", "_nver", "_changed", "__weakref__")
    __array_ufunc__ = None        # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad: bool = False, dtype=None, name: str | None = None):
        arr = _to_array(data, dtype, copy=True)
        self._data = arr
        self.grad = None
        self.name = name
        self.requires_grad = False
        self._op = None
        self._prev = self._xs = ()
        self._k = None
        self._seq = next_seq()
        self._g = None
        self._gown = False
        self._retain = False
        if requires_grad:
            self.requires_grad_(True)

    # -- the array, and when it was changed in place -------------------------
    # Assigning ``data`` (``W.data -= lr * W.grad`` too), an in-place method and
    # an optimizer step call :func:`autodiff.mark_changed`: ``_version`` counts
    # the changes, as PyTorch's does, and ``_changed`` lets ``trace`` and
    # ``explain`` see that a graph computed before the change is out of date.
    # (A write into the array itself, ``W.data[0] = 1``, is not seen.)
    _version = autodiff.version

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._data = value
        mark_changed(self)

    # -- graph protocol (autodiff.py) -------------------------------------
    def _parents(self):
        return self._prev

    def _backprop(self, record):
        g = self._g
        self._g = None
        op = self._op
        if op is None or self._retain:
            grad = self.grad
            if grad is None:
                self.grad = g if self._gown and op is None else g.copy()
            else:
                self.grad = grad + g
            if op is None:
                if record is not None:
                    record.append((self, g, ()))
                return
        inplace = record is None
        prev, xs, k, out = self._prev, self._xs, self._k, self.data
        if op.__class__ is Op:                      # elementwise row: δ ⊙ local derivative
            a = prev[0]
            x = xs[0]
            y = xs[1] if len(xs) == 2 else None
            d0, *d1 = _LOCAL[op.name]
            ca = cb = None
            if a.requires_grad:
                if d0.__class__ is not float:
                    ca = g * d0(x, y, k, out)
                elif d0 == 1.0:
                    ca = g
                elif d0 == -1.0:
                    ca = -g
                else:
                    ca = g * d0
                ca = _send(a, ca, g, inplace)
            if y is not None:
                b = prev[1]
                if b.requires_grad:
                    d1 = d1[0]
                    if d1.__class__ is not float:
                        cb = g * d1(x, y, k, out)
                    elif d1 == 1.0:
                        cb = g
                    elif d1 == -1.0:
                        cb = -g
                    else:
                        cb = g * d1
                    cb = _send(b, cb, g, inplace)
            if record is not None:
                record.append((self, g, (ca, cb) if y is not None else (ca,)))
            return
        vjp = op.vjp                                 # structural row: its vector-Jacobian products
        if op.arity < 0:
            sent = tuple(_send(p, c, g, inplace) if p.requires_grad else None
                         for p, c in zip(prev, vjp[0](g, xs, k, out)))
        elif len(prev) == 1:
            sent = (_send(prev[0], vjp[0](g, xs, k, out), g, inplace),)
        else:
            sent = []
            i = 0
            for p in prev:
                sent.append(_send(p, vjp[i](g, xs, k, out), g, inplace) if p.requires_grad else None)
                i += 1
        if record is not None:
            record.append((self, g, sent))

    # -- user API: gradients ------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False) -> None:
        """Fill ``.grad`` of every leaf this tensor depends on (adds to existing grads).

        A tensor with more than one element needs ``gradient`` (∂L/∂self, same
        shape), exactly as in PyTorch. With ``create_graph=True`` each ``.grad`` is a
        Tensor built from engine ops (:mod:`chainrule.higher`), so it can be
        differentiated again. ``retain_graph`` is accepted (graphs are never freed).
        """
        if not self.requires_grad:
            raise BackwardError(
                f"{self._label()} does not require grad and has no grad_fn: it was made from tensors "
                "that don't require grad, or inside no_grad(); set requires_grad=True on the inputs")
        d = self.data
        if gradient is None:
            if d.size != 1:
                raise BackwardError(
                    f"grad can be implicitly created only for scalar outputs: this tensor has shape "
                    f"{tuple(d.shape)}; reduce it (e.g. .sum() or .mean()) or pass "
                    f"backward(gradient=...) of shape {tuple(d.shape)}")
            seed = np.ones_like(d)
        else:
            seed = np.array(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=d.dtype)
            if seed.shape != d.shape:
                raise ShapeError(f"backward: gradient has shape {tuple(seed.shape)} but the tensor has "
                                 f"shape {tuple(d.shape)}; they must match")
        if create_graph:
            if isinstance(gradient, Tensor) and gradient.requires_grad:
                seed = gradient
            return autodiff.graph_backward(self, seed)
        with sweep_lock, np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            self._gown = True           # seed is our own copy (under the lock: another sweep may pass here)
            if _state.anomaly:   # inside detect_anomaly(): record the sweep and check it
                return autodiff.anomaly_backward(self, seed)
            run_backward(self, seed, active_record())

    def zero_grad(self) -> None:
        """Forget this tensor's gradient (``grad = None``, as PyTorch's set_to_none)."""
        self.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.data.dtype not in _FLOATS:
            raise InputError(f"only floating-point tensors can require gradients, this one is "
                             f"{self.data.dtype}; make it with dtype=float32 or float64")
        if self._op is not None and not requires_grad:
            raise InputError("requires_grad can only be switched off on a leaf tensor; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` for this non-leaf tensor too (leaves always keep theirs)."""
        self._retain = self._op is not None
        return self

    def detach(self) -> "Tensor":
        """The same numbers (shared memory), cut off from the graph."""
        return _leaf(self.data, self.name)

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    @property
    def op(self) -> str | None:
        return None if self._op is None else self._op.name

    @property
    def inputs(self) -> tuple:
        return self._prev

    @property
    def grad_fn(self) -> str | None:
        return self.op

    # -- user API: data ---------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[_dim(dim, self.data.ndim, "size")]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def item(self) -> float:
        if self.data.size != 1:
            raise InputError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self) -> np.ndarray:
        """The data array (shared memory, like PyTorch's ``.numpy()``)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)`` gives the data (for plotting, NumPy functions)."""
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __format__(self, spec: str) -> str:
        if spec and self.data.size == 1:
            return format(self.data.item(), spec)
        return format(repr(self), spec)

    # conversion to plain numbers: refused while the tensor is in a graph (see Value.__float__)
    def __float__(self) -> float:
        if self.requires_grad:
            raise _cut(self, "float", "tensor")
        return float(self.item())

    def __int__(self) -> int:
        if self.requires_grad:
            raise _cut(self, "int", "tensor")
        return int(self.item())

    def __complex__(self) -> complex:
        if self.requires_grad:
            raise _cut(self, "complex", "tensor")
        return complex(self.item())

    def __index__(self) -> int:
        """An integer (or bool) tensor of one element used where Python wants an int (``range(t)``)."""
        if self.data.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors of a single element can be used as an index, "
                            f"this one is {self.data.dtype}")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                             "use .any() or .all()")
        return bool(self.data.item())

    def any(self) -> bool:
        return bool(self.data.any())

    def all(self) -> bool:
        return bool(self.data.all())

    __hash__ = object.__hash__

    def _label(self) -> str:
        return self.name or (f"the {self._op.name} output" if self._op else f"tensor of shape {self.shape}")

    def _repr_svg_(self):  # Jupyter: the graph, offline, drawn by what chainrule.viz registered
        return display.show("graph", "svg", self)

    def _repr_html_(self):
        return display.show("graph", "html", self)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4)
        extra = []
        if self.data.dtype != np.float64:
            extra.append(f"dtype={self.data.dtype}")
        if self._op is not None:
            extra.append(f"grad_fn={self._op.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    # -- dtype ------------------------------------------------------------------
    def to(self, dtype) -> "Tensor":
        dt = _dtype(dtype)
        if dt == self.data.dtype:
            return self
        return _apply(_CAST, (self,), (self.data,), dt)

    def float(self) -> "Tensor":
        return self.to(np.float32)

    def double(self) -> "Tensor":
        return self.to(np.float64)

    # -- in-place updates (outside the graph) -----------------------------------
    def _inplace(self, what):
        """Refuse an in-place change the graph would not see; else note it (``_version``)."""
        if self.requires_grad and _state.enabled:
            raise InputError(
                f"{what} on a tensor that requires grad would hide the change from backward(); "
                "do it inside `with no_grad():` (e.g. for a parameter update)")
        mark_changed(self)
        return self._data

    def __iadd__(self, other):
        d = self._inplace("an in-place +=")
        d += _raw(other)
        return self

    def __isub__(self, other):
        d = self._inplace("an in-place -=")
        d -= _raw(other)
        return self

    def __imul__(self, other):
        d = self._inplace("an in-place *=")
        d *= _raw(other)
        return self

    def __itruediv__(self, other):
        d = self._inplace("an in-place /=")
        d /= _raw(other)
        return self

    def add_(self, other, alpha: float = 1.0):
        o = _raw(other)
        d = self._inplace("add_")
        d += o if alpha == 1.0 else alpha * o
        return self

    def sub_(self, other, alpha: float = 1.0):
        return self.add_(other, -alpha)

    def mul_(self, other):
        d = self._inplace("mul_")
        d *= _raw(other)
        return self

    def zero_(self):
        self._inplace("zero_")[...] = 0
        return self

    def fill_(self, value):
        self._inplace("fill_")[...] = value
        return self

    def copy_(self, src):
        self._inplace("copy_")[...] = _raw(src)
        return self

    def __setitem__(self, key, value):
        data = self._inplace("item assignment")
        first, key = _torch_order(_index_key(key))
        target = data if first is None else data[first]
        try:
            target[key] = _raw(value)
        except IndexError as e:
            raise ShapeError(f"indexing a tensor of shape {self.shape}: {e}") from None

    # -- arithmetic: operators and methods of the op table's rows (see _methods below) ------
    def __pos__(self):
        return self

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(_lift(other, self), self)

    # comparisons give plain boolean tensors (no gradient flows through them)
    def __lt__(self, other):
        return _leaf(self.data < _raw(other))

    def __le__(self, other):
        return _leaf(self.data <= _raw(other))

    def __gt__(self, other):
        return _leaf(self.data > _raw(other))

    def __ge__(self, other):
        return _leaf(self.data >= _raw(other))

    def __eq__(self, other):
        return _leaf(self.data == _raw(other))

    def __ne__(self, other):
        return _leaf(self.data != _raw(other))

    def clamp(self, min=None, max=None):  # noqa: A002 (PyTorch's names)
        return clamp(self, min, max)

    clip = clamp

    def matmul(self, other):
        return matmul(self, other)

    # -- reductions -----------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        k = _reduce_k(self, "sum", dim, keepdim, axis, keepdims)
        return _apply(_SUM, (self,), (self.data,), k)

    def mean(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        k = _reduce_k(self, "mean", dim, keepdim, axis, keepdims)
        return _apply(_MEAN, (self,), (self.data,), k)     # over no elements: NaN, as in PyTorch

    def amax(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        k = _reduce_k(self, "max", dim, keepdim, axis, keepdims)
        _nonempty(self, "max", k[0])
        return _apply(_AMAX, (self,), (self.data,), k)

    def amin(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        k = _reduce_k(self, "min", dim, keepdim, axis, keepdims)
        _nonempty(self, "min", k[0])
        return _apply(_AMIN, (self,), (self.data,), k)

    # PyTorch's max(dim) also returns indices; here it is the values (use argmax)
    max = amax
    min = amin

    def argmax(self, dim=None, keepdim: bool = False):
        d = None if dim is None else _dim(dim, self.ndim, "argmax")
        return _leaf(np.argmax(self.data, axis=d, keepdims=keepdim if d is not None else False))

    def argmin(self, dim=None, keepdim: bool = False):
        d = None if dim is None else _dim(dim, self.ndim, "argmin")
        return _leaf(np.argmin(self.data, axis=d, keepdims=keepdim if d is not None else False))

    def var(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None, keepdims=None):
        """Variance with PyTorch's signatures: ``var(dim, unbiased, keepdim)`` positionally (as
        ``torch.var(x, 0, True)``, where True is *unbiased*) or ``var(dim, correction=…, keepdim=…)``."""
        if unbiased is not None and correction is not None:
            raise InputError("var: give unbiased or correction, not both")
        if unbiased is not None:
            if not isinstance(unbiased, (bool, np.bool_)):
                raise InputError(f"var: unbiased must be True or False, got {unbiased!r} "
                                 "(the second positional argument is unbiased, as in PyTorch; "
                                 "pass keepdim=… by name)")
            correction = 1 if unbiased else 0
        elif correction is None:
            correction = 1
        if axis is not None:
            dim = axis
        if keepdims is not None:
            keepdim = keepdims
        dims, _ = _reduce_k(self, "var", dim, True, None, None)
        n = _count(self.shape, dims)
        centred = self - self.mean(dims, keepdim=True)
        with np.errstate(divide="ignore", invalid="ignore"):   # n ≤ correction: NaN (inf), as in PyTorch
            return (centred * centred).sum(dims, keepdim=keepdim) / max(n - correction, 0)

    def std(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None, keepdims=None):
        """√var (same arguments); where the spread is 0 the gradient is 0, as in PyTorch (not inf · 0 = NaN)."""
        return _sqrt_flat_at_zero(self.var(dim, unbiased, keepdim, correction=correction, axis=axis,
                                           keepdims=keepdims))

    def norm(self, p=2, dim=None, keepdim: bool = False):
        """The Euclidean (Frobenius) norm ‖x‖ = √Σx² (over ``dim`` if given); its gradient at x = 0 is 0,
        as in PyTorch."""
        if p not in (2, "fro"):
            raise InputError(f"norm: only the Euclidean norm (p=2) is supported, got p={p!r}")
        return _sqrt_flat_at_zero((self * self).sum(dim, keepdim))

    def softmax(self, dim: int = -1):
        return _apply(_SOFTMAX, (self,), (self.data,), _dim(dim, self.ndim, "softmax"))

    def log_softmax(self, dim: int = -1):
        return _apply(_LOG_SOFTMAX, (self,), (self.data,), _dim(dim, self.ndim, "log_softmax"))

    def logsumexp(self, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
        k = _reduce_k(self, "logsumexp", dim, keepdim, axis, keepdims)
        return _apply(_LOGSUMEXP, (self,), (self.data,), k)

    # -- shapes ------------------------------------------------------------------
    def reshape(self, *shape):
        shape = _shape_arg(shape)
        try:
            target = _reshape_target(self.data.shape, shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {self.shape} "
                             f"({self.data.size} elements) into {tuple(shape)}") from None
        if target == self.data.shape:
            return self
        return _apply(_RESHAPE, (self,), (self.data,), target)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        nd = self.ndim
        if nd == 0:
            return self.reshape(1)
        s, e = _dim(start_dim, nd, "flatten"), _dim(end_dim, nd, "flatten")
        shape = self.shape
        return self.reshape(shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:])

    def squeeze(self, dim=None):
        """Drop dims of size 1 (all of them, one ``dim`` or a tuple of dims); others are left alone."""
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        drop = {_dim(d, self.ndim, "squeeze") for d in dims}
        if self.ndim == 0:              # dim 0 or -1 of a 0-d tensor: nothing to drop (as in PyTorch)
            return self
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if not (i in drop and n == 1)))

    def unsqueeze(self, dim: int):
        d = _dim(dim, self.ndim + 1, "unsqueeze")
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def transpose(self, dim0: int = -2, dim1: int = -1):
        nd = self.ndim
        if nd < 2 and dim0 in (-2, -1) and dim1 in (-2, -1):
            return self
        d0, d1 = _dim(dim0, nd, "transpose"), _dim(dim1, nd, "transpose")
        if d0 == d1:
            return self
        return _apply(_TRANSPOSE, (self,), (self.data,), (d0, d1))

    def permute(self, *dims):
        dims = _shape_arg(dims)
        nd = self.ndim
        perm = tuple(_dim(d, nd, "permute") for d in dims)
        if sorted(perm) != list(range(nd)):
            raise ShapeError(f"permute: {tuple(dims)} is not a permutation of the {nd} dims of shape {self.shape}")
        return _apply(_PERMUTE, (self,), (self.data,), perm)

    @property
    def T(self):
        nd = self.ndim
        if nd < 2:
            return self
        if nd == 2:
            return _apply(_TRANSPOSE, (self,), (self.data,), (0, 1))
        return _apply(_PERMUTE, (self,), (self.data,), tuple(range(nd - 1, -1, -1)))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def expand(self, *shape):
        shape = _shape_arg(shape)
        nd = len(shape)
        if nd < self.ndim:
            raise ShapeError(f"expand: cannot expand shape {self.shape} to fewer dims {tuple(shape)}")
        own = (1,) * (nd - self.ndim) + self.shape
        target = tuple(o if s == -1 else s for s, o in zip(shape, own))
        try:
            np.broadcast_shapes(own, target)
            if np.broadcast_shapes(own, target) != target:
                raise ValueError
        except ValueError:
            raise ShapeError(f"expand: cannot expand shape {self.shape} to {tuple(shape)}") from None
        return _apply(_EXPAND, (self,), (self.data,), target)

    broadcast_to = expand

    def __getitem__(self, key):
        first, key = _torch_order(_index_key(key))
        try:
            data = (self.data if first is None else self.data[first])[key]
        except IndexError as e:
            raise ShapeError(f"indexing a tensor of shape {self.shape}: {e}") from None
        return _make(_INDEX, (self,), (self.data,), data, (key, _repeats(key), first))


# -- elementwise operators and methods, one set per op row --------------------

def _number(other) -> bool:
    return isinstance(other, numbers.Real) and not isinstance(other, bool)


def _methods(op: Op) -> dict:
    """name -> function for row ``op`` (operator, reflected operator, method), each a closure made once."""
    var = variant(op)
    if op.arity == 2 and var is None:
        def forward():
            def fn(self, other):
                return _binary(op, self, other)
            return fn
    elif op.arity == 2:     # t ** y: the row for a tensor exponent, its constant variant for a number
        def forward():
            def fn(self, exponent):
                if _number(exponent):
                    if exponent == 2 and var is _POWC:     # t ** 2 is square: one multiplication, no pow
                        return _unary(_SQUARE, self)
                    return _unary(var, self, float(exponent))
                return _binary(op, self, exponent)
            return fn
    elif op.param:
        def forward():
            return keyword_method(op, lambda self, k: _unary(op, self, k))
    else:
        def forward():
            def fn(self):
                return _unary(op, self)
            return fn

    def reflected(self, other):
        return _binary(op, _lift(other, self), self)
    return attributes(op, forward, reflected, f"{op.called}, elementwise: local derivative {op.formula(0)}.")


def _install(op: Op) -> None:
    _LOCAL[op.name] = tuple(_local(e) for e in op.grads)
    _FORWARD[op.name] = _compile(op.fast, "x, y, k", NUMPY_FUNCS) if op.fast else op.np_f
    install(Tensor, op, _methods(op))


def _uninstall(op: Op) -> None:
    uninstall(Tensor, op)
    del _LOCAL[op.name], _FORWARD[op.name]


# --------------------------------------------------------------------------
# Building nodes
# --------------------------------------------------------------------------

_POWC, _SQUARE = OPS["powc"], OPS["square"]
T = TENSOR_OPS
_MATMUL, _LINEAR, _SUM, _MEAN, _AMAX, _AMIN = (T["matmul"], T["linear"], T["sum"], T["mean"],
                                               T["amax"], T["amin"])
_RESHAPE, _TRANSPOSE, _PERMUTE, _EXPAND, _INDEX = (T["reshape"], T["transpose"], T["permute"],
                                                   T["expand"], T["index"])
_CAT, _STACK, _WHERE, _CLIP = T["cat"], T["stack"], T["where"], T["clip"]
_SOFTMAX, _LOG_SOFTMAX, _LOGSUMEXP, _XENT, _CAST = (T["softmax"], T["log_softmax"], T["logsumexp"],
                                                    T["cross_entropy"], T["cast"])
del T


def _make(op, prev, xs, data, k):
    """A new node holding ``data``; it joins the graph if grad mode is on and an input needs grad."""
    if data.__class__ is not _ndarray:
        data = np.asarray(data)
    out = _new(Tensor)
    out._data = data
    out.grad = None
    out.name = None
    out._seq = next_seq()
    out._g = None
    out._gown = False
    out._retain = False
    if _state.enabled:
        for p in prev:
            if p.requires_grad:
                out.requires_grad = True
                out._op = op
                out._prev = prev
                out._xs = xs
                out._k = k
                return out
    out.requires_grad = False
    out._op = None
    out._prev = out._xs = ()
    out._k = None
    return out


def _sqrt_flat_at_zero(v: Tensor) -> Tensor:
    """√v with gradient 0 where v = 0 (PyTorch's std and norm backward), by the double ``where``:
    the square root only ever sees 1 at those places, so no inf · 0 = NaN reaches the gradient."""
    zero = v.data == 0
    if not zero.any():
        return v.sqrt()
    one = _lift(1.0, v)
    safe_in = _make(_WHERE, (one, v), (one.data, v.data), np.where(zero, one.data, v.data), zero)
    root = safe_in.sqrt()
    flat = v * 0.0
    return _make(_WHERE, (flat, root), (flat.data, root.data), np.where(zero, flat.data, root.data), zero)


def _leaf(data, name=None) -> Tensor:
    if data.__class__ is not _ndarray:
        data = np.asarray(data)
    out = _new(Tensor)
    out._data = data
    out.grad = None
    out.name = name
    out.requires_grad = False
    out._op = None
    out._prev = out._xs = ()
    out._k = None
    out._seq = next_seq()
    out._g = None
    out._gown = False
    out._retain = False
    return out


def _apply(op, prev, xs, k):
    """Run a structural row forward and make the node."""
    return _make(op, prev, xs, op.forward(xs, k), k)


def _unary(op, a, k=None):
    x = a.data
    return _make(op, (a,), (x,), _FORWARD[op.name](x, None, k), k)


def _binary(op, a, b):
    if b.__class__ is not Tensor:
        b = _lift(b, a)
    x, y = a.data, b.data
    try:
        data = _FORWARD[op.name](x, y, None)
    except ValueError:
        raise ShapeError(f"{op.name}: shapes {x.shape} and {y.shape} cannot be broadcast together "
                         "(trailing dims must be equal or 1)") from None
    return _make(op, (a, b), (x, y), data, None)


def _lift(v, like: Tensor) -> Tensor:
    """A constant operand as a tensor: numbers and arrays take ``like``'s dtype (float32 stays float32)."""
    if v.__class__ is Tensor:
        return v
    if isinstance(v, Tensor):
        return v
    dt = like.data.dtype
    if dt not in _FLOATS:
        dt = None
    try:
        if isinstance(v, np.ndarray) and v.dtype.kind not in "fiub":
            raise TypeError
        arr = np.asarray(v, dtype=dt)
    except (TypeError, ValueError):
        raise InputError(f"cannot combine a tensor with {type(v).__name__} {v!r}: expected a number, "
                         "an array or a Tensor") from None
    return _leaf(arr)


def _raw(v):
    return v.data if isinstance(v, Tensor) else v


def _to_array(data, dtype, copy: bool) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    dt = _dtype(dtype)
    # ``np.array(x, copy=False)`` means "never copy" in NumPy 2 and fails on a list or a
    # number; ``asarray`` is "copy only if needed" in every NumPy version.
    make = np.array if copy else np.asarray
    try:
        if dt is not None:
            arr = make(data, dtype=dt)
        else:
            arr = make(data)
            k = arr.dtype.kind
            if k == "f":
                if arr.dtype not in _FLOATS:
                    arr = arr.astype(np.float64)
            elif k in "iu":
                arr = arr.astype(np.int64, copy=False)
            elif k != "b":
                raise TypeError
    except (TypeError, ValueError):
        raise InputError(f"tensor(data) needs numbers (nested lists of equal length, or an array), "
                         f"got {type(data).__name__}") from None
    if dt is not None and dt.kind not in "fiub":
        raise InputError(f"unsupported dtype {dt}: use float32 or float64")
    return arr


def _index_key(key):
    """Tensors inside an index become their arrays; float index tensors with whole values become ints.

    Inside a tuple key a tuple is a list of positions (``x[(1, 1), :]`` picks row 1 twice), as in
    NumPy and PyTorch; a 0-d integer array is a plain integer.
    """
    if isinstance(key, tuple):
        return tuple(_index_part(k, inner=True) for k in key)
    return _index_part(key)


def _index_part(k, inner=False):
    if isinstance(k, Tensor):
        k = k.data
    if isinstance(k, list) or (inner and isinstance(k, tuple)):
        try:
            k = np.asarray(k)
        except ValueError:
            raise InputError("an index list must be rectangular (nested lists of equal length)") from None
    if isinstance(k, np.ndarray):
        if k.dtype.kind == "f":
            if not np.all(k == np.round(k)):
                raise InputError("an index tensor must hold whole numbers or booleans")
            k = k.astype(np.int64)
        elif k.dtype.kind not in "iub":
            raise InputError(f"an index must hold whole numbers or booleans, got dtype {k.dtype}")
        if k.ndim == 0 and k.dtype.kind in "iu":
            k = int(k)
    return k


def _is_int(p) -> bool:
    return isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_))


def _torch_order(key):
    """(integers first, the rest): PyTorch applies plain integers before the array indices.

    NumPy treats an integer next to an index array as one more array, and when a slice
    separates them moves the indexed dims to the front: for x of shape (2, 3, 4),
    ``x[0, :, [1, 2]]`` is (2, 3) in NumPy but (3, 2) in PyTorch, which takes ``x[0]``
    first. Splitting the key the same way gives PyTorch's shape (and its numbers) always;
    the first part is basic indexing, a view, so the backward can scatter into it.
    """
    if not isinstance(key, tuple) or not any(_is_int(p) for p in key) or not any(
            isinstance(p, (np.ndarray, bool, np.bool_)) for p in key):
        return None, key
    first, rest = [], []
    for p in key:
        if _is_int(p):
            first.append(p)
        elif p is None or isinstance(p, (bool, np.bool_)):
            rest.append(p)                      # consumes no dim of x
        elif p is Ellipsis:
            first.append(p)
            rest.append(p)
        else:
            first.extend([slice(None)] * (p.ndim if isinstance(p, np.ndarray) and p.dtype == bool else 1))
            rest.append(p)
    return tuple(first), tuple(rest)


def _as_tensor(t, like=None) -> Tensor:
    if isinstance(t, Tensor):
        return t
    if like is not None:
        return _lift(t, like)
    return _leaf(_to_array(t, None, copy=False))


def _pair(a, b):
    if isinstance(a, Tensor):
        return a, _as_tensor(b, a)
    if isinstance(b, Tensor):
        return _lift(a, b), b
    return _as_tensor(a), _as_tensor(b)


def matmul(input, other) -> Tensor:  # noqa: A002
    """``input @ other`` with NumPy/PyTorch rules for 1-D and batched operands."""
    a, b = _pair(input, other)
    x, y = a.data, b.data
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least 1 dim, got shapes {x.shape} and {y.shape} "
                         "(use * to multiply by a scalar)")
    kx = x.shape[-1]
    ky = y.shape[-2] if y.ndim > 1 else y.shape[0]
    if kx != ky:
        raise ShapeError(f"matmul: shapes {x.shape} and {y.shape} don't fit: the left's last dim ({kx}) "
                         f"must equal the right's {'second-to-last' if y.ndim > 1 else 'only'} dim ({ky})")
    try:
        data = np.matmul(x, y)
    except ValueError:
        raise ShapeError(f"matmul: batch dims of shapes {x.shape} and {y.shape} cannot be broadcast together") from None
    return _make(_MATMUL, (a, b), (x, y), data, None)


def clamp(input, min=None, max=None) -> Tensor:  # noqa: A001,A002
    """Limit values to [min, max]; the gradient passes where min ≤ x ≤ max (bounds included)."""
    x = _as_tensor(input)
    if min is None and max is None:
        raise InputError("clamp: give at least one of min and max")
    lo = None if min is None else _raw(min)
    hi = None if max is None else _raw(max)
    if isinstance(lo, np.ndarray) or isinstance(hi, np.ndarray):
        if isinstance(min, Tensor) and min.requires_grad or isinstance(max, Tensor) and max.requires_grad:
            raise InputError("clamp: tensor bounds that require grad are not supported; "
                             "use maximum/minimum")
    return _apply(_CLIP, (x,), (x.data,), (lo, hi))


clip = clamp


on_register(_install, _uninstall)
