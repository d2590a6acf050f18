"""The self-contained HTML player: one file, no network, works from disk.

The page holds the recorded trace as JSON, the layout computed here, the
chain-rule explanation from :mod:`chainrule.explain`, and a small player
(``player.js``, ``player.css``). When a slider moves, the page recomputes
the trace with JavaScript *generated from the op table*
(:func:`chainrule.ops.js_runtime`): no derivative is written twice.

For embedding (``chainrule serve``): :func:`player_assets` gives the JS and
CSS, :func:`player_data` the data, and in the page
``ChainrulePlayer.mount(element, data)`` draws the player into ``element``.
"""
from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from html import escape
from importlib import resources

from ..numfmt import get_digits
from ..ops import OPS, js_runtime
from .layout import COLLAPSE_ABOVE, Layout, find_groups, graph_view, line_groups, node_size
from .svg import display_name, expressions, group_lines, title_line

__all__ = ["trace_to_html", "notebook_html", "value_to_html", "player_data", "player_assets", "player_fragment", "guess_params",
           "default_wrt", "EXPLAIN_ALL_UP_TO", "load_player", "player_code_html"]

# Small graphs embed the chain of every input and named variable; larger
# ones only the chain of ``wrt`` (all chains of a 1,000-node MLP are ~40 MB).
EXPLAIN_ALL_UP_TO = 300
_PARAM_NAME = re.compile(r"^(w|b|W|B|theta|θ|weight|bias|param|p)(\d|_|$)")


@lru_cache(maxsize=1)
def player_assets() -> tuple[str, str]:
    """(JavaScript, CSS) of the player. The JS starts with the op table's runtime."""
    pkg = resources.files("chainrule.viz")
    js = pkg.joinpath("player.js").read_text(encoding="utf-8")
    css = pkg.joinpath("player.css").read_text(encoding="utf-8")
    return js_runtime() + "\n" + js, css


def guess_params(trace) -> list[str]:
    """Inputs a gradient-descent step should update: names like w1, b2, theta
    (data such as x and y stays put); every input if no name looks like that."""
    inputs = [n.label for n in trace.inputs]
    named = [s for s in inputs if _PARAM_NAME.match(s)]
    return named or inputs


def default_wrt(trace, params=None) -> str | None:
    """The deepest input: the parameter (else input) with the longest path to the output, among
    those whose gradient is not 0 (a chain through a dead ReLU multiplies to 0); ties: the first."""
    longest = {trace.output: 0}
    for n in reversed(trace.nodes):
        if n.id not in longest:
            continue
        for i in n.inputs:
            longest[i] = max(longest.get(i, 0), longest[n.id] + 1)
    params = set(params if params is not None else guess_params(trace))
    best = None
    for n in trace.inputs:
        if n.grad is None and trace.has_grads:
            continue
        moving = isinstance(n.grad, (int, float)) and n.grad != 0   # a chain that multiplies to 0 teaches less
        key = (moving, n.label in params, longest.get(n.id, -1), -n.id)
        if best is None or key > best[0]:
            best = (key, n.label)
    return best[1] if best else None


def _layout_json(lay: Layout, prefix: str = "") -> dict:
    def key(k):
        if isinstance(k, tuple):           # a dummy: ("dummy", edge index, layer)
            return f"{prefix}d{k[1]}_{k[2]}"
        return k

    return {
        "width": round(lay.width, 1), "height": round(lay.height, 1),
        "columns": [[round(x, 1), round(w, 1)] for x, w in lay.columns],
        "items": [{"key": key(b.key), "layer": b.layer, "x": round(b.x, 1), "y": round(b.y, 1),
                   "w": round(b.w, 1), "h": round(b.h, 1), **({"dummy": 1} if b.dummy else {})}
                  for b in lay.boxes.values()],
        "routes": [{"src": r.src, "dst": r.dst, "port": r.port, "nports": r.nports,
                    "dummies": [key(d) for d in r.dummies]} for r in lay.routes],
    }


