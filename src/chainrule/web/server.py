"""uvicorn glue for ``chainrule serve`` (imported only when the server starts).

The protocol class given to uvicorn adds what uvicorn itself does not bound:

* **TCP_NODELAY on every connection.** With ``--workers`` above 1, uvicorn
  binds the listening socket itself and hands it to each worker, and asyncio
  only turns Nagle's algorithm off on connections whose listening socket was
  made with an explicit ``IPPROTO_TCP``. Without it a response written in two
  pieces (headers, then body) waits for the client's delayed ACK: 40 ms more
  per request.
* **A request read timeout.** uvicorn's keep-alive timeout only starts after
  a response; a connection that sends nothing, half a request line, or a body
  shorter than its Content-Length was held open forever. Here every request
  must arrive whole within ``request_timeout`` seconds of the connection
  opening (or of the previous response): then a 408 (if it had started) and
  the connection is closed. The time the app spends computing is not counted
  (the app has its own budget).
* **A connection cap.** Past ``max_connections`` open connections in this
  process, a new one gets a 503 with Retry-After and is closed at once, so
  idle connections can never use up the file descriptors and leave the
  server unable to accept anyone.

Settings come from the environment (``chainrule serve`` sets them; with
several workers each worker process reads them): CHAINRULE_WEB_REQUEST_TIMEOUT
(seconds, default 10) and CHAINRULE_WEB_MAX_CONNECTIONS (default 4000).
"""
from __future__ import annotations

import logging
import os
import socket
import time

from uvicorn.protocols.http.h11_impl import H11Protocol

from ..numfmt import fmt

__all__ = ["GuardedH11Protocol", "http_protocol", "settings", "REQUEST_TIMEOUT", "MAX_CONNECTIONS"]

REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 4000

log = logging.getLogger("chainrule.web")


def settings() -> tuple[float, int]:
    """(request timeout in seconds, connection cap) from the environment, checked."""
    def number(name, default, kind):
        text = os.environ.get(name, "").strip()
        try:
            value = kind(text) if text else default
        except ValueError:
            value = None
        if value is None or not value > 0:
            from ..errors import InputError
            raise InputError(f"{name} must be a positive number, got {text!r}")
        return value
    return (number("CHAINRULE_WEB_REQUEST_TIMEOUT", REQUEST_TIMEOUT, float),
            number("CHAINRULE_WEB_MAX_CONNECTIONS", MAX_CONNECTIONS, int))


def _nodelay(transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not a TCP socket after all: nothing to turn off
            pass


def _raw_response(status: str, message: str, extra: str = "") -> bytes:
    body = ('{"error":"%s"}' % message).encode()
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"{extra}connection: close\r\n\r\n").encode() + body


class _Throttled:
    """One log line per ``every`` seconds at most, counting what it did not say."""

    def __init__(self, every: float = 5.0):
        self.every, self.last, self.unsaid = every, 0.0, 0

    def warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            self.unsaid += 1
            return
        more = f" (and {self.unsaid} more like it)" if self.unsaid else ""
        log.warning("%s%s", message, more)
        self.last, self.unsaid = now, 0


_refusals = _Throttled()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY, a request read timeout and a connection cap."""

    _settings: tuple[float, int] | None = None   # read once per process

    def connection_made(self, transport) -> None:
        _nodelay(transport)
        super().connection_made(transport)
        if GuardedH11Protocol._settings is None:
            GuardedH11Protocol._settings = settings()
        self._request_timeout, cap = GuardedH11Protocol._settings
        self._read_timer = None
        if len(self.connections) > cap:
            _refusals.warn(f"refused a connection: {cap} are open already")
            transport.write(_raw_response("503 Service Unavailable",
                                          f"the server has {cap} connections open; try again in a moment",
                                          "retry-after: 1\r\n"))
            transport.close()
            return
        self._sync_timer()

    # The timer runs while a request is still being read, and only then.
    def _reading(self) -> bool:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return True                                  # waiting for the (next) request
        return cycle.more_body and not cycle.response_started   # the body has not all arrived

    def _sync_timer(self) -> None:
        if self.transport is None or self.transport.is_closing():
            self._stop_timer()
        elif self._reading():
            if self._read_timer is None:
                self._read_timer = self.loop.call_later(self._request_timeout, self._timed_out)
        else:
            self._stop_timer()

    def _stop_timer(self) -> None:
        if getattr(self, "_read_timer", None) is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing() or not self._reading():
            return
        started = self.conn.trailing_data[0] or (self.cycle is not None and not self.cycle.response_complete)
        if started:   # part of a request came, not all of it: say so. An idle connection just closes.
            within = f"within {fmt(self._request_timeout)} s"
            log.info("closed a connection whose request was not complete %s", within)
            self.transport.write(_raw_response("408 Request Timeout", f"the request was not complete {within}"))
        self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        self._sync_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._sync_timer()

    def connection_lost(self, exc) -> None:
        self._stop_timer()
        super().connection_lost(exc)


def http_protocol():
    """The HTTP protocol class to give uvicorn (h11's, guarded as above)."""
    return GuardedH11Protocol
