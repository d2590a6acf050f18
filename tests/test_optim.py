"""chainrule.optim against torch.optim: the same parameters after several steps (float64)."""
from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import InputError
from chainrule.nn import functional as F
from chainrule.optim import SGD, Adam
from chainrule.tensor import Tensor, no_grad

RNG = np.random.default_rng(7)
X = RNG.standard_normal((12, 5))
Y = RNG.integers(0, 3, 12)


def models():
    torch = pytest.importorskip("torch", reason="torch.optim is the reference for the update formulas")
    ours = nn.Sequential(nn.Linear(5, 6, generator=0), nn.Tanh(), nn.Linear(6, 3, generator=1))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for p, tp in zip(ours.parameters(), theirs.parameters(), strict=True):
            tp.copy_(torch.from_numpy(p.data))
    return torch, ours, theirs


def run_both(make_ours, make_theirs, steps=6):
    torch, ours, theirs = models()
    opt, topt = make_ours(ours.parameters()), make_theirs(torch, theirs.parameters())
    tx, ty = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(ours(Tensor(X)), Y).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(theirs(tx), ty).backward()
        topt.step()
    moved = False
    for p, tp in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-13)
    start = nn.Sequential(nn.Linear(5, 6, generator=0), nn.Tanh(), nn.Linear(6, 3, generator=1))
    for p, p0 in zip(ours.parameters(), start.parameters(), strict=True):
        moved |= not np.allclose(p.data, p0.data)
    assert moved, "the optimizer did not change the parameters"


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.1, momentum=0.9, weight_decay=0.01),
    dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.05),
]


@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_sgd_matches_torch(kw):
    run_both(lambda ps: SGD(ps, **kw), lambda torch, ps: torch.optim.SGD(ps, **kw))


ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
]


@pytest.mark.parametrize("kw", ADAM_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_adam_matches_torch(kw):
    run_both(lambda ps: Adam(ps, **kw), lambda torch, ps: torch.optim.Adam(ps, **kw), steps=8)


def test_param_groups_and_lr_changes_match_torch():
    def ours(ps):
        ps = list(ps)
        return SGD([{"params": ps[:2], "lr": 0.2}, {"params": ps[2:]}], lr=0.05, momentum=0.9)

    def theirs(torch, ps):
        ps = list(ps)
        return torch.optim.SGD([{"params": ps[:2], "lr": 0.2}, {"params": ps[2:]}], lr=0.05, momentum=0.9)
    run_both(ours, theirs)


def test_first_sgd_step_by_hand():
    # p = 1, grad = 2 (loss = 2p): plain SGD with lr 0.1 gives 0.8; momentum's first step equals it
    for kw in (dict(lr=0.1), dict(lr=0.1, momentum=0.9)):
        p = nn.Parameter(np.array([1.0]))
        opt = SGD([p], **kw)
        (p * 2.0).sum().backward()
        opt.step()
        np.testing.assert_allclose(p.data, [0.8])
    # Adam's first step is lr · sign(grad) (bias correction makes m/√v = ±1, up to eps)
    p = nn.Parameter(np.array([1.0, -1.0]))
    opt = Adam([p], lr=0.01)
    (p * np.array([3.0, -0.5])).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.data, [0.99, -0.99], rtol=1e-7)


def test_zero_grad_and_skipping_params_without_grad():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = SGD([a, b], lr=0.5)
    (a * 3.0).sum().backward()
    opt.step()                                         # b has no gradient: left alone
    np.testing.assert_allclose(a.data, [-0.5, -0.5])
    np.testing.assert_allclose(b.data, [1.0, 1.0])
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, [0.0, 0.0])
    assert b.grad is None
    opt.zero_grad()
    assert a.grad is None


