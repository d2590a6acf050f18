"""Issue 7 item 2: a Value or Tensor that requires grad is never silently turned into a plain
number (``math.exp(v)`` used to give x.grad = e where the answer is 2e), and ``chainrule.exp`` & co.,
generated from the op table, work on numbers, Values and Tensors alike."""
import math

import numpy as np
import pytest

import chainrule
from chainrule import GraphCutError, MathError, OPS, Value
from chainrule.errors import ChainruleError
from chainrule.tensor import Tensor, tensor

CONVERSIONS = [float, int, complex, round, math.floor, math.ceil, math.trunc, math.exp, math.log, math.sqrt,
               math.sin, lambda v: math.pow(v, 2), lambda v: math.fsum([v]), np.float64]


@pytest.mark.parametrize("convert", CONVERSIONS)
def test_a_value_that_requires_grad_is_not_turned_into_a_number(convert):
    x = Value(1.5, name="x")
    with pytest.raises(GraphCutError) as info:
        convert(x)
    msg = str(info.value)
    assert "x.exp()" in msg and "chainrule.exp(x)" in msg and "x.data" in msg and "\n" not in msg
    assert isinstance(info.value, TypeError)          # what math.exp of a non-number raises


@pytest.mark.parametrize("convert", CONVERSIONS)
def test_a_value_outside_the_graph_still_converts(convert):
    assert convert(Value(1.5, requires_grad=False)) == convert(1.5)
    assert convert(Value(1.5).detach()) == convert(1.5)


def test_truth_value_follows_the_number_and_cuts_nothing():
    assert bool(Value(2.0)) and not bool(Value(0.0))   # a decision, not a value: allowed, as in PyTorch


def test_the_issue_example_through_chainrule_exp():
    x = Value(1.0, name="x")
    with pytest.raises(GraphCutError):
        x * math.exp(x)
    L = x * chainrule.exp(x)                          # d(x·eˣ)/dx = eˣ + x·eˣ = 2e at x = 1
    L.backward()
    assert x.grad == pytest.approx(2 * math.e, rel=1e-15)


@pytest.mark.parametrize("convert", [float, int, complex, math.exp])
def test_a_tensor_that_requires_grad_is_not_turned_into_a_number(convert):
    t = tensor(1.5, requires_grad=True)
    with pytest.raises(GraphCutError, match=r"v\.item\(\)"):
        convert(t)
    with pytest.raises(GraphCutError):
        convert(t * 2)                                 # a non-leaf in the graph too
    assert convert(tensor(1.5)) == convert(1.5)
    assert convert(t.detach()) == convert(1.5)


def test_integer_tensors_are_indices_float_ones_are_not():
    assert list(range(tensor(3))) == [0, 1, 2]
    assert [10, 20, 30][tensor(1)] == 20
    with pytest.raises(TypeError, match="integer tensors"):
        range(tensor(3.0))


# -- chainrule.exp & co. -----------------------------------------------------------------------

def test_module_functions_are_generated_from_the_op_table():
    rows = {name for name, op in OPS.items() if not op.variant_of}
    assert set(chainrule.functions.FUNCTIONS) == rows
    for name in rows:
        assert getattr(chainrule, name) is chainrule.functions.FUNCTIONS[name]
        assert name in chainrule.__all__
    assert not hasattr(chainrule, "powc")               # reached through pow(x, number)


UNARY = sorted(n for n, op in OPS.items() if op.arity == 1 and not op.variant_of)
BINARY = sorted(n for n, op in OPS.items() if op.arity == 2 and not op.variant_of)


@pytest.mark.parametrize("name", UNARY)
def test_unary_functions_agree_on_numbers_values_and_tensors(name):
    fn = getattr(chainrule, name)
    x = 0.7
    number = fn(x)
    assert type(number) is float
    v = Value(x)
    out = fn(v)
    assert isinstance(out, Value) and out.data == number
    out.backward()
    t = tensor([x], requires_grad=True)
    tout = fn(t)
    assert isinstance(tout, Tensor) and tout.data[0] == pytest.approx(number, rel=1e-15)
    tout.sum().backward()
    assert t.grad[0] == pytest.approx(v.grad, rel=1e-15)
    assert isinstance(fn([x, 0.2]), Tensor) and isinstance(fn(np.array([x])), Tensor)


@pytest.mark.parametrize("name", BINARY)
def test_binary_functions_agree_on_numbers_values_and_tensors(name):
    fn = getattr(chainrule, name)
    number = fn(0.7, 1.3)
    assert type(number) is float
    a, b = Value(0.7), Value(1.3)
    out = fn(a, b)
    assert out.data == number
    out.backward()
    ta, tb = tensor(0.7, requires_grad=True), tensor(1.3, requires_grad=True)
    tout = fn(ta, tb)
    tout.backward()
    assert tout.item() == pytest.approx(number, rel=1e-15)
    assert (ta.grad, tb.grad) == pytest.approx((a.grad, b.grad), rel=1e-14)
    assert fn(a, 1.3).data == number and fn(0.7, b).data == number       # numbers mix with either
    assert fn(ta, 1.3).item() == pytest.approx(number) and fn(0.7, tb).item() == pytest.approx(number)


def test_pow_and_leaky_relu_take_their_constant():
    assert chainrule.pow(Value(2.0), 3).op == "powc"                 # the same row as v ** 3
    assert chainrule.pow(2.0, 3) == 8.0
    assert chainrule.leaky_relu(-2.0, 0.1) == pytest.approx(-0.2)
    assert chainrule.leaky_relu(Value(-2.0)).data == pytest.approx(-0.02)


def test_module_function_errors_are_clear():
    with pytest.raises(MathError, match="log needs a positive input"):
        chainrule.log(-1.0)
    with pytest.raises(TypeError, match="cannot mix a Value with a Tensor"):
        chainrule.maximum(Value(1.0), tensor(2.0))
    with pytest.raises(ChainruleError, match="needs numbers"):
        chainrule.exp("1")
