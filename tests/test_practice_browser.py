"""The practice and flashcard page components in Chromium (Debian's, driven by Playwright):
problems drawn and checked in the page, the keyboard, phone width, an iframe without storage.

Screenshots (desktop 1280 wide, phone 390 wide) go to the test's tmp dir.
"""
from __future__ import annotations

import os

import pytest

from chainrule.lab import practice
from chainrule.lab.cards import cards_page, deck
from chainrule.lab.practice import generate, practice_page

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

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
def pages(tmp_path_factory):
    d = tmp_path_factory.mktemp("practice")
    (d / "practice.html").write_text(practice_page(seed=3, kind="chain"), encoding="utf-8")
    (d / "cards.html").write_text(cards_page(), encoding="utf-8")
    (d / "frames.html").write_text(
        '<!doctype html><meta charset="utf-8"><title>embedded</title>'
        '<iframe id="p" sandbox="allow-scripts" src="practice.html" title="practice" width="380" height="700"></iframe>'
        '<iframe id="c" sandbox="allow-scripts" src="cards.html" title="flashcards" width="380" height="700"></iframe>',
        encoding="utf-8")
    return d


class Page:
    def __init__(self, browser, width=1280, height=900, context=None):
        self.page = context.new_page() if context else browser.new_page(viewport={"width": width, "height": height})
        self.requests, self.errors = [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def open(self, path):
        self.page.goto(path.as_uri(), wait_until="load")
        return self

    def close(self):
        offsite = [u for u in self.requests if not u.startswith(("file:", "data:", "about:", "blob:"))]
        assert offsite == [], f"the page asked the network for {offsite}"
        assert self.errors == [], self.errors
        self.page.close()


def _answer(page, i, text):
    box = page.locator("input[name=answer]").nth(i)
    box.fill(text)
    box.press("Enter")
    return page.locator(".crq-feedback").nth(i).inner_text()


def test_practice_page_draws_checks_and_explains(browser, pages, tmp_path):
    p = Page(browser).open(pages / "practice.html")
    page = p.page
    want = generate("chain", 3)
    given = page.inner_text(".crq-given")
    assert given.startswith("with " + ", ".join(f"{k} = {practice.fmt(v)}" for k, v in want.inputs.items()))
    asks = want.template.asks
    # right (and focus moves on to the next answer), malformed, a fraction, wrong
    assert "Right" in _answer(page, 0, repr(want.answers["a1"]))
    assert page.evaluate("document.activeElement.id") == page.locator("input[name=answer]").nth(1).get_attribute("id")
    said = _answer(page, 1, "two and a half")
    assert "Not read: 'two and a half' is not a number; type a number such as 0.25" in said
    assert page.locator("input[name=answer]").nth(1).get_attribute("aria-invalid") == "true"
    assert "Right" in _answer(page, 2, "1/2")                # a3 = 0.5 with seed 3
    wrong = _answer(page, 5, "4")                           # ∂C/∂w1 is −5
    assert "Not 4." in wrong and "Why this slip is common" in wrong
    for line in want.worked(asks[5]):
        assert line.strip() in wrong
    assert asks[5].slip in wrong
    assert "1 of 7" not in page.inner_text(".crq-score") and "2 of 7 right so far" in page.inner_text(".crq-score")
    page.screenshot(path=str(tmp_path / "practice-desktop.png"), full_page=True)
    # the keyboard alone: tab to "Next seed", press it; the page draws Python's problem for seed 4
    page.focus("select[name=kind]")
    page.keyboard.press("Tab")       # the seed
    page.keyboard.press("Tab")       # New problem
    page.keyboard.press("Tab")       # Next seed
    assert page.evaluate("document.activeElement.dataset.act") == "next"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "the focused control must show where the focus is"
    page.keyboard.press("Enter")
    nxt = generate("chain", 4)
    assert page.input_value("input[name=seed]") == "4"
    assert page.inner_text(".crq-given").startswith(
        "with " + ", ".join(f"{k} = {practice.fmt(v)}" for k, v in nxt.inputs.items()))
    # every kind, drawn in the page for seed 9, is Python's problem with Python's answers
    got = page.evaluate("""(kinds) => { const data = document.querySelector('[data-chainrule-lab=practice]')._crq.data;
        return kinds.map((k) => { const p = ChainrulePractice.generate(data, k, 9); return [p.template.name, p.inputs, p.answers]; }); }""",
                        list(practice.KINDS))
    for kind, (name, inputs, answers) in zip(practice.KINDS, got, strict=True):
        py = generate(kind, 9)
        assert (name, inputs) == (py.template.name, py.inputs)
        assert answers == pytest.approx(py.answers, rel=1e-12, abs=1e-15)
    p.close()


def test_practice_and_cards_at_phone_width(browser, pages, tmp_path):
    for name in ("practice", "cards"):
        p = Page(browser, width=390, height=800).open(pages / f"{name}.html")
        page = p.page
        if name == "practice":
            _answer(page, 5, "4")      # a worked chain, the widest thing the page shows
        else:
            page.click("[data-act=show]")
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name}: {overflow} px wider than a phone"
        page.screenshot(path=str(tmp_path / f"{name}-phone.png"), full_page=True)
        p.close()