def test_step_keeps_dtype_and_identity_and_builds_no_graph():
    layer = nn.Linear(3, 2, generator=0).float()
    w = layer.weight
    w_array = w.data
    for opt in (SGD(layer.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
                Adam(layer.parameters(), lr=0.1, weight_decay=1e-3)):
        for _ in range(2):
            opt.zero_grad()
            layer(Tensor(np.ones((4, 3), dtype=np.float32))).sum().backward()
            opt.step()
        assert layer.weight is w and w.data is w_array     # updated in place
        assert w.dtype == np.float32 and layer.bias.dtype == np.float32
        assert w.op is None and w.requires_grad             # still a leaf
        st = opt.state[id(w)]
        assert all(v.dtype == np.float32 for v in st.values() if isinstance(v, np.ndarray))


def test_optimizer_argument_errors():
    p = nn.Parameter(np.ones(2))
    with pytest.raises(InputError, match="learning rate"):
        SGD([p], lr=-1)
    with pytest.raises(InputError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(InputError, match="beta parameter at index 1"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(InputError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(InputError, match="not a single tensor"):
        SGD(p, lr=0.1)
    with pytest.raises(InputError, match="another parameter group"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_nan_settings_and_a_parameter_listed_twice_are_refused():
    p = nn.Parameter(np.ones(2))
    nan = float("nan")
    for make, match in [(lambda: SGD([p], lr=nan), "learning rate"),
                        (lambda: SGD([p], lr=0.1, momentum=nan), "momentum"),
                        (lambda: SGD([p], lr=0.1, weight_decay=nan), "weight_decay"),
                        (lambda: Adam([p], eps=nan), "epsilon")]:
        with pytest.raises(InputError, match=match):
            make()
    # listed twice in one group, SGD would move it twice per step
    with pytest.raises(InputError, match="updated twice"):
        SGD([p, p], lr=0.1)


def test_training_loop_reduces_loss():
    model = nn.Sequential(nn.Linear(5, 16, generator=0), nn.ReLU(), nn.Linear(16, 3, generator=1))
    opt = Adam(model.parameters(), lr=0.05)
    with no_grad():
        first = F.cross_entropy(model(Tensor(X)), Y).item()
    for _ in range(100):
        opt.zero_grad()
        loss = F.cross_entropy(model(Tensor(X)), Y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


@pytest.mark.parametrize("make", [
    lambda o, ps: o.SGD(ps, lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda o, ps: o.SGD(ps, lr=0.01, momentum=0.9, dampening=0.5),
    lambda o, ps: o.Adam(ps, lr=0.01, weight_decay=0.01),
], ids=["sgd-nesterov-wd", "sgd-dampening", "adam-wd"])
def test_large_parameters_updated_in_chunks_match_torch(make):
    """A layer bigger than the optimizer's chunk size goes through the chunked update path."""
    torch = pytest.importorskip("torch", reason="torch.optim is the reference for the update formulas")
    import chainrule.optim as ours_optim
    assert 400 * 400 > 2 * ours_optim._BLOCK
    w0 = RNG.standard_normal((400, 400))
    c = RNG.standard_normal((400, 400))
    p, tp = nn.Parameter(w0), torch.tensor(w0, requires_grad=True)
    opt, topt = make(ours_optim, [p]), make(torch.optim, [tp])
    for _ in range(4):
        opt.zero_grad()
        ((p * c).square().sum() * 0.5).backward()
        opt.step()
        topt.zero_grad()
        ((tp * torch.from_numpy(c)) ** 2 * 0.5).sum().backward()
        topt.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-13)
    assert not np.allclose(p.data, w0)


# --------------------------------------------------------------------------
# defaults and the edges of the allowed hyper-parameters (PyTorch's), found by mutation testing
# --------------------------------------------------------------------------

def _one_param(grad: float = 1.0) -> Tensor:
    p = Tensor([2.0], requires_grad=True)
    p.grad = np.array([grad])
    return p


def test_default_learning_rates_are_pytorchs():
    # torch.optim.SGD and Adam both default to lr = 1e-3: one SGD step with gradient 1 moves by it,
    # and Adam's first step moves by lr·sign(g) (m̂/√v̂ = g/|g|).
    p = _one_param()
    SGD([p]).step()
    assert p.data[0] == pytest.approx(2.0 - 1e-3, abs=1e-15)
    q = _one_param(grad=-4.0)
    Adam([q]).step()
    assert q.data[0] == pytest.approx(2.0 + 1e-3, rel=1e-9)


def test_adam_accepts_the_edges_pytorch_accepts():
    # betas in [0, 1) and eps >= 0: betas = 0 is momentum-free Adam, eps = 0 is allowed
    p = _one_param(grad=3.0)
    Adam([p], lr=0.5, betas=(0.0, 0.0), eps=0.0).step()
    assert p.data[0] == pytest.approx(1.5, rel=1e-12)   # m̂ = g, v̂ = g², step = lr·g/|g|
    for bad in [dict(betas=(1.0, 0.9)), dict(betas=(0.9, -0.1)), dict(eps=-1e-9)]:
        with pytest.raises(InputError):
            Adam([_one_param()], **bad)


def test_optimizer_repr_reads_like_pytorchs():
    p = _one_param()
    assert repr(SGD([p], lr=0.1)) == ("SGD (\nParameter Group 0\n    dampening: 0.0\n    lr: 0.1\n"
                                      "    momentum: 0.0\n    nesterov: False\n    weight_decay: 0.0\n)")
    assert repr(Adam([p])) == ("Adam (\nParameter Group 0\n    betas: (0.9, 0.999)\n    eps: 1e-08\n"
                               "    lr: 0.001\n    weight_decay: 0.0\n)")


def test_nesterov_without_momentum_says_what_it_needs():
    for bad in [dict(momentum=0.0), dict(momentum=0.9, dampening=0.1)]:
        with pytest.raises(InputError, match=r"^nesterov momentum requires a momentum > 0 and zero dampening$"):
            SGD([_one_param()], lr=0.1, nesterov=True, **bad)
