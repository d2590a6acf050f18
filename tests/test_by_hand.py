"""Hand-computed expected values for the optimizers, the nn layers and losses, and broadcasting.

The torch comparisons (test_optim.py, test_nn.py, test_tensor_torch.py) are the wide net; these are
the numbers a reader can check with a pencil, so that a suite run without torch still catches a
momentum buffer that never decays, a bias correction left out, a loss averaged over the wrong
count or a broadcast gradient not summed back. Every expected number here is worked out in the
comments, never taken from the code under test.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from chainrule import nn
from chainrule.nn import functional as F
from chainrule.optim import SGD, Adam
from chainrule.tensor import Tensor
def run_steps(make, p0, grad_of, steps):
    """Parameters after each step, where grad_of(p) is ∇L at p (set as the loss's gradient)."""
    p = nn.Parameter(np.array(p0, dtype=float))
    coef = np.asarray(grad_of(np.zeros_like(p.data)), dtype=float)   # ∇L = a·p + c, so L = ½a·p² + c·p
    slope = np.asarray(grad_of(np.ones_like(p.data)), dtype=float) - coef
    opt = make([p])
    seen = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (p * p * slope).sum() + (p * coef).sum()).backward()
        np.testing.assert_allclose(p.grad, grad_of(p.data), rtol=1e-15)
        opt.step()
        seen.append(p.data.copy())
    return np.array(seen)


SGD_BY_HAND = [
    # constant gradient 2 (L = 2p), p = 1, lr = 0.1, momentum 0.9:
    #   b = 2, 0.9·2 + 2 = 3.8, 0.9·3.8 + 2 = 5.42;  p = 1 − 0.2 = 0.8, 0.8 − 0.38 = 0.42, 0.42 − 0.542 = −0.122
    ("momentum", dict(lr=0.1, momentum=0.9), 1.0, lambda p: 2.0 + 0 * p, [0.8, 0.42, -0.122]),
    # nesterov: the step uses g + 0.9·b: 2 + 1.8 = 3.8, 2 + 0.9·3.8 = 5.42, 2 + 0.9·5.42 = 6.878
    #   p = 1 − 0.38 = 0.62, 0.62 − 0.542 = 0.078, 0.078 − 0.6878 = −0.6098
    ("nesterov", dict(lr=0.1, momentum=0.9, nesterov=True), 1.0, lambda p: 2.0 + 0 * p, [0.62, 0.078, -0.6098]),
    # dampening 0.5: b = 2 (the first step takes g whole), 0.9·2 + 0.5·2 = 2.8, 0.9·2.8 + 1 = 3.52
    #   p = 0.8, 0.8 − 0.28 = 0.52, 0.52 − 0.352 = 0.168
    ("dampening", dict(lr=0.1, momentum=0.9, dampening=0.5), 1.0, lambda p: 2.0 + 0 * p, [0.8, 0.52, 0.168]),
    # L = ½p², ∇ = p, weight decay 0.1 makes g = 1.1·p:
    #   g = 1.1, b = 1.1, p = 1 − 0.11 = 0.89;  g = 0.979, b = 0.99 + 0.979 = 1.969, p = 0.89 − 0.1969 = 0.6931
    #   g = 0.76241, b = 1.7721 + 0.76241 = 2.53451, p = 0.6931 − 0.253451 = 0.439649
    ("weight decay", dict(lr=0.1, momentum=0.9, weight_decay=0.1), 1.0, lambda p: p, [0.89, 0.6931, 0.439649]),
    # plain SGD, two parameters at once, ∇ = (3p₀, −1): p₀ = 2 → 2 − 0.6 = 1.4 → 1.4 − 0.42 = 0.98; p₁ = 0 → 0.1 → 0.2
    ("plain", dict(lr=0.1), [2.0, 0.0], lambda p: np.array([3.0, 0.0]) * p + np.array([0.0, -1.0]),
     [[1.4, 0.1], [0.98, 0.2]]),
]


