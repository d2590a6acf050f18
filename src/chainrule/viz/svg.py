"""A trace drawn as a static SVG: every node's value and gradient, every edge's
local derivative, gradient size as line width *and* colour *and* numbers.

This is a view: every number comes from the :class:`~chainrule.trace.Trace`;
nothing is recomputed here. Styling uses presentation attributes, not a
``<style>`` sheet, so an SVG inlined in a notebook cannot restyle the page.
"""
from __future__ import annotations

import math
import re
from html import escape

from .. import numfmt
from ..ops import OPS
from .layout import GraphView, layout_trace

__all__ = ["trace_to_svg", "value_to_svg", "backward_done", "repr_trace", "fmt", "edge_label", "node_lines", "group_lines",
           "edge_locals", "expressions", "display_name", "title_line",
           "GradScale", "FONT", "PALETTE"]

FONT = ("system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, "
        "'Noto Sans', 'Liberation Sans', sans-serif")
PALETTE = {
    "ink": "#1f2933", "muted": "#616e7c", "faint": "#9aa5b1", "line": "#cbd2d9",
    "paper": "#ffffff", "op": "#f5f7fa", "input": "#eef4fb", "const": "#f7f7f2",
    "group": "#f3f0fa", "neg": "#2f6db5", "pos": "#c2562f", "zero": "#9aa5b1",
    "banner": "#fff6e0", "banner_ink": "#7a5500",
}
NOT_YET = "gradients not computed yet"


# --------------------------------------------------------------------------
# Text of a box
# --------------------------------------------------------------------------

EDGE_DIGITS = 3   # the ×multiplier drawn on an edge: short, so it fits on the line


def edge_label(local) -> str:
    """``×0.235``: an edge's local derivative, at most :data:`EDGE_DIGITS` digits."""
    return "×" + fmt(local, min(EDGE_DIGITS, numfmt.get_digits()))


def fmt(v, digits: int | None = None) -> str:
    """A number in a box: :func:`chainrule.numfmt.fmt` (``?`` when unknown, ``[…]`` for an array)."""
    if v is None:
        return "?"
    if isinstance(v, (list, tuple)):
        return "[…]"
    return numfmt.fmt(v, digits)


def _shape(n) -> str:
    return "[" + "×".join(str(d) for d in n.shape) + "]" if n.shape else "scalar"


_ELIDED = re.compile(r"[…\s+−·×/-]+")
SHOWN_UP_TO = 48   # characters of an expression in a box; a longer one writes its inner parts as "…"


def expressions(trace) -> dict:
    """Every operation node's expression in the learner's terms: an unnamed step is
    written where it is used (``mul6`` becomes ``w1 · x``), so a drawing reads
    ``L = (a2 − y)^2`` rather than ``L = sub12^2``. Inner parts of very long
    expressions (a neuron summing sixteen products) are written "…"."""
    cached = getattr(trace, "_viz_expressions", None)
    if cached is not None and cached[0] is trace.nodes and cached[1] == len(trace.nodes):
        return cached[2]
    from ..explain.formulas import substitute
    out: dict[int, str] = {}
    full: dict[int, str] = {}      # an unnamed step -> its expression
    short: dict[int, str] = {}     # ... -> its own operation with its unnamed inputs as "…": relu(…)
    for n in trace.nodes:
        if not n.op:
            continue
        unnamed = [i for i in dict.fromkeys(n.inputs) if i in full]
        label = {i: trace.nodes[i].label for i in unnamed}
        expr = n.expr or n.op
        text = substitute(expr, {label[i]: full[i] for i in unnamed})
        if len(text) > SHOWN_UP_TO:
            text = substitute(expr, {label[i]: full[i] if len(full[i]) <= SHOWN_UP_TO // 2 else short[i]
                                     for i in unnamed})
        if len(text) > SHOWN_UP_TO:
            text = substitute(expr, {label[i]: short[i] for i in unnamed})
        out[n.id] = text
        if not n.name:
            full[n.id] = text
            abbreviated = substitute(expr, {label[i]: "…" for i in unnamed})
            short[n.id] = "…" if _ELIDED.fullmatch(abbreviated) else abbreviated   # "… + …" says nothing more
    trace._viz_expressions = (trace.nodes, len(trace.nodes), out)
    return out


