"""Chains of local derivatives, read off a :class:`~chainrule.trace.Trace`.

A *link* is a node a chain stops at. In a program the links are the named
variables (plus the output and the inputs): the unnamed primitive steps of
one assignment are folded into one factor, the local derivative of the
right-hand side. With ``ops=True`` every primitive node is a link.

Everything here works from recorded numbers: a factor's value is a sum over
the ways through the folded steps of products of recorded local derivatives
(``LocalStep.local``), and its formula is pasted together from the recorded
per-primitive formulas (``LocalStep.formula``). Paths are counted by dynamic
programming, never by listing them, so a graph with 2⁶⁰ paths costs no more
than its number of edges.
"""
from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from numbers import Real
from typing import Any, Iterator

from .formulas import SUM, precedence, substitute, total

SUBSCRIPTS = _SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_TRAILING_DIGITS = re.compile(r"^(.*?[^\d_])_?(\d+)$")

# How many ways through one assignment's unnamed steps get written out in a
# factor's formula; beyond this the formula says how many there are.
MAX_TERMS = 16
# Expanded expressions longer than this keep their node label instead.
MAX_EXPR = 160
# Factors of one such way written out in a factor's formula; a longer product is described.
MAX_TERM_FACTORS = 24


@lru_cache(maxsize=4096)
def pretty(label: str) -> str:
    """``a3`` → ``a₃``, ``w_1`` → ``w₁``; other labels unchanged."""
    m = _TRAILING_DIGITS.match(label)
    return m.group(1) + m.group(2).translate(_SUB) if m else label


def is_num(x) -> bool:
    t = type(x)
    if t is float or t is int:
        return True
    return isinstance(x, Real) and not isinstance(x, bool)


def agrees(total, grad, rtol: float, scale=0.0) -> bool | None:
    """Whether a sum of path products agrees with the gradient the backward sweep recorded,
    within ``rtol`` of the largest of ``|grad|``, ``|total|`` and ``scale``. None: not checked
    (not numbers, or not finite: nan = nan and inf = inf confirm nothing about a derivative).
    The one check behind every ✓ and ✗ of the scalar and the tensor explainer."""
    if not (is_num(total) and is_num(grad)):
        return None
    if not (math.isfinite(total) and math.isfinite(grad)):
        return None
    tol = rtol * max(abs(grad), abs(total), scale if is_num(scale) and math.isfinite(scale) else 0.0)
    return bool(abs(total - grad) <= tol or total == grad)


_ONE = object()  # the empty product: multiplying by it keeps the other side as is


def mul(a, b):
    """Product of recorded numbers; ``None`` when either side is not a number (tensor descriptions)."""
    if a is _ONE:
        return b
    if is_num(a) and is_num(b):
        return a * b
    return None


def add(a, b):
    if a is _ONE:
        return b
    if is_num(a) and is_num(b):
        return a + b
    return None


@dataclass(slots=True)
class Link:
    """One factor's worth of graph: ``∂top/∂bottom``, folded over unnamed steps."""
    top: int
    bottom: int
    value: Any
    formula: str
    slot: int = 0          # which of several parallel uses (ops mode: ``x * x`` uses x twice)
    uses: int = 1          # how many parallel uses of bottom ``top`` has in this mode
    ways: int = 1          # ways through the folded unnamed steps
    pos: int = 0           # position among ``top``'s links (reading order)


