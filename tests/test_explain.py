"""chainrule.explain: the chain rule with the recorded numbers, checked against the backward pass."""
from __future__ import annotations

import json
import math
import re

import pytest

from chainrule import Value, trace
from chainrule.errors import ChainruleError, InputError
from chainrule.explain import explain, render_markdown, render_text
from chainrule.explain.formulas import product, substitute, total
from chainrule.explain.model import Explanation

@pytest.fixture
def reference(seed_reference):
    """PyTorch's numbers for a seed example (../shared/reference/seed_examples.json), by name."""
    def get(name: str) -> dict:
        assert name in seed_reference, f"no reference example {name}"
        return seed_reference[name]
    return get


def named(v: Value, name: str) -> Value:
    v.name = name  # what chainrule.lang does for every assigned variable
    return v


def chain_net(a0, w1, w2, w3, y):
    """The lesson's one-neuron-per-layer chain: a1 = w1·a0, a2 = w2·a1, a3 = w3·a2, C = (a3 − y)²."""
    a0, w1, w2, w3, y = (Value(v, name=n) for v, n in
                         [(a0, "a0"), (w1, "w1"), (w2, "w2"), (w3, "w3"), (y, "y")])
    a1 = named(w1 * a0, "a1")
    a2 = named(w2 * a1, "a2")
    a3 = named(w3 * a2, "a3")
    return named((a3 - y) ** 2, "C")


def sigmoid_net():
    x, w1, w2, b1, b2, y = (Value(v, name=n) for v, n in
                            [(1, "x"), (0.5, "w1"), (0.8, "w2"), (0, "b1"), (0, "b2"), (1, "y")])
    z1 = named(w1 * x + b1, "z1")
    a1 = named(z1.sigmoid(), "a1")
    z2 = named(w2 * a1 + b2, "z2")
    a2 = named(z2.sigmoid(), "a2")
    return named((a2 - y) ** 2, "L")


# --------------------------------------------------------------------------
# The lessons' chains
# --------------------------------------------------------------------------

def test_chain_lesson_line_exactly(reference):
    e = explain(chain_net(1, 2, 3, 0.5, 2))
    assert e.chain_line("w1") == "∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 0.5 · 3 · 1 = 3"
    cs = e.chain("w1")
    assert [f.formula for f in cs.paths[0].factors] == ["2·(a3 − y)", "w3", "w2", "a0"]
    assert [f.plain for f in cs.paths[0].factors] == ["dC/da3", "da3/da2", "da2/da1", "da1/dw1"]
    assert cs.matches is True and cs.path_count == 1 and not cs.summarised
    ref = reference("chain_1neuron_per_layer_A")["gradients"]
    for w in ("w1", "w2", "w3", "a0"):
        assert e.chain(w).total == pytest.approx(ref[f"dC/d{w}"], rel=1e-12)


def test_chain_lesson_through_the_program_language():
    from chainrule import lang
    run = lang.evaluate("a1 = w1*a0\na2 = w2*a1\na3 = w3*a2\nC = (a3 - y)**2",
                        {"a0": 1, "w1": 2, "w2": 3, "w3": 0.5, "y": 2})
    e = explain(run, wrt="w1")
    assert e.chain_line() == "∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 0.5 · 3 · 1 = 3"


def test_practice_variant_shares_the_first_factor(reference):
    e = explain(chain_net(1, 1, 2, 2, 3), wrt=["w1", "w3"])
    assert e.chain_line("w1") == "∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 2 · 2 · 1 = 8"
    assert e.chain_line("w3") == "∂C/∂w₃ = ∂C/∂a₃ · ∂a₃/∂w₃ = 2 · 2 = 4"
    first = [s for s in e.shared if s.label == "∂C/∂a₃"]
    assert len(first) == 1 and first[0].value == 2 and first[0].wrt == ["w1", "w3"]
    assert first[0].formula == "2·(a3 − y)"
    assert "∂C/∂a₃ = 2 is shared by the chains of w1, w3: one backward sweep computes it once" in e.to_text(200)
    ref = reference("chain_1neuron_per_layer_B")["gradients"]
    assert e.chain("w1").grad == ref["dC/dw1"] and e.chain("w3").grad == ref["dC/dw3"]


