"""Tensor gradients told as the chain rule: layer by layer with shapes, and one weight at a time.

``explain_tensor(loss, W1)`` walks the recorded graph from ``W1`` up to
``loss`` and names every backward step by its op row's Jacobian form
("multiply by W₂ᵀ", "mask by z₁ > 0"), with the shapes and the norms of the
gradient coming in and going out. Consecutive steps are pasted into the
layer-level formulas a textbook writes for a 2-layer MLP::

    δ₂ = ∂L/∂z₂ = (softmax(z₂) − onehot(y))/N
    δ₁ = ∂L/∂z₁ = (δ₂·W₂) ⊙ 1[z₁ > 0]
    ∂L/∂W₁ = δ₁ᵀ·x

Nothing is hard-coded for one architecture: the formulas come from the rows
of :mod:`chainrule.ops` along whatever path the graph has.

``explain_tensor(loss, W1, index=(i, j))`` drills down to one weight: every
chain of *scalar* local derivatives from ``W1[i, j]`` to the loss (through
each sample of the batch and each unit it feeds), with numbers; the sum of
the chain products is checked against the gradient the engine computed.

Labels: a tensor's ``name`` if it has one; otherwise ``x``, ``Wₗ``, ``bₗ``
(inputs of the l-th matmul/linear), ``zₗ`` (its output, after the bias),
``aₗ`` (an activation of ``zₗ``), ``L`` (the output) and ``op#id`` for the rest.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import autodiff
from ..errors import InputError
from ..numfmt import constant, fmt, literal, shape as _shape
from ..ops import OPS, TensorOp, jacobian_form
from ..tensor import Tensor
from ..tensor.nodes import forward_of, step_of, vjp_of
from ..trace import Trace, build, check_fresh
from .chains import SUBSCRIPTS, agrees
from .model import ElementFactor, Path
from .render import path_factors

ElementPath = Path      # one weight's chain: the same Path (factors, product) as a scalar chain's

__all__ = ["explain_tensor", "explain_record", "TensorExplanation", "TensorStep", "LayerLine", "ElementChain",
           "ElementPath", "ElementFactor"]

_SUB = SUBSCRIPTS
_LAYER_ACTIVATIONS = {"softmax", "log_softmax"}      # structural rows that act as a layer's activation


def _activation(op: str) -> bool:
    """An op whose output is a layer's activation aₗ: a non-linear one-input elementwise row, or softmax."""
    row = OPS.get(op)
    return op in _LAYER_ACTIVATIONS or (row is not None and row.arity == 1 and not row.linear)


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------

@dataclass
class TensorStep:
    """One backward step: δ arrives at ``node`` and goes to its input ``input``."""

    node: str                 # the consumer (where the gradient arrives)
    op: str
    input: str                # where the gradient goes
    slot: int                 # which input of the op
    node_shape: list[int]
    input_shape: list[int]
    form: str                 # the Jacobian's form in words: "multiply by W₂ᵀ"
    delta: str                # the step as a formula of the incoming δ: "δ·W₂"
    incoming_norm: float      # ‖∂L/∂node‖
    outgoing_norm: float      # ‖this step's contribution to ∂L/∂input‖


@dataclass
class LayerLine:
    """One line of the layer-level chain, e.g. δ₁ = (δ₂·W₂) ⊙ 1[z₁ > 0]."""

    symbol: str               # "δ₁" or "∂L/∂W₁"
    of: str                   # "∂L/∂z₁"
    expression: str
    shape: list[int]
    norm: float


@dataclass
class ElementChain:
    """One weight's gradient as scalar chains: Σ over paths of the product of local derivatives."""

    wrt: str                  # "W₁[2, 0]"
    index: list[int]
    grad: float               # the engine's ∂L/∂wrt[index] from the same backward sweep
    total: float              # Σ of all path products
    matches: bool | None      # None: not checked, the gradient or the sum is not a finite number
    path_count: int
    paths: list[ElementPath]  # the largest |product| first, at most max_paths
    rest: float               # Σ of the products of the paths not listed
    complete: bool = True     # False if there were too many paths to list (total is still exact)

    def chain_line(self, i: int = 0) -> str:
        p = self.paths[i]
        names, nums = path_factors(p)
        names, nums = names or "1", nums or "1"
        return f"∂L/∂{self.wrt} ⊃ {names} = {nums} = {fmt(p.product)}"


