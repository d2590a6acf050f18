"""chainrule.nn against torch.nn (float64, same weights): values and gradients, state, saving, dtypes."""
from __future__ import annotations

import os

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ChainruleError, InputError
from chainrule.nn import functional as F
from chainrule.nn.module import load_arrays
from chainrule.tensor import Tensor

RTOL = 1e-10


def close(a, b, rtol=RTOL, atol=1e-12):
    a = a.data if isinstance(a, Tensor) else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def torch_or_skip():
    return pytest.importorskip("torch", reason="torch is the reference for nn values and gradients")


def leaf(a):
    return Tensor(np.array(a, dtype=np.float64), requires_grad=True)


def tleaf(torch, a):
    return torch.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def copy_linear(ours: nn.Linear, theirs) -> None:
    import torch
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        if ours.bias is not None:
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))


RNG = np.random.default_rng(1234)


# -- layers -------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch_values_and_gradients(bias):
    torch = torch_or_skip()
    ours = nn.Linear(5, 3, bias=bias, generator=0)
    theirs = torch.nn.Linear(5, 3, bias=bias).double()
    copy_linear(ours, theirs)
    xa = RNG.standard_normal((4, 5))
    x, tx = leaf(xa), tleaf(torch, xa)
    w = RNG.standard_normal((4, 3))  # a non-trivial upstream gradient
    (ours(x) * Tensor(w)).sum().backward()
    (theirs(tx) * torch.from_numpy(w)).sum().backward()
    close(ours(x), theirs(tx))
    close(x.grad, tx.grad)
    close(ours.weight.grad, theirs.weight.grad)
    if bias:
        close(ours.bias.grad, theirs.bias.grad)
    else:
        assert ours.bias is None and [n for n, _ in ours.named_parameters()] == ["weight"]


def test_mlp_matches_torch():
    torch = torch_or_skip()
    ours = nn.Sequential(nn.Linear(6, 8, generator=1), nn.Tanh(), nn.Linear(8, 8, generator=2), nn.LeakyReLU(0.1),
                         nn.Linear(8, 4, generator=3), nn.Sigmoid())
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8),
                                 torch.nn.LeakyReLU(0.1), torch.nn.Linear(8, 4), torch.nn.Sigmoid()).double()
    for a, b in zip(ours, theirs, strict=True):
        if isinstance(a, nn.Linear):
            copy_linear(a, b)
    xa = RNG.standard_normal((7, 6))
    x, tx = leaf(xa), tleaf(torch, xa)
    out, tout = ours(x), theirs(tx)
    close(out, tout)
    out.sum().backward()
    tout.sum().backward()
    close(x.grad, tx.grad)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert name == tname
        close(p.grad, tp.grad)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "leaky_relu"])
def test_activations_match_torch_including_zero(name):
    torch = torch_or_skip()
    xa = np.concatenate([RNG.standard_normal(20) * 3, [0.0, -0.0, 1e-300, -1e-300]])
    x, tx = leaf(xa), tleaf(torch, xa)
    module = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "leaky_relu": nn.LeakyReLU(0.2)}[name]
    tmodule = {"relu": torch.nn.ReLU(), "sigmoid": torch.nn.Sigmoid(), "tanh": torch.nn.Tanh(),
               "leaky_relu": torch.nn.LeakyReLU(0.2)}[name]
    y, ty = module(x), tmodule(tx)
    close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    close(x.grad, tx.grad)


