"""uvicorn glue for ``chainrule serve`` (imported only when the server starts).

Why a protocol subclass: with ``--workers`` above 1, uvicorn binds the
listening socket itself and hands it to each worker, and asyncio only turns
Nagle's algorithm off (TCP_NODELAY) on connections whose listening socket
was made with an explicit ``IPPROTO_TCP``. Without it a response written in
two pieces (headers, then body) waits for the client's delayed ACK: every
request took 40 ms more, a throughput cap of ~25 requests/s per connection.
Setting TCP_NODELAY on each new connection fixes that whatever the socket.
"""
from __future__ import annotations

import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["NoDelayH11Protocol", "http_protocol"]


def _nodelay(transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # not a TCP socket after all: nothing to turn off
            pass


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport) -> None:
        _nodelay(transport)
        super().connection_made(transport)


try:  # uvicorn prefers httptools (faster parsing) when it is installed
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport) -> None:
            _nodelay(transport)
            super().connection_made(transport)
except ImportError:
    NoDelayHttpToolsProtocol = None


def http_protocol():
    """The HTTP protocol class to give uvicorn: httptools' if installed, else h11's; both with TCP_NODELAY."""
    return NoDelayHttpToolsProtocol or NoDelayH11Protocol
