"""``Value``: a scalar that remembers how it was computed (reverse mode).

Forward and backward sit side by side: ``_make`` computes a node's value with
the op table's forward; ``_backprop`` multiplies the incoming gradient by the
op table's local derivative for each input. Nothing else knows any calculus.

A node holds no closures and no containers (its one or two inputs sit in
slots), so building a graph creates one object per operation and leaves the
cyclic garbage collector little to chase.
"""
from __future__ import annotations

import math
from numbers import Real

from . import autodiff, display
from .autodiff import mark_changed, next_seq
from .errors import ChainruleError, InputError
from .errors import graph_cut as _cut
from .numfmt import fmt
from .ops import Op, attributes, install, keyword_method, on_register, uninstall, variant

__all__ = ["Value", "MathError", "zero_grad", "parameters_of"]

_enabled = autodiff._state  # read on every op: no function call


class MathError(ChainruleError, ArithmeticError, ValueError):
    """An operation has no finite value at these inputs (log of a negative, 1/0, overflow)."""

    def __init__(self, op: Op, args: tuple, names: tuple = (), overflow: bool = False):
        self.op, self.args_, self.names, self.overflow = op, args, names, overflow
        where = f" (at {', '.join(n for n in names if n)})" if any(names) else ""
        if overflow:
            msg = f"{op.describe(*(_num(a) for a in args))} is too large for a float (overflow)"
        else:
            why = f": {op.domain}" if op.domain else ": the result is not a finite number"
            # the name a program writes: pow(-1, 0.5), never the op table's row name powc
            msg = f"{op.called}({', '.join(_num(a) for a in args)}) is undefined{why}"
        super().__init__(msg + where)


def _num(x) -> str:
    """A number in an error message, as the user would type it back (ASCII minus)."""
    return fmt(x, ascii=True)


def _make(op: Op, a: "Value", b: "Value | None", k) -> "Value":
    """Run ``op`` forward on ``a`` (and ``b``) and return the new node."""
    try:
        data = op.f(a._data, None if b is None else b._data, k)
        if data - data != 0.0:  # inf or nan without an exception, e.g. 1e308 * 10
            raise OverflowError
    except (ArithmeticError, ValueError) as e:
        args = (a._data,) if b is None else (a._data, b._data)
        if k is not None:
            args += (k,)
        raise MathError(op, args, (a.name, None if b is None else b.name),
                        overflow=isinstance(e, OverflowError)) from None
    out = Value.__new__(Value)
    out._data = data
    out.grad = 0.0
    out.name = None
    out._seq = next_seq()
    if _enabled.enabled and (a.requires_grad or (b is not None and b.requires_grad)):
        out.requires_grad = True
        out._op, out._a, out._b, out._k = op, a, b, k
    else:
        out.requires_grad = False
        out._op = out._a = out._b = out._k = None
    return out


def _const(x) -> "Value":
    if isinstance(x, Value):
        return x
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"cannot combine a Value with {type(x).__name__} {x!r}: expected a number")
    return Value(x, requires_grad=False)


