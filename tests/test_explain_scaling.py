"""trace() and explain() do work in proportion to the graph; big graphs are summarised.

No timings here (they live in benchmarks/trace_scaling.py): the work is
counted instead, as Python function calls (cProfile's count is exact and the
same on any machine) and as peak traced memory. Explaining a flat sum was
quadratic in its width; a 10⁶-node trace had no bound at all.
"""
import cProfile
import math
import pstats
import tracemalloc

import pytest

from chainrule import Value
from chainrule.errors import InputError
from chainrule.explain import Explanation, explain
from chainrule.explain import build as explain_build
from chainrule.explain.chains import pretty
from chainrule.explain.formulas import precedence
from chainrule.trace import trace


def flat_sum(n):
    xs = [Value(0.001 * i, name=f"x{i}") for i in range(n)]
    s = xs[0]
    for v in xs[1:]:
        s = s + v
    s.name = "L"
    return s, xs


def chain(n, name_output=True):
    x = Value(0.5, name="x")
    y = x
    for _ in range(n):
        y = (y * 0.999).tanh()
    if name_output:
        y.name = "L"
    return y


def calls(fn, *args, **kw) -> int:
    for cached in (precedence, pretty):   # measure each run from cold: caches would favour the second
        getattr(cached, "cache_clear", lambda: None)()
    prof = cProfile.Profile()
    prof.runcall(fn, *args, **kw)
    return pstats.Stats(prof).total_calls


def peak(fn, *args, **kw) -> int:
    tracemalloc.start()
    try:
        fn(*args, **kw)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_explaining_a_flat_sum_is_linear_in_its_width():
    small, big = (trace(flat_sum(n)[0]) for n in (1500, 3000))
    ratio = calls(explain, big, full=True) / calls(explain, small, full=True)
    assert ratio < 2.3, ratio           # twice the width, about twice the calls (was about 4×)
    memory = peak(explain, big, full=True) / peak(explain, small, full=True)
    assert memory < 2.5, memory


def test_a_flat_sum_is_explained_correctly_in_full():
    L, xs = flat_sum(3000)
    e = explain(L, full=True)
    assert e.summary is None and len(e.chains) == 3000
    for c in (e.chain("x0"), e.chain("x1234"), e.chain("x2999")):
        assert c.grad == 1.0 and c.total == 1.0 and c.matches is True
        assert [f.formula for p in c.paths for f in p.factors] == ["1"]


def test_a_long_unnamed_chain_is_linear_and_its_factor_is_described_not_written_out():
    small, big = trace(chain(2000)), trace(chain(4000))
    assert calls(explain, big, full=True) / calls(explain, small, full=True) < 2.3
    c = explain(big, full=True).chain("x")
    (path,) = c.paths
    (factor,) = path.factors
    assert factor.formula == "a product of up to 8,000 local derivatives through unnamed steps"
    assert c.matches is True and math.isclose(c.total, c.grad, rel_tol=1e-12)


def test_tracing_is_linear_in_calls_and_memory_and_pauses_the_cyclic_collector():
    import gc
    a, b = chain(2500), chain(5000)
    assert calls(trace, b) / calls(trace, a) < 2.1
    per_node = peak(trace, b) / (3 * 5000)
    assert per_node < 1500, per_node     # bytes per trace node, with its backward step and local
    # The collector re-scanning the graph and the growing trace was half of a big trace's time;
    # nothing a trace makes forms a cycle, so trace() pauses it (and turns it back on).
    assert gc.isenabled()
    before = sum(s["collections"] for s in gc.get_stats())
    trace(b)
    assert sum(s["collections"] for s in gc.get_stats()) == before
    assert gc.isenabled()


# -- the summary of a big graph -------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_sum():
    L, xs = flat_sum(6000)             # 11,999 nodes: above the 10,000 of SUMMARY_ABOVE
    # different gradients: out = Σ xᵢ + Σ_{i<3000} (i mod 7 + 1)·xᵢ
    weighted = sum((x * float(i % 7 + 1) for i, x in enumerate(xs[:3000])), Value(0.0, requires_grad=False))
    out = L + weighted
    out.name = "out"
    return trace(out), xs


