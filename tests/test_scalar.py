"""Value: operators, methods, gradient accumulation, grad modes, long chains and errors.

Expected gradients here are worked out by hand (in the comments), never by
the engine under test.
"""
import math
import sys

import pytest

import chainrule
from chainrule import MathError, Value, enable_grad, is_grad_enabled, no_grad, parameters_of, zero_grad
from chainrule.errors import ChainruleError


def grads(out, *leaves):
    out.backward()
    return [leaf.grad for leaf in leaves]


# ---------------------------------------------------------------------------
# operators with numbers on either side
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, value, grad", [
    (lambda x: x + 2, 5.0, 1.0),
    (lambda x: 2 + x, 5.0, 1.0),
    (lambda x: x - 2, 1.0, 1.0),
    (lambda x: 2 - x, -1.0, -1.0),
    (lambda x: x * 2, 6.0, 2.0),
    (lambda x: 2 * x, 6.0, 2.0),
    (lambda x: x / 2, 1.5, 0.5),
    (lambda x: 6 / x, 2.0, -6 / 9),          # d(6/x) = −6/x²
    (lambda x: -x, -3.0, -1.0),
    (lambda x: x ** 2, 9.0, 6.0),             # 2x
    (lambda x: x ** -1, 1 / 3, -1 / 9),       # −1/x²
    (lambda x: x ** 0.5, math.sqrt(3), 0.5 / math.sqrt(3)),
    (lambda x: 2 ** x, 8.0, 8.0 * math.log(2)),  # 2ˣ ln 2
    (lambda x: 2.5 + x * 0.5 - 1, 3.0, 0.5),
    (lambda x: abs(x - 5), 2.0, -1.0),
], ids=["x+2", "2+x", "x-2", "2-x", "x*2", "2*x", "x/2", "6/x", "-x", "x**2", "x**-1", "x**0.5", "2**x",
        "mixed", "abs"])
def test_operators_with_numbers(make, value, grad):
    x = Value(3.0, name="x")
    out = make(x)
    assert isinstance(out, Value)
    assert out.data == pytest.approx(value, rel=1e-15)
    out.backward()
    assert x.grad == pytest.approx(grad, rel=1e-15)


def test_value_op_value():
    x, y = Value(3.0), Value(-2.0)
    # z = x*y + x/y − y**x = −6 − 1.5 − (−8) = 0.5
    z = x * y + x / y - y ** Value(3.0)
    assert z.data == pytest.approx(0.5)
    z.backward()
    assert x.grad == pytest.approx(-2.0 + 1 / -2.0)            # y + 1/y
    assert y.grad == pytest.approx(3.0 - 3.0 / 4.0 - 3 * 4.0)  # x − x/y² − 3y²


def test_pow_with_value_exponent_both_grads():
    b, e = Value(2.0), Value(3.0)
    z = b ** e                        # 8
    z.backward()
    assert z.data == 8.0
    assert b.grad == pytest.approx(12.0)              # e·b^(e−1)
    assert e.grad == pytest.approx(8.0 * math.log(2))  # bᵉ ln b
    assert z.op == "pow" and (b ** 2).op == "powc"


@pytest.mark.parametrize("method, x, value, grad", [
    ("exp", 0.5, math.exp(0.5), math.exp(0.5)),
    ("log", 2.0, math.log(2.0), 0.5),
    ("sqrt", 4.0, 2.0, 0.25),
    ("tanh", 0.5, math.tanh(0.5), 1 - math.tanh(0.5) ** 2),
    ("sigmoid", 0.0, 0.5, 0.25),
    ("relu", -1.0, 0.0, 0.0),
    ("relu", 2.0, 2.0, 1.0),
    ("abs", -1.5, 1.5, -1.0),
    ("sin", 1.0, math.sin(1.0), math.cos(1.0)),
    ("cos", 1.0, math.cos(1.0), -math.sin(1.0)),
    ("square", -3.0, 9.0, -6.0),
])
def test_unary_methods(method, x, value, grad):
    v = Value(x)
    out = getattr(v, method)()
    assert out.op == method and out.inputs == (v,)
    assert out.data == pytest.approx(value, rel=1e-15)
    out.backward()
    assert v.grad == pytest.approx(grad, rel=1e-15)


def test_parameterised_and_binary_methods():
    x = Value(-2.0)
    y = x.leaky_relu(0.1)
    assert y.data == pytest.approx(-0.2) and y.op == "leaky_relu"
    y.backward()
    assert x.grad == pytest.approx(0.1)
    assert Value(-2.0).leaky_relu().data == pytest.approx(-0.02)   # default slope 0.01

    a, b = Value(1.0), Value(4.0)
    m = a.maximum(b) + a.minimum(b) * 10      # 4 + 10 = 14
    assert m.data == 14.0
    m.backward()
    assert (a.grad, b.grad) == (10.0, 1.0)
    assert Value(1.0).maximum(3).data == 3.0 and Value(1.0).minimum(3).data == 1.0

    p = Value(3.0)
    q = p.pow(2)
    q.backward()
    assert q.data == 9.0 and p.grad == 6.0