@pytest.mark.parametrize("what, kw, p0, grad_of, want", SGD_BY_HAND, ids=[c[0] for c in SGD_BY_HAND])
def test_sgd_steps_by_hand(what, kw, p0, grad_of, want):
    got = run_steps(lambda ps: SGD(ps, **kw), np.atleast_1d(p0), grad_of, len(want))
    np.testing.assert_allclose(got.reshape(len(want), -1), np.array(want).reshape(len(want), -1),
                               rtol=1e-12, atol=1e-15)


def test_adam_steps_by_hand():
    # L = ½p², ∇ = p, p = 1, lr = 0.1, β = (0.9, 0.999), eps = 1e-8
    # step 1: g = 1, m = 0.1, v = 0.001, m̂ = 1, v̂ = 1: p = 1 − 0.1 · 1/(1 + 1e-8) = 0.900000001
    # step 2: g = 0.900000001, m = 0.09 + 0.0900000001 = 0.1800000001, v = 0.000999 + 0.00081 = 0.001809
    #   m̂ = m/0.19, v̂ = v/0.001999: p = p − 0.1 · m̂/(√v̂ + 1e-8)
    m1, v1 = 0.1, 0.001
    p1 = 1 - 0.1 * 1 / (1 + 1e-8)
    m2, v2 = 0.9 * m1 + 0.1 * p1, 0.999 * v1 + 0.001 * p1 ** 2
    p2 = p1 - 0.1 * (m2 / 0.19) / ((v2 / (1 - 0.999 ** 2)) ** 0.5 + 1e-8)
    assert p1 == pytest.approx(0.900000001, rel=1e-15) and p2 == pytest.approx(0.8004122297, rel=1e-10)
    got = run_steps(lambda ps: Adam(ps, lr=0.1), np.array([1.0]), lambda p: p, 2)
    np.testing.assert_allclose(got[:, 0], [p1, p2], rtol=1e-13)


def test_adam_bias_correction_and_weight_decay_by_hand():
    # ∇ = p − 0.5 (L = ½(p − 0.5)²) + weight decay 0.2 · p, p = 1, lr = 0.02, β = (0.8, 0.99), eps = 1e-6
    # step 1: g = 0.5 + 0.2 = 0.7; m = 0.14, v = 0.0049; m̂ = 0.7, v̂ = 0.49: p = 1 − 0.02 · 0.7/(0.7 + 1e-6)
    p1 = 1 - 0.02 * 0.7 / (0.7 + 1e-6)
    # step 2: g = 1.2·p1 − 0.5; m = 0.8·0.14 + 0.2·g, v = 0.99·0.0049 + 0.01·g²; m̂ = m/0.36, v̂ = v/0.0199
    g2 = 1.2 * p1 - 0.5
    m2, v2 = 0.8 * 0.14 + 0.2 * g2, 0.99 * 0.0049 + 0.01 * g2 ** 2
    p2 = p1 - 0.02 * (m2 / 0.36) / ((v2 / 0.0199) ** 0.5 + 1e-6)
    # step 3: g = 1.2·p2 − 0.5; m̂ = m/(1 − 0.8³) = m/0.488, v̂ = v/(1 − 0.99³) = v/0.029701
    g3 = 1.2 * p2 - 0.5
    m3, v3 = 0.8 * m2 + 0.2 * g3, 0.99 * v2 + 0.01 * g3 ** 2
    p3 = p2 - 0.02 * (m3 / 0.488) / ((v3 / 0.029701) ** 0.5 + 1e-6)
    assert [p1, p2, p3] == pytest.approx([0.98000002857, 0.96004010382, 0.94014839800], rel=1e-10)
    got = run_steps(lambda ps: Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.2),
                    np.array([1.0]), lambda p: p - 0.5, 3)
    np.testing.assert_allclose(got[:, 0], [p1, p2, p3], rtol=1e-13)


