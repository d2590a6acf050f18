"""The lab's page components: seed 003's slider and heat map (and the other experiments) for any program.

Each component is one self-contained offline page (no network, no CDN), keyboard-usable,
375 px wide on a phone, fine inside an iframe, with a text alternative for every graph. The
numbers are computed *in the page* by the JavaScript generated from the op table
(:func:`chainrule.ops.js_runtime`) through the player's evaluator (``ChainrulePlayer.computeState``
in ``viz/player.js``): dragging x reruns the recorded program, it never looks numbers up.

For a course builder, three levels::

    from chainrule.lab.pages import slope_page, slope_fragment, lab_assets
    html = slope_page("f = ½*x² − x + 1.5", at={"x": 2}, dx=0.1)        # a whole page (one file)
    div = slope_fragment("f = ½*x² − x + 1.5", at={"x": 2})              # a <div> holding its data
    js, css = lab_assets()                                               # once per page, for the fragments

A fragment is ``<div data-chainrule-lab="slope">`` with its data in a ``<script
type="application/json">`` child: it runs no code of its own, so a page with a strict
Content-Security-Policy (``chainrule serve``'s) can load the assets from files. ``lab.js`` mounts
every such ``<div>`` on the page when it runs (``ChainruleLab.mountAll()`` mounts later ones).

    slope_page(program, at=..., x=None, dx=0.1, span=None, title=None, intro="")
    landscape_page(program, at=..., x="x", y="y", steps=20, lr=0.1, grid=61, xrange=None, yrange=None, ...)
    vanish_page(depth=30, act="sigmoid", init="default", residual=False, norm=False, width=32, weight=1.0, ...)
    modes_page(ns=(1, 10, 100, 1000), program=SEED_CHAIN, at=None, measured=None, ...)

``program`` is program text (see :mod:`chainrule.lang`) or a parsed :class:`~chainrule.lang.Program`.
"""
from __future__ import annotations

from functools import lru_cache
from html import escape
from importlib import resources

from ..errors import InputError
from ..numfmt import fmt

__all__ = ["lab_assets", "page", "fragment", "slope_data", "slope_fragment", "slope_page", "landscape_data",
           "landscape_fragment", "landscape_page", "vanish_data", "vanish_fragment", "vanish_page",
           "modes_data", "modes_fragment", "modes_page",
           "MAX_PAGE_GRID", "PAGE_MAX_DEPTH"]

MAX_PAGE_GRID = 121
PAGE_MAX_DEPTH = 60


@lru_cache(maxsize=1)
def lab_assets() -> tuple[str, str]:
    """(JavaScript, CSS) of the lab's components: the op table's runtime and the player's evaluator
    (:func:`chainrule.viz.html.player_assets`), then ``lab.js``; ``lab.css``."""
    from ..viz.html import player_assets
    pkg = resources.files("chainrule.lab")
    js = player_assets()[0] + "\n" + pkg.joinpath("lab.js").read_text(encoding="utf-8")
    return js, pkg.joinpath("lab.css").read_text(encoding="utf-8")


def _script_json(data) -> str:
    from ..viz.html import _script_json as encode
    return encode(data)


def fragment(data: dict, element_id: str | None = None) -> str:
    """The ``<div>`` of one component with its data (``data["kind"]`` says which); no code, no assets."""
    ident = f' id="{escape(element_id, True)}"' if element_id else ""
    return (f'<div class="crl-host" data-chainrule-lab="{escape(data["kind"], True)}"{ident}>'
            f'<script type="application/json">{_script_json(data)}</script>'
            f'<noscript><p>This experiment needs JavaScript: it computes every number in the page. '
            f'The same numbers: <code>chainrule {escape(data["kind"])} --json</code>.</p></noscript></div>')