def test_sigmoid_network_five_factor_chain_matches_reference(reference):
    ref = reference("sigmoid_net_squared")
    e = explain(sigmoid_net())
    assert e.chain_line("w1") == ("∂L/∂w₁ = ∂L/∂a₂ · ∂a₂/∂z₂ · ∂z₂/∂a₁ · ∂a₁/∂z₁ · ∂z₁/∂w₁ = "
                                  "−0.756037 · 0.23512 · 0.8 · 0.235004 · 1 = −0.0334194")
    (path,) = e.chain("w1").paths
    local = ref["local_derivatives"]
    expected = [local["dL/da2"], local["da2/dz2"], local["dz2/da1 (=w2)"], local["da1/dz1"], local["dz1/dw1 (=x)"]]
    assert [f.value for f in path.factors] == pytest.approx(expected, rel=1e-9)
    assert [f.formula for f in path.factors] == ["2·(a2 − y)", "σ(z2)·(1−σ(z2))", "w2", "σ(z1)·(1−σ(z1))", "x"]
    assert path.product == pytest.approx(ref["chain_product_dL/dw1"], rel=1e-9)
    for w in ("w1", "w2", "b1", "b2"):
        cs = e.chain(w)
        assert cs.matches is True
        assert cs.total == pytest.approx(ref["gradients"][f"dL/d{w}"], rel=1e-9)
    w2 = e.chain("w2").paths[0].factors
    assert [f.label for f in w2] == ["∂L/∂a₂", "∂a₂/∂z₂", "∂z₂/∂w₂"]
    assert w2[-1].value == pytest.approx(local["dz2/dw2 (=a1)"], rel=1e-9)


def test_wrt_an_intermediate_variable():
    e = explain(chain_net(1, 2, 3, 0.5, 2), wrt="a1")
    assert e.chain_line() == "∂C/∂a₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ = 2 · 0.5 · 3 = 3"


def test_single_factor_chain_names_its_formula():
    e = explain(chain_net(1, 2, 3, 0.5, 2), wrt="y")
    assert e.chain_line() == "∂C/∂y = −2·(a3 − y) = −2"


# --------------------------------------------------------------------------
# Several paths
# --------------------------------------------------------------------------

def test_diamond_paths_add_up_to_the_gradient():
    a = Value(2.0, name="a")
    u = named(a * a, "u")
    v = named(a.sin(), "v")
    w = named(u * v + a, "w")
    e = explain(w)
    cs = e.chain("a")
    assert cs.path_count == 3 == len(cs.paths)
    assert [[f.label for f in p.factors] for p in cs.paths] == [
        ["∂w/∂u", "∂u/∂a"], ["∂w/∂v", "∂v/∂a"], ["∂w/∂a"]]
    assert cs.paths[0].factors[1].formula == "a + a"          # both uses of a in a * a
    assert cs.paths[1].factors[1].formula == "cos(a)"
    assert sum(p.product for p in cs.paths) == pytest.approx(cs.grad, rel=1e-12)
    assert cs.grad == pytest.approx(2 * 2 * math.sin(2) + 4 * math.cos(2) + 1, rel=1e-12)
    lines = e.chain_line("a").split("\n")
    assert len(lines) == 4
    assert lines[0].startswith("∂w/∂a = ∂w/∂u · ∂u/∂a = ")
    assert lines[1].lstrip().startswith("+ ∂w/∂v · ∂v/∂a = ")
    assert lines[2].lstrip() == "+ ∂w/∂a = 1"
    assert lines[3].lstrip().startswith("= ") and lines[3].endswith(f"= {2 * 2 * math.sin(2) + 4 * math.cos(2) + 1:.6g}")


