"""Issue 14: chainrule.torch explains a PyTorch computation as the chain rule with PyTorch's numbers.

Checked against torch==2.13.0: the seed examples (seed 004's last example, w1.grad = 1.56 and
w2.grad = −2.6 in the chain), an nn.Sequential MLP, a graph with reuse, in-place ops, an op the
table does not know (a generic step, gradient still right), a NaN made three nodes before the loss.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
import chainrule.torch as crt  # noqa: E402
from chainrule.errors import ChainruleError, InputError  # noqa: E402
from chainrule.explain import explain as explain_trace  # noqa: E402
from chainrule.trace import Trace  # noqa: E402
from chainrule.viz import trace_to_html, trace_to_svg  # noqa: E402


def seed_004_torch():
    """Seed 004's last example, as the seed writes it."""
    x = torch.tensor(2.0)
    y = torch.tensor(1.0)
    w1 = torch.tensor(0.5, requires_grad=True)
    w2 = torch.tensor(-0.3, requires_grad=True)
    z1 = w1 * x
    a1 = torch.relu(z1)
    z2 = w2 * a1
    L = (z2 - y) ** 2
    return crt.trace(L), L, w1, w2


def seed_004_chainrule():
    w1, w2 = chainrule.Value(0.5, name="w1"), chainrule.Value(-0.3, name="w2")
    z1 = w1 * 2.0; z1.name = "z1"
    a1 = z1.relu(); a1.name = "a1"
    z2 = w2 * a1; z2.name = "z2"
    L = (z2 - 1.0) ** 2; L.name = "L"
    return chainrule.trace(L)


# --------------------------------------------------------------------------
# seed examples
# --------------------------------------------------------------------------

def test_seed_004_explains_w1_grad_1_56_and_w2_grad_minus_2_6_in_the_chain(seed_reference):
    ref = seed_reference["two_layer_relu"]
    t, L, w1, w2 = seed_004_torch()
    assert isinstance(t, Trace)
    labels = [n.label for n in t.nodes]
    assert {"w1", "w2", "x", "y", "z1", "a1", "z2", "L"} <= set(labels)    # the user's own variable names
    e = crt.explain(t)
    line1, line2 = e.chain_line("w1"), e.chain_line("w2")
    assert line1 == "∂L/∂w₁ = ∂L/∂z₂ · ∂z₂/∂a₁ · ∂a₁/∂z₁ · ∂z₁/∂w₁ = −2.6 · (−0.3) · 1 · 2 = 1.56"
    assert line2 == "∂L/∂w₂ = ∂L/∂z₂ · ∂z₂/∂w₂ = −2.6 · 1 = −2.6"
    c1, c2 = e.chain("w1"), e.chain("w2")
    assert c1.matches is True and c2.matches is True
    assert c1.grad == pytest.approx(ref["gradients"]["dL/dw1"], rel=1e-6)
    assert c2.grad == pytest.approx(ref["gradients"]["dL/dw2"], rel=1e-6)
    locals_ = [f.value for f in c1.paths[0].factors]
    expected = [ref["local_derivatives"][k] for k in ("dL/dz2", "dz2/da1 (=w2)", "da1/dz1 (relu')", "dz1/dw1 (=x)")]
    assert locals_ == pytest.approx(expected, rel=1e-6)
    for name, v in ref["values"].items():
        assert t.node(name).value == pytest.approx(v, rel=1e-6)
    # the same numbers PyTorch's own backward gives, and PyTorch's .grad untouched by tracing
    assert w1.grad is None and w2.grad is None
    L.backward()
    assert t.node("w1").grad == w1.grad.item() and t.node("w2").grad == w2.grad.item()


