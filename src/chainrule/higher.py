"""Gradients of gradients: the backward pass built out of the engine's own ops.

``backward()`` multiplies numbers: the op table's derivative expressions,
compiled for floats and arrays, give each local derivative as a number, and
the result remembers nothing. To differentiate a gradient the backward pass
itself must be a graph, so here the same expressions are compiled a fourth
way (beside floats, NumPy and JavaScript): over Values and Tensors. ``1.0 -
out * out`` (tanh's row) becomes a small function that, given the tanh node,
builds the nodes ``1 - out·out`` with the engine's own ``sub`` and ``mul``
rows; ``where(x > 0, 1.0, 0.0)`` (relu's) becomes a constant mask, because a
comparison has no derivative.

The compiler reads the table's strings with :mod:`ast` (no ``eval``): numbers,
the names ``x``, ``y``, ``k``, ``out``, ``+ - * / **``, unary minus,
comparisons, ``where(c, a, b)`` and calls. A call of a name that is a row
applies that row (so a row added to the table is picked up with nothing to
register here); ``sign``, ``floor``, ``ceil``, ``round`` and ``trunc`` are
read off the numbers (their derivative is 0 wherever it exists). A row whose
expression uses anything else is refused by name when a graph needs it.

The structural tensor rows (matmul, sum, softmax, indexing, ...) are not
expressions; their vector-Jacobian products are written below in Tensor ops,
one function per row (``VJPS``). Scattering a gradient back into an indexed
tensor is itself an op here (``index_grad``), whose own vjp is indexing again,
so every order of derivative can be taken.

    >>> from chainrule import Value, grad
    >>> x = Value(3.0)
    >>> (dy,) = grad(x ** 3, x, create_graph=True)      # 3x² = 27
    >>> (d2y,) = grad(dy, x)                            # 6x = 18
    >>> dy.data, d2y.data
    (27.0, 18.0)
"""
from __future__ import annotations

import ast
import operator
from numbers import Real

import numpy as np

from . import autodiff
from .errors import ChainruleError, InputError
from .ops import NUMPY_FUNCS, OPS, TENSOR_OPS, Op, TensorOp, _index_f
from .scalar import Value, _const, _make
from .tensor import functions as _tf
from .tensor.core import Tensor, _leaf, _unbroadcast
from .tensor.nodes import vjp_of

__all__ = ["grad", "GradError", "engine_local", "VJPS", "backward_with_graph", "hvp"]


class GradError(ChainruleError, RuntimeError):
    """``grad()`` or ``backward(create_graph=True)`` cannot run as asked (PyTorch raises RuntimeError)."""


# --------------------------------------------------------------------------
# The expression compiler: a table expression -> a function over engine nodes
# --------------------------------------------------------------------------

_PIECEWISE_CONSTANT = {"sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.round,
                       "trunc": np.trunc}
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow, ast.Mod: operator.mod,
           ast.FloorDiv: operator.floordiv}
_CMPOPS = {ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Eq: operator.eq, ast.NotEq: operator.ne}
_VARS = ("x", "y", "k", "out")


class _Unsupported(Exception):
    """An expression the compiler cannot build from engine ops (raised at compile time)."""


def _is_node(v) -> bool:
    return isinstance(v, (Value, Tensor))


