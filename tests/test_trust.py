"""Never wrong without saying so: out-of-date graphs are refused, non-finite numbers are reported.

Issue 7, items 1 and 3: explaining or tracing after the leaves changed in place
(``loss.backward(); opt.step(); explain(loss)``) names the changed parameter
instead of printing a chain next to "✓"; an inf or nan gradient gets a warning
naming where it first appeared and why, never a "✓", ``null`` in JSON, and the
CLI's exit status 3; ``detect_anomaly()`` names the first such node and its chain.
"""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import chainrule
from chainrule import AnomalyError, StaleGraphError, Tensor, Tracer, Value, detect_anomaly, no_grad, trace
from chainrule.cli import EXIT_NONFINITE, main
from chainrule.explain import explain
from chainrule.explain import explain_tensor
from chainrule.optim import SGD, Adam


def small_net():
    x, w = Value(3.0, name="x"), Value(0.5, name="w")
    a = w * x
    a.name = "a"
    L = (a - 1) ** 2
    L.name = "L"
    return x, w, L


# --------------------------------------------------------------------------
# 1. stale graphs: scalar
# --------------------------------------------------------------------------

def test_explain_after_an_update_names_the_parameter_instead_of_blaming_a_second_backward():
    x, w, L = small_net()
    L.backward()
    w.data -= 0.1 * w.grad                      # what an optimizer step does
    with pytest.raises(StaleGraphError) as e:
        explain(L)
    msg = str(e.value)
    assert "w was changed in place after L was computed" in msg
    assert "x" not in msg.split(":")[1].split("changed")[0]     # only w is named: x did not change
    assert "more than once" not in msg and "opt.step()" in msg
    with pytest.raises(StaleGraphError, match="w was changed in place"):
        trace(L)


def test_a_stale_graph_can_still_be_drawn_with_the_reason_and_no_gradients():
    x, w, L = small_net()
    L.backward()
    w.data = 0.2
    t = trace(L, on_stale="warn")
    assert not t.has_grads
    assert len(t.warnings) == 1 and "w was changed in place" in t.warnings[0]
    assert "out of date" in L._repr_svg_()      # the notebook drawing says so instead of raising


def test_version_counts_assignments_and_a_rebuilt_graph_is_fresh():
    x, w, L = small_net()
    assert w._version == 0 and L._version == 0
    L.backward()
    w.data -= 0.1 * w.grad
    w.data -= 0.1 * w.grad
    assert w._version == 2 and x._version == 0
    w.grad = x.grad = 0.0
    a = w * x
    a.name = "a"
    L2 = (a - 1) ** 2
    L2.name = "L"
    e = explain(L2)                              # built after the change: nothing is out of date
    assert e.trace.warnings == [] and all(c.matches for c in e.chains)


def test_left_over_grad_after_an_update_says_it_may_come_from_an_earlier_graph():
    x, w, L = small_net()
    L.backward()
    w.data -= 0.1 * w.grad                       # no zero_grad(): w.grad belongs to the old graph
    a = w * x
    a.name = "a"
    L2 = (a - 1) ** 2
    L2.name = "L"
    warnings = trace(L2).warnings
    assert any(m.startswith("w.grad is") and "changed in place" in m for m in warnings)


def test_an_overwritten_intermediate_node_makes_its_graph_stale():
    x, w, L = small_net()
    a = L.inputs[0].inputs[0]
    a.data = 10.0
    with pytest.raises(StaleGraphError, match="a was changed in place after it was computed"):
        explain(L)


def test_a_recorded_sweep_traced_after_an_update_is_refused():
    x, w, L = small_net()
    with Tracer() as tr:
        L.backward()
    w.data = 0.0
    with pytest.raises(StaleGraphError, match="w was changed"):
        tr.trace()


def test_the_cli_message_for_a_stale_graph_is_one_line_naming_every_parameter():
    vs = [Value(float(i + 1), name=f"w{i}") for i in range(5)]
    L = sum(v * v for v in vs)
    for v in vs:
        v.data += 1.0
    with pytest.raises(StaleGraphError) as e:
        trace(L)
    assert "w0, w1, w2 and 2 more were changed in place" in str(e.value)


# --------------------------------------------------------------------------
# 1. stale graphs: tensors
# --------------------------------------------------------------------------