def test_seed_004_gives_the_same_chain_drawing_and_page_as_chainrules_own_engine():
    t, *_ = seed_004_torch()
    own = seed_004_chainrule()
    assert explain_trace(t).chain_line("w1") == explain_trace(own).chain_line("w1")
    assert explain_trace(t).chain_line("w2") == explain_trace(own).chain_line("w2")
    assert [n.op for n in t.nodes if n.op] == [n.op for n in own.nodes if n.op]   # PyTorch does not say when
    assert [n.label for n in t.inputs] == ["w1", "w2"] == sorted(n.label for n in own.inputs)  # a leaf was made
    assert [s.node for s in t.backward] and len(t.backward) == len(own.backward)
    # every view reads it unchanged
    svg = trace_to_svg(t)
    assert svg.startswith("<svg") and "w1" in svg and "1.56" in svg
    page = trace_to_html(t)
    assert "ChainrulePlayer.mount" in page and "1.56" in page
    assert "w1" in t._repr_html_() and t._repr_svg_().startswith("<svg")
    text = chainrule.explain.render_text(t)
    assert "∂L/∂w₁" in text and "1.56" in text
    back = Trace.from_json(t.to_json())
    assert back.to_dict() == t.to_dict() and explain_trace(back).chain("w1").matches is True


SEEDS = {
    "chain_1neuron_per_layer_A": ("C", lambda a0, w1, w2, w3, y: (w3 * (w2 * (w1 * a0)) - y) ** 2),
    "chain_1neuron_per_layer_B": ("C", lambda a0, w1, w2, w3, y: (w3 * (w2 * (w1 * a0)) - y) ** 2),
    "square_3x_plus_1": ("y", lambda x: (3 * x + 1) ** 2),
    "square_3x_plus_2": ("f", lambda x: (3 * x + 2) ** 2),
    "linear_squared": ("L", lambda w, x, b: (w * x + b) ** 2),
    "sigmoid_net_squared": ("L", lambda x, y, w1, w2, b1, b2:
                            (torch.sigmoid(w2 * torch.sigmoid(w1 * x + b1) + b2) - y) ** 2),
    "sigmoid_net_half_squared": ("L", lambda x, y, w1, w2, b1, b2:
                                 0.5 * (torch.sigmoid(w2 * torch.sigmoid(w1 * x + b1) + b2) - y) ** 2),
    "quadratic_2d": ("f", lambda x, y: x ** 2 + 2 * y ** 2),
}


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_examples_gradients_and_chains_match_the_reference(name, seed_reference):
    ref = seed_reference[name]
    out, fn = SEEDS[name]
    leaves = {k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for k, v in ref["inputs"].items()}
    loss = fn(**leaves)
    t = crt.trace(loss, leaves)
    e = crt.explain(t)
    checked = 0
    for key, g in ref["gradients"].items():
        wrt = key.split("/d")[1]
        if wrt not in leaves:
            continue                   # an intermediate: the lambda gives it no name
        checked += 1
        chain = e.chain(wrt)
        assert chain.grad == pytest.approx(g, rel=1e-9, abs=1e-12), key
        assert chain.matches is True and chain.total == pytest.approx(g, rel=1e-9, abs=1e-12), key
    assert checked >= 1


# --------------------------------------------------------------------------
# tensors: an nn.Sequential MLP, reuse, in-place ops, an unknown op
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    x = torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    loss = torch.nn.functional.cross_entropy(model(x), y)
    return model, x, y, loss


def _autograd(loss, tensors):
    return [g.numpy() for g in torch.autograd.grad(loss, tensors, retain_graph=True)]


def test_an_nn_sequential_mlp_is_explained_layer_by_layer_with_shapes(mlp):
    model, x, _, loss = mlp
    t = crt.trace(loss, model)
    labels = {n.label for n in t.inputs}
    assert labels == {"0.weight", "0.bias", "2.weight", "2.bias"}          # named_parameters()
    ops = [n.op for n in t.nodes if n.op]
    assert ops == ["linear", "relu", "linear", "log_softmax", "torch.nll_loss"]
    assert any("nll_loss" in w and "generic" in w for w in t.warnings)
    want = _autograd(loss, [p for _, p in model.named_parameters()])
    for (name, _), g in zip(model.named_parameters(), want, strict=True):
        np.testing.assert_allclose(np.asarray(t.node(name).grad), g, rtol=1e-6, atol=1e-8)
    e = crt.explain(t, "0.weight")
    text = e.to_text()
    lines = [(ln.symbol, ln.expression, ln.shape) for ln in e.lines[0]]
    assert lines[-1] == ("∂L/∂0.weight", "δ₁ᵀ·x", [5, 4])
    assert lines[-2][0] == "δ₁" and lines[-2][1] == "(δ₂·2.weight) ⊙ 1[z₁ > 0]" and lines[-2][2] == [6, 5]
    assert "nll_loss" in text and "shape (5, 4)" in text
    assert e.grad_norm == pytest.approx(float(np.linalg.norm(want[0])), rel=1e-6)
    # the same by the weight tensor itself, and the player and the drawing on a tensor trace
    assert crt.explain(loss, model[0].weight, names=model).lines == e.lines
    assert "<svg" in trace_to_svg(t) and "ChainrulePlayer.mount" in trace_to_html(t)