def _number(v):
    """A constant as the engine ops take it: a 0-d result as a Python float, arrays as they are."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, (np.floating, np.integer)):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _data(v):
    return v.data if _is_node(v) else v


def _constant(fn, *args):
    with np.errstate(all="ignore"):
        return _number(fn(*(np.float64(a) if isinstance(a, float) else a for a in args)))


def _apply_row(op: Op, args, k=None):
    """Row ``op`` applied to engine nodes (constants folded to numbers)."""
    if not any(_is_node(a) for a in args):
        return _constant(lambda *a: op.np_f(a[0], a[1] if len(a) > 1 else None, k), *args)
    first = next(a for a in args if _is_node(a))
    if isinstance(first, Value):
        a = _const(args[0]) if not _is_node(args[0]) else args[0]
        b = None if len(args) < 2 else (args[1] if _is_node(args[1]) else _const(args[1]))
        return _make(op, a, b, k)
    return _tf.apply(op, *args, k=k)


def _where(cond, a, b):
    c = _number(cond)
    if isinstance(c, (bool, float)):
        return a if c else b
    if not _is_node(a) and not _is_node(b):
        return _number(np.where(c, a, b))
    return _tf.where(c, a, b)


def _compile_expr(expr: str):
    """``env -> result`` for one table expression; ``env`` maps x, y, k, out to nodes or numbers."""
    tree = ast.parse(expr, mode="eval").body
    return _node(tree)


def _node(t):  # noqa: C901 (one small case per construct)
    if isinstance(t, ast.Constant):
        if isinstance(t.value, bool) or not isinstance(t.value, (int, float)):
            if isinstance(t.value, bool):
                value = t.value
                return lambda env: value
            raise _Unsupported(f"the constant {t.value!r}")
        value = float(t.value)
        return lambda env: value
    if isinstance(t, ast.Name):
        name = t.id
        if name in _VARS:
            return lambda env: env[name]
        if name == "True" or name == "False":
            value = name == "True"
            return lambda env: value
        const = NUMPY_FUNCS.get(name)
        if isinstance(const, (int, float)):
            value = float(const)
            return lambda env: value
        raise _Unsupported(f"the name {name!r}")
    if isinstance(t, ast.UnaryOp):
        inner = _node(t.operand)
        if isinstance(t.op, ast.USub):
            return lambda env: _neg(inner(env))
        if isinstance(t.op, ast.UAdd):
            return inner
        if isinstance(t.op, ast.Not):
            return lambda env: _number(np.logical_not(_data(inner(env))))
        raise _Unsupported(ast.dump(t.op))
    if isinstance(t, ast.BinOp):
        fn = _BINOPS.get(type(t.op))
        if fn is None:
            raise _Unsupported(f"the operator {type(t.op).__name__}")
        left, right = _node(t.left), _node(t.right)

        def binop(env):
            a, b = left(env), right(env)
            if not _is_node(a) and not _is_node(b):
                return _constant(fn, a, b)
            return fn(a, b)
        return binop
    if isinstance(t, ast.Compare):
        if len(t.ops) != 1:
            raise _Unsupported("a chained comparison")
        fn = _CMPOPS[type(t.ops[0])]
        left, right = _node(t.left), _node(t.comparators[0])
        # a comparison is piecewise constant: its value is a mask of numbers, never a node
        return lambda env: _number(fn(np.asarray(_data(left(env))), np.asarray(_data(right(env)))))
    if isinstance(t, ast.BoolOp):
        fn = np.logical_and if isinstance(t.op, ast.And) else np.logical_or
        parts = [_node(v) for v in t.values]

        def boolop(env):
            out = _data(parts[0](env))
            for p in parts[1:]:
                out = fn(out, _data(p(env)))
            return _number(np.asarray(out))
        return boolop
    if isinstance(t, ast.IfExp):
        test, body, orelse = _node(t.test), _node(t.body), _node(t.orelse)
        return lambda env: _where(test(env), body(env), orelse(env))
    if isinstance(t, ast.Call) and isinstance(t.func, ast.Name) and not t.keywords:
        name = t.func.id
        args = [_node(a) for a in t.args]
        if name == "where" and len(args) == 3:
            c, a, b = args
            return lambda env: _where(c(env), a(env), b(env))
        if name in _PIECEWISE_CONSTANT:
            fn = _PIECEWISE_CONSTANT[name]
            return lambda env: _constant(fn, *(_data(a(env)) for a in args))
        if name == "pow" and len(args) == 2:
            a, b = args
            return lambda env: _pow(a(env), b(env))
        row = OPS.get(name)
        if row is not None and row.arity == len(args) and row.param is None:
            return lambda env: _apply_row(row, [a(env) for a in args])
        raise _Unsupported(f"the function {name}() (no op row of that name)")
    raise _Unsupported(f"the construct {type(t).__name__}")


def _neg(v):
    if _is_node(v):
        return -v
    return _constant(operator.neg, v)


def _pow(a, b):
    if not _is_node(a) and not _is_node(b):
        return _constant(np.power, a, b)
    if isinstance(b, np.ndarray):               # a constant array of exponents: a tensor operand
        b = _tf.tensor(b, dtype=a.dtype) if isinstance(a, Tensor) else b
    return a ** b


_COMPILED: dict[int, tuple] = {}   # id(row) -> (row, per input: function or the reason it cannot be built)


def _compiled(op: Op) -> tuple:
    hit = _COMPILED.get(id(op))
    if hit is not None and hit[0] is op:
        return hit[1]
    fns = []
    for expr in op.grads:
        try:
            fns.append(_compile_expr(expr))
        except (_Unsupported, SyntaxError) as e:
            fns.append(f"{e}" if isinstance(e, _Unsupported) else "an expression it cannot read")
    fns = tuple(fns)
    _COMPILED[id(op)] = (op, fns)
    return fns


def engine_local(op: Op, i: int, x, y=None, k=None, out=None):
    """The local derivative of row ``op`` for input ``i`` as engine nodes (or a number where it is
    constant), built from the row's own ``grads`` expression."""
    fn = _compiled(op)[i]
    if isinstance(fn, str):
        raise GradError(f"create_graph: the derivative of {op.name} ({op.grads[i]}) uses {fn}, so it cannot "
                        "be built out of engine ops; differentiate it once only (create_graph=False)")
    return fn({"x": x, "y": y, "k": k, "out": out})


