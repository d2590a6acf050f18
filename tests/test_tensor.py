"""Tensor without PyTorch: finite differences, dtypes, the PyTorch-style API, clear errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import chainrule.tensor as ct
from chainrule.errors import ChainruleError, InputError
from chainrule.gradcheck import dot_product_test, gradcheck
from chainrule.ops import OPS, TENSOR_OPS
from chainrule.tensor import BackwardError, ShapeError, Tensor
from chainrule.trace import Trace, Tracer, trace

rng = np.random.default_rng(0)


def leaf(*shape, seed=0, dtype=None):
    return ct.randn(*shape, generator=seed, dtype=dtype, requires_grad=True)


# -- gradients against central differences ----------------------------------------

def test_gradcheck_many_ops_in_one_function():
    x = ct.tensor(rng.standard_normal((3, 4)))
    w = ct.tensor(rng.standard_normal((4, 2)))
    b = ct.tensor(rng.standard_normal(2))

    def f(x, w, b):
        h = (x @ w + b).tanh()                       # broadcast bias
        g = h[::-1, [1, 1, 0]]                       # negative step, repeated index
        s = ct.cat([g, h.T.reshape(3, 2)], dim=1).softmax(1)
        m = ct.where(x[:, :2] > 0, s[:, :2], s[:, 2:4] * 2.0)
        return (m.clamp(0.05, 0.95).log().sum(0) + x.abs().amax(1).mean()).logsumexp(0)
    r = gradcheck(f, [x, w, b])
    assert r.ok, str(r)
    assert len(r.checks) == 12 + 8 + 2


def test_gradcheck_linear_and_cross_entropy():
    x = ct.tensor(rng.standard_normal((5, 3)))
    w = ct.tensor(rng.standard_normal((4, 3)))
    b = ct.tensor(rng.standard_normal(4))
    y = np.array([0, 3, 1, 1, 2])
    r = gradcheck(lambda x, w, b: ct.cross_entropy(ct.linear(x, w, b).relu() * 1.5, y), [x, w, b])
    assert r.ok, str(r)


@settings(max_examples=15, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4), seed=st.integers(0, 10**6))
def test_dot_product_identity_on_vector_functions(shape, seed):
    x = ct.tensor(np.random.default_rng(seed).standard_normal(shape))

    def f(x):
        return [x.sigmoid() * x.sum(0, keepdim=True), x.log_softmax(-1), x.var(-1, keepdim=True)]
    r = dot_product_test(f, x, seed=seed)
    assert r.ok, str(r)


def test_gradient_accumulates_within_a_graph_with_reuse():
    # b = a + a; c = b * b + b  ->  dc/da = (2b + 1) * 2
    a = ct.tensor([1.0, -2.0, 0.5], requires_grad=True)
    b = a + a
    c = b * b + b
    c.backward(np.ones(3))
    np.testing.assert_allclose(a.grad, (2 * 2 * a.data + 1) * 2)


def test_diamond_with_many_consumers_and_in_place_buffers():
    x = ct.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = x * 2.0
    z = y.exp() + y.sin() + y * y + y.sum(0) + y.T.T     # five consumers of y
    z.sum().backward()
    xd = x.data
    y0 = 2 * xd
    expected = 2 * (np.exp(y0) + np.cos(y0) + 2 * y0 + 4 + 1)
    np.testing.assert_allclose(x.grad, expected)


def test_grads_of_shared_pass_through_are_not_aliased():
    a = ct.tensor(np.ones((2, 2)), requires_grad=True)
    b = ct.tensor(np.ones((2, 2)), requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad *= 10                         # e.g. an optimizer scaling one gradient in place
    np.testing.assert_array_equal(b.grad, np.ones((2, 2)))
    s = ct.tensor(np.ones(3), requires_grad=True)
    s.sum().backward()                   # the sum's gradient is a broadcast view: must be copied
    s.grad[0] = 5.0
    assert s.grad.flags.writeable


def test_backward_twice_accumulates_and_zero_grad_resets():
    w = ct.tensor([2.0, 3.0], requires_grad=True)
    (w * w).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad, 2 * 2 * w.data)
    w.zero_grad()
    assert w.grad is None


def test_only_leaves_keep_grad_unless_retained():
    w = ct.tensor([1.0, 2.0], requires_grad=True)
    h = w * 3.0
    k = (w * 2.0).retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad, h.data)
    np.testing.assert_allclose(w.grad, 12 * w.data)
    assert w.is_leaf and not h.is_leaf and h.op == "mul" and h.grad_fn == "mul"


def test_constants_and_no_grad_inputs_get_no_gradient():
    x = ct.tensor([1.0, 2.0])
    w = ct.tensor([3.0, 4.0], requires_grad=True)
    (x * w).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad, x.data)


def test_no_grad_builds_no_graph_and_detach_cuts():
    w = ct.tensor([1.0], requires_grad=True)
    with ct.no_grad():
        y = w * 2
    assert not y.requires_grad and y.is_leaf
    d = (w * 2).detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.data, (d * 1).data) is False


def test_long_chain_needs_no_recursion():
    x = ct.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(20000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad[0] == 1.0


def test_trace_of_a_tensor_graph_leaves_grads_alone():
    w = ct.tensor(rng.standard_normal((2, 3)), requires_grad=True, name="W")
    x = ct.tensor(rng.standard_normal((4, 3)), name="x")
    z = (x @ w.T).relu()
    loss = z.mean()
    t = trace(loss)
    assert w.grad is None
    node = t.node("W")
    assert node.shape == [2, 3] and node.grad_norm > 0
    forms = {l.local for s in t.backward for l in s.locals}
    assert any("mask by" in f for f in forms) and any("ᵀ" in f for f in forms)
    again = Trace.from_json(t.to_json())
    assert again.node("W").grad == node.grad
    loss.backward()
    np.testing.assert_allclose(np.array(node.grad), w.grad)


def test_tracer_records_a_tensor_sweep():
    w = ct.tensor([1.0, -1.0], requires_grad=True, name="w")
    with Tracer() as tr:
        (w.relu() * 3.0).sum().backward()
    t = tr.trace()
    assert t.node("w").grad == [3.0, 0.0]
    np.testing.assert_allclose(w.grad, [3.0, 0.0])


# -- dtypes -----------------------------------------------------------------------------

F32_OPS = {
    "arith with numbers": lambda t: (t * 2 + 1) / 3 - 0.5,
    "pow": lambda t: (t * t + 1) ** 1.5,
    "rpow": lambda t: 2.0 ** t,
    "unary": lambda t: t.exp().log().tanh().sigmoid().sin().cos().abs().sqrt(),
    "relu": lambda t: t.relu() + t.leaky_relu(0.1),
    "matmul": lambda t: t @ t.T,
    "linear": lambda t: ct.linear(t, t, t[0]),
    "reductions": lambda t: t.sum(0) + t.mean(1) + t.amax() + t.amin(0) + t.logsumexp(1),
    "softmax": lambda t: t.softmax(1) + t.log_softmax(0),
    "shapes": lambda t: t.reshape(-1)[::2].unsqueeze(0).expand(2, 5).permute(1, 0),
    "index": lambda t: t[[0, 0, 2]] + t[t.data > 0].sum(),
    "join": lambda t: ct.cat([t, t], dim=1)[:, 1:4] + ct.stack([t, t]).sum(0),
    "where clamp": lambda t: ct.where(t.data > 0, t, 0.0).clamp(-1, 1),
    "maximum": lambda t: ct.maximum(t, 0.5) + ct.minimum(0.5, t),
    "array operand": lambda t: t * np.ones(3) + np.arange(3.0),
    "cross_entropy": lambda t: ct.cross_entropy(t, np.array([0, 1, 2])),
    "var": lambda t: t.var(0) + t.std(),
}


@pytest.mark.parametrize("name", sorted(F32_OPS))
def test_float32_stays_float32(name):
    t = leaf(3, 3, dtype=ct.float32)
    assert t.dtype == np.float32
    out = F32_OPS[name](t)
    assert out.dtype == np.float32, name
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert t.grad.dtype == np.float32


def test_dtype_conversions():
    t = ct.tensor([1.0, 2.0])
    assert t.dtype == np.float64
    assert t.float().dtype == np.float32 and t.float().double().dtype == np.float64
    assert ct.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert ct.tensor([1, 2]).dtype == np.int64
    assert ct.tensor([1, 2], dtype=ct.float32).dtype == np.float32
    assert ct.tensor([1, 2], dtype="float64").dtype == np.float64
    assert t.to(ct.float64) is t
    with pytest.raises(InputError, match="floating-point"):
        ct.tensor([1, 2], requires_grad=True)


def test_mixed_float_tensors_promote_and_grads_keep_each_dtype():
    a = ct.tensor([1.0, 2.0], dtype=ct.float32, requires_grad=True)
    b = ct.tensor([3.0, 4.0], requires_grad=True)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


# -- factories and data access ----------------------------------------------------------

def test_factories():
    assert ct.zeros(2, 3).shape == (2, 3) and ct.zeros((2, 3)).data.sum() == 0
    assert ct.ones(4, dtype=ct.float32).dtype == np.float32
    assert ct.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert ct.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert ct.arange(3).dtype == np.int64 and ct.arange(0.0, 1.0, 0.5).tolist() == [0.0, 0.5]
    assert ct.linspace(0, 1, 3).tolist() == [0.0, 0.5, 1.0]
    np.testing.assert_array_equal(ct.randn(3, generator=5).data, ct.randn(3, seed=5).data)
    g = np.random.default_rng(1)
    assert ct.randn(2, 2, generator=g).shape == (2, 2)
    r = ct.rand(100, generator=3)
    assert 0 <= r.data.min() and r.data.max() < 1
    assert ct.randn(2, dtype=ct.float32, generator=1).dtype == np.float32
    assert ct.zeros_like(ct.ones(2, dtype=ct.float32)).dtype == np.float32
    assert ct.ones_like(np.zeros(3)).shape == (3,)
    assert ct.randn(3, requires_grad=True).requires_grad
    with pytest.raises(InputError, match="Generator"):
        ct.randn(2, generator="seed")


def test_data_access():
    arr = np.array([[1.0, 2.0], [3.0, 4.0]])
    t = ct.tensor(arr)
    arr[0, 0] = 99                       # tensor() copies
    assert t.data[0, 0] == 1.0
    shared = ct.from_numpy(arr)
    assert shared.numpy() is arr
    assert t.shape == (2, 2) and t.ndim == 2 and t.size() == (2, 2) and t.size(1) == 2 and t.numel() == 4
    assert t.sum().item() == 10.0 and float(t[1, 1]) == 4.0 and len(t) == 2
    with pytest.raises(InputError, match="one element"):
        t.item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    assert "tensor(" in repr(t) and "requires_grad=True" in repr(ct.ones(1, requires_grad=True))
    assert "float32" in repr(ct.ones(1, dtype=ct.float32))
    assert (t > 2).tolist() == [[False, False], [True, True]]
    assert t.argmax(1).tolist() == [1, 1] and t.argmin().item() == 0
    assert np.asarray(t) is t.data and f"{t.sum():.1f}" == "10.0"
    assert (np.ones(2) + ct.tensor([1.0, 2.0])).tolist() == [2.0, 3.0]      # ndarray on the left


def test_in_place_updates_only_outside_the_graph():
    w = ct.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with pytest.raises(InputError, match="no_grad"):
        w -= 0.1 * w.grad
    with ct.no_grad():
        w -= 0.1 * w.grad
        w.add_(ct.tensor([1.0, 1.0]), alpha=-1.0)
        w[0] = 5.0
    np.testing.assert_allclose(w.data, [5.0, 2.0 - 0.4 - 1.0])
    assert w.requires_grad and w.is_leaf


def test_relu_fast_forward_equals_the_rows_forward():
    x = np.random.default_rng(3).standard_normal(1000)
    x[:5] = [0.0, -0.0, np.inf, -np.inf, 1e-300]
    np.testing.assert_array_equal(ct.tensor(x).relu().data, OPS["relu"].np_f(x, None, None))


def test_every_tensor_row_has_a_form_per_input():
    for op in TENSOR_OPS.values():
        n = 1 if op.arity < 0 else op.arity
        assert len(op.vjp) == n and len(op.text) >= n and len(op.delta) >= n, op.name


# -- clear errors -------------------------------------------------------------------------

ERRORS = [
    (lambda: ct.ones(2, 3) @ ct.ones(2, 3), "matmul: shapes (2, 3) and (2, 3)"),
    (lambda: ct.matmul(ct.ones(3), ct.ones(4)), "matmul: shapes (3,) and (4,)"),
    (lambda: ct.ones(2, 3, 4) @ ct.ones(5, 4, 2), "batch dims"),
    (lambda: ct.ones(3) @ ct.tensor(2.0), "at least 1 dim"),
    (lambda: ct.ones(2, 3) + ct.ones(4), "add: shapes (2, 3) and (4,)"),
    (lambda: ct.ones(2, 3) * np.ones(2), "mul: shapes (2, 3) and (2,)"),
    (lambda: ct.ones(2, 3).sum(2), "sum: dim 2 is out of range"),
    (lambda: ct.ones(2, 3).softmax(-3), "softmax: dim -3"),
    (lambda: ct.ones(2, 3).sum((0, 0)), "twice"),
    (lambda: ct.ones(2, 3).reshape(4, 2), "reshape: cannot reshape a tensor of shape (2, 3)"),
    (lambda: ct.ones(2, 3).permute(0, 0), "not a permutation"),
    (lambda: ct.ones(2, 3).expand(4, 3, 2), "expand"),
    (lambda: ct.ones(2, 3)[5], "indexing a tensor of shape (2, 3)"),
    (lambda: ct.cat([ct.ones(2, 3), ct.ones(2, 4)]), "cat: tensor 1 has shape (2, 4)"),
    (lambda: ct.stack([ct.ones(2), ct.ones(3)]), "stack: tensor 1 has shape (3,)"),
    (lambda: ct.where(np.ones(3, bool), ct.ones(2), 0.0), "where: shapes"),
    (lambda: ct.linear(ct.ones(2, 3), ct.ones(3, 4)), "linear: input of shape (2, 3)"),
    (lambda: ct.linear(ct.ones(2, 3), ct.ones(4, 3), ct.ones(3)), "linear: bias of shape (3,)"),
    (lambda: ct.cross_entropy(ct.ones(2, 3), np.array([0, 1, 2])), "targets of shape (2,)"),
    (lambda: ct.cross_entropy(ct.ones(2, 3), np.array([0, 3])), "out of range for 3 classes"),
    (lambda: ct.tensor([[1.0], [2.0, 3.0]]), "nested lists of equal length"),
    (lambda: ct.tensor([1.0]) + "a", "cannot combine a tensor with str"),
    (lambda: ct.ones(2).mean(dim="x"), "dim must be an int"),
]


@pytest.mark.parametrize("make,message", ERRORS, ids=[m for _, m in ERRORS])
def test_bad_input_gives_a_clear_error(make, message):
    with pytest.raises(ChainruleError) as info:
        make()
    assert message in str(info.value)
    assert isinstance(info.value, (ValueError, InputError))


def test_backward_errors_are_pytorch_like():
    w = ct.ones(2, 3, requires_grad=True)
    with pytest.raises(BackwardError, match="only for scalar outputs.*shape \\(2, 3\\)"):
        (w * 2).backward()
    with pytest.raises(RuntimeError):
        (w * 2).backward()
    with pytest.raises(ShapeError, match="gradient has shape \\(3,\\)"):
        (w * 2).backward(np.ones(3))
    with pytest.raises(BackwardError, match="does not require grad"):
        ct.ones(2).sum().backward()
    (w * 2).backward(ct.ones(2, 3))
    np.testing.assert_allclose(w.grad, 2.0)