@dataclass
class TensorExplanation:
    output: str
    wrt: str
    wrt_shape: list[int]
    grad_norm: float
    paths: list[list[TensorStep]]          # node paths from the output down to wrt (usually one)
    lines: list[list[LayerLine]]           # the layer-level chain, per path
    element: ElementChain | None = None
    notes: list[str] = field(default_factory=list)
    trace: Trace | None = None

    # -- views ---------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["trace"] = None if self.trace is None else self.trace.to_dict()
        return d

    def to_text(self) -> str:
        out = [f"∂{self.output}/∂{self.wrt}: shape {_shape(self.wrt_shape)}, norm {fmt(self.grad_norm)}"]
        for k, (steps, lines) in enumerate(zip(self.paths, self.lines)):
            if len(self.paths) > 1:
                out.append(f"\npath {k + 1} of {len(self.paths)} (the gradient is the sum over paths):")
            out.append("")
            out.append("Layer by layer:")
            for ln in lines:
                out.append(f"  {ln.symbol} = {ln.expression}    [{ln.of}, shape {_shape(ln.shape)}, "
                           f"norm {fmt(ln.norm)}]")
            out.append("")
            out.append("Backward steps (from the output down):")
            for s in steps:
                out.append(f"  {s.node} ← {s.op} ← {s.input}: {s.form};  δ {_shape(s.node_shape)} → "
                           f"{_shape(s.input_shape)};  ‖δ‖ {fmt(s.incoming_norm)} → {fmt(s.outgoing_norm)}")
        out.extend(f"note: {n}" for n in self.notes)
        if self.element is not None:
            out.append("")
            out.extend(_element_text(self.element, self.output))
        out.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(out)

    @property
    def warnings(self) -> list[str]:
        """The trace's warnings: where a value or gradient first stopped being finite, and why."""
        return [] if self.trace is None else list(self.trace.warnings)

    def to_markdown(self) -> str:
        out = [f"### ∂{self.output}/∂{self.wrt}", "",
               f"Gradient shape {_shape(self.wrt_shape)}, norm {fmt(self.grad_norm)}."]
        for k, (steps, lines) in enumerate(zip(self.paths, self.lines)):
            if len(self.paths) > 1:
                out += ["", f"**Path {k + 1} of {len(self.paths)}** (the gradient is the sum over paths)"]
            out += ["", "| gradient | is | formula | shape | norm |", "|---|---|---|---|---|"]
            for ln in lines:
                out.append(f"| {_md(ln.symbol)} | {_md(ln.of)} | {_md(ln.expression)} | "
                           f"{_shape(ln.shape)} | {fmt(ln.norm)} |")
            out += ["", "| at | op | to | local Jacobian | δ in → out | ‖δ‖ in → out |",
                    "|---|---|---|---|---|---|"]
            for s in steps:
                out.append(f"| {_md(s.node)} | {s.op} | {_md(s.input)} | {_md(s.form)} | "
                           f"{_shape(s.node_shape)} → {_shape(s.input_shape)} | "
                           f"{fmt(s.incoming_norm)} → {fmt(s.outgoing_norm)} |")
        if self.notes:
            out += [""] + [f"*{_md(n)}*" for n in self.notes]
        if self.element is not None:
            out += ["", "#### One weight", ""]
            out += [line if not line.startswith("  ") else "- " + _md(line.strip())
                    for line in _element_text(self.element, self.output)]
        if self.warnings:
            out += [""] + [f"- ⚠ {_md(w)}" for w in self.warnings]
        return "\n".join(out)