# --------------------------------------------------------------------------
# Structural tensor rows: vector-Jacobian products in Tensor ops
# --------------------------------------------------------------------------

def _sum_to(c: Tensor, shape) -> Tensor:
    """``c`` summed back to ``shape`` (broadcasting undone), in Tensor ops."""
    shape = tuple(shape)
    if c.shape == shape:
        return c
    extra = c.ndim - len(shape)
    if extra > 0:
        c = c.sum(tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and c.shape[i] != 1)
    if axes:
        c = c.sum(axes, keepdim=True)
    return c.reshape(shape) if c.shape != shape else c


def _kept(g: Tensor, shape, dims, keepdim) -> Tensor:
    """A reduced ``g`` with the reduced dims back as size 1 (ready to broadcast over ``shape``)."""
    if keepdim:
        return g
    kept = tuple(1 if dims is None or i in dims else n for i, n in enumerate(shape))
    return g.reshape(kept)


def _vjp_matmul(g, xs, k, out):
    a, b = xs
    if a.ndim == 1 and b.ndim == 1:
        return g * b, g * a
    if b.ndim == 1:
        return g.unsqueeze(-1) * b, (a.mT @ g.unsqueeze(-1)).squeeze(-1)
    if a.ndim == 1:
        return (b @ g.unsqueeze(-1)).squeeze(-1), a.unsqueeze(-1) * g.unsqueeze(-2)
    return g @ b.mT, a.mT @ g


def _vjp_linear(g, xs, k, out):
    x, w = xs[0], xs[1]
    if x.ndim == 1:
        dw = g.unsqueeze(-1) * x
    else:
        dw = g.reshape(-1, g.shape[-1]).mT @ x.reshape(-1, x.shape[-1])
    grads = [g @ w, dw]
    if len(xs) == 3:
        grads.append(g)
    return grads


def _vjp_sum(g, xs, k, out):
    x = xs[0]
    return (_kept(g, x.shape, *k).expand(*x.shape),)


def _vjp_mean(g, xs, k, out):
    x = xs[0]
    dims = k[0]
    n = int(np.prod(x.shape if dims is None else [x.shape[d] for d in dims]))
    return (_kept(g / n, x.shape, *k).expand(*x.shape),)


def _vjp_extreme(g, xs, k, out):
    x = xs[0]
    dims, keepdim = k
    hit = x.data == np.asarray(_kept(out, x.shape, dims, keepdim).data)
    count = np.sum(hit, axis=dims, keepdims=True)
    return (_kept(g, x.shape, dims, keepdim) * (hit / count).astype(x.dtype),)


def _vjp_reshape(g, xs, k, out):
    return (g.reshape(xs[0].shape),)


def _vjp_transpose(g, xs, k, out):
    return (g.transpose(k[0], k[1]),)


def _vjp_permute(g, xs, k, out):
    return (g.permute(*(int(i) for i in np.argsort(k))),)


def _vjp_expand(g, xs, k, out):
    return (g,)                              # summed back to the input's shape by the caller


def _index_grad_f(xs, k):
    shape, key = k[0], k[1:]
    grad = np.zeros(shape, dtype=xs[0].dtype)
    first = key[2] if len(key) > 2 else None
    view = grad if first is None else grad[first]
    if key[1]:
        np.add.at(view, key[0], xs[0])
    else:
        view[key[0]] = xs[0]
    return grad


def _index_grad_d(g, xs, k, out):
    return _index_f((g,), k[1:])


#: Scatter a gradient into zeros at an index: the vjp of indexing, and (its own vjp) indexing again.
INDEX_GRAD = TensorOp("index_grad", 1, _index_grad_f, (_index_grad_d,),
                      ("take δ at the indexed positions",), ("δ[…]",), "scatter({x})")


