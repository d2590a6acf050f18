"""``chainrule.widget(program_or_value)``: the player as a live notebook widget (anywidget).

The front end is the same player as ``chainrule html`` pages. When a slider moves, the new
inputs go to the widget's model; the Python engine computes the trace again and sends it
back, so the numbers on the page are chainrule's Python numbers. With no kernel (a saved
notebook opened without one), the page recomputes with the op table's JavaScript instead.

From Python: ``w.values`` (input label -> number; assign to move the inputs), ``w.trace``
(the current :class:`~chainrule.trace.Trace`), ``w.step`` (the player's step, readable
and settable), ``w.descend(lr)`` (one gradient-descent step on the parameters).

anywidget is optional: ``pip install anywidget`` (or ``pip install "chainrule[widget]"``).
"""
from __future__ import annotations

import math
from importlib import resources

from ..errors import ChainruleError, InputError
from ..ops import OPS
from ..trace import Trace

__all__ = ["widget", "Source", "esm", "WidgetMissingError", "INSTALL"]

INSTALL = 'pip install anywidget  (or pip install "chainrule[widget]")'


class WidgetMissingError(ChainruleError, ImportError):
    """chainrule.widget was used without anywidget installed."""


def esm() -> str:
    """The widget's front end as one ES module: the op table's JS, the player, the glue."""
    from ..viz.html import player_assets
    js, _ = player_assets()
    glue = resources.files(__package__).joinpath("widget.js").read_text(encoding="utf-8")
    return js + "\n" + glue


def css() -> str:
    from ..viz.html import player_assets
    return player_assets()[1]


# --------------------------------------------------------------------------
# What the widget recomputes: a program, or a graph replayed from its trace
# --------------------------------------------------------------------------

class Source:
    """A computation the Python engine can run again at new input values."""

    def __init__(self, target, values=None):
        from .. import lang
        from ..scalar import Value
        self.program = None
        self.trace0: Trace
        if isinstance(target, str):
            self.program = lang.parse(target)
            self.text = target
            self.trace0 = self.program.run(dict(values or {})).trace()
        elif isinstance(target, lang.Program):
            self.program, self.text = target, target.text
            self.trace0 = target.run(dict(values or {})).trace()
        elif isinstance(target, lang.Run):
            self.program, self.text = target.program, target.program.text
            self.trace0 = target.trace()
        elif isinstance(target, Value):
            self.trace0 = _trace_of(target)
        elif isinstance(target, Trace):
            self.trace0 = target
        elif hasattr(target, "_parents"):
            self.trace0 = _trace_of(target)
        else:
            raise InputError("chainrule.widget() needs a program (text), a Value, a Tensor or a Trace, got "
                             f"{type(target).__name__}")
        if values is not None and self.program is None:
            raise InputError("values= goes with a program text; a Value or a Trace brings its own numbers")
        self.replayable = self.program is not None or _replayable(self.trace0)

    def inputs(self, t: Trace) -> dict:
        return {n.label: n.value for n in t.inputs if isinstance(n.value, float)}

    def run(self, values: dict) -> Trace:
        """The trace at ``values`` (input label -> number), by the Python engine."""
        if not self.replayable:
            raise InputError("this graph cannot be computed again in Python (it has tensors, or steps "
                             "that are not op-table rows)")
        if self.program is not None:
            return self.program.run(values).trace()
        return _replay(self.trace0, values)


def _trace_of(node) -> Trace:
    from ..viz.svg import repr_trace
    return repr_trace(node)


def _replayable(t: Trace) -> bool:
    return all(n.shape is None for n in t.nodes) and all(
        (n.op in OPS) if n.op else isinstance(n.value, float) for n in t.nodes)


def _replay(t: Trace, values: dict) -> Trace:
    """Build the trace's graph again with chainrule Values, the inputs at ``values``."""
    from ..scalar import Value, _make
    from ..trace import trace as make_trace
    made = []
    for n in t.nodes:
        if n.op is None:
            v = values.get(n.label, n.value) if n.kind == "input" else n.value
            made.append(Value(v, name=n.name, requires_grad=n.kind == "input"))
        else:
            args = [made[i] for i in n.inputs]
            out = _make(OPS[n.op], args[0], args[1] if len(args) > 1 else None, n.param)
            out.name = n.name
            made.append(out)
    return make_trace(made[t.output])


