"""``explain()``: from a trace to chains, checked against the recorded gradients."""
from __future__ import annotations

import heapq
import math

from .. import autodiff
from ..errors import InputError
from ..trace import Trace, trace as make_trace
from .chains import LinkGraph, agrees, is_num, mul, pretty
from .model import ChainSet, Explanation, Factor, Path, Shared, Summary
from ..numfmt import count as fmt_count, fmt

REL_TOL = 1e-9
# A trace with more nodes than this is summarised unless ``full=True``: chains for the inputs
# asked for (by default the SUMMARY_CHAINS with the largest gradients), a table of the others'
# gradients, long paths shortened to their first and last SUMMARY_FACTORS factors, and
# unnamed steps named by their labels rather than written out.
SUMMARY_ABOVE = 10_000
SUMMARY_CHAINS = 8
SUMMARY_FACTORS = 16
SUMMARY_LARGEST = 10



def _fsum(xs: list[float]) -> float:
    """math.fsum, except that finite terms whose sum overflows (1e308 + 1e308) give inf, not OverflowError."""
    try:
        return math.fsum(xs)
    except OverflowError:
        return sum(xs)


def explain(target, wrt=None, *, ops: bool = False, max_paths: int = 64, full: bool = False) -> Explanation:
    """Every gradient of ``target`` as chains of local derivatives.

    ``target`` is a Value (traced here, gradients untouched), a
    :class:`~chainrule.trace.Trace`, or anything with an ``.output`` Value
    (a program run). ``wrt``: None (every input), a label, a Value, or a list.
    ``ops=True`` makes every primitive step a link; otherwise the links are
    the named variables. At most ``max_paths`` paths per input are listed;
    beyond that the chain set is summarised (counted exactly, first few shown,
    sum taken from the recorded local derivatives).

    A graph of more than :data:`SUMMARY_ABOVE` (10,000) nodes is summarised,
    so that explaining it costs time and memory in proportion to the graph
    and the answer stays readable: chains only for the inputs in ``wrt``
    (without ``wrt``, the :data:`SUMMARY_CHAINS` inputs with the largest
    gradients), the other inputs' gradients in ``Explanation.summary``,
    paths longer than 2 × :data:`SUMMARY_FACTORS` factors shortened in the
    middle (their products still use every factor), and unnamed steps
    called by their labels. ``full=True`` explains everything, whatever the size.
    """
    if not isinstance(full, bool):
        raise InputError(f"full must be True or False, got {full!r}")
    if isinstance(max_paths, bool) or not isinstance(max_paths, int) or max_paths < 1:
        raise InputError(f"max_paths must be a positive whole number, got {max_paths!r}")
    from ..tensor import Tensor
    if isinstance(target, Tensor):  # layer-level chains with shapes: explain/tensor.py
        from .tensor import explain_tensor
        if wrt is None or isinstance(wrt, (list, tuple)):
            raise InputError("explain(tensor, wrt): name one Tensor to explain, e.g. explain(loss, W1); "
                             "use explain_tensor(loss, W1, index=(i, j)) for one weight")
        return explain_tensor(target, wrt)
    t, root = _as_trace(target)
    notes: list[str] = []
    if not t.backward:
        if wrt is not None:
            raise InputError("this trace has no backward pass, so there are no gradients to explain: "
                             "make it with trace(output) (backward=True) from an output that requires grad")
        out = t.nodes[t.output]
        if not any(n.kind == "input" for n in t.nodes):
            notes.append(f"{out.label} is made of constants only (it has no inputs), "
                         "so there are no gradients and no chains to show")
        else:
            notes.append("this trace was recorded without its backward pass, so there are no chains to show")
        return Explanation(t, [], [], "ops" if ops else "names", notes, max_paths)

    wanted = _resolve(t, wrt, root)
    summary = None
    if not full and len(t.nodes) > SUMMARY_ABOVE:
        wanted, summary = _summarise(t, wanted, wrt is None)
        notes.append(summary.message)
    mode = "ops" if ops else "names"
    # A named output (every program) reads best in its own names, even with no
    # named intermediate: f = x**2 + 2*y**2 gives the single factor ∂f/∂x = 2·x.
    if not ops and not t.nodes[t.output].name and not any(n.name and n.op for n in t.nodes):
        mode = "ops"
        notes.append("no named intermediate variable, so every primitive step is a link "
                     "(name intermediate values to see the chain in your own terms)")
    graph = LinkGraph(t, mode == "ops", set(wanted), expand=summary is None)
    ways, down, absdown = graph.from_output()
    out_label = t.nodes[t.output].label

    chains, reaches = [], {}
    forward = _ForwardMode(t, graph.steps)
    for w in wanted:
        reach = graph.to(w)
        reaches[w] = reach
        chains.append(_chain_set(t, graph, w, reach, ways[w], down[w], absdown[w], max_paths, out_label,
                                 forward, SUMMARY_FACTORS if summary else None))

    shared, by_wrt = _shared(t, graph, wanted, ways, reaches, out_label)
    for c in chains:
        c.shared = by_wrt.get(c.node, [])
    e = Explanation(t, chains, shared, mode, notes, max_paths, summary)
    e.__dict__["graph"] = graph          # the renderers' cached property: no need to build it twice
    return e


