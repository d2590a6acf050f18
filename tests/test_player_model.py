"""The player's model (viz/player.js) run in node on every lesson trace, against Python.

The page recomputes what the engine recorded when a slider moves: the forward values and local
derivatives from the op table's JS, the backward sweep, the chain factors folded over the unnamed
steps, the path products and the chain totals; and it writes every number with its own ``fmt``.
Here the player's own functions (``ChainrulePlayer.model``) run on each lesson's page data, at
the lesson's inputs and at every other point the lesson checks, and must give the engine's
values, gradients and local derivatives, the explainer's factors, paths and totals, and
:func:`chainrule.numfmt.fmt`'s text for each of those numbers (at 6 and at 3 digits).
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest

from chainrule import numfmt, trace
from chainrule.lab.lessons import LESSONS
from chainrule.viz.html import player_assets, player_data

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH: the player's model is not run")

REL = 1e-12       # the page's arithmetic is the engine's, up to the order of a few additions

SCRIPT = """
const M = ChainrulePlayer.model;
const enc = (v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v);
const cases = %s;
const out = cases.map(([data, digits]) => {
  const G = M.makeGraph(data);
  const S = M.computeState(G, data, (n) => n.value);
  if (S.error) return {error: S.error};
  const folds = M.foldAll(G, S, data.mode);
  const raw = (data.explanation ? data.explanation.chains : []).map((cs) => ({
    paths: cs.paths.map((p) => ({factors: p.factors.map((f) => M.factorValue(folds, f)), product: M.pathProduct(folds, p)})),
    total: M.chainTotal(folds, S, cs),
  }));
  const numbers = [...S.value, ...S.grad.filter((g) => g !== null),
                   ...raw.flatMap((c) => [c.total, ...c.paths.flatMap((p) => [p.product, ...p.factors])])];
  return {
    value: S.value.map(enc), grad: S.grad.map(enc), local: S.local.map((ls) => ls.map(enc)),
    folds: Object.fromEntries([...folds].map(([top, fs]) => [top, fs.map((f) => [f.bottom, f.slot, enc(f.value)])])),
    chains: raw.map((c) => ({total: enc(c.total),
                             paths: c.paths.map((p) => ({product: enc(p.product), factors: p.factors.map(enc)}))})),
    text: numbers.map((v) => M.fmt(v, digits)),
  };
});
console.log(JSON.stringify(out));
"""


def _num(v):
    return float(v.replace("Infinity", "inf")) if isinstance(v, str) else v


def _same(a, b) -> bool:
    a, b = _num(a), _num(b)
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=REL, abs_tol=1e-300)


def _pages():
    """(what, trace, player data) for every lesson, at its inputs and at each of its other points."""
    for lesson in LESSONS.values():
        for k, inputs in enumerate([None] + [p.inputs for p in lesson.points]):
            t = trace(lesson.run(inputs).output)
            data = player_data(t, title=lesson.title, wrt=lesson.wrt[0] if lesson.wrt else None,
                               params=list(lesson.params) if lesson.params else None, lr=lesson.lr)
            yield f"{lesson.name}@{k}", t, data


def _recorded_locals(t) -> list[list]:
    """Each node's local derivative per input port, as the backward sweep recorded them."""
    local = [[None] * len(n.inputs) for n in t.nodes]
    for step in t.backward:
        pending = list(step.locals)
        for port, i in enumerate(t.nodes[step.node].inputs):
            j = next((j for j, ls in enumerate(pending) if ls.input == i), None)
            if j is not None:
                local[step.node][port] = pending.pop(j).local
    return local


@pytest.fixture(scope="module")
def runs():
    pages = list(_pages())
    js, _ = player_assets()
    cases = [[data, digits] for _, _, data in pages for digits in (6, 3)]
    proc = subprocess.run([NODE, "-"], input=js + SCRIPT % json.dumps(cases), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert len(got) == len(cases) == 2 * len(pages) and len(pages) > len(LESSONS)
    return [(what, t, data, got[2 * k], got[2 * k + 1]) for k, (what, t, data) in enumerate(pages)]


def test_the_pages_backward_sweep_gives_the_engines_values_gradients_and_local_derivatives(runs):
    for what, t, _, js, _ in runs:
        assert "error" not in js, (what, js)
        for n in t.nodes:
            assert _same(js["value"][n.id], n.value), (what, n.label, "value", js["value"][n.id], n.value)
            if n.kind != "const":
                assert _same(js["grad"][n.id], n.grad), (what, n.label, "grad", js["grad"][n.id], n.grad)
        for n, got, want in zip(t.nodes, js["local"], _recorded_locals(t), strict=True):
            for port, (g, w) in enumerate(zip(got, want, strict=True)):
                assert w is None or _same(g, w), (what, n.label, port, g, w)


def test_the_pages_folds_paths_and_totals_are_the_explainers(runs):
    for what, _, data, js, _ in runs:
        python_folds = {top: sorted((b, s) for b, s, _, _ in rows) for top, rows in data["link_formulas"].items()}
        assert {top: sorted((b, s) for b, s, _ in fs) for top, fs in js["folds"].items()} == python_folds, what
        recorded = {(int(top), b, s): v for top, rows in data["link_formulas"].items() for b, s, _, v in rows}
        for top, fs in js["folds"].items():
            for b, s, v in fs:
                assert _same(v, recorded[(int(top), b, s)]), (what, top, b, s, v)
        chains = data["explanation"]["chains"]
        assert len(js["chains"]) == len(chains) > 0, what
        for cs, got in zip(chains, js["chains"], strict=True):
            assert _same(got["total"], cs["total"]) and _same(got["total"], cs["grad"]), (what, cs["wrt"])
            for p, gp in zip(cs["paths"], got["paths"], strict=True):
                assert _same(gp["product"], p["product"]), (what, cs["wrt"])
                assert all(_same(g, f["value"]) for f, g in zip(p["factors"], gp["factors"], strict=True)), what


def test_the_page_writes_every_one_of_those_numbers_as_numfmt_does(runs):
    checked = 0
    for what, t, data, js6, js3 in runs:
        for digits, js in ((6, js6), (3, js3)):
            chains = data["explanation"]["chains"]
            numbers = ([n.value for n in t.nodes] + [n.grad for n in t.nodes if js["grad"][n.id] is not None]
                       + [x for cs in chains
                          for x in [cs["total"], *[y for p in cs["paths"]
                                                   for y in [p["product"], *[f["value"] for f in p["factors"]]]]]])
            want = [numfmt.fmt(v, digits) for v in numbers]
            assert js["text"] == want, (what, digits, [(g, w) for g, w in zip(js["text"], want, strict=False) if g != w][:5])
            checked += len(want)
    assert checked > 500
