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
import hashlib
import json
import logging
import math
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ChainruleError, InputError
from ..numfmt import fixed, fmt
from . import api
from .api import ApiError
from .budget import OverBudget, limit

__all__ = ["create_app", "MAX_BODY_BYTES"]

log = logging.getLogger("chainrule.web")

MAX_BODY_BYTES = 64 * 1024
MAX_RESPONSE_BYTES = 4 * 1024 * 1024   # the largest answer sent (a lesson's is about 30 kB)
MAX_DEPTH = 32                     # levels of JSON nesting; a real request has three
# A request this big (program text, or number of inputs) computes in a lane of its own with one
# thread, so a class's small programs never queue behind it (a lesson's program is ~120 characters).
HEAVY_PROGRAM_CHARS = 1000
HEAVY_INPUTS = 40
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
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800") has no UTF-8 form. Requests holding one are refused on the
        # way in; this is the backstop for any other path: JSON's own \uXXXX escapes can say it.
        return json.dumps(_finite(data), ensure_ascii=True, separators=(",", ":")).encode()


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(to_json(data), status, headers=headers, media_type=JSON)


class ResponseCache:
    """The last answers, by request: explaining is a pure function of the request body.

    A class opening the same lesson sends the same request many times; each
    answer after the first is a dictionary lookup. Bounded in bytes (what it
    really holds: the answers, their keys and each entry's bookkeeping) and,
    optionally, in entries. Keys are digests of the request, so a 64 kB
    request costs 32 bytes of key. Used from the event loop only: no lock.
    """

    ENTRY_OVERHEAD = 200   # bytes: the dict slot, the ordered links, the key and the bytes object's headers

    def __init__(self, max_bytes: int = 16 * 1024 * 1024, entries: int | None = None):
        self.max_bytes, self.entries = max_bytes, entries
        self.data: OrderedDict[bytes, bytes] = OrderedDict()
        self.size = 0
        self.hits = self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0 and self.entries != 0

    @staticmethod
    def key(path: str, body) -> bytes:
        text = json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        return hashlib.sha256(f"{path}\n{text}".encode()).digest()

    def get(self, key: bytes) -> bytes | None:
        body = self.data.get(key)
        if body is None:
            self.misses += 1
            return None
        self.hits += 1
        self.data.move_to_end(key)
        return body

    def cost(self, key: bytes, body: bytes) -> int:
        return len(key) + len(body) + self.ENTRY_OVERHEAD

    def put(self, key: bytes, body: bytes) -> None:
        cost = self.cost(key, body)
        if not self.enabled or cost > self.max_bytes // 8 or key in self.data:
            return   # one answer may take an eighth of the cache at most
        self.data[key] = body
        self.size += cost
        while self.size > self.max_bytes or (self.entries is not None and len(self.data) > self.entries):
            k, b = self.data.popitem(last=False)
            self.size -= self.cost(k, b)


def _reject_constant(name: str):
    # Python's json accepts NaN and Infinity; JSON does not, and neither do we.
    raise ValueError(f"{name} is not valid JSON")


