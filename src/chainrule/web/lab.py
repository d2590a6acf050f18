"""``chainrule serve``'s lab section: each experiment's page component, for any program.

    GET /lab                                            the experiments, with a form for each
    GET /lab/slope?program=…&at=x=2&dx=0.1              drag x, watch the tangent line
    GET /lab/landscape?program=…&at=x=0.5 y=0.3&x=x&y=y&steps=20&lr=0.1
    GET /lab/vanish?depth=30&act=sigmoid&init=default   the deep network and the chain, redrawn as you change them
    GET /lab/modes?inputs=1,10,100                      forward vs reverse, measured; one gradient both ways
    GET /lab/lab.js, /lab/lab.css                       the components' code (the op table's JS, the player's evaluator)

The pages carry no inline code (the app's Content-Security-Policy allows scripts from itself
only): each component is a ``<div>`` holding its data as JSON, mounted by ``/lab/lab.js``.
A bad program or option is the page again, with the error on one line and the form filled in
(status 400). Building a page runs the program a few times, in the app's compute pool, under its
time budget. :data:`LAB_PAGES` lists the section's pages (path, title, what it shows) for the index.
"""
from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ChainruleError, InputError
from ..numfmt import fixed
from .api import ApiError

__all__ = ["lab_routes", "LAB_PAGES", "DEFAULTS"]

# The seeds' experiments, as the index links them (seed 003's slider and heat map; seed 001's chain).
DEFAULTS = {
    "slope": {"program": "f = ½*x² − x + 1.5", "at": "x=2", "dx": "0.1"},
    "landscape": {"program": "f = x² + 2*y²", "at": "x=0.5 y=0.3", "x": "x", "y": "y", "steps": "20", "lr": "0.1"},
    "vanish": {"depth": "10", "act": "sigmoid", "init": "default", "weight": "1"},
    "modes": {"inputs": "1,10,100"},
}
LAB_PAGES = [
    ("/lab/slope", "Slopes: the tangent line", "a derivative is the slope of the tangent line; drag x"),
    ("/lab/landscape", "Landscapes: slices and descent",
     "a partial derivative is the slope of one slice; click the heat map, watch gradient descent"),
    ("/lab/vanish", "Vanishing and exploding gradients",
     "‖∂L/∂W‖ per layer of a deep network, and a chain of factors multiplied"),
    ("/lab/modes", "Forward vs reverse mode", "passes and time against n, measured; one gradient both ways"),
]
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'self'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MAX_QUERY = 24_000
MAX_PAGE_BYTES = 4_000_000


def _shell(title: str, body: str) -> str:
    nav = " · ".join(f'<a href="{escape(p)}">{escape(t)}</a>' for p, t, _ in LAB_PAGES)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · chainrule lab</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/lab/lab.css">
