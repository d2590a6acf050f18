"""``Tensor``: a NumPy array that remembers how it was computed.

The same engine as :class:`~chainrule.scalar.Value`: the op table
(:mod:`chainrule.ops`) knows every derivative, :mod:`chainrule.autodiff`
walks the graph. A tensor node only adds what arrays need:

* **broadcasting**: an input that was broadcast gets its gradient summed back
  to its own shape (``_unbroadcast``);
* **structural ops** (matmul, sums, reshapes, indexing, softmax, ...): rows of
  ``ops.TENSOR_OPS``, each with a vector-Jacobian product per input, because
  their Jacobians are not diagonal;
* **speed**: one object per op with ``__slots__``, no closures; inputs that
  don't require grad get no gradient work; a gradient that just passes through
  (``a + b``) is handed on without a copy, and buffers this sweep allocated
  itself are added to in place.

Names follow PyTorch: ``tensor``, ``requires_grad``, ``backward``, ``grad``,
``detach``, ``no_grad``, ``sum(dim, keepdim)``, ``cat``, ``clamp``, ...
Modules: ``core`` (the node and ``Tensor``), ``functions`` (factories and
module functions), ``checks`` (argument checks and their errors), ``nodes``
(a recorded node as the explainers read it).

Differences: the default dtype is float64 (float32 on request), ``max(dim)``
returns the values only (use ``argmax`` for indices), and tensors are always
on the CPU.
"""
from ..autodiff import enable_grad, is_grad_enabled, no_grad
from .checks import BackwardError, ShapeError
from .core import Tensor, clamp, clip, matmul
from . import functions as _functions
from .functions import (amax, amin, apply, arange, cat, concatenate, cross_entropy, eye, float32, float64,
                        from_numpy, full, legacy_reduction, linear, linspace, log_softmax, logsumexp, mean,
                        nll_loss, ones, ones_like, permute, rand, randn, reshape, softmax, stack, sum, tensor,
                        transpose, where, zeros, zeros_like)

__all__ = [
    "Tensor", "tensor", "from_numpy", "zeros", "ones", "zeros_like", "ones_like", "full", "eye",
    "arange", "linspace", "randn", "rand", "float32", "float64", "no_grad", "enable_grad",
    "is_grad_enabled", "ShapeError", "BackwardError", "apply",
    "matmul", "linear", "sum", "mean", "amax", "amin", "reshape",
    "transpose", "permute", "cat", "concatenate", "stack", "where", "clip", "clamp", "softmax",
    "log_softmax", "logsumexp", "cross_entropy", "nll_loss",
]


# One function per elementwise op row (exp, maximum, pow, leaky_relu, ...), generated from the op
# table by chainrule.tensor.functions; a row registered later (ops.register) appears here too.
def _export(name, fn):
    if fn is None:
        globals().pop(name, None)
        if name in __all__:
            __all__.remove(name)
        return
    globals()[name] = fn
    if name not in __all__:
        __all__.append(name)


for _name, _fn in _functions.ELEMENTWISE.items():
    _export(_name, _fn)
_functions._INSTALL_HOOKS.append(_export)