def test_dropout_is_inverted_and_identity_in_eval():
    d = nn.Dropout(0.25, generator=0)
    x = leaf(np.ones((200, 50)))
    y = d(x)
    kept = y.data != 0
    assert 0.70 < kept.mean() < 0.80                       # about 1 − p of the units survive
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)     # and are scaled by 1/(1 − p)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.where(kept, 1 / 0.75, 0.0))  # gradient flows only where kept
    d.eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert np.all(nn.Dropout(1.0)(x).data == 0)
    with pytest.raises(InputError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_linear_init_bounds_and_seeding():
    a = nn.Linear(100, 50, generator=7)
    b = nn.Linear(100, 50, generator=7)
    c = nn.Linear(100, 50, generator=8)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    bound = 1 / np.sqrt(100)                                # PyTorch: kaiming_uniform(a=√5) → 1/√fan_in
    assert np.abs(a.weight.data).max() <= bound and np.abs(a.bias.data).max() <= bound
    assert abs(a.weight.data.std() - bound / np.sqrt(3)) < 0.05 * bound   # uniform, not clustered
    x = nn.Linear(100, 50, init="xavier", generator=0)
    xb = np.sqrt(6 / 150)
    assert np.abs(x.weight.data).max() <= xb and x.weight.data.std() > 0.5 * xb / np.sqrt(3)
    assert np.all(x.bias.data == 0)
    with pytest.raises(InputError, match="kaiming"):
        nn.Linear(2, 2, init="he-normal")
    with pytest.raises(InputError, match="in_features"):
        nn.Linear(0, 2)


# -- losses ----------------------------------------------------------------------------

REDUCTIONS = ["mean", "sum", "none"]


def _compare_loss(torch, ours_fn, theirs_fn, xa, target, reduction, t_target=None):
    x, tx = leaf(xa), tleaf(torch, xa)
    t_target = torch.from_numpy(np.asarray(target)) if t_target is None else t_target
    out = ours_fn(x, target, reduction=reduction)
    tout = theirs_fn(tx, t_target, reduction=reduction)
    close(out, tout)
    seed = RNG.standard_normal(out.shape)
    out.backward(seed)
    tout.backward(torch.from_numpy(seed))
    close(x.grad, tx.grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(reduction):
    torch = torch_or_skip()
    _compare_loss(torch, F.mse_loss, torch.nn.functional.mse_loss, RNG.standard_normal((5, 3)),
                  RNG.standard_normal((5, 3)), reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_torch(reduction):
    torch = torch_or_skip()
    p = RNG.uniform(0.01, 0.99, (6, 2))
    y = RNG.integers(0, 2, (6, 2)).astype(np.float64)
    _compare_loss(torch, F.binary_cross_entropy, torch.nn.functional.binary_cross_entropy, p, y, reduction)


def test_bce_clamps_log_at_minus_100_like_torch():
    torch = torch_or_skip()
    p = np.array([0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 1.0])
    out = F.binary_cross_entropy(leaf(p), y, reduction="none")
    ref = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="none")
    close(out, ref)                      # 100, 100, log 2: a sure wrong answer costs 100, not inf
    x = leaf(p)
    F.binary_cross_entropy(x, y).backward()
    assert np.all(np.isfinite(x.grad))
    with pytest.raises(InputError, match="probabilities in \\[0, 1\\]"):
        F.binary_cross_entropy(leaf([1.5]), [1.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_torch_and_is_stable(reduction):
    torch = torch_or_skip()
    z = np.array([[0.0, -3.0, 2.5], [40.0, -40.0, 0.7], [-800.0, 800.0, 1e-3]])
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.3], [1.0, 0.0, 0.0]])
    x, tx = leaf(z), tleaf(torch, z)
    out = F.binary_cross_entropy_with_logits(x, y, reduction=reduction)
    tout = torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.from_numpy(y), reduction=reduction)
    close(out, tout, rtol=1e-12)           # no overflow at ±800, exact at z = 0
    out.sum().backward()
    tout.sum().backward()
    close(x.grad, tx.grad)                  # σ(z) − y, including ½ − y at z = 0


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_class_indices_matches_torch(reduction):
    torch = torch_or_skip()
    z = RNG.standard_normal((8, 5)) * 4
    y = RNG.integers(0, 5, 8)
    _compare_loss(torch, F.cross_entropy, torch.nn.functional.cross_entropy, z, y, reduction)


def test_cross_entropy_with_probability_targets_and_nll_match_torch():
    torch = torch_or_skip()
    z = RNG.standard_normal((4, 3))
    q = RNG.dirichlet(np.ones(3), 4)
    _compare_loss(torch, F.cross_entropy, torch.nn.functional.cross_entropy, z, q, "mean")
    logp = RNG.standard_normal((4, 3))
    y = np.array([0, 2, 1, 2])
    _compare_loss(torch, F.nll_loss, torch.nn.functional.nll_loss, logp, y, "sum")