def _element_text(e: ElementChain, output: str) -> list[str]:
    out = []
    if e.path_count == 1:
        p = e.paths[0]
        names, nums = path_factors(p)
        out.append(f"∂{output}/∂{e.wrt} = {names}")
        out.append(f"  = {nums} = {fmt(p.product)}")
    else:
        shown = len(e.paths)
        out.append(f"∂{output}/∂{e.wrt} = Σ over {e.path_count} chains of scalar local derivatives"
                   + (f" (the {shown} largest shown)" if shown < e.path_count else "") + ":")
        for p in e.paths:
            names, nums = path_factors(p)
            out.append(f"  {names} = {nums} = {fmt(p.product)}")
        if shown < e.path_count:
            out.append(f"  … the other {e.path_count - shown} chains add up to {fmt(e.rest)}")
        out.append(f"  total {fmt(e.total)}")
    if e.matches is None:
        out.append(f"! not checked: the gradient from the backward pass, ∂{output}/∂{e.wrt} = {fmt(e.grad)}, "
                   "is not a finite number")
        return out
    mark = "✓ matches" if e.matches else "✗ DOES NOT match"
    out.append(f"{mark} the gradient from the backward pass: ∂{output}/∂{e.wrt} = {fmt(e.grad)}")
    return out


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------

def _graph(output) -> list:
    return autodiff.ancestors(output)


def _labels(nodes: list, output) -> dict:
    """Readable labels: names if given, else roles in the layer structure (x, Wₗ, bₗ, zₗ, aₗ, L)."""
    layer: dict = {}
    count = 0
    for n in nodes:
        if n.op in ("linear", "matmul"):
            count += 1
            layer[n] = count
    lab: dict = {n: n.name for n in nodes if getattr(n, "name", None)}

    def role(leaf, name):
        if leaf not in lab:
            lab[leaf] = name

    for n, l in layer.items():
        prev = n.inputs
        sub = str(l).translate(_SUB)
        right = prev[1]
        if right.op == "transpose" and right.inputs[0].op is None:
            role(right.inputs[0], f"W{sub}")
        elif right.op is None:
            role(right, f"W{sub}")
        if len(prev) == 3 and prev[2].op is None:
            role(prev[2], f"b{sub}")
        left = prev[0]
        if left.op is None and not left.requires_grad and l == 1:
            role(left, "x")
    consumers: dict = {}
    for n in nodes:
        for p in n.inputs:
            consumers.setdefault(p, []).append(n)
    zof: dict = {}                      # node -> layer number for z-nodes
    for i, n in enumerate(nodes):
        if n in lab and n.op is not None:
            continue
        op = n.op
        if op is None:
            if n not in lab:
                small = not n.requires_grad and n.data.size == 1
                lab[n] = literal(n.data.item()) if small else f"t#{i}"
            continue
        prev = n.inputs
        if n in layer:
            sub = str(layer[n]).translate(_SUB)
            after = consumers.get(n, [])
            bias = [c for c in after if c.op == "add" and len(after) == 1]
            if bias:
                other = [p for p in bias[0].inputs if p is not n]
                if other and other[0].op is None:
                    role(other[0], f"b{sub}")
                    lab[n] = f"{_lab(lab, prev[0])}·{_lab(lab, prev[1])}"
                    continue
            lab[n] = f"z{sub}"
            zof[n] = layer[n]
        elif op == "add" and any(p in layer and lab.get(p, "").find("·") > 0 for p in prev):
            src = next(p for p in prev if p in layer)
            lab[n] = f"z{str(layer[src]).translate(_SUB)}"
            zof[n] = layer[src]
        elif _activation(op) and prev[0] in zof:
            lab[n] = f"a{str(zof[prev[0]]).translate(_SUB)}"
        elif op == "transpose" and prev[0] in lab:
            lab[n] = lab[prev[0]] + "ᵀ"
        else:
            shown = _expr(n, lab)
            lab[n] = shown if shown and len(shown) <= 14 else f"{op}#{i}"
    if not getattr(output, "name", None):
        lab[output] = "L"
    return lab