def test_reuse_each_use_is_a_path_in_ops_mode_and_one_factor_in_names_mode():
    a = Value(1.0, name="a")
    b = named(a + a, "b")
    c = named(b + b, "c")
    ops = explain(c, ops=True).chain("a")
    assert ops.path_count == 4 and [p.product for p in ops.paths] == [1, 1, 1, 1]
    assert ops.total == 4 == ops.grad
    assert any("uses b 2 times" in n for n in ops.notes)
    names = explain(c).chain("a")
    assert names.path_count == 1
    assert [(f.formula, f.value) for f in names.paths[0].factors] == [("1 + 1", 2.0), ("1 + 1", 2.0)]
    assert explain(c).chain_line("a") == "∂c/∂a = ∂c/∂b · ∂b/∂a = 2 · 2 = 4"
    text = explain(c, ops=True).chain_line("a")
    assert text.split("\n")[-1].strip() == "= 1 + 1 + 1 + 1 = 4"


def test_2_to_the_60_paths_are_counted_not_listed():
    x = Value(1.0, name="x")
    y = x
    for _ in range(60):
        y = y + y
    e = explain(y, max_paths=16)
    cs = e.chain("x")
    assert e.mode == "ops"                  # nothing named in between: every step is a link
    assert cs.path_count == 2 ** 60
    assert cs.summarised and len(cs.paths) == 16
    assert all(len(p.factors) == 60 and p.product == 1 for p in cs.paths)
    assert cs.total == cs.grad == 2.0 ** 60 and cs.matches is True
    text = e.to_text()
    assert "2⁶⁰ = 1,152,921,504,606,846,976" in text
    assert "more paths" in text
    line = e.chain_line("x", max_factors=6)
    assert "sum over all 2⁶⁰" in line and len(line.split("\n")) == 5
    json.dumps(e.to_dict())


def test_many_paths_in_names_mode_inside_one_assignment():
    # 2^30 ways through the unnamed steps of one assignment: folded by DP, formula summarised
    x = Value(1.5, name="x")
    h = named(x * 1.0, "h")
    y = h
    for _ in range(30):
        y = y + y
    y = named(y, "y")
    cs = explain(y).chain("x")
    assert cs.path_count == 1
    (top, bottom) = cs.paths[0].factors
    assert top.value == 2.0 ** 30 and "2³⁰" not in top.formula and top.ways == 2 ** 30
    assert cs.matches is True


# --------------------------------------------------------------------------
# Checked, not assumed
# --------------------------------------------------------------------------

def test_a_mismatch_is_visible():
    t = trace(chain_net(1, 2, 3, 0.5, 2))
    t.node("w1").grad = 3.5                       # as if the backward pass had gone wrong
    e = explain(t, wrt="w1")
    cs = e.chain()
    assert cs.total == 3 and cs.matches is False
    assert "✗" in e.chain_line() and "3.5" in e.chain_line()
    assert "✗" in e.to_text() and any("3.5" in n for n in cs.notes)


LAYERS = 12


def two_routes(x, w):
    """Each layer reaches the next two ways (through tanh and through sin): 2¹³ paths from L = h·h to x."""
    h = x
    for _ in range(LAYERS):
        h = (h * w).tanh() + h.sin() * 0.5
    return h * h


def two_routes_float(x, w=0.6):
    h = x
    for _ in range(LAYERS):
        h = math.tanh(h * w) + math.sin(h) * 0.5
    return h * h


def summarised_case():
    x, w = Value(0.7, name="x"), Value(0.6, name="w")
    t = trace(two_routes(x, w))
    return t, explain(t, wrt="x", ops=True, max_paths=16)


def test_a_summarised_total_is_checked_by_forward_mode():
    t, e = summarised_case()
    cs = e.chain("x")
    assert cs.summarised and cs.path_count == 2 ** (LAYERS + 1) and len(cs.paths) == 16
    # the independent number: central differences of the plain-float function (no op table at all)
    h = 1e-6
    numeric = (two_routes_float(0.7 + h) - two_routes_float(0.7 - h)) / (2 * h)
    assert cs.forward == pytest.approx(numeric, rel=1e-6)
    assert cs.total == pytest.approx(cs.forward, rel=1e-12) and cs.grad == pytest.approx(cs.forward, rel=1e-12)
    assert cs.matches is True
    assert f"= forward mode's {fmt6(cs.forward)}" in flat(e.to_text())
    assert any("forward mode (a tangent pushed up from x) checks it independently" in n for n in cs.notes)
    listed = explain(t, wrt="x", ops=True, max_paths=2 ** (LAYERS + 1)).chain("x")   # all paths listed: no forward
    assert not listed.summarised and listed.forward is None and listed.total == pytest.approx(cs.total, rel=1e-12)


