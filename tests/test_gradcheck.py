"""gradcheck and the dot-product test: they pass on correct gradients and catch wrong ones."""
import math

import numpy as np
import pytest

from chainrule import Value
from chainrule.errors import ChainruleError, InputError
from chainrule.gradcheck import GradcheckError, dot_product_test, gradcheck
from chainrule.ops import Op
from chainrule.scalar import _make

# sin with a deliberately wrong derivative (−cos instead of cos)
BAD_SIN = Op("bad_sin", 1, "sin(x)", ("-cos(x)",), ("−cos({x})",), (r"-\cos {x}",), "sin({x})")


def bad_sin(v):
    return _make(BAD_SIN, v, None, None)


def test_correct_gradient_passes_with_names_from_the_signature():
    r = gradcheck(lambda x, y: (x * y + x.sin()) ** 2, [1.0, 2.0])
    assert r.ok and bool(r) and r.failures == []
    assert [c.name for c in r.checks] == ["x", "y"]
    inner = 1.0 * 2.0 + math.sin(1.0)
    assert r.output == pytest.approx(inner ** 2)
    # by hand: ∂/∂x = 2·inner·(y + cos x), ∂/∂y = 2·inner·x
    assert r["x"].analytic == pytest.approx(2 * inner * (2.0 + math.cos(1.0)), rel=1e-14)
    assert r["y"].analytic == pytest.approx(2 * inner * 1.0, rel=1e-14)
    for c in r.checks:
        assert c.abs_error == abs(c.analytic - c.numeric)
        assert c.rel_error < 1e-8 and c.abs_error <= c.tolerance
    text = str(r)
    assert text.startswith("gradcheck ok") and "analytic" in text and "numeric" in text
    assert "\nx " in text and "\ny " in text


def test_dict_inputs_and_single_input():
    r = gradcheck(lambda w, b: (w * 3 + b).tanh(), {"w": 0.2, "b": -0.1})
    assert r.ok and [c.name for c in r.checks] == ["w", "b"]
    r1 = gradcheck(lambda t: t.exp() * t, 0.5)
    assert r1.ok and r1.checks[0].analytic == pytest.approx(math.exp(0.5) * 1.5, rel=1e-14)


def test_value_inputs_are_not_touched():
    w = Value(0.7, name="weight")
    w.grad = 5.0
    r = gradcheck(lambda a: a * a * a, [w])
    assert r.ok and r.checks[0].name == "weight"
    assert r["weight"].analytic == pytest.approx(3 * 0.49, rel=1e-14)
    assert w.grad == 5.0 and w.data == 0.7


def test_wrong_derivative_is_caught_and_reported():
    r = gradcheck(lambda x, y: bad_sin(x) * y, [0.3, 2.0])
    assert not r.ok and not bool(r)
    assert [c.name for c in r.failures] == ["x"]
    assert r["x"].analytic == pytest.approx(-math.cos(0.3) * 2.0)
    assert r["x"].numeric == pytest.approx(math.cos(0.3) * 2.0, rel=1e-8)
    assert r["x"].rel_error == pytest.approx(2.0)        # opposite signs: |a − n| / max(|a|, |n|) = 2
    assert r["y"].ok
    text = str(r)
    assert "FAILED for 1 of 2" in text and "MISMATCH" in text


def test_raise_on_failure_carries_the_table():
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: bad_sin(x), [1.0], raise_on_failure=True)
    assert isinstance(info.value, AssertionError) and isinstance(info.value, ChainruleError)
    assert "MISMATCH" in str(info.value) and "analytic" in str(info.value)
    # no raise when it matches
    assert gradcheck(lambda x: x.sin(), [1.0], raise_on_failure=True).ok


def test_fn_failing_near_the_point_is_a_mismatch_with_a_note():
    r = gradcheck(lambda x: x.sqrt(), [0.0])
    assert not r.ok
    assert math.isinf(r.checks[0].analytic) and "sqrt" in r.checks[0].note


def test_kink_neighbourhood_and_unused_input():
    r = gradcheck(lambda x, unused: x.relu() + x.abs(), [1e-3, 5.0])
    assert r.ok
    assert r["x"].analytic == 2.0 and r["unused"].analytic == 0.0 and r["unused"].numeric == 0.0


def test_constant_output():
    r = gradcheck(lambda x: Value(3.0, requires_grad=False) * 2, [1.0])
    assert r.ok and r.checks[0].analytic == 0.0


def test_rounding_noise_of_large_outputs_is_allowed():
    # f = 1e8 + x³: the central difference carries ~1e-8·1e8/1e-6-scale noise
    r = gradcheck(lambda x: x ** 3 + 1e8, [0.01])
    assert r.ok, str(r)
    assert r.checks[0].analytic == pytest.approx(3e-4)


def test_bad_arguments():
    with pytest.raises(InputError, match="number, a Value or a Tensor"):
        gradcheck(lambda x: x, ["a"])
    with pytest.raises(InputError, match="eps"):
        gradcheck(lambda x: x, [1.0], eps=0)
    with pytest.raises(InputError, match="return a Value or a number, got str"):
        gradcheck(lambda x: "oops", [1.0])
    with pytest.raises(InputError, match="single number.*dot_product_test"):
        gradcheck(lambda x: SumOfCubes(x, np.ones((2, 2)), out_shape=(2,)), [ArrayLeaf(np.ones((2, 2)))])


# ---------------------------------------------------------------------------
# dot-product test
# ---------------------------------------------------------------------------

def vec_fn(xs):
    a, b, c = xs
    return [a * b, (a + c).tanh(), b.exp() / (c * c + 1), a.maximum(c)]