def display_name(trace, n) -> str:
    """A node as the learner knows it: its name, its number, or (unnamed) its expression."""
    if n.op and not n.name:
        return expressions(trace).get(n.id, n.label)
    return n.label


def title_line(trace, n) -> str:
    if n.op:
        expr = expressions(trace).get(n.id, n.label)
        return f"{n.label} = {expr}" if n.name and expr != n.label else expr
    if n.kind == "const":
        return n.label if n.name is None else f"{n.label} (constant)"
    return n.label


def value_line(n) -> str:
    if n.shape is not None and not isinstance(n.value, (int, float)):
        return f"{_shape(n)}  ‖value‖ {fmt(n.norm)}"
    return f"value {fmt(n.value)}"


def grad_line(trace, n) -> str | None:
    if n.kind == "const":
        return None
    if not trace.has_grads:
        return "grad: not computed yet"
    if n.shape is not None:
        return f"‖grad‖ {fmt(n.grad_norm)}"
    return f"grad {fmt(n.grad)}"


def node_lines(trace, n) -> list[str]:
    lines = [title_line(trace, n), value_line(n)]
    g = grad_line(trace, n)
    if g:
        lines.append(g)
    return lines


def group_lines(trace, group) -> list[str]:
    root = trace.nodes[group.root]
    head = f"▸ {title_line(trace, root)}" if group.line else \
        f"▸ {display_name(trace, root)}  (+{len(group.members) - 1} nodes)"
    return [head, value_line(root),
            grad_line(trace, root) or ""]


def edge_locals(trace) -> dict:
    """(consumer id, port) -> LocalStep: the local derivative on each edge.

    Constant inputs get no LocalStep (nothing flows into them); a node used
    twice by one op (``x * x``) gets one per port, in port order.
    """
    out = {}
    for step in trace.backward:
        n = trace.nodes[step.node]
        pending = list(step.locals)
        for port, i in enumerate(n.inputs):
            for j, ls in enumerate(pending):
                if ls.input == i:
                    out[(n.id, port)] = pending.pop(j)
                    break
    return out


class GradScale:
    """Maps a gradient to 0..1 on a log scale spanning four decades below the largest."""

    def __init__(self, values):
        mags = [abs(float(v)) for v in values if _finite(v) and v != 0]
        self.hi = math.log10(max(mags)) if mags else 0.0
        self.lo = max(math.log10(min(mags)), self.hi - 4) if mags else 0.0

    def __call__(self, v) -> float:
        if not _finite(v) or v == 0:
            return 0.0 if v == 0 or v is None else 1.0
        if self.hi == self.lo:
            return 1.0
        return min(1.0, max(0.0, (math.log10(abs(float(v))) - self.lo) / (self.hi - self.lo)))


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _sign_colour(v) -> str:
    if not _finite(v) or v == 0:
        return PALETTE["zero"]
    return PALETTE["neg"] if v < 0 else PALETTE["pos"]


def _grad_of(n):
    return n.grad_norm if n.shape is not None else n.grad


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------

def _port(box, port, nports):
    return box.x, box.y + box.h * (port + 0.5) / nports