def fmt6(x: float) -> str:
    return f"{x:.6g}"


def flat(text: str) -> str:
    """The text with its line wrapping undone (the terminal text wraps long lines)."""
    return " ".join(text.split())


def test_a_tampered_summarised_total_is_caught_and_shown(monkeypatch):
    """The summarised total comes from a path-counting DP; if it ever drifts, the check must say so."""
    from chainrule.explain import chains
    t, _ = summarised_case()
    real = chains.LinkGraph.from_output

    def drifted(self):
        ways, down, absdown = real(self)
        return ways, {k: v * 1.001 for k, v in down.items()}, absdown
    monkeypatch.setattr(chains.LinkGraph, "from_output", drifted)
    e = explain(t, wrt="x", ops=True, max_paths=16)
    cs = e.chain("x")
    assert cs.summarised and cs.matches is False
    assert cs.total == pytest.approx(cs.forward * 1.001, rel=1e-12)
    text = flat(e.to_text())
    assert "✗ sum over all paths" in text and "do not all agree" in text and "✗" in e.chain_line("x")
    assert any("but the backward pass recorded" in n for n in cs.notes)
    assert any(f"but forward mode gives {fmt6(cs.forward)}" in n for n in cs.notes)


def test_a_summarised_total_that_agrees_with_a_wrong_backward_pass_is_caught(monkeypatch):
    """Backward pass and path sum wrong the same way (a total copied from the recorded gradient, say):
    only an independent number can tell, and forward mode does."""
    from chainrule.explain import chains
    t, good = summarised_case()
    right = good.chain("x").grad
    t.node("x").grad = right * 2                   # as if the backward sweep had gone wrong
    real = chains.LinkGraph.from_output

    def agreeing(self):
        ways, down, absdown = real(self)
        return ways, {k: (right * 2 if k == t.node("x").id else v) for k, v in down.items()}, absdown
    monkeypatch.setattr(chains.LinkGraph, "from_output", agreeing)
    e = explain(t, wrt="x", ops=True, max_paths=16)
    cs = e.chain("x")
    assert cs.total == cs.grad == right * 2        # the two agree ...
    assert cs.forward == pytest.approx(right, rel=1e-12)
    assert cs.matches is False                     # ... and it is still caught
    assert not any("backward pass recorded" in n for n in cs.notes)
    assert any(f"but forward mode gives {fmt6(right)}" in n for n in cs.notes)
    assert f"forward mode's {fmt6(right)} do not all agree" in flat(e.to_text())


def test_a_summarised_case_with_a_wrong_recorded_gradient_is_caught():
    t, _ = summarised_case()
    t.node("x").grad *= 3                          # the path sum must not just repeat the recorded gradient
    cs = explain(t, wrt="x", ops=True, max_paths=16).chain("x")
    assert cs.summarised and cs.matches is False
    assert cs.total == pytest.approx(cs.grad / 3, rel=1e-12) and cs.forward == pytest.approx(cs.total, rel=1e-12)
    assert any("but the backward pass recorded" in n for n in cs.notes)


def test_tensor_style_descriptions_do_not_crash():
    t = trace(chain_net(1, 2, 3, 0.5, 2))
    for step in t.backward:
        for ls in step.locals:
            if ls.formula == "w3":
                ls.local = "multiply by W3ᵀ"
    e = explain(t, wrt=["w1", "w3"])
    w1 = e.chain("w1")
    assert w1.matches is None and w1.paths[0].product is None
    assert w1.paths[0].factors[1].value == "multiply by W3ᵀ"
    assert e.chain("w3").matches is True              # its chain does not go through the description
    assert "multiply by W3ᵀ" in e.to_text() and "not checked" in e.to_text()
    e.to_markdown()
    json.dumps(e.to_dict())


