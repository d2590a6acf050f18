"""The HTML player in a real browser: Debian's Chromium driven by Playwright.

Skipped, with the reason shown, when the playwright package or
/usr/bin/chromium is missing (this never downloads a browser).
Screenshots (desktop 1280 wide, phone 390 wide) go to the test's tmp dir.
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import time

import pytest

from chainrule import Value, trace
from chainrule.cli import main
from chainrule.lang import evaluate, gradient_step, parse

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

SIGMOID_NET = "z1 = w1*x + b1\na1 = sigmoid(z1)\nz2 = w2*a1 + b2\na2 = sigmoid(z2)\nL = (a2 - y)**2"
SIGMOID_AT = {"x": 1.0, "w1": 0.5, "w2": 0.8, "b1": 0.0, "b2": 0.0, "y": 1.0}

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
def sigmoid_page(tmp_path_factory):
    """The 13-step sigmoid network, exported by the command line."""
    path = tmp_path_factory.mktemp("player") / "sigmoid.html"
    at = [f"{k}={v:g}" for k, v in SIGMOID_AT.items()]
    assert main(["html", SIGMOID_NET, "--at", *at, "--title", "The chain rule, unfolded", "-o", str(path)]) == 0
    return path


class Page:
    """A page plus every request it made and every script error it raised."""

    def __init__(self, browser, width=1280, height=900):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def open(self, path):
        self.page.goto(path.as_uri(), wait_until="load")
        return self

    def text(self, selector) -> str:
        return self.page.inner_text(selector)

    def counter(self) -> str:
        return self.text(".crp-counter")

    def node_key(self, label) -> str:
        """The data-key of the box whose aria-label starts with ``label:``."""
        return self.page.eval_on_selector_all(
            "[data-key]", "(els, l) => els.find(e => e.getAttribute('aria-label').startsWith(l + ':')).dataset.key",
            label)

    def close(self):
        offsite = [u for u in self.requests if not u.startswith(("file:", "data:", "about:", "blob:"))]
        assert offsite == [], f"the page made network requests: {offsite}"
        assert self.errors == [], self.errors
        self.page.close()


@pytest.fixture
def page(browser):
    pages = []

    def make(width=1280, height=900):
        p = Page(browser, width, height)
        pages.append(p)
        return p
    yield make
    for p in pages:
        p.close()


def number_in(text: str) -> float:
    """The last number in a text, reading the Unicode minus."""
    nums = re.findall(r"[−-]?\d+(?:\.\d+)?(?:e[−-]?\d+)?", text)
    return float(nums[-1].replace("−", "-"))


def g6(x: float) -> str:
    """What the page shows: 6 significant digits and a real minus sign."""
    return f"{x:.6g}".replace("-", "−")


@pytest.fixture
def reference_w1_grad(seed_reference) -> float:
    """PyTorch's ∂L/∂w1 for the sigmoid network (../shared/reference/seed_examples.json)."""
    return seed_reference["sigmoid_net_squared"]["gradients"]["dL/dw1"]


# --------------------------------------------------------------------------

