"""chainrule: automatic differentiation that shows its work.

Importing ``chainrule`` needs NumPy only. Subpackages load on first use, as
``torch.nn`` does: ``import chainrule; chainrule.nn.Linear(2, 3)`` works
without ``import chainrule.nn`` (and ``chainrule.viz``, ``chainrule.web``, …
import their optional dependencies only when they are used).

``chainrule.exp``, ``chainrule.log``, ``chainrule.sigmoid``, … (one per
op-table row, see :mod:`chainrule.functions`) work on numbers, Values and
Tensors alike: write ``chainrule.exp(v)`` where ``math.exp(v)`` would cut the
graph (``math.exp`` of a Value that requires grad is refused with a
:class:`GraphCutError`).
"""
import importlib as _importlib

from .anomaly import AnomalyError, detect_anomaly
from .autodiff import enable_grad, is_grad_enabled, no_grad
from .errors import GraphCutError
from .functions import _HOOKS as _function_hooks
from .functions import FUNCTIONS as _FUNCTIONS
from .gradcheck import GradcheckResult, dot_product_test, gradcheck
from .higher import GradError, grad, hvp
from .jacobians import jacobian
from .numfmt import printoptions, set_printoptions
from .ops import OPS
from .scalar import MathError, Value, parameters_of, zero_grad
from .tensor import Tensor
from .trace import StaleGraphError, Trace, Tracer, trace

__version__ = "0.1.0"

globals().update(_FUNCTIONS)

# Notebook display: Value, Tensor and Trace draw themselves with what chainrule.viz registers in
# chainrule.display; viz is imported the first time a notebook shows one, not here.
from . import display as _display  # noqa: E402
_display.add_loader(lambda: _importlib.import_module(".viz", __name__))

# Subpackages and modules reached as attributes (chainrule.nn, chainrule.optim, ...), imported on first use.
_SUBMODULES = ("nn", "optim", "tensor", "forward", "explain", "explain_tensor", "viz", "web", "lab", "lang",
               "cli", "functions", "gradcheck", "ops", "scalar", "trace", "autodiff", "errors", "textfmt",
               "files", "anomaly", "numfmt", "higher", "jacobians", "torch", "jupyter")

__all__ = ["Value", "Tensor", "MathError", "GraphCutError", "OPS", "no_grad", "enable_grad",
           "is_grad_enabled", "zero_grad", "parameters_of", "Trace", "Tracer", "trace", "gradcheck",
           "dot_product_test", "GradcheckResult", "grad", "hvp", "GradError", "jacobian", "detect_anomaly", "AnomalyError", "StaleGraphError",
           "set_printoptions", "printoptions", "__version__", "widget", *_FUNCTIONS]


def widget(program_or_value, values=None, **kw):
    """The player of a program (with ``values=``), a Value or a Trace as a live Jupyter widget
    (anywidget, optional): see :mod:`chainrule.jupyter`."""
    from .jupyter import widget as make
    return make(program_or_value, values, **kw)


def _export(name, fn):
    """chainrule.<name> for a row registered after import (ops.register), or taken away (fn None)."""
    if fn is None:
        globals().pop(name, None)
        if name in __all__:
            __all__.remove(name)
    else:
        globals()[name] = fn
        if name not in __all__:
            __all__.append(name)


_function_hooks.append(_export)


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = _importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