def tensor_net():
    W = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True, name="W")
    x = Tensor(np.array([[1.0, -1.0]]))
    L = ((x @ W).relu() ** 2).sum()
    return W, x, L


def _manual_step(W):
    W.data -= 0.1 * W.grad                     # numpy's in-place -=, then the attribute is set again


@pytest.mark.parametrize("update", [
    lambda W: SGD([W], lr=0.1).step(),
    lambda W: Adam([W], lr=0.1).step(),
    lambda W: setattr(W, "data", W.data - 0.1 * W.grad),
    _manual_step,
], ids=["sgd", "adam", "data-assignment", "data-in-place"])
def test_explain_tensor_after_an_update_names_the_parameter(update):
    W, x, L = tensor_net()
    L.backward()
    before = W._version
    update(W)
    assert W._version == before + 1
    with pytest.raises(StaleGraphError, match="W was changed in place after L was computed"):
        explain_tensor(L, W, index=(0, 0))
    with pytest.raises(StaleGraphError, match="W was changed in place"):
        trace(L)


def test_in_place_tensor_methods_bump_the_version_once_each():
    W, x, L = tensor_net()
    with no_grad():
        W -= 0.1
        W.add_(1.0)
        W.mul_(2.0)
        W.zero_()
        W.fill_(1.0)
        W.copy_(np.ones((2, 2)))
        W[0, 0] = 3.0
    assert W._version == 7
    with pytest.raises(StaleGraphError, match="W was changed"):
        explain_tensor(L, W)


def test_loading_a_state_dict_or_re_initialising_makes_an_earlier_graph_stale():
    from chainrule import nn
    lin = nn.Linear(2, 1)
    x = Tensor(np.ones((1, 2)))
    L = lin(x).sum()
    lin.load_state_dict({k: v * 2 for k, v in lin.state_dict().items()})
    with pytest.raises(StaleGraphError, match="changed in place"):
        trace(L)
    L = lin(x).sum()
    trace(L)                                     # a new forward is fine
    nn.init.zeros_(lin.weight)
    with pytest.raises(StaleGraphError, match="changed in place"):
        trace(L)


def test_an_input_changed_in_place_makes_the_graph_stale_too():
    W, x, L = tensor_net()
    x += 1.0                                    # an input (requires_grad=False) changed after use
    with pytest.raises(StaleGraphError, match="changed in place"):
        trace(L)


def test_explaining_before_the_step_and_after_a_new_forward_works():
    W, x, L = tensor_net()
    L.backward()
    e = explain_tensor(L, W, index=(0, 0))      # before the step: fine
    assert e.element.matches
    opt = SGD([W], lr=0.01)
    opt.step()
    opt.zero_grad()
    L2 = ((x @ W).relu() ** 2).sum()            # a new forward after the step: fine
    L2.backward()
    e2 = explain_tensor(L2, W, index=(0, 0))
    assert e2.element.matches and e2.element.grad == pytest.approx(float(W.grad[0, 0]))


# --------------------------------------------------------------------------
# 3. non-finite gradients: the library
# --------------------------------------------------------------------------

def test_a_nan_gradient_gets_a_warning_naming_the_node_and_why_and_no_check_mark():
    x, y = Value(-2.0, name="x"), Value(2.0, name="y")
    L = x ** y
    L.name = "L"
    e = explain(L)
    warnings = e.trace.warnings
    assert len(warnings) == 1
    assert warnings[0].startswith("∂L/∂y is nan: it first appears at L = x^y")
    assert "negative base has no real derivative in y" in warnings[0]
    text = e.to_text()
    chain_y = text.split("∂L/∂y = ")[1]
    assert "✓" not in chain_y.split("\n\n")[0]
    assert "not checked" in chain_y and "not a finite number" in chain_y
    assert e.chain("y").matches is None and e.chain("x").matches is True
    assert "✓" not in e.to_markdown().split("#### ∂L/∂y")[1].split("####")[0]


def test_an_infinite_gradient_at_sqrt_zero_gets_a_note():
    x = Value(0.0, name="x")
    L = x.sqrt()
    L.name = "L"
    t = trace(L)
    assert t.warnings == ["∂L/∂x is inf: it first appears at L = √x, on the way to x: "
                          "√x has an infinite slope at x = 0"]