# --------------------------------------------------------------------------
# nn layers and losses
# --------------------------------------------------------------------------

def leaf(values) -> Tensor:
    return Tensor(np.array(values, dtype=float), requires_grad=True)


def test_linear_values_and_gradients_by_hand():
    layer = nn.Linear(2, 2)
    layer.weight.data[...] = [[1.0, 2.0], [3.0, -1.0]]
    layer.bias.data[...] = [0.5, -1.0]
    x = leaf([[1.0, -1.0], [2.0, 0.5]])
    y = layer(x)
    # y = x Wᵀ + b: [1 − 2 + 0.5, 3 + 1 − 1] = [−0.5, 3];  [2 + 1 + 0.5, 6 − 0.5 − 1] = [3.5, 4.5]
    np.testing.assert_allclose(y.data, [[-0.5, 3.0], [3.5, 4.5]], rtol=1e-15)
    c = np.array([[1.0, 2.0], [-1.0, 0.5]])
    (y * c).sum().backward()                      # ∂L/∂y = c
    # ∂L/∂W = cᵀ x: row 0 from c[:, 0] = (1, −1): (1·1 − 1·2, 1·(−1) − 1·0.5) = (−1, −1.5)
    #                row 1 from c[:, 1] = (2, 0.5): (2·1 + 0.5·2, 2·(−1) + 0.5·0.5) = (3, −1.75)
    np.testing.assert_allclose(layer.weight.grad, [[-1.0, -1.5], [3.0, -1.75]], rtol=1e-15)
    np.testing.assert_allclose(layer.bias.grad, [0.0, 2.5], rtol=1e-15)          # column sums of c
    # ∂L/∂x = c W: (1·1 + 2·3, 1·2 + 2·(−1)) = (7, 0);  (−1·1 + 0.5·3, −1·2 + 0.5·(−1)) = (0.5, −2.5)
    np.testing.assert_allclose(x.grad, [[7.0, 0.0], [0.5, -2.5]], rtol=1e-15)


def test_sequential_of_two_layers_by_hand():
    # x = 1 → z = 2x + 0 = 2 → relu → a = 2 → y = −3a + 1 = −5; L = y² = 25
    # ∂L/∂y = −10, ∂L/∂w2 = −10·2 = −20, ∂L/∂b2 = −10, ∂L/∂a = 30, ∂L/∂w1 = 30·1 = 30, ∂L/∂b1 = 30
    net = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    (w1, b1, w2, b2) = net.parameters()
    for p, v in zip((w1, b1, w2, b2), (2.0, 0.0, -3.0, 1.0), strict=True):
        p.data[...] = v
    y = net(Tensor(np.array([[1.0]])))
    assert y.data.tolist() == [[-5.0]]
    (y * y).sum().backward()
    assert [float(p.grad.reshape(-1)[0]) for p in (w1, b1, w2, b2)] == [30.0, 30.0, -20.0, -10.0]