def _lab(lab, n) -> str:
    return lab.get(n, "?")


def _expr(n, lab) -> str | None:
    """The node's forward written with its inputs' labels, e.g. "z₂ − 1", "(z₂ − 1)²"."""
    row, _, k = step_of(n)
    if isinstance(row, TensorOp) and row.arity >= 0 and row.name not in ("sum", "mean"):
        return None
    args = []
    for p in n.inputs:
        s = lab.get(p)
        if s is None:
            return None
        args.append(f"({s})" if " " in s else s)
    if k is not None and not isinstance(k, (int, float)):
        if row.name in ("sum", "mean") and k[0] is None:
            k = None
        else:
            return None
    try:
        return row.describe(*args, *([literal(k)] if isinstance(k, float) else []))
    except (KeyError, IndexError, ValueError):
        return None


def _sym(label: str) -> str:
    """δₗ for the output of layer l (zₗ), ∂L/∂… otherwise."""
    if label.startswith("z") and label[1:] and all(c in "₀₁₂₃₄₅₆₇₈₉" for c in label[1:]):
        return "δ" + label[1:]
    return None


# --------------------------------------------------------------------------
# The explanation
# --------------------------------------------------------------------------

def explain_tensor(loss: Tensor, wrt: Tensor, index=None, *, max_paths: int = 8,
                   max_chains: int = 20000) -> TensorExplanation:
    """How ``loss`` depends on ``wrt``, layer by layer; with ``index``, for one element of ``wrt``.

    Runs one recorded backward sweep and puts every ``.grad`` back as it was
    (explaining never changes your gradients).
    """
    if not isinstance(loss, Tensor):
        raise InputError(f"explain_tensor needs a Tensor output, got {type(loss).__name__}")
    if not isinstance(wrt, Tensor):
        raise InputError(f"explain_tensor: wrt must be a Tensor in the output's graph, got {type(wrt).__name__}")
    if loss.data.size != 1:
        raise InputError(f"explain_tensor needs a single-number output (a loss), got shape {loss.shape}")
    if not loss.requires_grad:
        raise InputError("explain_tensor: the output does not require grad (no input requires grad, "
                         "or it was computed inside no_grad())")
    nodes = _graph(loss)
    lab = _labels(nodes, loss)
    check_fresh(loss, name=lambda n: lab.get(n) or "an unnamed tensor")
    record, order = _recorded_sweep(loss)
    if wrt not in order:
        raise InputError("explain_tensor: the output does not depend on wrt (or wrt does not require grad)")
    return explain_record(loss, wrt, record, index, max_paths=max_paths, max_chains=max_chains, nodes=nodes,
                          labels=lab)


def explain_record(loss, wrt, record, index=None, *, max_paths: int = 8, max_chains: int = 20000,
                   nodes=None, labels=None) -> TensorExplanation:
    """:func:`explain_tensor` from a backward sweep recorded elsewhere: ``record`` holds
    ``(node, incoming gradient, contributions sent to its inputs)`` per step, as
    :func:`chainrule.autodiff.recorded_sweep` gives them (the PyTorch bridge records PyTorch's
    own backward this way). ``nodes``/``labels``: the graph and its labels, if already made."""
    nodes = _graph(loss) if nodes is None else nodes
    lab = _labels(nodes, loss) if labels is None else labels
    incoming = {node: g for node, g, _ in record}
    sent = {node: c for node, _, c in record}
    node_paths, capped = _node_paths(nodes, loss, wrt, limit=max_paths)

    grad = np.asarray(incoming[wrt])
    steps_all, lines_all = [], []
    for path in node_paths:
        steps, lines = _describe_path(path, wrt, lab, incoming, sent)
        steps_all.append(steps)
        lines_all.append(lines)
    notes = []
    if capped:
        notes.append(f"more than {max_paths} paths lead from {lab[wrt]} to {lab[loss]}; the first "
                     f"{max_paths} are shown")
    if any(s.op in ("linear", "matmul") for steps in steps_all for s in steps):
        notes.append("rows are samples (x has shape (batch, features), z = x·Wᵀ + b as in PyTorch), so "
                     "the column-vector form Wᵀδ appears as δ·W and δxᵀ as δᵀ·x")
    element = None
    if index is not None:
        ids = {n: i for i, n in enumerate(nodes)}       # trace node ids: build() numbers the same list
        element = _element_chain(node_paths, wrt, _index(index, wrt), lab, ids, grad, max_paths, max_chains,
                                 capped)
    return TensorExplanation(lab[loss], lab[wrt], list(wrt.shape), float(np.linalg.norm(grad)),
                             steps_all, lines_all, element, notes,
                             build(loss, record, label_of=lab, _graph=nodes))


