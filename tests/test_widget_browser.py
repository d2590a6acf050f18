"""Issue 14 item 4: the notebook widget's front end in Chromium, without Jupyter.

A static page imports the widget's ES module (chainrule.jupyter.esm()) and renders it into a
fake model (get/set/on/off/save_changes/send, as anywidget's). With no kernel the page
recomputes with the op table's JS; with a fake kernel that answers the ping and replays the
answers the real widget's Python side gave, the numbers shown are Python's.
"""
from __future__ import annotations

import json
import os
import sys

import pytest

import chainrule
from chainrule.jupyter import css, esm

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
_LIMIT = sys.getrecursionlimit()
pytest.importorskip("anywidget", reason="the widget needs anywidget (pip install anywidget)")
sys.setrecursionlimit(_LIMIT)   # importing ipywidgets raises it (to IPython's 3000); lang's tests assume Python's
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package); browser tests need it",
                allow_module_level=True)

SEED = "z1 = w1*x\na1 = relu(z1)\nz2 = w2*a1\nL = (z2 - y)**2"
AT = {"x": 2.0, "y": 1.0, "w1": 0.5, "w2": -0.3}

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>%(css)s</style></head><body>
<div id="out"></div>
<script type="module">
const ESM = %(esm)s, DATA = %(data)s, ANSWERS = %(answers)s, KERNEL = %(kernel)s;
class FakeModel {
  constructor() { this.attrs = {data: DATA.data, values: DATA.values, state: DATA.state, step: 0, lr: DATA.lr};
                  this.handlers = {}; this.sent = []; this.saves = []; }
  get(k) { return this.attrs[k]; }
  set(k, v) { this.attrs[k] = v; }
  on(ev, fn) { (this.handlers[ev] = this.handlers[ev] || []).push(fn); }
  off(ev, fn) { this.handlers[ev] = (this.handlers[ev] || []).filter((f) => f !== fn); }
  fire(ev, arg) { for (const fn of this.handlers[ev] || []) fn(arg); }
  send(msg) {
    this.sent.push(msg);
    if (KERNEL && msg.type === "ping") setTimeout(() => this.fire("msg:custom", {type: "pong"}), 0);
  }
  save_changes() {
    const values = this.attrs.values;
    this.saves.push(JSON.parse(JSON.stringify(values)));
    if (!KERNEL) return;
    // the kernel: the answer the real widget's Python side gave for these values
    const hit = ANSWERS.find((a) => Object.keys(a.values).every((k) => Math.abs(a.values[k] - values[k]) < 1e-12));
    if (hit) setTimeout(() => { this.attrs.state = hit.state; this.fire("change:state"); }, 0);
  }
}
const url = URL.createObjectURL(new Blob([ESM], {type: "text/javascript"}));
const mod = await import(url);
window.model = new FakeModel();
window.cleanup = mod.default.render({model: window.model, el: document.getElementById("out")});
window.ready = true;
</script></body></html>"""


def _page(tmp_path, name, widget, answers, kernel):
    data = {"data": widget.data, "values": widget.values, "state": widget.state, "lr": widget.lr}
    text = PAGE % {"css": css(), "esm": json.dumps(esm()).replace("<", "\\u003c"), "data": json.dumps(data),
                   "answers": json.dumps(answers), "kernel": "true" if kernel else "false"}
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("window.ready === true")
    return page, errors


def _slide(page, label, value):
    key = page.evaluate("(l) => ChainrulePlayer.players[0].G.nodes.find((n) => n.label === l).id", label)
    page.evaluate("([id, v]) => { const r = document.querySelector(`input[data-leaf=\"${id}\"]`); "
                  "r.value = v; r.dispatchEvent(new Event('input', {bubbles: true})); }", [key, value])
    return key


def _grad(page, label):
    return page.evaluate("(l) => { const p = ChainrulePlayer.players[0]; "
                         "return p.S.grad[p.G.nodes.find((n) => n.label === l).id]; }", label)


def test_with_a_kernel_the_numbers_come_from_python_and_steps_and_descent_go_through_the_model(browser, tmp_path):
    w = chainrule.widget(SEED, values=AT)
    answers = []
    w.values = {**AT, "w1": 1.0}                       # what the slider below will ask
    answers.append({"values": dict(w.values), "state": w.state})
    w.descend()                                       # what the page's descent button will ask
    answers.append({"values": dict(w.values), "state": w.state})
    after = w.trace
    w2 = chainrule.widget(SEED, values=AT)
    page, errors = _open(browser, _page(tmp_path, "kernel.html", w2, answers, kernel=True))
    page.wait_for_function("document.querySelector('.chainrule-widget').dataset.kernel === 'yes'")
    assert page.evaluate("window.model.sent") == [{"type": "ping"}]
    _slide(page, "w1", "1")
    page.wait_for_function("document.querySelector('.chainrule-widget').dataset.source.includes('Python')")
    assert page.evaluate("window.model.saves")[-1] == {**AT, "w1": 1.0}
    assert _grad(page, "w1") == next(n["grad"] for n in answers[0]["state"]["trace"]["nodes"] if n["label"] == "w1")
    assert _grad(page, "w1") == pytest.approx(1.92)
    page.click('[data-act="descend"]')
    page.wait_for_function("window.model.saves.length === 2 && ChainrulePlayer.players[0].leaf.some("
                           "(v) => Math.abs(v - %r) < 1e-12)" % after.node("w1").value)
    assert page.evaluate("window.model.saves")[-1] == answers[1]["values"]
    assert _grad(page, "w2") == pytest.approx(after.node("w2").grad, rel=1e-15)
    page.click('[data-act="next"]')                   # the step control reaches the model...
    assert page.evaluate("window.model.get('step')") == 1
    page.evaluate("window.model.set('step', 3); window.model.fire('change:step')")   # ...and back
    assert page.evaluate("ChainrulePlayer.players[0].k") == 3
    page.evaluate("window.cleanup()")
    assert page.evaluate("ChainrulePlayer.players.length") == 0
    assert errors == []
    page.close()


def test_without_a_kernel_the_page_recomputes_with_the_op_tables_js(browser, tmp_path):
    w = chainrule.widget(SEED, values=AT)
    page, errors = _open(browser, _page(tmp_path, "static.html", w, [], kernel=False))
    assert page.evaluate("document.querySelector('.chainrule-widget').dataset.kernel") == "no"
    _slide(page, "w1", "1")
    assert page.evaluate("document.querySelector('.chainrule-widget').dataset.source").startswith("recomputed")
    assert page.evaluate("window.model.saves") == []  # nothing went to a kernel
    expected = chainrule.lang.evaluate(SEED, {**AT, "w1": 1.0}).trace()
    assert _grad(page, "w1") == pytest.approx(expected.node("w1").grad, rel=1e-12)
    assert errors == []
    page.close()
