"""How trace() and explain() grow with the graph: 10³ … 10⁶ nodes, three shapes.

    python benchmarks/trace_scaling.py                 # 10³, 10⁴, 10⁵, 10⁶ nodes (a few minutes)
    python benchmarks/trace_scaling.py --max 100000    # stop at 10⁵ (about half a minute)
    python benchmarks/trace_scaling.py --shapes chain --full   # explain(..., full=True) too

Shapes (scalar ``Value`` graphs, built before the clock starts):

* ``chain``: ``y = tanh(0.999·y)`` repeated, one input ``x``, output ``L``;
* ``wide``: a flat sum ``L = x0 + x1 + …`` of named inputs (the case that was quadratic);
* ``mlp``: a 16 → h → h → 1 tanh network, every weight a named input.

Each (shape, size) runs in a fresh subprocess, so peak memory is its own.
Printed per case: nodes in the trace; CPU seconds for ``trace(L)`` and for
``explain(trace)`` (the default: a summary above 10,000 nodes); µs per node;
the peak memory each adds (``tracemalloc``, in bytes per node); and, per
shape, the fitted growth exponent of each time over the sizes from 10⁴ up
(1.0 is linear). Targets (issue 8): exponent ≤ 1.1, and a 10⁶-node chain
explained (summary) in under 5 s and under 1 GB. CPU time, not wall time,
is used because the machine may be shared; still, quote figures with care.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

CASE = r"""
import gc, json, sys, time, tracemalloc
from chainrule import Value
from chainrule.trace import trace
from chainrule.explain import explain
shape, n, full = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"

def chain(n):
    x = Value(0.5, name="x"); y = x
    for _ in range(max(n // 2, 1)):
        y = (y * 0.999).tanh()
    return y

def wide(n):
    xs = [Value(0.001 * i, name=f"x{i}") for i in range(max(n // 2, 2))]
    s = xs[0]
    for v in xs[1:]:
        s = s + v
    return s

def mlp(n):
    # a weight, a product and a sum per connection: nodes ≈ 3·h² + 52·h; pick h for about n nodes
    h = max(2, int((-52 + math.sqrt(52 ** 2 + 12 * n)) / 6))
    import random
    rng = random.Random(0)
    xs = [Value(rng.uniform(-1, 1)) for _ in range(16)]
    def layer(inputs, width, tag):
        out = []
        for j in range(width):
            acc = Value(0.0, name=f"{tag}b{j}", requires_grad=True)
            for i, v in enumerate(inputs):
                acc = acc + Value(rng.uniform(-0.5, 0.5), name=f"{tag}w{j}_{i}") * v
            out.append(acc.tanh())
        return out
    h1 = layer(xs, h, "l1")
    h2 = layer(h1, h, "l2")
    return layer(h2, 1, "l3")[0]

import math
L = {"chain": chain, "wide": wide, "mlp": mlp}[shape](n)
L.name = "L"
gc.collect()
t0 = time.process_time(); t = trace(L); t_trace = time.process_time() - t0
del t
gc.collect()
tracemalloc.start()
t = trace(L)
m_trace = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
gc.collect()
t0 = time.process_time(); e = explain(t, full=full); t_explain = time.process_time() - t0
del e
gc.collect()
tracemalloc.start()
e = explain(t, full=full)
m_explain = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
ok = all(c.matches is not False for c in e.chains)
print(json.dumps({"nodes": len(t.nodes), "trace_s": t_trace, "explain_s": t_explain,
                  "trace_bytes": m_trace, "explain_bytes": m_explain, "chains": len(e.chains),
                  "summary": e.summary is not None, "checks_agree": ok}))
"""


def run_case(shape: str, n: int, full: bool) -> dict:
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "src")
    env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", CASE, shape, str(n), "1" if full else "0"],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{shape} n={n} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def exponent(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of log(time) against log(nodes)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(max(t, 1e-9)) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max", type=int, default=10 ** 6, help="largest size (default 10⁶ nodes)")
    ap.add_argument("--shapes", default="chain,wide,mlp", help="comma-separated: chain, wide, mlp")
    ap.add_argument("--full", action="store_true", help="explain(..., full=True) instead of the default")
    args = ap.parse_args(argv)
    sizes = [n for n in (10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6) if n <= args.max]
    print(f"python {sys.version.split()[0]}; explain {'full=True' if args.full else 'default (summary above 10,000 nodes)'}")
    print(f"{'shape':6} {'nodes':>9} {'trace s':>8} {'µs/node':>8} {'B/node':>7} "
          f"{'explain s':>9} {'µs/node':>8} {'B/node':>7} {'chains':>6}  checks")
    failed = False
    for shape in args.shapes.split(","):
        rows = []
        for n in sizes:
            r = run_case(shape, n, args.full)
            rows.append(r)
            k = r["nodes"]
            print(f"{shape:6} {k:>9,} {r['trace_s']:>8.2f} {1e6 * r['trace_s'] / k:>8.1f} "
                  f"{r['trace_bytes'] / k:>7.0f} {r['explain_s']:>9.2f} {1e6 * r['explain_s'] / k:>8.1f} "
                  f"{r['explain_bytes'] / k:>7.0f} {r['chains']:>6}  {'agree' if r['checks_agree'] else 'MISMATCH'}",
                  flush=True)
            failed |= not r["checks_agree"]
        big = [r for r in rows if r["nodes"] >= 10 ** 4 * 0.9]
        if len(big) >= 2:
            et = exponent([(r["nodes"], r["trace_s"]) for r in big])
            ee = exponent([(r["nodes"], r["explain_s"]) for r in big])
            print(f"{shape:6} growth exponent from 10⁴ nodes: trace {et:.2f}, explain {ee:.2f} "
                  f"(target ≤ 1.1)")
        if shape == "chain" and rows[-1]["nodes"] >= 10 ** 6 and not args.full:
            r = rows[-1]
            print(f"chain  10⁶ nodes explained in {r['explain_s']:.2f} s (target < 5), "
                  f"{r['explain_bytes'] / 2**20:.0f} MiB (target < 1024); the trace itself "
                  f"{r['trace_s']:.2f} s, {r['trace_bytes'] / 2**20:.0f} MiB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
