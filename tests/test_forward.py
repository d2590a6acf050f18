"""Forward mode agrees with reverse mode, op by op, through the same table."""
import math

import numpy as np
import pytest

from chainrule import MathError, Value
from chainrule.forward import Dual, derivative, gradient_forward, jvp


def sigmoid_net(x, w1, w2, b1, b2, y):
    a1 = (w1 * x + b1).sigmoid()
    a2 = (w2 * a1 + b2).sigmoid()
    return (a2 - y) ** 2


def test_lesson_derivative():
    assert derivative(lambda x: (3 * x + 1) ** 2, 2.0) == 42.0
    assert derivative(lambda x: (3 * x + 2) ** 2, 1.0) == 30.0


def test_forward_equals_reverse_on_sigmoid_net():
    xs = [1.0, 0.5, 0.8, 0.0, 0.0, 1.0]
    fwd = gradient_forward(sigmoid_net, xs)
    vals = [Value(v) for v in xs]
    sigmoid_net(*vals).backward()
    for f, v in zip(fwd, vals, strict=True):
        assert f == pytest.approx(v.grad, rel=1e-12, abs=1e-15)
    assert fwd[1] == pytest.approx(-0.033419364485, abs=1e-12)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "square"])
def test_each_unary_against_reverse(name):
    for x in (0.3, 1.7, 2.5):
        d = derivative(lambda v: getattr(v, name)(), x)
        v = Value(x)
        getattr(v, name)().backward()
        assert d == pytest.approx(v.grad, rel=1e-12)


def test_binary_and_params():
    f = lambda x, y: x.maximum(y) * (x ** y) / (y - 3.0) + x.leaky_relu(0.1) - (2.0 ** y)  # noqa: E731
    xs = [1.3, 0.7]
    fwd = gradient_forward(f, xs)
    vs = [Value(v) for v in xs]
    f(*vs).backward()
    assert fwd == pytest.approx([v.grad for v in vs], rel=1e-12)


def test_jvp_direction_and_arrays():
    value, tangent = jvp(lambda x, y: x * y + x.sin(), [2.0, 3.0], [1.0, -1.0])
    assert value == pytest.approx(6 + math.sin(2))
    assert tangent == pytest.approx(3 + math.cos(2) - 2)
    arr = np.array([0.5, 1.0, 2.0])
    v, t = jvp(lambda x: x.exp() * 2.0, [arr], [np.ones(3)])
    np.testing.assert_allclose(t, 2 * np.exp(arr))


def test_errors_are_clear():
    with pytest.raises(MathError, match="log needs a positive input"):
        derivative(lambda x: x.log(), -1.0)
    with pytest.raises(TypeError, match="expected a number"):
        Dual(1.0) + "a"
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        jvp(lambda x, y: x * y, [1.0, 2.0], [1.0])


@pytest.mark.parametrize("fn", [lambda x: x ** 1e308, lambda x: (x * 1e308) * 10, lambda x: x.exp() * 1e308])
def test_overflow_is_named_as_reverse_mode_names_it(fn):
    # forward and reverse mode read the same op table and must say the same thing
    with pytest.raises(MathError) as reverse:
        fn(Value(2.0))
    with pytest.raises(MathError, match="too large for a float") as forward:
        derivative(fn, 2.0)
    assert str(forward.value) == str(reverse.value)
