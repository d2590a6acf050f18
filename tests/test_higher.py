"""Gradients of gradients (chainrule.higher): ``grad(..., create_graph=True)`` and
``backward(create_graph=True)`` build the backward pass out of engine ops.

Checked three ways: every elementwise row of the op table (looped, so a new row is covered
with nothing added here) against central differences of its own first derivative, as a Value and
as a Tensor; rows and tensor programs against ``torch.autograd.grad(..., create_graph=True)`` in
float64; Hessian-vector products and a Newton's-method run.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule
import chainrule.tensor as ct
from chainrule import GradError, Value, grad, hvp
from chainrule.errors import ChainruleError
from chainrule.higher import VJPS, engine_local
from chainrule.ops import OPS, TENSOR_OPS, Op, TensorOp

torch = pytest.importorskip("torch", reason="PyTorch is the reference here: pip install torch==2.13.0")
F = torch.nn.functional

XS = (0.37, 0.62, 1.37, -0.45, -1.21, 2.3)
YS = (0.8, 1.7, -0.6)
KS = {"powc": 2.5, "leaky_relu": 0.1}
H = 1e-6


def _k(op):
    return KS.get(op.name, 0.7) if op.param else None


def _np_first(op, i, args, k):
    with np.errstate(all="ignore"):
        x = np.float64(args[0])
        y = None if op.arity == 1 else np.float64(args[1])
        out = op.np_f(x, y, k)
        return float(op.np_d[i](x, y, k, out))


def _points(op):
    """Inputs where the row and its derivatives are finite and smooth (no kink within 1e-3)."""
    k = _k(op)
    cands = [(x,) for x in XS] if op.arity == 1 else [(x, y) for x in XS for y in YS]
    good = []
    for args in cands:
        ok = True
        for i in range(op.arity):
            for j in range(op.arity):
                for s in (-1e-3, 0.0, 1e-3):
                    a = list(args)
                    a[j] += s
                    v = _np_first(op, i, a, k)
                    if not math.isfinite(v):
                        ok = False
        with np.errstate(all="ignore"):
            if not np.isfinite(op.np_f(*(np.float64(a) for a in args), *([None] if op.arity == 1 else []), k)):
                ok = False
        if ok:
            good.append(args)
    return good


ELEMENTWISE = [name for name, op in OPS.items() if isinstance(op, Op)]


def _value_call(op, args, k):
    from chainrule.scalar import _make
    return _make(op, args[0], args[1] if op.arity == 2 else None, k)


def _tensor_call(op, args, k):
    return ct.apply(op, *args, k=k)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("kind", ["value", "tensor"])
def test_every_row_second_derivative_matches_central_differences_of_its_first(name, kind):
    op = OPS[name]
    k = _k(op)
    points = _points(op)
    assert points, f"{name}: no point where the row is smooth among the samples"
    for args in points:
        if kind == "value":
            leaves = [Value(a) for a in args]
            out = _value_call(op, leaves, k)
        else:
            leaves = [ct.tensor(np.full((2,), a), requires_grad=True) for a in args]
            out = _tensor_call(op, leaves, k).sum()
        firsts = grad(out, leaves, create_graph=True)
        for i, g in enumerate(firsts):
            assert np.allclose(np.asarray(g.data), _np_first(op, i, args, k), rtol=1e-12, atol=1e-12)
            for j in range(op.arity):
                up, down = list(args), list(args)
                up[j] += H
                down[j] -= H
                want = (_np_first(op, i, up, k) - _np_first(op, i, down, k)) / (2 * H)
                if g.requires_grad:
                    total = g if kind == "value" else g.sum()
                    (h,) = grad(total, leaves[j], allow_unused=True, materialize_grads=True)
                    got = float(np.asarray(h.data).ravel()[0])
                else:
                    got = 0.0                      # a constant local derivative (add, relu): nothing second
                assert got == pytest.approx(want, rel=1e-5, abs=1e-5), (name, kind, args, i, j)


def _torch_fn(name):
    if name == "powc":
        return lambda x, k: torch.pow(x, k)
    if name == "leaky_relu":
        return lambda x, k: F.leaky_relu(x, k)
    for where in (torch, F, torch.special):
        fn = getattr(where, name, None)
        if fn is not None:
            return fn
    return None


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_every_row_second_derivative_matches_torch(name):
    """Tensors with broadcasting (shapes (3, 1) and (4,)), an upstream gradient, and H·v."""
    op = OPS[name]
    fn = _torch_fn(name)
    if fn is None:
        pytest.fail(f"{name}: give this row its torch counterpart in _torch_fn")
    k = _k(op)
    rng = np.random.default_rng(1)
    for args in _points(op)[:3]:
        shapes = [(3, 1), (4,)][:op.arity]
        arrays = [a + 0.01 * rng.standard_normal(s) for a, s in zip(args, shapes, strict=True)]
        up = rng.standard_normal((3, 4) if op.arity == 2 else (3, 1))
        vs = [rng.standard_normal(s) for s in shapes]
        cs = [ct.tensor(a, requires_grad=True) for a in arrays]
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        out = ct.apply(op, *cs, k=k)
        tout = fn(*ts, *([k] if k is not None else []))
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
        gs = grad((out * up).sum(), cs, create_graph=True)
        tgs = torch.autograd.grad((tout * torch.tensor(up)).sum(), ts, create_graph=True)
        for g, tg in zip(gs, tgs, strict=True):
            np.testing.assert_allclose(g.data, tg.detach().numpy(), rtol=1e-10, atol=1e-12)
        dot = sum(((g * v).sum() for g, v in zip(gs, vs, strict=True) if g.requires_grad), start=None) \
            if any(g.requires_grad for g in gs) else None
        tdot = sum((tg * torch.tensor(v)).sum() for tg, v in zip(tgs, vs, strict=True))
        if dot is None:
            assert not tdot.requires_grad or all(
                h is None or float(h.abs().max()) == 0
                for h in torch.autograd.grad(tdot, ts, allow_unused=True))
            continue
        hs = grad(dot, cs, allow_unused=True, materialize_grads=True)
        ths = torch.autograd.grad(tdot, ts, allow_unused=True, materialize_grads=True)
        for h, th in zip(hs, ths, strict=True):
            np.testing.assert_allclose(h.data, th.numpy(), rtol=1e-9, atol=1e-11, err_msg=name)


# -- tensor programs through the structural rows ---------------------------------------------

def _programs():
    rng = np.random.default_rng(7)
    target = np.array([2, 0, 1])
    idx = np.array([0, 2, 2, 1])
    W = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    R35, R34 = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))
    return [
        ("matmul tanh", [(3, 4), (4, 2)], lambda m, a, c: (m.tanh(a @ c) ** 2).sum()),
        ("matmul 1-D", [(4,), (4, 3)], lambda m, a, c: (m.sin(a @ c) * (c.sum(0) ** 2)).sum()),
        ("matmul batched", [(2, 3, 4), (4,)], lambda m, a, c: m.exp(0.3 * (a @ c)).mean()),
        ("vec matmul batched", [(4,), (2, 4, 3)], lambda m, a, c: m.sigmoid(a @ c).sum()),
        ("softmax", [(3, 5)], lambda m, a: (m.softmax(a, -1) * m.tensor(R35)).sum()),
        ("log_softmax", [(3, 5)], lambda m, a: (m.log_softmax(a, 1) ** 2).sum()),
        ("logsumexp", [(3, 5)], lambda m, a: (m.logsumexp(a, 1) ** 3).sum()),
        ("sum mean dims", [(2, 3, 4)], lambda m, a: (a.sum(1) ** 2).mean() + (a.mean((0, 2)) ** 3).sum()),
        ("sum keepdim", [(2, 3)], lambda m, a: (a * a.sum(1, keepdim=True)).pow(2).sum()),
        ("amax", [(3, 4)], lambda m, a: (m.amax(a * a, 1) ** 2).sum()),
        ("reshape transpose", [(2, 6)], lambda m, a: ((a.reshape(3, 4).transpose(0, 1)) ** 3).sum()),
        ("permute", [(2, 3, 4)], lambda m, a: (a.permute(2, 0, 1) * m.tensor(np.arange(24.0).reshape(4, 2, 3))).pow(2).sum()),
        ("expand", [(3, 1)], lambda m, a: (a.expand(3, 4) ** 3 * m.tensor(R34)).sum()),
        ("index repeats", [(3, 4)], lambda m, a: (a[m.tensor(idx)] ** 3).sum() + (a[1, 1:3] ** 2).sum()),
        ("cat stack", [(2, 3), (1, 3)], lambda m, a, c: (m.cat([a, c * c], 0) ** 2).sum() + (m.stack([a[0], c[0]], 1) ** 3).sum()),
        ("where clamp", [(3, 4)], lambda m, a: (m.where(a > 0, a ** 3, m.sin(a)) + m.clamp(a, -0.5, 0.5) ** 2).sum()),
        ("cross_entropy", [(3, 4)], lambda m, a: F.cross_entropy(a.pow(2), torch.tensor(target))
         if m is torch else ct.cross_entropy(a.pow(2), target)),
        ("linear", [(3, 4)], lambda m, a: (m.tanh(_linear(m, a, W, b))).pow(2).sum()),
        ("linear weights", [(5, 4), (5,)], lambda m, w, c: (m.tanh(_linear(m, m.tensor(W[:3, :]), w, c))).pow(2).sum()),
    ]


def _linear(m, x, w, b):
    if m is torch:
        return F.linear(x, torch.as_tensor(w), torch.as_tensor(b))
    return ct.linear(x, w, b)


@pytest.mark.parametrize("label, shapes, fn", _programs(), ids=[p[0] for p in _programs()])
def test_hessian_vector_products_of_tensor_programs_match_torch(label, shapes, fn):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in shapes]
    vs = [rng.standard_normal(s) for s in shapes]
    cs = [ct.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = fn(ct, *cs), fn(torch, *ts)
    assert out.item() == pytest.approx(tout.item(), rel=1e-12)
    gs = grad(out, cs, create_graph=True)
    tgs = torch.autograd.grad(tout, ts, create_graph=True)
    for g, tg in zip(gs, tgs, strict=True):
        np.testing.assert_allclose(g.data, tg.detach().numpy(), rtol=1e-10, atol=1e-12)
    got = hvp(out, cs, [ct.tensor(v) for v in vs])
    want = torch.autograd.grad(sum((tg * torch.tensor(v)).sum() for tg, v in zip(tgs, vs, strict=True)), ts,
                               allow_unused=True, materialize_grads=True)
    for h, th in zip(got, want, strict=True):
        np.testing.assert_allclose(h.data, th.numpy(), rtol=1e-9, atol=1e-11, err_msg=label)


def test_every_structural_row_has_an_engine_backward_or_says_it_has_none():
    for name, row in TENSOR_OPS.items():
        if name in VJPS:
            continue
        x = ct.tensor(np.ones(3), requires_grad=True)
        fake = TensorOp(name + "_probe", 1, row.forward, row.vjp, row.text, row.delta, row.show)
        with pytest.raises(GradError, match="no backward written in engine ops"):
            grad(ct.apply(fake, x, k=None).sum(), x, create_graph=True)
    # and a third derivative of a structural program still works (vjp of a vjp of index)
    a = ct.tensor([0.5, -1.0, 2.0], requires_grad=True)
    (g,) = grad((a[ct.tensor([0, 0, 2])] ** 4).sum(), a, create_graph=True)
    (h,) = grad(g.sum(), a, create_graph=True)
    (t,) = grad(h.sum(), a)
    np.testing.assert_allclose(t.data, [2 * 24 * 0.5, 0.0, 24 * 2.0])


# -- scalars -------------------------------------------------------------------------

def test_value_derivatives_of_every_order():
    x = Value(1.3)
    y = x ** 4
    want = [4 * 1.3 ** 3, 12 * 1.3 ** 2, 24 * 1.3, 24.0]
    for w in want:
        (y,) = grad(y, x, create_graph=True)
        assert y.data == pytest.approx(w, rel=1e-12)
    (y,) = grad(y, x, allow_unused=True, materialize_grads=True)
    assert y.data == 0.0             # the fifth is zero


def test_value_mixed_partials_match_torch():
    def f(m, a, b):
        sin = a.sin() if m is None else torch.sin(a)
        return (a * b).tanh() * sin + (b ** 2.5) / a + a.sigmoid() * b.exp() + abs(a - b) ** 1.5

    xs, vals = (0.7, 1.9), None
    a, b = Value(xs[0]), Value(xs[1])
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in xs)
    ga, gb = grad(f(None, a, b), [a, b], create_graph=True)
    tga, tgb = torch.autograd.grad(f(torch, ta, tb), [ta, tb], create_graph=True)
    vals = [grad(g, [a, b]) for g in (ga, gb)]
    tvals = [torch.autograd.grad(g, [ta, tb], retain_graph=True) for g in (tga, tgb)]
    for row, trow in zip(vals, tvals, strict=True):
        for h, th in zip(row, trow, strict=True):
            assert h.data == pytest.approx(th.item(), rel=1e-11)


def test_value_backward_create_graph_fills_grads_that_are_graphs():
    x, y = Value(0.8, name="x"), Value(-0.4, name="y")
    z = (x * y).exp() + x ** 3
    z.backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == pytest.approx(y.data * math.exp(-0.32) + 3 * 0.64)
    gx = x.grad
    x.grad, y.grad = 0.0, 0.0
    gx.backward()                                  # ∂²z/∂x² and ∂²z/∂x∂y
    assert x.grad == pytest.approx(0.16 * math.exp(-0.32) + 6 * 0.8)
    assert y.grad == pytest.approx(math.exp(-0.32) * (1 + 0.8 * -0.4))
    w = Value(2.0)
    (w * w).backward(create_graph=True)
    (w * w).backward(create_graph=True)            # accumulates, as in PyTorch: 4 + 4
    assert w.grad.data == 8.0


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_tensor_backward_create_graph_matches_torch():
    rng = np.random.default_rng(5)
    A, X = rng.standard_normal((3, 3)), rng.standard_normal(3)
    x = ct.tensor(X, requires_grad=True)
    tx = torch.tensor(X, requires_grad=True)
    (ct.tensor(A) @ x).tanh().pow(2).sum().backward(create_graph=True)
    (torch.tensor(A) @ tx).tanh().pow(2).sum().backward(create_graph=True)
    np.testing.assert_allclose(x.grad.data, tx.grad.detach().numpy(), rtol=1e-12)
    gx, tgx = x.grad, tx.grad
    x.grad, tx.grad = None, None
    gx.sum().backward()
    tgx.sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10)


def test_first_order_grad_matches_backward_and_touches_no_grad():
    x = ct.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
    y = (x.softmax(-1) * x.exp()).sum()
    (g,) = grad(y, x)
    assert x.grad is None and not g.requires_grad
    y.backward()
    np.testing.assert_allclose(g.data, x.grad)
    v = Value(0.0)                                 # sqrt'(0) = inf: a constant result, no refusal
    (s,) = grad(v.sqrt() + v, v)
    assert s.data == math.inf


def test_grad_outputs_and_intermediate_inputs():
    x = ct.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * x
    y = h.sin()
    (gh, gx) = grad(y, [h, x], grad_outputs=[ct.tensor([1.0, 0.5, -1.0])])
    np.testing.assert_allclose(gh.data, np.cos(h.data) * [1.0, 0.5, -1.0])
    np.testing.assert_allclose(gx.data, gh.data * 2 * x.data)
    # a grad_output that requires grad is differentiated through (the double-vjp trick for J·u)
    u = ct.tensor([1.0, 1.0, 1.0], requires_grad=True)
    (vjp,) = grad(y, x, grad_outputs=[u], create_graph=True)
    (ju,) = grad(vjp, u, grad_outputs=[ct.tensor([1.0, 0.0, 2.0])])
    np.testing.assert_allclose(ju.data, np.cos(h.data) * 2 * x.data * [1.0, 0.0, 2.0])


# -- Newton's method and HVPs -------------------------------------------------------------

def test_newton_minimises_rosenbrock_with_exact_hessians():
    import runpy
    from pathlib import Path
    example = runpy.run_path(str(Path(__file__).resolve().parents[1] / "examples" / "newton.py"))
    xy, steps = example["newton"](-1.2, 1.0)
    assert xy == pytest.approx((1.0, 1.0), abs=1e-10)
    assert steps < 10


def test_hvp_on_values_and_tensors_matches_torch():
    a, b = Value(0.3), Value(-0.7)
    f = (a * a * b).exp() + a.cos() * b ** 3
    ha, hb = hvp(f, [a, b], [1.0, 2.0])
    ta, tb = (torch.tensor(v, dtype=torch.float64) for v in (0.3, -0.7))
    _, (tha, thb) = torch.autograd.functional.hvp(
        lambda p, q: torch.exp(p * p * q) + torch.cos(p) * q ** 3, (ta, tb),
        (torch.tensor(1.0, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64)))
    assert (ha.data, hb.data) == pytest.approx((tha.item(), thb.item()), rel=1e-11)
    x = ct.tensor([1.0, 2.0], requires_grad=True)
    (hx,) = hvp((x * 3).sum(), x, ct.tensor([1.0, 1.0]))    # linear: H = 0
    np.testing.assert_array_equal(hx.data, [0.0, 0.0])


# -- errors -----------------------------------------------------------------------------

def test_bad_input_gets_a_clear_error():
    x = ct.tensor([1.0, 2.0], requires_grad=True)
    c = ct.tensor([1.0, 2.0])
    with pytest.raises(GradError, match="implicitly created only for scalar outputs.*shape \\(2,\\)"):
        grad(x * 2, x)
    with pytest.raises(GradError, match="element 0 of outputs does not require grad"):
        grad(c.sum(), x)
    with pytest.raises(GradError, match="element 1 of inputs was not used.*allow_unused=True"):
        grad(x.sum(), [x, ct.tensor([3.0], requires_grad=True)])
    with pytest.raises(GradError, match="element 0 of inputs does not require grad"):
        grad(x.sum(), c)
    with pytest.raises(GradError, match="Mismatch in shape: grad_outputs\\[0\\] has shape \\(3,\\)"):
        grad(x * 2, x, grad_outputs=[ct.tensor([1.0, 2.0, 3.0])])
    with pytest.raises(GradError, match="one grad_output per output"):
        grad(x * 2, x, grad_outputs=[None, None])
    with pytest.raises(chainrule.errors.InputError, match="all be Values or all be Tensors"):
        grad(x.sum(), Value(1.0))
    with pytest.raises(chainrule.errors.InputError, match="must be a Value or a Tensor, got float"):
        grad(x.sum(), [1.0])
    with pytest.raises(RuntimeError, match="does not require grad"):   # backward(create_graph) as before
        Value(1.0, requires_grad=False).exp().backward(create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        c.sum().backward(create_graph=True)
    assert grad(x.sum(), [x, ct.tensor([3.0], requires_grad=True)], allow_unused=True)[1] is None
    assert issubclass(GradError, ChainruleError) and issubclass(GradError, RuntimeError)


def test_a_row_whose_derivative_cannot_be_built_is_refused_by_name():
    odd = Op("odd", 1, "x", ("mystery(x)",), ("?",), ("?",), "odd({x})")
    with pytest.raises(GradError, match=r"derivative of odd \(mystery\(x\)\) uses the function mystery\(\)"):
        engine_local(odd, 0, Value(1.0))
    # and ``eval`` never sees the expression: a string that would run code is just refused
    evil = Op("evil", 1, "x", ("__import__('os').getcwd()",), ("?",), ("?",), "evil({x})")
    with pytest.raises(GradError, match="cannot be built out of engine ops"):
        engine_local(evil, 0, Value(1.0))
