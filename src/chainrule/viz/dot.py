"""A trace as Graphviz DOT text, for people who have Graphviz.

chainrule itself never runs ``dot``: its own layout is in :mod:`.layout`.
This is only an export, in the spirit of micrograd's ``draw_dot``.
"""
from __future__ import annotations

from .svg import GradScale, PALETTE, _grad_of, _sign_colour, edge_label, edge_locals, node_lines

__all__ = ["trace_to_dot"]


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def trace_to_dot(trace, *, show_locals: bool = True, name: str = "chainrule") -> str:
    """DOT source: left to right, one box per node (name = expression, value,
    gradient), each edge labelled with its local derivative."""
    locals_ = edge_locals(trace)
    has = trace.has_grads
    scale = GradScale([_grad_of(n) for n in trace.nodes] + [ls.contribution for ls in locals_.values()])
    out = [f"digraph {_quote(name)} {{",
           "  rankdir=LR;",
           '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
           '  edge [fontname="Helvetica", fontsize=11];']
    if not has:
        out.append('  labelloc=t; label="gradients not computed yet";')
    for n in trace.nodes:
        fill = {"op": PALETTE["op"], "input": PALETTE["input"], "const": PALETTE["const"]}[n.kind]
        g = _grad_of(n)
        colour = _sign_colour(g) if has and n.kind != "const" else PALETTE["faint"]
        style = '"rounded,filled,dashed"' if n.kind == "const" else '"rounded,filled"'
        width = 1 + 2 * scale(g) if has else 1
        label = "\\n".join(s.replace("\\", "\\\\").replace('"', '\\"') for s in node_lines(trace, n))
        extra = ", peripheries=2" if n.id == trace.output else ""
        out.append(f'  n{n.id} [label="{label}", fillcolor="{fill}", color="{colour}", '
                   f"style={style}, penwidth={width:.2f}{extra}];")
    for n in trace.nodes:
        for port, i in enumerate(n.inputs):
            ls = locals_.get((n.id, port))
            attrs = []
            if ls is not None and has:
                attrs.append(f'color="{_sign_colour(ls.contribution)}"')
                attrs.append(f"penwidth={1 + 3 * scale(ls.contribution):.2f}")
                if show_locals and isinstance(ls.local, (int, float)):
                    attrs.append(f"label={_quote(edge_label(ls.local))}")
            out.append(f"  n{i} -> n{n.id}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"