class LinkGraph:
    """The trace's backward steps, seen at the level of links."""

    def __init__(self, trace, ops: bool, extra: set[int] = frozenset(), expand: bool = True):
        self.trace = trace
        self.ops = ops
        nodes = trace.nodes
        self.steps = {s.node: s for s in trace.backward}
        if ops:
            links = {n.id for n in nodes if n.kind != "const"}
        else:
            links = {n.id for n in nodes if n.kind == "input" or n.name} | {trace.output} | set(extra)
        self.is_link = {i for i in links if nodes[i].kind != "const"}
        self.links = sorted(i for i in self.is_link if i in self.steps)   # the ones the sweep reached
        # unnamed node label -> its expression in terms of links (names mode only). A summary of a
        # big graph skips this (``expand=False``): its formulas name the unnamed steps by label.
        self.expanded: dict[str, str] = {}
        if not ops and expand:
            for n in nodes:
                if n.op and n.id not in self.is_link and n.expr:
                    text = substitute(n.expr, self.expanded)
                    if len(text) <= MAX_EXPR:
                        self.expanded[n.label] = text
        self.edges: dict[int, list[Link]] = {i: self._fold(i) for i in self.links}
        self.consumers: dict[int, list[Link]] = {}
        for i in self.links:
            for k, e in enumerate(self.edges[i]):
                e.pos = k
                self.consumers.setdefault(e.bottom, []).append(e)
        self._cones: dict[int, dict[int, list[Link]]] = {}

    # -- display helpers ---------------------------------------------------
    def text(self, i: int) -> str:
        """A node as a reader knows it: a link's label, else its expression."""
        n = self.trace.nodes[i]
        if i in self.is_link or self.ops:
            return n.label
        return self.expanded.get(n.label, n.label)

    def formula(self, step_formula: str) -> str:
        return step_formula if self.ops else substitute(step_formula, self.expanded)

    def rhs(self, i: int) -> str:
        """The right-hand side of a link, written in terms of links."""
        n = self.trace.nodes[i]
        if not n.op:
            return ""
        return n.expr if self.ops else substitute(n.expr, self.expanded)

    # -- folding -----------------------------------------------------------
    def _fold(self, top: int) -> list[Link]:
        step = self.steps[top]
        if self.ops:
            out, seen = [], {}
            for ls in step.locals:
                slot = seen.get(ls.input, 0)
                seen[ls.input] = slot + 1
                out.append(Link(top, ls.input, ls.local, ls.formula, slot))
            for link in out:
                link.uses = seen[link.bottom]
            return out
        # Walk down from ``top`` through unnamed nodes, newest first, so every
        # way into an unnamed node is summed before that node passes it on.
        acc = {top: _ONE}            # sum over ways top → node of products of locals
        ways = {top: 1}
        # Formula terms, at most MAX_TERMS + 1 per node, each (sign, factors, cell): ``1`` factors
        # dropped and signs pulled out as they are met (what ``formulas.total`` would do), the
        # factor texts as linked cells (text, rest) so a long chain costs O(length), not O(length²).
        # Past MAX_TERM_FACTORS factors a term is only counted, and no more text is made for it.
        terms: dict[int, list] = {top: [(1, 0, None)]}
        found: dict[int, list] = {}  # link -> [value, ways, terms]
        heap = [-top]
        keep = MAX_TERMS + 1
        while heap:
            u = -heapq.heappop(heap)
            mine = terms.pop(u)
            # more than MAX_TERMS ways lead here, so every link below gets more too and its
            # formula says "sum over N ways": no term text is needed from here on
            if ways[u] > MAX_TERMS:
                mine = None
            for ls in self.steps[u].locals:
                v = ls.input
                value = mul(acc[u], ls.local)
                if v in self.is_link:
                    slot = found.setdefault(v, [_ONE, 0, []])
                    slot[0] = add(slot[0], value)
                    slot[1] += ways[u]
                    into = slot[2]
                else:
                    if v not in acc:
                        acc[v], ways[v], terms[v] = _ONE, 0, []
                        heapq.heappush(heap, -v)
                    acc[v] = add(acc[v], value)
                    ways[v] += ways[u]
                    into = terms[v]
                if mine is not None and len(into) < keep:
                    into.extend(_extend_terms(mine, ls.formula, self.formula)[:keep - len(into)])
        links = []
        for v in self._reading_order(top, found):
            value, n, t = found[v]
            links.append(Link(top, v, value, _formula_of(t, n), ways=n))
        return links

    def _reading_order(self, top: int, found: dict) -> list[int]:
        """Links below ``top`` in the order they are met reading its expression left to right."""
        order, seen, stack = [], set(), [top]
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            if u != top and u in found:
                order.append(u)
            elif u == top or u not in self.is_link:
                stack.extend(ls.input for ls in reversed(self.steps[u].locals))
        return order

    # -- counting ----------------------------------------------------------
    def from_output(self) -> tuple[dict[int, int], dict[int, Any], dict[int, Any]]:
        """For each link: (number of paths from the output, sum of their products, sum of |products|)."""
        out = self.trace.output
        ways = {i: 0 for i in self.links}
        down: dict[int, Any] = {i: 0.0 for i in self.links}
        absdown: dict[int, Any] = {i: 0.0 for i in self.links}
        if out not in ways:
            return ways, down, absdown
        ways[out], down[out], absdown[out] = 1, 1.0, 1.0
        for i in reversed(self.links):   # newest first: all ways into i are in
            if not ways[i]:
                continue
            for e in self.edges[i]:
                ways[e.bottom] += ways[i]
                down[e.bottom] = add(down[e.bottom], mul(down[i], e.value))
                a = mul(absdown[i], abs(e.value) if is_num(e.value) else None)
                absdown[e.bottom] = add(absdown[e.bottom], a)
        return ways, down, absdown

    def to(self, wrt: int) -> dict[int, int]:
        """For each link above ``wrt``: the number of paths from it down to ``wrt``.

        Only the links that can reach ``wrt`` are visited (found by walking
        up the consumer edges), and only their edges that lead towards ``wrt``
        (kept, in reading order, for :meth:`paths`), so asking for every
        input of a flat sum or every weight of a network costs the sum of
        their cones, not inputs × graph size.
        """
        above, stack = {wrt}, [wrt]
        while stack:
            for e in self.consumers.get(stack.pop(), ()):
                if e.top not in above:
                    above.add(e.top)
                    stack.append(e.top)
        reach = dict.fromkeys(sorted(above), 0)   # oldest first: everything below a node comes before it
        reach[wrt] = 1
        cone: dict[int, list[Link]] = {}
        for i, r in reach.items():        # reach[i] is complete: all its edges' bottoms are older
            for e in self.consumers.get(i, ()):
                reach[e.top] += r
                cone.setdefault(e.top, []).append(e)
        for es in cone.values():
            es.sort(key=_by_pos)
        self._cones[wrt] = cone
        return reach

    def cone(self, wrt: int) -> dict[int, list[Link]]:
        """For each link above ``wrt``: its edges towards ``wrt``, in reading order."""
        if wrt not in self._cones:
            self.to(wrt)
        return self._cones[wrt]

    def paths(self, wrt: int, reach: dict[int, int]) -> Iterator[list[Link]]:
        """Every path from the output to ``wrt``, lazily, output side first."""
        out = self.trace.output
        if out == wrt:
            yield []
            return
        if not reach.get(out):
            return
        cone = self.cone(wrt)
        current: list[Link] = []
        stack = [iter(cone[out])]
        while stack:
            for e in stack[-1]:
                current.append(e)
                if e.bottom == wrt:
                    yield list(current)
                    current.pop()
                    continue
                stack.append(iter(cone[e.bottom]))
                break
            else:
                stack.pop()
                if current:
                    current.pop()

    def first_paths(self, wrt: int, reach: dict[int, int], n: int) -> list[list[Link]]:
        return list(islice(self.paths(wrt, reach), n))