@pytest.mark.parametrize("layer, x, out, grad", [
    # relu'(0) = 0, as PyTorch
    (nn.ReLU(), [-1.0, 0.0, 2.0], [0.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
    # leaky slope 0.1 below and at 0
    (nn.LeakyReLU(0.1), [-2.0, 0.0, 3.0], [-0.2, 0.0, 3.0], [0.1, 0.1, 1.0]),
    # σ(0) = ½, σ(ln 3) = 3/4; σ' = σ(1 − σ) = ¼, 3/16
    (nn.Sigmoid(), [0.0, math.log(3)], [0.5, 0.75], [0.25, 0.1875]),
    # tanh(½ ln 3) = (3 − 1)/(3 + 1) = ½; tanh' = 1 − ¼ = ¾
    (nn.Tanh(), [0.0, 0.5 * math.log(3)], [0.0, 0.5], [1.0, 0.75]),
], ids=["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activation_layers_by_hand(layer, x, out, grad):
    t = leaf(x)
    y = layer(t)
    np.testing.assert_allclose(y.data, out, rtol=1e-15, atol=1e-16)
    y.sum().backward()
    np.testing.assert_allclose(t.grad, grad, rtol=1e-15, atol=1e-16)


def test_softmax_and_log_softmax_by_hand():
    # softmax(ln 1, ln 3) = (1/4, 3/4); log_softmax = (−ln 4, ln 3 − ln 4)
    x = leaf([[0.0, math.log(3)]])
    s = F.softmax(x, dim=-1)
    np.testing.assert_allclose(s.data, [[0.25, 0.75]], rtol=1e-15)
    np.testing.assert_allclose(F.log_softmax(x, dim=-1).data, [[-math.log(4), math.log(3 / 4)]], rtol=1e-15)
    # ∂s₀/∂x = s₀(δ − s): (¼·¾, −¼·¾) = (3/16, −3/16)
    (s * Tensor(np.array([[1.0, 0.0]]))).sum().backward()
    np.testing.assert_allclose(x.grad, [[0.1875, -0.1875]], rtol=1e-14)


def test_mse_loss_by_hand():
    # differences (0, 2, 3): squares 0 + 4 + 9 = 13; mean 13/3, ∂/∂input = 2·diff/3 = (0, 4/3, 2)
    for reduction, value, grad in [("mean", 13 / 3, [0.0, 4 / 3, 2.0]), ("sum", 13.0, [0.0, 4.0, 6.0])]:
        x = leaf([1.0, 2.0, 4.0])
        loss = F.mse_loss(x, Tensor(np.array([1.0, 0.0, 1.0])), reduction=reduction)
        assert loss.item() == pytest.approx(value, rel=1e-15)
        loss.backward()
        np.testing.assert_allclose(x.grad, grad, rtol=1e-15)


def test_cross_entropy_by_hand():
    # row 0: logits (0, 0), class 0: −ln ½ = ln 2; row 1: logits (ln 3, 0) → softmax (¾, ¼), class 1: ln 4
    # mean: (ln 2 + ln 4)/2 = 1.5 ln 2; ∂/∂logits = (softmax − one-hot)/2 = (−¼, ¼), (3/8, −3/8)
    x = leaf([[0.0, 0.0], [math.log(3), 0.0]])
    loss = F.cross_entropy(x, np.array([0, 1]))
    assert loss.item() == pytest.approx(1.5 * math.log(2), rel=1e-15)
    loss.backward()
    np.testing.assert_allclose(x.grad, [[-0.25, 0.25], [0.375, -0.375]], rtol=1e-14)
    x = leaf([[0.0, 0.0], [math.log(3), 0.0]])
    loss = F.cross_entropy(x, np.array([0, 1]), reduction="sum")
    assert loss.item() == pytest.approx(3 * math.log(2), rel=1e-15)


def test_nll_loss_by_hand():
    # picks −(−2) and −(−3): mean 2.5; ∂/∂input = −½ at the picked entries
    x = leaf([[-1.0, -2.0], [-3.0, -0.5]])
    loss = F.nll_loss(x, np.array([1, 0]))
    assert loss.item() == 2.5
    loss.backward()
    np.testing.assert_allclose(x.grad, [[0.0, -0.5], [-0.5, 0.0]], rtol=1e-15)


def test_binary_cross_entropy_and_with_logits_by_hand():
    # p = (½, 0.8), y = (1, 0): losses ln 2 and −ln 0.2 = ln 5, mean ln(10)/2
    # ∂/∂p = −y/p + (1 − y)/(1 − p) = (−2, 5), halved by the mean: (−1, 2.5)
    p = leaf([0.5, 0.8])
    loss = F.binary_cross_entropy(p, Tensor(np.array([1.0, 0.0])))
    assert loss.item() == pytest.approx(math.log(10) / 2, rel=1e-15)
    loss.backward()
    np.testing.assert_allclose(p.grad, [-1.0, 2.5], rtol=1e-14)
    # the same through logits: σ(0) = ½, σ(ln 4) = 0.8; ∂/∂logit = (σ − y)/2 = (−¼, 0.4)
    z = leaf([0.0, math.log(4)])
    loss = F.binary_cross_entropy_with_logits(z, Tensor(np.array([1.0, 0.0])))
    assert loss.item() == pytest.approx(math.log(10) / 2, rel=1e-14)
    loss.backward()
    np.testing.assert_allclose(z.grad, [-0.25, 0.4], rtol=1e-14)


# --------------------------------------------------------------------------
# broadcasting: the gradient of a broadcast input is summed back to its shape
# --------------------------------------------------------------------------

def test_broadcast_product_by_hand():
    a = leaf([[1.0], [2.0]])                        # (2, 1)
    b = leaf([10.0, 20.0, 30.0])                    # (3,)
    c = a * b                                       # (2, 3): [[10, 20, 30], [20, 40, 60]]
    np.testing.assert_array_equal(c.data, [[10.0, 20.0, 30.0], [20.0, 40.0, 60.0]])
    w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    (c * w).sum().backward()
    # ∂L/∂a[n] = Σⱼ b[j]·w[n, j]: 10 − 30 = −20; 20 + 20 = 40
    np.testing.assert_array_equal(a.grad, [[-20.0], [40.0]])
    # ∂L/∂b[j] = Σₙ a[n]·w[n, j]: 1 + 4 = 5, 0 + 2 = 2, −1 + 0 = −1
    np.testing.assert_array_equal(b.grad, [5.0, 2.0, -1.0])


def test_broadcast_sum_division_and_scalar_by_hand():
    x = leaf(np.arange(6.0).reshape(3, 1, 2))       # (3, 1, 2)
    y = leaf([[1.0, 2.0], [4.0, 8.0]])              # (2, 2) → result (3, 2, 2)
    s = x + y
    assert s.shape == (3, 2, 2)
    s.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((3, 1, 2), 2.0))   # each x entry used twice (axis 1)
    np.testing.assert_array_equal(y.grad, np.full((2, 2), 3.0))      # each y entry used three times (axis 0)
    # u / v with v of shape (2,): ∂/∂u = 1/v, ∂/∂v[j] = −Σᵢ u[i, j]/v[j]²
    u = leaf([[1.0, 2.0], [3.0, 4.0]])
    v = leaf([2.0, 4.0])
    (u / v).sum().backward()
    np.testing.assert_array_equal(u.grad, [[0.5, 0.25], [0.5, 0.25]])
    np.testing.assert_array_equal(v.grad, [-(1 + 3) / 4, -(2 + 4) / 16])
    # a Python number broadcasts too, and gets no gradient: ∂(3·t − 1)/∂t = 3 everywhere
    t = leaf([[1.0, -1.0]])
    (t * 3.0 - 1.0).sum().backward()
    np.testing.assert_array_equal(t.grad, [[3.0, 3.0]])


def test_broadcast_matmul_bias_and_mean_by_hand():
    # (X W + b).mean() with X (2, 2), W (2, 1), b (1,): mean over 2 entries
    X = leaf([[1.0, 2.0], [3.0, 4.0]])
    W = leaf([[0.5], [-1.0]])
    b = leaf([0.25])
    out = (X @ W + b).mean()
    # X W = (0.5 − 2, 1.5 − 4) = (−1.5, −2.5); + 0.25 → (−1.25, −2.25); mean −1.75
    assert out.item() == -1.75
    out.backward()
    np.testing.assert_array_equal(b.grad, [1.0])                       # ½ + ½: summed over the batch
    np.testing.assert_array_equal(W.grad, [[(1 + 3) / 2], [(2 + 4) / 2]])   # Xᵀ·(½, ½)
    np.testing.assert_array_equal(X.grad, [[0.25, -0.5], [0.25, -0.5]])     # (½)·Wᵀ for each row
