"""The web app in a real browser: Debian's Chromium driven by Playwright (sync API).

The server runs in this process (uvicorn in a background thread, on a free
loopback port). Each test acts as a learner would: types a program with a
mistake and reads the message at its line and column, fixes it and reads the
gradient, picks a lesson and reads its chain, presses Step and watches the
loss fall. Screenshots (desktop and phone width) go to the test's tmp dir.

Never ``playwright install``: this uses /usr/bin/chromium or skips, saying why.
"""
import os
import re
import socket
import threading
import time

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright (the Python package) is not installed")
pytest.importorskip("uvicorn", reason='uvicorn is not installed: pip install "chainrule[web]"')
CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

import uvicorn  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from chainrule.web import create_app  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 15_000  # ms: generous, the machine is shared


@pytest.fixture(scope="module")
def base_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="chainrule-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A page plus what went wrong in it: JS errors, console errors, requests that left the machine."""

    def __init__(self, browser, base_url, viewport, shots):
        self.ctx = browser.new_context(viewport=viewport)
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(TIMEOUT)
        self.shots = shots
        self.errors, self.outside = [], []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # a refused program is a 400 answer, which Chromium also logs; anything else is an error
        # (a 404 too: a script or style sheet that fails to load must fail the test)
        self.page.on("console", lambda m: m.type == "error" and "status of 400" not in m.text
                     and self.errors.append(m.text))
        self.page.on("response", lambda r: r.status >= 400 and r.status != 400
                     and self.errors.append(f"{r.status} for {r.url}"))

        def only_here(route):
            if route.request.url.startswith(base_url):
                route.continue_()
            else:  # no CDN, no fonts, nothing from the network
                self.outside.append(route.request.url)
                route.abort()

        self.page.route("**/*", only_here)
        self.page.goto(base_url + "/")

    def shot(self, name):
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self):
        self.ctx.close()
        assert not self.errors, self.errors
        assert not self.outside, self.outside


@pytest.fixture
def desktop(browser, base_url, tmp_path):
    p = Page(browser, base_url, DESKTOP, tmp_path)
    yield p
    p.close()


@pytest.fixture
def phone(browser, base_url, tmp_path):
    p = Page(browser, base_url, PHONE, tmp_path)
    yield p
    p.close()


def type_program(page, text):
    """Replace the program as a person would: select all, then type (each key fires an input event)."""
    box = page.locator("#program")
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text, delay=5)


def set_input(page, name, value):
    field = page.locator(f'#inputs input[data-name="{name}"]')
    field.fill(value)


def grad(page, name):
    return page.locator(f'#grads [data-grad="{name}"]')


# --------------------------------------------------------------------------

def test_error_shows_line_and_column_then_the_fix_shows_gradients(desktop):
    page = desktop.page
    expect(grad(page, "x")).to_have_text("42")          # the opening example: u = 3x + 1, L = u²
    type_program(page, "u = 3*x + 1\nL = (u +* 2)**2")
    err = page.locator("#program-error")
    expect(err).to_be_visible()
    expect(err.locator(".where")).to_have_text("Line 2, column 9")
    expect(err.locator(".msg")).to_contain_text("syntax error")
    expect(err.locator(".snippet")).to_contain_text("L = (u +* 2)**2")
    expect(page.locator("#gutter div.bad")).to_have_text("2")          # the line number is marked
    expect(page.locator("#backdrop .line.bad mark")).to_have_text("*")  # and the character itself
    expect(page.locator("#result")).to_have_class(re.compile("stale"))  # old numbers greyed out
    desktop.shot("desktop-error")

    # fixed: (3x + 1)² at x = 2 is 49 and its slope 6(3x + 1) = 42; u = 7 with ∂L/∂u = 2u = 14
    type_program(page, "u = 3*x + 1\nL = u**2")
    expect(err).to_be_hidden()
    set_input(page, "x", "2")
    expect(page.locator("#output-value")).to_have_text("49")
    expect(grad(page, "x")).to_have_text("42")
    expect(grad(page, "u")).to_have_text("14")
    expect(page.locator("#chains .chain-line")).to_have_text("∂L/∂x = ∂L/∂u · ∂u/∂x = 14 · 3 = 42")
    expect(page.locator("#result")).not_to_have_class(re.compile("stale"))

    # a new name makes a new input field appear; a math error points at its line
    type_program(page, "u = 3*x + 1\nL = log(u - k)")
    expect(page.locator('#inputs input[data-name="k"]')).to_be_visible()
    set_input(page, "k", "10")     # u − k = 7 − 10 = −3
    expect(err.locator(".where")).to_have_text("Line 2, column 5")
    expect(err.locator(".msg")).to_contain_text("log(-3) is undefined")
    set_input(page, "k", "5")      # log(2): ∂L/∂x = 1/(u − k) · 3 = 1.5
    expect(grad(page, "x")).to_have_text("1.5")
    desktop.shot("desktop-fixed")


