"""explain_tensor: the layer-level chain read off the recorded graph, and one weight's scalar chains."""
import itertools
import json
import math

import numpy as np
import pytest

import chainrule.tensor as ct
from chainrule.errors import InputError
from chainrule.explain import explain_tensor


def mlp(seed=0, batch=4, fused=True, act="relu", dtype=None):
    rng = np.random.default_rng(seed)
    x = ct.tensor(rng.standard_normal((batch, 3)), dtype=dtype)
    y = rng.integers(0, 2, batch)
    W1 = ct.tensor(rng.standard_normal((5, 3)), dtype=dtype, requires_grad=True)
    b1 = ct.tensor(rng.standard_normal(5) * 0.1, dtype=dtype, requires_grad=True)
    W2 = ct.tensor(rng.standard_normal((2, 5)), dtype=dtype, requires_grad=True)
    b2 = ct.tensor(rng.standard_normal(2) * 0.1, dtype=dtype, requires_grad=True)
    if fused:
        z1 = ct.linear(x, W1, b1)
    else:
        z1 = x @ W1.T + b1
    a1 = getattr(z1, act)()
    z2 = ct.linear(a1, W2, b2) if fused else a1 @ W2.T + b2
    loss = ct.cross_entropy(z2, y)
    return loss, dict(x=x, W1=W1, b1=b1, W2=W2, b2=b2, z1=z1, a1=a1, z2=z2, y=y)


def engine_grad(loss, t):
    """The gradient from a real backward pass, with grads cleared before and after."""
    loss.backward()
    g = t.grad.copy()
    return g


# -- layer level ---------------------------------------------------------------------

def test_two_layer_mlp_layer_lines_name_each_step():
    loss, p = mlp()
    e = explain_tensor(loss, p["W1"])
    (lines,) = e.lines
    assert [ln.symbol for ln in lines] == ["δ₂", "δ₁", "∂L/∂W₁"]
    assert lines[0].expression == "(softmax(z₂) − onehot(y))/N"
    assert lines[1].expression == "(δ₂·W₂) ⊙ 1[z₁ > 0]"
    assert lines[2].expression == "δ₁ᵀ·x"
    forms = [s.form for s in e.paths[0]]
    assert forms[1].startswith("multiply by W₂ᵀ") and forms[2] == "mask by z₁ > 0"
    assert [s.op for s in e.paths[0]] == ["cross_entropy", "linear", "relu", "linear"]
    assert [s.input_shape for s in e.paths[0]] == [[4, 2], [4, 5], [4, 5], [5, 3]]
    assert e.wrt == "W₁" and e.output == "L" and e.wrt_shape == [5, 3]


def test_norms_are_the_real_gradient_norms():
    loss, p = mlp(seed=1)
    for name in ("z1", "a1", "z2"):
        p[name].retain_grad()
    e = explain_tensor(loss, p["W1"])
    assert p["W1"].grad is None                       # explaining leaves grads alone
    loss.backward()
    lines = {ln.of: ln for ln in e.lines[0]}
    assert math.isclose(lines["∂L/∂z₂"].norm, np.linalg.norm(p["z2"].grad), rel_tol=1e-12)
    assert math.isclose(lines["∂L/∂z₁"].norm, np.linalg.norm(p["z1"].grad), rel_tol=1e-12)
    assert math.isclose(e.grad_norm, np.linalg.norm(p["W1"].grad), rel_tol=1e-12)
    relu_step = e.paths[0][2]
    assert math.isclose(relu_step.incoming_norm, np.linalg.norm(p["a1"].grad), rel_tol=1e-12)
    assert math.isclose(relu_step.outgoing_norm, np.linalg.norm(p["z1"].grad), rel_tol=1e-12)


def test_unfused_graph_gets_the_same_layer_formulas():
    loss, p = mlp(fused=False, act="sigmoid")
    e = explain_tensor(loss, p["W1"])
    exprs = [ln.expression for ln in e.lines[0]]
    assert exprs == ["(softmax(z₂) − onehot(y))/N", "(δ₂·W₂) ⊙ σ′(z₁)", "δ₁ᵀ·x"]
    assert "σ(z₁)(1−σ(z₁)) elementwise" in [s.form for s in e.paths[0]]


