"""``chainrule.exp``, ``chainrule.log``, ``chainrule.sigmoid``, …: one function per op-table row.

Each works on Python numbers, :class:`~chainrule.scalar.Value` and
:class:`~chainrule.tensor.Tensor` alike, so ``chainrule.exp(v)`` is what to
write where ``math.exp(v)`` would cut the graph:

* a **Value** gives a Value (in the graph, exactly ``v.exp()``);
* a **Tensor** gives a Tensor (``t.exp()``); other operands (numbers,
  arrays) are lifted to the tensor's dtype;
* **Python numbers** give a ``float`` (the same forward as the Value, so
  ``chainrule.log(-1.0)`` raises the same :class:`~chainrule.scalar.MathError`);
* **lists, tuples and NumPy arrays** give a Tensor that does not require grad
  (as ``chainrule.tensor.exp`` does); ``np.asarray(result)`` is the array.

Mixing a Value with a Tensor is refused (a Value is one number in its own
graph). The functions are generated from :data:`chainrule.ops.OPS`: every
row the user can name, with PyTorch's spelling for the arithmetic rows
(``add``, ``sub``, ``mul``, ``div``, ``neg``); ``pow(x, 2.0)`` picks the
constant-exponent row itself.
"""
from __future__ import annotations

import operator
from numbers import Real

from .ops import on_register
from .scalar import Value, _const

__all__: list[str] = []

def _is_number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def _operands(name: str, args: tuple):
    """(operands with the first one in the engine that will run the op, True if all were plain numbers).

    Only the first operand is converted: the others go to its method as they are, so that
    ``pow(v, 2)`` takes the constant-exponent row, exactly as ``v ** 2`` does.
    """
    from .tensor import Tensor
    from .tensor.core import _as_tensor
    if any(isinstance(a, Tensor) for a in args):
        if any(isinstance(a, Value) for a in args):
            raise TypeError(f"chainrule.{name}: cannot mix a Value with a Tensor (a Value is one number "
                            "in its own graph; make both Tensors, or take .item() of the tensor)")
        like = next(a for a in args if isinstance(a, Tensor))
        return (_as_tensor(args[0], like),) + args[1:], False
    if any(isinstance(a, Value) for a in args) or all(_is_number(a) for a in args):
        numbers = not any(isinstance(a, Value) for a in args)
        return (_const(args[0]),) + args[1:], numbers
    return (_as_tensor(args[0]),) + args[1:], False


def _make_function(name: str, op):
    # a row written as a Python operator applies it (chainrule.div is /); else it calls the row's method
    apply = getattr(operator, op.operator) if op.operator else None
    method = op.method
    arity = op.arity

    def fn(input, *args):  # noqa: A002 (PyTorch's name)
        operands, numbers = _operands(name, (input,) + args[:arity - 1])
        params = args[arity - 1:]
        if apply is not None:
            out = apply(*operands, *params)
        else:
            out = getattr(operands[0], method)(*operands[1:], *params)
        return out.data if numbers else out

    fn.__name__ = fn.__qualname__ = name
    first = op.text[0].format(x="x", y="y", k="k", out="out")
    extra = f", {op.param}" if op.param else ""
    fn.__doc__ = (f"{op.describe('x', 'y', op.param or 'k')} for a number, Value or Tensor "
                  f"(``{name}(x{', y' if arity == 2 else ''}{extra})``); ∂/∂x = {first}.")
    return fn


FUNCTIONS: dict = {}     # name -> function, one per row a user can name (rebuilt as rows are registered)
_HOOKS: list = []        # the chainrule package's namespace follows FUNCTIONS (chainrule/__init__.py)


def _install(op) -> None:
    if op.variant_of or not (op.operator or op.method):
        return
    if op.name in globals() and op.name not in FUNCTIONS:
        raise ValueError(f"chainrule.functions already has {op.name!r}: row {op.name!r} cannot take it")
    FUNCTIONS[op.name] = globals()[op.name] = _make_function(op.name, op)
    __all__.append(op.name)
    for hook in _HOOKS:
        hook(op.name, FUNCTIONS[op.name])


def _uninstall(op) -> None:
    if op.name in FUNCTIONS:
        del FUNCTIONS[op.name], globals()[op.name]
        __all__.remove(op.name)
        for hook in _HOOKS:
            hook(op.name, None)


on_register(_install, _uninstall)
