"""The lessons: each reproduces its seed's numbers, and agrees with PyTorch's reference values."""
import dataclasses
import math

import pytest

from chainrule.errors import InputError
from chainrule.lab.lessons import LESSONS, check, check_all, get_lesson, naive_recursive_grads

NAMES = ["chain", "chain_practice", "vanishing", "square_3x_plus_1", "square_3x_plus_2", "linear_squared",
         "two_layer_relu", "sigmoid_net", "sigmoid_bce", "quadratic_2d", "reuse"]


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def test_every_lesson_is_there():
    assert list(LESSONS) == NAMES
    for lesson in LESSONS.values():
        assert lesson.title and lesson.intro and lesson.program
        assert lesson.seed in ("000", "001", "002", "003", "004") or lesson.name == "reuse"


@pytest.mark.parametrize("name", NAMES)
def test_lesson_check_passes(name):
    result = check(LESSONS[name])
    assert result.ok, result.problems
    assert result.checked >= 3
    assert result.line().startswith(f"ok    {name}")


def test_check_all():
    results = check_all()
    assert [r.name for r in results] == NAMES and all(r.ok for r in results)


def test_check_reports_a_mismatch():
    lesson = LESSONS["chain"]
    bad = dataclasses.replace(lesson, expected={**lesson.expected, "a3": 4}, grads={"w1": 3.5})
    result = check(bad)
    assert not result.ok
    assert "a3: the lesson says 4, chainrule got 3.0" in result.problems
    assert "∂C/∂w1: the lesson says 3.5, chainrule got 3.0" in result.problems
    assert result.line().startswith("FAIL  chain")


def test_check_reports_a_lesson_that_cannot_run():
    bad = dataclasses.replace(LESSONS["quadratic_2d"], program="f = log(x - 1) + y", expected={}, grads={})
    result = check(bad)
    assert not result.ok and "log(-0.5) is undefined" in result.problems[0]


def test_check_reports_wrong_chain_factors():
    lesson = LESSONS["chain"]
    result = check(dataclasses.replace(lesson, chains={"w1": (2, 0.5, 3, 2)}))
    assert not result.ok
    assert any("factor 4 of the chain for w1" in p for p in result.problems)
    result = check(dataclasses.replace(lesson, chains={"w1": (2, 1.5)}))
    assert any("has 4 factors" in p for p in result.problems)


def test_get_lesson():
    assert get_lesson("chain") is LESSONS["chain"]
    with pytest.raises(InputError, match=r"no lesson named 'chian' \(did you mean chain\?\)"):
        get_lesson("chian")


# --------------------------------------------------------------------------
# Each lesson's numbers, as the lesson text states them
# --------------------------------------------------------------------------

def grads_of(run):
    run.grads()
    return {n: v.grad for n, v in run.values.items()}


def test_chain_numbers():
    run = LESSONS["chain"].run()
    g = grads_of(run)
    assert run.value == 1.0
    # ∂C/∂w1 = ∂C/∂a3 · ∂a3/∂a2 · ∂a2/∂a1 · ∂a1/∂w1 = 2 · 0.5 · 3 · 1 = 3
    assert g["a3"] == 2 and g["w1"] == 3 == 2 * 0.5 * 3 * 1


def test_chain_line_reads_like_the_lesson():
    from chainrule.explain import explain
    ex = explain(LESSONS["chain"].run().trace(), wrt="w1")
    assert ex.chain_line("w1") == "∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 0.5 · 3 · 1 = 3"


def test_chain_practice_numbers_and_step():
    lesson = LESSONS["chain_practice"]
    run = lesson.run()
    assert [run.values[n].data for n in ("a1", "a2", "a3", "C")] == [1, 2, 4, 1]
    g = grads_of(run)
    assert (g["w1"], g["w3"]) == (8, 4)
    step = lesson.step()
    assert step.params == ("w1",)
    assert close(step.new_values["w1"], 0.2)
    assert step.new_values["w2"] == 2 and step.new_values["w3"] == 2   # only w1 moves


