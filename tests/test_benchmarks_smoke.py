"""The micrograd benchmark's step runs and both engines agree (correctness only, no timing)."""
import importlib.util
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("micrograd", reason="micrograd==0.1.0 not installed: pip install micrograd==0.1.0")
pytest.importorskip("sklearn", reason="scikit-learn not installed: pip install scikit-learn")

import chainrule  # noqa: E402

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "scalar_vs_micrograd.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("scalar_vs_micrograd", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_engines_agree_on_one_step(bench):
    same = bench.check_same(n_samples=20)
    # 20 samples: per sample 80 + 528 + 32 ops and 2 inputs, plus loss and L2 terms
    assert same["params"] == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1 == 337
    assert same["nodes"] > 20 * 600
    assert same["max_grad_diff"] < 1e-12 and math.isfinite(same["loss"])


def test_step_runs_and_updates(bench):
    from micrograd.engine import Value as MgValue
    X, y = bench.moons(20)
    results = {}
    for V in (chainrule.Value, MgValue):
        model = bench.make_model(V)
        before = [float(p.data) for p in model.parameters()]
        loss, phases = bench.step(V, model, X, y, lr=0.5)
        after = [float(p.data) for p in model.parameters()]
        assert len(phases) == 4 and all(t >= 0 for t in phases)
        results[V] = (loss.data, before, after)
    (l1, b1, a1), (l2, b2, a2) = results.values()
    assert b1 == b2 and l1 == pytest.approx(l2, rel=1e-12)
    assert a1 == pytest.approx(a2, rel=1e-12, abs=1e-15) and a1 != b1


def test_traced_step_gives_the_same_gradients(bench):
    X, y = bench.moons(5)
    grads = []
    for traced in (False, True):
        model = bench.make_model(chainrule.Value)
        total, _ = bench.step(chainrule.Value, model, X, y, lr=0.0, traced=traced)
        grads.append([p.grad for p in model.parameters()])
        assert bench.count_nodes(total) > 5 * 600
    assert grads[0] == grads[1] and any(g != 0 for g in grads[0])


def test_missing_micrograd_says_how_to_install(bench, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "micrograd.engine", None)
    with pytest.raises(SystemExit) as info:
        bench.micrograd_value()
    assert info.value.code != 0
    assert "pip install micrograd==0.1.0" in capsys.readouterr().err
