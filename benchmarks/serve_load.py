"""Load test for ``chainrule serve``: many concurrent clients, bounded in time, loopback only.

Starts ``chainrule serve`` on a free 127.0.0.1 port (a subprocess), then
drives it with ``--clients`` concurrent clients (asyncio streams, keep-alive) for
``--seconds``: explain requests for every lesson, random valid programs and
random bad ones (syntax errors, unknown functions, log of a negative, missing
inputs, non-JSON). Every request has a timeout; the run stops by itself.

Prints throughput, p50/p90/p99/max latency, counts by status class, transport
errors and timeouts, and checks the targets:

    zero 5xx · no hung request (timeouts) · p99 under 1 s · right answers

    python benchmarks/serve_load.py                 # 200 clients, 20 s, 2 workers
    python benchmarks/serve_load.py --seconds 5 --clients 50 --workers 1

The client runs on the same machine as the server (and shares its cores), so
the figures are a lower bound of what the server does alone.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"   # traffic goes to loopback only

# Run `chainrule serve` with this interpreter (the console script may be a shim).
SERVER = """
import sys
try:
    from chainrule.cli import main
except ImportError:  # no CLI module yet: the serve command on its own
    import argparse
    from chainrule.web.commands import register
    def main(argv):
        p = argparse.ArgumentParser(prog="chainrule")
        register(p.add_subparsers())
        a = p.parse_args(argv)
        return a.func(a)
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int) -> subprocess.Popen:
    cmd = [sys.executable, "-c", SERVER, "serve", "--host", HOST, "--port", str(port),
           "--workers", str(workers), "--log-level", "error"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def stop_server(proc: subprocess.Popen) -> str:
    """Stop the server we started (its process group: uvicorn's workers too); return its stderr."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
    return proc.stderr.read() if proc.stderr else ""


async def wait_ready(client, base: str, proc, deadline: float) -> list[dict]:
    """Poll until the server answers; return the lessons with their programs."""
    import httpx

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}:\n{stop_server(proc)}")
        try:
            r = await client.get(base + "/api/lessons", timeout=2)
            if r.status_code == 200:
                names = [l["name"] for l in r.json()["lessons"]]
                return [(await client.get(f"{base}/api/lessons/{n}", timeout=5)).json() for n in names]
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the server did not answer within 30 s")


# --------------------------------------------------------------------------
# What the clients send
# --------------------------------------------------------------------------

def _num(rng) -> float:
    return round(rng.uniform(-3, 3), 2)


VALID = [  # rng -> (program, its inputs)
    lambda r: (f"L = ({_num(r)}*x + {_num(r)})**2", ["x"]),
    lambda r: ("z = w*x + b\na = sigmoid(z)\nL = (a - y)**2", ["w", "x", "b", "y"]),
    lambda r: ("h = relu(w1*x + b1)\nout = w2*h + b2\nL = (out - y)**2", ["w1", "x", "b1", "w2", "b2", "y"]),
    lambda r: ("a = tanh(x*y)\nb = exp(-a) + sin(x)\nL = a*b + max(x, y)", ["x", "y"]),
    lambda r: ("u = x*x + y*y\nL = sqrt(u + 1)", ["x", "y"]),
]

INVALID = [  # bodies the server must refuse with a 4xx
    lambda r: {"program": "L = (3*x + 1)**", "at": {"x": 1}},                    # syntax error
    lambda r: {"program": "L = foo(x)", "at": {"x": 1}},                         # unknown function
    lambda r: {"program": "L = log(x)", "at": {"x": -abs(_num(r)) - 0.5}},       # log of a negative
    lambda r: {"program": "L = 1/(x - x)", "at": {"x": 2}},                      # division by zero
    lambda r: {"program": "L = x*y", "at": {"x": 1}},                            # missing input
    lambda r: {"program": "L = exp(x)", "at": {"x": 1000}},                      # overflow
    lambda r: {"program": 42, "at": {}},                                         # wrong type
    lambda r: [1, 2, 3],                                                         # array, not object
    lambda r: b"{not json",                                                      # not JSON
]


def make_request(rng: random.Random, lessons: list[dict]):
    """(path, body bytes, check) where check(response_json) -> bool says the answer is right."""
    roll = rng.random()
    if roll < 0.5 and lessons:
        lesson = rng.choice(lessons)
        body = {"program": lesson["program"], "at": lesson["inputs"], "lesson": lesson["name"]}
        if lesson.get("wrt"):
            body["wrt"] = lesson["wrt"]   # what the page sends for a lesson
        return "/api/explain", json.dumps(body).encode(), lambda d, l=lesson: _matches(d, l)
    if roll < 0.8:
        program, names = rng.choice(VALID)(rng)
        at = {n: _num(rng) for n in names}
        path = "/api/step" if rng.random() < 0.2 else "/api/explain"
        if path == "/api/step":
            return path, json.dumps({"program": program, "at": at, "lr": 0.01}).encode(), None
        return path, json.dumps({"program": program, "at": at}).encode(), None
    body = rng.choice(INVALID)(rng)
    return "/api/explain", body if isinstance(body, bytes) else json.dumps(body).encode(), None


def _matches(data: dict, lesson: dict) -> bool:
    """The lesson's stated values and gradients, as the server computed them (relative 1e-9)."""
    got = [(data.get("values", {}), lesson.get("expected", {})), (data.get("all_grads", {}), lesson.get("grads", {}))]
    for computed, stated in got:
        for name, want in stated.items():
            have = computed.get(name)
            if not isinstance(have, (int, float)) or abs(have - want) > 1e-9 * max(1.0, abs(want)):
                return False
    return True


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------

class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams.

    Why not httpx for the load itself: with 200 connections its pool costs
    more CPU than the server does (it shares these cores), so the figures
    would describe the client. This speaks just enough HTTP for our requests.
    """

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def request(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), HOST.encode(), self.port,
                                                               len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def drive(port: int, clients: int, seconds: float, timeout: float, lessons, seed: int, max_requests: int):
    latencies: list[float] = []
    status: dict[str, int] = {}
    errors: dict[str, int] = {}
    wrong = 0
    stop_at = time.monotonic() + seconds
    issued = 0

    async def one_client(i: int):
        nonlocal wrong, issued
        rng = random.Random(seed * 1000 + i)
        conn = Connection(port)
        try:
            while time.monotonic() < stop_at and issued < max_requests:
                issued += 1
                path, body, check = make_request(rng, lessons)
                t0 = time.perf_counter()
                try:
                    code, data = await asyncio.wait_for(conn.request(path, body), timeout)
                except asyncio.TimeoutError:
                    errors["timeout"] = errors.get("timeout", 0) + 1
                    conn.close()
                    continue
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                    conn.close()
                    continue
                latencies.append(time.perf_counter() - t0)
                cls = f"{code // 100}xx"
                status[cls] = status.get(cls, 0) + 1
                if check is not None and code == 200 and not check(json.loads(data)):
                    wrong += 1
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one_client(i) for i in range(clients))),
                           timeout=seconds + timeout + 30)
    elapsed = time.perf_counter() - t0
    return latencies, status, errors, wrong, elapsed


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def main_async(args) -> int:
    import httpx

    port = free_port()
    proc = start_server(port, args.workers)
    base = f"http://{HOST}:{port}"
    try:
        async with httpx.AsyncClient() as client:
            lessons = await wait_ready(client, base, proc, time.monotonic() + 30)
        print(f"server: chainrule serve on {base}, {args.workers} worker(s); {len(lessons)} lessons")
        print(f"load:   {args.clients} concurrent clients for {args.seconds:g} s "
              f"(timeout {args.timeout:g} s per request)")
        lat, status, errors, wrong, elapsed = await drive(port, args.clients, args.seconds, args.timeout,
                                                          lessons, args.seed, args.max_requests)
    finally:
        server_err = stop_server(proc)

    n = len(lat) + sum(errors.values())
    p50, p90, p99 = (percentile(lat, p) * 1000 for p in (50, 90, 99))
    worst = max(lat) * 1000 if lat else float("nan")
    print(f"\nrequests:    {n} in {elapsed:.1f} s = {n / elapsed:.0f} req/s")
    print(f"latency:     p50 {p50:.0f} ms · p90 {p90:.0f} ms · p99 {p99:.0f} ms · max {worst:.0f} ms")
    print("status:      " + " · ".join(f"{k} {v}" for k, v in sorted(status.items())))
    print("errors:      " + (" · ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none"))
    print(f"wrong lesson answers: {wrong}")
    tracebacks = server_err.count("Traceback")
    if tracebacks:
        print(f"server logged {tracebacks} traceback(s):\n{server_err[-3000:]}")

    checks = [
        ("zero 5xx", status.get("5xx", 0) == 0),
        ("no hung request (no timeouts)", errors.get("timeout", 0) == 0),
        ("no transport errors", not errors),
        ("p99 under 1 s", p99 < 1000),
        ("right answers for every lesson", wrong == 0),
        ("no server tracebacks", tracebacks == 0),
    ]
    print("\ntargets:")
    for name, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    return 0 if all(ok for _, ok in checks) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="how long to drive the server (default 20)")
    ap.add_argument("--clients", type=int, default=200, help="concurrent clients (default 200)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2: the core count)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds (default 10)")
    ap.add_argument("--max-requests", type=int, default=1_000_000, help="stop after this many requests")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not 0 < args.seconds <= 600:
        ap.error("--seconds must be in (0, 600]")
    if not 1 <= args.clients <= 1000:
        ap.error("--clients must be in [1, 1000]")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