def test_small_api():
    x = Value(2.5, name="w")
    assert x.item() == 2.5 and float(x.detach()) == 2.5     # float(x) itself would cut the graph
    assert "w" in repr(x) and "2.5" in repr(x)
    assert x.op is None and x.inputs == ()
    d = (x * 2).detach()
    assert d.data == 5.0 and not d.requires_grad and d.op is None
    assert Value(Value(1.5)).data == 1.5
    assert Value(3).data == 3.0 and isinstance(Value(3).data, float)


# ---------------------------------------------------------------------------
# reuse and accumulation
# ---------------------------------------------------------------------------

def test_reuse_x_times_x():
    x = Value(3.0)
    y = x * x
    y.backward()
    assert x.grad == 6.0


def test_b_equals_a_plus_a():
    a = Value(1.0)
    b = a + a
    c = b + b                     # c = 4a
    c.backward()
    assert a.grad == 4.0 and b.grad == 2.0 and c.grad == 1.0


def test_diamond():
    # x → (u = 2x, v = x²) → w = u·v = 2x³, dw/dx = 6x² = 24 at x = 2
    x = Value(2.0)
    u, v = x * 2, x ** 2
    w = u * v
    w.backward()
    assert w.data == 16.0
    assert x.grad == 24.0
    assert u.grad == 4.0 and v.grad == 4.0      # ∂w/∂u = v, ∂w/∂v = u


def test_deep_diamonds():
    # y = x; 30 times: y = y + y  → y = 2³⁰ x
    x = Value(1.0)
    y = x
    for _ in range(30):
        y = y + y
    y.backward()
    assert x.grad == 2.0 ** 30


def test_second_backward_accumulates_like_pytorch():
    # PyTorch (retain_graph=True) adds the second sweep to leaf .grad; chainrule
    # does the same, and for intermediate nodes too (their .grad is a running sum).
    x = Value(3.0)
    h = x * x            # dh/dx = 6
    y = h * 2            # dy/dh = 2, dy/dx = 12
    y.backward()
    assert (x.grad, h.grad, y.grad) == (12.0, 2.0, 1.0)
    y.backward()
    assert (x.grad, h.grad, y.grad) == (24.0, 4.0, 2.0)
    y.backward(gradient=0.5)
    assert (x.grad, h.grad, y.grad) == (30.0, 5.0, 2.5)


def test_backward_seed_scales():
    x = Value(2.0)
    (x * 3).backward(gradient=2.0)
    assert x.grad == 6.0


def test_zero_grad_value_and_list():
    a, b = Value(1.0), Value(2.0)
    (a * b).backward()
    assert (a.grad, b.grad) == (2.0, 1.0)
    a.zero_grad()
    assert (a.grad, b.grad) == (0.0, 1.0)
    zero_grad([a, b])
    assert (a.grad, b.grad) == (0.0, 0.0)
    (a * b).backward()
    assert (a.grad, b.grad) == (2.0, 1.0)


def test_parameters_of_lists_leaves_requiring_grad_in_creation_order():
    w1, w2 = Value(1.0, name="w1"), Value(2.0, name="w2")
    c = Value(5.0, requires_grad=False)
    out = (w2 * c + w1) * w2 + 3
    assert parameters_of(out) == [w1, w2]


def test_constants_get_no_grad():
    c = Value(5.0, requires_grad=False)
    x = Value(2.0)
    (x * c).backward()
    assert x.grad == 5.0 and c.grad == 0.0


# ---------------------------------------------------------------------------
# grad modes
# ---------------------------------------------------------------------------

def test_no_grad_context():
    x = Value(2.0)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = x * 3
        with enable_grad():
            assert is_grad_enabled()
            z = x * 3
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert not y.requires_grad and y.op is None and y.inputs == ()
    assert z.requires_grad and z.op == "mul"
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_decorator_and_restored_after_exception():
    @no_grad()
    def update(p):
        assert not is_grad_enabled()
        return p * 2

    x = Value(1.0)
    assert not update(x).requires_grad
    assert update.__name__ == "update"
    assert is_grad_enabled()
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    assert is_grad_enabled()


def test_no_grad_parameter_update_keeps_leaf():
    w = Value(1.0)
    loss = (w * 3 - 1) ** 2          # dL/dw = 2(3w − 1)·3 = 12
    loss.backward()
    with no_grad():
        w.data -= 0.1 * w.grad
    assert w.data == pytest.approx(-0.2) and w.requires_grad and w.op is None


