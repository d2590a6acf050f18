"""A trace is the record of one forward and one backward pass, as plain data.

Text, Markdown, SVG, the HTML player and the web app are all views of a
:class:`Trace`; none of them recomputes a value or a derivative.

Two ways to get one::

    t = trace(loss)            # after building the graph; grads are left untouched

    with Tracer() as tr:       # record a real backward sweep
        loss.backward()
    t = tr.trace()

Node ids are small integers in forward (evaluation) order.
"""
from __future__ import annotations

import dataclasses
import gc
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import autodiff, display
from .autodiff import active_record, start_recording, stop_recording
from .errors import InputError
from .trace_checks import (StaleGraphError, _finite, _first_nonfinite_value, _nonfinite_grad_message,
                           _stale_message, _why_nonfinite, check_fresh)
from .numfmt import constant, fmt
from .ops import OPS, TENSOR_OPS, jacobian_form

__all__ = ["Trace", "TraceNode", "ForwardStep", "BackwardStep", "LocalStep", "Tracer", "trace",
           "active_record", "SCHEMA_VERSION", "StaleGraphError", "check_fresh"]

SCHEMA_VERSION = 1
@dataclass(slots=True)
class TraceNode:
    id: int
    label: str                      # name shown to people: the variable name, or op+id
    op: str | None                  # None for leaves (inputs, parameters, constants)
    inputs: list[int]
    value: Any                      # float, or nested list for small tensors, or None
    grad: Any = None                # ∂output/∂node from the recorded sweep; None if not computed
    kind: str = "op"                # "input" (leaf requiring grad), "const", or "op"
    name: str | None = None         # user-given name, if any
    param: float | None = None      # constant parameter (fixed exponent, leaky slope)
    expr: str = ""                  # the forward written with input labels, e.g. "w1 · x"
    shape: list[int] | None = None  # tensors only
    norm: float | None = None       # tensors only: ‖value‖
    grad_norm: float | None = None  # tensors only: ‖grad‖


@dataclass(slots=True)
class ForwardStep:
    node: int
    op: str
    inputs: list[int]
    value: Any


@dataclass(slots=True)
class LocalStep:
    input: int
    local: Any             # ∂node/∂input at this point (float; or a description for tensors)
    formula: str           # Unicode formula with names, e.g. "σ(z1)·(1−σ(z1))"
    latex: str
    contribution: Any      # incoming × local
    accumulated: Any       # the input's gradient after adding this contribution


@dataclass(slots=True)
class BackwardStep:
    node: int
    incoming: Any          # ∂output/∂node, complete when this step runs
    locals: list[LocalStep] = field(default_factory=list)


@dataclass
class Trace:
    output: int
    nodes: list[TraceNode]
    forward: list[ForwardStep]
    backward: list[BackwardStep]
    warnings: list[str] = field(default_factory=list)
    schema: int = SCHEMA_VERSION
    # (node id, warning) for the first non-finite value and the first non-finite gradient; the
    # warnings hold the same text (not serialised: a view needs only the warnings)
    nonfinite: list = field(default_factory=list, repr=False, compare=False)
    # relative rounding the recorded numbers carry: 0 for chainrule's float64 engine; a float32
    # engine's (PyTorch's) step-by-step numbers differ from exact products by more than 1e-9
    tolerance: float = 0.0

    # -- lookups -------------------------------------------------------------
    def node(self, key: int | str) -> TraceNode:
        """A node by id or by label."""
        if isinstance(key, int):
            return self.nodes[key]
        for n in self.nodes:
            if n.label == key:
                return n
        raise KeyError(f"no node named {key!r} in this trace; names: "
                       + ", ".join(n.label for n in self.nodes if n.name))

    @property
    def inputs(self) -> list[TraceNode]:
        return [n for n in self.nodes if n.kind == "input"]

    @property
    def has_grads(self) -> bool:
        return bool(self.backward)

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict:
        # Built by hand: dataclasses.asdict deep-copies every value and was
        # ~40% of an uncached web explain. Tensor value lists are shared, not copied.
        # The step and node classes have __slots__ (a 10⁶-node trace is a million of each).
        node_keys, step_keys, local_keys = _fields(TraceNode), _fields(ForwardStep), _fields(LocalStep)
        return {
            "output": self.output,
            "nodes": [{k: getattr(n, k) for k in node_keys} for n in self.nodes],
            "forward": [{k: getattr(s, k) for k in step_keys} for s in self.forward],
            "backward": [{"node": s.node, "incoming": s.incoming,
                          "locals": [{k: getattr(l, k) for k in local_keys} for l in s.locals]}
                         for s in self.backward],
            "warnings": list(self.warnings),
            "schema": self.schema,
            **({"tolerance": self.tolerance} if self.tolerance else {}),
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), allow_nan=True, **kw)

    @classmethod
    def from_dict(cls, d: dict) -> "Trace":
        if d.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise ValueError(f"trace schema {d.get('schema')} is not supported (expected {SCHEMA_VERSION})")
        return cls(
            output=d["output"],
            nodes=[TraceNode(**n) for n in d["nodes"]],
            forward=[ForwardStep(**s) for s in d["forward"]],
            backward=[BackwardStep(s["node"], s["incoming"], [LocalStep(**l) for l in s["locals"]])
                      for s in d["backward"]],
            warnings=list(d.get("warnings", [])),
            tolerance=float(d.get("tolerance", 0.0)),
        )

    @classmethod
    def from_json(cls, text: str) -> "Trace":
        return cls.from_dict(json.loads(text))

    # -- notebook display: drawn by what chainrule.viz registered (chainrule.display) --
    def _repr_svg_(self):
        return display.show("trace", "svg", self)

    def _repr_html_(self):
        return display.show("trace", "html", self)


