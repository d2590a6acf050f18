"""A trace as a PNG, drawn with matplotlib's Agg backend (no Graphviz, no browser).

Same layout, text and colours as the SVG. matplotlib is optional: without it
this raises :class:`~chainrule.errors.InputError` saying what to install.
"""
from __future__ import annotations

from ..errors import InputError
from ..files import atomic_write
from .layout import layout_trace
from .svg import (NOT_YET, PALETTE, GradScale, _grad_of, _route_local, _sign_colour, edge_label, edge_locals,
                  group_lines, node_lines)

__all__ = ["trace_to_png"]

PX = 72 / 100   # points per pixel at 100 dpi: we lay out in pixels


def _matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        from matplotlib import pyplot as plt
        from matplotlib.patches import FancyBboxPatch, PathPatch
        from matplotlib.path import Path
    except ImportError:
        raise InputError('drawing a PNG needs matplotlib: pip install matplotlib '
                         '(or draw an .svg, which needs nothing)') from None
    return plt, FancyBboxPatch, PathPatch, Path


def trace_to_png(trace, path=None, *, show_locals: bool = True, collapse: bool | None = None,
                 scale: float = 1.5) -> bytes:
    """PNG bytes of the graph (also written to ``path`` if given)."""
    plt, FancyBboxPatch, PathPatch, Path = _matplotlib()
    import io

    view = layout_trace(trace, collapse=collapse)
    lay = view.layout
    locals_ = edge_locals(trace)
    has = trace.has_grads
    gscale = GradScale([_grad_of(n) for n in trace.nodes] + [ls.contribution for ls in locals_.values()])
    top = 0 if has else 34
    W, H = max(lay.width, 460), lay.height + top + 10
    fig = plt.figure(figsize=(W / 100, H / 100), dpi=100 * scale)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, W)
    ax.set_ylim(H, 0)
    ax.axis("off")
    fig.patch.set_facecolor(PALETTE["paper"])
    if not has:
        ax.add_patch(FancyBboxPatch((8, 6), W - 16, 24, boxstyle="round,pad=0,rounding_size=5",
                                    fc=PALETTE["banner"], ec="none"))
        ax.text(18, 22, NOT_YET, fontsize=12 * PX, color=PALETTE["banner_ink"], va="baseline")
    boxes = lay.boxes
    dense = len(lay.routes) > 60
    for r in lay.routes:
        sb, db = boxes[r.src], boxes[r.dst]
        pts = [(sb.x + sb.w, sb.cy + top)] + [(boxes[d].x + boxes[d].w / 2, boxes[d].cy + top) for d in r.dummies] \
            + [(db.x, db.y + top + db.h * (r.port + 0.5) / r.nports)]
        verts, codes = [pts[0]], [Path.MOVETO]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            dx = (x1 - x0) / 2
            verts += [(x0 + dx, y0), (x1 - dx, y1), (x1, y1)]
            codes += [Path.CURVE4] * 3
        ls = _route_local(view, r, locals_)
        flow = ls.contribution if ls is not None else None
        t = gscale(flow) if has and ls is not None else 0.0
        colour = _sign_colour(flow) if has and ls is not None else PALETTE["line"]
        ax.add_patch(PathPatch(Path(verts, codes), fc="none", ec=colour, lw=(1.2 + 4.5 * t) * PX,
                               alpha=0.55 if dense else 1.0, capstyle="round"))
        if show_locals and not dense and ls is not None and isinstance(ls.local, (int, float)):
            (x0, y0), (x1, y1) = pts[-2], pts[-1]
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 3, edge_label(ls.local), fontsize=11 * PX,
                    color=PALETTE["muted"], ha="center", va="baseline",
                    bbox=dict(boxstyle="round,pad=0.15", fc=PALETTE["paper"], ec="none", alpha=0.9))
    for key, b in boxes.items():
        if b.dummy:
            continue
        if isinstance(key, str):
            grp = view.groups[key]
            node, lines, fill, rx = trace.nodes[grp.root], group_lines(trace, grp), PALETTE["group"], 8
            ax.add_patch(FancyBboxPatch((b.x + 4, b.y + top + 4), b.w, b.h, boxstyle=f"round,pad=0,rounding_size={rx}",
                                        fc=fill, ec=PALETTE["faint"], lw=PX))
        else:
            node = trace.nodes[key]
            lines = node_lines(trace, node)
            fill = {"op": PALETTE["op"], "input": PALETTE["input"], "const": PALETTE["const"]}[node.kind]
            rx = 6 if node.op else 14
        g = _grad_of(node)
        t = gscale(g) if has else 0.0
        ec = _sign_colour(g) if has and node.kind != "const" else PALETTE["faint"]
        ax.add_patch(FancyBboxPatch((b.x, b.y + top), b.w, b.h, boxstyle=f"round,pad=0,rounding_size={rx}",
                                    fc=fill, ec=ec, lw=(1 + 1.5 * t) * PX,
                                    ls="--" if node.kind == "const" else "-"))
        if key == trace.output:
            ax.add_patch(FancyBboxPatch((b.x - 3, b.y + top - 3), b.w + 6, b.h + 6,
                                        boxstyle=f"round,pad=0,rounding_size={rx + 3}", fc="none",
                                        ec=PALETTE["ink"], lw=PX))
        for i, s in enumerate(lines):
            room = max(4, int((b.w - 16) / (7.0 if i == 0 else 6.2)))
            s = s if len(s) <= room else s[:room - 1] + "…"
            ax.text(b.x + 9, b.y + top + 17 + 15 * i, s, fontsize=(12 if i == 0 else 11) * PX,
                    fontweight="bold" if i == 0 else "normal", color=PALETTE["ink"], va="baseline")
        if has and node.kind != "const" and g is not None:
            ax.add_patch(FancyBboxPatch((b.x + 8, b.y + top + b.h - 6), b.w - 16, 3,
                                        boxstyle="round,pad=0,rounding_size=1.5", fc="#e4e7eb", ec="none"))
            ax.add_patch(FancyBboxPatch((b.x + 8, b.y + top + b.h - 6), (b.w - 16) * t, 3,
                                        boxstyle="round,pad=0,rounding_size=1.5", fc=_sign_colour(g), ec="none"))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100 * scale, facecolor=fig.get_facecolor())
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        atomic_write(path, data)
    return data