def _check_values(values, inputs) -> dict:
    if not isinstance(values, dict):
        raise InputError(f"widget.values must be a dict of input name -> number, got {type(values).__name__}")
    out = {}
    for k, v in values.items():
        if k not in inputs:
            raise InputError(f"widget.values: {k!r} is not an input; inputs: {', '.join(inputs)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise InputError(f"widget.values[{k!r}] must be a finite number, got {v!r}")
        out[k] = float(v)
    return out


def wire(value):
    """A trace's dict with inf and nan as the strings the player revives ("inf", "-inf", "nan"):
    a widget's messages are JSON, which has no such numbers."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire(v) for v in value]
    return value


# --------------------------------------------------------------------------
# The widget
# --------------------------------------------------------------------------

_CLASS = None


def _widget_class():
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    try:
        import anywidget
        import traitlets
    except ImportError:
        raise WidgetMissingError(f"chainrule.widget needs anywidget, which is not installed: {INSTALL}") from None

    class ChainruleWidget(anywidget.AnyWidget):
        """The player in a notebook, recomputed by the Python engine (see :mod:`chainrule.jupyter`)."""

        _esm = traitlets.Unicode(esm()).tag(sync=True)
        _css = traitlets.Unicode(css()).tag(sync=True)
        data = traitlets.Dict().tag(sync=True)       # the player's data (layout, explanation, first trace)
        values = traitlets.Any({}).tag(sync=True)   # input label -> number (checked by _valid_values)
        state = traitlets.Dict().tag(sync=True)      # {"trace", "error", "seq"}: the latest computation
        step = traitlets.Int(0).tag(sync=True)       # the player's step shown
        lr = traitlets.Float(0.1).tag(sync=True)

        def __init__(self, source: Source, **kw):
            from ..viz.html import player_data
            self._source = source
            self._trace = source.trace0
            self._seq = 0
            data = player_data(source.trace0, program=getattr(source, "text", None), **kw)
            data["recompute"] = bool(data["recompute"] and source.replayable)
            self._ready = False
            super().__init__(data=wire(data), values=source.inputs(source.trace0), lr=data["lr"],
                             state={"trace": None, "error": None, "seq": 0})
            self._ready = True
            self.on_msg(self._on_msg)

        # -- Python side ----------------------------------------------------
        @property
        def trace(self) -> Trace:
            """The trace at the current values, as computed by the Python engine."""
            return self._trace

        @property
        def error(self) -> str | None:
            return self.state.get("error") if self.state else None

        @traitlets.validate("values")
        def _valid_values(self, proposal):
            return _check_values(proposal["value"], list(self._source.inputs(self._source.trace0)))

        @traitlets.observe("values")
        def _recompute(self, change):
            if not self._ready or change["old"] == change["new"]:
                return                 # the first values: the trace is the one the widget starts with
            self._seq += 1
            try:
                t = self._source.run(dict(change["new"]))
            except ChainruleError as e:
                self.state = {"trace": None, "error": str(e), "seq": self._seq}
                return
            self._trace = t
            self.state = {"trace": wire(t.to_dict()), "error": None, "seq": self._seq}

        def descend(self, lr: float | None = None, params=None) -> dict:
            """One gradient-descent step on ``params`` (default: the player's parameters), with the
            gradients of the current trace; returns the new values."""
            lr = self.lr if lr is None else lr
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (0 < lr < math.inf):
                raise InputError(f"the learning rate must be a positive number, got {lr!r}")
            params = list(self.data.get("params") or []) if params is None else list(params)
            grads = {n.label: n.grad for n in self._trace.inputs}
            unknown = [p for p in params if p not in grads]
            if unknown:
                raise InputError(f"descend: {', '.join(map(repr, unknown))} not an input; inputs: {', '.join(grads)}")
            if any(not isinstance(grads[p], float) for p in params):
                raise InputError("descend: there are no gradients to step with (the trace has no backward pass)")
            new = dict(self.values)
            for p in params:
                new[p] = new[p] - lr * grads[p]
            self.values = new
            return dict(self.values)

        def _on_msg(self, _widget, content, _buffers):
            if isinstance(content, dict) and content.get("type") == "ping":
                self.send({"type": "pong"})

    _CLASS = ChainruleWidget
    return _CLASS


def widget(program_or_value, values=None, **kw):
    """The player of ``program_or_value`` as a live notebook widget.

    ``program_or_value``: a program text (with ``values=``, input name -> number), a parsed
    program or run, a Value (or Tensor), or a Trace. Other keywords go to the player
    (``wrt``, ``params``, ``lr``, ``title``).
    """
    source = Source(program_or_value, values)
    return _widget_class()(source, **kw)