def _shown(text: str, limit: int = 40) -> str:
    """User text (a key) fit to quote in a message: short, and any lone surrogate escaped."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        code = ord(text[e.start])
        raise ApiError(400, f"{where} holds a lone surrogate (\\u{code:04x}) at character {e.start + 1}: "
                            "text must be valid Unicode (a character outside the BMP is one escape pair, "
                            "high then low)") from None


def check_decoded(value, max_depth: int = MAX_DEPTH) -> None:
    """Refuse decoded JSON that no endpoint could use: nesting past ``max_depth`` levels, or strings
    (keys too) with lone surrogates, which have no UTF-8 form and would break every reply that quotes them."""
    todo = [(value, "the request body", 0)]
    while todo:   # a loop, not recursion: the depth is what is being checked
        item, where, depth = todo.pop()
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                raise ApiError(400, f"the request body is nested too deeply ({where} is more than "
                                    f"{max_depth} levels down)")
            if isinstance(item, dict):
                for key, v in item.items():
                    _check_text(key, f"a key in {where}")
                    todo.append((v, f"{_shown(key)}" if depth == 0 else f"{where}.{_shown(key)}", depth + 1))
            else:
                todo.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))


def _check_media_type(request: Request) -> None:
    declared = request.headers.get("content-type")
    if declared is None:
        return   # curl --data-binary, a bare script: the body itself says whether it is JSON
    media = declared.split(";")[0].strip().lower()
    if media != JSON and not media.endswith("+json"):
        raise ApiError(415, f"the request body must be JSON, sent with Content-Type: {JSON} "
                            f"(this one says {_shown(media)})")


async def read_json(request: Request, limit: int):
    """The request body as JSON, read with a cap: a huge body is refused before it is all read."""
    _check_media_type(request)
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
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "the request body is not valid JSON: it is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, bad UTF-8, a number with thousands of digits
        where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e)[:120]
        raise ApiError(400, f"the request body is not valid JSON{where}: {reason}") from None
    check_decoded(value)
    return value


# --------------------------------------------------------------------------
# The compute runner
# --------------------------------------------------------------------------

def is_heavy(body) -> bool:
    """Whether a request looks expensive before it runs: a long program or many inputs."""
    if not isinstance(body, dict):
        return False
    program, at = body.get("program"), body.get("at")
    return ((isinstance(program, str) and len(program) > HEAVY_PROGRAM_CHARS)
            or (isinstance(at, dict) and len(at) > HEAVY_INPUTS))


class Compute:
    """Run API functions in a thread pool with bounded concurrency, queueing and time.

    ``budget`` is enforced inside the worker (:mod:`chainrule.web.budget`): a
    computation past it is stopped where it is, so its slot is free again
    within milliseconds, not when the pathological program would have finished.
    """

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

    def _over(self) -> ApiError:
        return ApiError(422, f"this program took more than {fmt(self.budget)} s to compute; try a smaller one")

    def _run(self, budget: float, fn, args):
        """In the worker thread: ``fn(*args)``, stopped at ``budget`` seconds."""
        lim = limit(budget)
        try:
            with lim:
                return fn(*args)
        except OverBudget:   # surfaced just outside the limit's own block (a race at its very end)
            pass
        except Exception:
            # Stopped inside C code, the stop can come out as another error (CPython 3.11's AST
            # builder turns any error into "SystemError: recursion depth mismatch"): once the limit
            # has fired, whatever the work raised is the budget's doing.
            if not lim.fired:
                raise
        raise self._over()   # the work was stopped at its budget

    async def __call__(self, fn, *args):
        sem = self._semaphore()
        try:
            await asyncio.wait_for(sem.acquire(), self.queue_wait)
        except asyncio.TimeoutError:
            raise ApiError(503, "the server is busy; try again in a moment") from None
        future = asyncio.get_running_loop().run_in_executor(self.executor, self._run, self.budget, fn, args)

        def finished(f):  # runs when the thread is really done, even if we stopped waiting
            sem.release()
            if not f.cancelled():
                f.exception()  # mark it retrieved: an abandoned run's error is not news

        future.add_done_callback(finished)
        try:
            # The limit stops Python code; a single long C call (none is expected) ends first.
            return await asyncio.wait_for(asyncio.shield(future), self.budget + 1.0)
        except asyncio.TimeoutError:
            raise self._over() from None

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

def _env_number(name: str, default: str, what: str) -> int:
    setting = os.environ.get(name, default).strip() or "0"
    if not setting.isdigit():
        raise InputError(f"{name} must be a whole number of {what}, got {setting!r}")
    return int(setting)


def cache_entries_from_env() -> int | None:
    """CHAINRULE_WEB_CACHE: at most this many answers remembered (unset: no count limit, only
    the size; 0 or empty turns the cache off)."""
    if "CHAINRULE_WEB_CACHE" not in os.environ:
        return None
    return _env_number("CHAINRULE_WEB_CACHE", "0", "answers to remember")


def cache_bytes_from_env() -> int:
    """CHAINRULE_WEB_CACHE_MB: megabytes of answers remembered (default 16; 0 turns the cache off)."""
    return _env_number("CHAINRULE_WEB_CACHE_MB", "16", "megabytes") * 1024 * 1024


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# Starlette's TestClient sends "Host: testserver"; a single-label name, not one a web page can point here.
TEST_CLIENT_HOST = "testserver"


def allowed_hosts_from_env() -> list[str]:
    """CHAINRULE_WEB_ALLOWED_HOSTS (set by ``chainrule serve``): comma-separated host names the
    Host header may carry; unset: this machine's loopback names only."""
    setting = os.environ.get("CHAINRULE_WEB_ALLOWED_HOSTS")
    if setting is None:
        return [*LOOPBACK_NAMES, TEST_CLIENT_HOST]
    return [h.strip() for h in setting.split(",") if h.strip()]