def test_lesson_shows_its_chain(desktop):
    page = desktop.page
    options = page.locator("#lesson option")
    expect(options).to_have_count(12)                   # "your own program" + every lesson
    page.select_option("#lesson", "chain")
    expect(page.locator("#program")).to_have_value("a1 = w1*a0\na2 = w2*a1\na3 = w3*a2\nC = (a3 - y)**2")
    chain = page.locator('.chain[data-wrt="w1"]')
    # seed 000: ∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 0.5 · 3 · 1 = 3
    expect(chain.locator(".factor .lab")).to_have_text(["∂C/∂a₃", "∂a₃/∂a₂", "∂a₂/∂a₁", "∂a₁/∂w₁"])
    expect(chain.locator(".factor .v")).to_have_text(["2", "0.5", "3", "1"])
    expect(chain.locator(".product")).to_have_text("3")
    expect(page.locator('.chain[data-wrt="w3"] .factor .v')).to_have_text(["2", "6"])   # ∂C/∂w₃ = 2 · a2 = 12
    expect(page.locator("#lesson-note")).to_contain_text("2 · 0.5 · 3 · 1 = 3")
    expect(page.locator("#explanation")).to_contain_text("Backward pass")
    # chainrule.viz's player is always on the page (player.js loaded), and it steps
    assert page.evaluate("() => typeof window.ChainrulePlayer") == "object"
    expect(page.locator("#player.crp")).to_be_visible()
    counter = page.locator("#player .crp-counter")
    expect(counter).to_have_text(re.compile(r"^Step 1 / \d+$"))
    page.locator("#player [data-act=next]").first.click()
    expect(counter).to_have_text(re.compile(r"^Step 2 / \d+$"))
    expect(page.locator("#player .crp-narration")).to_contain_text("a1 = w1 · a0 = 2 · 1 = 2")
    desktop.shot("desktop-lesson-chain")


def test_step_makes_the_loss_fall(desktop):
    page = desktop.page
    page.select_option("#lesson", "two_layer_relu")
    expect(page.locator("#output-value")).to_have_text("1.69")        # (−0.3 − 1)² (seed 004)
    expect(page.locator('input[data-learn="x"]')).not_to_be_checked()  # data stays put
    expect(page.locator('input[data-learn="w1"]')).to_be_checked()
    page.click("#step")
    # w1 ← 0.5 − 0.1 · 1.56 = 0.344, w2 ← −0.3 − 0.1 · (−2.6) = −0.04 (the lesson's numbers);
    # then z2 = −0.04 · 0.688 = −0.02752 and L = 1.02752² = 1.05579735…
    expect(page.locator("#loss-before")).to_have_text("1.69")
    expect(page.locator("#loss-after")).to_have_text("1.0558")
    expect(page.locator('#inputs input[data-name="w1"]')).to_have_value("0.344")
    expect(page.locator('#inputs input[data-name="w2"]')).to_have_value("-0.04")
    expect(page.locator("#output-value")).to_have_text("1.0558")      # the page re-explained
    first_after = float(page.locator("#loss-after").inner_text())
    page.click("#step")
    expect(page.locator("#loss-before")).to_have_text("1.0558")
    second_after = float(page.locator("#loss-after").inner_text().replace("−", "-"))
    assert second_after < first_after < 1.69
    expect(page.locator(".spark circle")).to_have_count(3)   # the loss before, after one, after two
    desktop.shot("desktop-steps")
    page.click("#reset")
    expect(page.locator("#output-value")).to_have_text("1.69")