def test_second_backward_warning_is_shown():
    C = chain_net(1, 2, 3, 0.5, 2)
    C.backward()
    assert not explain(C).trace.warnings     # one backward pass is the normal state
    C.backward()
    e = explain(C)
    assert e.trace.warnings
    assert "Warnings" in e.to_text() and "zero_grad" in e.to_text()
    assert "### Warnings" in e.to_markdown()


def test_explaining_does_not_change_gradients():
    C = chain_net(1, 2, 3, 0.5, 2)
    leaves = {p.name: p for p in _leaves(C)}
    assert sorted(leaves) == ["a0", "w1", "w2", "w3", "y"]
    e = explain(C)
    e.to_text()
    assert {k: p.grad for k, p in leaves.items()} == dict.fromkeys(leaves, 0.0)   # no backward pass run on them
    assert e.chain("w1").grad == 3.0                                              # though the trace has its own
    # after a real backward pass the leaves hold the gradients (by hand: C = (w3·w2·w1·a0 − y)², a3 − y = 1);
    # explaining, rendering and serialising leave them exactly as they were, and the trace agrees with them
    C.backward()
    want = {"a0": 6.0, "w1": 3.0, "w2": 2.0, "w3": 12.0, "y": -2.0}
    assert {k: p.grad for k, p in leaves.items()} == want
    e = explain(C)
    e.to_text(), e.to_markdown(), e.to_dict()
    explain(C, ops=True).to_text()
    assert {k: p.grad for k, p in leaves.items()} == want
    assert {c.wrt: c.grad for c in e.chains} == want


def _leaves(v):
    seen, stack, out = set(), [v], []
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if not n._parents():
            out.append(n)
        stack.extend(n._parents())
    return out


# --------------------------------------------------------------------------
# wrt and errors
# --------------------------------------------------------------------------

def test_unknown_wrt_names_it_and_lists_the_inputs():
    with pytest.raises(InputError) as err:
        explain(chain_net(1, 2, 3, 0.5, 2), wrt="w9")
    msg = str(err.value)
    assert "'w9'" in msg and "a0, w1, w2, w3, y" in msg


def test_wrt_forms():
    a = Value(2.0)                         # unnamed: found by identity when target is a Value
    b = Value(3.0, name="b")
    out = a * b + b
    e = explain(out, wrt=[a, b, "b"])
    assert [c.wrt for c in e.chains] == [e.trace.nodes[e.chains[0].node].label, "b"]
    assert e.chains[0].total == 3.0 and e.chains[1].total == 3.0
    with pytest.raises(InputError):
        explain(trace(out), wrt=a)           # a bare trace cannot find an unnamed Value
    with pytest.raises(InputError):
        explain(out, wrt=Value(1.0, name="elsewhere"))
    with pytest.raises(InputError):
        explain(out, wrt=3.5)


def test_constant_wrt_and_bad_targets_are_refused():
    x = Value(2.0, name="x")
    k = Value(3.0, name="k", requires_grad=False)
    with pytest.raises(InputError, match="constant"):
        explain(x * k, wrt="k")
    with pytest.raises(ChainruleError):
        explain("not a graph")
    with pytest.raises(InputError):
        explain(Value(1.0, requires_grad=False) * 2)
    with pytest.raises(InputError):
        explain(x * k, max_paths=0)


def test_trace_without_backward_still_renders_the_forward_pass():
    C = chain_net(1, 2, 3, 0.5, 2)
    t = trace(C, backward=False)
    e = explain(t)
    assert e.chains == [] and e.notes
    assert "Forward pass" in e.to_text() and "w3 · a2" in e.to_text()
    with pytest.raises(InputError):
        explain(t, wrt="w1")


def test_unnamed_graph_falls_back_to_ops_mode():
    w, x = Value(2.0, name="w"), Value(3.0, name="x")
    L = (w * x + 1.0) ** 2          # output not named: nothing to read in the user's own terms
    e = explain(L)
    assert e.mode == "ops" and any("named" in n for n in e.notes)
    cs = e.chain("w")
    assert [f.label for f in cs.paths[0].factors][1:] == ["∂add₄/∂mul₂", "∂mul₂/∂w"]
    assert cs.total == cs.grad == 2 * 7 * 3