def _vjp_index(g, xs, k, out):
    return (_tf.apply(INDEX_GRAD, g, k=(xs[0].shape,) + tuple(k)),)


def _vjp_index_grad(g, xs, k, out):
    return (_tf.apply(TENSOR_OPS["index"], g, k=tuple(k[1:])),)


def _vjp_cat(g, xs, k, out):
    grads, at = [], 0
    for x in xs:
        n = x.shape[k]
        grads.append(g[(slice(None),) * k + (slice(at, at + n),)])
        at += n
    return grads


def _vjp_stack(g, xs, k, out):
    return [g[(slice(None),) * k + (i,)] for i in range(len(xs))]


def _vjp_where(g, xs, k, out):
    return _tf.where(k, g, 0.0), _tf.where(k, 0.0, g)


def _vjp_clip(g, xs, k, out):
    x = xs[0].data
    lo, hi = k
    keep = np.ones(x.shape, bool)
    if lo is not None:
        keep &= x >= lo
    if hi is not None:
        keep &= x <= hi
    return (g * keep.astype(x.dtype),)


def _vjp_softmax(g, xs, k, out):
    gs = g * out
    return (gs - out * gs.sum(k, keepdim=True),)


def _vjp_log_softmax(g, xs, k, out):
    return (g - out.exp() * g.sum(k, keepdim=True),)


def _vjp_logsumexp(g, xs, k, out):
    x = xs[0]
    dims, keepdim = k
    return (_kept(g, x.shape, dims, keepdim) * (x - _kept(out, x.shape, dims, keepdim)).exp(),)


def _vjp_cross_entropy(g, xs, k, out):
    z = xs[0]
    target, reduction = k
    onehot = np.zeros(z.shape, z.dtype)
    if z.ndim == 1:
        onehot[target] = 1
    else:
        onehot[np.arange(z.shape[0]), target] = 1
    p = z.softmax(-1) - onehot
    if reduction == "none":
        return (p * g.unsqueeze(-1),)
    return (p * (g / max(np.size(target), 1) if reduction == "mean" else g),)


def _vjp_cast(g, xs, k, out):
    return (g.to(xs[0].dtype),)


#: row name -> ``vjp(g, inputs, k, out) -> gradient per input``, all Tensors (engine ops).
VJPS = {
    "matmul": _vjp_matmul, "linear": _vjp_linear, "sum": _vjp_sum, "mean": _vjp_mean,
    "amax": _vjp_extreme, "amin": _vjp_extreme, "reshape": _vjp_reshape, "transpose": _vjp_transpose,
    "permute": _vjp_permute, "expand": _vjp_expand, "index": _vjp_index, "index_grad": _vjp_index_grad,
    "cat": _vjp_cat, "stack": _vjp_stack, "where": _vjp_where, "clip": _vjp_clip,
    "softmax": _vjp_softmax, "log_softmax": _vjp_log_softmax, "logsumexp": _vjp_logsumexp,
    "cross_entropy": _vjp_cross_entropy, "cast": _vjp_cast,
}


# --------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------

def _parents(n):
    return n._parents()


def _sends_graph(n, g, reach):
    """What node ``n`` sends each parent on a path to an input, as engine nodes: [(parent, c)]."""
    op = n._op
    if isinstance(n, Value):
        a, b = n._a, n._b
        out = []
        for i, p in enumerate((a,) if b is None else (a, b)):
            if id(p) in reach:
                local = engine_local(op, i, a, b, n._k, n)
                out.append((p, g * local))
        return out
    prev = n._prev
    if isinstance(op, Op):
        x = prev[0]
        y = prev[1] if len(prev) == 2 else None
        out = []
        for i, p in enumerate(prev):
            if id(p) in reach:
                c = g * engine_local(op, i, x, y, n._k, n)
                if not _is_node(c):
                    c = _leaf(np.asarray(c, dtype=p.dtype))
                out.append((p, _sum_to(c, p.shape)))
        return out
    vjp = VJPS.get(op.name)
    if vjp is None:
        raise GradError(f"create_graph: the {op.name} op has no backward written in engine ops yet, so its "
                        "gradient cannot be differentiated again; use create_graph=False")
    sent = vjp(g, prev, n._k, n)
    return [(p, _sum_to(c, p.shape)) for p, c in zip(prev, sent) if id(p) in reach]