def _recorded_sweep(loss):
    with np.errstate(all="ignore"):
        record, saved = autodiff.recorded_sweep(loss, np.ones_like(loss.data))
    return record, {n for n, _ in saved}


def _node_paths(nodes, loss, wrt, limit):
    """Paths wrt → … → loss as lists of (consumer, slot), found by depth-first search."""
    consumers: dict = {}
    for n in nodes:
        for j, p in enumerate(n.inputs):
            if p.requires_grad:
                consumers.setdefault(p, []).append((n, j))
    # every node here is an ancestor of loss, so every consumer leads there: no dead ends
    paths, stack = [], [(wrt, [])]
    capped = False
    while stack:
        n, path = stack.pop()
        if n is loss:
            paths.append(path)
            if len(paths) >= limit:
                capped = bool(stack)
                break
            continue
        for c, j in reversed(consumers.get(n, [])):
            stack.append((c, path + [(c, j)]))
    return paths, capped


def _describe_path(path, wrt, lab, incoming, sent):
    """TensorSteps (output first) and the layer-level lines for one node path."""
    steps, lines = [], []
    expr = "1"
    chain = [wrt] + [c for c, _ in path]
    for t in range(len(path) - 1, -1, -1):
        consumer, slot = path[t]
        child = chain[t]
        prev = consumer.inputs
        names = {key: _wrap(lab[p]) for key, p in zip(("x", "y", "z"), prev)}
        names["out"] = lab[consumer]
        row, _, k = step_of(consumer)
        if k is not None and not isinstance(k, np.ndarray):
            names["k"] = constant(k)
        names["n"] = f"{child.data.size // max(consumer.data.size, 1)}"
        words, delta = jacobian_form(row, slot, **names)
        if isinstance(row, TensorOp) and row.arity < 0:
            words = words.replace("this input", lab[child])
        g_in = incoming.get(consumer)
        c_out = sent.get(consumer, ())
        c = c_out[slot] if slot < len(c_out) else None
        steps.append(TensorStep(lab[consumer], row.name, lab[child], slot, list(consumer.shape),
                                list(child.shape), words.replace("ᵀᵀ", ""), delta.replace("ᵀᵀ", ""),
                                _norm(g_in), _norm(c)))
        expr = _paste(delta, expr)
        sym = _sym(lab[child])
        if child is wrt or sym or getattr(child, "name", None):
            symbol = sym or f"∂L/∂{lab[child]}"
            lines.append(LayerLine(symbol, f"∂L/∂{lab[child]}", expr, list(child.shape),
                                   _norm(incoming.get(child))))
            expr = symbol
    return steps, lines