def test_names_are_used_as_labels():
    loss, p = mlp()
    p["W1"].name = "w_in"
    p["a1"].name = "hidden"
    e = explain_tensor(loss, p["W1"])
    assert e.wrt == "w_in"
    assert any(ln.symbol == "∂L/∂hidden" for ln in e.lines[0])


def test_explain_leaves_existing_grads_untouched():
    loss, p = mlp()
    loss.backward()
    before = {name: p[name].grad.copy() for name in ("W1", "b1", "W2", "b2")}
    assert all(np.any(g != 0) for g in before.values())
    explain_tensor(loss, p["W1"], index=(0, 0))
    explain_tensor(loss, p["b1"], index=(1,))
    for name, grad in before.items():              # every gradient exactly as backward() left it
        np.testing.assert_array_equal(p[name].grad, grad, err_msg=name)


# -- one weight --------------------------------------------------------------------------

@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("index", [(0, 0), (2, 1), (4, 2)])
def test_drill_down_products_sum_to_the_gradient(fused, index):
    loss, p = mlp(seed=3, fused=fused, act="tanh")
    e = explain_tensor(loss, p["W1"], index=index, max_paths=1000)
    el = e.element
    g = engine_grad(loss, p["W1"])[index]
    assert el.matches and math.isclose(el.total, g, rel_tol=1e-10, abs_tol=1e-14)
    assert el.path_count == len(el.paths) == 4 * 2          # each sample, each output unit
    assert math.isclose(math.fsum(pth.product for pth in el.paths), g, rel_tol=1e-10, abs_tol=1e-14)
    for pth in el.paths:
        assert math.isclose(math.prod(f.value for f in pth.factors), pth.product, rel_tol=1e-12)
        assert pth.factors[0].label.startswith("∂L/∂z₂[")
        assert len(pth.factors) == 4                     # ∂L/∂z₂ · ∂z₂/∂a₁ · ∂a₁/∂z₁ · ∂z₁/∂W₁
        assert pth.factors[-1].label.endswith(f"/∂W₁[{index[0]}, {index[1]}]")


def test_single_path_network_factors_are_the_hand_computed_ones():
    # one sample, one output: W1[i, j] reaches L through exactly one chain
    x = np.array([[1.0, -2.0, 0.5]])
    W1 = ct.tensor([[0.5, -0.3, 0.8], [0.1, 0.2, -0.4]], requires_grad=True)
    W2 = ct.tensor([[0.7, -1.1]], requires_grad=True)
    z1 = ct.linear(ct.tensor(x), W1)
    a1 = z1.sigmoid()
    z2 = ct.linear(a1, W2)
    loss = ((z2 - 1.0) ** 2).sum()
    e = explain_tensor(loss, W1, index=(1, 2))
    el = e.element
    assert el.path_count == 1
    (pth,) = el.paths
    zz1 = W1.data @ x[0]
    aa1 = 1 / (1 + np.exp(-zz1))
    zz2 = float(W2.data[0] @ aa1)
    hand = [2 * (zz2 - 1.0), W2.data[0, 1], aa1[1] * (1 - aa1[1]), x[0, 2]]
    values = [f.value for f in pth.factors]
    assert len(values) == 4
    np.testing.assert_allclose(values, hand, rtol=1e-12)
    loss.backward()
    assert math.isclose(pth.product, W1.grad[1, 2], rel_tol=1e-12)
    text = e.to_text()
    assert "✓ matches" in text and "∂L/∂W₁[1, 2] =" in text


def test_relu_kills_chains_through_inactive_units():
    loss, p = mlp(seed=5)
    inactive = np.argwhere(p["z1"].data <= 0)
    n, unit = inactive[0]
    e = explain_tensor(loss, p["W1"], index=(int(unit), 0))
    through = [pth for pth in e.element.paths if any(f"z₁[{n}, {unit}]" in f.label for f in pth.factors)]
    assert through == []                               # relu'(z) = 0 there: no chain survives
    assert e.element.matches


