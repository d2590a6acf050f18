"""The trace as data: JSON round trip, forward and backward steps, no side effects on .grad."""
import json
import math

import pytest

from chainrule import Tracer, Value, trace
from chainrule.trace import SCHEMA_VERSION, Trace


def net():
    """A small graph with a constant, a reused input and a named output."""
    w = Value(2.0, name="w")
    x = Value(3.0, name="x")
    z = w * x + 1                 # 7
    a = z.tanh()
    y = a * w                     # w is used twice
    y.name = "y"
    return w, x, y


def test_json_round_trip():
    *_, y = net()
    t = trace(y)
    text = t.to_json()
    json.loads(text)                                   # valid JSON
    back = Trace.from_json(text)
    assert back == t
    assert back.to_json() == text


def test_json_round_trip_keeps_inf():
    x = Value(0.0, name="x")
    t = trace(x.sqrt() + x)                            # sqrt'(0) = inf
    back = Trace.from_json(t.to_json())
    assert back == t
    assert back.node("x").grad == math.inf


def test_wrong_schema_is_refused():
    *_, y = net()
    d = trace(y).to_dict()
    d["schema"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match="schema"):
        Trace.from_dict(d)


def test_nodes_and_forward_steps_in_evaluation_order():
    w, x, y = net()
    t = trace(y)
    assert [n.id for n in t.nodes] == list(range(len(t.nodes)))
    assert t.node(t.output).label == "y" and t.node("y").value == y.data
    kinds = {n.label: n.kind for n in t.nodes}
    assert kinds["w"] == kinds["x"] == "input" and kinds["1"] == "const" and kinds["y"] == "op"
    assert [n.label for n in t.inputs] == ["w", "x"]

    ops = [s.op for s in t.forward]
    assert ops == ["mul", "add", "tanh", "mul"]
    ids = [s.node for s in t.forward]
    assert ids == sorted(ids)
    for s in t.forward:
        assert all(i < s.node for i in s.inputs)       # inputs computed before the step
        assert s.value == t.nodes[s.node].value
    mul = t.forward[0]
    assert [t.nodes[i].label for i in mul.inputs] == ["w", "x"] and mul.value == 6.0
    assert t.nodes[mul.node].expr == "w · x"
    assert t.forward[2].value == pytest.approx(math.tanh(7.0))


def test_backward_steps_reverse_topological_and_arithmetic():
    w, x, y = net()
    t = trace(y)
    pos = {s.node: i for i, s in enumerate(t.backward)}
    assert t.backward[0].node == t.output and t.backward[0].incoming == 1.0
    for s in t.backward:
        for local in s.locals:
            # a node's step comes before the step of each of its inputs
            assert pos[s.node] < pos[local.input]
            assert local.contribution == pytest.approx(s.incoming * local.local, rel=1e-15)
    # the accumulated values add up to each node's incoming gradient
    totals = {}
    for s in t.backward:
        for local in s.locals:
            totals[local.input] = totals.get(local.input, 0.0) + local.contribution
            assert local.accumulated == pytest.approx(totals[local.input], rel=1e-15)
    for s in t.backward:
        if s.node != t.output:
            assert s.incoming == pytest.approx(totals[s.node], rel=1e-15)

    # and the grads match a real backward pass (done after tracing)
    y.backward()
    assert t.node("w").grad == pytest.approx(w.grad, rel=1e-15)
    assert t.node("x").grad == pytest.approx(x.grad, rel=1e-15)
    # by hand: y = tanh(wx+1)·w; ∂y/∂x = (1 − tanh²7)·w·w
    assert x.grad == pytest.approx((1 - math.tanh(7.0) ** 2) * 4.0)


def test_constants_get_no_local_step():
    *_, y = net()
    t = trace(y)
    const = t.node("1").id
    assert all(local.input != const for s in t.backward for local in s.locals)
    assert t.node("1").grad is None


