"""Forward mode: against reverse mode, and, for every op row, against central differences of plain-float
functions and PyTorch's own forward mode (torch.func.jvp), numbers that do not come from the op table."""
import math

import numpy as np
import pytest

from chainrule import MathError, Value
from chainrule.forward import Dual, derivative, gradient_forward, jvp
from chainrule.ops import OPS

import oracles  # tests/oracles.py: every op row in PyTorch and plain floats


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


# --------------------------------------------------------------------------
# Every op row, checked against numbers that do not come from the op table:
# central differences of plain-float functions, and PyTorch's own forward mode.
# --------------------------------------------------------------------------

# Smooth points on both sides of zero (kinks at least 0.1 away), and the constant k where the row has one.
POINTS = {
    "add": [(1.5, -2.0, None), (-0.3, -0.7, None)],
    "sub": [(1.5, -2.0, None), (-0.3, -0.7, None)],
    "mul": [(1.5, -2.0, None), (-0.3, -0.7, None), (0.0, 4.0, None)],
    "div": [(1.5, -2.0, None), (-0.3, 0.7, None), (-3.0, -0.25, None)],
    "neg": [(-2.0, None, None), (0.5, None, None)],
    "pow": [(2.0, 3.0, None), (0.5, -1.5, None), (1.7, 0.3, None), (3.0, 0.0, None)],
    "powc": [(2.0, None, 3.0), (0.5, None, -1.5), (-1.5, None, 2.0), (-2.0, None, -3.0), (4.0, None, 0.5),
             (-0.7, None, 0.0)],
    "square": [(-2.5, None, None), (0.7, None, None)],
    "sqrt": [(0.04, None, None), (9.0, None, None)],
    "exp": [(-2.5, None, None), (3.0, None, None)],
    "log": [(0.04, None, None), (9.0, None, None)],
    "tanh": [(-2.5, None, None), (0.7, None, None)],
    "sigmoid": [(-2.5, None, None), (0.7, None, None), (-30.0, None, None)],
    "relu": [(-1.3, None, None), (2.0, None, None)],
    "leaky_relu": [(-1.3, None, 0.01), (-0.4, None, 0.2), (2.0, None, 0.01)],
    "abs": [(-1.3, None, None), (2.0, None, None)],
    "sin": [(-2.5, None, None), (0.7, None, None)],
    "cos": [(-2.5, None, None), (0.7, None, None)],
    "maximum": [(1.0, 2.0, None), (2.0, 1.0, None), (-0.5, -0.2, None)],
    "minimum": [(1.0, 2.0, None), (2.0, 1.0, None), (-0.5, -0.2, None)],
    "tan": [(-1.2, None, None), (0.7, None, None)],
    "sinh": [(-2.5, None, None), (3.0, None, None)],
    "cosh": [(-2.5, None, None), (3.0, None, None)],
    "atan": [(-30.0, None, None), (0.7, None, None)],
    "asinh": [(-30.0, None, None), (0.7, None, None)],
    "log1p": [(-0.9, None, None), (40.0, None, None)],
    "expm1": [(-2.5, None, None), (3.0, None, None)],
    "log2": [(0.04, None, None), (1.0, None, None)],
    "log10": [(0.04, None, None), (1.0, None, None)],
    "softsign": [(-2.5, None, None), (30.0, None, None)],
    "silu": [(-30.0, None, None), (0.7, None, None)],
    "logsigmoid": [(-30.0, None, None), (30.0, None, None)],
}
# Kinks and edges: forward mode must follow the same conventions as PyTorch's forward mode.
KINKS = [("relu", 0.0, None, None), ("abs", 0.0, None, None), ("leaky_relu", 0.0, None, 0.2),
         ("maximum", 1.5, 1.5, None), ("minimum", -0.5, -0.5, None), ("powc", 0.0, None, 2.0),
         ("pow", 0.0, 2.0, None), ("pow", -2.0, 2.0, None)]


def _dual_jvp(name, x, y, k, tx, ty):
    primals, tangents = ([x], [tx]) if y is None else ([x, y], [tx, ty])
    return jvp(lambda a, b=None: oracles.BUILD[name](a, b, k), primals, tangents)


def test_points_cover_every_op():
    assert set(POINTS) == set(OPS)