def test_one_weight_of_an_mlp_without_unknown_ops_drills_down_to_scalar_chains():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    x = torch.randn(5, 3, dtype=torch.float64)
    model = model.double()
    loss = (model(x) ** 2).mean()
    e = crt.explain(loss, model[0].weight, index=(2, 1), names=model)
    (g,) = _autograd(loss, [model[0].weight])
    assert e.element.grad == pytest.approx(g[2, 1], rel=1e-12)
    assert e.element.matches is True and e.element.total == pytest.approx(g[2, 1], rel=1e-9)
    assert e.element.path_count >= 5          # one chain per sample at least


def test_a_graph_with_reuse_adds_the_paths_like_pytorch():
    x = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    w = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    h = x * w
    u = h * h + h                      # h used three times
    loss = (u * x).sum()               # x used twice
    t = crt.trace(loss)
    gx, gw = _autograd(loss, [x, w])
    np.testing.assert_allclose(t.node("x").grad, gx, rtol=1e-12)
    assert t.node("w").grad == pytest.approx(float(gw), rel=1e-12)
    e = crt.explain(t, "x")
    assert len(e.paths) == 4           # through u·x directly, and through h three ways
    # a scalar graph with reuse: every path listed and summed
    a = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    b = a * a
    c = b + a
    s = crt.explain(crt.trace(c), "a").chain("a")
    assert s.matches is True and s.total == pytest.approx(2 * 1.5 + 1) and s.grad == pytest.approx(4.0)
    assert "b uses a 2 times" in " ".join(s.notes)


def test_in_place_ops_are_followed_and_the_gradients_are_pytorchs():
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64, requires_grad=True)
    W = torch.tensor([[0.3, -0.1], [0.2, 0.4]], dtype=torch.float64, requires_grad=True)
    h = x @ W
    h.mul_(3.0)                        # in place
    h += 1.0                           # in place again
    h[0, 1] = -0.25                    # an assignment into a slice: PyTorch's CopySlices
    h.relu_()                          # and once more
    loss = (h ** 2).sum()
    t = crt.trace(loss)
    gx, gW = _autograd(loss, [x, W])
    np.testing.assert_allclose(t.node("x").grad, gx, rtol=1e-12)
    np.testing.assert_allclose(t.node("W").grad, gW, rtol=1e-12)
    assert [n.op for n in t.nodes if n.op] == ["matmul", "mul", "add", "torch.copy_slices", "relu", "powc", "sum"]
    relu = next(n for n in t.nodes if n.op == "relu")
    np.testing.assert_array_equal(relu.value, h.detach().numpy())         # the value after every change
    assert relu.value[0][1] == 0.0
    # a value PyTorch saved and that was then changed in place: PyTorch refuses, and so do we, clearly
    g = x @ W
    g.relu_()
    g.mul_(2.0)
    with pytest.raises(InputError, match="changed in place"):
        crt.trace(g.sum())


def test_an_op_the_table_does_not_know_is_a_generic_step_and_the_gradient_is_still_right():
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    c = torch.cumsum(x * x, 0)
    loss = (torch.sin(c) * 2.0).sum()
    t = crt.trace(loss)
    generic = [n for n in t.nodes if n.op == "torch.cumsum"]
    assert len(generic) == 1 and generic[0].value == pytest.approx(np.cumsum([1.0, 4.0, 9.0]).tolist())
    step = next(s for s in t.backward if s.node == generic[0].id)
    assert "PyTorch's own backward of cumsum" in step.locals[0].local
    assert any("torch.cumsum" in w for w in t.warnings)
    (gx,) = _autograd(loss, [x])
    np.testing.assert_allclose(t.node("x").grad, gx, rtol=1e-12)
    e = crt.explain(t, "x")
    assert any(s.op == "torch.cumsum" for s in e.paths[0])
    with pytest.raises(InputError, match="torch.cumsum is PyTorch's own"):
        crt.explain(t, "x", index=(0,))
    # scalars: a generic step's local derivative is PyTorch's backward applied to 1
    a = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    out = torch.special.erf(a) * 3.0
    chain = crt.explain(crt.trace(out)).chain("a")
    assert chain.matches is True
    assert chain.grad == pytest.approx(3 * 2 / math.sqrt(math.pi) * math.exp(-0.09), rel=1e-12)