def _sizes(trace, groups) -> dict:
    """Box sizes with room for numbers that sliders may make longer."""
    sizes = {}
    number = "−0." + "0" * get_digits()     # as long as a slider can make a number
    for n in trace.nodes:
        title = title_line(trace, n)
        lines = [title, f"value {number}", f"grad {number}"]
        if n.kind == "const":
            lines = lines[:2]
        if n.shape is not None:
            lines[1] = f"[{'×'.join(map(str, n.shape))}]  ‖value‖ {number[1:]}"
        sizes[n.id] = node_size(lines, "op" if n.op else "leaf")
    for g in groups.values():
        sizes[g.key] = node_size(group_lines(trace, g) + [f"value {number}"], "group")
    return sizes


def _groups(trace, collapse, mode) -> dict:
    """What the player folds: ``collapse`` True folds subexpressions, False nothing; by default
    a large graph folds subexpressions, and a program of several named lines opens one box per
    line (``z1 = w1 · x + b1``), as lessons draw it; a box opens to its steps with a click."""
    if collapse is None and len(trace.nodes) <= COLLAPSE_ABOVE:
        lines = sum(1 for n in trace.nodes if n.op and n.name)
        return line_groups(trace) if mode == "names" and lines > 1 else {}   # one line: show its steps
    if collapse is None:
        collapse = True
    return find_groups(trace) if collapse else {}


def _explanation(trace, wrt, explanation):
    """The explanation to embed, and the link structure the player folds with."""
    from ..explain import explain
    if not trace.has_grads:
        return None
    if explanation is None:
        small = len(trace.nodes) <= EXPLAIN_ALL_UP_TO
        wanted = [n.label for n in trace.nodes
                  if n.kind == "input" or (small and n.name and n.op and n.id != trace.output)]
        if not small:
            wanted = [wrt] if wrt else []
        wanted = list(dict.fromkeys(wanted))
        explanation = explain(trace, wanted or None)
    return explanation


def player_data(trace, *, title: str | None = None, intro: str = "", program: str | None = None,
                wrt: str | None = None, params=None, lr: float | None = None,
                explanation=None, collapse: bool | None = None, step_notes=None) -> dict:
    """Everything the player needs, as JSON-ready data.

    ``wrt``: whose chain to show first (default: the deepest input);
    ``params``: which inputs the gradient-descent button updates (default:
    :func:`guess_params`); ``explanation``: an :class:`~chainrule.explain.Explanation`
    of this trace (default: made here); ``step_notes``: one line per player
    step (a lesson's words), used only if the counts match.
    """
    params = list(params) if params is not None else guess_params(trace)
    labels = {n.label for n in trace.inputs}
    for p in params:
        if p not in labels:
            from ..errors import InputError
            raise InputError(f"unknown parameter {p!r}: parameters must be inputs: {', '.join(sorted(labels))}")
    wrt = wrt if wrt is not None else default_wrt(trace, params)
    if wrt is not None and trace.has_grads:
        trace.node(wrt)   # raises KeyError naming the labels
    expl = _explanation(trace, wrt, explanation)
    links, rhs, mode, link_formulas = [], {}, "ops", {}
    exprs = expressions(trace)
    shown = _shown_formula(trace, exprs)
    if expl is not None:
        graph = expl.graph
        mode = expl.mode
        links = list(graph.links)
        rhs = {i: graph.rhs(i) for i in links if trace.nodes[i].op}
        # formulas (text) of every factor, and the recorded values the page's folds must reproduce
        link_formulas = {str(top): [[e.bottom, e.slot, shown(e.formula), e.value] for e in graph.edges[top]]
                         for top in links if graph.edges.get(top)}
    groups = _groups(trace, collapse, mode)
    view = graph_view(trace, _sizes(trace, groups), groups=groups, gap_x=50)
    layout = _layout_json(view.layout)
    layout["routes_under"] = [view.under.get((r.src, r.dst, r.port), [])
                              for r in view.layout.routes]
    layout["groups"] = {k: {"root": g.root, "members": g.members, "title": group_lines(trace, g)[0],
                            **({"line": 1} if g.line else {}), **_layout_json(g.layout, k + ":")}
                        for k, g in view.groups.items()}
    # the page recomputes with the op table's JS: only numbers, every op a row it has, every value known
    # (a trace of a PyTorch graph may hold PyTorch's own ops and values PyTorch did not keep)
    numeric = all(n.shape is None and (n.op in OPS if n.op else n.value is not None) for n in trace.nodes)
    return {
        "version": 1,
        "digits": get_digits(),
        "title": title or f"Backpropagation through {display_name(trace, trace.nodes[trace.output])}",
        "intro": intro or "",
        "program": program,
        "trace": trace.to_dict(),
        "explanation": expl.to_dict(include_trace=False) if expl is not None else None,
        "mode": mode,
        "links": links,
        "rhs": {str(k): v for k, v in rhs.items()},
        # what the page writes for each operation, and local formulas written with those
        # expressions instead of generated labels (2·sub12 -> 2·(a2 − y)), where they differ
        "exprs": {str(k): v for k, v in exprs.items()},
        "local_formulas": _local_formulas(trace, shown),
        "link_formulas": link_formulas,
        "wrt": wrt,
        "params": params,
        "lr": lr if lr is not None else 0.1,
        "recompute": numeric,
        "domains": {name: op.domain for name, op in OPS.items() if op.domain},
        "layout": layout,
        "step_notes": list(step_notes) if step_notes else None,
    }