def _failure(exc: BaseException) -> tuple[int, str, bool]:
    """(status, message, is it a bug) for an exception no handler took."""
    if isinstance(exc, RecursionError):
        return 422, "this program is nested too deeply to compute here; split it into named steps", False
    if isinstance(exc, MemoryError):
        return 422, "this program needs more memory than the server allows; try a smaller one", False
    if isinstance(exc, OverflowError):
        return 422, f"a number overflowed while computing this program ({_shown(str(exc), 80)[1:-1]})", False
    return 500, (f"internal error ({type(exc).__name__}); this is a bug in chainrule, please report it "
                 "with the program you sent"), True


class Guard:
    """Every request ends in one answer and at most one log line.

    Starlette's own last-resort handler answers 500 and then re-raises, so
    uvicorn logs the traceback a second time and drops the connection. Here an
    exception that no handler took becomes a JSON answer (a 422 for the
    resource errors a program can cause, a 500 for a real bug, logged once),
    and a client that went away ends its request quietly.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            return   # the client left while sending: there is no one to answer, and nothing went wrong
        except Exception as exc:  # noqa: BLE001 - the last resort: one answer, one line
            status, message, is_bug = _failure(exc)
            where = f"{scope.get('method')} {scope.get('path', '')[:200]!r}"
            if is_bug:
                log.error("internal error on %s", where, exc_info=exc)
            else:
                log.warning("refused %s: %s: %s", where, type(exc).__name__, str(exc)[:200])
            if not started:
                await json_response({"error": message}, status)(scope, receive, send)


def host_name(header: str | None) -> str | None:
    """The name in a Host header, lower case, without port or IPv6 brackets; None if malformed."""
    if header is None:
        return None
    h = header.strip().lower()
    if h.startswith("["):                      # [::1]:8000
        name, close, port = h[1:].partition("]")
        if not close or (port and not (port[:1] == ":" and port[1:].isdigit())):
            return None
    else:
        name, _, port = h.partition(":")
        if port and not port.isdigit():        # a bare IPv6 address or junk
            return None
    return name or None


class HostCheck(TrustedHostMiddleware):
    """Starlette's TrustedHostMiddleware (DNS-rebinding protection), answering in JSON.

    A page on another site can make a browser send requests here by pointing
    its own domain at 127.0.0.1; the Host header then names that domain.
    """

    async def __call__(self, scope, receive, send):
        if self.allow_any or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("host")
        host = host_name(header)
        if host is not None and any(host == p or (p.startswith("*.") and host.endswith(p[1:]))
                                    for p in self.allowed_hosts):
            await self.app(scope, receive, send)
            return
        said = "no Host header" if header is None else f"the Host header {_shown(header)}"
        await json_response({"error": f"{said} is not a name of this server; start it with "
                                      "--allow-host NAME to accept another name"}, 400)(scope, receive, send)


def create_app(*, max_body: int = MAX_BODY_BYTES, slots: int = 2, queue_wait: float = 10.0,
               budget: float = 5.0, cache_entries: int | None = None, cache_bytes: int | None = None,
               max_response: int = MAX_RESPONSE_BYTES, allowed_hosts=None) -> Starlette:
    """The Starlette app behind ``chainrule serve`` (also handy in tests).

    ``slots``: computations running at once; ``queue_wait``: how long a request
    may wait for a slot (then 503 with Retry-After); ``budget``: seconds one
    computation may take (then 422: it is stopped there); ``cache_bytes``: the
    answers remembered, in bytes (default 16 MiB or CHAINRULE_WEB_CACHE_MB;
    0 turns the cache off); ``cache_entries``: optionally, at most this many
    (CHAINRULE_WEB_CACHE); ``max_response``: the largest answer sent (then 422);
    ``allowed_hosts``: names the Host header may carry (default
    CHAINRULE_WEB_ALLOWED_HOSTS, else the loopback names; ``["*"]``: any).
    """
    if cache_entries is None:
        cache_entries = cache_entries_from_env()
    if cache_bytes is None:
        cache_bytes = cache_bytes_from_env()
    if allowed_hosts is None:
        allowed_hosts = allowed_hosts_from_env()
    compute = Compute(slots, queue_wait, budget)
    heavy = Compute(1, queue_wait, budget)
    cache = ResponseCache(cache_bytes, cache_entries)
    static = {path: (_read_static(name), media) for path, (name, media) in _STATIC.items()}
    js, css = _player_assets()
    static["/player.js"] = (js.encode(), "text/javascript; charset=utf-8")
    static["/player.css"] = (css.encode(), "text/css; charset=utf-8")

    async def page(request: Request) -> Response:
        body, media = static[request.url.path]
        return Response(body, media_type=media, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    def post(fn):
        def answer(body) -> bytes:   # in a worker thread: the computing and the JSON writing
            data = to_json(fn(body))
            if len(data) > max_response:
                raise ApiError(422, f"the answer would be {fixed(len(data) / 1e6)} MB; the server sends at most "
                                    f"{fixed(max_response / 1e6)} MB: ask for fewer gradients with \"wrt\", "
                                    "or send a smaller program", field="program")
            return data

        async def endpoint(request: Request) -> Response:
            body = await read_json(request, max_body)
            key = cache.key(request.url.path, body) if cache.enabled else None
            data = cache.get(key) if key else None
            if data is None:
                data = await (heavy if is_heavy(body) else compute)(answer, body)
                if key:
                    cache.put(key, data)
            return Response(data, media_type=JSON)
        return endpoint

    async def lessons(request: Request) -> Response:
        return json_response(api.lessons_payload())

    async def lesson(request: Request) -> Response:
        return json_response(api.lesson_payload(request.path_params["name"]))

    async def course(request: Request) -> Response:
        """The built-in course (chainrule.book), built on first visit, then served as files."""
        import asyncio
        from starlette.responses import FileResponse, RedirectResponse
        from ..book.site import built_course, site_file
        if request.url.path == "/course":
            return RedirectResponse("/course/", status_code=308)
        root = await asyncio.to_thread(built_course)
        target = site_file(root, request.path_params.get("path", ""))
        if target is None:
            raise HTTPException(404, "no such page in the course")
        return FileResponse(target, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        return json_response(exc.payload(), exc.status, headers)

    async def user_error(request: Request, exc: ChainruleError) -> Response:
        return json_response(api.error_payload(exc), 400)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return json_response({"error": f"{exc.detail}: {request.method} {_shown(request.url.path, 80)}"},
                             exc.status_code, exc.headers)

    routes = [Route(path, page, methods=["GET", "HEAD"]) for path in static]
    routes += [
        Route("/api/parse", post(api.parse_payload), methods=["POST"]),
        Route("/api/explain", post(api.explain_payload), methods=["POST"]),
        Route("/api/step", post(api.step_payload), methods=["POST"]),
        Route("/api/lessons", lessons, methods=["GET"]),
        Route("/api/lessons/{name}", lesson, methods=["GET"]),
        Route("/course", course, methods=["GET", "HEAD"]),
        Route("/course/{path:path}", course, methods=["GET", "HEAD"]),
    ]
    from .practice import practice_routes
    routes += practice_routes()     # /lab/practice, /lab/cards (chainrule.web.practice)
    from .lab import lab_routes
    routes += lab_routes(compute)   # /lab: the experiments' pages (chainrule.web.lab)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        compute.close()   # the server is stopping: let the compute threads go
        heavy.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(HostCheck, allowed_hosts=allowed_hosts, www_redirect=False),
                                Middleware(Guard)],
                    exception_handlers={ApiError: api_error, ChainruleError: user_error, HTTPException: http_error})
    app.state.compute, app.state.heavy, app.state.cache = compute, heavy, cache
    return app
