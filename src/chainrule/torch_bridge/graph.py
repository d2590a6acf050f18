"""A PyTorch autograd graph read into chainrule's terms, and its backward run step by step.

PyTorch keeps, for every tensor computed from one that requires grad, a
backward node (``loss.grad_fn``) and the nodes it sends gradients to
(``next_functions``); leaves end in ``AccumulateGrad`` nodes holding the leaf
(``.variable``). Each backward node is mapped to the op table's row where one
exists (``MulBackward0`` -> ``mul``, ``AddmmBackward0`` with ``TBackward0`` of
a weight -> ``linear``), and to a generic step named after PyTorch's op
(``torch.cumsum``) where none does: no node is dropped.

Forward values come from what PyTorch saved for its backward (``_saved_self``,
``_saved_result``, …: an unpacked saved tensor still names the node that made
it), from :func:`recording` (every op's output, taken as it is made), or are
computed again with the row's forward from known inputs.

The backward is run by calling PyTorch's own nodes, one at a time, in
reverse forward order, with the gradient accumulated so far: what each step
receives and what it sends to each input are PyTorch's numbers, not
chainrule's. The graph becomes a list of small stand-in nodes with the
attributes chainrule's trace builder reads, so the :class:`~chainrule.trace.Trace`
is built by the same code as for chainrule's own engine.
"""
from __future__ import annotations

import math
import re
import threading

import numpy as np

from ..errors import ChainruleError, InputError
from ..ops import OPS, TENSOR_OPS, TensorOp

__all__ = ["INSTALL", "TorchMissingError", "torch_module", "Graph", "read_graph"]

INSTALL = "pip install torch==2.13.0"


class TorchMissingError(ChainruleError, ImportError):
    """chainrule.torch was used without PyTorch installed."""


def torch_module():
    """The real PyTorch, or a :class:`TorchMissingError` saying how to install it."""
    try:
        import torch
    except ImportError:
        raise TorchMissingError(f"chainrule.torch needs PyTorch, which is not installed: {INSTALL}") from None
    return torch


# --------------------------------------------------------------------------
# Stand-in nodes: what chainrule.trace.build and explain_tensor read of a node
# --------------------------------------------------------------------------

class Node:
    """One step of the graph in chainrule's terms (a leaf, a constant or an op)."""

    __slots__ = ("data", "_op", "_k", "_xs", "_prev", "name", "requires_grad", "_seq", "fn", "edges",
                 "through", "fn_slots", "grad", "tensor", "known")

    def __init__(self, data, op=None, prev=(), k=None, name=None, requires_grad=False, fn=None):
        self.data, self._op, self._prev, self._k = data, op, list(prev), k
        self.name, self.requires_grad, self.fn = name, requires_grad, fn
        self._xs = ()
        self._seq = 0
        self.edges = []        # per input: (torch node or None, output index) the input's gradient goes to
        self.through = {}      # input slot -> a TBackward0 folded into this step (linear's weight)
        self.fn_slots = []     # per input: which of the torch node's outputs is its gradient
        self.grad = None
        self.tensor = None     # the torch tensor of a leaf
        self.known = True      # False: the value could not be recovered (not saved, no recording)

    def _parents(self):
        return self._prev

    @property
    def op(self):
        return self._op.name if self._op is not None else None

    @property
    def inputs(self) -> tuple:
        return tuple(self._prev)

    @property
    def shape(self):
        return tuple(np.shape(self.data))

    @property
    def ndim(self):
        return np.ndim(self.data)

    def __repr__(self):
        return f"<torch step {self.name or self.op or 'leaf'}>"


def generic_op(cls: str, arity: int) -> TensorOp:
    """A step for a PyTorch backward node the op table has no row for."""
    base = _base_name(cls)
    return TensorOp(f"torch.{base}", -1 if arity != 1 else 1, None, (),
                    (f"PyTorch's own backward of {base} ({cls}); chainrule's op table has no row for it",),
                    (f"{base}′(δ)",), f"torch.{base}({{xs}})" if arity != 1 else f"torch.{base}({{x}})",
                    note="a PyTorch op outside chainrule's op table: the numbers are PyTorch's")