# ---------------------------------------------------------------------------
# long chains: no recursion
# ---------------------------------------------------------------------------

def test_million_node_chain_with_default_recursion_limit():
    assert sys.getrecursionlimit() <= 10_000, "the test is meant to run at the default limit"
    x = Value(1.0)
    y = x
    n = 1_000_000
    for _ in range(n):
        y = y + x                   # y = (n + 1)·x
    y.backward()
    assert y.data == n + 1
    assert x.grad == n + 1


# ---------------------------------------------------------------------------
# errors: messages that say what and where
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, pieces", [
    (lambda: Value(-1.0, name="q").log(), ["log(-1)", "positive", "at q"]),
    (lambda: Value(-4.0, name="s").sqrt(), ["sqrt(-4)", "non-negative", "at s"]),
    (lambda: Value(1.0, name="n") / Value(0.0, name="d"), ["div(1, 0)", "divisor must not be 0", "n, d"]),
    (lambda: Value(1.0) / 0, ["div(1, 0)", "divisor"]),
    (lambda: Value(1000.0, name="z").exp(), ["exp(1000)", "overflow", "at z"]),
    (lambda: Value(1e308) * 10, ["1e308 · 10", "overflow"]),
    (lambda: Value(-8.0, name="b") ** (1 / 3), ["pow(-8, 0.333333)", "whole-number exponent", "at b"]),
    (lambda: Value(0.0) ** -1, ["pow(0, -1)", "non-negative"]),
    (lambda: Value(-8.0) ** Value(0.5), ["pow(-8, 0.5)", "whole-number exponent"]),
])
def test_math_errors_name_op_arguments_and_place(make, pieces):
    with pytest.raises(MathError) as info:
        make()
    msg = str(info.value)
    for piece in pieces:
        assert piece in msg, f"{piece!r} not in {msg!r}"
    assert isinstance(info.value, ChainruleError) and isinstance(info.value, ArithmeticError)


def test_math_error_is_exported():
    assert chainrule.MathError is MathError


def test_type_errors():
    with pytest.raises(TypeError, match="real number"):
        Value("a")
    with pytest.raises(TypeError, match="real number"):
        Value(True)
    with pytest.raises(TypeError, match="str"):
        Value(1.0) + "a"
    with pytest.raises(TypeError, match="str"):
        "a" * Value(1.0)
    with pytest.raises(TypeError):
        Value(1.0) ** "2"
    with pytest.raises(TypeError, match="name"):
        Value(1.0, name=3)
    with pytest.raises(ValueError, match="finite"):
        Value(float("nan"), name="w")


def test_constant_exponent_is_checked_but_not_built():
    import numpy as np
    from chainrule.autodiff import next_seq
    x = Value(1.5)
    for k in (2, 2.0, np.float64(2.0), np.int64(2)):
        before = next_seq()
        y = x ** k
        assert (y.op, y._k, y.data) == ("powc", 2.0, 2.25)
        assert y._seq == before + 1          # one new node: no throw-away Value for the exponent
    for bad, err in (("2", TypeError), (True, TypeError), (None, TypeError),
                     (float("inf"), ValueError), (float("nan"), ValueError)):
        with pytest.raises(err):
            x ** bad


def test_backward_on_constants_only_says_why():
    c = Value(2.0, requires_grad=False) * 3
    with pytest.raises(RuntimeError, match="does not require grad.*constants only"):
        c.backward()


def test_grad_mode_and_tracing_are_per_thread():
    import threading

    from chainrule import Tracer, no_grad
    from chainrule.trace import active_record
    seen = {}
    inside = threading.Event()
    done = threading.Event()

    def other():
        inside.wait(5)
        x = Value(2.0)
        seen["requires_grad"] = (x * x).requires_grad
        seen["record"] = active_record()
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with no_grad(), Tracer():
        inside.set()
        done.wait(5)
    t.join(5)
    assert seen == {"requires_grad": True, "record": None}


@pytest.mark.parametrize("make, message", [
    (lambda: Value(10 ** 400), "too large for a float"),
    (lambda: Value(float("inf"), name="w"), "must be finite, got inf for 'w'"),
    (lambda: Value(1.0).leaky_relu(float("nan")), "negative_slope must be a finite number"),
    (lambda: Value(1.0).leaky_relu("a"), "negative_slope must be a finite number"),
])
def test_bad_python_arguments_are_input_errors(make, message):
    from chainrule.errors import InputError
    with pytest.raises(InputError, match=message):
        make()


def test_trace_of_a_non_value_is_an_input_error():
    from chainrule import trace
    from chainrule.errors import InputError
    with pytest.raises(InputError, match="needs a Value or a Tensor, got float"):
        trace(3.0)
