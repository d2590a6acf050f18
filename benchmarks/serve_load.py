"""Load test for ``chainrule serve``: many concurrent clients, bounded in time, loopback only.

Starts ``chainrule serve`` on a free 127.0.0.1 port (a subprocess), then
drives it with ``--clients`` concurrent clients (asyncio streams, keep-alive) for
``--seconds``: explain requests for every lesson, random valid programs and
random bad ones (syntax errors, unknown functions, log of a negative, missing
inputs, non-JSON). A ``--hostile`` share of the requests is hostile instead:
pathological programs (a flat sum of thousands of terms, 300 statements over
199 inputs, a 5,000-digit literal, overflow inside the explainer), lone
surrogates, deep JSON, oversized bodies, the wrong content type. Beside them,
``--slow`` connections drip a request one byte at a time or stop half-way
(slowloris), and after the load ``--idle`` connections are opened and held
while one more valid request must still be answered. Every request has a
timeout; the run stops by itself.

Prints throughput, p50/p90/p99/max latency of the valid requests (and of the
hostile ones apart), counts by status class, transport errors and timeouts,
the server's RSS over time, and checks the targets:

    zero 5xx · no hung request (timeouts) · p99 of valid requests under 500 ms ·
    right answers · RSS flat after warm-up · still answering with --idle connections open

    python benchmarks/serve_load.py                 # 200 clients, 60 s, 5 % hostile, 2 workers
    python benchmarks/serve_load.py --seconds 5 --clients 50 --workers 1 --hostile 0 --idle 0

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


def start_server(port: int, workers: int, request_timeout: float | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-c", SERVER, "serve", "--host", HOST, "--port", str(port),
           "--workers", str(workers), "--log-level", "warning"]
    env = dict(os.environ)
    if request_timeout is not None:
        env["CHAINRULE_WEB_REQUEST_TIMEOUT"] = str(request_timeout)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)


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


def _wide(inputs: int = 199, statements: int = 300) -> dict:
    lines = ["a0 = x0"] + [f"a{i} = a{i - 1}*x{i % inputs} + x{(i * 7) % inputs}" for i in range(1, statements)]
    return {"program": "\n".join(lines + [f"L = a{statements - 1}"]), "at": {f"x{i}": 0.5 for i in range(inputs)}}


JSON_TYPE = "application/json"
HOSTILE = [  # rng -> (body bytes, content type, what the server must answer: "4xx" or "2xx/4xx")
    lambda r: (json.dumps(_wide()).encode(), JSON_TYPE, "2xx/4xx"),                    # the 4.7 kB request
    lambda r: (json.dumps({"program": "L = " + "+".join(["x"] * 2500), "at": {"x": 1}}).encode(), JSON_TYPE,
               "2xx/4xx"),                                                               # flat sum, 2,500 terms
    lambda r: (json.dumps({"program": "L = " + "(" * 400 + "x" + ")" * 400, "at": {"x": 1}}).encode(),
               JSON_TYPE, "2xx/4xx"),                                                    # deep parentheses
    lambda r: (json.dumps({"program": "L = " + "9" * 5000 + "*x", "at": {"x": 1}}).encode(), JSON_TYPE, "4xx"),
    lambda r: (json.dumps({"program": "a = x*1e308\nb = x*1e308\nL = a - b", "at": {"x": 1}}).encode(),
               JSON_TYPE, "2xx/4xx"),                                                    # fsum overflow
    lambda r: (b'{"program": "L = x", "at": {"\\ud800": 1}}', JSON_TYPE, "4xx"),        # lone surrogate
    lambda r: (b'{"program": "L = x*y", "at": {"x": 1}, "wrt": ["\\udfff"]}', JSON_TYPE, "4xx"),
    lambda r: (b"[" * 20000 + b"]" * 20000, JSON_TYPE, "4xx"),                           # deep JSON
    lambda r: (b'{"program": "L = x", "at": {"x": 1}, "pad": "' + b"x" * 70_000 + b'"}', JSON_TYPE, "4xx"),
    lambda r: (b'{"program": "L = x", "at": {"x": 1}}', "text/plain", "4xx"),            # wrong content type
    lambda r: (b'{"program": "L = x", "at": {"x": ' + b"9" * 4500 + b"}}", JSON_TYPE, "4xx"),
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

    async def request(self, path: str, body: bytes, content_type: str = JSON_TYPE) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (path.encode(), HOST.encode(), self.port,
                                                               content_type.encode(), len(body), body))
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


class Tally:
    """Outcomes of one kind of request (valid or hostile)."""

    def __init__(self):
        self.latencies: list[float] = []
        self.status: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.wrong = 0
        self.samples: list[str] = []   # the first few 5xx answers, to show

    def error(self, name: str) -> None:
        self.errors[name] = self.errors.get(name, 0) + 1

    @property
    def count(self) -> int:
        return len(self.latencies) + sum(self.errors.values())


async def drive(port: int, clients: int, seconds: float, timeout: float, lessons, seed: int, max_requests: int,
                hostile: float = 0.0):
    valid, bad = Tally(), Tally()
    stop_at = time.monotonic() + seconds
    issued = 0

    async def one_client(i: int):
        nonlocal issued
        rng = random.Random(seed * 1000 + i)
        conn = Connection(port)
        try:
            while time.monotonic() < stop_at and issued < max_requests:
                issued += 1
                if rng.random() < hostile:
                    tally, check, path = bad, None, "/api/explain"
                    body, ctype, expect = rng.choice(HOSTILE)(rng)
                else:
                    tally, ctype, expect = valid, JSON_TYPE, None
                    path, body, check = make_request(rng, lessons)
                t0 = time.perf_counter()
                try:
                    code, data = await asyncio.wait_for(conn.request(path, body, ctype), timeout)
                except asyncio.TimeoutError:
                    tally.error("timeout")
                    conn.close()
                    continue
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
                    tally.error(type(e).__name__)
                    conn.close()
                    continue
                tally.latencies.append(time.perf_counter() - t0)
                cls = f"{code // 100}xx"
                tally.status[cls] = tally.status.get(cls, 0) + 1
                if code >= 500 and len(tally.samples) < 5:
                    tally.samples.append(f"{code} for {body[:80]!r}: {data[:200]!r}")
                if check is not None and code == 200 and not check(json.loads(data)):
                    tally.wrong += 1
                if expect is not None and cls not in expect.split("/"):
                    tally.wrong += 1
                if tally is bad:
                    conn.close()   # the server may close after refusing: start afresh
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one_client(i) for i in range(clients))),
                           timeout=seconds + timeout + 30)
    elapsed = time.perf_counter() - t0
    return valid, bad, elapsed


async def slow_clients(port: int, count: int, seconds: float, drip: float = 0.5) -> dict[str, int]:
    """``count`` connections that never finish a request in time: half drip one byte every ``drip``
    seconds, half send half a request and stop. Each counts how the server ended it."""
    outcomes: dict[str, int] = {}
    stop_at = time.monotonic() + seconds

    async def one(i: int):
        body = b'{"program": "L = x**2", "at": {"x": 3}}'
        raw = (b"POST /api/explain HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (HOST.encode(), port, len(body), body))
        while time.monotonic() < stop_at:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError as e:
                outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
                await asyncio.sleep(drip)
                continue
            try:
                if i % 2:
                    writer.write(raw[: len(raw) // 2])
                    answer = await asyncio.wait_for(reader.read(200), max(0.1, stop_at - time.monotonic() + 15))
                else:
                    answer = None
                    for b in raw:   # one byte, then wait for an answer as long as the next byte takes
                        writer.write(bytes([b]))
                        try:
                            answer = await asyncio.wait_for(reader.read(200), drip)
                            break   # the server answered or closed: stop dripping
                        except asyncio.TimeoutError:
                            continue
                    if answer is None:   # all of it sent in time (a generous timeout): read the answer
                        answer = await asyncio.wait_for(reader.read(200), 15)
                kind = answer[9:12].decode() if answer.startswith(b"HTTP/1.1 ") else "closed"
            except (OSError, asyncio.TimeoutError) as e:
                kind = type(e).__name__
            finally:
                writer.close()
            outcomes[kind] = outcomes.get(kind, 0) + 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return outcomes


async def idle_check(port: int, count: int, timeout: float) -> tuple[int, int | None, float]:
    """Open ``count`` idle connections, then send one valid request: (opened, its status, its latency)."""
    held = []
    try:
        for _ in range(count):
            try:
                held.append(await asyncio.open_connection(HOST, port))
            except OSError:
                break
        conn = Connection(port)
        t0 = time.perf_counter()
        try:
            code, _ = await asyncio.wait_for(
                conn.request("/api/explain", b'{"program": "L = (3*x + 1)**2", "at": {"x": 2}}'), timeout)
        except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
            code = None
        finally:
            conn.close()
        return len(held), code, time.perf_counter() - t0
    finally:
        for _, w in held:
            w.close()


def server_rss(pid: int) -> int:
    """Resident memory (bytes) of the server: every process in its process group (uvicorn's workers too)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pid:   # the process group id
                continue
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total


async def sample_rss(pid: int, every: float, samples: list, stop: asyncio.Event) -> None:
    t0 = time.monotonic()
    while not stop.is_set():
        samples.append((time.monotonic() - t0, server_rss(pid)))
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def raise_file_limit(want: int) -> None:
    """This client holds ``--clients`` + ``--slow`` + ``--idle`` sockets: raise its soft limit."""
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _lat(t: Tally) -> str:
    p50, p90, p99 = (percentile(t.latencies, p) * 1000 for p in (50, 90, 99))
    worst = max(t.latencies) * 1000 if t.latencies else float("nan")
    return f"p50 {p50:.0f} ms · p90 {p90:.0f} ms · p99 {p99:.0f} ms · max {worst:.0f} ms"


def _counts(d: dict) -> str:
    return " · ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"


async def main_async(args) -> int:
    import httpx

    raise_file_limit(args.clients + args.slow + args.idle + 256)
    port = free_port()
    proc = start_server(port, args.workers, args.request_timeout)
    base = f"http://{HOST}:{port}"
    samples: list[tuple[float, int]] = []
    try:
        async with httpx.AsyncClient() as client:
            lessons = await wait_ready(client, base, proc, time.monotonic() + 30)
        print(f"server: chainrule serve on {base}, {args.workers} worker(s); {len(lessons)} lessons")
        print(f"load:   {args.clients} concurrent clients for {args.seconds:g} s, {args.hostile:.0%} of requests "
              f"hostile, {args.slow} slow connections (timeout {args.timeout:g} s per request)")
        stop = asyncio.Event()
        sampler = asyncio.ensure_future(sample_rss(proc.pid, max(0.5, args.seconds / 30), samples, stop))
        slow = asyncio.ensure_future(slow_clients(port, args.slow, args.seconds)) if args.slow else None
        valid, bad, elapsed = await drive(port, args.clients, args.seconds, args.timeout, lessons, args.seed,
                                          args.max_requests, args.hostile)
        slow_outcomes = await slow if slow else {}
        idle = await idle_check(port, args.idle, args.timeout) if args.idle else None
        stop.set()
        await sampler
    finally:
        server_err = stop_server(proc)

    n = valid.count + bad.count
    print(f"\nrequests:    {n} in {elapsed:.1f} s = {n / elapsed:.0f} req/s ({valid.count} valid, {bad.count} hostile)")
    print(f"valid:       {_lat(valid)}")
    print(f"             status {_counts(valid.status)}; errors {_counts(valid.errors)}")
    if bad.count:
        print(f"hostile:     {_lat(bad)}")
        print(f"             status {_counts(bad.status)}; errors {_counts(bad.errors)}; "
              f"not the expected class {bad.wrong}")
    if args.slow:
        print(f"slow conns:  {_counts(slow_outcomes)}  (408: cut off by the server's request timeout)")
    if idle:
        print(f"idle conns:  {idle[0]} opened and held; then a valid request got {idle[1]} in {idle[2] * 1000:.0f} ms")
    print(f"wrong lesson answers: {valid.wrong}")
    mib = [(t, r / 2 ** 20) for t, r in samples]
    if mib:
        step = max(1, len(mib) // 10)
        print("server RSS:  " + " · ".join(f"{t:.0f}s {r:.0f}" for t, r in mib[::step]) + f" · end {mib[-1][1]:.0f} MiB")
    warm = [r for t, r in mib if t >= args.seconds * 0.25]
    growth = (max(warm) - warm[0]) if len(warm) > 1 else 0.0
    if len(warm) > 1:
        print(f"             after warm-up (from {args.seconds * 0.25:.0f} s): {warm[0]:.0f} → {warm[-1]:.0f} MiB, "
              f"peak {max(warm):.0f} MiB (+{growth:.0f})")
    for line in valid.samples + bad.samples:
        print(f"  5xx: {line}")
    tracebacks = server_err.count("Traceback")
    log_lines = len(server_err.splitlines())
    print(f"server log:  {log_lines} lines, {tracebacks} tracebacks")
    if tracebacks:
        print(server_err[-3000:])

    fivexx = valid.status.get("5xx", 0) + bad.status.get("5xx", 0)
    p99 = percentile(valid.latencies, 99) * 1000
    checks = [
        ("zero 5xx", fivexx == 0),
        ("no hung request (no timeouts)", valid.errors.get("timeout", 0) + bad.errors.get("timeout", 0) == 0),
        ("no transport errors on valid requests", not valid.errors),
        (f"p99 of valid requests under {args.p99:g} ms", p99 < args.p99),
        ("right answers for every lesson", valid.wrong == 0),
        ("hostile requests refused with a 4xx (or answered, bounded)", bad.wrong == 0),
        ("no server tracebacks", tracebacks == 0),
        (f"server log: at most one line per refused request", log_lines <= bad.count + sum(slow_outcomes.values()) + 12),
    ]
    if args.slow:
        checks.append(("slow connections cut off (408 or closed), none left hanging",
                       not any(k in ("TimeoutError", "timeout") for k in slow_outcomes)))
    if idle:
        checks.append((f"still answering with {args.idle} idle connections open", idle[1] == 200))
    if len(warm) > 1 and args.seconds >= 20:
        checks.append(("RSS flat after warm-up (grows < 10 % + 20 MiB)", growth < 0.1 * warm[0] + 20))
    print("\ntargets:")
    for name, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    return 0 if all(ok for _, ok in checks) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to drive the server (default 60)")
    ap.add_argument("--hostile", type=float, default=0.05, help="share of hostile requests (default 0.05)")
    ap.add_argument("--slow", type=int, default=10, help="slow (slowloris) connections beside the load (default 10)")
    ap.add_argument("--idle", type=int, default=1100,
                    help="idle connections held after the load while one more request must be answered (default 1100)")
    ap.add_argument("--request-timeout", type=float, default=None,
                    help="the server's request read timeout, s (default: the server's own, 10)")
    ap.add_argument("--p99", type=float, default=500.0, help="p99 target for valid requests, ms (default 500)")
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
    if not 0 <= args.hostile <= 1:
        ap.error("--hostile must be in [0, 1]")
    if not (0 <= args.slow <= 500 and 0 <= args.idle <= 5000):
        ap.error("--slow must be in [0, 500] and --idle in [0, 5000]")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
