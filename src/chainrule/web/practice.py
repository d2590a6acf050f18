"""``chainrule serve``'s practice pages: problems checked in the page, and the flashcards.

    GET /lab/practice?kind=chain&seed=7     a problem (any kind, a random seed by default), checked in the page
    GET /lab/cards                          the flashcards, progress kept in the browser
    GET /lab/practice.js, /lab/practice.css the components' code (the op table's JS, the player's evaluator)

The pages carry no inline code (the app's Content-Security-Policy allows scripts from itself only):
each component is a ``<div>`` holding its data as JSON, mounted by ``/lab/practice.js``.
"""
from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .lab import HEADERS   # the lab section's pages: framable by the app itself, forms to itself

__all__ = ["practice_routes", "PRACTICE_PAGES"]

PRACTICE_PAGES = [
    ("/lab/practice", "Practice, checked", "a fresh problem with friendly numbers; each answer checked in the page, "
                                          "the worked chain and the common slip when it is wrong"),
    ("/lab/cards", "Flashcards", "the lessons' cards and the op table's local gradients, spaced"),
]


def _shell(title: str, body: str) -> str:
    nav = " · ".join(f'<a href="{escape(p)}">{escape(t)}</a>' for p, t, _ in PRACTICE_PAGES)
    # the script at the end of the body, not deferred: it mounts the components when it runs
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{escape(title)} · chainrule</title>\n<link rel="icon" href="data:,">\n'
            f'<link rel="stylesheet" href="/lab/practice.css">\n</head>\n<body class="crq-page">\n'
            f'<nav class="crq-nav" aria-label="practice"><a href="/">chainrule</a> — {nav}</nav>\n<main>\n{body}\n'
            f'</main>\n<script src="/lab/practice.js"></script>\n</body>\n</html>\n')


def _query_int(request: Request, name: str, low: int, high: int):
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


def practice_routes() -> list[Route]:
    from ..lab.cards import cards_fragment
    from ..lab.practice import KINDS, MAX_SEED, practice_assets, practice_fragment

    js, css = practice_assets()
    assets = {"/lab/practice.js": (js.encode(), "text/javascript; charset=utf-8"),
              "/lab/practice.css": (css.encode(), "text/css; charset=utf-8")}
    cards_html = _shell("Flashcards", cards_fragment()).encode()

    async def asset(request: Request) -> Response:
        body, media = assets[request.url.path]
        return Response(body, media_type=media, headers=HEADERS)

    async def practice(request: Request) -> Response:
        kind = request.query_params.get("kind") or None
        if kind not in KINDS:
            kind = None          # an unknown kind: any (the page's menu shows the kinds)
        seed = _query_int(request, "seed", 0, MAX_SEED)
        html = _shell("Practice, checked", practice_fragment(seed, kind))
        return Response(html, media_type="text/html; charset=utf-8", headers=HEADERS)

    async def cards(request: Request) -> Response:
        return Response(cards_html, media_type="text/html; charset=utf-8", headers=HEADERS)

    routes = [Route(path, asset, methods=["GET", "HEAD"]) for path in assets]
    routes += [Route("/lab/practice", practice, methods=["GET", "HEAD"]),
               Route("/lab/cards", cards, methods=["GET", "HEAD"])]
    return routes