def test_step_to_the_end_then_inspect_w1(page, sigmoid_page, tmp_path, reference_w1_grad):
    p = page().open(sigmoid_page)
    assert p.counter() == "Step 1 / 13"
    p.page.screenshot(path=str(tmp_path / "desktop-setup.png"), full_page=True)
    seen = []
    for k in range(2, 14):
        p.page.click("[data-act=next]")
        assert p.counter() == f"Step {k} / 13"
        seen.append(p.text(".crp-narration"))
    # forward steps light a node with its numbers: z1 = w1 · x + b1 = 0.5 · 1 + 0 = 0.5
    assert "Forward" in seen[0] and "z1 = w1 · x + b1 = 0.5 · 1 + 0 = 0.5" in seen[0]
    assert "a1 = σ(z1) = σ(0.5) = 0.622459" in seen[1]
    # backward steps: incoming × local = contribution, e.g. at a1: −0.142208 × 0.235004 = −0.0334194
    back = [s for s in seen if s.startswith("Backward")]
    assert len(back) == 5
    assert any("−0.142208 × 0.235004" in s and "−0.0334194" in s for s in back)
    assert p.page.is_disabled("[data-act=next]")
    # the chain's five boxes are all lit at the end
    assert p.page.locator(".crp-chain .crp-factor.is-lit").count() == 5
    p.page.screenshot(path=str(tmp_path / "desktop-end.png"), full_page=True)

    p.page.click(f'[data-key="{p.node_key("w1")}"]')
    panel = p.text(".crp-node")
    for label in ("∂L/∂a₂", "∂a₂/∂z₂", "∂z₂/∂a₁", "∂a₁/∂z₁", "∂z₁/∂w₁"):
        assert label in panel, label
    expected = reference_w1_grad
    assert g6(expected) == "−0.0334194"
    assert f"∂L/∂w₁ = {g6(expected)}" in panel.replace("\n", " ")
    assert f"= {g6(expected)}" in p.text(".crp-chain")
    # the path from w1 to the output is highlighted: w1 → z1 → a1 → z2 → a2 → L, one box per line
    assert p.page.locator(".crp-edge.is-path").count() == 5
    p.page.screenshot(path=str(tmp_path / "desktop-w1.png"), full_page=True)


