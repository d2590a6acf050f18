"""How fast a big player page opens and answers in Chromium.

Workload: micrograd's demo MLP (2-16-16-1, about 1,000 nodes) traced and written
as one offline player page. The page is opened ``--repeats`` times in Debian's
Chromium (Playwright, no network); the script reports the load time (the
navigation's loadEventEnd) and the time to step to the end, expand a group and
recompute after a typed input. The reference in the same run is a blank page of
the same size, so the ratio shows what the player itself costs.

    python benchmarks/page_load.py              # 5 repeats
    python benchmarks/page_load.py --strict     # exit 1 if a target is missed

Targets: load under 2 s, step + expand + recompute under 1 s.
Needs: ``pip install playwright`` and ``apt-get install chromium`` (never ``playwright install``).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from chainrule import Value, trace
from chainrule.viz.html import trace_to_html

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
LOAD_TARGET_MS, INTERACT_TARGET_MS = 2000.0, 1000.0


def mlp_loss(sizes=(2, 16, 16, 1), seed=0) -> Value:
    rng = random.Random(seed)
    h = [Value(rng.uniform(-1, 1), name=f"x{i}") for i in range(sizes[0])]
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        out = []
        for j in range(n_out):
            act = Value(0.0, name=f"b{li}_{j}")
            for i in range(n_in):
                act = act + Value(rng.uniform(-1, 1), name=f"w{li}_{j}_{i}") * h[i]
            out.append(act.relu() if li < len(sizes) - 2 else act)
        h = out
    return (h[0] - 1.0) ** 2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("page_load.py needs Playwright: pip install playwright (and apt-get install chromium)")

    t = trace(mlp_loss())
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "mlp.html"
        page_path.write_text(trace_to_html(t, title="micrograd's demo MLP"), encoding="utf-8")
        blank = Path(tmp) / "blank.html"
        blank.write_text("<!doctype html><title>blank</title><pre>" + "x" * page_path.stat().st_size + "</pre>",
                         encoding="utf-8")
        loads, blanks, interacts = [], [], []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("http*://**", lambda route: route.abort())      # offline, as the page must be
            nav = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"
            for _ in range(args.repeats):
                page.goto(blank.as_uri())
                blanks.append(page.evaluate(nav))
                page.goto(page_path.as_uri())
                loads.append(page.evaluate(nav))
                t0 = time.perf_counter()
                page.click("[data-act=last]")
                page.locator(".crp-group[data-key]").first.click()
                page.fill("input[data-leaf-num='0']", "0.25")
                page.press("input[data-leaf-num='0']", "Enter")
                page.evaluate("() => ChainrulePlayer.players[0].S.value[0]")
                interacts.append((time.perf_counter() - t0) * 1000)
            browser.close()

    load, ref, act = min(loads), min(blanks), min(interacts)
    print(f"{len(t.nodes)}-node player page, {args.repeats} repeats (minimum of each):")
    print(f"  load                         {load:8.0f} ms   (blank page of the same size {ref:.0f} ms, "
          f"{load / max(ref, 1):.1f}×)   target < {LOAD_TARGET_MS:.0f} ms: {'met' if load < LOAD_TARGET_MS else 'MISSED'}")
    print(f"  step + expand + recompute    {act:8.0f} ms   target < {INTERACT_TARGET_MS:.0f} ms: "
          f"{'met' if act < INTERACT_TARGET_MS else 'MISSED'}")
    missed = load >= LOAD_TARGET_MS or act >= INTERACT_TARGET_MS
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
