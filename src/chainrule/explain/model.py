"""The explanation as data: factors, paths, chain sets, shared factors."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

from ..errors import InputError
from ..trace import Trace
from .chains import LinkGraph, pretty

__all__ = ["Factor", "ElementFactor", "Path", "ChainSet", "Shared", "Summary", "Explanation"]


@dataclass
class Factor:
    """One local derivative in a chain: ``∂a₃/∂a₂ = w3 = 0.5``."""
    label: str            # "∂C/∂a₃" (digits as subscripts)
    formula: str          # "2·(a3 − y)", from the op table's per-primitive formulas
    value: Any            # the recorded number (or a description, for tensors)
    node: int             # id of the node differentiated (output side)
    input: int            # id of the node it is differentiated with respect to
    plain: str = ""       # "dC/da3"
    slot: int = 0         # which use, when ``node`` uses ``input`` more than once (ops mode)
    uses: int = 1
    ways: int = 1         # ways through the unnamed steps folded into this factor (names mode)


@dataclass
class ElementFactor(Factor):
    """A local derivative between two array elements, in a tensor explanation's chains for one
    weight: ``∂z₁[0, 2]/∂W₁[2, 0]``. ``node`` and ``input`` are trace node ids as in every
    :class:`Factor`; ``index`` is the element of ``node`` and ``op`` the op that made it."""
    index: list[int] = field(default_factory=list)
    op: str = ""


@dataclass
class Path:
    """One way from the output down to ``wrt``: its factors, output side first."""
    factors: list[Factor]
    product: Any          # the product of every factor, listed or not
    omitted: int = 0      # factors left out in the middle (a summary's long path): the first half
                          # of ``factors`` comes before them, the second half after


@dataclass
class Shared:
    """A factor that several chains contain; the backward sweep computes it once."""
    label: str
    formula: str
    value: Any
    node: int
    input: int
    wrt: list[str]        # the inputs whose chains contain it
    paths: int            # how many paths (over all of those inputs) go through it (through each use)
    slot: int = 0
    uses: int = 1
    message: str = ""


@dataclass
class ChainSet:
    """All paths from the output to one ``wrt``, and whether they add up to its gradient."""
    wrt: str
    grad: Any             # the gradient the backward sweep recorded
    path_count: int       # exact, by dynamic programming
    paths: list[Path]     # the first ``max_paths`` paths (all of them unless summarised)
    summarised: bool      # more paths than ``max_paths``: not all are listed
    total: Any            # sum of the path products
    matches: bool | None  # total == grad (and == forward, if summarised) within relative 1e-9 (None: not numbers)
    shared: list[Shared] = field(default_factory=list)   # the shared factors on these paths
    node: int = -1
    label: str = ""       # "∂C/∂w₁"
    notes: list[str] = field(default_factory=list)
    forward: Any = None   # summarised only: the gradient by forward mode, the independent check of ``total``


@dataclass
class Summary:
    """What a summary of a big graph leaves out, and how to ask for it (``explain(..., full=True)``)."""
    nodes: int            # nodes in the trace
    limit: int            # graphs with more nodes than this are summarised
    inputs: int           # inputs with a gradient
    explained: list[str]  # the inputs whose chains are given
    rest: int             # inputs whose chains are not given
    largest: list         # [label, gradient] of the rest, largest |gradient| first (at most 10)
    message: str = ""


@dataclass
class Explanation:
    """Every chain of a trace. Render with :meth:`to_text` / :meth:`to_markdown`."""
    trace: Trace
    chains: list[ChainSet]
    shared: list[Shared] = field(default_factory=list)
    mode: str = "names"   # "names": links are named variables; "ops": every primitive
    notes: list[str] = field(default_factory=list)
    max_paths: int = 64
    summary: Summary | None = None   # set when a big graph was summarised (see ``explain``)

    # -- lookups -------------------------------------------------------------
    @property
    def output(self) -> str:
        return self.trace.nodes[self.trace.output].label

    @cached_property
    def graph(self) -> LinkGraph:
        return LinkGraph(self.trace, self.mode == "ops", {c.node for c in self.chains},
                         expand=self.summary is None)

    def chain(self, wrt=None) -> ChainSet:
        """The chain set for ``wrt`` (a label, a Value with a name, or a node id)."""
        if wrt is None:
            if len(self.chains) == 1:
                return self.chains[0]
            raise InputError("say which input: this explanation has chains for "
                             + ", ".join(c.wrt for c in self.chains))
        key = getattr(wrt, "name", None) or getattr(wrt, "label", None) or wrt
        for c in self.chains:
            if c.wrt == key or c.node == key or c.label == key:
                return c
        raise InputError(f"no chain for {key!r}; chains: " + ", ".join(c.wrt for c in self.chains))

    # -- renderings ----------------------------------------------------------
    def chain_line(self, wrt=None, max_factors: int | None = None) -> str:
        """``∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 0.5 · 3 · 1 = 3``.

        Several paths give one line per path and a last ``= sum = total`` line;
        a summarised chain set shows its first few paths and the count.
        ``max_factors`` shortens long paths in the middle.
        """
        from .render import SHOW_WHEN_SUMMARISED, chain_lines
        cs = self.chain(wrt)
        shown = SHOW_WHEN_SUMMARISED if cs.summarised else None
        return "\n".join(chain_lines(self, cs, max_factors=max_factors, shown=shown))

    def to_text(self, width: int | None = None) -> str:
        """Plain text fitted to ``width`` columns (default: the terminal's, ``COLUMNS``, else 80)."""
        from .render import explanation_text
        return explanation_text(self, width)

    def to_markdown(self) -> str:
        from .render import explanation_markdown
        return explanation_markdown(self)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    # -- serialisation -------------------------------------------------------
    def to_dict(self, include_trace: bool = True) -> dict:
        """JSON-serialisable; ``path_count`` stays an exact integer (``path_count_text`` for JavaScript)."""
        d = {
            "output": self.output,
            "output_label": pretty(self.output),
            "mode": self.mode,
            "max_paths": self.max_paths,
            "notes": list(self.notes),
            "chains": [],
            "shared": [asdict(s) for s in self.shared],
            "warnings": list(self.trace.warnings),
            "summary": asdict(self.summary) if self.summary is not None else None,
        }
        index = {id(s): k for k, s in enumerate(self.shared)}
        for c in self.chains:
            cd = {f.name: getattr(c, f.name) for f in fields(c)}
            cd["paths"] = [asdict(p) for p in c.paths]
            cd["shared"] = [index[id(s)] for s in c.shared]   # positions in the top-level "shared"
            cd["notes"] = list(c.notes)
            cd["path_count_text"] = str(c.path_count)
            cd["lines"] = self.chain_line(c.node).split("\n")
            d["chains"].append(cd)
        if include_trace:
            d["trace"] = self.trace.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Explanation":
        if "trace" not in d:
            raise InputError("Explanation.from_dict needs the trace: make the dict with include_trace=True")

        def shared(items):
            return [Shared(**s) for s in items]

        all_shared = shared(d.get("shared", []))
        chains = []
        for c in d["chains"]:
            c = {k: v for k, v in c.items() if k not in ("path_count_text", "lines")}
            c["paths"] = [Path([Factor(**f) for f in p["factors"]], p["product"], p.get("omitted", 0))
                          for p in c["paths"]]
            c["shared"] = [all_shared[k] for k in c.get("shared", [])]
            chains.append(ChainSet(**c))
        summary = Summary(**d["summary"]) if d.get("summary") else None
        return cls(Trace.from_dict(d["trace"]), chains, all_shared,
                   d.get("mode", "names"), list(d.get("notes", [])), d.get("max_paths", 64), summary)