def _base_name(cls: str) -> str:
    name = re.sub(r"Backward\d*$", "", cls)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() or cls


def is_generic(op) -> bool:
    return isinstance(op, TensorOp) and op.forward is None


# --------------------------------------------------------------------------
# Mapping PyTorch's backward nodes to rows
# --------------------------------------------------------------------------

_ELEMENTWISE = {
    "AddBackward0": "add", "SubBackward0": "sub", "MulBackward0": "mul", "DivBackward0": "div",
    "NegBackward0": "neg", "PowBackward1": "pow", "SqrtBackward0": "sqrt", "ExpBackward0": "exp",
    "LogBackward0": "log", "TanhBackward0": "tanh", "SigmoidBackward0": "sigmoid", "ReluBackward0": "relu",
    "AbsBackward0": "abs", "SinBackward0": "sin", "CosBackward0": "cos", "MaximumBackward0": "maximum",
    "MinimumBackward0": "minimum",
}
_MATMUL = {"MmBackward0", "BmmBackward0", "MvBackward0", "DotBackward0", "MatmulBackward0"}
_RESHAPE = {"ViewBackward0", "ReshapeAliasBackward0", "UnsafeViewBackward0", "SqueezeBackward0",
            "SqueezeBackward1", "SqueezeBackward2", "UnsqueezeBackward0", "FlattenBackward0"}
# saved-tensor names -> the input slot they hold (next_functions order)
_SLOTS = {"self": 0, "other": 1, "mat2": 1, "vec": 1, "tensor": 1, "exponent": 1}
_ADDMM_SLOTS = {"self": 0, "mat1": 1, "mat2": 2}


def _saved(fn, what, default=None):
    try:
        return getattr(fn, "_saved_" + what)
    except (AttributeError, RuntimeError):
        return default


def _dims(d, ndim):
    if d is None:
        return None
    dims = tuple(int(x) % max(ndim, 1) for x in (d if isinstance(d, (tuple, list)) else (d,)))
    return dims or None


def _row(fn, cls, nin, shapes):
    """(row, k) for a backward node, or (None, None) when no row fits exactly."""
    if cls in ("AddBackward0", "SubBackward0"):
        if _saved(fn, "alpha", 1) != 1:
            return None, None
        return OPS[_ELEMENTWISE[cls]], None
    if cls in _ELEMENTWISE:
        return OPS[_ELEMENTWISE[cls]], None
    if cls == "PowBackward0":
        k = _saved(fn, "exponent")
        return (OPS["powc"], float(k)) if isinstance(k, (int, float)) else (None, None)
    if cls == "LeakyReluBackward0":
        return OPS["leaky_relu"], float(_saved(fn, "negative_slope", 0.01))
    if cls in _MATMUL and nin == 2:
        return TENSOR_OPS["matmul"], None
    in_shape = shapes[0] if shapes else ()
    if cls == "SumBackward0":
        return TENSOR_OPS["sum"], (None, False)
    if cls == "SumBackward1":
        return TENSOR_OPS["sum"], (_dims(_saved(fn, "dim"), len(in_shape)), bool(_saved(fn, "keepdim")))
    if cls == "MeanBackward0":
        return TENSOR_OPS["mean"], (None, False)
    if cls == "MeanBackward1":
        return TENSOR_OPS["mean"], (_dims(_saved(fn, "dim"), len(in_shape)), bool(_saved(fn, "keepdim")))
    if cls == "TBackward0" and len(in_shape) == 2:
        return TENSOR_OPS["transpose"], (0, 1)
    if cls == "TransposeBackward0":
        n = max(len(in_shape), 1)
        return TENSOR_OPS["transpose"], (int(_saved(fn, "dim0")) % n, int(_saved(fn, "dim1")) % n)
    if cls == "PermuteBackward0":
        return TENSOR_OPS["permute"], tuple(int(d) % max(len(in_shape), 1) for d in _saved(fn, "dims"))
    if cls == "SoftmaxBackward0":
        return TENSOR_OPS["softmax"], int(_saved(fn, "dim"))
    if cls == "LogSoftmaxBackward0":
        return TENSOR_OPS["log_softmax"], int(_saved(fn, "dim"))
    if cls in ("CatBackward0", "StackBackward0"):
        return TENSOR_OPS["cat" if cls == "CatBackward0" else "stack"], int(_saved(fn, "dim"))
    return None, None