# --------------------------------------------------------------------------

def _as_trace(target):
    """(trace, graph root or None) for a Trace, a Value/Tensor, or a run with ``.output``."""
    if isinstance(target, Trace):
        return target, None
    if hasattr(target, "_parents"):
        return _trace_of(target), target
    out = getattr(target, "output", None)
    if out is not None and hasattr(out, "_parents"):
        return _trace_of(out), out
    raise InputError(f"explain() needs a Value, a Trace or a program run, got {type(target).__name__}")


def _trace_of(node) -> Trace:
    if not node.requires_grad:
        raise InputError(f"{getattr(node, 'name', None) or 'this value'} does not require grad "
                         "(made from constants only, or inside no_grad()): there is nothing to explain")
    return make_trace(node)


def _node_ids(root) -> dict:
    """Graph object -> trace node id: :func:`chainrule.trace.build` numbers ``autodiff.ancestors``."""
    return {id(n): i for i, n in enumerate(autodiff.ancestors(root))}


def _resolve(t: Trace, wrt, root) -> list[int]:
    """Node ids for ``wrt``; unknown names raise InputError listing the inputs."""
    if wrt is None:
        return [n.id for n in t.inputs if n.grad is not None]
    items = list(wrt) if isinstance(wrt, (list, tuple, set, frozenset)) else [wrt]
    ids: list[int] = []
    id_map = None
    for item in items:
        if isinstance(item, str):
            i = _by_label(t, item)
        elif isinstance(item, int) and not isinstance(item, bool):
            if not 0 <= item < len(t.nodes):
                raise InputError(f"no node with id {item}: ids go from 0 to {len(t.nodes) - 1}")
            i = item
        elif hasattr(item, "id") and hasattr(item, "label") and hasattr(item, "kind"):  # a TraceNode
            i = _by_label(t, item.label) if not 0 <= item.id < len(t.nodes) else item.id
        elif hasattr(item, "_parents"):                                             # a Value
            name = getattr(item, "name", None)
            if root is not None:
                if id_map is None:
                    id_map = _node_ids(root)
                i = id_map.get(id(item))
                if i is None:
                    raise InputError(f"{name or 'this Value'} is not part of the graph being explained; "
                                     f"its inputs are: {_inputs_list(t)}")
            elif name:
                i = _by_label(t, name)
            else:
                raise InputError("an unnamed Value cannot be found in a trace: give it a name, "
                                 f"or pass a label; inputs: {_inputs_list(t)}")
        else:
            raise InputError(f"wrt must be a name, a Value or a list of them, got {type(item).__name__}")
        node = t.nodes[i]
        if node.kind == "const":
            raise InputError(f"{node.label} is a constant (requires_grad=False): it has no gradient to explain")
        if node.grad is None:
            raise InputError(f"{node.label} has no recorded gradient in this trace")
        if i not in ids:
            ids.append(i)
    return ids


def _by_label(t: Trace, label: str) -> int:
    matches = [n.id for n in t.nodes if n.label == label]
    if not matches:
        named = [n.label for n in t.nodes if n.name and n.kind != "input"]
        extra = f"; variables: {', '.join(named)}" if named else ""
        raise InputError(f"no input or variable named {label!r}; inputs: {_inputs_list(t)}{extra}")
    return matches[-1]   # a reassigned name means its latest value


def _inputs_list(t: Trace) -> str:
    return ", ".join(n.label for n in t.inputs) or "(none)"


# --------------------------------------------------------------------------

def _factor(t: Trace, link) -> Factor:
    top, bottom = t.nodes[link.top].label, t.nodes[link.bottom].label
    return Factor(f"∂{pretty(top)}/∂{pretty(bottom)}", link.formula, link.value, link.top, link.bottom,
                  f"d{top}/d{bottom}", link.slot, link.uses, link.ways)


def _product(links) -> object:
    p = 1.0
    for f in links:
        p = mul(p, f.value)
        if p is None:
            return None
    return p