def _sends_numbers(n, g, reach):
    """The same as plain numbers (the first-order sweep, touching no ``.grad``)."""
    if isinstance(n, Value):
        op, a, b, k, v = n._op, n._a, n._b, n._k, n._data
        ps = (a,) if b is None else (a, b)
        try:
            locals_ = tuple(d(a._data, None if b is None else b._data, k, v) for d in op.d)
        except (ArithmeticError, ValueError):
            locals_ = op.local_grads_ieee(a._data, None if b is None else b._data, k, v)
        return [(p, g * loc) for p, loc in zip(ps, locals_) if id(p) in reach]
    return [(p, np.asarray(vjp_of(n, i, g), dtype=p.dtype)) for i, p in enumerate(n._prev) if id(p) in reach]


def _as_list(v, what: str) -> list:
    if _is_node(v):
        return [v]
    if isinstance(v, (list, tuple)):
        return list(v)
    raise InputError(f"grad: {what} must be a Value, a Tensor or a sequence of them, got {type(v).__name__}")


def _shape(n):
    return () if isinstance(n, Value) else tuple(n.shape)


def _seed(o, go, i: int, graph: bool):
    if go is None:
        if _shape(o) and int(np.prod(_shape(o))) != 1:
            raise GradError(f"grad can be implicitly created only for scalar outputs: output {i} has shape "
                            f"{_shape(o)}; pass grad_outputs (one gradient per output, of its shape)")
        return Value(1.0, requires_grad=False) if isinstance(o, Value) else _leaf(np.ones_like(o.data))
    if isinstance(o, Value):
        if isinstance(go, Value):
            return go if graph else Value(go.data, requires_grad=False)
        if isinstance(go, bool) or not isinstance(go, Real):
            raise InputError(f"grad: grad_outputs[{i}] for a Value must be a number, got {type(go).__name__}")
        return Value(float(go), requires_grad=False)
    if isinstance(go, Tensor) and graph:
        seed = go
    else:
        seed = _leaf(np.array(go.data if isinstance(go, Tensor) else go, dtype=o.dtype))
    if tuple(seed.shape) != _shape(o):
        raise GradError(f"Mismatch in shape: grad_outputs[{i}] has shape {tuple(seed.shape)} and outputs[{i}] "
                        f"has shape {_shape(o)}")
    return seed