# --------------------------------------------------------------------------
# Recording: every op's output as it is made, and the backward PyTorch runs
# --------------------------------------------------------------------------

class Recording:
    """What :func:`chainrule.torch.recording` saw: outputs by backward node, module outputs,
    and the incoming and outgoing gradients of each node in the last backward that ran."""

    def __init__(self):
        self.values: dict = {}     # torch node -> output value (a detached copy)
        self.modules: dict = {}    # torch node -> the module whose output it is
        self.backward: dict = {}   # torch node -> (grad_outputs, grad_inputs) of the last sweep
        self.consts: dict = {}     # (torch node, input slot) -> a constant operand
        self.calls = 0
        self._hooked: set = set()
        self._handles: list = []

    def keep(self, out, args=()):
        torch = torch_module()
        if isinstance(out, torch.Tensor):
            fn = out.grad_fn
            if fn is not None and out.output_nr == 0:
                self.values[fn] = out.detach().clone()
                for slot, a in enumerate(args):       # constant operands, by position (self, other)
                    if isinstance(a, torch.Tensor) and not a.requires_grad:
                        self.consts[(fn, slot)] = a          # itself: a named constant keeps its name
                    elif isinstance(a, (int, float)) and not isinstance(a, bool):
                        self.consts[(fn, slot)] = torch.tensor(float(a), dtype=out.dtype)
                self._hook(fn)
        elif isinstance(out, (tuple, list)):
            for o in out:
                self.keep(o)

    def _hook(self, fn):
        stack = [fn]
        while stack:
            f = stack.pop()
            if f is None or f in self._hooked or type(f).__name__ == "AccumulateGrad":
                continue
            self._hooked.add(f)
            self._handles.append(f.register_hook(self._seen(f)))
            stack.extend(n for n, _ in f.next_functions)

    def _seen(self, f):
        def hook(grad_inputs, grad_outputs):
            self.backward[f] = (tuple(_copy(g) for g in grad_outputs), tuple(_copy(g) for g in grad_inputs))
        return hook


def _copy(g):
    return None if g is None else g.detach().clone()


_active = threading.local()


def active_recordings() -> list:
    return getattr(_active, "stack", [])


def push_recording(rec):
    if not hasattr(_active, "stack"):
        _active.stack = []
    _active.stack.append(rec)


def pop_recording(rec):
    _active.stack.remove(rec)


def _recorded(fn, attr):
    for rec in reversed(active_recordings() + list(_finished)):
        got = getattr(rec, attr).get(fn)
        if got is not None:
            return got
    return None


_finished: list = []    # recordings whose block has ended: still read by trace() (most recent last)
KEEP_FINISHED = 4


def finish(rec):
    _finished.append(rec)
    del _finished[:-KEEP_FINISHED]


# --------------------------------------------------------------------------
# Reading the graph
# --------------------------------------------------------------------------

class Graph:
    """The stand-in nodes of one PyTorch graph, in forward order, with the root's node."""

    def __init__(self, nodes, root, scalar, by_fn, leaves, notes):
        self.nodes, self.root, self.scalar = nodes, root, scalar
        self.by_fn, self.leaves, self.notes = by_fn, leaves, notes