def test_cards_quiz_with_the_keyboard_and_keep_progress(browser, pages, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = Page(browser, context=context).open(pages / "cards.html")
    page = p.page
    assert page.inner_text(".crc-stats").startswith(f"{len(deck())} cards: 0 due now, {len(deck())} new, 0 reviews")
    first = deck()[0]
    assert page.inner_text(".crc-front") == first.front
    assert page.is_hidden(".crc-back") and page.is_hidden(".crc-rate")
    page.focus("[data-act=show]")
    page.keyboard.press("Space")
    assert page.is_visible(".crc-back") and first.back in page.inner_text(".crc-back")
    assert page.evaluate("document.activeElement.dataset.rate") == "3"
    page.keyboard.press("3")                                  # good
    assert "Saved (good): next review in 10 minutes" in page.inner_text(".crc-saved")
    assert page.inner_text(".crc-front") == deck()[1].front
    page.click("[data-act=show]")
    page.click("[data-rate='1']")                             # again: due in a minute
    assert "2 reviews · retention 50 %" in page.inner_text(".crc-stats")
    page.screenshot(path=str(tmp_path / "cards-desktop.png"), full_page=True)
    p.page.reload(wait_until="load")                          # kept in the browser's storage
    assert "2 reviews" in page.inner_text(".crc-stats") and page.is_hidden(".crc-storage")
    assert page.inner_text(".crc-front") == deck()[2].front
    p.close()
    context.close()


def test_both_work_inside_a_sandboxed_iframe_without_storage(browser, pages, tmp_path):
    p = Page(browser, width=800, height=800).open(pages / "frames.html")
    practice_frame = p.page.frame_locator("#p")
    box = practice_frame.locator("input[name=answer]").first
    box.fill(repr(generate("chain", 3).answers["a1"]))
    box.press("Enter")
    assert "Right" in practice_frame.locator(".crq-feedback").first.inner_text()
    cards_frame = p.page.frame_locator("#c")
    note = cards_frame.locator(".crc-storage")
    assert note.is_visible() and "progress lasts until the page is closed" in note.inner_text()
    assert cards_frame.locator(".crc-rate").is_hidden()     # the ratings come with the answer
    cards_frame.locator("[data-act=show]").click()
    cards_frame.locator("[data-rate='4']").click()
    assert "1 review · retention 100 %" in cards_frame.locator(".crc-stats").inner_text()
    p.page.screenshot(path=str(tmp_path / "iframes.png"), full_page=True)
    p.close()


def test_serve_practice_and_cards_pages_under_the_apps_csp(browser):
    """/lab/practice and /lab/cards from the app itself (its Content-Security-Policy: no inline code)."""
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from chainrule.web import create_app

    client = TestClient(create_app(allowed_hosts=["*"]))
    r = client.get("/lab/practice?kind=relu-net&seed=5")
    assert r.status_code == 200 and "script-src" not in r.headers["content-security-policy"]
    assert "<script>" not in r.text and '<script src="/lab/practice.js">' in r.text
    assert client.get("/lab/practice.js").status_code == 200 and client.get("/lab/cards").status_code == 200
    assert client.get("/lab/practice?kind=nope&seed=x").status_code == 200     # unknown: any kind, a random seed

    p = Page(browser, width=390, height=844)
    violations = []
    p.page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    def serve(route):
        path = route.request.url.split("chainrule.test", 1)[1]
        res = client.get(path)
        route.fulfill(status=res.status_code, headers=dict(res.headers), body=res.content)

    p.page.route("http://chainrule.test/**", serve)
    p.page.goto("http://chainrule.test/lab/practice?kind=relu-net&seed=5", wait_until="load")
    want = generate("relu-net", 5)
    assert p.page.inner_text(".crq-given").startswith(
        "with " + ", ".join(f"{k} = {practice.fmt(v)}" for k, v in want.inputs.items()))
    assert "Right" in _answer(p.page, 0, repr(want.answers["z1"]))
    p.page.goto("http://chainrule.test/lab/cards", wait_until="load")
    p.page.click("[data-act=show]")
    p.page.click("[data-rate='3']")
    assert "1 review" in p.page.inner_text(".crc-stats")
    assert violations == []
    p.requests = [u for u in p.requests if not u.startswith("http://chainrule.test/")]
    p.close()