def test_slider_recomputes_the_gradient(page, sigmoid_page, reference_w1_grad):
    p = page().open(sigmoid_page)
    p.page.click("[data-act=last]")
    w1 = p.node_key("w1")
    p.page.click(f'[data-key="{w1}"]')
    before = number_in(p.text(".crp-chain-total strong"))
    assert before == pytest.approx(reference_w1_grad, abs=5e-7)

    # drag the slider (a range input fires "input" as it moves)
    p.page.eval_on_selector(f'input[data-leaf="{w1}"]',
                            "el => { el.value = '1.3'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    run = evaluate(SIGMOID_NET, {**SIGMOID_AT, "w1": 1.3})
    expected = run.grads()["w1"]
    shown = p.text(".crp-chain-total")
    assert g6(expected) in shown
    assert number_in(p.text(".crp-chain-total strong")) == pytest.approx(expected, rel=1e-5)
    assert f"∂L/∂w₁ = {g6(expected)}" in p.text(".crp-node").replace("\n", " ")
    torch = pytest.importorskip("torch")
    w = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    a2 = torch.sigmoid(0.8 * torch.sigmoid(w * 1.0 + 0) + 0)
    ((a2 - 1.0) ** 2).backward()
    assert expected == pytest.approx(w.grad.item(), rel=1e-12)

    # the number field takes any value and widens the slider
    p.page.fill(f'input[data-leaf-num="{w1}"]', "-7")
    p.page.press(f'input[data-leaf-num="{w1}"]', "Enter")
    expected = evaluate(SIGMOID_NET, {**SIGMOID_AT, "w1": -7}).grads()["w1"]
    assert number_in(p.text(".crp-chain-total strong")) == pytest.approx(expected, rel=1e-5)
    assert float(p.page.get_attribute(f'input[data-leaf="{w1}"]', "min")) <= -7


def test_page_recompute_matches_the_engine(page, tmp_path):
    """The page's JS (generated from the op table) against the Python engine, on every op."""
    program = ("u = exp(a*0.3) + log(b) - sqrt(c)\nv = tanh(u) * sigmoid(a) / (1 + abs(b - c))\n"
               "w = relu(v) + leaky_relu(a - 2, 0.1) + sin(c) * cos(b)\n"
               "q = maximum(w, a) + minimum(a, b) + pow(b, c) + v**3 - square(a)\nL = q / 2")
    at = {"a": 0.7, "b": 1.9, "c": 0.4}
    path = tmp_path / "ops.html"
    assert main(["html", program, "--at", *[f"{k}={v}" for k, v in at.items()], "-o", str(path)]) == 0
    p = page().open(path)
    for point in ({"a": 0.7, "b": 1.9, "c": 0.4}, {"a": 2.6, "b": 0.35, "c": 1.7}, {"a": -1.2, "b": 3.0, "c": 0.9}):
        got = p.page.evaluate("""(point) => {
            const P = ChainrulePlayer.players[0];
            const leaf = P.leaf.slice();
            for (const n of P.G.nodes) if (n.kind === 'input') leaf[n.id] = point[n.label];
            P.setLeaves(leaf, true);
            const out = {};
            for (const n of P.G.nodes) if (n.name) out[n.label] = [P.S.value[n.id], P.S.grad[n.id]];
            return out;
        }""", point)
        run = evaluate(program, point)
        run.output.backward()
        for name, v in run.values.items():
            value, grad = got[name]
            assert value == pytest.approx(v.data, rel=1e-12, abs=1e-14), name
            assert grad == pytest.approx(v.grad, rel=1e-9, abs=1e-12), name
    # and, untouched, the page shows the recorded numbers themselves
    t = evaluate(program, at).trace()
    p.page.click("[data-act=reset]")
    vals = p.page.evaluate("() => ChainrulePlayer.players[0].S.value")
    assert vals == pytest.approx([n.value for n in t.nodes], rel=1e-12)


def test_out_of_domain_input_is_reported_not_drawn(page, tmp_path):
    path = tmp_path / "log.html"
    assert main(["html", "L = log(q) * w", "--at", "q=2", "w=3", "-o", str(path)]) == 0
    p = page().open(path)
    p.page.click("[data-act=last]")
    q = p.node_key("q")
    p.page.fill(f'input[data-leaf-num="{q}"]', "-1")
    p.page.press(f'input[data-leaf-num="{q}"]', "Enter")
    err = p.text(".crp-error")
    assert "log(−1) is undefined at" in err and "log needs a positive input" in err
    assert "value 0.6931" in p.page.text_content(".crp-graph")     # the last inputs that worked stay drawn


def test_gradient_descent_steps_lower_the_loss(page, sigmoid_page):
    p = page().open(sigmoid_page)
    p.page.fill(".crp-lr", "0.5")
    for _ in range(3):
        p.page.click("[data-act=descend]")
    items = p.page.locator(".crp-history li").all_inner_texts()
    losses = [number_in(s) for s in items]
    assert len(losses) == 4 and losses == sorted(losses, reverse=True)
    # the same three steps with chainrule's Python engine
    program, values = parse(SIGMOID_NET), dict(SIGMOID_AT)
    for _ in range(3):
        values = gradient_step(program, values, 0.5, ["w1", "b1", "w2", "b2"]).new_values
    assert losses[-1] == pytest.approx(program.run(values).value, rel=1e-5)
    assert p.page.locator(".crp-spark polyline").count() == 1


def test_keyboard(page, sigmoid_page):
    p = page().open(sigmoid_page)
    p.page.keyboard.press("Space")
    p.page.keyboard.press("ArrowRight")
    assert p.counter() == "Step 3 / 13"
    p.page.keyboard.press("ArrowLeft")
    assert p.counter() == "Step 2 / 13"
    p.page.keyboard.press("End")
    assert p.counter() == "Step 13 / 13"
    # Tab reaches the boxes of the graph; Enter opens one
    key = p.node_key("a1")
    p.page.focus(f'[data-key="{key}"]')
    p.page.keyboard.press("Enter")
    assert p.text(".crp-node h2").startswith("a1 = σ(z1)")
    assert "∂a1/∂z1 = σ(z1)·(1−σ(z1)) = 0.235004" in p.text(".crp-node").replace("∂a₁/∂z₁", "∂a1/∂z1")
    p.page.keyboard.press("Tab")
    assert p.page.evaluate("() => document.activeElement.dataset.key") is not None


def test_phone_width(page, sigmoid_page, tmp_path):
    p = page(390, 844).open(sigmoid_page)
    for _ in range(8):
        p.page.click("[data-act=next]")
    width = p.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 391, f"the page is {width}px wide at a 390px viewport"
    box = p.page.locator("[data-act=next]").bounding_box()
    assert box["height"] >= 36 and box["x"] + box["width"] <= 390
    p.page.screenshot(path=str(tmp_path / "phone-step9.png"), full_page=True)
    p.page.click("[data-act=last]")
    p.page.click(f'[data-key="{p.node_key("w1")}"]')
    assert "−0.0334194" in p.text(".crp-node")
    p.page.screenshot(path=str(tmp_path / "phone-w1.png"), full_page=True)


def test_works_inside_an_iframe(page, sigmoid_page, tmp_path):
    host = tmp_path / "host.html"
    host.write_text(f'<!DOCTYPE html><title>course</title><h1>Lesson</h1>'
                    f'<iframe src="{sigmoid_page.as_uri()}" style="width:1000px;height:800px"></iframe>')
    p = page().open(host)
    frame = p.page.frames[1]
    frame.wait_for_selector(".crp-counter")
    frame.click("[data-act=next]")
    assert frame.inner_text(".crp-counter") == "Step 2 / 13"


def test_before_backward_says_not_computed_yet(page, tmp_path):
    from chainrule.viz.html import trace_to_html
    t = trace(evaluate(SIGMOID_NET, SIGMOID_AT).output, backward=False)
    path = tmp_path / "nograd.html"
    path.write_text(trace_to_html(t))
    p = page().open(path)
    assert "gradients not computed yet" in p.page.text_content(".crp-graph")
    assert "not computed yet" in p.text(".crp-chain")
    assert p.counter() == "Step 1 / 6"       # setup and five forward steps


def mlp_loss(sizes=(2, 16, 16, 1), seed=0):
    rng = random.Random(seed)
    h = [Value(rng.uniform(-1, 1), name=f"x{i}") for i in range(sizes[0])]
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        out = []
        for j in range(n_out):
            act = Value(0.0, name=f"b{li}_{j}")
            for i in range(n_in):
                act = act + Value(rng.uniform(-1, 1), name=f"w{li}_{j}_{i}") * h[i]
            out.append(act.relu() if li < len(sizes) - 2 else act)
        h = out
    return (h[0] - 1.0) ** 2


def test_thousand_node_page_loads_collapsed_and_stays_usable(page, tmp_path):
    """A 1,000-node page opens collapsed, steps, expands and recomputes. How fast it does so is
    measured in benchmarks/page_load.py (timings on a shared machine are not a unit test)."""
    from chainrule.viz.html import trace_to_html
    t = trace(mlp_loss())
    assert 900 <= len(t.nodes) <= 1100
    path = tmp_path / "mlp.html"
    path.write_text(trace_to_html(t, title="micrograd's demo MLP, 2-16-16-1"))
    p = page()
    p.open(path)
    assert p.page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd") > 0
    assert p.page.locator("[data-key]").count() < 80       # collapsed by default
    p.page.click("[data-act=last]")
    group = p.page.locator(".crp-group[data-key]").first
    group.click()
    assert p.page.locator(".crp-group.is-open").count() == 1
    before = p.page.evaluate("() => ChainrulePlayer.players[0].S.value[0]")
    p.page.fill("input[data-leaf-num='0']", "0.25")
    p.page.press("input[data-leaf-num='0']", "Enter")
    p.page.screenshot(path=str(tmp_path / "mlp-desktop.png"))
    after = p.page.evaluate("() => ChainrulePlayer.players[0].S.value[0]")
    assert not math.isnan(after)
    assert after == 0.25 != before                          # the first leaf took the typed value


def test_mount_again_and_values_sent_as_strings(page, tmp_path):
    """How a server embeds the player: JSON has no inf/NaN (sent as "inf"), and mounting
    again in the same element replaces the player (keys then step it once, not twice)."""
    from chainrule.viz.html import player_assets, player_data

    def strict(x):   # what chainrule serve sends: inf and nan as strings
        if isinstance(x, float) and not math.isfinite(x):
            return "nan" if x != x else ("inf" if x > 0 else "-inf")
        if isinstance(x, dict):
            return {k: strict(v) for k, v in x.items()}
        if isinstance(x, list):
            return [strict(v) for v in x]
        return x
    t = evaluate("L = sqrt(x) * w", {"x": 0, "w": 2}).trace()     # sqrt'(0) = inf
    data = json.dumps(strict(player_data(t)), allow_nan=False)
    js, css = player_assets()
    path = tmp_path / "host.html"
    path.write_text(f"<!DOCTYPE html><meta charset='utf-8'><style>{css}</style><script>{js}</script>"
                    f"<div id='host'></div><script>const d = {data};"
                    "ChainrulePlayer.mount(document.getElementById('host'), JSON.parse(JSON.stringify(d)));"
                    "ChainrulePlayer.mount(document.getElementById('host'), d);</script>")
    p = page().open(path)
    assert p.page.evaluate("() => ChainrulePlayer.players.length") == 1
    p.page.keyboard.press("ArrowRight")
    assert p.counter().startswith("Step 2 /")
    p.page.click("[data-act=last]")
    p.page.click(f'[data-key="{p.node_key("x")}"]')
    assert "inf" in p.text(".crp-node")      # numfmt's word for it, as in the text views
    x = int(p.node_key("x"))
    assert p.page.evaluate(f"() => ChainrulePlayer.players[0].S.grad[{x}]") == math.inf


def test_every_lesson_page_plays_to_the_end(page, tmp_path):
    from chainrule.lab.lessons import LESSONS
    p = page()
    for name, lesson in LESSONS.items():
        path = tmp_path / f"{name}.html"
        assert main(["lesson", "html", name, "-o", str(path)]) == 0
        p.open(path)
        p.page.click("[data-act=last]")
        total, n = p.counter().split(" / ")
        assert total == f"Step {n}", name
        run = lesson.run()
        grads = run.grads()
        wrt = p.page.eval_on_selector(".crp-chain-wrt", "el => el.value")
        shown = number_in(p.text(".crp-chain-total strong"))
        assert shown == pytest.approx(grads[wrt], rel=1e-5, abs=1e-9), (name, wrt)
        if lesson.steps:   # a lesson's own step-by-step words appear when its steps match the player's
            assert int(n) != len(lesson.steps) or p.page.locator(".crp-note").count() == 1, name


def test_a_title_with_html_comment_and_script_tags_still_plays(page, tmp_path):
    """'<!--<script>' inside the inline JSON used to swallow the real </script>: the player never mounted."""
    title = "<!--<script> a </script> & <b>"
    path = tmp_path / "title.html"
    assert main(["html", "L = (3*x + 1)**2", "--at", "x=2", "--title", title, "-o", str(path)]) == 0
    p = page().open(path)
    assert p.page.locator(".crp-graph svg").count() == 1
    assert p.page.title() == title


def test_notebook_outputs_open_the_player_with_the_code_sent_once(page, tmp_path):
    """Three outputs on one notebook page: only the first carries the player's code. Each
    button opens its own player (the code runs once, on the first click); a page whose
    code-carrying output was cleared says how to get it back instead of failing."""
    from chainrule.viz.html import notebook_html
    t = evaluate(SIGMOID_NET, SIGMOID_AT).trace()
    outs = [notebook_html(t, code=True), notebook_html(trace(Value(3.0, name="q") ** 2)),
            notebook_html(t, code=False)]
    assert 'data-chainrule-player-code="js">' not in outs[1] + outs[2]
    path = tmp_path / "notebook.html"
    path.write_text("<!DOCTYPE html><meta charset='utf-8'><body>"
                    + "".join(f"<div class='cell'>{o}</div>" for o in outs) + "</body>")
    p = page().open(path)
    assert p.page.evaluate("() => window.ChainrulePlayer === undefined")   # nothing ran before a click
    buttons = p.page.locator(".chainrule-open")
    assert buttons.count() == 3
    buttons.nth(2).click()
    assert p.page.evaluate("() => ChainrulePlayer.players.length") == 1
    third = p.page.locator(".cell").nth(2)
    assert third.locator(".crp-counter").inner_text() == "Step 1 / 13"
    assert third.locator(".chainrule-static").is_hidden()
    p.page.locator(".chainrule-open").nth(1).click()
    p.page.locator(".chainrule-open").nth(0).click()
    assert p.page.evaluate("() => ChainrulePlayer.players.length") == 3
    assert p.page.locator("head style").count() == 1          # the player's CSS added once
    third.locator("[data-act=next]").click()
    assert third.locator(".crp-counter").inner_text() == "Step 2 / 13"

    cleared = tmp_path / "cleared.html"
    cleared.write_text("<!DOCTYPE html><meta charset='utf-8'><body>" + outs[2] + "</body>")
    p.open(cleared)
    p.page.click(".chainrule-open")
    assert "chainrule.viz.load_player()" in p.page.inner_text(".chainrule-note")


GENERATED = re.compile(r"\b(?:mul|sub|add|powc|pow|div|neg|sigmoid|exp|log|relu|tanh|leaf)\d+\b")


@pytest.mark.parametrize("program, at", [
    (SIGMOID_NET, SIGMOID_AT),                      # named lines, unnamed steps inside them
    ("L = (3*x + 1)**2", {"x": 2.0}),               # nothing named but the output
])
def test_player_speaks_in_the_learners_expressions(page, tmp_path, program, at):
    """No made-up label (mul6, sub12, add4) anywhere in the player: not in the boxes, the
    narration of any step, the chain, or the inspect panel of any node."""
    path = tmp_path / "names.html"
    assert main(["html", program, "--at", *[f"{k}={v:g}" for k, v in at.items()], "-o", str(path)]) == 0
    p = page().open(path)
    seen = []
    n = int(p.counter().split(" / ")[1])
    for _ in range(n):
        seen.append(p.text(".crp-narration"))
        p.page.click("[data-act=next]") if not p.page.is_disabled("[data-act=next]") else None
    keys = p.page.eval_on_selector_all(".crp-box[data-key]", "els => els.map(e => e.dataset.key)")
    for key in keys:
        p.page.click(f'[data-key="{key}"]')
        seen.append(p.text(".crp-node"))
    seen += [p.text(".crp-chain"), p.page.text_content(".crp-graph"),
             p.page.eval_on_selector_all("[aria-label]", "els => els.map(e => e.getAttribute('aria-label')).join(' ')")]
    for text in seen:
        assert not GENERATED.search(text), (GENERATED.search(text).group(0), text[:300])
    everything = "\n".join(seen)
    if program == SIGMOID_NET:
        assert "∂L/∂(a2 − y)" in everything and "a2 − y" in p.page.text_content(".crp-graph")
    else:
        assert "∂L/∂(3 · x + 1)" in everything and "2·(3 · x + 1)" in everything


def test_lesson_opens_one_box_per_line_and_a_box_opens_to_its_steps(page, tmp_path):
    path = tmp_path / "lesson.html"
    assert main(["lesson", "html", "sigmoid_net", "-o", str(path)]) == 0
    p = page().open(path)
    p.page.click("[data-act=last]")
    texts = lambda sel: p.page.eval_on_selector_all(sel, "els => els.map(e => e.textContent.trim())")  # noqa: E731
    titles = texts(".crp-group .crp-t1")
    assert sorted(titles) == ["▸ L = (a2 − y)^2", "▸ z1 = w1 · x + b1", "▸ z2 = w2 · a1 + b2"]
    # the edge into a line carries the chain's factor: y → L is ∂L/∂y = −2(a2 − y) = 0.756,
    # not the subtraction's own local −1
    labels = texts(".crp-elabel text")
    assert "×0.756" in labels and "×−0.756" in labels and "×−1" not in labels
    assert "×0.8" in labels                                  # a1 → z2: ∂z2/∂a1 = w2
    p.page.locator(".crp-group[data-key]", has_text="z1 = w1 · x + b1").click()
    assert p.page.locator(".crp-group.is-open").count() == 1
    assert p.text(".crp-node h2") == "z1 = w1 · x + b1"        # opened, and its result inspected
    locals_ = p.page.locator(".crp-node li").all_inner_texts()
    assert "∂z₁/∂b₁ = 1" in locals_ and "∂z₁/∂(w1 · x) = 1" in locals_   # a constant local is said once
    assert "w1 · x" in texts(".crp-box .crp-t1")


@pytest.mark.parametrize("width, height", [(1280, 900), (375, 667)])
def test_no_text_under_11px_at_100_percent(page, tmp_path, width, height, small_text):
    """The player (a lesson, stepped to the end, a node inspected) and the static SVG:
    every piece of text measured in Chromium is drawn at 11 px or more."""
    from chainrule.viz.svg import trace_to_svg
    lesson = tmp_path / "lesson.html"
    assert main(["lesson", "html", "sigmoid_net", "-o", str(lesson)]) == 0
    p = page(width, height).open(lesson)
    for _ in range(8):
        p.page.click("[data-act=next]")                      # a backward step: edge labels, "sending back"
    assert small_text(p.page) == []
    p.page.click("[data-act=last]")
    p.page.click(f'[data-key="{p.node_key("a1")}"]')
    assert small_text(p.page) == []
    p.page.locator(".crp-group[data-key]").first.click()     # an opened line
    assert small_text(p.page) == []
    svg = tmp_path / "drawing.html"
    svg.write_text("<!DOCTYPE html><meta charset='utf-8'><body style='margin:0'>"
                   + trace_to_svg(evaluate(SIGMOID_NET, SIGMOID_AT).trace()) + "</body>")
    p.open(svg)
    assert small_text(p.page) == []


def test_phone_fit_wrap_learn_and_inspect(page, tmp_path):
    """375 × 667: Fit shows the whole graph, the narration's table wraps inside the page,
    every input keeps its "learn" label, and a tapped box is explained right under the graph."""
    path = tmp_path / "lesson.html"
    assert main(["lesson", "html", "sigmoid_net", "-o", str(path)]) == 0
    p = page(375, 667).open(path)
    for _ in range(7):
        p.page.click("[data-act=next]")
    narration = p.page.locator(".crp-narration")
    assert narration.locator("table").count() == 1
    wide = p.page.evaluate("""() => [...document.querySelectorAll('.crp-narration, .crp-narration *')]
        .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible').length""")
    assert wide == 0                                           # nothing to scroll sideways: it wraps
    nb = narration.bounding_box()
    assert nb["x"] >= 0 and nb["x"] + nb["width"] <= 375
    for box in p.page.locator("table.crp-table td").all():
        b = box.bounding_box()
        assert b["x"] + b["width"] <= nb["x"] + nb["width"] + 1
    assert p.page.evaluate("() => document.documentElement.scrollWidth") <= 375

    learn = p.page.locator(".crp-learn")
    assert learn.count() == 6
    for i in range(6):
        assert learn.nth(i).inner_text().strip() == "learn"
        b = learn.nth(i).bounding_box()
        assert b["width"] > 20 and b["x"] + b["width"] <= 375

    assert p.page.evaluate("() => { const g = document.querySelector('.crp-graph'); return g.scrollWidth > g.clientWidth; }")
    p.page.click("[data-act=zoom-fit]")
    fits = p.page.evaluate("""() => { const g = document.querySelector('.crp-graph'), s = g.querySelector('svg').getBoundingClientRect(),
        b = g.getBoundingClientRect();
        return [g.scrollWidth <= g.clientWidth + 1, g.scrollHeight <= g.clientHeight + 1,
                s.left >= b.left - 1 && s.right <= b.right + 1 && s.top >= b.top - 1 && s.bottom <= b.bottom + 1]; }""")
    assert fits == [True, True, True]
    p.page.screenshot(path=str(tmp_path / "phone-fit.png"), full_page=True)
    fitted = float(p.page.get_attribute(".crp-svg", "width"))
    p.page.click("[data-act=zoom-in]")                       # zooming goes on from the fitted size
    assert float(p.page.get_attribute(".crp-svg", "width")) == pytest.approx(fitted * 1.25, abs=2)

    p.page.click(f'[data-key="{p.node_key("a1")}"]')
    stage = p.page.locator(".crp-stage").bounding_box()
    panel = p.page.locator(".crp-node")
    assert panel.locator("h2").inner_text().startswith("a1 = σ(z1)")
    pb = panel.bounding_box()
    assert 0 <= pb["y"] - (stage["y"] + stage["height"]) < 40    # the next thing under the graph
    p.page.wait_for_function("() => { const r = document.querySelector('.crp-node').getBoundingClientRect();"
                             " return r.top >= -1 && r.top < innerHeight - 60; }")
    p.page.screenshot(path=str(tmp_path / "phone-inspect.png"))