def test_dot_product_test_passes_on_correct_jacobian():
    r = dot_product_test(vec_fn, [0.3, -0.7, 1.2], seed=1)
    assert r.ok and bool(r), str(r)
    assert r.abs_error <= r.tolerance and r.rel_error < 1e-7
    assert len(r.u) == 3 and len(r.v) == 4
    assert "dot-product test ok" in str(r)


def test_dot_product_test_by_hand_for_a_linear_map():
    # f(x) = A x is linear, so vᵀ(J u) = vᵀ A u exactly (up to rounding)
    A = [[1.0, 2.0], [-3.0, 0.5], [0.0, 4.0]]
    r = dot_product_test(lambda xs: [xs[0] * row[0] + xs[1] * row[1] for row in A], [0.1, 0.2], seed=3)
    u, v = np.array(r.u), np.array(r.v)
    assert r.analytic == pytest.approx(float(v @ np.array(A) @ u), rel=1e-12)
    assert r.numeric == pytest.approx(r.analytic, rel=1e-8)


def test_dot_product_test_catches_a_wrong_entry():
    def fn(xs):
        a, b = xs
        return [a * b, bad_sin(b) + a]
    r = dot_product_test(fn, [0.3, 0.4], seed=0)
    assert not r.ok and "FAILED" in str(r)
    with pytest.raises(GradcheckError, match="FAILED"):
        dot_product_test(fn, [0.3, 0.4], seed=0, raise_on_failure=True)


def test_dot_product_test_seeds():
    r1 = dot_product_test(vec_fn, [0.3, -0.7, 1.2], seed=5)
    r2 = dot_product_test(vec_fn, [0.3, -0.7, 1.2], seed=5)
    r3 = dot_product_test(vec_fn, [0.3, -0.7, 1.2], seed=6)
    assert r1.u == r2.u and r1.analytic == r2.analytic
    assert r1.u != r3.u and r3.ok


def test_dot_product_test_single_output_and_values_untouched():
    x = Value(0.5, name="x")
    r = dot_product_test(lambda v: v.sigmoid() * 3, x)
    assert r.ok and x.grad == 0.0 and x.data == 0.5


# ---------------------------------------------------------------------------
# Duck typing: an array-valued leaf with .data/.grad/.backward()/.detach()
# (what chainrule.tensor.Tensor provides), here as a tiny stand-in.
# ---------------------------------------------------------------------------

class ArrayLeaf:
    def __init__(self, data, requires_grad=False):
        self.data = np.asarray(data, dtype=float)
        self.grad = None
        self.requires_grad = requires_grad

    def detach(self):
        return ArrayLeaf(self.data.copy())


class SumOfCubes:
    """out = Σ wᵢ·tᵢ³ as a 0-d 'tensor'; backward adds 3·wᵢ·tᵢ² (or a wrong rule)."""

    requires_grad = True

    def __init__(self, t, weights, wrong=False, out_shape=()):
        self.t, self.w, self.wrong = t, weights, wrong
        self.data = np.full(out_shape, float(np.sum(weights * t.data ** 3)))

    def backward(self, gradient=1.0):
        local = 3 * self.w * self.t.data ** (1 if self.wrong else 2)
        g = np.asarray(gradient) * local
        self.t.grad = g if self.t.grad is None else self.t.grad + g


def test_gradcheck_on_array_inputs_checks_every_element():
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    t = ArrayLeaf([[0.1, 0.2], [-0.3, 0.4]], requires_grad=True)
    r = gradcheck(lambda x: SumOfCubes(x, w), [t])
    assert r.ok, str(r)
    assert [c.name for c in r.checks] == ["x[0, 0]", "x[0, 1]", "x[1, 0]", "x[1, 1]"]
    assert r["x[1, 1]"].analytic == pytest.approx(3 * 3.0 * 0.16)
    assert t.grad is None                                # the caller's leaf is untouched

    bad = gradcheck(lambda x: SumOfCubes(x, w, wrong=True), [t])
    assert not bad.ok and len(bad.failures) == 4


def test_dot_product_test_on_array_inputs():
    w = np.array([1.0, -2.0, 0.5])
    t = ArrayLeaf([0.1, 0.2, -0.3], requires_grad=True)
    assert dot_product_test(lambda xs: [SumOfCubes(xs[0], w)], [t]).ok
    assert not dot_product_test(lambda xs: [SumOfCubes(xs[0], w, wrong=True)], [t]).ok


# ---------------------------------------------------------------------------
# The real Tensor (chainrule.tensor)
# ---------------------------------------------------------------------------

def test_gradcheck_and_dot_product_test_on_tensors():
    from chainrule.tensor import Tensor

    rng = np.random.default_rng(0)
    W = Tensor(rng.standard_normal((3, 4)), name="W")
    x = Tensor(rng.standard_normal(4).astype(np.float32), name="x")   # checked in float64 anyway
    r = gradcheck(lambda W, x: (W @ x).tanh().sum(), [W, x])
    assert r.ok, str(r)
    assert len(r.checks) == 16 and r.checks[0].name == "W[0, 0]" and r.checks[-1].name == "x[3]"
    # by hand: ∂/∂W[i, j] = (1 − tanh²((W x)ᵢ))·xⱼ
    z = W.data @ x.data.astype(np.float64)
    assert r["W[2, 1]"].analytic == pytest.approx((1 - np.tanh(z[2]) ** 2) * float(x.data[1]), rel=1e-6)
    assert W.grad is None and x.grad is None and x.data.dtype == np.float32

    d = dot_product_test(lambda xs: [(xs[0] @ xs[1]).sigmoid(), xs[1].exp()], [W, x], seed=2)
    assert d.ok, str(d)
    assert len(d.u) == 16 and len(d.v) == 3 + 4