def _as_array(t) -> np.ndarray:
    a = t.detach().cpu()
    if a.is_complex():
        raise InputError("chainrule.torch works with real numbers; this graph holds a complex tensor")
    if not a.is_floating_point():
        return a.numpy().astype(np.float64) if a.dtype != _torch_bool() else a.numpy()
    return a.double().numpy()


def _torch_bool():
    return torch_module().bool


def _order(root_fn):
    """Every backward node reachable from ``root_fn``, in forward (creation) order."""
    seen, stack, found = {root_fn}, [root_fn], []
    while stack:
        f = stack.pop()
        found.append(f)
        for n, _ in f.next_functions:
            if n is not None and n not in seen:
                seen.add(n)
                stack.append(n)
    first_use: dict = {}
    for f in found:
        s = _seq(f)
        for slot, (n, _) in enumerate(f.next_functions):
            if n is not None and _is_leaf(n):
                first_use[n] = min(first_use.get(n, (s, slot)), (s, slot))
    return sorted(found, key=lambda f: (first_use[f][0], 0, first_use[f][1]) if _is_leaf(f) else (_seq(f), 1, 0))


def _seq(f) -> int:
    try:
        return f._sequence_nr()
    except (AttributeError, RuntimeError):
        return 0


def _is_leaf(f) -> bool:
    return type(f).__name__ == "AccumulateGrad"


def _out_shape(f):
    try:
        return tuple(f._input_metadata[0].shape)
    except (AttributeError, IndexError, RuntimeError):
        return None


