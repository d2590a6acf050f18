"""Issue 14 item 4: ``chainrule.widget`` (anywidget), its Python side without a browser.

The front end in Chromium is tests/test_widget_browser.py.
"""
from __future__ import annotations

import math
import sys

import pytest

_LIMIT = sys.getrecursionlimit()
anywidget = pytest.importorskip("anywidget", reason="the widget needs anywidget (pip install anywidget)")
sys.setrecursionlimit(_LIMIT)   # importing ipywidgets raises it (to IPython's 3000); lang's tests assume Python's

import chainrule  # noqa: E402
from chainrule import Value  # noqa: E402
from chainrule.errors import ChainruleError, InputError  # noqa: E402
from chainrule.jupyter import esm, wire  # noqa: E402

SEED = "z1 = w1*x\na1 = relu(z1)\nz2 = w2*a1\nL = (z2 - y)**2"
AT = {"x": 2.0, "y": 1.0, "w1": 0.5, "w2": -0.3}


def test_the_widget_shows_a_program_and_recomputes_with_the_python_engine_when_values_change():
    w = chainrule.widget(SEED, values=AT)
    assert isinstance(w, anywidget.AnyWidget)
    assert w.values == AT and w.step == 0 and w.error is None
    assert w.trace.node("w1").grad == pytest.approx(1.56) and w.trace.node("w2").grad == pytest.approx(-2.6)
    assert w.data["recompute"] is True and w.data["trace"]["nodes"][0]["label"]
    w.values = {**AT, "w1": 1.0}                        # what a slider does, through the model
    assert w.trace.node("z1").value == 2.0
    assert w.trace.node("w1").grad == pytest.approx(2 * (-0.3 * 2.0 - 1.0) * -0.3 * 2.0)
    state = w.state
    assert state["seq"] == 1 and state["error"] is None
    assert state["trace"] == wire(w.trace.to_dict())
    expected = chainrule.lang.evaluate(SEED, {**AT, "w1": 1.0}).trace().to_dict()
    assert state["trace"] == wire(expected)             # chainrule's own numbers, nothing else


def test_a_gradient_descent_step_uses_the_current_gradients():
    w = chainrule.widget(SEED, values=AT)
    assert set(w.data["params"]) == {"w1", "w2"}
    new = w.descend(0.1)
    assert new["w1"] == pytest.approx(0.5 - 0.1 * 1.56) and new["w2"] == pytest.approx(-0.3 + 0.1 * 2.6)
    assert new["x"] == 2.0 and w.values == new
    assert w.trace.node("w1").value == pytest.approx(0.344)      # the seed's "0.5 → 0.344"
    w.descend(params=["w2"])                                      # the widget's lr (0.1)
    assert w.values["w1"] == new["w1"] and w.values["w2"] != new["w2"]
    with pytest.raises(InputError, match="learning rate"):
        w.descend(-1)
    with pytest.raises(InputError, match="'q' not an input"):
        w.descend(params=["q"])


def test_values_that_the_engine_refuses_are_an_error_on_the_page_not_a_traceback():
    w = chainrule.widget("L = log(w) * x", values={"w": 2.0, "x": 3.0})
    before = w.trace
    w.values = {"w": -1.0, "x": 3.0}
    assert w.state["trace"] is None and "log" in w.error and "positive" in w.error
    assert w.trace is before                             # the last trace that worked
    for bad, match in [({"w": "two", "x": 3.0}, "must be a finite number"), ({"w": math.inf, "x": 1.0}, "finite"),
                       ({"v": 1.0}, "'v' is not an input"), ([1, 2], "must be a dict")]:
        with pytest.raises(ChainruleError, match=match):
            w.values = bad


def test_the_page_asks_for_the_kernel_and_the_widget_answers():
    w = chainrule.widget(SEED, values=AT)
    sent = []
    w.send = sent.append
    w._on_msg(w, {"type": "ping"}, [])
    w._on_msg(w, {"type": "something else"}, [])
    assert sent == [{"type": "pong"}]


def test_a_value_graph_is_replayed_by_the_engine_at_new_inputs():
    a, b = Value(2.0, name="a"), Value(3.0, name="b")
    c = (a * b + a).tanh(); c.name = "c"
    w = chainrule.widget(c)
    assert w.values == {"a": 2.0, "b": 3.0} and w.data["recompute"] is True
    w.values = {"a": 0.1, "b": -0.4}
    assert w.trace.node("c").value == pytest.approx(math.tanh(0.1 * -0.4 + 0.1))
    a2, b2 = Value(0.1, name="a"), Value(-0.4, name="b")
    c2 = (a2 * b2 + a2).tanh(); c2.name = "c"
    c2.backward()
    assert w.trace.node("a").grad == pytest.approx(a2.grad) and w.trace.node("b").grad == pytest.approx(b2.grad)


def test_a_graph_the_engine_cannot_run_again_shows_without_sliders():
    torch = pytest.importorskip("torch")
    import chainrule.torch as crt
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = chainrule.widget(crt.trace(torch.cumsum(x, 0).sum(), {"x": x}))
    assert w.data["recompute"] is False and w.values == {}
    with pytest.raises(InputError, match="values= goes with a program"):
        chainrule.widget(Value(1.0) * 2, values={"x": 1.0})
    with pytest.raises(InputError, match="needs a program"):
        chainrule.widget(42)


def test_the_front_end_module_holds_the_op_table_the_player_and_the_glue():
    code = esm()
    assert "const OPS" in code and "ChainrulePlayer" in code and "export default" in code
    assert 'type: "ping"' in code and "useTrace" in code