# --------------------------------------------------------------------------
# recording, and values PyTorch does not keep
# --------------------------------------------------------------------------

def test_recording_keeps_every_value_and_works_after_backward():
    a = torch.tensor(3.0, requires_grad=True)
    b = (a + 2.0).exp()
    t = crt.trace(b * 1.0)
    assert next(n for n in t.nodes if n.op == "add").value is None        # exp keeps its output only
    with crt.recording():
        b = (a + 2.0).exp()
        q = b * 1.0
    q.backward()                       # frees what PyTorch saved
    t = crt.trace(q)
    assert [n.value for n in t.nodes if n.op] == pytest.approx([5.0, math.exp(5.0), math.exp(5.0)], rel=1e-6)
    assert t.node("a").grad == pytest.approx(a.grad.item(), rel=1e-7)
    q2 = (a * 3.0).exp()
    q2.backward()
    with pytest.raises(InputError, match="retain_graph=True.*recording"):
        crt.trace(q2)


def test_a_value_pytorch_did_not_save_is_unknown_not_invented():
    a = torch.tensor(3.0, requires_grad=True)
    c = torch.tensor(2.0)
    q = (a * c).exp().sum()            # a·c is not saved by exp's backward (only its output is)
    t = crt.trace(q, {"a": a})
    mul = next(n for n in t.nodes if n.op == "mul")
    assert mul.value == 6.0            # computed again with the row's forward from a and c
    s = (a.sin() + c).exp()            # the sum's value is gone, and so is the added constant
    t = crt.trace(s, {"a": a})
    add = next(n for n in t.nodes if n.op == "add")
    assert add.value is None and any("could not be recovered" in w for w in t.warnings)
    assert "?" in trace_to_svg(t)
    data = chainrule.viz.player_data(t)
    assert data["recompute"] is False            # the page cannot recompute what it does not know


# --------------------------------------------------------------------------
# compare and first_nonfinite
# --------------------------------------------------------------------------

def test_compare_agrees_on_the_same_computation_and_names_the_first_difference():
    same = crt.compare(lambda w, x: ((w * x).relu() - 1) ** 2, {"w": 0.5, "x": 2.0})
    assert same.same and same.matched >= 4 and "agree" in str(same)
    W = np.arange(6.0).reshape(2, 3) - 2
    assert crt.compare(lambda W, x: (W @ x).relu().sum(), {"W": W, "x": np.ones(3)}).same

    def differs(w, x):                 # PyTorch's side takes tanh where chainrule's takes sigmoid
        z = w * x
        return ((z.tanh() if isinstance(z, torch.Tensor) else z.sigmoid()) - 1) ** 2 + w

    d = crt.compare(differs, {"w": 0.5, "x": 2.0})
    assert not d.same and d.what == "value" and d.node == "sigmoid3"
    assert d.chainrule == pytest.approx(1 / (1 + math.exp(-1.0))) and d.torch == pytest.approx(math.tanh(1.0))
    assert str(d).startswith("first difference, in forward order, at ")
    assert "0.731059" in str(d) and "0.761594" in str(d)

    def slope(w, x):                   # the same values, a different local derivative on PyTorch's side
        if isinstance(w, torch.Tensor):
            class Twice(torch.autograd.Function):
                @staticmethod
                def forward(ctx, a):
                    return a * 1.0

                @staticmethod
                def backward(ctx, g):
                    return 2 * g
            return (Twice.apply(w) * x) ** 2
        return (w * 1.0 * x) ** 2

    g = crt.compare(slope, {"w": 0.5, "x": 2.0})
    assert not g.same and g.what == "gradient" and g.node.endswith("→ w")
    assert g.chainrule == pytest.approx(4.0) and g.torch == pytest.approx(8.0)