def test_the_first_origin_in_forward_order_is_named():
    x = Value(0.0, name="x")
    a = x.sqrt()
    a.name = "a"
    b = Value(-3.0, name="u") ** Value(2.0, name="v")    # made second: a is named, not b
    b.name = "b"
    L = a + b
    L.name = "L"
    warnings = trace(L).warnings
    assert len(warnings) == 1
    assert "first appears at a = √x" in warnings[0] and "and at 1 more place" in warnings[0]


def test_a_tensor_forward_nan_names_the_first_node_and_the_op_domain():
    x = Tensor(np.array([-1.0, 1.0]), requires_grad=True, name="x")
    with np.errstate(invalid="ignore"):
        L = (x.log() * 2).sum()
    t = trace(L)
    assert any("log(x) is nan, the first value in the forward pass" in w and "positive input" in w
               for w in t.warnings)


def test_explain_tensor_does_not_tick_an_infinite_gradient():
    x = Tensor(np.array([[0.0, 4.0]]), requires_grad=True, name="x")
    W = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True, name="W")
    L = (x.sqrt() @ W).sum()
    e = explain_tensor(L, x, index=(0, 0))
    text = e.to_text()
    assert e.element.matches is None
    assert "✓" not in text and "not checked" in text
    assert any("√x has an infinite slope at x = 0" in w for w in e.warnings)
    assert "warning: ∂L/∂x is inf" in text


# --------------------------------------------------------------------------
# 3. detect_anomaly
# --------------------------------------------------------------------------

def test_detect_anomaly_names_the_node_and_its_chain_to_the_loss():
    x = Tensor(np.array([[0.0, 4.0]]), requires_grad=True, name="x")
    W = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True, name="W")
    with detect_anomaly():
        z = x.sqrt() @ W
        z.name = "z"
        L = z.sum()
        L.name = "L"
        with pytest.raises(AnomalyError) as e:
            L.backward()
    assert e.value.node == "x" and e.value.chain == ["x", "sqrt2", "z", "L"]
    assert "√x has an infinite slope at x = 0" in str(e.value)
    assert "x → sqrt2 → z → L" in str(e.value)
    assert np.isinf(x.grad[0, 0])                # the gradients are still filled in, as without it


def test_detect_anomaly_reports_a_forward_nan_first():
    x = Tensor(np.array([-1.0, 1.0]), requires_grad=True, name="x")
    with detect_anomaly(), np.errstate(invalid="ignore"):
        L = (x.log() * 2).sum()
        with pytest.raises(AnomalyError, match=r"log\(x\) is nan.*positive input.*chain to the output: log1"):
            L.backward()


def test_detect_anomaly_works_for_values_and_is_silent_when_all_is_finite():
    a, b = Value(-2.0, name="a"), Value(2.0, name="b")
    c = a ** b
    c.name = "c"
    d = c * 3
    d.name = "d"
    with detect_anomaly():
        with pytest.raises(AnomalyError, match="negative base") as e:
            d.backward()
        assert e.value.chain == ["b", "c", "d"]
        W, x, L = tensor_net()
        L.backward()                              # finite: no error, the usual gradients
        assert np.array_equal(W.grad, np.zeros((2, 2)))   # x @ W = (−2, −2): relu passes nothing
    assert chainrule.autodiff._state.anomaly == 0
    d.backward()                                  # outside: no check (nan passes, as in PyTorch)


def test_detect_anomaly_inside_a_tracer_still_records_the_sweep():
    W, x, L = tensor_net()
    with detect_anomaly(), Tracer() as tr:
        L.backward()
    assert tr.trace().has_grads


def test_detect_anomaly_as_a_decorator_and_nested():
    @detect_anomaly()
    def go():
        assert chainrule.autodiff._state.anomaly == 1
        with detect_anomaly():
            assert chainrule.autodiff._state.anomaly == 2
        assert chainrule.autodiff._state.anomaly == 1
    go()
    assert chainrule.autodiff._state.anomaly == 0


# --------------------------------------------------------------------------
# 3. the CLI: every path says so, null in JSON, exit status 3
# --------------------------------------------------------------------------

def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text):
    def refuse(name):
        raise AssertionError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


NAN = ("L = x**y", "--at", "x=-2", "y=2")


