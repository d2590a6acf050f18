"""The web app: one page and a small JSON API, served by Starlette.

Everything the page needs (HTML, CSS, JS, the trace player) comes from this
app itself, so it works with no network. The API::

    POST /api/parse    {"program"}                          -> inputs, output
    POST /api/explain  {"program", "at", "wrt"?}            -> trace, explanation, text, grads, value
    POST /api/step     {"program", "at", "lr"?, "params"?}  -> values and loss before/after one step
    GET  /api/lessons, GET /api/lessons/{name}

Why the compute runs the way it does: explaining a program is CPU-bound
Python. It runs in a small thread pool (so the event loop keeps answering),
behind a semaphore with a bounded wait (so a burst queues instead of piling
up threads), under a wall-clock budget (so no request hangs). A computation
that overruns its budget keeps its slot until it really finishes: abandoned
work can never pile up behind the semaphore's back.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ChainruleError, InputError
from . import api
from .api import ApiError

__all__ = ["create_app", "MAX_BODY_BYTES"]

log = logging.getLogger("chainrule.web")

MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"
# The page loads nothing from elsewhere; the browser is told so too.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# --------------------------------------------------------------------------
# JSON in and out
# --------------------------------------------------------------------------

def _finite(x):
    """Replace inf/nan (which JSON cannot carry) by the strings "inf", "-inf", "nan"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def to_json(data) -> bytes:
    try:
        text = json.dumps(data, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError:  # an infinite gradient (sqrt'(0)) or a NaN (∂xʸ/∂y at x < 0)
        text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"))
    return text.encode()


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(to_json(data), status, headers=headers, media_type=JSON)


class ResponseCache:
    """The last answers, by request: explaining is a pure function of the request body.

    A class opening the same lesson sends the same request many times; each
    answer after the first is a dictionary lookup. Bounded in entries and bytes.
    Used from the event loop only, so it needs no lock.
    """

    def __init__(self, entries: int = 256, max_bytes: int = 32 * 1024 * 1024):
        self.entries, self.max_bytes = entries, max_bytes
        self.data: OrderedDict[str, bytes] = OrderedDict()
        self.size = 0
        self.hits = self.misses = 0

    def get(self, key: str) -> bytes | None:
        body = self.data.get(key)
        if body is None:
            self.misses += 1
            return None
        self.hits += 1
        self.data.move_to_end(key)
        return body

    def put(self, key: str, body: bytes) -> None:
        if not self.entries or len(body) > self.max_bytes // 8 or key in self.data:
            return
        self.data[key] = body
        self.size += len(body) + len(key)
        while len(self.data) > self.entries or self.size > self.max_bytes:
            k, b = self.data.popitem(last=False)
            self.size -= len(b) + len(k)


def _reject_constant(name: str):
    # Python's json accepts NaN and Infinity; JSON does not, and neither do we.
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request, limit: int):
    """The request body as JSON, read with a cap: a huge body is refused before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "the Content-Length header is not a number")
        if int(declared) > limit:
            raise ApiError(413, f"the request body is {int(declared)} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, 'the request body is empty: send a JSON object like {"program": "L = x**2"}')
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "the request body is not valid JSON: it is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, bad UTF-8, a number with thousands of digits
        where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e)[:120]
        raise ApiError(400, f"the request body is not valid JSON{where}: {reason}") from None


# --------------------------------------------------------------------------
# The compute runner
# --------------------------------------------------------------------------

class Compute:
    """Run API functions in a thread pool with bounded concurrency, queueing and time."""

    def __init__(self, slots: int = 2, queue_wait: float = 10.0, budget: float = 5.0):
        self.slots, self.queue_wait, self.budget = slots, queue_wait, budget
        self.executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="chainrule-compute")
        self._loop = None
        self._sem: asyncio.Semaphore | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        # One per event loop: a test client may start a fresh loop.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._sem = loop, asyncio.Semaphore(self.slots)
        return self._sem

    async def __call__(self, fn, *args):
        sem = self._semaphore()
        try:
            await asyncio.wait_for(sem.acquire(), self.queue_wait)
        except asyncio.TimeoutError:
            raise ApiError(503, "the server is busy; try again in a moment") from None
        future = asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

        def finished(f):  # runs when the thread is really done, even if we stopped waiting
            sem.release()
            if not f.cancelled():
                f.exception()  # mark it retrieved: an abandoned run's error is not news

        future.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.budget)
        except asyncio.TimeoutError:
            raise ApiError(422, f"this program took more than {self.budget:g} s to compute; "
                                "try a smaller one") from None

    def close(self):
        self.executor.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------
# Static files: the page, and the player's assets from chainrule.viz
# --------------------------------------------------------------------------

_STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
           "/app.js": ("app.js", "text/javascript; charset=utf-8"),
           "/app.css": ("app.css", "text/css; charset=utf-8")}


def _read_static(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def _player_assets() -> tuple[str, str]:
    """(js, css) of the trace player from chainrule.viz; empty if it is not there (the page then
    shows plain tables), so a missing or broken player never takes the whole app down."""
    try:
        from ..viz.html import player_assets
        return player_assets()
    except Exception:  # noqa: BLE001 - any failure here only costs the player
        log.warning("the trace player is not available; the page shows tables instead", exc_info=True)
        return "", ""


# --------------------------------------------------------------------------
# The app
# --------------------------------------------------------------------------

def cache_entries_from_env() -> int:
    """CHAINRULE_WEB_CACHE: answers to remember (default 256; 0 or empty turns the cache off)."""
    setting = os.environ.get("CHAINRULE_WEB_CACHE", "256").strip() or "0"
    if not setting.isdigit():
        raise InputError(f"CHAINRULE_WEB_CACHE must be a whole number of answers to remember, got {setting!r}")
    return int(setting)


def create_app(*, max_body: int = MAX_BODY_BYTES, slots: int = 2, queue_wait: float = 10.0,
               budget: float = 5.0, cache_entries: int | None = None) -> Starlette:
    """The Starlette app behind ``chainrule serve`` (also handy in tests).

    ``slots``: computations running at once; ``queue_wait``: how long a request
    may wait for a slot (then 503); ``budget``: seconds one computation may take
    (then 422); ``cache_entries``: answers remembered (default 256, or the
    environment variable CHAINRULE_WEB_CACHE; 0 turns the cache off).
    """
    if cache_entries is None:
        cache_entries = cache_entries_from_env()
    compute = Compute(slots, queue_wait, budget)
    cache = ResponseCache(cache_entries)
    static = {path: (_read_static(name), media) for path, (name, media) in _STATIC.items()}
    js, css = _player_assets()
    static["/player.js"] = (js.encode(), "text/javascript; charset=utf-8")
    static["/player.css"] = (css.encode(), "text/css; charset=utf-8")

    async def page(request: Request) -> Response:
        body, media = static[request.url.path]
        return Response(body, media_type=media, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    def post(fn):
        def answer(body) -> bytes:   # in a worker thread: the computing and the JSON writing
            return to_json(fn(body))

        async def endpoint(request: Request) -> Response:
            body = await read_json(request, max_body)
            key = f"{request.url.path}\n{json.dumps(body, sort_keys=True)}" if cache.entries else ""
            data = cache.get(key) if key else None
            if data is None:
                data = await compute(answer, body)
                if key:
                    cache.put(key, data)
            return Response(data, media_type=JSON)
        return endpoint

    async def lessons(request: Request) -> Response:
        return json_response(api.lessons_payload())

    async def lesson(request: Request) -> Response:
        return json_response(api.lesson_payload(request.path_params["name"]))

    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        return json_response(exc.payload(), exc.status, headers)

    async def user_error(request: Request, exc: ChainruleError) -> Response:
        return json_response(api.error_payload(exc), 400)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return json_response({"error": f"{exc.detail}: {request.method} {request.url.path}"}, exc.status_code,
                             exc.headers)

    async def bug(request: Request, exc: Exception) -> Response:
        # Only a bug in chainrule gets here: every bad input has its own 4xx above.
        log.exception("internal error on %s %s", request.method, request.url.path)
        return json_response({"error": f"internal error ({type(exc).__name__}); this is a bug in chainrule, "
                                       "please report it with the program you sent"}, 500)

    routes = [Route(path, page, methods=["GET", "HEAD"]) for path in static]
    routes += [
        Route("/api/parse", post(api.parse_payload), methods=["POST"]),
        Route("/api/explain", post(api.explain_payload), methods=["POST"]),
        Route("/api/step", post(api.step_payload), methods=["POST"]),
        Route("/api/lessons", lessons, methods=["GET"]),
        Route("/api/lessons/{name}", lesson, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        compute.close()   # the server is stopping: let the compute threads go

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        ApiError: api_error, ChainruleError: user_error, HTTPException: http_error, Exception: bug})
    app.state.compute, app.state.cache = compute, cache
    return app