def test_vanishing_numbers():
    run = LESSONS["vanishing"].run()
    g = grads_of(run)
    assert g["h5"] == 0.03125 == 1 / 32
    assert g["x"] == 0.0009765625 == 0.5 ** 10
    assert run.value == 0.0009765625


@pytest.mark.parametrize("name, at, value, wrt, grad", [
    ("square_3x_plus_1", {"x": 2}, 49, "x", 42),
    ("square_3x_plus_2", {"x": 1}, 25, "x", 30),
    ("quadratic_2d", {"x": 0.5, "y": 0.3}, 0.43, "y", 1.2),
])
def test_small_examples(name, at, value, wrt, grad):
    lesson = LESSONS[name]
    assert lesson.inputs == at
    run = lesson.run()
    assert close(run.value, value) and close(run.grads()[wrt], grad)


def test_square_3x_plus_1_sanity_check_point():
    assert close(LESSONS["square_3x_plus_1"].run({"x": 2.01}).value, 49.4209)


def test_linear_squared_numbers():
    run = LESSONS["linear_squared"].run()
    g = grads_of(run)
    assert (run.values["z"].data, run.values["h"].data, run.value) == (6, 7, 49)
    assert (g["w"], g["b"], g["x"], g["h"]) == (42, 14, 28, 14)


def test_two_layer_relu_numbers_and_step():
    lesson = LESSONS["two_layer_relu"]
    run = lesson.run()
    g = grads_of(run)
    assert close(run.value, 1.69)
    assert close(g["w1"], 1.56) and close(g["w2"], -2.6) and close(g["a1"], 0.78)
    step = lesson.step()
    assert close(step.new_values["w1"], 0.344) and close(step.new_values["w2"], -0.04)


def test_sigmoid_net_has_the_players_13_steps():
    lesson = LESSONS["sigmoid_net"]
    phases = [s.phase for s in lesson.steps]
    assert len(lesson.steps) == 13
    assert phases == ["setup"] + ["forward"] * 5 + ["backward"] * 5 + ["result"] * 2
    # the steps show the lesson's own numbers: forward values, then the five boxes of the chain
    forward = [s.value for s in lesson.steps if s.phase == "forward"]
    assert forward == [lesson.expected[n] for n in ("z1", "a1", "z2", "a2", "L")]
    boxes = tuple(s.value for s in lesson.steps if s.phase == "backward")
    assert boxes == lesson.chains["w1"]
    assert lesson.steps[11].value == lesson.grads["w1"]
    assert lesson.steps[12].value == lesson.grads["w2"]
    assert close(math.prod(boxes), lesson.grads["w1"])


def test_sigmoid_bce_gradient_is_a_minus_y_times_x_at_every_point():
    lesson = LESSONS["sigmoid_bce"]
    assert len(lesson.points) + 1 == 5
    for inputs in [lesson.inputs] + [p.inputs for p in lesson.points]:
        run = lesson.run(inputs)
        a, y, x = run.values["a"].data, inputs["y"], inputs["x"]
        g = run.grads()
        assert close(g["w"], (a - y) * x) and close(g["b"], a - y)


def test_reuse_right_and_wrong():
    lesson = LESSONS["reuse"]
    run = lesson.run()
    assert run.grads()["a"] == 4                      # c = 4a
    fresh = lesson.run()
    naive = naive_recursive_grads(fresh.output)
    assert naive[fresh.values["a"]] == 6              # 1 + 1 from b's partial sum, then 2 + 2
    assert naive[fresh.values["b"]] == 2
    assert fresh.values["a"].grad == 0.0              # the demo leaves .grad alone


def test_naive_recursion_is_right_without_sharing():
    # on a tree (no node used twice) the order does not matter: the wrong method's flaw is sharing only
    from chainrule.lang import evaluate
    run = evaluate("b = 2*a\nc = b*3", {"a": 1})
    assert naive_recursive_grads(run.output)[run.values["a"]] == 6 == run.grads()["a"]