def _fields(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


# --------------------------------------------------------------------------
# Building a trace from a graph
# --------------------------------------------------------------------------

def _data(node):
    """(value, shape, norm) of a node's data in JSON-friendly form."""
    v = node.data
    if isinstance(v, np.ndarray):
        arr = v
        small = arr.size <= 4096
        return (arr.tolist() if small else None, list(arr.shape), float(np.linalg.norm(arr)))
    return float(v), None, None


def _jsonable(v):
    if v is None:
        return None
    if isinstance(v, np.ndarray):
        return v.tolist() if v.size <= 4096 else None
    return float(v)


def build(output, record: list | None, *, on_stale: str = "raise", label_of: dict | None = None,
          _graph=None) -> Trace:
    """Make a :class:`Trace` of ``output``'s graph, with the backward steps in ``record``.

    A graph whose numbers were changed in place after it was computed raises
    :class:`StaleGraphError`; with ``on_stale="warn"`` it is traced without
    its backward steps and the reason goes to ``warnings``. The first
    non-finite value and the first non-finite gradient each get a warning
    naming the node where it appeared and why (``label_of``: graph node -> the
    label a warning should use, e.g. the tensor explainer's W₁).

    Linear in the graph: a few objects per node and per edge, with the cyclic
    collector paused meanwhile (it would re-scan the graph and the growing
    trace many times over; nothing made here forms a cycle).
    """
    with _collector_paused():
        return _build(output, record, on_stale, label_of, _graph)


class _collector_paused:
    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()
        return False


def _build(output, record, on_stale, label_of, _graph) -> Trace:
    graph = autodiff.ancestors(output) if _graph is None else _graph
    stale = _stale_message(output, graph, on_stale)
    if stale:
        record = None
    ids = {n: i for i, n in enumerate(graph)}

    known = {id(o) for o in OPS.values()} | {id(o) for o in TENSOR_OPS.values()}
    labels: list[str] = []
    nodes: list[TraceNode] = []
    forward: list[ForwardStep] = []
    add_label, add_node, add_step = labels.append, nodes.append, forward.append
    for i, n in enumerate(graph):
        d = n.data
        if type(d) is float:            # the scalar engine: no conversion needed
            value, shape, norm = d, None, None
        else:
            value, shape, norm = _data(n)
        parents = [ids[p] for p in n._parents()]
        op_obj = n._op
        op = op_obj.name if op_obj is not None else None
        name = n.name
        if name:
            label = name
        elif op is None and not n.requires_grad:
            label = constant(value) if shape is None else f"const{i}"
        else:
            label = f"{op or 'leaf'}{i}"
        add_label(label)
        k = getattr(n, "_k", None)
        if op:
            kind = "op"
            expr = op_obj.describe(*[labels[p] for p in parents], *([constant(k)] if k is not None else [])) \
                if id(op_obj) in known else op
            add_step(ForwardStep(i, op, parents, value))
        else:
            kind = "input" if n.requires_grad else "const"
            expr = ""
        add_node(TraceNode(i, label, op, parents, value, None, kind, name,
                           k if isinstance(k, (int, float)) else None, expr, shape, norm))

    backward: list[BackwardStep] = []
    warnings: list[str] = [stale] if stale else []
    shown = [(label_of.get(n) if label_of else None) or tn.label for n, tn in zip(graph, nodes)]
    nonfinite = []
    bad_value = _first_nonfinite_value(graph, nodes, shown)
    if bad_value:
        warnings.append(bad_value[1])
        nonfinite.append(bad_value)
    origins: list = []   # (consumer id, input id, why): where a finite gradient turned non-finite
    bad_grads: list[int] = []
    if record:
        running: dict[int, Any] = {}
        for node, incoming, locals_ in record:
            i = ids.get(node)
            if i is None:
                continue
            tn = nodes[i]
            tensor = isinstance(node.data, np.ndarray)
            g = incoming if type(incoming) is float else _jsonable(incoming)
            tn.grad = g
            if tensor and incoming is not None:
                tn.grad_norm = float(np.linalg.norm(incoming))
            finite_in = _finite(incoming)
            if not finite_in and node._op is None:
                bad_grads.append(i)
            step = BackwardStep(i, g, [])
            backward.append(step)
            if not locals_:
                continue
            op = node._op
            parents = node._parents()
            names = {"out": tn.label}
            for key, p in zip(("x", "y"), parents):
                names[key] = labels[ids[p]]
            if getattr(node, "_k", None) is not None:
                names["k"] = constant(node._k)
            has_formula = hasattr(op, "formula")
            for j, (p, local) in enumerate(zip(parents, locals_)):
                if not p.requires_grad:
                    continue
                pid = ids[p]
                if tensor:
                    # a tensor node records its vector-Jacobian product itself; the local
                    # Jacobian is named by its form ("multiply by W2ᵀ", "mask by z1 > 0")
                    contribution, local = local, jacobian_form(op, j, **names)[0]
                else:
                    contribution = incoming * local
                before = running.get(pid)
                acc = contribution if pid not in running else before + contribution
                running[pid] = acc
                if finite_in and not _finite(acc) and (before is None or _finite(before)):
                    origins.append((i, pid, _why_nonfinite(node, j, local, incoming, names)))
                step.locals.append(LocalStep(
                    pid, local if type(local) is float or isinstance(local, str) else _jsonable(local),
                    op.formula(j, **names) if has_formula else str(op),
                    op.formula(j, latex=True, **names) if has_formula else "",
                    contribution if type(contribution) is float else _jsonable(contribution),
                    acc if type(acc) is float else _jsonable(acc)))
    if origins:
        nonfinite.append(_nonfinite_grad_message(nodes, origins, bad_grads, shown, ids[output]))
        warnings.append(nonfinite[-1][1])
    return Trace(ids[output], nodes, forward, backward, warnings, nonfinite=nonfinite)


class Tracer:
    """Record every backward sweep run inside the ``with`` block."""

    def __init__(self):
        self.record: list = []

    def __enter__(self):
        start_recording(self.record)
        return self

    def __exit__(self, *exc):
        stop_recording(self.record)
        return False

    def trace(self, output=None) -> Trace:
        if output is None:
            if not self.record:
                raise ValueError("nothing was recorded: call .backward() inside the Tracer block")
            output = self.record[0][0]
        return build(output, self.record)


def trace(output, backward: bool = True, *, on_stale: str = "raise") -> Trace:
    """The trace of ``output``'s graph; with ``backward``, also the backward steps.

    The backward steps come from a real sweep of the engine, after which every
    ``.grad`` is put back as it was: tracing never changes your gradients.
    A leaf whose ``.grad`` holds more than one sweep gives (typically a second
    ``backward()`` without ``zero_grad()``) is noted in ``warnings``.

    A graph computed from numbers changed in place since (``loss.backward();
    opt.step(); trace(loss)``) raises :class:`StaleGraphError` naming them;
    ``on_stale="warn"`` traces its forward pass only, with the reason in ``warnings``.
    """
    if not hasattr(output, "_parents"):
        raise InputError(f"trace() needs a Value or a Tensor, got {type(output).__name__} {output!r:.60}")
    with _collector_paused():   # see build(): the collector would re-scan the graph many times over
        return _trace(output, backward, on_stale)


def _trace(output, backward: bool, on_stale: str) -> Trace:
    record = None
    warnings = []
    graph = autodiff.ancestors(output)
    if _stale_message(output, graph, on_stale):
        backward = False      # build() says why
    if backward and output.requires_grad:
        record, saved = autodiff.recorded_sweep(output, _seed(output))
        one_sweep = {node: incoming for node, incoming, *_ in record}
        for n, g in saved:
            if n._op is None and _nonzero(g) and not _same(g, one_sweep.get(n)):
                why = ("backward() adds to .grad, so it ran more than once without zero_grad() in between"
                       if not getattr(n, "_nver", 0) else
                       f"backward() adds to .grad: it ran more than once without zero_grad() in between, "
                       f"or .grad is left from a graph made before {n.name or 'this leaf'} was last changed "
                       "in place (call zero_grad() after each update)")
                warnings.append(
                    f"{n.name or 'a leaf'}.grad is {_show(g)} but one backward pass gives "
                    f"{_show(one_sweep.get(n))}: {why}")
    t = build(output, record, on_stale=on_stale, _graph=graph)
    t.warnings.extend(warnings)
    return t


def _seed(output):
    d = output.data
    return np.ones_like(d) if isinstance(d, np.ndarray) else 1.0


def _nonzero(g) -> bool:
    if g is None:
        return False
    if isinstance(g, np.ndarray):
        return bool(np.any(g != 0))
    return g != 0


def _same(a, b) -> bool:
    if b is None:
        return False
    return bool(np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True))  # nan from one pass is not an accident


def _show(g) -> str:
    if g is None:
        return "nothing"
    if isinstance(g, np.ndarray):
        return f"an array with norm {fmt(float(np.linalg.norm(g)))}"
    return fmt(g)
