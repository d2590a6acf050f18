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
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from numbers import Real
from typing import Any, Iterator

from .formulas import substitute, total

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_TRAILING_DIGITS = re.compile(r"^(.*?[^\d_])_?(\d+)$")

# How many ways through one assignment's unnamed steps get written out in a
# factor's formula; beyond this the formula says how many there are.
MAX_TERMS = 16
# Expanded expressions longer than this keep their node label instead.
MAX_EXPR = 160


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


@dataclass
class Link:
    """One factor's worth of graph: ``∂top/∂bottom``, folded over unnamed steps."""
    top: int
    bottom: int
    value: Any
    formula: str
    slot: int = 0          # which of several parallel uses (ops mode: ``x * x`` uses x twice)
    uses: int = 1          # how many parallel uses of bottom ``top`` has in this mode
    ways: int = 1          # ways through the folded unnamed steps


class LinkGraph:
    """The trace's backward steps, seen at the level of links."""

    def __init__(self, trace, ops: bool, extra: set[int] = frozenset()):
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
        # unnamed node label -> its expression in terms of links (names mode only)
        self.expanded: dict[str, str] = {}
        if not ops:
            for n in nodes:
                if n.op and n.id not in self.is_link and n.expr:
                    text = substitute(n.expr, self.expanded)
                    if len(text) <= MAX_EXPR:
                        self.expanded[n.label] = text
        self.edges: dict[int, list[Link]] = {i: self._fold(i) for i in self.links}
        self.consumers: dict[int, list[Link]] = {}
        for i in self.links:
            for e in self.edges[i]:
                self.consumers.setdefault(e.bottom, []).append(e)

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
        # formula terms as linked cells (text, rest) so a long chain costs O(length), not O(length²)
        terms: dict[int, list] = {top: [None]}
        found: dict[int, list] = {}  # link -> [value, ways, terms]
        heap = [-top]
        while heap:
            u = -heapq.heappop(heap)
            for ls in self.steps[u].locals:
                v = ls.input
                value = mul(acc[u], ls.local)
                text = self.formula(ls.formula)
                new_terms = [(text, t) for t in terms[u][:MAX_TERMS + 1]]
                if v in self.is_link:
                    slot = found.setdefault(v, [_ONE, 0, []])
                else:
                    if v not in acc:
                        acc[v], ways[v], terms[v] = _ONE, 0, []
                        heapq.heappush(heap, -v)
                    slot = None
                if slot is not None:
                    slot[0] = add(slot[0], value)
                    slot[1] += ways[u]
                    slot[2].extend(new_terms)
                else:
                    acc[v] = add(acc[v], value)
                    ways[v] += ways[u]
                    terms[v].extend(new_terms)
        links = []
        for v in self._reading_order(top, found):
            value, n, t = found[v]
            formula = total([_unlink(cell) for cell in t]) if n <= MAX_TERMS else \
                f"sum over {n} ways through unnamed steps"
            links.append(Link(top, v, value, formula, ways=n))
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
        up the consumer edges), so asking for every weight of a network costs
        the sum of their cones, not inputs × graph size.
        """
        above, stack = {wrt}, [wrt]
        while stack:
            for e in self.consumers.get(stack.pop(), ()):
                if e.top not in above:
                    above.add(e.top)
                    stack.append(e.top)
        reach = {wrt: 1}
        for i in sorted(above):          # oldest first: everything below i is done
            if i != wrt:
                reach[i] = sum(reach.get(e.bottom, 0) for e in self.edges[i])
        return reach

    def paths(self, wrt: int, reach: dict[int, int]) -> Iterator[list[Link]]:
        """Every path from the output to ``wrt``, lazily, output side first."""
        out = self.trace.output
        if out == wrt:
            yield []
            return
        if not reach.get(out):
            return
        current: list[Link] = []
        stack = [iter(self.edges[out])]
        while stack:
            for e in stack[-1]:
                if not reach.get(e.bottom):
                    continue
                current.append(e)
                if e.bottom == wrt:
                    yield list(current)
                    current.pop()
                    continue
                stack.append(iter(self.edges[e.bottom]))
                break
            else:
                stack.pop()
                if current:
                    current.pop()

    def first_paths(self, wrt: int, reach: dict[int, int], n: int) -> list[list[Link]]:
        return list(islice(self.paths(wrt, reach), n))


def _unlink(cell) -> list[str]:
    """(text, (text, (…, None))) → [first, …, last]."""
    out = []
    while cell is not None:
        text, cell = cell
        out.append(text)
    out.reverse()
    return out