def test_naive_recursion_refuses_exponential_blowup():
    from chainrule.lang import evaluate
    text = "\n".join(["v1 = a + a"] + [f"v{i} = v{i - 1} + v{i - 1}" for i in range(2, 20)])
    run = evaluate(text, {"a": 1})
    with pytest.raises(InputError, match="exponentially"):
        naive_recursive_grads(run.output)


# --------------------------------------------------------------------------
# Cross-check against PyTorch's values (shared/reference/seed_examples.json)
# --------------------------------------------------------------------------

# lesson -> (reference example, reference name -> our name where they differ)
CROSS = {
    "chain": ("chain_1neuron_per_layer_A", {}),
    "chain_practice": ("chain_1neuron_per_layer_B", {}),
    "square_3x_plus_1": ("square_3x_plus_1", {"u=3x+1": "u"}),
    "square_3x_plus_2": ("square_3x_plus_2", {"u=3x+2": "u"}),
    "linear_squared": ("linear_squared", {"z": "h"}),   # the seed names w·x z and w·x + b h
    "two_layer_relu": ("two_layer_relu", {}),
    "sigmoid_net": ("sigmoid_net_squared", {}),
    "quadratic_2d": ("quadratic_2d", {}),
}


@pytest.fixture(scope="module")
def reference(seed_reference):
    """../shared/reference/seed_examples.json by example name (conftest's fixture)."""
    return seed_reference


def _wrt(key: str) -> str:
    """'dC/dw1' -> 'w1'."""
    return key.split("/")[1][1:]


@pytest.mark.parametrize("name", sorted(CROSS))
def test_lesson_matches_reference(reference, name):
    ref_name, rename = CROSS[name]
    ref = reference[ref_name]
    lesson = LESSONS[name]
    assert lesson.reference == ref_name
    assert {k: float(v) for k, v in ref["inputs"].items()} == {k: float(v) for k, v in lesson.inputs.items()}
    run = lesson.run()
    g = grads_of(run)
    checked = 0
    for key, want in ref["values"].items():
        ours = rename.get(key, key)
        assert close(run.values[ours].data, want), key
        if ours in lesson.expected:   # and the lesson's own number agrees with PyTorch
            assert close(lesson.expected[ours], want), key
        checked += 1
    for key, want in ref["gradients"].items():
        ours = rename.get(_wrt(key), _wrt(key))
        assert close(g[ours], want), key
        if ours in lesson.grads:
            assert close(lesson.grads[ours], want), key
        checked += 1
    if "after_one_sgd_step" in ref:
        step = lesson.step()
        for p, want in ref["after_one_sgd_step"].items():
            if p in step.params:
                assert close(step.new_values[p], want), p
                checked += 1
    assert checked >= 2


def test_sigmoid_bce_matches_reference_points(reference):
    lesson = LESSONS["sigmoid_bce"]
    points = reference["sigmoid_bce"]["points"]
    ours = [lesson.inputs] + [p.inputs for p in lesson.points]
    assert len(points) == len(ours) == 5
    for ref, inputs in zip(points, ours, strict=True):
        assert inputs == {k: ref[k] for k in ("w", "b", "x", "y")}
        run = lesson.run(inputs)
        g = run.grads()
        assert close(run.values["a"].data, ref["a"]) and close(run.value, ref["L"])
        assert close(g["w"], ref["dL/dw"]) and close(g["b"], ref["dL/db"])
        assert close(g["w"], ref["(a-y)*x"]) and close(g["b"], ref["a-y"])


def test_vanishing_matches_reference(reference):
    ref = reference["powers_of_half"]["values"]
    g = grads_of(LESSONS["vanishing"].run())
    assert close(g["h5"], ref["0.5**5"]) and close(g["x"], ref["0.5**10"])


def test_sigmoid_net_local_derivatives_match_reference(reference):
    ref = reference["sigmoid_net_squared"]["local_derivatives"]
    want = [ref[k] for k in ("dL/da2", "da2/dz2", "dz2/da1 (=w2)", "da1/dz1", "dz1/dw1 (=x)")]
    chain = LESSONS["sigmoid_net"].chains["w1"]
    assert len(chain) == len(want) == 5
    assert list(chain) == pytest.approx(want, rel=1e-9, abs=1e-12)
