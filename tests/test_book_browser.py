"""The built course in Chromium: offline, every block drawn, keys, URL state, and axe-core.

One browser for the module (the launch flags of tests/test_player_browser.py). axe-core comes
from the npm registry into tests/.node (a test-only cache, never into the pages); it is injected
into each page as a script, so it makes no request of its own. With CI set, a missing axe-core
or Chromium is a failure (see tests/conftest.py).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chainrule.lang import parse

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
NODE_DIR = Path(__file__).resolve().parent / ".node"
AXE = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package); browser tests need it", allow_module_level=True)


@pytest.fixture(scope="module")
def axe() -> str:
    """axe-core's script, installed from npm into tests/.node on first use."""
    if not AXE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not on PATH: axe-core is installed with it (the README's test command installs npm)")
        NODE_DIR.mkdir(exist_ok=True)
        r = subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR),
                            "axe-core@4"], capture_output=True, text=True, timeout=300)
        if r.returncode != 0 or not AXE.is_file():
            pytest.skip(f"npm could not install axe-core: {r.stderr.strip()[-300:]}")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    def __init__(self, browser, width=1280, height=900):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.requests, self.errors = [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def open(self, url):
        self.page.goto(url if "://" in str(url) else Path(url).as_uri(), wait_until="load")
        return self

    def offsite(self):
        return [u for u in self.requests if not u.startswith(("file:", "data:", "about:", "blob:"))]

    def close(self):
        assert not self.errors, self.errors
        assert not self.offsite(), self.offsite()
        self.page.close()


def lesson_pages(site: Path):
    return sorted(p for p in site.glob("*.html") if p.name not in ("index.html", "print.html"))


def test_every_page_loads_offline_draws_every_block_and_passes_axe(browser, course_site, axe):
    from chainrule.book.format import read_lesson
    from chainrule.book.site import course_dir
    blocks = {}
    for f in course_dir().glob("*.md"):
        les = read_lesson(f)
        blocks[les.slug] = [b.kind for b in les.blocks]
    pg = Page(browser)
    pages = [course_site / "index.html", *lesson_pages(course_site), course_site / "print.html"]
    assert len(pages) == 7
    for path in pages:
        pg.open(path)
        page = pg.page
        kinds = page.eval_on_selector_all("main section.cr-block", "els => els.map(e => e.dataset.kind)")
        if path.stem in blocks:
            assert kinds == blocks[path.stem], path.name
        for kind, drawn in page.eval_on_selector_all("main section.cr-block", """els => els.map(e => [e.dataset.kind,
              e.dataset.kind === 'player' ? e.querySelectorAll('.crp-svg [data-key]').length :
              e.dataset.kind === 'graph' ? e.querySelectorAll('svg rect').length :
              e.dataset.kind === 'chain' ? e.querySelectorAll('.cr-factor').length :
              e.dataset.kind === 'flashcards' ? e.querySelectorAll('.cr-card').length :
              e.dataset.kind === 'practice' ? e.querySelectorAll('form input').length :
              e.innerText.trim().length])"""):
            assert drawn > 0, (path.name, kind)
        if path.name == "print.html":   # the lesson pages' own HTML, one after another: checked on those pages
            continue
        page.add_script_tag(content=axe)
        result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, preload: false})", WCAG)
        violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
        assert not violations, (path.name, violations)
        assert result["passes"], path.name       # axe really ran
    pg.close()


def test_chapter_player_plays_with_space_and_keeps_its_chapter_in_the_url(browser, course_site):
    pg = Page(browser).open(course_site / "blame-chain.html")
    page = pg.page
    counter = lambda: page.inner_text('[data-kind="chapters"] .cr-ch-counter')
    visible = lambda: page.eval_on_selector_all("section.cr-chapter", "els => els.filter(e => !e.hidden).length")
    total = page.eval_on_selector_all("section.cr-chapter", "els => els.length")
    assert total == 8 and visible() == total                          # before playing: all readable
    player_step = page.inner_text('[data-kind="player"] .crp-counter')
    page.keyboard.press("Space")
    assert counter() == f"Chapter 1 / {total}" and visible() == 1
    assert page.get_attribute('[data-ch="play"]', "aria-pressed") == "true"
    page.keyboard.press("ArrowRight")
    assert counter() == f"Chapter 2 / {total}"
    assert page.get_attribute('[data-ch="play"]', "aria-pressed") == "false"   # stepping pauses
    assert "tour.chapter=2" in page.url
    page.keyboard.press("Space")
    assert page.get_attribute('[data-ch="play"]', "aria-pressed") == "true"
    assert page.inner_text('[data-kind="player"] .crp-counter') == player_step   # the page's player kept still
    page.click('[data-chapter="6"]')
    assert counter() == f"Chapter 7 / {total}"
    again = Page(browser).open(page.url)
    assert again.page.inner_text('[data-kind="chapters"] .cr-ch-counter') == f"Chapter 7 / {total}"
    again.close()
    pg.close()