def _summarise(t: Trace, wanted: list[int], default: bool) -> tuple[list[int], Summary]:
    """The inputs to explain in a summary of a big trace, and what is said about the others."""
    def size(i):
        g = t.nodes[i].grad
        return abs(g) if is_num(g) and not math.isnan(g) else -1.0
    if default:
        chosen = sorted(sorted(wanted, key=size, reverse=True)[:SUMMARY_CHAINS])
    else:
        chosen = wanted
    keep = set(chosen)
    rest = [n.id for n in t.nodes if n.kind == "input" and n.grad is not None and n.id not in keep]
    largest = sorted(rest, key=size, reverse=True)[:SUMMARY_LARGEST]
    n_inputs = len(rest) + len(chosen)
    which = "the largest gradients" if default else "the ones asked for"
    message = (f"a big graph ({len(t.nodes):,} nodes, more than {SUMMARY_ABOVE:,}), so this is a summary: "
               f"chains for {len(chosen)} of its {n_inputs:,} inputs ({which}), the other inputs' "
               "gradients listed, long paths shortened and unnamed steps called by their labels; "
               "explain(..., full=True) explains everything, explain(..., wrt=[...]) the inputs you name")
    return chosen, Summary(len(t.nodes), SUMMARY_ABOVE, n_inputs, [t.nodes[i].label for i in chosen],
                           len(rest), [[t.nodes[i].label, t.nodes[i].grad] for i in largest], message)


class _ForwardMode:
    """∂output/∂w by forward mode over the trace's recorded local derivatives: a tangent of 1 at ``w``
    pushed up through every step, oldest first. It shares nothing with the backward sweep's
    accumulation or with the path counting, so it is the independent check of a summarised total
    (whose paths are too many to list and add up one by one)."""

    def __init__(self, t: Trace, steps: dict):
        self.t, self.steps, self._users = t, steps, None

    def __call__(self, w: int):
        if self._users is None:                   # input -> the steps that use it, built once
            self._users = {}
            for node, step in self.steps.items():
                for ls in step.locals:
                    self._users.setdefault(ls.input, set()).add(node)
        tangent, todo, queued = {w: 1.0}, [], set()
        for u in self._users.get(w, ()):
            heapq.heappush(todo, u)
            queued.add(u)
        while todo:
            u = heapq.heappop(todo)               # ids are in evaluation order: u's inputs are all done
            acc = 0.0
            for ls in self.steps[u].locals:
                d = tangent.get(ls.input)
                if d is not None:
                    if not (is_num(ls.local) and is_num(d)):
                        return None               # tensor descriptions: nothing to add up
                    acc += ls.local * d
            tangent[u] = acc
            for v in self._users.get(u, ()):
                if v not in queued:
                    queued.add(v)
                    heapq.heappush(todo, v)
        return tangent.get(self.t.output, 0.0)


def _chain_set(t, graph, w, reach, count, dp_sum, dp_abs, max_paths, out_label, forward,
               max_factors: int | None = None) -> ChainSet:
    node = t.nodes[w]
    grad = node.grad
    listed = graph.first_paths(w, reach, max_paths + 1 if count > max_paths else count)
    paths = []
    made: dict[int, Factor] = {}        # one Factor per link, however many paths share it
    for links in listed[:max_paths]:
        omitted = 0
        kept = links
        if max_factors is not None and len(links) > 2 * max_factors:
            omitted = len(links) - 2 * max_factors
            kept = links[:max_factors] + links[-max_factors:]
        factors = [made.get(id(l)) or made.setdefault(id(l), _factor(t, l)) for l in kept]
        paths.append(Path(factors, _product(links), omitted))
    summarised = count > max_paths
    if summarised or not paths:
        total, scale = dp_sum, dp_abs
    else:
        products = [p.product for p in paths]
        if all(is_num(p) for p in products):
            total = _fsum(products) if all(math.isfinite(p) for p in products) else sum(products)
            scale = _fsum([abs(p) for p in products]) if math.isfinite(total) else math.inf
        else:
            total, scale = None, None
    rel = max(REL_TOL, t.tolerance)     # a float32 engine's numbers (PyTorch's) carry its rounding
    matches = agrees(total, grad, rel, scale)
    by_forward = forward(w) if summarised else None
    forward_agrees = agrees(total, by_forward, rel, scale)
    if forward_agrees is False:
        matches = False
    label = f"∂{pretty(out_label)}/∂{pretty(node.label)}"
    notes = []
    parallel = sorted({(f.node, f.input, f.uses) for p in paths for f in p.factors if f.uses > 1},
                      reverse=True)
    uses = [f"{t.nodes[top].label} uses {t.nodes[bottom].label} {k} times" for top, bottom, k in parallel]
    if len(uses) > 3:
        uses = [f"{len(uses)} steps use an input more than once ({uses[0]}, …, {uses[-1]})"]
    notes += [f"{u}: each use is its own path, and the paths add up" for u in uses]
    folded = {(f.node, f.input): f for p in paths for f in p.factors if f.ways > 1}
    for (top, bottom), f in sorted(folded.items(), reverse=True):
        notes.append(f"{t.nodes[top].label} uses {t.nodes[bottom].label} {f.ways} times, so "
                     f"{f.label} = {f.formula} adds up one term per use")
    if summarised:
        notes.append(f"{fmt_count(count)} paths: too many to list, so the first {len(paths)} are kept "
                     f"and the sum comes from the recorded local derivatives, added up the way the "
                     f"backward sweep adds them (it never lists the paths); forward mode (a tangent "
                     f"pushed up from {node.label}) checks it independently")
    if agrees(total, grad, rel, scale) is False:
        notes.append(f"the paths add up to {fmt(total)} but the backward pass recorded {fmt(grad)}: "
                     "they should agree")
    elif is_num(grad) and not math.isfinite(grad):
        notes.append(f"{label} is {fmt(grad)}, not a finite number: there is no derivative to check "
                     "here (the warning below says where it first appears and why)")
    if forward_agrees is False:
        notes.append(f"the paths add up to {fmt(total)} but forward mode gives {fmt(by_forward)}: "
                     "they should agree")
    return ChainSet(node.label, grad, count, paths, summarised, total, matches, [], w, label, notes,
                    by_forward)