def curve(points) -> str:
    """A smooth path through points, leaving and entering each horizontally."""
    (x0, y0), rest = points[0], points[1:]
    d = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in rest:
        dx = (x1 - x0) / 2
        d.append(f"C{x0 + dx:.1f},{y0:.1f} {x1 - dx:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(d)


def _text(x, y, s, *, size=12, weight=None, fill=None, anchor=None, extra="") -> str:
    attrs = f'x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill or PALETTE["ink"]}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if anchor:
        attrs += f' text-anchor="{anchor}"'
    return f"<text {attrs}{extra}>{escape(s)}</text>"


def _fit(s: str, width: float, char_w: float = 7.0) -> str:
    room = max(4, int((width - 16) / char_w))
    return s if len(s) <= room else s[:room - 1] + "…"


def trace_to_svg(trace, *, show_locals: bool = True, collapse: bool | None = None,
                 view: GraphView | None = None, title: str | None = None) -> str:
    """The trace as an SVG document (a string).

    Each box: name and operation, value, gradient (or "not computed yet"
    before backward). Each edge: the local derivative (``×0.235``), its width
    and colour showing how much gradient flows along it. Graphs with more
    than a few hundred nodes are drawn with subexpressions collapsed.
    """
    view = view or layout_trace(trace, collapse=collapse)
    lay = view.layout
    locals_ = edge_locals(trace)
    has = trace.has_grads
    scale = GradScale([_grad_of(n) for n in trace.nodes] +
                      [ls.contribution for ls in locals_.values()])
    top = 34 if not has or trace.warnings else 0
    legend_h = 40
    W = max(lay.width, 460)
    H = lay.height + top + legend_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W:.0f} {H:.0f}" '
           f'width="{W:.0f}" height="{H:.0f}" font-family="{escape(FONT, True)}" role="img" '
           f'aria-label="{escape(title or "computational graph", True)}">',
           f"<title>{escape(title or _summary(trace))}</title>",
           f'<rect width="{W:.0f}" height="{H:.0f}" fill="{PALETTE["paper"]}"/>']
    if top:
        msg = "warning: " + trace.warnings[0] if trace.warnings \
            else NOT_YET + ": call backward() (or trace(out)) to see them"
        out.append(f'<rect x="8" y="6" width="{W - 16:.0f}" height="24" rx="5" '
                   f'fill="{PALETTE["banner"]}"/>')
        out.append(_text(18, 22, _fit(msg, W - 24, 6.4), size=12, fill=PALETTE["banner_ink"],
                         extra=' class="banner"'))
    out.append(f'<g transform="translate(0,{top})">')

    # edges first, boxes on top
    boxes = lay.boxes
    dense = len(lay.routes) > 60          # too many edges: no edge labels, lighter lines
    show_locals = show_locals and not dense
    opacity = ' stroke-opacity="0.55"' if dense else ""
    for r in lay.routes:
        sb, db = boxes[r.src], boxes[r.dst]
        pts = [(sb.x + sb.w, sb.cy)] + [(boxes[d].x + boxes[d].w / 2, boxes[d].cy) for d in r.dummies] \
            + [_port(db, r.port, r.nports)]
        ls = _route_local(view, r, locals_)
        flow = ls.contribution if ls is not None else None
        t = scale(flow) if has and ls is not None else 0.0
        width = 1.2 + 4.5 * t
        colour = _sign_colour(flow) if has and ls is not None else PALETTE["line"]
        tip = f"{_label(trace, view, r.src)} → {_label(trace, view, r.dst)}"
        if isinstance(ls, _Flow):
            tip += f": {ls.count} edges into the group, sending back {fmt(flow)} in total"
        elif ls is not None:
            tip += (f": local derivative {ls.formula} = {fmt(ls.local)}; "
                    f"gradient sent back {fmt(flow)}")
        out.append(f'<path d="{curve(pts)}" fill="none" stroke="{colour}" stroke-width="{width:.2f}" '
                   f'stroke-linecap="round"{opacity}><title>{escape(tip)}</title></path>')
        if show_locals and ls is not None and isinstance(ls.local, (int, float)):
            (x0, y0), (x1, y1) = pts[-2], pts[-1]
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            lab = edge_label(ls.local)
            wl = len(lab) * 6.6 + 6
            out.append(f'<rect x="{mx - wl / 2:.1f}" y="{my - 8:.1f}" width="{wl:.1f}" height="15" '
                       f'rx="3" fill="{PALETTE["paper"]}" fill-opacity="0.9"/>')
            out.append(_text(mx, my + 4, lab, size=11, fill=PALETTE["muted"], anchor="middle"))

    for key in (k for layer in lay.layers for k in layer):
        b = boxes[key]
        if b.dummy:
            continue
        if isinstance(key, str):
            out.append(_group_box(trace, view.groups[key], b, scale))
        else:
            out.append(_node_box(trace, trace.nodes[key], b, scale, key == trace.output))
    out.append("</g>")
    out.append(_legend(H - legend_h + 6, W, has, show_locals))
    out.append("</svg>")
    return "\n".join(out)