<script src="/lab/lab.js" defer></script>
</head>
<body class="crl-page">
<main class="crl-main">
<nav class="crl-nav" aria-label="lab"><a href="/">chainrule</a> › <a href="/lab">lab</a> — {nav}</nav>
{body}
</main>
</body>
</html>
"""


def _form(kind: str, params: dict, fields: list[tuple[str, str, str]]) -> str:
    rows = []
    for name, label, hint in fields:
        value = escape(params.get(name, ""), True)
        fid = f"crl-f-{kind}-{name}"
        if name == "program":
            control = f'<textarea id="{fid}" name="{name}" rows="2" spellcheck="false">{value}</textarea>'
        else:
            control = f'<input id="{fid}" name="{name}" value="{value}" autocomplete="off">'
        rows.append(f'<label class="crl-field" for="{fid}">{escape(label)}{control}'
                    f'<span class="crl-hint">{escape(hint)}</span></label>')
    return (f'<form class="crl crl-form" method="get" action="/lab/{kind}">{"".join(rows)}'
            f'<button class="crl-btn" type="submit">Show</button></form>')


_FIELDS = {
    "slope": [("program", "program", "e.g. f = ½*x² − x + 1.5"), ("at", "at", "every input, e.g. x=2"),
              ("x", "vary", "the input to drag (default x)"), ("dx", "dx", "the prediction's step")],
    "landscape": [("program", "program", "e.g. f = x² + 2*y²"), ("at", "at", "every input, e.g. x=0.5 y=0.3"),
                  ("x", "x axis", "an input"), ("y", "y axis", "another input"), ("steps", "steps", "of descent"),
                  ("lr", "learning rate", "of descent")],
    "vanish": [("depth", "depth", "layers, 1 to 60"), ("act", "activation", "sigmoid, tanh, relu, leaky_relu, linear"),
               ("init", "init", "default, xavier, kaiming, large"), ("weight", "chain weight", "w in every layer")],
    "modes": [("inputs", "n", "sizes to measure, at most 1,000 here, e.g. 1,10,100")],
}


def _params(request: Request, kind: str) -> dict:
    if len(str(request.url.query)) > MAX_QUERY:
        raise InputError(f"the query is longer than {MAX_QUERY:,} characters")
    q = request.query_params
    if not any(name in q for name, _, _ in _FIELDS[kind]):
        return dict(DEFAULTS[kind])
    return {name: q.get(name, "") for name, _, _ in _FIELDS[kind]}


def _number(text: str, what: str, default: float | None = None) -> float:
    from ..lang import parse_number
    import math
    if not str(text).strip() and default is not None:
        return default
    try:
        v = parse_number(text)
    except ValueError:
        raise InputError(f"{what} {text!r}: not a number") from None
    if not math.isfinite(v):
        raise InputError(f"{what} {text}: expected a finite number")
    return v


def _whole(text: str, what: str, default: int, low: int, high: int) -> int:
    from ..lab.vanish import _whole
    return _whole(text if str(text).strip() else default, what, low, high)


def build(kind: str, p: dict) -> str:
    """The component's fragment for the page's parameters (raises ChainruleError on bad input)."""
    from ..cli import parse_at
    from ..lab import pages
    if kind == "slope":
        return pages.slope_fragment(p["program"], parse_at([p["at"]]), x=p.get("x") or None,
                                    dx=_number(p.get("dx", ""), "dx", 0.1))
    if kind == "landscape":
        return pages.landscape_fragment(p["program"], parse_at([p["at"]]), x=p.get("x") or "x", y=p.get("y") or "y",
                                        steps=_whole(p.get("steps", ""), "steps", 20, 0, 200),
                                        lr=_number(p.get("lr", ""), "lr", 0.1))
    if kind == "modes":
        from ..lab.modes import parse_inputs
        ns = parse_inputs(p.get("inputs") or "1,10,100")
        if max(ns) > 1000:
            raise InputError(f"n {max(ns)}: the server measures n up to 1,000 (the command goes further)")
        return pages.modes_fragment(ns)
    from ..lab.vanish import ACTS, INITS, parse_choices
    act = parse_choices(p.get("act") or "sigmoid", ACTS, "activation")[0]
    init = parse_choices(p.get("init") or "default", INITS, "init")[0]
    return pages.vanish_fragment(depth=_whole(p.get("depth", ""), "depth", 10, 1, 60), act=act, init=init,
                                 weight=_number(p.get("weight", ""), "weight", 1.0))


def lab_routes(compute) -> list[Route]:
    """The lab section's routes; ``compute`` is the app's pool (``await compute(fn, *args)``)."""
    from ..lab.pages import lab_assets
    js, css = lab_assets()
    assets = {"/lab/lab.js": (js.encode(), "text/javascript; charset=utf-8"),
              "/lab/lab.css": (css.encode(), "text/css; charset=utf-8")}

    async def asset(request: Request) -> Response:
        body, media = assets[request.url.path]
        return Response(body, media_type=media, headers=HEADERS)

    async def index(request: Request) -> Response:
        items = "".join(f'<li><a href="{escape(path)}?{escape(urlencode(DEFAULTS[path.rsplit("/", 1)[1]]), True)}">'
                        f'{escape(title)}</a>: {escape(what)}</li>' for path, title, what in LAB_PAGES)
        body = (f'<section class="crl"><h1 class="crl-title">The lab</h1><p class="crl-intro">The lessons\' ideas as '
                f'experiments: every number computed in the page by the op table\'s JavaScript.</p>'
                f'<ul class="crl-list">{items}</ul></section>')
        return Response(_shell("The lab", body), media_type="text/html; charset=utf-8", headers=HEADERS)

    def endpoint(kind: str):
        async def show(request: Request) -> Response:
            status, error = 200, ""
            try:
                p = _params(request, kind)
                component = await compute(build, kind, p)
                if len(component) > MAX_PAGE_BYTES:
                    raise InputError(f"the page would be {fixed(len(component) / 1e6)} MB; the server sends at most "
                                     f"{fixed(MAX_PAGE_BYTES / 1e6, 0)} MB: try a smaller program")
            except (ChainruleError, ApiError) as e:      # bad input; or over budget, or the server is busy
                p = {name: request.query_params.get(name, "") for name, _, _ in _FIELDS[kind]}
                status, component = getattr(e, "status", 400), ""
                error = f'<p class="crl crl-error" role="alert">error: {escape(" ".join(str(e).split()))}</p>'
            title = next(t for path, t, _ in LAB_PAGES if path == f"/lab/{kind}")
            body = _form(kind, p, _FIELDS[kind]) + error + component
            return Response(_shell(title, body), status, media_type="text/html; charset=utf-8", headers=HEADERS)
        return show

    routes = [Route(path, asset, methods=["GET", "HEAD"]) for path in assets]
    routes.append(Route("/lab", index, methods=["GET", "HEAD"]))
    routes += [Route(f"/lab/{kind}", endpoint(kind), methods=["GET", "HEAD"]) for kind in _FIELDS]
    return routes
