"""Every Tensor op against PyTorch (float64): values and gradients, on generated shapes.

Each check runs the same function in chainrule and in PyTorch, seeds the
backward pass with the same random upstream gradient (so every entry of the
Jacobian matters), and compares values and every input's gradient to a
relative 1e-10.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the reference here: pip install torch==2.13.0")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import chainrule.tensor as ct  # noqa: E402

RTOL = 1e-10
FEW = settings(max_examples=20, deadline=None)


def close(actual, expected, what):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch's {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def compare(fn_ct, fn_torch, *arrays, seed=0, grads=None):
    """Run both, backward with one random upstream gradient, compare values and grads."""
    grads = grads if grads is not None else [True] * len(arrays)
    cts = [ct.tensor(a, requires_grad=r) for a, r in zip(arrays, grads, strict=True)]
    tts = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, grads, strict=True)]
    out = fn_ct(*cts)
    tout = fn_torch(*tts)
    close(out.data, tout.detach().numpy(), "forward value")
    assert out.dtype == np.float64
    upstream = np.random.default_rng(seed).standard_normal(tout.shape)
    out.backward(upstream)
    tout.backward(torch.tensor(upstream))
    for i, (c, t) in enumerate(zip(cts, tts, strict=True)):
        if not t.requires_grad:
            continue
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        close(c.grad, expected, f"gradient of input {i}")
    return out


def arrays_for(seed, *shapes, positive=False, away_from_zero=False):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        a = rng.standard_normal(s)
        if positive:
            a = np.abs(a) + 0.2
        elif away_from_zero:
            a = np.sign(a + 1e-300) * (np.abs(a) + 0.3)
        out.append(a)
    return out


shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)

# -- elementwise rows ----------------------------------------------------------

UNARY = {
    "exp": (lambda t: t.exp(), lambda t: t.exp(), {}),
    "log": (lambda t: t.log(), lambda t: t.log(), {"positive": True}),
    "sqrt": (lambda t: t.sqrt(), lambda t: t.sqrt(), {"positive": True}),
    "tanh": (lambda t: t.tanh(), lambda t: t.tanh(), {}),
    "sigmoid": (lambda t: t.sigmoid(), lambda t: t.sigmoid(), {}),
    "relu": (lambda t: t.relu(), lambda t: t.relu(), {"away_from_zero": True}),
    "leaky_relu": (lambda t: t.leaky_relu(0.1), lambda t: torch.nn.functional.leaky_relu(t, 0.1),
                   {"away_from_zero": True}),
    "abs": (lambda t: abs(t), lambda t: t.abs(), {"away_from_zero": True}),
    "sin": (lambda t: t.sin(), lambda t: t.sin(), {}),
    "cos": (lambda t: t.cos(), lambda t: t.cos(), {}),
    "square": (lambda t: t.square(), lambda t: t.square(), {}),
    "neg": (lambda t: -t, lambda t: -t, {}),
    "pow 3": (lambda t: t ** 3, lambda t: t ** 3, {}),
    "pow 2.5": (lambda t: t ** 2.5, lambda t: t ** 2.5, {"positive": True}),
    "pow -1": (lambda t: t ** -1, lambda t: t ** -1, {"away_from_zero": True}),
    "rsub": (lambda t: 2.0 - t, lambda t: 2.0 - t, {}),
    "rdiv": (lambda t: 3.0 / t, lambda t: 3.0 / t, {"away_from_zero": True}),
    "rpow": (lambda t: 2.0 ** t, lambda t: 2.0 ** t, {}),
    "scalar mix": (lambda t: (t * 2 + 1) / 4 - 0.5, lambda t: (t * 2 + 1) / 4 - 0.5, {}),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FEW
@given(shape=shapes, seed=seeds)
def test_unary(name, shape, seed):
    f, g, kind = UNARY[name]
    compare(f, g, *arrays_for(seed, shape, **kind), seed=seed)


def test_module_functions_match_methods():
    x = np.random.default_rng(1).standard_normal((3, 4))
    for name in ("exp", "tanh", "sigmoid", "relu", "sin", "cos", "square", "abs"):
        compare(getattr(ct, name), getattr(torch, name), x)
    compare(lambda t: ct.log(ct.sqrt(t)), lambda t: torch.log(torch.sqrt(t)), np.abs(x) + 0.1)
    compare(lambda t: ct.leaky_relu(t, 0.2), lambda t: torch.nn.functional.leaky_relu(t, 0.2), x)
    compare(lambda t: ct.pow(t, 2), lambda t: torch.pow(t, 2), x)


BINARY = {
    "add": (lambda a, b: a + b, {}),
    "sub": (lambda a, b: a - b, {}),
    "mul": (lambda a, b: a * b, {}),
    "div": (lambda a, b: a / b, {"away_from_zero": True}),
    "pow": (lambda a, b: a ** b, {"positive": True}),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@FEW
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       seed=seeds)
def test_binary_broadcasting(name, shapes, seed):
    f, kind = BINARY[name]
    a, b = arrays_for(seed, *shapes.input_shapes, **kind)
    compare(f, f, a, b, seed=seed)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@FEW
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       seed=seeds)
def test_maximum_minimum(name, shapes, seed):
    a, b = arrays_for(seed, *shapes.input_shapes)
    compare(getattr(ct, name), getattr(torch, name), a, b, seed=seed)


def test_maximum_ties_split_like_torch():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 5.0, 3.0])
    compare(ct.maximum, torch.maximum, a, b)
    compare(ct.minimum, torch.minimum, a, b)


def test_operators_with_arrays_on_both_sides():
    rng = np.random.default_rng(2)
    x, arr = rng.standard_normal((2, 3)), rng.standard_normal(3)
    compare(lambda t: arr * t + arr, lambda t: torch.tensor(arr) * t + torch.tensor(arr), x)
    compare(lambda t: t - arr, lambda t: t - torch.tensor(arr), x)
    compare(lambda t: arr / (t * t + 1), lambda t: torch.tensor(arr) / (t * t + 1), x)


def test_one_input_without_grad():
    a, b = arrays_for(3, (2, 3), (3,))
    compare(lambda x, y: x * y, lambda x, y: x * y, a, b, grads=[False, True])
    compare(lambda x, y: x @ y, lambda x, y: x @ y, a, b, grads=[True, False])


# -- matmul ---------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)), ((1, 3), (3, 1)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb):
    a, b = arrays_for(sum(sa) + 7 * sum(sb), sa, sb)
    compare(lambda x, y: x @ y, lambda x, y: x @ y, a, b)
    compare(ct.matmul, torch.matmul, a, b)


@FEW
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
       m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4), seed=seeds)
def test_matmul_batched_generated(batch, m, k, n, seed):
    sa, sb = batch.input_shapes
    a, b = arrays_for(seed, sa + (m, k), sb + (k, n))
    compare(lambda x, y: x @ y, lambda x, y: x @ y, a, b, seed=seed)


def test_matmul_transposed_weight_large_and_small():
    # the small-operand path copies Wᵀ to C order; both paths must agree with torch
    for n in (8, 300):
        a, w = arrays_for(n, (4, n), (n + 1, n))
        compare(lambda x, y: x @ y.T, lambda x, y: x @ y.T, a, w)


@pytest.mark.parametrize("sx", [(5, 3), (3,), (2, 4, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(sx, bias):
    x, w, b = arrays_for(len(sx), sx, (4, 3), (4,))
    if bias:
        compare(ct.linear, torch.nn.functional.linear, x, w, b)
    else:
        compare(ct.linear, torch.nn.functional.linear, x, w)


# -- reductions -------------------------------------------------------------------

@st.composite
def shape_and_dims(draw, min_dims=0):
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=1, max_side=4))
    nd = len(shape)
    if nd == 0:
        return shape, None
    choice = draw(st.sampled_from(["none", "int", "tuple"]))
    if choice == "none":
        return shape, None
    if choice == "int":
        return shape, draw(st.integers(-nd, nd - 1))
    dims = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    return shape, tuple(dims)


def _torch_dim(dim):
    return list(range(100))[:0] if dim is None else dim


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp"])
@FEW
@given(sd=shape_and_dims(), keepdim=st.booleans(), seed=seeds)
def test_reductions(name, sd, keepdim, seed):
    shape, dim = sd
    (x,) = arrays_for(seed, shape)

    def ours(t):
        return getattr(t, name)(dim, keepdim=keepdim)

    def theirs(t):
        if dim is None:
            d = tuple(range(t.ndim))
            if name in ("sum", "mean") and not keepdim:
                return getattr(t, name)()
            return getattr(t, name)(d, keepdim=keepdim) if t.ndim else getattr(t, name)(0, keepdim=keepdim)
        return getattr(t, name)(dim, keepdim=keepdim)
    compare(ours, theirs, x, seed=seed)


def test_max_with_ties_shares_gradient_like_amax():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    compare(lambda t: t.max(1), lambda t: t.amax(1), x)
    compare(lambda t: t.max(), lambda t: t.amax(), x)
    compare(lambda t: t.min(0, keepdim=True), lambda t: t.amin(0, keepdim=True), x)


def test_numpy_aliases_axis_keepdims():
    (x,) = arrays_for(4, (3, 4, 2))
    compare(lambda t: t.sum(axis=(0, 2), keepdims=True), lambda t: t.sum((0, 2), keepdim=True), x)
    compare(lambda t: ct.mean(t, axis=1), lambda t: t.mean(1), x)


def test_var_std_norm():
    (x,) = arrays_for(5, (4, 3))
    compare(lambda t: t.var(0), lambda t: t.var(0), x)
    compare(lambda t: t.var(1, keepdim=True, correction=0), lambda t: t.var(1, keepdim=True, correction=0), x)
    compare(lambda t: t.std(), lambda t: t.std(), x)
    compare(lambda t: t.norm(), lambda t: t.norm(), x)


# -- softmax family, cross-entropy ----------------------------------------------------

@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@FEW
@given(sd=shape_and_dims(min_dims=1), seed=seeds)
def test_softmax_family(name, sd, seed):
    shape, dim = sd
    dim = dim if isinstance(dim, int) else -1
    (x,) = arrays_for(seed, shape)
    compare(lambda t: getattr(t, name)(dim), lambda t: getattr(t, name)(dim), x * 5, seed=seed)
    compare(lambda t: getattr(ct, name)(t, dim), lambda t: getattr(torch, name)(t, dim), x, seed=seed)


def test_softmax_family_is_stable_for_huge_logits():
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4 + 1, -1e4 + 2]])
    out = compare(lambda t: t.log_softmax(1), lambda t: t.log_softmax(1), x)
    assert np.all(np.isfinite(out.data))
    compare(lambda t: t.softmax(1), lambda t: t.softmax(1), x)
    compare(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1), x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction):
    rng = np.random.default_rng(6)
    z = rng.standard_normal((7, 5)) * 3
    y = rng.integers(0, 5, 7)
    compare(lambda t: ct.cross_entropy(t, y, reduction=reduction),
            lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(y), reduction=reduction), z)
    compare(lambda t: ct.cross_entropy(t, ct.tensor(y)),
            lambda t: torch.nn.functional.cross_entropy(t, torch.tensor(y)), z)


def test_cross_entropy_equals_log_softmax_pick():
    rng = np.random.default_rng(7)
    z = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, 6)
    fused = ct.cross_entropy(ct.tensor(z), y)
    composed = -ct.tensor(z).log_softmax(1)[np.arange(6), y].mean()
    close(fused.data, composed.data, "fused vs composed")


# -- shapes --------------------------------------------------------------------------

@FEW
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=4), seed=seeds, data=st.data())
def test_shape_ops(shape, seed, data):
    (x,) = arrays_for(seed, shape)
    nd = len(shape)
    perm = tuple(data.draw(st.permutations(range(nd))))
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    compare(lambda t: t.reshape(-1), lambda t: t.reshape(-1), x, seed=seed)
    compare(lambda t: t.view(shape[::-1]), lambda t: t.reshape(shape[::-1]), x, seed=seed)
    compare(lambda t: t.permute(perm), lambda t: t.permute(perm), x, seed=seed)
    compare(lambda t: t.transpose(d0, d1), lambda t: t.transpose(d0, d1), x, seed=seed)
    compare(lambda t: t.flatten(), lambda t: t.flatten(), x, seed=seed)
    compare(lambda t: t.unsqueeze(0).squeeze(0), lambda t: t.unsqueeze(0).squeeze(0), x, seed=seed)
    compare(lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(-1), x, seed=seed)
    compare(lambda t: t.expand((2,) + shape), lambda t: t.expand((2,) + shape), x, seed=seed)


def test_T_and_mT():
    (x, y) = arrays_for(8, (3, 4), (2, 3, 4))
    compare(lambda t: t.T, lambda t: t.T, x)
    compare(lambda t: t.mT, lambda t: t.mT, y)
    compare(lambda t: t.permute(2, 1, 0), lambda t: t.permute(2, 1, 0), y)


# -- indexing ----------------------------------------------------------------------------

INDEXES = [
    1, -1, slice(1, 3), (slice(None), 2), (Ellipsis, 1), (slice(None, None, 2),), (None, 1),
    [0, 2, 2, 1], ([0, 1, 1], [2, 0, 0]), (slice(None), [3, 3, 0]), (1, slice(None, 2)),
    ([[0, 1], [1, 1]],),
]


@pytest.mark.parametrize("key", INDEXES, ids=str)
def test_getitem(key):
    (x,) = arrays_for(9, (3, 4))

    def tkey(k):
        if isinstance(k, list):
            return torch.tensor(k)
        if isinstance(k, tuple):
            return tuple(tkey(p) for p in k)
        return k
    compare(lambda t: t[key], lambda t: t[tkey(key)], x)


def test_getitem_boolean_mask_and_tensor_index():
    (x,) = arrays_for(10, (3, 4))
    mask = x > 0
    compare(lambda t: t[mask], lambda t: t[torch.tensor(mask)], x)
    compare(lambda t: t[ct.tensor(mask)], lambda t: t[torch.tensor(mask)], x)
    compare(lambda t: t[ct.tensor([2, 0, 2])], lambda t: t[torch.tensor([2, 0, 2])], x)
    compare(lambda t: t[mask[:, 0]], lambda t: t[torch.tensor(mask[:, 0])], x)


def test_iterating_rows():
    (x,) = arrays_for(11, (3, 2))
    compare(lambda t: ct.stack([r * (i + 1) for i, r in enumerate(t)]),
            lambda t: torch.stack([r * (i + 1) for i, r in enumerate(t)]), x)


# -- joining, where, clamp -----------------------------------------------------------------

@FEW
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), n=st.integers(1, 3), seed=seeds,
       data=st.data())
def test_cat_and_stack(shape, n, seed, data):
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    parts = []
    for i, s in enumerate(sizes):
        sh = list(shape)
        sh[dim] = s
        parts.append(tuple(sh))
    arrays = arrays_for(seed, *parts)
    compare(lambda *ts: ct.cat(ts, dim), lambda *ts: torch.cat(ts, dim), *arrays, seed=seed)
    compare(lambda *ts: ct.concatenate(list(ts), axis=dim), lambda *ts: torch.cat(ts, dim), *arrays, seed=seed)
    same = arrays_for(seed + 1, *([shape] * n))
    sdim = data.draw(st.integers(-nd - 1, nd))
    compare(lambda *ts: ct.stack(ts, sdim), lambda *ts: torch.stack(ts, sdim), *same, seed=seed)


def test_cat_with_constant_part():
    a, b = arrays_for(12, (2, 3), (1, 3))
    compare(lambda x, y: ct.cat([x, y, np.ones((1, 3))]),
            lambda x, y: torch.cat([x, y, torch.ones(1, 3, dtype=torch.float64)]), a, b)


@FEW
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=seeds)
def test_where(shapes, seed):
    sc, sa, sb = shapes.input_shapes
    c, a, b = arrays_for(seed, sc, sa, sb)
    cond = c > 0
    compare(lambda x, y: ct.where(cond, x, y), lambda x, y: torch.where(torch.tensor(cond), x, y), a, b, seed=seed)
    compare(lambda x: ct.where(cond, x, 0.0), lambda x: torch.where(torch.tensor(cond), x, 0.0), a, seed=seed)


@FEW
@given(shape=shapes, seed=seeds)
def test_clamp(shape, seed):
    (x,) = arrays_for(seed, shape)
    compare(lambda t: t.clamp(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7), x, seed=seed)
    compare(lambda t: ct.clip(t, min=0.1), lambda t: t.clamp(min=0.1), x, seed=seed)
    compare(lambda t: ct.clamp(t, max=0.1), lambda t: t.clamp(max=0.1), x, seed=seed)


def test_clamp_gradient_passes_at_the_bounds_like_torch():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    compare(lambda t: t.clamp(0.0, 1.0), lambda t: t.clamp(0.0, 1.0), x)


def test_cast_round_trip_gradient():
    (x,) = arrays_for(13, (3, 2))
    t = ct.tensor(x, requires_grad=True)
    out = (t.float() * 2).double().sum()
    out.backward()
    assert t.grad.dtype == np.float64
    np.testing.assert_allclose(t.grad, 2.0)


# -- a small network end to end ------------------------------------------------------------

def test_two_layer_mlp_end_to_end():
    rng = np.random.default_rng(14)
    x, w1, b1, w2, b2 = (rng.standard_normal(s) for s in [(8, 5), (6, 5), (6,), (3, 6), (3,)])
    y = rng.integers(0, 3, 8)

    def ours(x, w1, b1, w2, b2):
        h = (x @ w1.T + b1).tanh()
        return ct.cross_entropy(ct.linear(h, w2, b2), y)

    def theirs(x, w1, b1, w2, b2):
        h = (x @ w1.T + b1).tanh()
        return torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, w2, b2), torch.tensor(y))
    compare(ours, theirs, x, w1, b1, w2, b2)