def test_loss_modules_match_functional_and_torch():
    torch = torch_or_skip()
    z = RNG.standard_normal((6, 4))
    y = RNG.integers(0, 4, 6)
    close(nn.CrossEntropyLoss()(leaf(z), y), torch.nn.CrossEntropyLoss()(torch.tensor(z), torch.tensor(y)))
    close(nn.MSELoss(reduction="sum")(leaf(z), z * 0.5),
          torch.nn.MSELoss(reduction="sum")(torch.tensor(z), torch.tensor(z * 0.5)))
    p = 1 / (1 + np.exp(-z))
    t = (z > 0).astype(float)
    close(nn.BCELoss()(leaf(p), t), torch.nn.BCELoss()(torch.tensor(p), torch.tensor(t)))
    close(nn.BCEWithLogitsLoss()(leaf(z), t), torch.nn.BCEWithLogitsLoss()(torch.tensor(z), torch.tensor(t)))


def test_loss_errors_name_the_problem():
    z = leaf(np.zeros((3, 4)))
    with pytest.raises(ChainruleError, match="out of range for 4 classes"):
        F.cross_entropy(z, [0, 1, 4])
    with pytest.raises(ChainruleError, match="reduction"):
        F.cross_entropy(z, [0, 1, 2], reduction="avg")
    with pytest.raises(ChainruleError, match=r"\(N, N\)"):   # the classic column-vs-vector trap
        F.mse_loss(leaf(np.zeros((3, 1))), np.zeros(3))
    with pytest.raises(ChainruleError, match="reduction"):
        nn.MSELoss(reduction="median")


# -- Module bookkeeping -------------------------------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4, generator=0), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(4, 2, generator=1)
        self.scale = nn.Parameter(np.ones(2))
        self.note = "not a parameter"

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


def test_module_registration_names_and_modes():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["scale", "body.0.weight", "body.0.bias",
                                                       "head.weight", "head.bias"]
    assert [n for n, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "body.2", "head"]
    assert len(list(net.children())) == 2
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    shared = nn.Sequential(net.head, net.head)          # a shared layer's parameters appear once
    assert len(list(shared.parameters())) == 2
    assert "Linear(in_features=3, out_features=4, bias=True)" in repr(net)

    class Bad(nn.Module):
        def __init__(self):
            self.w = 1
    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_zero_grad_and_state_dict_are_copies():
    net = Net().eval()
    net(Tensor(np.ones((2, 3)))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    sd = net.state_dict()
    sd["head.bias"][...] = 123.0                       # editing the copy leaves the model alone
    assert not np.any(net.head.bias.data == 123.0)


def test_state_dict_round_trip_and_strict_errors():
    a, b = Net().eval(), Net().eval()
    b.head.reset_parameters(generator=99)
    x = Tensor(RNG.standard_normal((5, 3)))
    assert not np.allclose(a(x).data, b(x).data)
    weight_before = b.head.weight                      # loading keeps the Parameter objects
    b.load_state_dict(a.state_dict())
    assert b.head.weight is weight_before
    np.testing.assert_array_equal(a(x).data, b(x).data)

    sd = a.state_dict()
    del sd["head.bias"]
    sd["extra.weight"] = np.zeros(2)
    with pytest.raises(nn.StateDictError) as e:
        b.load_state_dict(sd)
    assert "missing keys: head.bias" in str(e.value) and "unexpected keys: extra.weight" in str(e.value)
    b.load_state_dict(sd, strict=False)               # non-strict: loads what fits

    sd = a.state_dict()
    sd["head.weight"] = np.zeros((3, 4))
    before = b.state_dict()
    with pytest.raises(nn.StateDictError, match=r"head.weight: shape \(3, 4\) in the state dict, \(2, 4\) in the model"):
        b.load_state_dict(sd)
    for k, v in b.state_dict().items():               # a refused load changes nothing
        np.testing.assert_array_equal(v, before[k])


def test_load_torch_state_dict():
    torch = torch_or_skip()
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)).double()
    ours = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    xa = RNG.standard_normal((3, 4))
    close(ours(Tensor(xa)), theirs(torch.from_numpy(xa)))