@pytest.mark.parametrize("name", sorted(OPS))
def test_forward_mode_matches_central_differences(name):
    f = oracles.FLOAT[name]
    directions = [(1.0, 0.0)] if OPS[name].arity == 1 else [(1.0, 0.0), (0.0, 1.0), (0.3, -0.7)]
    for x, y, k in POINTS[name]:
        for tx, ty in directions:
            value, tangent = _dual_jvp(name, x, y, k, tx, ty if y is not None else None)
            assert value == pytest.approx(f(x, y, k), rel=1e-15, abs=1e-300)
            h = 1e-6 * max(1.0, abs(x), abs(y or 0.0))
            yp, ym = (None, None) if y is None else (y + h * ty, y - h * ty)
            numeric = (f(x + h * tx, yp, k) - f(x - h * tx, ym, k)) / (2 * h)
            scale = max(1.0, abs(value))
            assert tangent == pytest.approx(numeric, rel=1e-6, abs=1e-8 * scale), \
                f"{name}{(x, y, k)} along {(tx, ty)}: forward mode {tangent}, central difference {numeric}"


TORCH_JIT_NOISE = "ignore:`torch.jit.script` is deprecated:DeprecationWarning"   # raised inside torch.func


@pytest.mark.filterwarnings(TORCH_JIT_NOISE)
@pytest.mark.parametrize("name", sorted(OPS))
def test_forward_mode_matches_torch_jvp(name):
    torch = pytest.importorskip("torch", reason="torch.func.jvp is the reference for forward mode")
    directions = [(1.0, 0.0)] if OPS[name].arity == 1 else [(1.0, 0.0), (0.0, 1.0), (0.3, -0.7)]
    points = POINTS[name] + [(x, y, k) for n, x, y, k in KINKS if n == name]
    for x, y, k in points:
        for tx, ty in directions:
            value, tangent = _dual_jvp(name, x, y, k, tx, ty if y is not None else None)
            f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
            if y is not None and ty == 0.0:
                # An input that does not move contributes nothing, even where its partial is nan
                # (x**y at a negative base): hold it fixed, as forward mode does, rather than
                # multiply torch's nan partial by a zero tangent.
                t_value, t_tangent = torch.func.jvp(lambda a: oracles.TORCH[name](a, f64(y), k), (f64(x),), (f64(tx),))
            else:
                args = [f64(v) for v in ((x,) if y is None else (x, y))]
                tans = [f64(v) for v in ((tx,) if y is None else (tx, ty))]
                t_value, t_tangent = torch.func.jvp(
                    lambda a, b=None: oracles.TORCH[name](a, b, k), tuple(args), tuple(tans))
            assert value == pytest.approx(t_value.item(), rel=1e-14, abs=1e-300), (name, x, y, k)
            t = t_tangent.item()
            assert (math.isnan(tangent) and math.isnan(t)) or tangent == pytest.approx(t, rel=1e-12, abs=1e-300), \
                f"{name}{(x, y, k)} along {(tx, ty)}: forward mode {tangent}, torch.func.jvp {t}"


@pytest.mark.filterwarnings(TORCH_JIT_NOISE)
@pytest.mark.parametrize("name", sorted(OPS))
def test_forward_mode_on_arrays_matches_torch_jvp(name):
    """The NumPy branch of forward mode (np_f / np_d), all of a row's points at once."""
    torch = pytest.importorskip("torch", reason="torch.func.jvp is the reference for forward mode")
    points = POINTS[name] + [(x, y, k) for n, x, y, k in KINKS if n == name]
    for k in sorted({p[2] for p in points}, key=str):
        group = [p for p in points if p[2] == k]
        xs = np.array([p[0] for p in group])
        ys = None if OPS[name].arity == 1 else np.array([p[1] for p in group])
        tx = np.linspace(0.5, 1.5, len(group))
        ty = None if ys is None else np.linspace(-1.0, 0.25, len(group))
        primals, tangents = ([xs], [tx]) if ys is None else ([xs, ys], [tx, ty])
        value, tangent = jvp(lambda a, b=None: oracles.BUILD[name](a, b, k), primals, tangents)
        t_value, t_tangent = torch.func.jvp(lambda a, b=None: oracles.TORCH[name](a, b, k),
                                            tuple(torch.from_numpy(p) for p in primals),
                                            tuple(torch.from_numpy(t) for t in tangents))
        np.testing.assert_allclose(value, t_value.numpy(), rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(tangent, t_tangent.numpy(), rtol=1e-12, atol=1e-300, equal_nan=True)
        assert np.shape(tangent) == xs.shape