def test_player_state_round_trips_through_the_url(browser, course_site):
    pg = Page(browser).open(course_site / "unfolded.html")
    page = pg.page
    host = '[data-block="walk"] .cr-player-host'
    counter = lambda p: p.inner_text(f"{host} .crp-counter")
    assert counter(page) == "Step 1 / 13"
    page.focus(host)
    for _ in range(8):
        page.keyboard.press("Space")
    assert counter(page) == "Step 9 / 13"
    assert re.search(r"#.*walk\.step=9", page.url), page.url
    # w1 = 1.7 typed into its number field, and the box a1 selected
    w1 = page.eval_on_selector_all(f"{host} [data-key]", "els => els.find(e => e.getAttribute('aria-label')"
                                   ".startsWith('w1:')).dataset.key")
    field = f'{host} input[data-leaf-num="{w1}"]'
    page.fill(field, "1.7")
    page.dispatch_event(field, "change")
    key = page.eval_on_selector_all(f"{host} [data-key]", "els => els.find(e => e.getAttribute('aria-label')"
                                    ".startsWith('a1')).dataset.key")
    page.click(f'{host} [data-key="{key}"]')
    url = page.url
    assert "walk.w1=1.7" in url and "walk.node=a1" in url and "walk.step=9" in url, url
    fresh = Page(browser).open(url)
    p2 = fresh.page
    assert counter(p2) == "Step 9 / 13"
    assert p2.input_value(field) == "1.7"
    assert p2.inner_text(f"{host} .crp-node h2").startswith("a1")
    # the gradient shown after restoring is the engine's at w1 = 1.7
    run = parse("z1 = w1*x + b1\na1 = sigmoid(z1)\nz2 = w2*a1 + b2\na2 = sigmoid(z2)\nL = (a2 - y)**2").run(
        {"x": 1, "w1": 1.7, "w2": 0.8, "b1": 0, "b2": 0, "y": 1})
    run.grads()
    shown = p2.evaluate("() => document.querySelector('[data-block=\"walk\"]')._player.S.grad")
    labels = p2.evaluate("() => document.querySelector('[data-block=\"walk\"]')._player.G.nodes.map(n => n.label)")
    assert shown[labels.index("w1")] == pytest.approx(run.values["w1"].grad, rel=1e-12)
    fresh.close()
    pg.close()


def test_practice_checks_answers_and_cards_turn(browser, course_site):
    pg = Page(browser, 390, 844).open(course_site / "practice.html")
    page = pg.page
    box = '[data-block="drill"]'
    page.fill(f"{box} .cr-answer", "7")
    page.press(f"{box} .cr-answer", "Enter")
    assert page.inner_text(f"{box} .cr-feedback").startswith("✗ Not yet")
    page.fill(f"{box} .cr-answer", "8")
    page.click(f"{box} button[type=submit]")
    assert page.inner_text(f"{box} .cr-feedback") == "✓ Right: ∂C/∂w1 = 8."
    page.fill('[data-block="drill_step"] .cr-answer', "0.2")
    page.press('[data-block="drill_step"] .cr-answer', "Enter")
    assert page.inner_text('[data-block="drill_step"] .cr-feedback').startswith("✓ Right")
    flip = '[data-block="cards"] .cr-flip >> nth=0'
    assert page.get_attribute(flip, "aria-expanded") == "false"
    page.focus(flip)
    page.keyboard.press("Enter")                                 # the keyboard turns a card
    assert page.get_attribute(flip, "aria-expanded") == "true"
    assert page.is_visible('[data-block="cards"] .cr-card-a >> nth=0')
    # visible focus: the focused control draws an outline
    style = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert style not in ("", "none"), style
    pg.close()
