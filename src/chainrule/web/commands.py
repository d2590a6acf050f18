"""``chainrule serve``: the web app on this machine.

Imported by ``chainrule.cli`` for every command, so Starlette and uvicorn are
imported only when the server really starts.
"""
from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import sys

from ..errors import InputError

__all__ = ["register", "serve", "is_loopback"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="run the web app (program editor, lessons, player) on this machine",
        description="Serve the chainrule web app: write a program, see every gradient explained, "
                    "step down the loss. Binds to loopback (127.0.0.1) unless told otherwise.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes (default 1; the work is CPU-bound, so more than the core count "
                        "does not help)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also accept requests whose Host header is NAME (repeatable; '*.example.org' for a "
                        "domain, '*' for any). By default only the bound address and localhost are accepted: "
                        "a web page elsewhere cannot reach this server through a name of its own")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (default warning)")
    p.set_defaults(func=serve)


def is_loopback(host: str) -> bool:
    """True if ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:  # a host name: loopback if every address it resolves to is
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def allowed_hosts(host: str, extra: list[str]) -> list[str]:
    """The Host header names to accept: the bound address, this machine's loopback names, ``extra``."""
    from .app import LOOPBACK_NAMES, host_name

    names = [*LOOPBACK_NAMES]
    if host not in ("0.0.0.0", "::", ""):       # a wildcard address is not a name anyone sends
        names.append(host.strip("[]").lower())
    for name in extra:
        given = name.strip().lower()
        plain = given[2:] if given.startswith("*.") else given
        if given != "*" and (not plain or "*" in plain or host_name(plain) != plain):
            raise InputError(f"--allow-host {name!r} is not a host name: give a name like 'box.example.org', "
                             "'*.example.org' for a whole domain, or '*' for any")
        names.append(given)
    return list(dict.fromkeys(names))


def raise_file_limit(want: int = 65536) -> int:
    """Raise this process's soft limit on open files toward the hard limit; return the soft limit.

    Each connection is a file descriptor: the common default of 1,024 let 1,100
    idle connections stop the server from accepting anyone."""
    try:
        import resource
    except ImportError:  # not on this platform: keep what there is
        return want
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return want if soft == resource.RLIM_INFINITY else soft


def _check_port(host: str, port: int) -> int:
    """The port to use (0: a free one, picked now so we can print it); refuse one that is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind((host, port))
        except OSError as e:
            if port and e.errno == errno.EADDRINUSE:
                raise InputError(f"port {port} on {host} is already in use: pick another with --port, "
                                 "or --port 0 for a free one") from None
            raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        return s.getsockname()[1]


def _need_web():
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise InputError(f'chainrule serve needs Starlette and uvicorn ({e.name} is missing): '
                         'pip install "chainrule[web]"') from None
    return uvicorn


def serve(args) -> int:
    uvicorn = _need_web()
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {args.port}")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if not is_loopback(args.host):
        print(f"chainrule serve: warning: binding {args.host} lets other machines reach this server; "
              "it has no login. Use --host 127.0.0.1 to keep it on this machine.", file=sys.stderr)
    from .app import cache_bytes_from_env, cache_entries_from_env
    from .server import settings

    cache_entries_from_env()          # refuse a bad setting before saying "serving on"
    cache_bytes_from_env()
    hosts = allowed_hosts(args.host, args.allow_host)
    _, max_connections = settings()   # refuse bad settings now
    files = raise_file_limit()
    if max_connections > files - 64:  # keep descriptors for the listening socket, logs, imports
        max_connections = max(16, files - 64)
    port = _check_port(args.host, args.port)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"chainrule: serving on http://{shown}:{port}/  (Ctrl+C to stop)", file=sys.stderr, flush=True)
    # The app and the protocol are made in each worker process: they read these while it runs.
    with _environment(CHAINRULE_WEB_ALLOWED_HOSTS=",".join(hosts),
                      CHAINRULE_WEB_MAX_CONNECTIONS=str(max_connections)):
        _run(uvicorn, args, port, max_connections)
    return 0


@contextlib.contextmanager
def _environment(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(uvicorn, args, port: int, max_connections: int) -> None:
    from .server import http_protocol

    # With several workers uvicorn must import the app itself in each process: give it the factory's path.
    uvicorn.run("chainrule.web.app:create_app", factory=True, host=args.host, port=port, http=http_protocol(),
                workers=args.workers if args.workers > 1 else None, log_level=args.log_level,
                access_log=False, timeout_graceful_shutdown=3,
                # idle keep-alive connections close after 5 s; a request must arrive whole within
                # request_timeout (server.py); header blocks over 16 kB are refused (h11: 400)
                timeout_keep_alive=5, h11_max_incomplete_event_size=16 * 1024,
                # the protocol caps connections first (503 + Retry-After); uvicorn's cap backs it up
                limit_concurrency=max_connections + 1, backlog=2048)
