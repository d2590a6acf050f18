"""How fast the lab's experiments run: ``modes`` at n = 1,000, ``vanish --depth 50``, and a page component in Chromium.

Each is timed (the minimum over ``--repeats`` runs) next to a reference measured in the same run:

* ``chainrule modes --inputs 1000`` (both functions, both modes, as the command runs them) against
  the same two Jacobians written by hand in NumPy (the floor for any engine);
* ``chainrule vanish --depth 50`` (the network with the tensor engine and the scalar chain) against
  the same network's forward and backward pass written by hand in NumPy;
* the slope, landscape and vanish pages opening in Chromium (navigation to the component mounted and
  drawn) against a blank page of the same size.

    python benchmarks/lab.py               # 3 repeats
    python benchmarks/lab.py --strict      # exit 1 if a target is missed
    python benchmarks/lab.py --no-browser  # the two commands only

Targets: ``modes`` at n = 1,000 under 2 s, ``vanish --depth 50`` under 2 s, a page under 1 s.
Needs: the package; for the pages ``pip install playwright`` and Debian's ``chromium``.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from chainrule.cli import main as cli

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
COMMAND_TARGET_S, PAGE_TARGET_S = 2.0, 1.0


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run_cli(*argv) -> None:
    with redirect_stdout(io.StringIO()):
        assert cli(list(argv)) == 0, argv


def numpy_modes(n: int = 1000) -> None:
    """The two Jacobians of ``chainrule modes`` by hand: ∂/∂w mean((w·x − y)²) and d/dt sin(t·c)."""
    from chainrule.lab.modes import loss_data
    w, x, y = loss_data(n)
    grad = 2 * (w * x - y) * x / n
    t, c = 0.7, np.linspace(0.5, 2.0, n)
    d = np.cos(t * c) * c
    assert grad.shape == (n,) and d.shape == (n,)


def numpy_vanish(depth: int = 50, width: int = 32) -> None:
    """The vanish network's forward and backward pass by hand (sigmoid, default init)."""
    from chainrule.lab import vanish as V
    cfg = V.Config(depth=depth, width=width)
    nums = V.network_numbers(cfg)
    h, hs, outs = nums["x"], [nums["x"]], []
    for W, b in zip(nums["W"], nums["b"], strict=True):
        a = 1 / (1 + np.exp(-(h @ W.T + b)))
        outs.append(a)
        h = a
        hs.append(h)
    g = np.broadcast_to(nums["r"] / cfg.batch, h.shape)
    for i in reversed(range(depth)):
        gz = g * outs[i] * (1 - outs[i])
        np.linalg.norm(gz.T @ hs[i])
        g = gz @ nums["W"][i]


def commands(repeats: int) -> list[tuple[str, float, float, float]]:
    rows = []
    t = best(lambda: run_cli("modes", "--inputs", "1000", "--json"), repeats)
    ref = best(numpy_modes, repeats)
    rows.append(("modes --inputs 1000", t, ref, COMMAND_TARGET_S))
    t = best(lambda: run_cli("vanish", "--depth", "50", "--json"), repeats)
    ref = best(numpy_vanish, repeats)
    rows.append(("vanish --depth 50", t, ref, COMMAND_TARGET_S))
    return rows


def pages(repeats: int) -> list[tuple[str, float, float, float]]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("lab.py needs Playwright for the pages: pip install playwright (and apt-get install chromium), "
                 "or run it with --no-browser")
    from chainrule.lab import pages as P
    made = {"slope": P.slope_page("f = ½*x² − x + 1.5", at={"x": 2}),
            "landscape": P.landscape_page("f = x² + 2*y²", at={"x": 0.5, "y": 0.3}),
            "vanish": P.vanish_page(depth=30)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for kind, html in made.items():
            path = Path(tmp) / f"{kind}.html"
            path.write_text(html, encoding="utf-8")
            blank = Path(tmp) / f"blank-{kind}.html"
            blank.write_text("<!DOCTYPE html><title>blank</title><p>" + "x" * len(html.encode()) + "</p>",
                             encoding="utf-8")

            def load(target, ready):
                page = browser.new_page()
                t0 = time.perf_counter()
                page.goto(target.as_uri(), wait_until="load")
                page.wait_for_function(ready)
                dt = time.perf_counter() - t0
                page.close()
                return dt

            times = [load(path, "window.ChainruleLab && ChainruleLab.mounted.length === 1") for _ in range(repeats)]
            refs = [load(blank, "document.readyState === 'complete'") for _ in range(repeats)]
            rows.append((f"{kind} page ({len(html) / 1024:.0f} kB) opened and drawn", min(times), min(refs), PAGE_TARGET_S))
        browser.close()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--no-browser", action="store_true", help="time the two commands only")
    args = ap.parse_args(argv)
    rows = commands(args.repeats)
    if not args.no_browser:
        rows += pages(args.repeats)
    missed = []
    print(f"{'what':46} {'chainrule':>11} {'reference':>11} {'ratio':>8} {'target':>8}")
    for what, t, ref, target in rows:
        ok = t < target
        if not ok:
            missed.append(what)
        print(f"{what:46} {t * 1e3:9.1f} ms {ref * 1e3:9.1f} ms {t / ref if ref else float('inf'):7.1f}× "
              f"< {target:g} s {'ok' if ok else 'MISSED'}")
    print("reference: NumPy by hand for the commands, a blank page of the same size for the pages")
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