class Value:
    """A scalar node: ``data``, ``grad``, and the op and inputs that made it.

    ``Value(2.0, name="w1")`` is a leaf. Arithmetic with Values or Python
    numbers builds the graph; ``loss.backward()`` fills every ``.grad``.
    Calling ``backward()`` twice *adds* the second sweep's gradients to the
    first (as PyTorch does); call :meth:`zero_grad` or :func:`zero_grad`
    between steps.
    """

    __slots__ = ("_data", "grad", "name", "requires_grad", "_op", "_a", "_b", "_k", "_seq", "_g",
                 "_nver", "_changed")

    def __init__(self, data, name: str | None = None, requires_grad: bool = True):
        if isinstance(data, Value):
            data = data.data
        if isinstance(data, bool) or not isinstance(data, Real):
            raise TypeError(f"Value(data) needs a real number, got {type(data).__name__} {data!r}")
        named = f" for {name!r}" if isinstance(name, str) else ""
        try:
            data = float(data)
        except OverflowError:
            raise InputError(f"Value(data) is too large for a float{named}: {data!r:.40}") from None
        if not math.isfinite(data):
            raise InputError(f"Value(data) must be finite, got {data}{named}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Value(name) must be a string, got {type(name).__name__}")
        self._data = data
        self.grad = 0.0
        self.name = name
        self.requires_grad = bool(requires_grad)
        self._op = self._a = self._b = self._k = None
        self._seq = next_seq()
        self._g = None

    # -- the number, and when it was changed in place ------------------------
    # ``_version`` counts assignments to ``data`` (as PyTorch's counter counts
    # in-place changes) and ``_changed`` is the creation number at the last
    # one: a node computed before that (``_seq < _changed``) used the old
    # number, so its graph no longer matches (``trace`` and ``explain`` say so).
    # Both are set only by an assignment; the engine reads and writes ``_data``.
    _version = autodiff.version

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, value):
        self._data = value
        mark_changed(self)

    # -- graph protocol (autodiff.py) -------------------------------------
    def _parents(self):
        a, b = self._a, self._b
        if a is None:
            return ()
        return (a,) if b is None else (a, b)

    def _backprop(self, record):
        g = self._g
        self.grad += g
        op = self._op
        if op is None:
            if record is not None:
                record.append((self, g, ()))
            return
        a, b, k, out = self._a, self._b, self._k, self._data
        try:
            if b is None:
                locals_ = (op.d[0](a._data, None, k, out),)
            else:
                d0, d1 = op.d
                locals_ = (d0(a._data, b._data, k, out), d1(a._data, b._data, k, out))
        except (ArithmeticError, ValueError):  # e.g. sqrt'(0) = 1/0: use IEEE inf
            locals_ = op.local_grads_ieee(a._data, None if b is None else b._data, k, out)
        if a.requires_grad:
            c = g * locals_[0]
            a._g = c if a._g is None else a._g + c
        if b is not None and b.requires_grad:
            c = g * locals_[1]
            b._g = c if b._g is None else b._g + c
        if record is not None:
            record.append((self, g, locals_))

    # -- user API -----------------------------------------------------------
    def backward(self, gradient: float = 1.0, retain_graph=None, create_graph: bool = False) -> None:
        """Fill ``.grad`` of every node this value depends on (adds to existing grads).

        With ``create_graph=True`` each ``.grad`` is a Value built from engine ops
        (:mod:`chainrule.higher`), so it can be differentiated again. ``retain_graph``
        is accepted for PyTorch's sake (graphs are never freed).
        """
        if not self.requires_grad:
            raise RuntimeError(
                f"{self._label()} does not require grad: it was made from constants only "
                "or inside no_grad(), so there is nothing to differentiate")
        if create_graph:
            return autodiff.graph_backward(self, gradient)
        if _enabled.anomaly:   # inside detect_anomaly(): record the sweep and check it
            return autodiff.anomaly_backward(self, float(gradient))
        autodiff.run_backward(self, float(gradient), autodiff.active_record())

    def zero_grad(self) -> None:
        self.grad = 0.0

    def item(self) -> float:
        return self.data

    def detach(self) -> "Value":
        return Value(self.data, self.name, requires_grad=False)

    @property
    def op(self) -> str | None:
        return None if self._op is None else self._op.name

    @property
    def inputs(self) -> tuple:
        return self._parents()

    def _label(self) -> str:
        return self.name or (f"{self._op.name} node" if self._op else f"Value({_num(self.data)})")

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{name})"

    # -- conversion to plain numbers: refused while the value is in a graph ------
    # math.exp(v), float(v), round(v), ... would give a number that does not
    # remember v, and the gradient would silently miss that path.
    def __float__(self) -> float:
        if self.requires_grad:
            raise _cut(self, "float")
        return self.data

    def __int__(self) -> int:
        if self.requires_grad:
            raise _cut(self, "int")
        return int(self.data)

    def __complex__(self) -> complex:
        if self.requires_grad:
            raise _cut(self, "complex")
        return complex(self.data)

    def __round__(self, ndigits=None):
        if self.requires_grad:
            raise _cut(self, "round")
        return round(self.data, ndigits)

    def __trunc__(self) -> int:
        if self.requires_grad:
            raise _cut(self, "math.trunc")
        return math.trunc(self.data)

    def __floor__(self) -> int:
        if self.requires_grad:
            raise _cut(self, "math.floor")
        return math.floor(self.data)

    def __ceil__(self) -> int:
        if self.requires_grad:
            raise _cut(self, "math.ceil")
        return math.ceil(self.data)

    def __bool__(self) -> bool:
        # a truth test is a decision, not a value: it cuts nothing (as in PyTorch)
        return self.data != 0.0

    # -- notebook display: drawn by what chainrule.viz registered (chainrule.display) --
    def _repr_svg_(self):
        return display.show("graph", "svg", self)

    def _repr_html_(self):
        return display.show("graph", "html", self)

    # -- arithmetic: operators and methods come from the op table (see _methods below) --


# --------------------------------------------------------------------------
# Operators and methods, one set per op row (ops.on_register installs every row)
# --------------------------------------------------------------------------

def _number(other) -> float:
    """A plain number as a row's constant (x ** 2.0); anything else raises what a constant would."""
    if isinstance(other, bool) or not isinstance(other, Real) or other - other != 0:
        _const(other)  # raises the TypeError (not a number) or ValueError (inf, nan) a constant would
    return float(other)


def _methods(op: Op) -> dict:
    """name -> function for row ``op``: its operator (``__add__`` and ``__radd__``) and its method.

    Each is a closure over the row, made once here, so a call costs what a hand-written method
    costs (``_make`` and ``_const`` are the same module globals either way).
    """
    var = variant(op)
    if op.arity == 2 and var is None:
        def forward():
            def fn(self, other):
                return _make(op, self, _const(other), None)
            return fn
    elif op.arity == 2:     # x ** y: the row itself for a Value exponent, its constant variant for a number
        def forward():
            def fn(self, other):
                if isinstance(other, Value):
                    return _make(op, self, other, None)
                return _make(var, self, None, _number(other))
            return fn
    elif op.param:          # leaky_relu(negative_slope=0.01): the row's constant, checked
        def forward():
            return keyword_method(op, lambda self, k: _make(op, self, None, k))
    else:
        def forward():
            def fn(self):
                return _make(op, self, None, None)
            return fn

    def reflected(self, other):
        return _make(op, _const(other), self, None)
    return attributes(op, forward, reflected, f"{op.called}: local derivative {op.formula(0)}.")


on_register(lambda op: install(Value, op, _methods(op)), lambda op: uninstall(Value, op))


def zero_grad(params) -> None:
    """Set ``.grad`` to zero on every Value (or Tensor) in ``params``."""
    for p in params:
        p.zero_grad()


def parameters_of(output: Value) -> list[Value]:
    """Leaves of ``output``'s graph that require grad, in creation order."""
    return [n for n in reversed(autodiff.reverse_topological(output)) if n._op is None]
