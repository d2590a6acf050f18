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

import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import autodiff
from .errors import InputError
from .ops import OPS, TENSOR_OPS, jacobian_form

__all__ = ["Trace", "TraceNode", "ForwardStep", "BackwardStep", "LocalStep", "Tracer", "trace",
           "active_record", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
class _Recorders(threading.local):
    def __init__(self):
        self.stack = []   # active Tracer records, per thread


_records = _Recorders()


def active_record():
    """The list the current backward sweep should append to, or None."""
    stack = _records.stack
    return stack[-1] if stack else None


@dataclass
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


@dataclass
class ForwardStep:
    node: int
    op: str
    inputs: list[int]
    value: Any


@dataclass
class LocalStep:
    input: int
    local: Any             # ∂node/∂input at this point (float; or a description for tensors)
    formula: str           # Unicode formula with names, e.g. "σ(z1)·(1−σ(z1))"
    latex: str
    contribution: Any      # incoming × local
    accumulated: Any       # the input's gradient after adding this contribution


@dataclass
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
        return {
            "output": self.output,
            "nodes": [dict(vars(n)) for n in self.nodes],
            "forward": [dict(vars(s)) for s in self.forward],
            "backward": [{"node": s.node, "incoming": s.incoming, "locals": [dict(vars(l)) for l in s.locals]}
                         for s in self.backward],
            "warnings": list(self.warnings),
            "schema": self.schema,
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
        )

    @classmethod
    def from_json(cls, text: str) -> "Trace":
        return cls.from_dict(json.loads(text))

    # -- notebook display ----------------------------------------------------
    def _repr_svg_(self):
        from .viz.svg import trace_to_svg
        return trace_to_svg(self)

    def _repr_html_(self):
        from .viz.html import notebook_html
        return notebook_html(self)


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


def _fmt(k) -> str:
    return f"{k:g}" if isinstance(k, float) else str(k)


def build(output, record: list | None) -> Trace:
    """Make a :class:`Trace` of ``output``'s graph, with the backward steps in ``record``."""
    graph = autodiff.ancestors(output)
    ids = {n: i for i, n in enumerate(graph)}

    labels: list[str] = []
    nodes: list[TraceNode] = []
    forward: list[ForwardStep] = []
    for i, n in enumerate(graph):
        value, shape, norm = _data(n)
        parents = [ids[p] for p in n._parents()]
        op = n._op.name if n._op is not None else None
        if n.name:
            label = n.name
        elif op is None and not n.requires_grad:
            label = _fmt(value) if shape is None else f"const{i}"
        else:
            label = f"{op or 'leaf'}{i}"
        labels.append(label)
        kind = "op" if op else ("input" if n.requires_grad else "const")
        k = getattr(n, "_k", None)
        expr = n._op.describe(*[labels[p] for p in parents], *([_fmt(k)] if k is not None else [])) \
            if op and (n._op is OPS.get(op) or n._op is TENSOR_OPS.get(op)) else (op or "")
        nodes.append(TraceNode(i, label, op, parents, value, kind=kind, name=n.name,
                               param=k if isinstance(k, (int, float)) else None, expr=expr,
                               shape=shape, norm=norm))
        if op:
            forward.append(ForwardStep(i, op, parents, value))

    backward: list[BackwardStep] = []
    warnings: list[str] = []
    if record:
        running: dict[int, Any] = {}
        for node, incoming, locals_ in record:
            if node not in ids:
                continue
            i = ids[node]
            tn = nodes[i]
            tn.grad = _jsonable(incoming)
            if isinstance(node.data, np.ndarray) and incoming is not None:
                tn.grad_norm = float(np.linalg.norm(incoming))
            step = BackwardStep(i, _jsonable(incoming))
            op = node._op
            parents = node._parents()
            names = {"out": tn.label}
            for key, p in zip(("x", "y"), parents):
                names[key] = labels[ids[p]]
            if getattr(node, "_k", None) is not None:
                names["k"] = _fmt(node._k)
            for j, (p, local) in enumerate(zip(parents, locals_)):
                if not p.requires_grad:
                    continue
                pid = ids[p]
                if isinstance(node.data, np.ndarray):
                    # a tensor node records its vector-Jacobian product itself; the local
                    # Jacobian is named by its form ("multiply by W2ᵀ", "mask by z1 > 0")
                    contribution, local = local, jacobian_form(op, j, **names)[0]
                else:
                    contribution = incoming * local
                running[pid] = contribution if pid not in running else running[pid] + contribution
                step.locals.append(LocalStep(
                    pid, _jsonable(local) if not isinstance(local, str) else local,
                    op.formula(j, **names) if hasattr(op, "formula") else str(op),
                    op.formula(j, latex=True, **names) if hasattr(op, "formula") else "",
                    _jsonable(contribution), _jsonable(running[pid])))
            backward.append(step)
    return Trace(ids[output], nodes, forward, backward, warnings)


class Tracer:
    """Record every backward sweep run inside the ``with`` block."""

    def __init__(self):
        self.record: list = []

    def __enter__(self):
        _records.stack.append(self.record)
        return self

    def __exit__(self, *exc):
        _records.stack.remove(self.record)
        return False

    def trace(self, output=None) -> Trace:
        if output is None:
            if not self.record:
                raise ValueError("nothing was recorded: call .backward() inside the Tracer block")
            output = self.record[0][0]
        return build(output, self.record)


def trace(output, backward: bool = True) -> Trace:
    """The trace of ``output``'s graph; with ``backward``, also the backward steps.

    The backward steps come from a real sweep of the engine, after which every
    ``.grad`` is put back as it was: tracing never changes your gradients.
    A leaf whose ``.grad`` holds more than one sweep gives (typically a second
    ``backward()`` without ``zero_grad()``) is noted in ``warnings``.
    """
    if not hasattr(output, "_parents"):
        raise InputError(f"trace() needs a Value or a Tensor, got {type(output).__name__} {output!r:.60}")
    record = None
    warnings = []
    if backward and output.requires_grad:
        order = autodiff.reverse_topological(output)
        saved = [(n, n.grad) for n in order]
        record = []
        try:
            autodiff.run_backward(output, _seed(output), record)
        finally:
            for n, g in saved:
                n.grad = g
        one_sweep = {node: incoming for node, incoming, *_ in record}
        for n, g in saved:
            if n._op is None and _nonzero(g) and not _same(g, one_sweep.get(n)):
                warnings.append(
                    f"{n.name or 'a leaf'}.grad is {_show(g)} but one backward pass gives "
                    f"{_show(one_sweep.get(n))}: backward() adds to .grad, so it ran more than once "
                    "without zero_grad() in between")
    t = build(output, record)
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
        return f"an array with norm {float(np.linalg.norm(g)):g}"
    return f"{g:g}" if math.isfinite(g) else str(g)
