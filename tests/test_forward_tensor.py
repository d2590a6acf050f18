"""Forward mode on tensors (chainrule.forward_tensor): J·u through every tensor op.

Two independent checks: the dot-product test ⟨v, J·u⟩ = ⟨Jᵀ·v, u⟩ against reverse mode (the
engine's backward), over shapes hypothesis draws, and ``torch.func.jvp`` in float64.
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule.tensor as ct
from chainrule.errors import InputError
from chainrule.forward import jvp
from chainrule.forward_tensor import JVPS
from chainrule.ops import OPS, TENSOR_OPS, Op, TensorOp
from chainrule.tensor.checks import ShapeError

torch = pytest.importorskip("torch", reason="PyTorch is the reference here: pip install torch==2.13.0")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

F = torch.nn.functional
FEW = settings(max_examples=8, deadline=None)


def _programs(n, m, seed):
    """(label, input shapes, fn(lib, *inputs)): each reaches some tensor rows; n, m are drawn sizes."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((m, n))
    W, b = rng.standard_normal((3, m)), rng.standard_normal(3)
    idx = rng.integers(0, n, size=n + 1)                 # repeats likely
    target = rng.integers(0, m, size=n)

    def T(m_, a):
        return m_.tensor(a) if m_ is ct else torch.tensor(a)

    return [
        ("elementwise broadcast", [(n, 1), (m,)], lambda L, a, c: L.tanh(a * c) + L.exp(-c * c) / (1 + a * a)
         + L.maximum(a, c) + L.sigmoid(c) ** 2.5 * L.sin(a) + L.sqrt(a * a + 1) * L.log(c * c + 2)),
        ("pow and leaky", [(n, m), (n, m)], lambda L, a, c: (a * a + 1) ** L.cos(c)
         + (F.leaky_relu(a, 0.1) if L is torch else ct.leaky_relu(a, 0.1)) + L.abs(c) * L.relu(a)),
        ("matmul", [(n, m), (m,)], lambda L, a, c: L.tanh(a @ c) + (a @ T(L, C)).sum(1) + (c @ T(L, C)).sum()),
        ("batched matmul", [(2, n, m), (m, 3)], lambda L, a, c: (a @ c).sin()),
        ("linear", [(n, m), (3, m), (3,)], lambda L, x, w, c: L.sigmoid(
            F.linear(x, w, c) if L is torch else ct.linear(x, w, c))),
        ("reductions", [(n, m)], lambda L, a: L.cat([a.sum(0), a.mean(1), L.amax(a, 1), L.amin(a, 0),
                                                     L.logsumexp(a, 1), (a * a).sum().reshape(1)], 0)),
        ("softmaxes", [(n, m)], lambda L, a: L.softmax(a, -1) * L.log_softmax(a, 0)),
        ("shapes", [(n, m)], lambda L, a: L.stack([a.reshape(m, n).transpose(0, 1), a.T.T], 0).permute(2, 0, 1)
         + a.unsqueeze(0).expand(m, n, m).permute(1, 0, 2)[:, :1, :].sum()),
        ("indexing", [(n, m)], lambda L, a: L.cat([a[T(L, idx)].reshape(-1), a[1:, ::2].reshape(-1),
                                                   a[a.detach() > 0] * 2, a[0, 1:].reshape(-1)], 0)),
        ("where clamp", [(n, m), (n, m)], lambda L, a, c: L.where(a > c, a * c, c - a) + L.clamp(a, -0.3, 0.4)),
        ("cross_entropy", [(n, m)], lambda L, a: (F.cross_entropy(a, torch.tensor(target), reduction="none")
                                                  if L is torch else ct.cross_entropy(a, target, reduction="none"))
         + (F.cross_entropy(a, torch.tensor(target)) if L is torch else ct.cross_entropy(a, target))),
        ("cast", [(n, m)], lambda L, a: (a.float() * 2).double() if L is ct else (a.float() * 2).double()),
    ]


LABELS = [p[0] for p in _programs(2, 3, 0)]
sizes = st.tuples(st.integers(1, 4), st.integers(2, 4), st.integers(0, 2 ** 16))


def _inputs(shapes, seed):
    rng = np.random.default_rng(seed + 1)
    return ([rng.standard_normal(s) + 0.1 for s in shapes], [rng.standard_normal(s) for s in shapes])