def _by_pos(link) -> int:
    return link.pos


_MINUS_ONE = ("−1", "-1")


def _extend_terms(terms: list, step_formula: str, formula) -> list:
    """``terms`` times one more local derivative (its raw formula ``step_formula``)."""
    raw = step_formula.strip()
    if raw in ("1", ""):
        return terms
    if raw in _MINUS_ONE:
        return [(-sign, n, cell) for sign, n, cell in terms]
    out = []
    text = None
    for sign, n, cell in terms:
        if n >= MAX_TERM_FACTORS:
            out.append((sign, n + 1, None))
            continue
        if text is None:
            text = formula(step_formula).strip()
            flip = text[:1] in ("−", "-") and precedence(text) > SUM
            if flip:
                text = text[1:].strip()
        if text in ("1", ""):
            out.append((-sign if flip else sign, n, cell))
        else:
            out.append((-sign if flip else sign, n + 1, (text, cell)))
    return out


def _formula_of(terms: list, ways: int) -> str:
    """A link's formula: the sum of its terms, or what it is when too long to write out."""
    if ways > MAX_TERMS:
        return f"sum over {ways} ways through unnamed steps"
    longest = max((n for _, n, _ in terms), default=0)
    if longest > MAX_TERM_FACTORS:
        what = "a product" if ways == 1 else f"a sum over {ways} ways, each a product,"
        return f"{what} of up to {longest:,} local derivatives through unnamed steps"
    return total([(["−1"] if sign < 0 else []) + _unlink(cell) for sign, _, cell in terms])


def _unlink(cell) -> list[str]:
    """(text, (text, (…, None))) → [first, …, last]."""
    out = []
    while cell is not None:
        text, cell = cell
        out.append(text)
    out.reverse()
    return out