def test_named_output_without_named_intermediates_is_one_factor():
    w, x = Value(2.0, name="w"), Value(3.0, name="x")
    L = named((w * x + 1.0) ** 2, "L")
    e = explain(L)
    assert e.mode == "names"
    [path] = e.chain("w").paths
    assert len(path.factors) == 1 and path.factors[0].label == "∂L/∂w"
    assert path.product == 2 * 7 * 3


def test_long_chain_needs_no_recursion():
    x = Value(0.5, name="x")
    y = x
    for i in range(3000):
        y = named(y * 1.0, f"h{i}")
    e = explain(y)
    cs = e.chain("x")
    assert cs.path_count == 1 and len(cs.paths[0].factors) == 3000 and cs.matches is True
    assert "…" in e.to_text()


# --------------------------------------------------------------------------
# Renderings
# --------------------------------------------------------------------------

def test_text_has_every_section():
    text = render_text(trace(sigmoid_net()), width=300)
    assert "Forward pass" in text and "Backward pass" in text and "Chains" in text and "Shared factors" in text
    assert "z1    w1 · x + b1" in text                          # the named link's right-hand side
    assert "L     (a2 − y)^2" in text
    assert "2·(a2 − y) = −0.756037" in text                     # local formula with its recorded number
    assert "−0.756037 × 0.23512 = −0.17776" in text             # incoming × local = contribution
    assert "∂L/∂a₂ = −0.756037 is shared by the chains of x, w1, w2, b1, b2" in text.replace(
        "chains of w1, x,", "chains of x, w1,")
    assert "✓" in text


def test_ops_text_lists_every_primitive():
    text = render_text(chain_net(1, 2, 3, 0.5, 2), ops=True)
    assert "sub8" in text and "2·sub8" in text and "∂C/∂sub₈" in text


def test_markdown_has_tables_and_chains():
    md = render_markdown(sigmoid_net(), wrt="w1")
    assert "### Forward pass" in md and "| # | node | computed as | value |" in md
    assert "### Backward pass" in md and "incoming × local = contribution" in md
    assert "#### ∂L/∂w₁" in md
    assert ("∂L/∂w₁ = ∂L/∂a₂ · ∂a₂/∂z₂ · ∂z₂/∂a₁ · ∂a₁/∂z₁ · ∂z₁/∂w₁ = "
            "−0.756037 · 0.23512 · 0.8 · 0.235004 · 1 = −0.0334194") in md
    assert "| ∂a₂/∂z₂ | σ(z2)·(1−σ(z2)) | 0.23512 |" in md
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 3
    for table in tables:  # every row has as many cells as its header
        cells = [len(re.split(r"(?<!\\)\|", row)) for row in table]
        assert len(set(cells)) == 1, table


def test_markdown_escapes_bars():
    x = Value(-2.0, name="x")
    y = named(abs(x) * 3.0, "y")
    z = named(y + x, "z")
    md = render_markdown(z)
    assert "\\|x\\|" in md


def test_to_dict_json_round_trip():
    e = explain(sigmoid_net())
    d = e.to_dict()
    again = json.loads(json.dumps(d))
    assert again == d
    assert again["chains"][1]["lines"][0].startswith("∂L/∂w₁ = ∂L/∂a₂")
    back = Explanation.from_dict(again)
    assert back.to_text() == e.to_text()
    assert back.chain_line("w1") == e.chain_line("w1")
    slim = e.to_dict(include_trace=False)
    assert "trace" not in slim and json.loads(json.dumps(slim)) == slim


# --------------------------------------------------------------------------
# Formula text
# --------------------------------------------------------------------------