def _route_local(view, r, locals_):
    """What a drawn edge carries: the LocalStep of the one trace edge it stands for,
    or, for an edge into a collapsed group, a sum of the contributions."""
    under = view.under.get((r.src, r.dst, r.port)) or [(_node_id(view, r.src), _node_id(view, r.dst), r.port)]
    steps = [locals_.get((b, port)) for _, b, port in under]
    steps = [s for s in steps if s is not None]
    if not steps:
        return None
    if len(under) == 1:
        return steps[0]
    total = sum(s.contribution for s in steps) if all(_finite(s.contribution) for s in steps) else None
    return _Flow(total, len(under))


class _Flow:
    """Several trace edges drawn as one: only the total gradient they carry."""
    local = None

    def __init__(self, contribution, count):
        self.contribution, self.count = contribution, count
        self.formula = f"{count} edges"


def _node_id(view, item):
    return view.groups[item].root if isinstance(item, str) else item


def _label(trace, view, item) -> str:
    return display_name(trace, trace.nodes[_node_id(view, item)])


def _meter(b, t, v, has) -> str:
    """A thin bar along the bottom of a box: its length is the gradient's size."""
    if not has or v is None:
        return ""
    w = (b.w - 16) * t
    return (f'<rect x="8" y="{b.h - 6:.1f}" width="{b.w - 16:.1f}" height="3" rx="1.5" fill="#e4e7eb"/>'
            f'<rect x="8" y="{b.h - 6:.1f}" width="{w:.1f}" height="3" rx="1.5" fill="{_sign_colour(v)}"/>')


def _node_box(trace, n, b, scale, is_output) -> str:
    has = trace.has_grads
    g = _grad_of(n)
    t = scale(g) if has else 0.0
    fill = {"op": PALETTE["op"], "input": PALETTE["input"], "const": PALETTE["const"]}[n.kind]
    stroke = _sign_colour(g) if has and n.kind != "const" else PALETTE["faint"]
    sw = 1 + 1.5 * t if has else 1
    dash = ' stroke-dasharray="4 3"' if n.kind == "const" else ""
    rx = 14 if n.kind != "op" else 6
    kind = "output" if is_output else n.kind
    lines = node_lines(trace, n)
    parts = [f'<g transform="translate({b.x:.1f},{b.y:.1f})" class="node {kind}">',
             f"<title>{escape(_node_tip(trace, n))}</title>",
             f'<rect width="{b.w:.1f}" height="{b.h:.1f}" rx="{rx}" fill="{fill}" stroke="{stroke}" '
             f'stroke-width="{sw:.2f}"{dash}/>']
    if is_output:
        parts.append(f'<rect x="-3" y="-3" width="{b.w + 6:.1f}" height="{b.h + 6:.1f}" rx="{rx + 3}" '
                     f'fill="none" stroke="{PALETTE["ink"]}" stroke-width="1"/>')
    y = 17
    for i, s in enumerate(lines):
        weight = "600" if i == 0 else None
        fill_t = PALETTE["ink"] if i < 2 else (PALETTE["muted"] if not has else _sign_colour(g))
        if i == 2 and has:
            fill_t = PALETTE["ink"]
        parts.append(_text(9, y, _fit(s, b.w, 7.0 if i == 0 else 6.2), size=12 if i == 0 else 11,
                           weight=weight, fill=fill_t))
        y += 15
    parts.append(_meter(b, t, g, has and n.kind != "const"))
    parts.append("</g>")
    return "".join(parts)


