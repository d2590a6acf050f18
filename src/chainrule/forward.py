"""Forward mode: dual numbers that carry a value and its directional derivative.

Where reverse mode (``Value.backward``) gets the derivative of one output with
respect to *every* input in one sweep, forward mode gets the derivative of
every output with respect to *one* input direction per pass — the lessons'
"forward vs reverse" comparison. Both read the same op table: the tangent of
an op's output is Σᵢ (local derivative i) × (tangent of input i).

    >>> from chainrule.forward import derivative
    >>> derivative(lambda x: (3 * x + 1) ** 2, 2.0)
    42.0
"""
from __future__ import annotations

from numbers import Real

import numpy as np

from .ops import Op, attributes, install, keyword_method, on_register, uninstall, variant
from .scalar import MathError
from .tensor import Tensor

__all__ = ["Dual", "jvp", "derivative", "gradient_forward", "evaluations"]

# Primitive evaluations so far (each computes a value and its tangent): ``chainrule modes`` counts
# forward mode's work with it. A plain counter: reading it around a call tells that call's cost.
_tally = [0]


def evaluations() -> int:
    """How many primitives forward mode has evaluated in this process (value and tangent each)."""
    return _tally[0]


def _apply(op: Op, a: "Dual", b: "Dual | None", k=None) -> "Dual":
    _tally[0] += 1
    y = None if b is None else b.value
    if isinstance(a.value, np.ndarray) or isinstance(y, np.ndarray):
        with np.errstate(all="ignore"):
            out = op.np_f(a.value, y, k)
            locals_ = [d(a.value, y, k, out) for d in op.np_d]
    else:
        try:
            out = op.f(a.value, y, k)
            if out - out != 0.0:
                raise OverflowError
        except (ArithmeticError, ValueError) as e:   # the same message as Value's forward
            args = ((a.value,) if b is None else (a.value, y)) + (() if k is None else (k,))
            raise MathError(op, args, overflow=isinstance(e, OverflowError)) from None
        try:
            locals_ = [d(a.value, y, k, out) for d in op.d]
        except (ArithmeticError, ValueError):
            locals_ = op.local_grads_ieee(a.value, y, k, out)
    tangent = _times(locals_[0], a.tangent)
    if b is not None:
        tangent = tangent + _times(locals_[1], b.tangent)
    return Dual(out, tangent)


def _times(local, tangent):
    """``local · tangent``, where a zero tangent contributes exactly 0.

    An input that does not move (a constant, or a direction that leaves it alone) adds
    nothing, even where its local derivative is infinite or NaN: d(0ʸ)/dy at y = 0.5 is
    0, although ∂(xʸ)/∂x = inf at x = 0 (reverse mode never asks about a constant either).
    """
    if isinstance(local, np.ndarray) or isinstance(tangent, np.ndarray):
        with np.errstate(all="ignore"):
            return np.where(np.asarray(tangent) == 0, 0.0, local * tangent)
    return 0.0 if tangent == 0 else local * tangent


def _full(tangent, like):
    """A tangent as an array of ``like``'s shape (a constant's tangent may be the number 0)."""
    t = np.asarray(tangent, dtype=float)
    return t if t.shape == np.shape(like) else np.broadcast_to(t, np.shape(like))


def _lift(x) -> "Dual":
    if isinstance(x, Dual):
        return x
    if isinstance(x, (Real, np.ndarray)) and not isinstance(x, bool):
        return Dual(x, 0.0 * np.asarray(x) if isinstance(x, np.ndarray) else 0.0)
    raise TypeError(f"cannot combine a Dual with {type(x).__name__} {x!r}: expected a number")