def _shared(t, graph, wanted, ways, reaches, out_label) -> tuple[list[Shared], dict[int, list[Shared]]]:
    """Factors on the paths of several inputs, or on several paths of one input.

    Parallel uses (``x + x`` in ops mode) are reported together. Returns the
    list (most widely shared first) and, for each input, the ones on its paths.
    """
    if len(wanted) == 1 and ways[wanted[0]] <= 1:
        return [], {}   # one input, one path: every factor lies on it once, none is shared (a long chain)
    on: dict[tuple[int, int], dict[int, int]] = {}   # (top, bottom) -> {wrt: paths through one use}
    groups: dict[tuple[int, int], list] = {}        # (top, bottom) -> its parallel edges (ops mode: x * x)
    for w in wanted:
        reach = reaches[w]
        for top, edges in graph.cone(w).items():    # only the edges that lead towards w
            for e in edges:
                key = (top, e.bottom)
                if e.slot == 0:
                    on.setdefault(key, {})[w] = ways[top] * reach[e.bottom]
                group = groups.setdefault(key, [])
                if len(group) < e.uses:          # met once per input whose cone holds it
                    group.append(e)
    found = []
    for (top, bottom), counts in on.items():
        n_paths = sum(counts.values())
        if len(counts) < 2 and n_paths < 2:
            continue
        group = groups[(top, bottom)]
        e = group[0]
        f = _factor(t, e)
        same = all(g.value == e.value and g.formula == e.formula for g in group)
        value = f.value if same else [g.value for g in group]
        names = [t.nodes[w].label for w in counts]
        label = f.label + (f" (each of its {len(group)} uses)" if len(group) > 1 else "")
        shown = fmt(value) if same else " and ".join(fmt(v) for v in value)
        if len(counts) >= 2:
            who = ", ".join(names) if len(names) <= 8 else \
                f"{', '.join(names[:6])}, … ({len(names)} inputs)"
            msg = f"{label} = {shown} is shared by the chains of {who}: one backward sweep computes it once"
            if top != t.output:
                g = t.nodes[bottom].grad
                msg += f", inside ∂{pretty(out_label)}/∂{pretty(t.nodes[bottom].label)} = {fmt(g)}"
        else:
            (w, n), = counts.items()
            msg = (f"{label} = {shown} lies on {fmt_count(n, short=True)} of the "
                   f"{fmt_count(ways[w], short=True)} paths to {names[0]}: "
                   "the backward sweep multiplies by it once, not once per path")
        found.append((list(counts), Shared(label, f.formula, value, f.node, f.input, names, n_paths,
                                           0, len(group), msg)))
    found.sort(key=lambda ws: (-len(ws[1].wrt), -ws[1].node, -ws[1].input))
    by_wrt: dict[int, list[Shared]] = {}
    for ws, s in found:
        for w in ws:
            by_wrt.setdefault(w, []).append(s)
    return [s for _, s in found], by_wrt