def test_phone_width_reads_top_to_bottom(phone):
    page = phone.page
    expect(grad(page, "x")).to_have_text("42")
    page.select_option("#lesson", "sigmoid_net")
    expect(page.locator('.chain[data-wrt="w1"] .product')).to_have_text("−0.0334194")
    page.click("#step")
    expect(page.locator("#loss-after")).to_be_visible()
    boxes = {sel: page.locator(sel).bounding_box() for sel in
             (".program-card", ".inputs-card", ".result-card", ".chain-card", ".step-card")}
    tops = [b["y"] for b in boxes.values()]
    assert tops == sorted(tops), boxes                        # one column, in reading order
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= PHONE["width"] + 1 for b in boxes.values()), boxes
    width = page.evaluate("() => document.querySelector('main').scrollWidth")
    assert width <= PHONE["width"], width                    # nothing sticks out sideways
    phone.shot("phone-lesson-step")
    type_program(page, "z = w*x +\nL = z**2")
    expect(page.locator("#program-error .where")).to_have_text(re.compile(r"Line 1, column \d+"))
    phone.shot("phone-error")


def test_one_set_of_inputs_and_ticks_that_belong_to_the_program(desktop):
    """The page's Inputs card is the only set of inputs (the player shows no second set of
    sliders and ticks that could disagree), and a new program starts from its own default
    ticks instead of the previous program's."""
    page = desktop.page
    page.select_option("#lesson", "chain_practice")         # the lesson steps w1 only
    expect(page.locator('#player .crp-counter')).to_be_visible()
    expect(page.locator('#inputs input[data-name]')).to_have_count(5)
    expect(page.locator("#player input")).to_have_count(0)  # no sliders, no ticks, no η in the player
    expect(page.locator('input[data-learn="w2"]')).not_to_be_checked()
    expect(page.locator('input[data-learn="w1"]')).to_be_checked()
    page.select_option("#lesson", "")                        # your own program now
    expect(page.locator('input[data-learn="w2"]')).to_be_checked()   # w2 looks like a parameter
    type_program(page, "z = w2*a + w3\nL = z**2")
    expect(page.locator('#inputs input[data-name="a"]')).to_be_visible()
    expect(page.locator('input[data-learn="w2"]')).to_be_checked()
    expect(page.locator('input[data-learn="a"]')).not_to_be_checked()
    page.locator('input[data-learn="w3"]').uncheck()        # a tick the learner sets stays while w3 is an input
    type_program(page, "z = w2*a + w3\nL = z**2 + w2")
    expect(page.locator('#inputs input[data-name="a"]')).to_be_visible()
    expect(page.locator('input[data-learn="w3"]')).not_to_be_checked()
    page.select_option("#lesson", "sigmoid_net")
    for name in ("w1", "w2", "b1", "b2"):
        expect(page.locator(f'input[data-learn="{name}"]')).to_be_checked()
    expect(page.locator("#player input")).to_have_count(0)
    # the lesson opens one box per line, as its seed draws it
    expect(page.locator("#player .crp-group .crp-t1")).to_have_count(3)
    page.locator("#player [data-act=last]").click()       # and sends the learner to this page's Step button
    expect(page.locator("#player .crp-narration")).to_contain_text("One sweep, every gradient")
    expect(page.locator("#player .crp-narration")).not_to_contain_text("button below")


def test_phone_serve_player_fits_and_reads(phone, small_text):
    page = phone.page
    page.set_viewport_size({"width": 375, "height": 667})
    page.select_option("#lesson", "sigmoid_net")
    expect(page.locator('.chain[data-wrt="w1"] .product')).to_have_text("−0.0334194")
    host = page.locator("#player")
    host.locator("[data-act=last]").click()
    assert small_text(page) == []
    host.locator("[data-act=zoom-fit]").click()
    fits = page.evaluate("""() => { const g = document.querySelector('#player .crp-graph');
        return g.scrollWidth <= g.clientWidth + 1 && g.scrollHeight <= g.clientHeight + 1; }""")
    assert fits
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    phone.shot("phone-serve-player")