def test_first_nonfinite_names_the_nan_three_nodes_before_the_loss_where_anomaly_mode_points_downstream():
    w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    x = torch.tensor([1.0, 2.0, 3.0])
    s = w * x
    r = torch.log(s)                   # nan where s < 0: the true first bad node
    u = r * 2.0
    v = u ** 2
    loss = v.sum()                     # r is three nodes before the loss
    bad = crt.first_nonfinite(loss)
    assert bad.node == "r" and bad.what == "value" and bad.op == "log"
    assert bad.chain == ["r", "u", "v", "loss"]
    assert bad.inputs[0][0] == "s" and bad.inputs[0][1] == [0.5, -2.0, 6.0]
    assert "r = log(s)" in str(bad) and "s = [" in str(bad)
    # anomaly mode answers from the backward side: the first backward node that returned a NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="PowBackward0"):
            with torch.autograd.detect_anomaly():
                ((torch.log(w * x) * 2.0) ** 2).sum().backward()
    assert crt.first_nonfinite((w * x).sum()) is None


def test_first_nonfinite_finds_where_a_finite_gradient_turned_nan():
    a = torch.tensor(0.0, requires_grad=True)
    b = torch.sqrt(a)                  # value 0, slope inf, and 0 · inf = nan on the way back
    c = b * 0.0 + a
    bad = crt.first_nonfinite(c)
    assert bad.node == "b" and bad.what == "gradient" and math.isnan(bad.value)
    assert "√a has an infinite slope" in str(bad)


# --------------------------------------------------------------------------
# bad input: one clear message
# --------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: 3, "needs a torch.Tensor"),
    (lambda: torch.tensor(1.0, requires_grad=True), "is a leaf"),
    (lambda: torch.tensor(1.0) * 2, "no grad_fn"),
    (lambda: torch.tensor([1.0, 2.0], requires_grad=True) * 2, "not a single number: pass grad="),
])
def test_bad_input_is_a_chainrule_error_with_one_line(make, match):
    for fn in (crt.trace, crt.first_nonfinite, crt.explain):
        with pytest.raises(ChainruleError, match=match) as info:
            fn(make())
        assert "\n" not in str(info.value)


def test_other_bad_arguments_are_refused_clearly():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    out = a * 3
    t = crt.trace(out, grad=torch.tensor([1.0, 0.5]))              # a non-scalar output with a gradient
    np.testing.assert_allclose(t.node("a").grad, [3.0, 1.5])
    with pytest.raises(InputError, match="grad has shape"):
        crt.trace(out, grad=torch.ones(3))
    with pytest.raises(InputError, match="names must be"):
        crt.trace(out.sum(), names=42)
    with pytest.raises(InputError, match="no input or variable named 'nope'"):
        crt.explain(out.sum(), "nope")
    with pytest.raises(InputError, match="name one tensor"):
        crt.explain(out.sum())
    with pytest.raises(InputError, match="inputs must be a dict"):
        crt.compare(lambda x: x, [1.0])
    with pytest.raises(InputError, match="fn failed: ZeroDivisionError"):
        crt.compare(lambda x: 1 / 0, {"x": 1.0})
    with pytest.raises(InputError, match="made by chainrule.torch.trace"):
        crt.explain(seed_004_chainrule())


# --------------------------------------------------------------------------
# optional: torch is imported only when used, and its absence is explained
# --------------------------------------------------------------------------

def _run(code: str):
    env = dict(os.environ)
    src = os.path.join(os.path.dirname(__file__), os.pardir, "src")
    env["PYTHONPATH"] = os.path.abspath(src) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)


def test_torch_loads_only_when_used_and_its_absence_names_the_install_command():
    proc = _run("""
import sys, json
import chainrule, chainrule.torch as crt
before = "torch" in sys.modules
sys.modules["torch"] = None            # as if PyTorch were not installed
try:
    crt.trace(1.0)
except Exception as e:
    print(json.dumps({"before": before, "type": type(e).__name__, "chainrule": isinstance(e, chainrule.errors.ChainruleError),
                      "msg": str(e), "attr": chainrule.torch is crt}))
""")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["before"] is False and got["chainrule"] and got["attr"]
    assert got["type"] == "TorchMissingError" and "pip install torch==2.13.0" in got["msg"]