class Dual:
    """A value with a tangent: ``Dual(x, 1.0)`` seeds ∂/∂x."""

    __slots__ = ("value", "tangent")

    def __init__(self, value, tangent=0.0):
        self.value = value if isinstance(value, np.ndarray) else float(value)
        self.tangent = tangent

    def __repr__(self):
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"

    # operators and methods: one set per op row, installed below

    # -- arrays: the structural ops a Tensor function uses. Each is linear in its input (its
    # tangent is the same op applied to the tangent), except matmul, which is bilinear.
    @property
    def shape(self) -> tuple:
        return np.shape(self.value)

    @property
    def ndim(self) -> int:
        return np.ndim(self.value)

    def _linear(self, fn) -> "Dual":
        _tally[0] += 1
        return Dual(np.asarray(fn(np.asarray(self.value))), np.asarray(fn(_full(self.tangent, self.value))))

    def sum(self, dim=None, keepdim: bool = False): return self._linear(lambda a: np.sum(a, axis=dim, keepdims=keepdim))
    def mean(self, dim=None, keepdim: bool = False): return self._linear(lambda a: np.mean(a, axis=dim, keepdims=keepdim))
    def reshape(self, *shape): return self._linear(lambda a: np.reshape(a, shape[0] if len(shape) == 1 else shape))
    def transpose(self, dim0: int = -2, dim1: int = -1): return self._linear(lambda a: np.swapaxes(a, dim0, dim1))
    def __getitem__(self, key): return self._linear(lambda a: a[key])

    @property
    def T(self) -> "Dual":  # noqa: N802 (NumPy's and PyTorch's name)
        return self._linear(lambda a: a.T)

    def __matmul__(self, o):
        o = _lift(o)
        _tally[0] += 1
        a, b = np.asarray(self.value), np.asarray(o.value)
        return Dual(a @ b, _full(self.tangent, a) @ b + a @ _full(o.tangent, b))

    def __rmatmul__(self, o):
        return _lift(o).__matmul__(self)


def _methods(op: Op) -> dict:
    """name -> function for row ``op`` on Dual, as on Value (see scalar._methods)."""
    var = variant(op)
    if op.arity == 2 and var is None:
        def forward():
            def fn(self, o):
                return _apply(op, self, _lift(o))
            return fn
    elif op.arity == 2:     # d ** y: the row for a Dual exponent, its constant variant for a number
        def forward():
            def fn(self, o):
                if isinstance(o, Dual):
                    return _apply(op, self, o)
                _lift(o)
                return _apply(var, self, None, float(o))
            return fn
    elif op.param:
        def forward():
            return keyword_method(op, lambda self, k: _apply(op, self, None, k))
    else:
        def forward():
            def fn(self):
                return _apply(op, self, None)
            return fn

    def reflected(self, o):
        return _apply(op, _lift(o), self)
    return attributes(op, forward, reflected)


on_register(lambda op: install(Dual, op, _methods(op)), lambda op: uninstall(Dual, op))


def jvp(fn, primals, tangents):
    """``(fn(*primals), J·tangents)`` in one forward pass.

    With Tensor primals, forward mode runs through the tensor ops (matmul, reductions, shapes,
    indexing, ...): see :mod:`chainrule.forward_tensor`; the results are Tensors, as in
    ``torch.func.jvp``.
    """
    primals = list(primals)
    if any(isinstance(p, Tensor) for p in primals):
        from .forward_tensor import jvp as tensor_jvp
        return tensor_jvp(fn, primals, tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    out = fn(*[Dual(p, t) for p, t in zip(primals, tangents)])
    if isinstance(out, (list, tuple)):
        return [o.value for o in out], [o.tangent for o in out]
    return out.value, out.tangent


def derivative(fn, x: float) -> float:
    """d fn / dx at ``x`` for a function of one number."""
    return jvp(fn, [x], [1.0])[1]


def gradient_forward(fn, xs) -> list:
    """The full gradient of a scalar ``fn(*xs)`` by forward mode: one pass per input."""
    n = len(xs)
    return [jvp(fn, xs, [1.0 if j == i else 0.0 for j in range(n)])[1] for i in range(n)]