def _paste(delta: str, expr: str) -> str:
    """Substitute the running expression for δ in a step's formula."""
    if delta == "δ":
        return expr
    if delta == "δᵀ":                   # (Aᵀ·B)ᵀ = Bᵀ·A
        parts = expr.split("·")
        if len(parts) == 2 and parts[0].endswith("ᵀ") and " " not in expr and "(" not in expr:
            return f"{parts[1]}ᵀ·{parts[0][:-1]}"
    if expr == "1":
        for lead in ("δ·", "δ ⊙ ", "δ "):
            if delta.startswith(lead):
                return delta[len(lead):].strip()
        return delta.replace("δ", "1")
    simple = all(ch not in expr for ch in " ·⊙+−/") or (expr.startswith("(") and expr.endswith(")"))
    return delta.replace("δ", expr if simple else f"({expr})").replace("ᵀᵀ", "")


def _norm(a) -> float | None:
    if a is None:
        return None
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64)))


def _index(index, wrt) -> tuple:
    idx = (index,) if isinstance(index, (int, np.integer)) else tuple(index)
    if len(idx) != wrt.ndim or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in idx):
        raise InputError(f"explain_tensor: index {index!r} must be {wrt.ndim} whole numbers for shape {wrt.shape}")
    for i, (k, n) in enumerate(zip(idx, wrt.shape)):
        if not -n <= k < n:
            raise InputError(f"explain_tensor: index {index!r} is out of range for shape {wrt.shape} (dim {i})")
    return tuple(int(k) % n for k, n in zip(idx, wrt.shape))


# --------------------------------------------------------------------------
# One element: scalar chains through the recorded graph
# --------------------------------------------------------------------------

def _column(node, slot, e, cache):
    """{output element: ∂node[output]/∂input_slot[e]} for the non-zero entries (exact, via VJPs).

    Which outputs depend on input element ``e`` is found by running the op
    forward with that element set to NaN and, separately, nudged; each such
    output's derivative is then read off one VJP with a one-hot seed.
    """
    key = (id(node), slot, e)
    if key in cache:
        return cache[key]
    xs = list(step_of(node).arrays)
    out = node.data
    hit = np.zeros(out.shape, bool)
    with np.errstate(all="ignore"):
        for probe in ("nan", "nudge"):
            xp = np.array(xs[slot], copy=True)
            xp[e] = np.nan if probe == "nan" else xp[e] + (1.0 + abs(xp[e]))
            y = forward_of(node, xs[:slot] + [xp] + xs[slot + 1:])
            hit |= (y != out) | (np.isnan(y) != np.isnan(out))
        col = {}
        for o in map(tuple, np.argwhere(hit)):
            seed = np.zeros_like(out)
            seed[o] = 1
            v = float(vjp_of(node, slot, seed)[e])
            if v != 0:
                col[o] = v
    cache[key] = col
    return col


def _element_factor(top: str, bottom: str, value: float, node: int, input: int, slot: int = 0,
                    index=(), op: str = "") -> ElementFactor:
    return ElementFactor(f"∂{top}/∂{bottom}", "", value, node, input, f"d{top}/d{bottom}", slot,
                         index=[int(i) for i in index], op=op)