def read_graph(loss, names: dict) -> Graph:
    """Stand-in nodes for ``loss``'s graph, named from ``names`` (name -> tensor)."""
    torch = torch_module()
    fns = _order(loss.grad_fn)
    leaf_name, fn_name, const_name = {}, {}, {}
    for name, t in names.items():
        if not isinstance(t, torch.Tensor):
            continue
        if t.grad_fn is not None:
            if t.output_nr == 0:
                fn_name.setdefault(t.grad_fn, name)
        elif t.requires_grad:
            leaf_name.setdefault(id(t), name)
        else:
            const_name.setdefault(id(t), name)
    # values: recorded, saved by PyTorch, then computed again
    values: dict = {loss.grad_fn: loss} if loss.output_nr == 0 else {}
    consts: dict = {}              # (torch node, slot) -> constant input value
    for f in fns:
        if _is_leaf(f):
            values[f] = f.variable
            continue
        got = _recorded(f, "values")
        if got is not None:
            values[f] = got
        for slot, (n, _) in enumerate(f.next_functions):
            c = _recorded((f, slot), "consts") if n is None else None
            if c is not None:
                consts[(f, slot)] = c
        cls = type(f).__name__
        slots = _ADDMM_SLOTS if cls == "AddmmBackward0" else _SLOTS
        for attr in dir(f):
            if not attr.startswith("_saved_") or attr.endswith(("_sym_sizes", "_sym_strides")):
                continue
            v = _saved(f, attr[7:])
            if not isinstance(v, torch.Tensor):
                continue
            if v.grad_fn is not None:
                if v.output_nr == 0:
                    values.setdefault(v.grad_fn, v)
                continue
            slot = slots.get(attr[7:])
            if slot is not None and slot < len(f.next_functions) and f.next_functions[slot][0] is None:
                consts[(f, slot)] = v        # the tensor itself: a named constant keeps its name
    shapes_of = {}
    for f in fns:
        if f in values:
            shapes_of[f] = tuple(values[f].shape)
        else:
            shapes_of[f] = _out_shape(f)
    scalar = all(s == () for s in shapes_of.values()) and all(tuple(v.shape) == () for v in consts.values())

    by_fn: dict = {}
    nodes: list = []
    leaves: dict = {}
    notes: list = []
    folded: set = set()
    users: dict = {}
    for f in fns:
        for n, _ in f.next_functions:
            if n is not None:
                users[n] = users.get(n, 0) + 1

    def convert(v):
        a = _as_array(v)
        return float(a) if scalar else a

    def add(node):
        node._seq = len(nodes)
        nodes.append(node)
        return node

    linear = {}                    # addmm(b, x, Wᵀ) with Wᵀ = TBackward0 of W alone -> linear(x, W, b)
    for f in fns:
        if type(f).__name__ != "AddmmBackward0" or _saved(f, "beta", 1) != 1 or _saved(f, "alpha", 1) != 1:
            continue
        nf = f.next_functions
        t_node = nf[2][0]
        if (t_node is not None and type(t_node).__name__ == "TBackward0" and users.get(t_node) == 1
                and t_node.next_functions[0][0] is not None and nf[0][0] is not None):
            linear[f] = t_node
            folded.add(t_node)
    for f in fns:
        if f in folded:
            continue
        if _is_leaf(f):
            t = f.variable
            node = add(Node(convert(t), name=leaf_name.get(id(t)), requires_grad=True, fn=f))
            node.tensor = t
            by_fn[f] = node
            leaves[f] = node
            continue
        cls = type(f).__name__
        nf = list(f.next_functions)
        row, k = _row(f, cls, len(nf), [shapes_of.get(n) or () for n, _ in nf if n is not None])
        edges = list(range(len(nf)))
        through = {}
        if f in linear:
            row, k = TENSOR_OPS["linear"], None
            edges = [1, 2, 0]          # (x, W, b) from addmm(b, x, Wᵀ)
            through = {1: linear[f]}
        if row is not None and row.arity > 0 and len(nf) != row.arity:
            row = None
        if row is None:
            row = generic_op(cls, len(nf))
            edges = [j for j, (n, _) in enumerate(nf) if n is not None]
        prev, edge_to = [], []
        for slot, j in enumerate(edges):
            n, idx = nf[j]
            if slot in through:
                n, idx = through[slot].next_functions[0]
            if n is None:
                c = consts.get((f, j))
                cnode = add(Node(convert(c) if c is not None else None, name=const_name.get(id(c))))
                cnode.known = c is not None
                cnode.tensor = c
                prev.append(cnode)
            else:
                prev.append(by_fn[n])
            edge_to.append((n, idx))
        value = values.get(f)
        node = Node(convert(value) if value is not None else None, row, prev, k, fn_name.get(f), True, f)
        node.known = value is not None
        node.edges, node.through, node.fn_slots = edge_to, through, edges
        if is_generic(row):
            notes.append(f"{row.name} ({cls}) is not in chainrule's op table: shown as a generic step "
                         "whose numbers are PyTorch's own")
        by_fn[f] = add(node)
    _fill_values(nodes, scalar, [t for t in names.values() if isinstance(t, torch.Tensor)
                                 and t.grad_fn is None and not t.requires_grad], const_name)
    missing = [n for n in nodes if n.data is None]
    for n in missing:              # a stand-in number of the right shape; the trace shows "?"
        shape = _out_shape(n.fn) if n.fn is not None else None
        n.data = 0.0 if scalar else np.zeros(shape or (), dtype=np.float64)
        n.known = False
        if n._op is None and not n.name:
            n.name = f"const{n._seq}"      # not labelled by its stand-in number
    for n in nodes:
        n._xs = tuple(np.asarray(p.data) for p in n._prev)
    if missing:
        notes.append(f"{len(missing)} value{'s' if len(missing) > 1 else ''} could not be recovered (PyTorch "
                     "did not save them for its backward): compute the forward inside "
                     "`with chainrule.torch.recording():` to see every value")
    return Graph(nodes, by_fn[loss.grad_fn], scalar, by_fn, leaves, list(dict.fromkeys(notes)))