def test_cli_grad_with_a_nan_gradient_warns_and_exits_3(capsys):
    code, out, err = cli(capsys, "grad", *NAN)
    assert code == EXIT_NONFINITE == 3
    assert "nan" in out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: warning: ∂L/∂y is nan")
    assert "negative base has no real derivative in y" in lines[0]


def test_cli_grad_json_writes_null_and_warnings(capsys):
    code, out, err = cli(capsys, "grad", *NAN, "--json")
    assert code == 3 and err == ""
    obj = strict_json(out)
    assert obj["grads"] == {"x": -4.0, "y": None}
    assert len(obj["warnings"]) == 1 and "∂L/∂y is nan" in obj["warnings"][0]


def test_cli_explain_never_ticks_nan_and_exits_3(capsys):
    code, out, err = cli(capsys, "explain", *NAN)
    assert code == 3
    for line in out.splitlines():
        if "✓" in line:
            assert "nan" not in line and "inf" not in line
    assert "! not checked: the backward pass's ∂L/∂y is nan" in out
    assert "negative base" in err
    code, out, _ = cli(capsys, "explain", *NAN, "--format", "json")
    assert code == 3
    obj = strict_json(out)
    chain = {c["wrt"]: c for c in obj["chains"]}
    assert chain["y"]["grad"] is None and chain["y"]["matches"] is None and chain["x"]["matches"] is True
    assert any("negative base" in w for w in obj["warnings"])


def test_cli_step_with_a_nan_gradient_shows_it_and_exits_3(capsys):
    code, out, err = cli(capsys, "step", *NAN, "--lr", "0.1")
    assert code == 3
    assert "no step taken: ∂L/∂y is nan" in out and "nan" in out.split("no step")[0]
    assert "negative base" in err
    code, out, _ = cli(capsys, "step", *NAN, "--lr", "0.1", "--json")
    assert code == 3
    obj = strict_json(out)
    assert obj["grads"]["y"] is None and obj["new_values"] is None
    assert any("no step taken" in w for w in obj["warnings"])
    # stepping only x works, but the nan it prints for y is still reported
    code, out, err = cli(capsys, "step", *NAN, "--lr", "0.1", "--params", "x")
    assert code == 3 and "after:" in out and "negative base" in err


def test_cli_finite_results_keep_status_0_and_no_warnings(capsys):
    code, out, err = cli(capsys, "grad", "L = x**y", "--at", "x=2", "y=2", "--json")
    assert code == 0 and err == "" and "warnings" not in strict_json(out)
    code, out, err = cli(capsys, "explain", "L = x**y", "--at", "x=2", "y=2")
    assert code == 0 and err == "" and "✓" in out
    code, out, err = cli(capsys, "step", "L = x**2", "--at", "x=2", "--lr", "0.1", "--json")
    assert code == 0 and "warnings" not in strict_json(out)


def test_cli_draw_and_html_of_a_nan_gradient_warn_and_exit_3(capsys, tmp_path):
    for cmd, name in (("draw", "g.svg"), ("html", "g.html")):
        code, out, err = cli(capsys, cmd, *NAN, "-o", str(tmp_path / name))
        assert code == 3 and "negative base" in err and (tmp_path / name).exists()
    code, _, err = cli(capsys, "draw", "L = x*y", "--at", "x=1", "y=2", "-o", str(tmp_path / "ok.svg"))
    assert code == 0 and "warning" not in err


def test_cli_sqrt_of_zero_gets_a_note(capsys):
    code, out, err = cli(capsys, "grad", "L = sqrt(x)", "--at", "x=0")
    assert code == 3 and "inf" in out and "√x has an infinite slope at x = 0" in err


def test_exit_status_3_is_documented_in_help_and_readme():
    p = subprocess.run([sys.executable, "-m", "chainrule", "grad", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "3 computed, but a gradient is not a finite number" in " ".join(p.stdout.split())
    p = subprocess.run([sys.executable, "-m", "chainrule", "--help"], capture_output=True, text=True)
    assert "3 computed, but a gradient is not a finite number" in " ".join(p.stdout.split())
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "exit status 3" in readme and "null" in readme


def test_math_isfinite_of_the_json_numbers_round_trips():
    from chainrule.cli import json_number
    assert json_number(1.5) == 1.5 and json_number(math.inf) is None and json_number(math.nan) is None