def test_reuse_accumulates_within_one_step():
    a = Value(1.0, name="a")
    b = a + a
    c = b + b
    t = trace(c)
    # b's step sends two contributions of 2 to a: accumulated 2, then 4
    step_b = next(s for s in t.backward if [loc.input for loc in s.locals] == [0, 0])
    assert t.nodes[step_b.node].inputs == [0, 0] and step_b.incoming == 2.0
    assert [loc.accumulated for loc in step_b.locals] == [2.0, 4.0]
    assert t.node("a").grad == 4.0


def test_formulas_use_labels():
    *_, y = net()
    t = trace(y)
    tanh_step = next(s for s in t.backward if t.nodes[s.node].op == "tanh")
    (local,) = tanh_step.locals
    assert local.formula == "1 − tanh²(add4)"
    assert local.latex and local.local == pytest.approx(1 - math.tanh(7.0) ** 2)


def test_trace_leaves_grads_unchanged():
    w, x, y = net()
    t = trace(y)
    assert (w.grad, x.grad, y.grad) == (0.0, 0.0, 0.0)
    assert t.has_grads and not t.warnings
    y.backward()
    before = (w.grad, x.grad)
    trace(y)
    assert (w.grad, x.grad) == before


def test_no_warning_after_one_backward_but_one_after_two():
    w, x, y = net()
    y.backward()
    assert trace(y).warnings == []          # one pass: .grad is exactly what tracing finds
    y.backward()                            # the accident: a second pass without zero_grad()
    t = trace(y)
    assert any(msg.startswith("w.grad is") and "more than once" in msg and "zero_grad" in msg
               for msg in t.warnings)
    assert any("x.grad" in msg for msg in t.warnings)
    # the traced gradients are those of one pass, not the accumulated ones
    assert t.node("w").grad == pytest.approx(w.grad / 2, rel=1e-15)


def test_no_warning_after_one_backward_with_a_nan_gradient():
    x, y = Value(0.0, name="x"), Value(0.0, name="y")
    w = x.sqrt() * y                        # ∂w/∂x = y / (2√x) = 0 · inf = nan, as in PyTorch
    w.backward()
    assert math.isnan(x.grad)
    warnings = trace(w).warnings
    assert not any("more than once" in m for m in warnings)   # nan after one pass is not a second pass
    assert len(warnings) == 1 and "infinite slope" in warnings[0]   # but it is reported, with its reason


def test_tensor_leaf_warning_only_after_a_second_backward():
    import chainrule.tensor as ct
    W = ct.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="W")
    L = (W * W).sum()
    L.backward()
    assert trace(L).warnings == []
    L.backward()
    assert any(m.startswith("W.grad is an array") for m in trace(L).warnings)


def test_trace_without_backward():
    *_, y = net()
    t = trace(y, backward=False)
    assert not t.has_grads and t.backward == []
    assert all(n.grad is None for n in t.nodes)
    assert len(t.forward) == 4


def test_node_lookup_error_names_the_known_names():
    *_, y = net()
    with pytest.raises(KeyError, match="no node named 'nope'.*w, x"):
        trace(y).node("nope")


def test_tracer_records_a_real_sweep():
    w, x, y = net()
    with Tracer() as tr:
        y.backward()
    assert w.grad != 0.0                                # a real sweep: grads are set
    t = tr.trace()
    w2, x2, y2 = net()
    ref = trace(y2)
    assert [s.node for s in t.backward] == [s.node for s in ref.backward]
    assert t.node("w").grad == pytest.approx(w.grad, rel=1e-15)
    assert t.to_dict()["backward"] == ref.to_dict()["backward"]


def test_tracer_outside_the_block_records_nothing():
    *_, y = net()
    with Tracer() as tr:
        pass
    y.backward()
    with pytest.raises(ValueError, match="nothing was recorded"):
        tr.trace()
    # but a trace of an explicit output still has the forward pass
    assert len(tr.trace(y).forward) == 4