def _group_box(trace, grp, b, scale) -> str:
    root = trace.nodes[grp.root]
    has = trace.has_grads
    g = _grad_of(root)
    t = scale(g) if has else 0.0
    stroke = _sign_colour(g) if has else PALETTE["faint"]
    lines = group_lines(trace, grp)
    parts = [f'<g transform="translate({b.x:.1f},{b.y:.1f})" class="group">',
             f"<title>{escape(display_name(trace, root))}: a collapsed subexpression of {len(grp.members)} nodes"
             f"</title>",
             f'<rect x="4" y="4" width="{b.w:.1f}" height="{b.h:.1f}" rx="8" fill="{PALETTE["group"]}" '
             f'stroke="{PALETTE["faint"]}"/>',
             f'<rect width="{b.w:.1f}" height="{b.h:.1f}" rx="8" fill="{PALETTE["group"]}" '
             f'stroke="{stroke}" stroke-width="{1 + 1.5 * t:.2f}"/>']
    y = 17
    for i, s in enumerate(lines):
        parts.append(_text(9, y, _fit(s, b.w, 7.0 if i == 0 else 6.2), size=12 if i == 0 else 11,
                           weight="600" if i == 0 else None))
        y += 15
    parts.append(_meter(b, t, g, has))
    parts.append("</g>")
    return "".join(parts)


def _node_tip(trace, n) -> str:
    parts = [display_name(trace, n)]
    if n.op:
        row = OPS.get(n.op)   # a variant row (powc) is named as the program calls it (pow)
        parts.append(f"op {row.called if row else n.op}: {expressions(trace).get(n.id, n.expr)}")
    else:
        parts.append({"input": "input (a leaf that gets a gradient)",
                      "const": "constant (no gradient)"}[n.kind])
    parts.append(value_line(n))
    g = grad_line(trace, n)
    if g:
        parts.append(g)
    return "; ".join(parts)


def _legend(y, W, has, show_locals) -> str:
    items = []
    if has:
        items.append("Line width, colour and the bar under a box: size of the gradient "
                     "(blue below 0, orange above 0).")
        if show_locals:
            items.append("×n on an edge: the local derivative of the consumer with respect to that input.")
    else:
        items.append("Values only: run backward() to see gradients.")
    out = []
    for i, s in enumerate(items):
        out.append(_text(16, y + 12 + 15 * i, _fit(s, W - 16, 6.0), size=11, fill=PALETTE["muted"]))
    return "".join(out)


def _summary(trace) -> str:
    out = trace.nodes[trace.output]
    return f"computational graph of {display_name(trace, out)} ({len(trace.nodes)} nodes)"


def backward_done(value) -> bool:
    """Has ``backward()`` run on this output? (its own gradient is then non-zero: the seed)."""
    if not getattr(value, "requires_grad", False):
        return False
    import numpy as np
    from ..autodiff import reverse_topological

    def has(g):
        return g is not None and bool(np.any(np.asarray(g) != 0))
    # A Tensor that is not a leaf keeps no .grad (as in PyTorch): look at its leaves then.
    return has(getattr(value, "grad", None)) or any(
        has(n.grad) for n in reverse_topological(value) if n._op is None)


def value_to_svg(value, **kw) -> str:
    """SVG of a Value's (or Tensor's) graph. Gradients are shown once ``backward()`` has run on it;
    before that the drawing says "gradients not computed yet"."""
    return trace_to_svg(repr_trace(value), **kw)


def repr_trace(value):
    """The trace a notebook shows for a Value: with gradients once ``backward()`` has run.

    A leaf holding two sweeps' worth (a second ``backward()`` by accident)
    keeps the trace's warning, which the drawing shows.
    """
    from ..trace import trace as make_trace
    done = backward_done(value)
    t = make_trace(value, backward=done, on_stale="warn")   # a stale graph is drawn with the reason
    return t