def _element_chain(node_paths, wrt, e, lab, ids, grad, max_paths, max_chains, capped):
    cache: dict = {}
    chains: list = []
    total = 0.0
    count = 0
    complete = not capped
    for path in node_paths:
        chain = [wrt] + [c for c, _ in path]
        # elements reached at each step (forwards), then Σ of chain products and the number
        # of chains from each of them to the output (backwards): no recursion, any depth
        levels = [{e}]
        for consumer, slot in path:
            reached = set()
            for el in levels[-1]:
                reached.update(_column(consumer, slot, el, cache))
            levels.append(reached)
        value = {o: 1.0 for o in levels[-1]}
        counts = {o: 1 for o in levels[-1]}
        for t in range(len(path) - 1, -1, -1):
            consumer, slot = path[t]
            value_t, counts_t = {}, {}
            for el in levels[t]:
                col = _column(consumer, slot, el, cache)
                value_t[el] = math.fsum(v * value[o] for o, v in col.items())
                counts_t[el] = sum(counts[o] for o in col)
            value, counts = value_t, counts_t
        total += value[e]
        n = counts[e]
        count += n
        if len(chains) + n > max_chains:
            complete = False
            continue
        stack = [(0, e, [])]
        while stack:
            t, el, factors = stack.pop()
            if t == len(path):
                chains.append(factors)
                continue
            consumer, slot = path[t]
            top_node, bottom_node = ids[consumer], ids[chain[t]]
            for o, v in _column(consumer, slot, el, cache).items():
                top, bottom = _at(lab[consumer], o), _at(lab[chain[t]], el)
                f = _element_factor(top, bottom, v, top_node, bottom_node, slot, o, consumer.op)
                stack.append((t + 1, o, factors + [(f, top, bottom)]))
    paths = []
    for factors in chains:
        factors = _merge_moves(factors[::-1])   # from the output down, as a chain rule is read
        prod = 1.0
        for f in factors:
            prod *= f.value
        paths.append(Path(factors, prod))
    paths.sort(key=lambda p: -abs(p.product))
    shown = paths[:max_paths]
    rest = math.fsum(p.product for p in paths[max_paths:])
    g = float(grad[e])
    # the engine summed in its own dtype (float32 rounds at ~1e-7), the chains are summed exactly here
    rtol = 1000 * float(np.finfo(wrt.data.dtype).eps)
    ok = agrees(total, g, rtol, max(1.0, math.fsum(abs(p.product) for p in paths)))
    return ElementChain(_at(lab[wrt], e), list(e), g, total, ok, count, shown, rest, complete)


def _nice(label: str) -> bool:
    """A name or a role label (z₁, W₂ᵀ, x), not a pasted expression like "a₁·W₂ᵀ" or "(z₂ − 1)²"."""
    base = label[:-1].rsplit("[", 1)[0] if label.endswith("]") else label    # drop an element index
    return not any(ch in base for ch in " ·#(")


# ops that only move numbers (their element factor is exactly 1): merged into the next factor; the
# elementwise ones are the table's linear rows (add, sub; neg's factor is −1, never merged)
_STRUCTURAL_MOVES = {"sum", "transpose", "permute", "reshape", "index", "cat", "stack", "expand", "cast"}


def _moves(op: str) -> bool:
    row = OPS.get(op)
    return op in _STRUCTURAL_MOVES or (row is not None and row.linear)


def _merge_moves(factors: list) -> list:
    """Fold each factor of exactly 1 from an op that only moves or adds numbers into its
    neighbour: ∂L/∂u · ∂u/∂z with ∂u/∂z = 1 reads ∂L/∂z."""
    out = []                            # (factor, numerator, denominator)
    carry = None                        # (numerator, its node) carried down when there is nothing above yet
    for f, top, bottom in factors:
        node = f.node
        if carry is not None:
            (top, node), carry = carry, None
        if _moves(f.op) and f.value == 1.0:
            if out and not (_nice(top) and not _nice(bottom)):   # keep the better-named side
                # the factor above now reaches down to this bottom
                g, gtop, _ = out[-1]
                out[-1] = (_element_factor(gtop, bottom, g.value, g.node, f.input, g.slot, g.index, g.op),
                           gtop, bottom)
            else:
                carry = (top, node)
            continue
        out.append((_element_factor(top, bottom, f.value, node, f.input, f.slot, f.index, f.op), top, bottom))
    if carry is not None:               # nothing but moves: one factor of 1
        (top, node) = carry
        out.append((_element_factor(top, bottom, 1.0, node, f.input), top, bottom))
    return [f for f, _, _ in out]


def _at(label: str, el: tuple) -> str:
    return label if not el else f"{_wrap(label)}[{', '.join(str(i) for i in el)}]"


def _wrap(label: str) -> str:
    """Parenthesise a label with a space outside brackets: "z₂ − 1" -> "(z₂ − 1)", not "(z₂ − 1)²"."""
    depth = 0
    for ch in label:
        depth += (ch in "([") - (ch in ")]")
        if ch == " " and depth == 0:
            return f"({label})"
    return label