def test_weight_used_twice_has_two_node_paths():
    w = ct.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
    x = ct.tensor([[0.5, -1.0]])
    loss = ct.linear(x, w).tanh().sum() + (w * w).sum() * 0.1
    e = explain_tensor(loss, w, index=(1, 0))
    assert len(e.paths) == 3                           # through linear, and through each side of w * w
    loss.backward()
    assert e.element.matches and math.isclose(e.element.total, w.grad[1, 0], rel_tol=1e-12)
    assert "path 1 of 3" in e.to_text()


def test_float32_network_drill_down_matches_at_float32_precision():
    loss, p = mlp(seed=6, dtype=ct.float32)
    e = explain_tensor(loss, p["W2"], index=(1, 3))
    loss.backward()
    assert e.element.matches
    assert math.isclose(e.element.total, float(p["W2"].grad[1, 3]), rel_tol=1e-5, abs_tol=1e-7)


def test_many_chains_are_summarised_but_summed_exactly():
    loss, p = mlp(seed=7, batch=16, act="tanh")
    e = explain_tensor(loss, p["W1"], index=(1, 1), max_paths=3)
    el = e.element
    assert el.path_count == 32 and len(el.paths) == 3
    assert math.isclose(math.fsum(pth.product for pth in el.paths) + el.rest, el.total, rel_tol=1e-10,
                        abs_tol=1e-15)
    assert "the 3 largest shown" in e.to_text() and "other 29 chains" in e.to_text()


# -- views and errors -----------------------------------------------------------------------

def test_text_markdown_dict():
    loss, p = mlp()
    e = explain_tensor(loss, p["W1"], index=(0, 1))
    text = e.to_text()
    assert "δ₁ = (δ₂·W₂) ⊙ 1[z₁ > 0]" in text and "mask by z₁ > 0" in text and "(4, 5)" in text
    md = e.to_markdown()
    assert md.startswith("### ∂L/∂W₁") and "| δ₁ |" in md and "#### One weight" in md
    d = e.to_dict()
    json.dumps(d)
    assert d["element"]["index"] == [0, 1] and d["trace"]["nodes"]


def test_bad_arguments():
    loss, p = mlp()
    with pytest.raises(InputError, match="single-number output"):
        explain_tensor(p["z2"], p["W1"])
    with pytest.raises(InputError, match="does not depend on wrt"):
        explain_tensor(loss, ct.ones(2, requires_grad=True))
    with pytest.raises(InputError, match="out of range"):
        explain_tensor(loss, p["W1"], index=(5, 0))
    with pytest.raises(InputError, match="2 whole numbers"):
        explain_tensor(loss, p["W1"], index=(1,))
    with pytest.raises(InputError, match="Tensor output"):
        explain_tensor(3.0, p["W1"])


# -- one model with the scalar explainer ------------------------------------------------

def test_one_weight_chains_are_the_scalar_explainers_factors_and_paths():
    from chainrule.explain import Factor, Path
    loss, p = mlp(seed=1, fused=False, act="tanh")
    e = explain_tensor(loss, p["W1"], index=(1, 2), max_paths=50)
    nodes = e.trace.nodes
    assert e.element.paths
    for pth in e.element.paths:
        assert type(pth) is Path and pth.omitted == 0
        for f in pth.factors:
            assert isinstance(f, Factor)
            # node and input are trace node ids, as in a Value's factors; the ids lead down the graph
            assert 0 <= f.input < f.node < len(nodes) and f.op
            assert f.plain == f.label.replace("∂", "d")
        for above, below in itertools.pairwise(pth.factors):
            assert above.input == below.node         # each factor starts where the one above ended
    assert {pth.factors[0].node for pth in e.element.paths} == {e.trace.output}
    (w1,) = {pth.factors[-1].input for pth in e.element.paths}
    assert nodes[w1].kind == "input" and nodes[w1].shape == [5, 3]


def test_old_module_path_still_reaches_the_explainer():
    import chainrule
    from chainrule.explain_tensor import explain_tensor as old
    assert old is explain_tensor is chainrule.explain_tensor.explain_tensor