def _shown_formula(trace, exprs):
    """A function writing a formula with unnamed steps' expressions in place of their labels."""
    from ..explain.formulas import substitute
    unnamed = {n.label: exprs[n.id] for n in trace.nodes if n.op and not n.name and n.id in exprs}
    return lambda text: substitute(text, unnamed) if unnamed and isinstance(text, str) else text


def _local_formulas(trace, shown) -> dict:
    """node id -> the formula of each of its recorded local derivatives, for the nodes where
    writing them in the learner's terms changes them."""
    out = {}
    for step in trace.backward:
        texts = [shown(ls.formula) for ls in step.locals]
        if texts != [ls.formula for ls in step.locals]:
            out[str(step.node)] = texts
    return out


def _script_json(data) -> str:
    """JSON safe inside <script>: no '<' at all, and NaN/Infinity as JS literals.

    Escaping only '</' is not enough: '<!--<script>' in a title puts the HTML
    parser in its "double escaped" state, where the real </script> no longer ends the script.
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def player_fragment(data: dict, element_id: str = "chainrule-player") -> str:
    """A ``<div>`` plus the script that mounts the player in it (assets not included)."""
    return (f'<div id="{escape(element_id, True)}" class="crp-host"></div>\n'
            f"<script>ChainrulePlayer.mount(document.getElementById({json.dumps(element_id)}), "
            f"{_script_json(data)});</script>")


def trace_to_html(trace, *, title: str | None = None, explanation=None, intro: str = "",
                  program: str | None = None, wrt: str | None = None, params=None,
                  lr: float | None = None, collapse: bool | None = None, step_notes=None) -> str:
    """A complete, self-contained HTML page playing ``trace`` step by step.

    ``explanation`` may be an :class:`~chainrule.explain.Explanation` of the
    trace, or a short text shown under the title (same as ``intro``).
    """
    if isinstance(explanation, str):
        intro, explanation = intro or explanation, None
    data = player_data(trace, title=title, intro=intro, program=program, wrt=wrt, params=params,
                       lr=lr, explanation=explanation, collapse=collapse, step_notes=step_notes)
    js, css = player_assets()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="chainrule">
<title>{escape(data["title"])}</title>
<style>
{css}
</style>
</head>
<body class="crp-page">
<script>
{js}
</script>
{player_fragment(data)}
<noscript><p>This page needs JavaScript to play the trace. The same numbers are in
<code>chainrule explain</code>.</p></noscript>
</body>
</html>
"""


# Notebook outputs: the static SVG at once, the player one click away. The
# player's code (about 70 kB) travels once per notebook, not once per output:
# the first output of a session carries it as inert text, and the button of
# any output runs it on demand (guarded by the global ``ChainrulePlayer``), so
# the tenth output costs its drawing and its data only. Renderers that strip
# scripts (a notebook viewer) still show the SVG.
PLAYER_IN_NOTEBOOK_UP_TO = 3000
_CODE_ATTR = "data-chainrule-player-code"
_notebook = {"code_sent": False, "outputs": 0}


