"""chainrule: automatic differentiation that shows its work."""
from .anomaly import AnomalyError, detect_anomaly
from .autodiff import enable_grad, is_grad_enabled, no_grad
from .gradcheck import GradcheckResult, dot_product_test, gradcheck
from .numfmt import printoptions, set_printoptions
from .ops import OPS
from .scalar import MathError, Value, parameters_of, zero_grad
from .tensor import Tensor
from .trace import StaleGraphError, Trace, Tracer, trace

__version__ = "0.1.0"

__all__ = ["Value", "Tensor", "MathError", "OPS", "no_grad", "enable_grad", "is_grad_enabled", "zero_grad",
           "parameters_of", "Trace", "Tracer", "trace", "gradcheck", "dot_product_test",
           "GradcheckResult", "detect_anomaly", "AnomalyError", "StaleGraphError", "set_printoptions",
           "printoptions", "__version__"]