def _fill_values(nodes, scalar, candidates=(), const_name=None):
    """Values PyTorch did not keep: the row's forward of known inputs, or (add, sub) a constant
    input: a named constant (``candidates``) that gives the output exactly, else solved from
    the output and the other input."""
    for _ in range(3):
        changed = False
        for n in nodes:
            op = n._op
            if op is None or is_generic(op):
                continue
            xs = [p.data for p in n._prev]
            if n.data is None and all(x is not None for x in xs):
                v = _forward(op, xs, n._k)
                if v is not None:
                    n.data = float(v) if scalar else np.asarray(v, dtype=np.float64)
                    n.known = changed = True
            elif n.data is not None and op.name in ("add", "sub") and len(xs) == 2:
                a, b = xs
                for slot, other in ((1, a), (0, b)):
                    c = n._prev[slot]
                    if c.data is None and other is not None and not c.requires_grad:
                        _fill_constant(n, c, slot, other, scalar, candidates, const_name or {})
                        changed = True
                        break
        if not changed:
            return


def _fill_constant(n, c, slot, other, scalar, candidates, const_name):
    """The constant input ``slot`` of add/sub node ``n``: the first named constant that gives
    ``n``'s output exactly when computed as PyTorch did, else the output solved for it."""
    torch = torch_module()
    dtype = n.fn._input_metadata[0].dtype if getattr(n.fn, "_input_metadata", None) else torch.float32
    out = torch.as_tensor(np.asarray(n.data), dtype=dtype)
    x = torch.as_tensor(np.asarray(other), dtype=dtype)
    for t in candidates:
        if t.is_complex() or t.dtype == torch.bool:
            continue
        y = t.to(dtype)
        try:
            got = (x + y if n._op.name == "add" else (x - y if slot == 1 else y - x))
        except RuntimeError:
            continue
        if tuple(got.shape) == tuple(out.shape) and bool((got == out).all()):
            c.data = float(_as_array(t)) if scalar else _as_array(t)
            c.name, c.tensor, c.known = const_name.get(id(t)), t, True
            return
    c.data = _solve(n.data, other, n._op.name, second=slot == 1, scalar=scalar)
    c.known = True


def _solve(out, other, op, second, scalar):
    with np.errstate(all="ignore"):
        if op == "add":
            v = np.subtract(out, other)
        else:
            v = np.subtract(other, out) if second else np.add(out, other)
    # a broadcast constant is known only up to its broadcast shape: keep the full array
    return float(v) if scalar else np.asarray(v, dtype=np.float64)


def _forward(op, xs, k):
    with np.errstate(all="ignore"):
        try:
            if isinstance(op, TensorOp):
                return op.forward(tuple(np.asarray(x) for x in xs), k)
            return op.np_f(np.asarray(xs[0]), np.asarray(xs[1]) if len(xs) > 1 else None, k)
        except (ValueError, TypeError, IndexError):
            return None


# --------------------------------------------------------------------------
# The backward, step by step, with PyTorch's own nodes
# --------------------------------------------------------------------------

FREED = ("second time", "freed", "already been freed")


def run_backward(graph: Graph, seed):
    """The record chainrule's trace builder reads: ``(node, incoming, locals)`` per step, newest
    first. Scalars: ``locals`` are local derivatives (the node's backward applied to 1); tensors:
    the contributions sent to each input (the node's backward applied to the incoming gradient)."""
    torch = torch_module()
    grads: dict = {}               # torch node -> [gradient per output]
    root = graph.root.fn
    grads[root] = {0: seed}
    record = []
    with torch.no_grad():
        for node in reversed(graph.nodes):
            f = node.fn
            if f is None:
                continue
            incoming = grads.get(f, {})
            g0 = incoming.get(0)
            if node._op is None:
                record.append((node, _py(g0, graph.scalar), ()))
                node.grad = g0
                continue
            if g0 is None and not incoming:
                continue          # nothing reaches it (every path has a None gradient)
            outs = _call(f, incoming)
            sent = []
            for slot, (target, idx) in enumerate(node.edges):
                j = node.fn_slots[slot]
                c = outs[j] if j < len(outs) else None
                if c is not None and slot in node.through:
                    c = _call(node.through[slot], {0: c})[0]
                c = _reduced(c, target, idx)
                sent.append(c)
                if target is not None and c is not None:
                    got = grads.setdefault(target, {})
                    got[idx] = c if idx not in got else got[idx] + c
            if graph.scalar:
                ones = _call(f, {0: torch.ones_like(g0)}) if g0 is not None else outs
                locals_ = []
                for slot in range(len(node.edges)):
                    j = node.fn_slots[slot]
                    c = ones[j] if j < len(ones) else None
                    if c is not None and slot in node.through:
                        c = _call(node.through[slot], {0: c})[0]
                    c = _reduced(c, *node.edges[slot])
                    locals_.append(float(c) if c is not None else 0.0)
                record.append((node, _py(g0, True), tuple(locals_)))
            else:
                record.append((node, _py(g0, False), tuple(_py(c, False) if c is not None else None for c in sent)))
            node.grad = g0
    return record