def _inert(text: str) -> str:
    """Text that can sit in a ``<script type="text/plain">`` without ending it early."""
    return re.sub(r"</(script)", r"<\\/\1", re.sub(r"<!--", r"<\\!--", text, flags=re.I), flags=re.I)


def player_code_html() -> str:
    """The player's JS and CSS as inert blocks a notebook output runs on demand (once per page)."""
    js, css = player_assets()
    return (f'<script type="text/plain" {_CODE_ATTR}="js">{_inert(js)}</script>'
            f'<script type="text/plain" {_CODE_ATTR}="css">{_inert(css)}</script>')


class _PlayerCode:
    """What :func:`load_player` returns: notebooks display it as the player's code block."""

    def _repr_html_(self) -> str:
        _notebook["code_sent"] = True
        return '<div class="chainrule-player-code">chainrule: the interactive player is loaded on this page.' \
               + player_code_html() + "</div>"


def load_player() -> _PlayerCode:
    """Display this in a notebook cell to put the player's code on the page again
    (needed only if the output that carried it was cleared)."""
    return _PlayerCode()


# Runs when an output is displayed: wires the button; the player's code is run on the first click.
_LOADER = """(function () {
  var out = document.getElementById(%(id)s), data = %(data)s;
  var button = out.querySelector(".chainrule-open"), note = out.querySelector(".chainrule-note");
  button.addEventListener("click", function () {
    if (!window.ChainrulePlayer) {
      var js = document.querySelector('script[%(attr)s="js"]'), css = document.querySelector('script[%(attr)s="css"]');
      if (!js) {
        note.hidden = false;
        note.textContent = "The player's code is not on this page (the output that carried it was cleared): " +
          "run chainrule.viz.load_player() in a cell, then press the button again.";
        return;
      }
      var style = document.createElement("style");
      style.textContent = css ? css.textContent : "";
      document.head.appendChild(style);
      var script = document.createElement("script");
      script.textContent = js.textContent;
      document.head.appendChild(script);
    }
    var host = document.createElement("div");
    out.appendChild(host);
    window.ChainrulePlayer.mount(host, data);
    button.hidden = true; note.hidden = true;
    out.querySelector(".chainrule-static").hidden = true;
  });
})();"""


def _in_separate_frames() -> bool:
    """Notebooks that show each output in its own frame (Colab) need the code in every output."""
    import sys
    return "google.colab" in sys.modules


def notebook_html(trace, *, player: bool = True, code: bool | None = None) -> str:
    """HTML for Jupyter: the graph as inline SVG, and a button that opens the interactive player.

    ``code``: include the player's code in this output (default: only in the
    first output of the session, or always where outputs cannot see each other).
    """
    from .svg import trace_to_svg
    _notebook["outputs"] += 1
    element_id = f"chainrule-output-{_notebook['outputs']}-{id(trace) & 0xFFFFFF:x}"
    parts = [f'<div class="chainrule-output" id="{element_id}">',
             f'<div class="chainrule-static" style="overflow-x:auto;max-width:100%">{trace_to_svg(trace)}</div>']
    if player and len(trace.nodes) <= PLAYER_IN_NOTEBOOK_UP_TO:
        if code is None:
            code = not _notebook["code_sent"] or _in_separate_frames()
        if code:
            parts.append(player_code_html())
            _notebook["code_sent"] = True
        parts.append('<button type="button" class="chainrule-open" style="font:inherit;cursor:pointer;margin:6px 0;'
                     'padding:6px 12px;border:1px solid #c4ccd5;border-radius:8px;background:#fff">'
                     'Step through it: open the interactive player</button>'
                     '<p class="chainrule-note" hidden style="color:#8a1c12"></p>')
        parts.append("<script>" + _LOADER % {"id": json.dumps(element_id), "data": _script_json(player_data(trace)),
                                             "attr": _CODE_ATTR} + "</script>")
    parts.append("</div>")
    return "\n".join(parts)


def value_to_html(value, **kw) -> str:
    """:func:`notebook_html` of a Value's (or Tensor's) graph; gradients once ``backward()`` has run."""
    from .svg import repr_trace
    return notebook_html(repr_trace(value), **kw)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
