"""Issue 12 items 1, 3, 6: the lab's page components in Chromium — seed 003's slider (drag, keyboard) and
heat map (click, keyboard), the vanish page (its network equals the engine's, controls redraw it),
offline (no request leaves the page), at phone width, in an iframe, and served by ``chainrule serve``
under its Content-Security-Policy. One browser for the module; screenshots go to the test's tmp folder."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from chainrule.lab import pages
from chainrule.lang import parse

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
CURVE = "f = ½*x² − x + 1.5"          # seed 003's slider
BOWL = "f = x² + 2*y²"                # seed 003's heat map

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package); browser tests need it",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lab")
    out = {"slope": d / "slope.html", "landscape": d / "landscape.html", "vanish": d / "vanish.html"}
    out["slope"].write_text(pages.slope_page(CURVE, at={"x": 2}, dx=0.1), encoding="utf-8")
    out["landscape"].write_text(pages.landscape_page(BOWL, at={"x": 0.5, "y": 0.3}, x="x", y="y"), encoding="utf-8")
    out["vanish"].write_text(pages.vanish_page(depth=12, act="tanh", init="kaiming", residual=True, norm=True,
                                               weight=0.7), encoding="utf-8")
    out["modes"] = d / "modes.html"
    out["modes"].write_text(pages.modes_page((1, 10, 30)), encoding="utf-8")
    (d / "frame.html").write_text('<!DOCTYPE html><title>course</title><iframe src="slope.html" '
                                  'style="width:380px;height:900px" title="slope"></iframe>', encoding="utf-8")
    out["frame"] = d / "frame.html"
    return out


class Page:
    """A page, every request it made and every script error it raised."""

    def __init__(self, browser, width=1100, height=900):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.requests, self.errors = [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def open(self, path):
        self.page.goto(path.as_uri(), wait_until="load")
        return self

    def text(self, selector) -> str:
        return self.page.inner_text(selector)

    def shot(self, path):
        self.page.screenshot(path=str(path), full_page=True)

    def close(self, offline=True):
        if offline:
            offsite = [u for u in self.requests if not u.startswith(("file:", "data:", "about:", "blob:"))]
            assert offsite == [], f"the page made network requests: {offsite}"
        assert self.errors == [], self.errors
        self.page.close()


def _engine(program, at, wrt):
    run = parse(program).run(at)
    return run.value, run.grads()[wrt] if isinstance(wrt, str) else [run.grads()[w] for w in wrt]


def cell(p, key) -> str:
    return p.text(f'[data-key="{key}"]').replace("\u2212", "-")


# --------------------------------------------------------------------------
# slope
# --------------------------------------------------------------------------

def test_slope_shows_seed_003s_numbers_then_follows_keyboard_and_drag(browser, files, tmp_path):
    p = Page(browser).open(files["slope"])
    assert (cell(p, "x"), cell(p, "value"), cell(p, "slope")) == ("2", "1.5", "1")
    assert cell(p, "prediction") == "1.5 + 1·0.1 = 1.6" and cell(p, "true") == "1.605"
    alt = p.text(".crl-alt")
    assert "slope 1" in alt and "1.605" in alt                 # the graph's text alternative says the same
    p.shot(tmp_path / "slope-desktop.png")

    # keyboard: the slider, one step right (the page reruns the program with the op table's JS)
    p.page.focus("input[type=range]")
    p.page.keyboard.press("ArrowRight")
    state = p.page.evaluate("(() => { const c = ChainruleLab.mounted[0]; return [c.x0, c.value, c.slope, c.prediction, c.trueValue]; })()")
    x0, v, d, pred, true = state
    assert x0 != 2
    ev, ed = _engine(CURVE, {"x": x0}, "x")
    assert v == pytest.approx(ev, abs=1e-15) and d == pytest.approx(ed, abs=1e-15)
    assert pred == pytest.approx(v + d * 0.1, abs=1e-15)
    assert true == pytest.approx(_engine(CURVE, {"x": x0 + 0.1}, "x")[0], abs=1e-15)
    assert cell(p, "x") == format(x0, ".6g") or float(cell(p, "x")) == pytest.approx(x0, rel=1e-5)

    # keyboard on the plot itself (focusable), then drag on it
    p.page.focus("svg[data-role=curve]")
    p.page.keyboard.press("Home")
    assert p.page.evaluate("ChainruleLab.mounted[0].x0") == 0.0
    box = p.page.locator("svg[data-role=curve]").bounding_box()
    p.page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    p.page.mouse.down()
    p.page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=4)
    p.page.mouse.up()
    x_drag = p.page.evaluate("ChainruleLab.mounted[0].x0")
    # the plot area is [60, 600 − 12] of 600 drawing units; x runs over [0, 4]
    want = (0.6 * 600 - 60) / (600 - 72) * 4
    assert x_drag == pytest.approx(want, abs=0.02)
    assert float(cell(p, "slope")) == pytest.approx(_engine(CURVE, {"x": x_drag}, "x")[1], rel=1e-5)
    p.close()


def test_components_at_phone_width_with_visible_focus(browser, files, tmp_path):
    for kind in ("slope", "landscape", "vanish", "modes"):
        p = Page(browser, width=375, height=800).open(files[kind])
        width = p.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{kind}: the page is {width} px wide at 375 px"
        p.page.keyboard.press("Tab")
        outline = p.page.evaluate("(() => { const e = document.activeElement; const s = getComputedStyle(e); "
                                  "return [e.tagName, s.outlineStyle, s.outlineWidth]; })()")
        assert outline[0] != "BODY" and outline[1] != "none" and outline[2] != "0px", (kind, outline)
        p.shot(tmp_path / f"{kind}-phone.png")
        p.close()


def test_slope_works_inside_an_iframe(browser, files):
    p = Page(browser).open(files["frame"])
    frame = p.page.frame_locator("iframe")
    frame.locator('[data-key="slope"]').wait_for()
    assert frame.locator('[data-key="prediction"]').inner_text() == "1.5 + 1·0.1 = 1.6"
    frame.locator("input[type=range]").focus()
    frame.locator("input[type=range]").press("End")
    assert frame.locator('[data-key="x"]').inner_text() == "4"
    inner = p.page.frames[1].evaluate("document.documentElement.scrollWidth")
    assert inner <= 380
    p.close()


# --------------------------------------------------------------------------
# landscape
# --------------------------------------------------------------------------

def test_landscape_click_and_keys_move_the_point_and_both_slices(browser, files, tmp_path):
    p = Page(browser).open(files["landscape"])
    assert (cell(p, "value"), cell(p, "dx"), cell(p, "dy")) == ("0.43", "+1", "+1.2")   # seed 003's readouts
    assert cell(p, "slice-x") == "+1" and cell(p, "slice-y") == "+1.2"
    path = p.page.evaluate("ChainruleLab.mounted[0].path")
    engine = p.page.evaluate("ChainruleLab.mounted[0].data.engine.trajectory")
    assert len(path) == len(engine) == 21
    for a, b in zip(path, engine, strict=True):            # the page's descent is the engine's, step by step
        assert a == pytest.approx(b, abs=1e-14)

    # click: x, y from the position in the heat map (x and y run over [−1, 1.5])
    box = p.page.locator("[data-role=heatmap]").bounding_box()
    p.page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.25)
    at = p.page.evaluate("ChainruleLab.mounted[0].at")
    assert at["x"] == pytest.approx(-1 + 0.2 * 2.5, abs=0.01) and at["y"] == pytest.approx(1.5 - 0.25 * 2.5, abs=0.01)
    value, (gx, gy) = _engine(BOWL, at, ["x", "y"])
    assert float(cell(p, "dx")) == pytest.approx(gx, rel=1e-5) and float(cell(p, "dy")) == pytest.approx(gy, rel=1e-5)
    assert float(cell(p, "slice-x")) == pytest.approx(gx, rel=1e-5)
    assert float(cell(p, "value")) == pytest.approx(value, rel=1e-5)
    assert "held at" in p.text(".crl-slice-cap")

    # keyboard: the heat map takes the arrow keys
    p.page.focus("[data-role=heatmap]")
    p.page.keyboard.press("ArrowUp")
    p.page.keyboard.press("ArrowLeft")
    after = p.page.evaluate("ChainruleLab.mounted[0].at")
    assert after["y"] == pytest.approx(at["y"] + 2.5 / 50) and after["x"] == pytest.approx(at["x"] - 2.5 / 50)
    # and so do the sliders
    p.page.focus("input[type=range] >> nth=1")
    p.page.keyboard.press("Home")
    assert p.page.evaluate("ChainruleLab.mounted[0].at.y") == -1
    alt = p.text(".crl-heat .crl-alt")
    assert "Heat map of f(x, y)" in alt and "downhill" in alt
    p.shot(tmp_path / "landscape-desktop.png")
    p.close()


# --------------------------------------------------------------------------
# vanish
# --------------------------------------------------------------------------

def test_vanish_page_network_is_the_engines_and_redraws(browser, files, tmp_path):
    from chainrule.lab import vanish as V
    p = Page(browser).open(files["vanish"])
    got = p.page.evaluate("(() => { const c = ChainruleLab.mounted[0]; return {page: c.grad_norms, engine: c.data.engine.grad_norms, "
                          "pc: c.chain.factors, ec: c.data.engine.chain}; })()")
    assert got["page"] == pytest.approx(got["engine"], rel=1e-12)        # same numbers, same network, in JS
    assert got["pc"] == got["ec"]
    # change the activation and switch the residual connections and the norm off: a redraw, still the engine's
    p.page.select_option("select >> nth=0", "sigmoid")
    p.page.uncheck("input[type=checkbox] >> nth=0")
    p.page.uncheck("input[type=checkbox] >> nth=1")
    p.page.focus("input[type=range] >> nth=0")
    for _ in range(3):
        p.page.keyboard.press("ArrowRight")
    page_norms = p.page.evaluate("ChainruleLab.mounted[0].grad_norms")
    want = V.run_network(V.Config(act="sigmoid", init="kaiming", depth=15, residual=False, norm=False)).grad_norms
    assert page_norms == pytest.approx(want, rel=1e-12)
    assert "(vanishing)" in p.text(".crl-alt")
    p.page.focus("input[type=range] >> nth=1")
    p.page.keyboard.press("Home")                                        # the chain's w: −2
    chain = p.page.evaluate("ChainruleLab.mounted[0].chain")
    assert chain["product"] == pytest.approx(V.run_chain("sigmoid", 15, -2.0).product, rel=1e-14)
    p.shot(tmp_path / "vanish-desktop.png")
    p.close()


# --------------------------------------------------------------------------
# modes
# --------------------------------------------------------------------------

def test_modes_page_differentiates_seed_001s_chain_both_ways(browser, files, seed_reference):
    ref = seed_reference["chain_1neuron_per_layer_A"]["gradients"]
    p = Page(browser).open(files["modes"])
    got = p.page.evaluate("(() => { const c = ChainruleLab.mounted[0]; return [c.forward, c.reverse, c.data.engine.grads]; })()")
    forward, reverse, engine = got
    for name in ("w1", "w2", "w3", "a0"):
        assert forward["grads"][name] == reverse["grads"][name] == engine[name] == ref[f"dC/d{name}"]
    assert (forward["passes"], reverse["passes"]) == (5, 1)       # one pass per input vs one sweep
    assert forward["evals"] == 5 * 5 and reverse["evals"] == 2 * 5   # 5 ops: 3 mul, sub, square
    assert "5 passes" in p.text('[data-key="modes-summary"]')
    p.page.click("button")                                          # computing again changes nothing
    assert p.page.evaluate("ChainruleLab.mounted[0].reverse.grads.w1") == 3
    alt = p.text(".crl-alt")
    assert "forward mode took 30 passes" in alt and "reverse mode 1 backward sweep" in alt
    p.close()


# --------------------------------------------------------------------------
# served: chainrule serve's lab section, under its Content-Security-Policy
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_url():
    uvicorn = pytest.importorskip("uvicorn", reason='uvicorn is not installed: pip install "chainrule[web]"')
    from chainrule.web import create_app
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="chainrule-lab-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_served_lab_pages_mount_under_the_csp(browser, base_url):
    p = Page(browser)
    p.page.goto(f"{base_url}/lab", wait_until="load")
    links = p.page.eval_on_selector_all(".crl-list a", "els => els.map(e => e.getAttribute('href'))")
    assert [h.split("?")[0] for h in links] == ["/lab/slope", "/lab/landscape", "/lab/vanish", "/lab/modes"]
    for href in links:
        p.page.goto(base_url + href, wait_until="load")
        p.page.wait_for_function("window.ChainruleLab && ChainruleLab.mounted.length === 1")
    p.page.goto(f"{base_url}/lab/slope?program=f+%3D+x*x*x&at=x%3D1&dx=0.5", wait_until="load")
    p.page.wait_for_function("window.ChainruleLab && ChainruleLab.mounted.length === 1")
    assert cell(p, "slope") == "3" and cell(p, "prediction") == "1 + 3·0.5 = 2.5"
    assert all(u.startswith(base_url) for u in p.requests)
    p.close(offline=False)


def test_served_lab_bad_input_is_the_form_with_one_error_line(browser, base_url):
    import urllib.request
    import urllib.error
    for query, words in (("program=f+%3D+x+%2B&at=x%3D1", "line 1"), ("program=f+%3Dx*y&at=x%3D1+y%3D2&x=q", "--x q"),
                         ("depth=0", "depth 0")):
        kind = "vanish" if query.startswith("depth") else "slope"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base_url}/lab/{kind}?{query}", timeout=30)
        assert e.value.code == 400
        body = e.value.read().decode()
        assert body.count('role="alert"') == 1 and words in body and "Traceback" not in body
        assert "data-chainrule-lab" not in body and "<form" in body