@pytest.mark.parametrize("label", LABELS)
@FEW
@given(drawn=sizes)
def test_dot_product_test_against_reverse_mode(label, drawn):
    n, m, seed = drawn
    _, shapes, fn = next(p for p in _programs(n, m, seed) if p[0] == label)
    arrays, us = _inputs(shapes, seed)
    out, ju = jvp(lambda *a: fn(ct, *a), [ct.tensor(a) for a in arrays], [ct.tensor(u) for u in us])
    v = np.random.default_rng(seed + 2).standard_normal(out.shape)
    leaves = [ct.tensor(a, requires_grad=True) for a in arrays]
    fn(ct, *leaves).backward(v.astype(out.dtype))
    lhs = float(np.sum(v * ju.data))
    rhs = float(sum(np.sum(l.grad * u) for l, u in zip(leaves, us, strict=True)))
    tol = 1e-5 if label == "cast" else 1e-10
    assert lhs == pytest.approx(rhs, rel=tol, abs=tol), label


@pytest.mark.parametrize("label", LABELS)
def test_matches_torch_func_jvp(label):
    _, shapes, fn = next(p for p in _programs(3, 4, 11) if p[0] == label)
    arrays, us = _inputs(shapes, 11)
    out, ju = jvp(lambda *a: fn(ct, *a), [ct.tensor(a) for a in arrays], [ct.tensor(u) for u in us])
    tout, tju = torch.func.jvp(lambda *a: fn(torch, *a), tuple(torch.tensor(a) for a in arrays),
                               tuple(torch.tensor(u) for u in us))
    tol = 1e-6 if label == "cast" else 1e-10
    np.testing.assert_allclose(out.data, tout.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ju.data, tju.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", [n for n, op in OPS.items() if isinstance(op, Op)])
def test_every_elementwise_row_by_its_own_derivative(name):
    """Each row's tangent is its np_d times the input tangents: checked by central differences."""
    op = OPS[name]
    k = {"powc": 2.5, "leaky_relu": 0.1}.get(name, 0.7) if op.param else None
    xs = [np.array([0.37, 1.37, 2.3]), np.array([0.8, 1.7, 0.6])][:op.arity]
    us = [np.array([1.0, -0.5, 0.25]), np.array([0.3, 0.0, -1.0])][:op.arity]
    _, t = jvp(lambda *a: ct.apply(op, *a, k=k), [ct.tensor(x) for x in xs], [ct.tensor(u) for u in us])
    h = 1e-6
    with np.errstate(all="ignore"):
        up = op.np_f(*[x + h * u for x, u in zip(xs, us, strict=True)], *([None] * (2 - op.arity)), k)
        down = op.np_f(*[x - h * u for x, u in zip(xs, us, strict=True)], *([None] * (2 - op.arity)), k)
    np.testing.assert_allclose(t.data, (up - down) / (2 * h), rtol=1e-5, atol=1e-6, err_msg=name)


def test_every_structural_row_has_a_forward_rule_or_says_it_has_none():
    for name, row in TENSOR_OPS.items():
        if name in JVPS:
            continue
        fake = TensorOp(name + "_probe", 1, row.forward, row.vjp, row.text, row.delta, row.show)
        with pytest.raises(InputError, match="no forward-mode rule"):
            jvp(lambda a: ct.apply(fake, a, k=None), [ct.tensor([1.0, 2.0])], [ct.tensor([1.0, 0.0])])


def test_jvp_edge_cases():
    out, t = jvp(lambda a, c: (a * 2, c.sum()), [ct.tensor([1.0, 2.0]), ct.tensor([3.0])],
                 [ct.tensor([1.0, 1.0]), ct.tensor([0.0])])
    np.testing.assert_array_equal(t[0].data, [2.0, 2.0])
    assert t[1].item() == 0.0
    _, t = jvp(lambda a: ct.tensor([1.0, 2.0]), [ct.tensor([1.0])], [ct.tensor([1.0])])
    np.testing.assert_array_equal(t.data, [0.0, 0.0])          # an output that ignores the input
    _, t = jvp(lambda a: a.sqrt(), [ct.tensor([0.0])], [ct.tensor([1.0])])
    assert np.isinf(t.data).all()                               # sqrt'(0) = inf, as torch
    _, t = jvp(lambda a: (a * 0.0).sqrt() + a, [ct.tensor([0.0])], [ct.tensor([1.0])])
    assert t.item() == 1.0       # an entry that does not move adds 0, even where its local slope is inf
    with pytest.raises(ShapeError, match="tangent 0 has shape \\(3,\\) but primal 0 has shape \\(2,\\)"):
        jvp(lambda a: a, [ct.tensor([1.0, 2.0])], [ct.tensor([1.0, 2.0, 3.0])])
    with pytest.raises(InputError, match="1 primals but 2 tangents"):
        jvp(lambda a: a, [ct.tensor([1.0])], [ct.tensor([1.0]), ct.tensor([1.0])])
    with pytest.raises(InputError, match="must return a Tensor"):
        jvp(lambda a: 3.0, [ct.tensor([1.0])], [ct.tensor([1.0])])