def test_save_and_load_file(tmp_path):
    a, b = Net().eval(), Net().eval()
    b.head.reset_parameters(generator=5)
    path = tmp_path / "sub" / "net.npz"
    a.save(path, meta={"note": "hi"})
    arrays, meta = load_arrays(path)
    assert meta["class"] == "Net" and meta["note"] == "hi"
    assert set(arrays) == {n for n, _ in a.named_parameters()}
    b.load(path)
    x = Tensor(RNG.standard_normal((2, 3)))
    np.testing.assert_array_equal(a(x).data, b(x).data)
    with pytest.raises(InputError, match="does not exist"):
        b.load(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="not a readable"):
        b.load(tmp_path / "junk.npz")
    (tmp_path / "half.npz").write_bytes(path.read_bytes()[:100])      # a truncated zip
    with pytest.raises(InputError, match="not a readable"):
        b.load(tmp_path / "half.npz")


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    good = Net()
    good.save(path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")      # some bytes reach the disk ...
        raise OSError("disk full")                   # ... then the write fails

    monkeypatch.setattr(np, "savez", broken_savez)
    other = Net()
    other.head.reset_parameters(generator=3)
    with pytest.raises(OSError, match="disk full"):
        other.save(path)
    assert path.read_bytes() == before                # the old file is untouched
    assert os.listdir(tmp_path) == ["model.npz"]      # and no temporary file is left behind
    monkeypatch.undo()
    fresh = Net()
    fresh.head.reset_parameters(generator=4)
    fresh.load(path)
    np.testing.assert_array_equal(fresh.head.weight.data, good.head.weight.data)


def test_save_is_atomic_when_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    Net().save(path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise PermissionError("rename refused")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(PermissionError):
        Net().save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.npz"]


# -- dtypes ---------------------------------------------------------------------------------

def test_float_and_double_convert_in_place():
    net = nn.Sequential(nn.Linear(3, 4, generator=0), nn.ReLU(), nn.Linear(4, 2, generator=1))
    params = list(net.parameters())
    assert all(p.dtype == np.float64 for p in params)
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert all(a is b for a, b in zip(params, net.parameters(), strict=True))      # same objects: optimizers still valid
    x = Tensor(np.ones((2, 3), dtype=np.float32))
    out = net(x)
    assert out.dtype == np.float32
    F.cross_entropy(out, [0, 1]).backward()
    assert all(p.grad.dtype == np.float32 for p in net.parameters())
    net.double()
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in net.parameters())
    layer = nn.Linear(2, 2, dtype="float32", generator=0)
    assert layer.weight.dtype == np.float32
    with pytest.raises(InputError, match="float32 or float64"):
        nn.Linear(2, 2, dtype="int64")


def test_float32_matches_float64_closely():
    net = nn.Sequential(nn.Linear(8, 16, generator=0), nn.ReLU(), nn.Linear(16, 3, generator=1))
    xa = RNG.standard_normal((10, 8))
    y = RNG.integers(0, 3, 10)
    F.cross_entropy(net(Tensor(xa)), y).backward()
    g64 = [p.grad.copy() for p in net.parameters()]
    net.zero_grad()
    net.float()
    F.cross_entropy(net(Tensor(xa.astype(np.float32))), y).backward()
    for g32, g in zip((p.grad for p in net.parameters()), g64, strict=True):
        np.testing.assert_allclose(g32, g, rtol=1e-4, atol=1e-6)


# -- batches ----------------------------------------------------------------------------------

def test_batches_cover_every_row_once_and_are_reproducible():
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.arange(10)
    got = list(nn.batches(X, y, batch_size=4, seed=3))
    assert [len(b[1]) for b in got] == [4, 4, 2]
    assert sorted(np.concatenate([b[1].data for b in got]).tolist()) == list(range(10))
    for xb, yb in got:                                  # rows stay paired with their labels
        np.testing.assert_array_equal(xb.data[:, 0], 2 * yb.data)
        assert yb.dtype == np.int64 and xb.dtype == np.float64
    again = [b[1].data.tolist() for b in nn.batches(X, y, 4, seed=3)]
    assert again == [b[1].data.tolist() for b in got]
    other = [b[1].data.tolist() for b in nn.batches(X, y, 4, seed=4)]
    assert other != again
    assert [b.data.tolist() for b in nn.batches(X, batch_size=5, shuffle=False)] == [X[:5].tolist(), X[5:].tolist()]
    assert len(list(nn.batches(X, y, 4, drop_last=True, seed=0))) == 2
    with pytest.raises(InputError, match="different lengths"):
        list(nn.batches(X, y[:9], 4))
    with pytest.raises(InputError, match="batch_size"):
        list(nn.batches(X, y, 0))