def _sweep(outputs, seeds, inputs, graph: bool, stop_at_inputs: bool = False) -> dict:
    """id(node) -> its gradient, for the nodes on paths from ``outputs`` to ``inputs``."""
    found = {}
    stack = []
    for o in outputs:
        if id(o) not in found:
            found[id(o)] = o
            stack.append(o)
    while stack:
        n = stack.pop()
        for p in _parents(n):
            if p.requires_grad and id(p) not in found:
                found[id(p)] = p
                stack.append(p)
    order = sorted(found.values(), key=lambda n: n._seq)
    wanted = {id(i) for i in inputs}
    reach = set()
    for n in order:                               # parents first: does n lead to an input?
        if id(n) in wanted or any(id(p) in reach for p in _parents(n)):
            reach.add(id(n))
    grads: dict[int, object] = {}
    for o, s in zip(outputs, seeds):
        if id(o) in reach:
            grads[id(o)] = s if id(o) not in grads else grads[id(o)] + s
    sends = _sends_graph if graph else _sends_numbers
    for n in reversed(order):
        g = grads.get(id(n))
        if g is None or n._op is None or (stop_at_inputs and id(n) in wanted):
            continue
        for p, c in sends(n, g, reach):
            prev = grads.get(id(p))
            grads[id(p)] = c if prev is None else prev + c
    return grads


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused=None, materialize_grads: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``.

    Returns one gradient per input (a tuple), computed afresh: no ``.grad`` is
    touched. ``grad_outputs`` is ∂L/∂output per output (needed for outputs
    with more than one element). With ``create_graph=True`` the gradients are
    graphs built from engine ops, so they can be differentiated again (second
    derivatives, Hessian-vector products); otherwise they are constants.
    ``retain_graph`` is accepted for PyTorch's sake: graphs are never freed here.
    An input the outputs do not depend on is an error unless ``allow_unused``
    (its gradient is then None, or zeros with ``materialize_grads``).
    """
    outs = _as_list(outputs, "outputs")
    ins = _as_list(inputs, "inputs")
    if not outs:
        raise InputError("grad: outputs is empty")
    if not ins:
        raise InputError("grad: inputs is empty")
    for what, seq in (("outputs", outs), ("inputs", ins)):
        for i, n in enumerate(seq):
            if not _is_node(n):
                raise InputError(f"grad: {what}[{i}] must be a Value or a Tensor, got {type(n).__name__}")
    kinds = {type(n) for n in outs + ins}
    if len(kinds) > 1:
        raise InputError("grad: outputs and inputs must all be Values or all be Tensors, not a mix")
    if grad_outputs is None:
        gos = [None] * len(outs)
    else:
        gos = list(grad_outputs) if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
        if len(gos) != len(outs):
            raise GradError(f"grad requires one grad_output per output: got {len(gos)} grad_outputs "
                            f"for {len(outs)} outputs")
    for i, o in enumerate(outs):
        if not o.requires_grad:
            raise GradError(f"element {i} of outputs does not require grad and has no grad_fn: it was made "
                            "from inputs that don't require grad, or inside no_grad()")
    for i, n in enumerate(ins):
        if not n.requires_grad:
            raise GradError(f"element {i} of inputs does not require grad: nothing can be differentiated "
                            "with respect to it (set requires_grad=True before computing with it)")
    unused_ok = bool(allow_unused) or materialize_grads
    graph = bool(create_graph)
    with autodiff.sweep_lock, (autodiff.enable_grad() if graph else autodiff.no_grad()), \
            np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        seeds = [_seed(o, go, i, graph) for i, (o, go) in enumerate(zip(outs, gos))]
        if not graph:
            seeds = [s.data for s in seeds]
        grads = _sweep(outs, seeds, ins, graph)
    result = []
    for i, n in enumerate(ins):
        g = grads.get(id(n))
        if g is None:
            if not unused_ok:
                raise GradError(f"element {i} of inputs was not used to compute the outputs (no path leads "
                                "from it to them); pass allow_unused=True to get None for it")
            if materialize_grads:
                g = Value(0.0, requires_grad=False) if isinstance(n, Value) else _leaf(np.zeros_like(n.data))
            result.append(g)
            continue
        result.append(_result(g, n))
    return tuple(result)


def _result(g, like):
    """A gradient as the caller gets it: a Value or Tensor (numbers wrapped as constants)."""
    if _is_node(g):
        return g
    if isinstance(like, Value):
        v = Value.__new__(Value)              # may be inf or nan (sqrt'(0)), which Value() refuses
        Value.__init__(v, 0.0, requires_grad=False)
        v._data = float(g)
        return v
    return _leaf(np.asarray(g, dtype=like.dtype).copy() if np.shares_memory(np.asarray(g), like.data)
                 else np.asarray(g, dtype=like.dtype))


def backward_with_graph(root, seed) -> None:
    """``root.backward(seed, create_graph=True)``: every leaf's ``.grad`` (and a Tensor's retained
    one's) gets a gradient that is itself a graph, added to what is there (as in PyTorch)."""
    order = autodiff.reverse_topological(root)
    if isinstance(root, Value):
        targets = [n for n in order if n._op is None]
    else:
        targets = [n for n in order if n._op is None or n._retain]
    if not targets:
        return
    go = seed if isinstance(root, Value) else (seed if isinstance(seed, Tensor) else _leaf(np.asarray(seed)))
    grads = grad(root, targets, grad_outputs=[go], create_graph=True, allow_unused=True)
    for n, g in zip(targets, grads):
        if g is None:
            continue
        old = n.grad
        if isinstance(n, Value):
            n.grad = g if isinstance(old, float) and old == 0.0 else old + g
        else:
            n.grad = g if old is None else g + old


def hvp(outputs, inputs, v) -> tuple:
    """The Hessian of a scalar ``outputs`` times ``v`` (one vector per input), by reverse over reverse:
    H·v = ∇(∇f · v). Returns one constant per input, like ``torch.autograd.functional.hvp``'s second half."""
    ins = _as_list(inputs, "inputs")
    vs = _as_list(v, "v") if not isinstance(v, (list, tuple)) else list(v)
    if len(vs) != len(ins):
        raise InputError(f"hvp: {len(vs)} vectors for {len(ins)} inputs")
    gs = grad(outputs, ins, create_graph=True)
    total = None
    for g, vi in zip(gs, vs):
        term = (g * vi).sum() if isinstance(g, Tensor) else g * vi
        total = term if total is None else total + term
    if not total.requires_grad:               # f is at most linear: its Hessian is zero
        return tuple(_result(np.zeros(_shape(i)) if isinstance(i, Tensor) else 0.0, i) for i in ins)
    return grad(total, ins, allow_unused=True, materialize_grads=True)


autodiff.graph_backward = backward_with_graph   # the engine's hook: see chainrule.autodiff
