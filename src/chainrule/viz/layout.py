"""A layered, left-to-right layout of a computational graph, in pure Python.

No Graphviz binary and no GPL library: this is the classic Sugiyama recipe,
kept small.

1. **Layers.** Each node sits as far right as its consumers allow (longest
   path *to the output*), so a leaf such as the target ``y`` is drawn just
   before the op that uses it, not far left with the other inputs.
2. **Dummies.** An edge that spans several layers gets one invisible dummy
   node per layer it crosses, so it can be routed between boxes and take
   part in crossing reduction.
3. **Order.** Barycentre sweeps (each node moves to the mean position of its
   neighbours in the previous layer, alternating directions); the order with
   the fewest edge crossings seen is kept.
4. **Coordinates.** Columns left to right. Within a column every box wants
   to sit at the mean height of its neighbours; the closest positions that
   keep the order and the gaps are found exactly by isotonic regression
   (pool-adjacent-violators).

:func:`layered` lays out any DAG; :func:`layout_trace` lays out a
:class:`~chainrule.trace.Trace`, collapsing large graphs into groups.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Hashable, Iterable

__all__ = ["Box", "Route", "Layout", "layered", "count_crossings", "GraphView", "Group",
           "graph_view", "layout_trace", "line_groups", "node_size", "COLLAPSE_ABOVE"]

# Graphs with more nodes than this are collapsed into groups by default.
COLLAPSE_ABOVE = 240


@dataclass
class Box:
    key: Hashable
    layer: int
    order: int
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    dummy: bool = False

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass
class Route:
    """One edge: ``src`` feeds input ``port`` (of ``nports``) of ``dst`` via ``dummies``."""
    src: Hashable
    dst: Hashable
    port: int = 0
    nports: int = 1
    dummies: list = field(default_factory=list)


@dataclass
class Layout:
    boxes: dict          # key -> Box (dummies included)
    routes: list         # Route per edge
    layers: list         # list of lists of keys, top to bottom
    columns: list        # (x, width) per layer
    width: float
    height: float

    def crossings(self) -> int:
        return count_crossings(self.layers, _layer_edges(self.routes))

    def overlaps(self) -> list:
        """Pairs of real boxes that overlap (should be empty)."""
        real = [b for b in self.boxes.values() if not b.dummy]
        bad = []
        for i, a in enumerate(real):
            for b in real[i + 1:]:
                if a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h:
                    bad.append((a.key, b.key))
        return bad


# --------------------------------------------------------------------------
# The generic algorithm
# --------------------------------------------------------------------------

def layered(keys: Iterable[Hashable], edges: Iterable[tuple], sizes: dict, *,
            gap_x: float = 72, gap_y: float = 18, margin: float = 16, sweeps: int = 12) -> Layout:
    """Lay out a DAG left to right.

    ``edges`` are ``(src, dst)`` or ``(src, dst, port, nports)``; ``sizes``
    maps each key to ``(width, height)``.
    """
    keys = list(keys)
    routes = [Route(*e) for e in edges]
    layer_of = _layers(keys, routes)

    # 2. dummies on long edges
    boxes: dict = {}
    for k in keys:
        w, h = sizes[k]
        boxes[k] = Box(k, layer_of[k], 0, w=w, h=h)
    succ: dict = {k: [] for k in keys}
    pred: dict = {k: [] for k in keys}
    for i, r in enumerate(routes):
        prev = r.src
        for layer in range(layer_of[r.src] + 1, layer_of[r.dst]):
            d = ("dummy", i, layer)
            boxes[d] = Box(d, layer, 0, w=0, h=2, dummy=True)
            succ[d], pred[d] = [], []
            r.dummies.append(d)
            _link(succ, pred, prev, d, 0.0)
            prev = d
        _link(succ, pred, prev, r.dst, (r.port + 0.5) / r.nports - 0.5)

    nlayers = 1 + max(layer_of.values(), default=0)
    layers: list[list] = [[] for _ in range(nlayers)]

    # 3. order: start from a depth-first walk back from the sinks, inputs in port order
    seen, first = set(), {}
    sinks = [k for k in keys if not succ[k]]
    for s in reversed(sinks):
        stack = [s]
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            first[k] = len(first)
            # push in reverse so the first input is visited first
            for p, _ in sorted(pred[k], key=lambda t: t[1], reverse=True):
                if p not in seen:
                    stack.append(p)
    for k, b in boxes.items():
        layers[b.layer].append(k)
    for layer in layers:
        layer.sort(key=lambda k: first.get(k, 0))
    _order(layers, succ, pred, sweeps)
    for layer in layers:
        for i, k in enumerate(layer):
            boxes[k].order = i

    # 4. coordinates
    columns = []
    x = margin
    for layer in layers:
        width = max((boxes[k].w for k in layer), default=0) or 12
        columns.append((x, width))
        for k in layer:
            boxes[k].x = x + (width - boxes[k].w) / 2
        x += width + gap_x
    _place_y(layers, boxes, succ, pred, gap_y)
    top = min((b.y for b in boxes.values()), default=0)
    for b in boxes.values():
        b.y += margin - top
    height = max((b.y + b.h for b in boxes.values()), default=0) + margin
    width = x - gap_x + margin
    return Layout(boxes, routes, layers, columns, width, height)


def _link(succ, pred, a, b, port_offset):
    succ[a].append((b, port_offset))
    pred[b].append((a, port_offset))


def _layers(keys, routes) -> dict:
    """Layer per key: max layer minus the longest path to a sink."""
    consumers: dict = {k: [] for k in keys}
    indegree = {k: 0 for k in keys}
    for r in routes:
        if r.src not in consumers or r.dst not in consumers:
            raise KeyError(f"edge {r.src!r} -> {r.dst!r} names a node that is not in the graph")
        consumers[r.src].append(r.dst)
        indegree[r.dst] += 1
    # Kahn's algorithm for a topological order (also catches cycles)
    order, ready = [], [k for k in keys if indegree[k] == 0]
    while ready:
        k = ready.pop()
        order.append(k)
        for c in consumers[k]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    if len(order) != len(keys):
        raise ValueError("the graph has a cycle; a computational graph never does")
    depth: dict = {}
    for k in reversed(order):
        depth[k] = 1 + max((depth[c] for c in consumers[k]), default=-1)
    top = max(depth.values(), default=0)
    return {k: top - depth[k] for k in keys}


def _layer_edges(routes) -> list:
    """Edges between adjacent layers (via dummies) as (src, dst, port_offset)."""
    out = []
    for r in routes:
        chain = [r.src, *r.dummies, r.dst]
        for a, b in zip(chain, chain[1:]):
            out.append((a, b, (r.port + 0.5) / r.nports - 0.5 if b == r.dst else 0.0))
    return out


def count_crossings(layers: list, edges: Iterable[tuple]) -> int:
    """Number of edge crossings between adjacent layers for the given order.

    ``edges`` are ``(src, dst)`` or ``(src, dst, port_offset)``; an edge
    must join adjacent layers. Edges into different input ports of the same
    node are told apart by the port, as they are drawn.
    """
    pos, layer_of = {}, {}
    for li, layer in enumerate(layers):
        for i, k in enumerate(layer):
            pos[k], layer_of[k] = i, li
    by_layer: dict = {}
    for e in edges:
        a, b = e[0], e[1]
        port = e[2] if len(e) > 2 else 0.0
        by_layer.setdefault(layer_of[a], []).append((pos[a], pos[b] + port * 0.5))
    return sum(_inversions(sorted(pairs)) for pairs in by_layer.values())


def _inversions(pairs) -> int:
    """Pairs i < j (sorted by source) whose targets are in the opposite order."""
    ends = sorted({b for _, b in pairs})
    rank = {b: i + 1 for i, b in enumerate(ends)}
    tree = [0] * (len(ends) + 1)      # Fenwick tree of targets seen so far
    total = seen = 0
    for _, b in pairs:
        r = rank[b]
        le, i = 0, r                  # how many seen targets are <= b
        while i:
            le += tree[i]
            i -= i & -i
        total += seen - le
        seen += 1
        i = r
        while i <= len(ends):
            tree[i] += 1
            i += i & -i
    return total


def _order(layers, succ, pred, sweeps):
    """Barycentre sweeps; keep the best order seen."""
    def edges():
        return [(a, b, off) for layer in layers for a in layer for b, off in succ[a]]

    best = [list(layer) for layer in layers]
    best_count = count_crossings(layers, edges())
    for sweep in range(sweeps):
        if best_count == 0:
            break
        down = sweep % 2 == 0
        rng = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        for li in rng:
            ref = layers[li - 1] if down else layers[li + 1]
            pos = {k: i for i, k in enumerate(ref)}
            nbrs = pred if down else succ
            layer = layers[li]
            bary = {}
            for i, k in enumerate(layer):
                # a box feeding the top port of its consumer should sit a little above it
                ps = [pos[n] + (-off if down else off) for n, off in nbrs[k] if n in pos]
                bary[k] = (sum(ps) / len(ps), i) if ps else (None, i)
            # nodes without neighbours on that side keep their slot
            movable = sorted((b for b in bary.items() if b[1][0] is not None), key=lambda t: t[1])
            it = iter(k for k, _ in movable)
            layers[li] = [k if bary[k][0] is None else next(it) for k in layer]
        count = count_crossings(layers, edges())
        if count < best_count:
            best_count, best = count, [list(layer) for layer in layers]
    layers[:] = best


def _place_y(layers, boxes, succ, pred, gap_y, rounds: int = 6):
    def gap(a, b):
        return gap_y / 2 if boxes[a].dummy or boxes[b].dummy else gap_y

    for layer in layers:  # first: packed top to bottom
        y = 0.0
        for i, k in enumerate(layer):
            boxes[k].y = y
            y += boxes[k].h + (gap(k, layer[i + 1]) if i + 1 < len(layer) else 0)
    for r in range(rounds):
        down = r % 2 == 0
        order = layers if down else layers[::-1]
        for layer in order:
            want = []
            for k in layer:
                h = boxes[k].h
                before = [boxes[n].cy - off * h for n, off in pred[k]]
                after = [boxes[n].cy + off * boxes[n].h for n, off in succ[k]]
                nb = before + after if r >= rounds - 2 else (before if down else after)
                want.append(sum(nb) / len(nb) - h / 2 if nb else boxes[k].y)
            gaps = [boxes[a].h + gap(a, b) for a, b in zip(layer, layer[1:])]
            for k, y in zip(layer, _isotonic_spaced(want, gaps)):
                boxes[k].y = y


def _isotonic_spaced(want: list, gaps: list) -> list:
    """Closest (least squares) positions to ``want`` with y[i+1] - y[i] >= gaps[i]."""
    offset = [0.0]
    for g in gaps:
        offset.append(offset[-1] + g)
    z = [w - o for w, o in zip(want, offset)]     # now z must be non-decreasing
    blocks: list[list] = []                       # [mean, count]
    for v in z:
        blocks.append([v, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    fitted = [m for m, c in blocks for _ in range(c)]
    return [f + o for f, o in zip(fitted, offset)]


# --------------------------------------------------------------------------
# Traces: sizes, groups, and the view the renderers draw
# --------------------------------------------------------------------------

CHAR_W = 7.3      # average width of a 12px semibold system-font character (DejaVu is wide)
LINE_H = 15.0


def node_size(lines: list[str], kind: str = "op") -> tuple[float, float]:
    """Box size for these text lines: 15px a line plus room for the gradient bar."""
    # the first line is 12px semibold, the others 11px
    w = max([len(lines[0]) * CHAR_W] + [len(s) * CHAR_W * 0.88 for s in lines[1:]]) + 20
    return max(88.0, min(w, 240.0)), 18 + LINE_H * len(lines)


@dataclass
class Group:
    """A collapsed subexpression: ``root`` and the nodes only it uses."""
    key: str
    root: int
    members: list            # node ids, forward order, root last
    layout: Layout | None = None   # inner layout, for expanding in place
    line: bool = False       # one line of the program (see line_groups), not a structural fold


@dataclass
class GraphView:
    """What is drawn: top-level items (node ids and group keys) and their layout."""
    layout: Layout
    groups: dict             # group key -> Group
    item_of: dict            # node id -> item key (itself, or its group)
    edges: list              # (src node id, dst node id, port, nports) for every trace edge
    under: dict = field(default_factory=dict)  # (src item, dst item, port) -> trace edges drawn by it


def trace_edges(trace) -> list:
    """(input id, consumer id, port, nports) for every edge of the trace."""
    out = []
    for n in trace.nodes:
        for port, i in enumerate(n.inputs):
            out.append((i, n.id, port, len(n.inputs)))
    return out


def find_groups(trace, min_size: int = 3, unary_cut: int = 5) -> dict:
    """Subexpressions to collapse.

    A node used by exactly one other node (and not a named variable) joins
    that node's group, so a neuron's products, sums, weights and bias fold
    into the box of its activation. A one-input op (relu, tanh, σ, log, …)
    applied to a subexpression of ``unary_cut`` or more nodes heads a group of
    its own even when used once, so the next layer's neuron does not swallow
    the one before it.
    """
    consumers: dict[int, set] = {n.id: set() for n in trace.nodes}
    for n in trace.nodes:
        for i in n.inputs:
            consumers[i].add(n.id)

    def joins(n) -> bool:
        return n.id != trace.output and len(consumers[n.id]) == 1 and not (n.name and n.kind == "op")

    size: dict[int, int] = {}
    heads: set[int] = set()
    for n in trace.nodes:                       # inputs come first in forward order
        size[n.id] = 1 + sum(size[i] for i in set(n.inputs) if joins(trace.nodes[i]) and i not in heads)
        if n.op and len(n.inputs) == 1 and size[n.id] >= unary_cut:
            heads.add(n.id)
    owner: dict[int, int] = {}
    for n in reversed(trace.nodes):             # consumers come later in forward order
        if joins(n) and n.id not in heads:
            (c,) = consumers[n.id]
            owner[n.id] = owner.get(c, c)
        else:
            owner[n.id] = n.id
    members: dict[int, list] = {}
    for n in trace.nodes:
        members.setdefault(owner[n.id], []).append(n.id)
    groups = {}
    for root, ms in members.items():
        if len(ms) >= min_size:
            key = f"g{root}"
            groups[key] = Group(key, root, ms)
    return groups


def line_groups(trace) -> dict:
    """One group per line of the program, as a lesson draws it: each named step (and the
    output) with the unnamed steps and constants only it uses, so ``z1 = w1*x + b1`` is one
    box fed by w1, x and b1. Inputs stay boxes of their own; a line that is a single step
    (``a1 = sigmoid(z1)``) is no group."""
    consumers: dict[int, list] = {n.id: [] for n in trace.nodes}
    for n in trace.nodes:
        for i in dict.fromkeys(n.inputs):
            consumers[i].append(n.id)
    owner: dict[int, int] = {}
    for n in reversed(trace.nodes):             # consumers come later in forward order
        own = n.id == trace.output or n.name or n.kind == "input" or len(consumers[n.id]) != 1
        owner[n.id] = n.id if own else owner[consumers[n.id][0]]
    members: dict[int, list] = {}
    for n in trace.nodes:
        members.setdefault(owner[n.id], []).append(n.id)
    return {f"g{root}": Group(f"g{root}", root, ms, line=True)
            for root, ms in members.items() if len(ms) > 1 and trace.nodes[root].op}


def graph_view(trace, sizes: dict, *, collapse: bool | None = None, groups: dict | None = None,
               **kw) -> GraphView:
    """Lay out ``trace``; collapse groups when ``collapse`` (default: large graphs).

    ``sizes`` maps node ids and group keys to (w, h); group sizes are only
    needed when collapsing. ``groups`` (e.g. :func:`line_groups`) replaces the default folds.
    """
    edges = trace_edges(trace)
    if groups is None:
        if collapse is None:
            collapse = len(trace.nodes) > COLLAPSE_ABOVE
        groups = find_groups(trace) if collapse else {}
    item_of = {n.id: n.id for n in trace.nodes}
    for g in groups.values():
        for m in g.members:
            item_of[m] = g.key
    items = []
    for n in trace.nodes:
        it = item_of[n.id]
        if it == n.id or n.id == groups[it].root:
            items.append(it)
    top_edges, under = [], {}
    feeds: dict = {}                  # group -> the items feeding it, in the order the trace uses them
    for a, b, port, nports in edges:
        ia, ib = item_of[a], item_of[b]
        if ia == ib:
            continue
        if isinstance(ib, str):       # into a group: one edge per item feeding it
            feeds.setdefault(ib, [])
            if ia not in feeds[ib]:
                feeds[ib].append(ia)
            key = (ia, ib, feeds[ib].index(ia))
        else:
            key = (ia, ib, port)
        if key not in under:
            under[key] = []
            top_edges.append([ia, ib, key[2], nports])
        under[key].append((a, b, port))
    for e in top_edges:               # edges into a group meet its side in that order, spread out
        if isinstance(e[1], str):
            e[3] = len(feeds[e[1]])
    layout = layered(items, [tuple(e) for e in top_edges], sizes, **kw)
    for g in groups.values():
        inner = [(a, b, p, n) for a, b, p, n in edges if item_of[a] == g.key and item_of[b] == g.key]
        g.layout = layered(g.members, inner, sizes, margin=12, **kw)
    return GraphView(layout, groups, item_of, edges, under)


def layout_trace(trace, *, collapse: bool | None = None) -> GraphView:
    """The layout the SVG, PNG and HTML views draw (sizes from the node text)."""
    from .svg import node_lines   # the box text decides the box size
    sizes = {}
    for n in trace.nodes:
        sizes[n.id] = node_size(node_lines(trace, n), "op" if n.op else "leaf")
    if collapse is None:
        collapse = len(trace.nodes) > COLLAPSE_ABOVE
    if collapse:
        from .svg import group_lines
        for g in find_groups(trace).values():
            sizes[g.key] = node_size(group_lines(trace, g), "group")
    return graph_view(trace, sizes, collapse=collapse)
