"""Full Jacobians by forward or reverse mode: ``chainrule.jacobian(f, inputs, mode=...)``.

The two modes ask different questions of the same op table:

* **forward** (dual numbers, :mod:`chainrule.forward`): one pass per input *element*, each
  giving a whole column ∂out/∂inⱼ;
* **reverse** (``backward()``, :mod:`chainrule.autodiff`): one forward pass, then one backward
  sweep per output *element*, each giving a whole row ∂outᵢ/∂in.

So a loss of n weights (n inputs, one output) costs n forward passes or one backward sweep,
and a function of one number with n outputs the other way round — the lessons' "a million
questions vs one". :func:`jacobian_cost` says what each mode spent: passes and primitive
evaluations, counted as they happen.

    >>> import chainrule
    >>> chainrule.jacobian(lambda x, y: x * y + x, [2.0, 3.0])            # ∂/∂x, ∂/∂y
    (array(4.), array(2.))
    >>> chainrule.jacobian(lambda w: (w * w).sum(), np.array([1.0, 2.0]), mode="forward")
    array([2., 4.])
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np

from .errors import InputError

__all__ = ["jacobian", "jacobian_cost", "JacobianCost", "MODES"]

MODES = ("forward", "reverse")
MAX_ELEMENTS = 10_000_000      # entries of the Jacobian: beyond this it would not fit in memory anyway


@dataclass(frozen=True)
class JacobianCost:
    """What computing a Jacobian took: ``passes`` (forward mode: forward passes; reverse mode:
    backward sweeps, after its one forward pass) and ``evaluations`` (primitives evaluated:
    forward mode counts each op of each pass once, value and tangent together; reverse mode counts
    each op once forward and once more per sweep that reaches it)."""

    mode: str
    passes: int
    evaluations: int


def _inputs(inputs):
    """(list of float64 arrays, several?) from a number, an array, a Tensor, a Value, or a list/tuple of them."""
    from .scalar import Value
    from .tensor import Tensor

    several = isinstance(inputs, (list, tuple))
    items = list(inputs) if several else [inputs]
    if several and not items:
        raise InputError("jacobian: no inputs given (inputs is an empty list)")
    arrays = []
    for i, x in enumerate(items):
        where = f"input {i}" if several else "the input"
        if isinstance(x, (Value, Tensor)):
            x = x.data
        if isinstance(x, bool) or not isinstance(x, (Real, np.ndarray, list, tuple)):
            raise InputError(f"jacobian: {where} must be a number or an array of numbers, got {type(x).__name__}")
        try:
            a = np.array(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"jacobian: {where} must be a number or an array of numbers") from None
        if not np.all(np.isfinite(a)):
            raise InputError(f"jacobian: {where} must hold finite numbers")
        arrays.append(a)
    return arrays, several


def _check_mode(mode) -> str:
    if mode not in MODES:
        raise InputError(f"jacobian: mode must be 'forward' or 'reverse', got {mode!r}")
    return mode


def _outputs_forward(out):
    """(value array, tangent array) from what f returned in forward mode."""
    from .forward import Dual
    if isinstance(out, Dual):
        v = np.asarray(out.value, dtype=float)
        return v, np.broadcast_to(np.asarray(out.tangent, dtype=float), v.shape)
    if isinstance(out, (list, tuple)):
        pairs = [_outputs_forward(o) for o in out]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    if isinstance(out, (Real, np.ndarray)) and not isinstance(out, bool):
        v = np.asarray(out, dtype=float)
        return v, np.zeros_like(v)          # a constant: its derivative is 0
    raise InputError(f"jacobian: f returned {type(out).__name__}; it must return a number, a Value, a Tensor "
                     "or a list of them")


def _forward(f, arrays, several):
    from .forward import Dual, evaluations
    start = evaluations()
    columns = [[] for _ in arrays]
    shape = None
    passes = 0
    for k, a in enumerate(arrays):
        for j in range(a.size):
            duals = []
            for m, b in enumerate(arrays):
                t = np.zeros_like(b)
                if m == k:
                    t.reshape(-1)[j] = 1.0
                duals.append(Dual(b if b.ndim else float(b), t if b.ndim else float(t)))
            out = f(*duals) if several else f(duals[0])
            value, tangent = _outputs_forward(out)
            shape = value.shape
            columns[k].append(tangent)
            passes += 1
    if shape is None:   # every input is empty: run once for the output's shape
        value, _ = _outputs_forward(f(*[Dual(b, np.zeros_like(b)) for b in arrays]) if several
                                    else f(Dual(arrays[0], np.zeros_like(arrays[0]))))
        shape = value.shape
    blocks = []
    for a, cols in zip(arrays, columns):
        if cols:
            J = np.stack(cols, axis=-1).reshape(shape + a.shape)
        else:
            J = np.zeros(shape + a.shape)
        blocks.append(J)
    return blocks, JacobianCost("forward", passes, evaluations() - start)


def _graph_ops(root) -> int:
    from .autodiff import ancestors
    return sum(1 for n in ancestors(root) if n._parents())


def _reverse(f, arrays, several):
    from .autodiff import enable_grad, reverse_topological
    from .scalar import Value
    from .tensor import Tensor

    tensors = any(a.ndim for a in arrays)
    with enable_grad():
        leaves = [Tensor(a.copy(), requires_grad=True) if tensors else Value(float(a)) for a in arrays]
        out = f(*leaves) if several else f(leaves[0])
    if isinstance(out, (list, tuple)):
        outs = list(out)
        shape = (len(outs),)
        for o in outs:
            if isinstance(o, bool) or not isinstance(o, (Value, Tensor, Real)) or np.size(getattr(o, "data", o)) != 1:
                raise InputError("jacobian: when f returns a list, each item must be one number (a number, a Value "
                                 "or a one-element Tensor); return a Tensor for an array of outputs")
    elif isinstance(out, (Value, Tensor)):
        outs = [out]
        shape = np.shape(out.data)
    elif isinstance(out, (Real, np.ndarray)) and not isinstance(out, bool):
        outs, shape = [], np.shape(out)      # a constant
    else:
        raise InputError(f"jacobian: f returned {type(out).__name__}; it must return a number, a Value, a Tensor "
                         "or a list of them")
    rows = [np.zeros((int(np.prod(shape, dtype=np.int64)),) + a.shape) for a in arrays]
    evaluations = sum(_graph_ops(o) for o in outs if isinstance(o, (Value, Tensor)))
    sweeps = 0
    i = 0
    for o in outs:
        if not isinstance(o, (Value, Tensor)) or not o.requires_grad:   # a constant output: a zero row
            i += max(int(np.size(getattr(o, "data", o))), 1)
            continue
        size = int(np.size(o.data))
        visited = sum(1 for n in reverse_topological(o) if n._parents())
        for e in range(size):
            for leaf in leaves:
                leaf.grad = None if tensors else 0.0
            if isinstance(o, Tensor):
                seed = np.zeros(np.shape(o.data))
                seed.reshape(-1)[e] = 1.0
                o.backward(seed)
            else:
                o.backward()
            for k, leaf in enumerate(leaves):
                g = leaf.grad
                rows[k][i] = 0.0 if g is None else np.asarray(g, dtype=float).reshape(arrays[k].shape)
            sweeps += 1
            evaluations += visited
            i += 1
    blocks = [r.reshape(tuple(shape) + a.shape) for r, a in zip(rows, arrays)]
    return blocks, JacobianCost("reverse", sweeps, evaluations)


def jacobian_cost(f, inputs, mode: str = "reverse"):
    """``(J, JacobianCost)``: the Jacobian as :func:`jacobian` gives it, and what it took."""
    _check_mode(mode)
    if not callable(f):
        raise InputError(f"jacobian: f must be a function, got {type(f).__name__}")
    arrays, several = _inputs(inputs)
    if sum(a.size for a in arrays) > MAX_ELEMENTS:
        raise InputError(f"jacobian: more than {MAX_ELEMENTS:,} input numbers")
    blocks, cost = (_forward if mode == "forward" else _reverse)(f, arrays, several)
    return (tuple(blocks) if several else blocks[0]), cost


def jacobian(f, inputs, mode: str = "reverse"):
    """The Jacobian of ``f`` at ``inputs``, by forward or reverse mode (the same numbers either way).

    ``inputs`` is a number or an array (``f(x)``), or a list/tuple of them (``f(*inputs)``);
    Values and Tensors are read for their numbers. ``f`` gets Values (numbers in) or Tensors
    (arrays in) in reverse mode and dual numbers in forward mode, so write it with operators and
    methods (``x * y``, ``x.sin()``, ``w.sum()``, ``a @ b``), which all three understand.
    ``f`` may return a number, a Value, a Tensor, or a list of scalar outputs.

    Returns, for one input, an array of shape ``out.shape + input.shape`` (``J[i, j] =
    ∂outᵢ/∂inⱼ``; 0-d for a number of a number); for a list of inputs, a tuple of such arrays,
    one per input (as ``torch.autograd.functional.jacobian``).
    """
    return jacobian_cost(f, inputs, mode)[0]