def _reduced(c, target, idx):
    """``c`` summed to the shape and cast to the dtype its receiver expects, as PyTorch's engine does
    between nodes (a node's own output may still have the broadcast shape)."""
    if c is None or target is None:
        return c
    try:
        meta = target._input_metadata[idx] if not _is_leaf(target) else None
    except (AttributeError, IndexError):
        meta = None
    shape = tuple(meta.shape) if meta is not None else tuple(target.variable.shape)
    dtype = meta.dtype if meta is not None else target.variable.dtype
    if tuple(c.shape) != shape:
        c = c.sum_to_size(shape) if shape else c.sum()
    return c if c.dtype == dtype else c.to(dtype)


def _call(f, incoming: dict):
    """``f``'s backward applied to the incoming gradients (zeros for outputs nothing reached)."""
    torch = torch_module()
    n_out = len(getattr(f, "_input_metadata", ())) or 1
    args = []
    for i in range(n_out):
        g = incoming.get(i)
        if g is None:
            meta = f._input_metadata[i]
            g = torch.zeros(meta.shape, dtype=meta.dtype, device=meta.device)
        args.append(g)
    call = f if callable(f) else f.apply       # a torch.autograd.Function's node is run by .apply
    try:
        out = call(*args)
    except RuntimeError as e:
        got = _recorded(f, "backward")
        if got is not None and any(w in str(e) for w in FREED):
            return _scaled(got, incoming)
        raise _backward_error(f, e) from None
    return out if isinstance(out, tuple) else (out,)


def _scaled(got, incoming):
    """A recorded step (the user's own backward ran it) standing in for calling it again: only
    exact when the incoming gradient is the one recorded."""
    grad_outputs, grad_inputs = got
    g, rec = incoming.get(0), grad_outputs[0] if grad_outputs else None
    if g is not None and rec is not None and g.shape == rec.shape and bool((g == rec).all()):
        return grad_inputs
    if g is not None and rec is not None and g.numel() == 1 and float(rec) != 0:
        return tuple(None if c is None else c * (float(g) / float(rec)) for c in grad_inputs)
    raise InputError("this graph's saved values were freed by an earlier backward(), and the gradient "
                     "arriving now differs from the recorded one: trace before loss.backward(), or call "
                     "loss.backward(retain_graph=True)")


def _backward_error(f, e) -> ChainruleError:
    text = str(e).split("\n")[0]
    cls = type(f).__name__
    if any(w in text for w in FREED):
        return InputError(f"the graph's saved values were freed by loss.backward() (at {cls}): call "
                          "chainrule.torch.trace(loss) before backward(), use loss.backward(retain_graph=True), "
                          "or compute the forward inside `with chainrule.torch.recording():`")
    if "inplace operation" in text or "in-place" in text:
        return InputError(f"PyTorch cannot run the backward of {cls}: a value it saved was changed in place "
                          f"afterwards ({text[:160]})")
    return InputError(f"PyTorch's backward of {cls} failed: {text[:200]}")


def _py(g, scalar):
    if g is None:
        return None
    a = _as_array(g)
    return float(a) if scalar else a


def finite(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    a = np.asarray(v)
    return bool(np.isfinite(a).all()) if a.dtype.kind in "fc" else True