def test_substitute_adds_parentheses_only_where_needed():
    assert substitute("2·sub8", {"sub8": "a3 − y"}) == "2·(a3 − y)"
    assert substitute("sub8^2", {"sub8": "a3 − y"}) == "(a3 − y)^2"
    assert substitute("mul4 + b1", {"mul4": "w1 · x"}) == "w1 · x + b1"
    assert substitute("mul4", {"mul4": "w1 · x"}) == "w1 · x"
    assert substitute("σ(add5)·(1−σ(add5))", {"add5": "w · x + b"}) == "σ(w · x + b)·(1−σ(w · x + b))"
    assert substitute("−x/add4²", {"add4": "c + d"}) == "−x/(c + d)²"
    assert substitute("a − neg3", {"neg3": "−b"}) == "a − (−b)"
    assert substitute("add12 + add1", {"add1": "p + q", "add12": "r · s"}) == "r · s + p + q"


def test_product_and_total_simplify_trivially():
    assert product(["2·(a3 − y)", "1"]) == "2·(a3 − y)"
    assert product(["1", "w2"]) == "w2"
    assert product(["2·(a3 − y)", "−1"]) == "−2·(a3 − y)"
    assert product(["1", "1"]) == "1"
    assert product(["−1"]) == "−1"
    assert product(["−sin(x)", "a + b"]) == "−sin(x)·(a + b)"
    assert product(["1 if z > 0 else 0", "w"]) == "(1 if z > 0 else 0)·w"
    assert total([["1"], ["1"]]) == "1 + 1"
    assert total([["a"], ["−1", "b"]]) == "a − b"
    assert total([["x"]]) == "x"


# --------------------------------------------------------------------------
# Random programs: the sum of path products is the gradient
# --------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

_UNARY = {
    "neg": lambda a: -a, "tanh": lambda a: a.tanh(), "sigmoid": lambda a: a.sigmoid(),
    "sin": lambda a: a.sin(), "cos": lambda a: a.cos(), "square": lambda a: a.square(),
    "exp": lambda a: a.tanh().exp(), "log": lambda a: (a * a + 1.0).log(),
    "sqrt": lambda a: (a * a + 0.5).sqrt(), "relu": lambda a: a.relu(), "abs": lambda a: abs(a),
    "cube": lambda a: a ** 3, "leaky": lambda a: a.leaky_relu(0.1),
}
_BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1.0), "max": lambda a, b: a.maximum(b),
    "min": lambda a, b: a.minimum(b), "pow": lambda a, b: (a * a + 1.0) ** b.tanh(),
}


@st.composite
def programs(draw):
    n_leaves = draw(st.integers(1, 4))
    nodes = [Value(draw(st.floats(-2, 2, allow_nan=False)), name=f"x{i}",
                   requires_grad=(i == 0 or draw(st.booleans()))) for i in range(n_leaves)]
    for i in range(draw(st.integers(1, 14))):
        if draw(st.booleans()):
            op = draw(st.sampled_from(sorted(_UNARY)))
            v = _UNARY[op](draw(st.sampled_from(nodes)))
        else:
            op = draw(st.sampled_from(sorted(_BINARY)))
            v = _BINARY[op](draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes)))
        if abs(v.data) > 1e3:
            v = v.tanh()
        if draw(st.booleans()):
            v.name = f"v{i}"
        nodes.append(v)
    out = nodes[-1] + nodes[0] * draw(st.sampled_from([0.5, 1.0, 2.0]))  # the first input always counts
    out.name = "out"
    return out


@settings(max_examples=150)
@given(programs(), st.booleans(), st.sampled_from([1, 3, 64]))
def test_random_programs_paths_sum_to_the_gradient(out, ops, max_paths):
    e = explain(out, ops=ops, max_paths=max_paths)
    assert e.chains, "every program has at least one input"
    for cs in e.chains:
        assert cs.matches is True, e.chain_line(cs.wrt)
        if not cs.summarised:
            products = [p.product for p in cs.paths]
            scale = max(sum(abs(p) for p in products), abs(cs.grad), 1e-300)
            assert abs(math.fsum(products) - cs.grad) <= 1e-9 * scale
            assert len(cs.paths) == cs.path_count
        else:
            assert len(cs.paths) == max_paths < cs.path_count
    text = e.to_text()
    assert "Chains" in text
    json.dumps(e.to_dict())