def test_a_big_graph_is_summarised_by_default(big_sum):
    t, xs = big_sum
    assert len(t.nodes) > explain_build.SUMMARY_ABOVE
    e = explain(t)
    s = e.summary
    assert s is not None and s.nodes == len(t.nodes) and s.limit == 10_000
    assert len(e.chains) == explain_build.SUMMARY_CHAINS == 8
    # the chains are for the largest gradients: xᵢ with i mod 7 = 6 (gradient 1 + 7 = 8)
    assert {c.grad for c in e.chains} == {8.0}
    assert all(int(c.wrt[1:]) % 7 == 6 and int(c.wrt[1:]) < 3000 for c in e.chains)
    assert all(c.matches is True and c.total == 8.0 for c in e.chains)
    assert s.inputs == 6000 and s.rest == 6000 - 8 and s.explained == [c.wrt for c in e.chains]
    assert [g for _, g in s.largest] == [8.0] * 10
    assert "full=True" in s.message and s.message in e.notes
    text = e.to_text()
    assert "Other inputs (summary)" in text and "5,992 of 6,000 inputs have no chain here" in text
    assert s.explained == [f"x{6 + 7 * k}" for k in range(8)]
    assert [label for label, _ in s.largest] == [f"x{6 + 7 * k}" for k in range(8, 18)]
    assert all(f"∂out/∂{pretty(label)} = 8" in text for label, _ in s.largest)
    md = e.to_markdown()
    assert "### Other inputs (summary)" in md


def test_full_true_and_wrt_ask_for_more(big_sum):
    t, xs = big_sum
    named = explain(t, wrt=["x1", "x5000"])
    assert [c.wrt for c in named.chains] == ["x1", "x5000"] and named.summary.rest == 5998
    assert [c.grad for c in named.chains] == [3.0, 1.0]
    everything = explain(t, full=True)
    assert everything.summary is None and len(everything.chains) == 6000
    assert all(c.matches is True for c in everything.chains)
    with pytest.raises(InputError, match="full must be True or False"):
        explain(t, full="yes")


def test_a_summarised_long_path_is_shortened_but_its_product_uses_every_factor():
    L = chain(6000, name_output=False)           # no names: every primitive step is a link
    e = explain(L)
    assert e.summary is not None and e.mode == "ops"
    c = e.chain("x")
    (path,) = c.paths
    k = explain_build.SUMMARY_FACTORS
    assert len(path.factors) == 2 * k and path.omitted == 12000 - 2 * k
    assert math.isclose(path.product, c.grad, rel_tol=1e-9) and c.matches is True
    line = e.chain_line("x")
    assert f"… {12000 - 2 * k:,} more …" in line
    back = Explanation.from_dict(e.to_dict())
    assert back.summary == e.summary and back.chains[0].paths[0].omitted == path.omitted
    assert back.to_text() == e.to_text()


def test_small_graphs_are_not_summarised():
    a, b = Value(2.0, name="a"), Value(3.0, name="b")
    c = a * b
    c.name = "c"
    e = explain(c)
    assert e.summary is None and e.to_dict()["summary"] is None
    assert [ch.grad for ch in e.chains] == [3.0, 2.0]


def test_the_cli_summarises_big_graphs_and_full_explains_everything(monkeypatch, capsys):
    import json
    from chainrule.cli import main
    monkeypatch.setattr(explain_build, "SUMMARY_ABOVE", 5)      # this small program counts as big
    monkeypatch.setattr(explain_build, "SUMMARY_CHAINS", 1)
    argv = ["explain", "a1 = w1*a0; a2 = w2*a1; a3 = w3*a2; C = (a3 - y)**2",
            "--at", "a0=1", "w1=2", "w2=3", "w3=0.5", "y=2", "--format", "json"]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    # by hand: ∂C/∂w3 = 2·(a3 − y)·a2 = 2·1·6 = 12, the largest of (6, 3, 2, 12, −2)
    assert [(c["wrt"], c["grad"]) for c in d["chains"]] == [("w3", 12.0)]
    assert d["summary"]["rest"] == 4 and d["summary"]["largest"][0] == ["a0", 6.0]
    assert main(argv + ["--full"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["summary"] is None
    assert [(c["wrt"], c["grad"]) for c in d["chains"]] == [("w1", 3.0), ("a0", 6.0), ("w2", 2.0),
                                                            ("w3", 12.0), ("y", -2.0)]