def page(parts, title: str, *, extra_js: str = "", extra_css: str = "") -> str:
    """A whole offline page holding the assets once and each fragment of ``parts`` (strings).

    ``extra_js`` / ``extra_css``: more components' code, run after ``lab.js`` (a component registers
    itself with ``ChainruleLab.KINDS[kind] = (host, data) => component`` and may use
    ``ChainruleLab.helpers``; ``ChainruleLab.mountAll()`` then mounts its ``<div>``s)."""
    js, css = lab_assets()
    js = js + ("\n" + extra_js + "\nChainruleLab.mountAll();" if extra_js else "")
    css = css + ("\n" + extra_css if extra_css else "")
    body = "\n".join([parts] if isinstance(parts, str) else parts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="chainrule">
<title>{escape(title)}</title>
<style>
{css}
</style>
</head>
<body class="crl-page">
<main style="padding: .75rem">
{body}
</main>
<script>
{js}
</script>
</body>
</html>
"""


def _program(program):
    from ..lang import Program, parse
    return program if isinstance(program, Program) else parse(program)


def _recorded(program, at: dict) -> dict:
    """The program's trace at ``at`` (what the page reruns) and the op rows' domains."""
    from ..ops import OPS
    run = program.run(at, unused="ignore")
    t = run.trace()
    return {"digits": _digits(), "trace": t.to_dict(), "program": program.text.strip(),
            "domains": {name: op.domain for name, op in OPS.items() if op.domain}}


def _values(program, at) -> dict:
    from ..lang import _check_values
    return _check_values(program, dict(at or {}), "ignore")


# --------------------------------------------------------------------------
# slope
# --------------------------------------------------------------------------

def slope_data(program, at=None, x: str | None = None, dx: float = 0.1, span=None, title: str | None = None,
               intro: str = "") -> dict:
    """The slope component's data: the recorded program, the input to drag, the step and the extent."""
    from .slope import pick_input, slope
    program = _program(program)
    at = _values(program, at)
    name = pick_input(program, x, "--x")
    r = slope(program, at, name, float(dx), span)       # checks everything, and is the engine's own answer
    xs = r["curve"]["xs"]
    return {"kind": "slope", **_recorded(program, at), "output": program.output, "x": name, "inputs": at,
            "at": at[name], "dx": float(dx), "span": [xs[0], xs[-1]],
            "title": title or f"The slope of {program.output} in {name}: the tangent line",
            "intro": intro or (f"Drag {name}: the dashed line touches the curve at one point, and its slope is "
                               f"d{program.output}/d{name} there. The tangent predicts {program.output}"
                               f"({name} + {fmt(r['dx'])}); the square is the true value."),
            "engine": {k: r[k] for k in ("value", "derivative", "prediction", "true_value")}}


def slope_fragment(program, at=None, *, element_id: str | None = None, **kw) -> str:
    return fragment(slope_data(program, at, **kw), element_id)


def slope_page(program, at=None, **kw) -> str:
    """One offline page: drag x and watch the tangent line (seed 003's slider, for any program)."""
    data = slope_data(program, at, **kw)
    return page(fragment(data), data["title"])


# --------------------------------------------------------------------------
# landscape
# --------------------------------------------------------------------------

def landscape_data(program, at=None, x: str = "x", y: str = "y", steps: int = 20, lr: float = 0.1,
                   grid: int = 61, xrange=None, yrange=None, title: str | None = None, intro: str = "") -> dict:
    """The landscape component's data: the recorded program, the two inputs, the extent and the descent."""
    from .slope import landscape
    program = _program(program)
    at = _values(program, at)
    if not (isinstance(grid, int) and 3 <= grid <= MAX_PAGE_GRID):
        raise InputError(f"grid {grid!r}: expected a whole number from 3 to {MAX_PAGE_GRID}")
    r = landscape(program, at, x, y, steps, float(lr), 3, arrows=0, xrange=xrange, yrange=yrange)
    g = r["grid"]
    nx, ny = r["x"], r["y"]
    f = program.output
    return {"kind": "landscape", **_recorded(program, at), "output": f, "x": nx, "y": ny, "inputs": at,
            "at": {nx: at[nx], ny: at[ny]}, "xrange": [g["xs"][0], g["xs"][-1]], "yrange": [g["ys"][0], g["ys"][-1]],
            "grid": grid, "steps": steps, "lr": float(lr),
            "title": title or f"{f}({nx}, {ny}) as a landscape: partial derivatives are slopes of slices",
            "intro": intro or (f"Click the heat map (warmer is higher). The two curves below are the slices "
                               f"through the point: vary {nx} with {ny} held, and vary {ny} with {nx} held. "
                               f"Their slopes are ∂{f}/∂{nx} and ∂{f}/∂{ny}; the arrow points downhill and the "
                               f"orange path is gradient descent."),
            "engine": {"value": r["value"], "partials": r["partials"],
                       "trajectory": [[p[nx], p[ny]] for p in r["trajectory"]]}}


def landscape_fragment(program, at=None, *, element_id: str | None = None, **kw) -> str:
    return fragment(landscape_data(program, at, **kw), element_id)


def landscape_page(program, at=None, **kw) -> str:
    """One offline page: click the heat map and watch both slices and their slopes (seed 003's heat map)."""
    data = landscape_data(program, at, **kw)
    return page(fragment(data), data["title"])


# --------------------------------------------------------------------------
# vanish
# --------------------------------------------------------------------------

def vanish_data(config=None, *, weight: float = 1.0, start: float = 1.0, title: str | None = None, intro: str = "",
                **options) -> dict:
    """The vanish component's data: the starting configuration (a :class:`~chainrule.lab.vanish.Config`, or its
    fields as keyword arguments) and the constants the page's network needs (gains, ε, the leaky slope)."""
    import math
    from ..nn.init import calculate_gain
    from . import vanish as V
    cfg = V.check_config(config if config is not None else V.Config(**options))
    if cfg.depth > PAGE_MAX_DEPTH:
        raise InputError(f"depth {cfg.depth}: the page's slider goes to {PAGE_MAX_DEPTH} layers")
    if cfg.width * cfg.width * PAGE_MAX_DEPTH > 2_000_000 or cfg.batch > 64:
        raise InputError(f"width {cfg.width}, batch {cfg.batch}: too big to recompute in a page "
                         f"(width at most 180, batch at most 64)")
    for name, v in (("weight", weight), ("start", start)):
        if not math.isfinite(v):
            raise InputError(f"{name} {v}: expected a finite number")
    net = V.run_network(cfg)
    ch = V.run_chain(cfg.act, cfg.depth, weight, 0.0, start)
    return {"kind": "vanish", "config": {"act": cfg.act, "init": cfg.init, "depth": cfg.depth, "width": cfg.width,
                                         "residual": cfg.residual, "norm": cfg.norm, "batch": cfg.batch,
                                         "seed": cfg.seed},
            "weight": float(weight), "start": float(start), "acts": list(V.ACTS), "inits": list(V.INITS),
            "max_depth": PAGE_MAX_DEPTH, "eps": V.NORM_EPS, "leaky_slope": V.LEAKY_SLOPE,
            "gains": {a: calculate_gain(a, V.LEAKY_SLOPE if a == "leaky_relu" else None) for a in V.ACTS},
            "vanished": V.VANISHED, "exploded": V.EXPLODED, "digits": _digits(),
            "title": title or "Vanishing and exploding gradients",
            "intro": intro or ("A deep network at initialisation: how much gradient reaches each layer's weights "
                               "(one line per activation, the chosen one bold), and one neuron per layer, where the "
                               "gradient is a product of factors act′(z)·w. Change the depth, the activation, the "
                               "initialisation: both redraw, computed in this page."),
            "engine": {"grad_norms": net.grad_norms, "verdict": net.to_dict()["verdict"], "chain": ch.factors,
                       "product": ch.product}}


def _digits() -> int:
    from ..numfmt import get_digits
    return get_digits()


def vanish_fragment(config=None, *, element_id: str | None = None, **kw) -> str:
    return fragment(vanish_data(config, **kw), element_id)


def vanish_page(config=None, **kw) -> str:
    """One offline page: a deep network's gradient norms and a chain of factors, redrawn as the controls change."""
    data = vanish_data(config, **kw)
    return page(fragment(data), data["title"])


# --------------------------------------------------------------------------
# modes
# --------------------------------------------------------------------------

SEED_CHAIN = "a1 = w1*a0; a2 = w2*a1; a3 = w3*a2; C = (a3 - y)**2"
SEED_CHAIN_AT = {"a0": 1.0, "w1": 2.0, "w2": 3.0, "w3": 0.5, "y": 2.0}


def modes_data(ns=(1, 10, 100, 1000), program=SEED_CHAIN, at=None, *, measured=None, title: str | None = None,
               intro: str = "") -> dict:
    """The modes component's data: the engine's measurements (:func:`chainrule.lab.modes.run_modes`, or
    ``measured``) and a program whose gradient the page computes both ways (default: seed 001's chain)."""
    from .modes import run_modes
    program = _program(program)
    at = _values(program, SEED_CHAIN_AT if at is None and program.text == SEED_CHAIN else at)
    result = measured if measured is not None else run_modes(list(ns), repeat=1)
    return {"kind": "modes", **_recorded(program, at), "output": program.output, "inputs": at,
            "measured": {k: result[k] for k in ("rows", "one_to_many", "functions", "crossover")},
            "title": title or "Forward vs reverse mode, measured",
            "intro": intro or ("Forward mode asks each input how it moves the output: one pass per input. Reverse "
                               "mode asks the output once and gets every input's answer in one backward sweep. The "
                               "charts are the engine's measurements on this machine; below, this page computes one "
                               "program's gradient both ways."),
            "engine": {"grads": program.run(at, unused="ignore").grads()}}


def modes_fragment(ns=(1, 10, 100, 1000), *, element_id: str | None = None, **kw) -> str:
    return fragment(modes_data(ns, **kw), element_id)


def modes_page(ns=(1, 10, 100, 1000), **kw) -> str:
    """One offline page: the engine's forward-vs-reverse measurements, and one gradient both ways in the page."""
    data = modes_data(ns, **kw)
    return page(fragment(data), data["title"])
