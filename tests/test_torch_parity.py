"""Issue 7 item 4: numbers peers' tests found wrong, each against PyTorch float64 (the reference).

NumPy 2 module functions on plain numbers and lists, the exponent's gradient at base 0, repeated and
mixed advanced indexing, cross-entropy / NLL with PyTorch's signatures and K-dim inputs, empty
reductions, ``squeeze`` of a 0-d tensor, ``linspace`` with tensor ends, factory dtypes, gradcheck on
functions that return their input, and forward mode at ``0.0 ** y``.
"""
import json
import math
import shutil
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the reference here: pip install torch==2.13.0")

import chainrule.nn.functional as F  # noqa: E402
import chainrule.tensor as ct  # noqa: E402
from chainrule import Value, gradcheck, nn  # noqa: E402
from chainrule.errors import ChainruleError  # noqa: E402
from chainrule.forward import Dual, derivative, jvp  # noqa: E402
from chainrule.ops import OPS, js_runtime  # noqa: E402
from chainrule.scalar import MathError  # noqa: E402

TF = torch.nn.functional
RNG = np.random.default_rng(7)


def same(actual, expected, what=""):
    """Equal values (NaN where NaN, the same infinity), to 1e-12 relative."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected,
                   dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != torch's {e.shape}"
    np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=what)


# -- NumPy 2: module functions on numbers and lists ------------------------------------------------

MODULE_CALLS = [
    ("where", lambda m: m.where(m.tensor([True, False]), 1, 3)),
    ("where floats", lambda m: m.where(m.tensor([True, False]), 1.5, 3.0)),
    ("stack", lambda m: m.stack([0.5, 0.25])),
    ("cat", lambda m: m.cat([[0.5], [0.25, 1.0]])),
    ("exp", lambda m: m.exp(0.5)),
    ("sum", lambda m: m.sum([1.0, 2.0])),
    ("mean", lambda m: m.mean([1.0, 2.0])),
    ("amax", lambda m: m.amax([1.0, 3.0])),
    ("maximum", lambda m: m.maximum(1.0, 2.0)),
    ("softmax", lambda m: m.softmax([1.0, 2.0], 0)),
    ("logsumexp", lambda m: m.logsumexp([1.0, 2.0], 0)),
    ("reshape", lambda m: m.reshape([1.0, 2.0], (2, 1))),
    ("sigmoid", lambda m: m.sigmoid([0.0, 2.0])),
    ("clamp", lambda m: m.clamp([0.0, 2.0], 0.5, 1.0)),
    ("matmul", lambda m: m.matmul([[1.0, 2.0]], [[3.0], [4.0]])),
]


def _torch_module(name):
    class M:
        tensor = staticmethod(lambda x: torch.as_tensor(x))

        def __getattr__(self, attr):
            fn = getattr(torch, attr)

            def call(*args, **kw):
                if attr in ("stack", "cat"):
                    conv = [[torch.as_tensor(v, dtype=torch.float64) for v in args[0]]]
                else:
                    conv = [a if isinstance(a, torch.Tensor) or not isinstance(a, (list, float))
                            else torch.as_tensor(a, dtype=torch.float64) for a in args]
                return fn(*conv, **kw)
            return call
    return M()


@pytest.mark.parametrize("name, call", MODULE_CALLS, ids=[c[0] for c in MODULE_CALLS])
def test_module_functions_take_numbers_and_lists(name, call):
    ours = call(ct)
    theirs = call(_torch_module(name))
    same(ours.data, theirs, name)
    if theirs.dtype == torch.int64:
        assert ours.dtype == np.int64


def test_no_copy_false_left_in_the_sources():
    """np.array(x, copy=False) fails on lists and numbers in NumPy 2 (a copy is needed)."""
    import pathlib
    import re
    src = pathlib.Path(ct.__file__).parents[1]
    for path in src.rglob("*.py"):
        for line in path.read_text().splitlines():
            if line.strip().startswith("#"):
                continue
            assert not re.search(r"np\.(array|asarray)\([^)]*copy=False", line), f"{path.name}: {line.strip()}"


# -- the exponent's gradients: every sign of base and exponent, in every engine ------------------

BASES = [0.0, -2.0, 2.0, 0.5]
EXPONENTS = [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0]
GRID = [(x, y) for x in BASES for y in EXPONENTS]


def _torch_pow_grads():
    x = torch.tensor([g[0] for g in GRID], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([g[1] for g in GRID], dtype=torch.float64, requires_grad=True)
    out = x ** y
    out.sum().backward()
    return out.detach().numpy(), x.grad.numpy(), y.grad.numpy()


def test_pow_gradients_match_torch_in_the_tensor_engine():
    out, gx, gy = _torch_pow_grads()
    x = ct.tensor([g[0] for g in GRID], requires_grad=True)
    y = ct.tensor([g[1] for g in GRID], requires_grad=True)
    o = x ** y
    o.sum().backward()
    same(o.data, out, "x ** y")
    same(x.grad, gx, "∂/∂x")
    same(y.grad, gy, "∂/∂y")
    i = GRID.index((0.0, -1.0))
    assert y.grad[i] == -math.inf                         # the case the op table used to get wrong (0)


def test_pow_gradients_match_torch_in_the_scalar_engine():
    out, gx, gy = _torch_pow_grads()
    checked = 0
    for i, (xv, yv) in enumerate(GRID):
        a, b = Value(xv), Value(yv)
        try:
            o = a ** b
        except MathError:                                  # 0 ** -1, (-2) ** 0.5: no real value
            assert not np.isfinite(out[i])
            continue
        o.backward()
        same(a.grad, gx[i], f"∂/∂x at {xv, yv}")
        same(b.grad, gy[i], f"∂/∂y at {xv, yv}")
        checked += 1
    assert checked >= 20


def test_pow_gradients_match_torch_in_forward_mode():
    out, gx, gy = _torch_pow_grads()
    xs = np.array([g[0] for g in GRID])
    ys = np.array([g[1] for g in GRID])
    one, zero = np.ones_like(xs), np.zeros_like(xs)
    value, tx = jvp(lambda x, y: x ** y, [xs, ys], [one, zero])
    _, ty = jvp(lambda x, y: x ** y, [xs, ys], [zero, one])
    same(value, out, "x ** y")
    same(tx, gx, "∂/∂x by forward mode")
    same(ty, gy, "∂/∂y by forward mode")


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not on PATH")
def test_pow_gradients_match_torch_in_the_javascript_runtime():
    _, gx, gy = _torch_pow_grads()
    script = js_runtime() + """
const enc = (v) => (Number.isFinite(v) ? v : String(v));
const res = %s.map(([x, y]) => { const out = OPS.pow.f(x, y, null);
  return OPS.pow.d.map((d) => enc(d(x, y, null, out))); });
console.log(JSON.stringify(res));
""" % json.dumps(GRID)
    proc = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = np.array([[float(v) if not isinstance(v, str) else float(v.replace("Infinity", "inf")) for v in row]
                    for row in json.loads(proc.stdout)])
    same(got[:, 0], gx, "JS ∂/∂x")
    same(got[:, 1], gy, "JS ∂/∂y")


def test_pow_row_note_says_what_it_does():
    assert "−inf for y < 0" in OPS["pow"].note


def test_forward_mode_tangent_of_a_constant_zero_base():
    assert derivative(lambda y: 0.0 ** y, 0.5) == 0.0      # was NaN: inf (∂/∂x) × 0 (x's tangent)
    assert derivative(lambda y: 0.0 ** y, 2.0) == 0.0
    assert derivative(lambda x: x ** 0.5, 0.0) == math.inf
    y = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    (torch.tensor(0.0, dtype=torch.float64) ** y).backward()
    assert y.grad.item() == 0.0
    assert (Dual(0.0) ** Dual(0.5, 1.0)).tangent == 0.0


# -- indexing ----------------------------------------------------------------------------------

INDEX_KEYS = [
    "[(1, 1), :]", "[(1, 1)]", "[[1, 1, 0]]", "[(0, 1, 1)]", "[0, :, [1, 2]]", "[[0, 1], :, 0]",
    "[:, 0, [1, 2]]", "[0, [1, 2], :]", "[0, :, [[1], [2]]]", "[[0, 1], 1:, [1, 2]]", "[..., 0, [1, 2]]",
    "[0, ..., [1, 2]]", "[None, 0, :, [1, 2]]", "[0, :, MASK]", "[0, :, [1, 1]]", "[[0, 0], :, [1, 1]]",
    "[1, ..., [0, 0]]", "[[1, 0], [2, 2]]", "[0, [1, 1], [3, 3]]", "[:, [2, 2, 2]]", "[1, :, (3, 3)]",
]


@pytest.mark.parametrize("key", INDEX_KEYS)
def test_indexing_values_shapes_and_repeated_gradients_match_torch(key):
    base = np.arange(24.0).reshape(2, 3, 4)
    xt = torch.tensor(base, requires_grad=True)
    yt = eval("xt" + key.replace("MASK", "torch.tensor([True, False, True, True])"))  # noqa: S307
    xc = ct.tensor(base, requires_grad=True)
    yc = eval("xc" + key.replace("MASK", "np.array([True, False, True, True])"))  # noqa: S307
    same(yc.data, yt, f"x{key}")
    w = RNG.standard_normal(tuple(yt.shape))
    (yt * torch.tensor(w)).sum().backward()
    (yc * w).sum().backward()
    same(xc.grad, xt.grad, f"∂/∂x of x{key}")


def test_a_repeated_row_gets_twice_the_gradient():
    x = ct.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    x[(1, 1), :].sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0], [2.0, 2.0], [0.0, 0.0]]


def test_item_assignment_uses_the_same_order_as_reading():
    base = np.arange(24.0).reshape(2, 3, 4)
    t, c = torch.tensor(base), ct.tensor(base)
    v = np.arange(6.0).reshape(3, 2) + 100
    t[0, :, [1, 2]] = torch.tensor(v)
    c[0, :, [1, 2]] = v
    same(c.data, t, "x[0, :, [1, 2]] = v")


# -- losses with PyTorch's signatures ------------------------------------------------------------

def _loss_case(ours, theirs, za, *args, **kw):
    z = ct.tensor(za, requires_grad=True)
    tz = torch.tensor(za, requires_grad=True)
    o = ours(z, *args, **kw)
    t = theirs(tz, *[torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args], **kw)
    same(o.data, t, "loss")
    seed = RNG.standard_normal(tuple(t.shape))
    o.backward(seed) if o.ndim else o.backward()
    t.backward(torch.tensor(seed)) if t.ndim else t.backward()
    same(z.grad, tz.grad, "∂loss/∂input")


Z4 = RNG.standard_normal((3, 4, 2, 5))                 # (N, C, d1, d2): the classes are dim 1
T4 = RNG.integers(0, 4, (3, 2, 5))
Q4 = np.moveaxis(RNG.dirichlet(np.ones(4), (3, 2, 5)), -1, 1).copy()
W4 = RNG.uniform(0.5, 2.0, 4)
T4_IGNORED = T4.copy()
T4_IGNORED[0, 0, :2] = -100
REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_k_dim_class_indices(reduction):
    _loss_case(F.cross_entropy, TF.cross_entropy, Z4, T4, reduction=reduction)
    _loss_case(F.nll_loss, TF.nll_loss, Z4, T4, reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets_use_dim_1(reduction):
    _loss_case(F.cross_entropy, TF.cross_entropy, Z4, Q4, reduction=reduction)
    _loss_case(F.cross_entropy, TF.cross_entropy, Z4, Q4, torch.tensor(W4), reduction=reduction)
    _loss_case(F.cross_entropy, TF.cross_entropy, Z4, Q4, reduction=reduction, label_smoothing=0.2)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weight_is_the_third_argument_as_in_torch(reduction):
    z2, t2 = RNG.standard_normal((6, 4)), RNG.integers(0, 4, 6)
    _loss_case(F.nll_loss, TF.nll_loss, z2, t2, torch.tensor(W4), reduction=reduction)
    _loss_case(F.cross_entropy, TF.cross_entropy, Z4, T4, torch.tensor(W4), reduction=reduction)
    p, y = RNG.uniform(0.05, 0.95, (5, 3)), RNG.integers(0, 2, (5, 3)).astype(float)
    w3 = RNG.uniform(0.5, 2.0, 3)
    _loss_case(F.binary_cross_entropy, TF.binary_cross_entropy, p, y, torch.tensor(w3), reduction=reduction)
    zz = RNG.standard_normal((5, 3)) * 3
    zz[0, 0] = 0.0
    _loss_case(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, zz, y,
               torch.tensor(w3), reduction=reduction, pos_weight=torch.tensor(w3[::-1].copy()))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_cross_entropy_ignore_index_weight_and_label_smoothing(reduction, smoothing):
    _loss_case(F.cross_entropy, TF.cross_entropy, Z4, T4_IGNORED, reduction=reduction,
               label_smoothing=smoothing)
    _loss_case(F.cross_entropy, TF.cross_entropy, Z4, T4, torch.tensor(W4), ignore_index=2,
               reduction=reduction, label_smoothing=smoothing)


def test_cross_entropy_edge_cases():
    _loss_case(F.cross_entropy, TF.cross_entropy, RNG.standard_normal(4), np.array(2))    # (C,) and ()
    _loss_case(F.cross_entropy, TF.cross_entropy, RNG.standard_normal((2, 3)), np.array([-100, -100]))  # NaN
    with pytest.warns(UserWarning):
        _loss_case(F.cross_entropy, TF.cross_entropy, RNG.standard_normal((2, 3)), np.array([1, 2]),
                   size_average=False)
    with pytest.raises(ChainruleError, match=r"targets of shape \(3, 2, 5\)"):
        F.cross_entropy(ct.tensor(Z4), T4[:, :, :4])
    with pytest.raises(ChainruleError, match="weight must have one entry per class"):
        F.cross_entropy(ct.tensor(Z4), T4, np.ones(3))


def test_loss_modules_take_torchs_arguments():
    z = ct.tensor(Z4)
    ours = nn.CrossEntropyLoss(ct.tensor(W4), ignore_index=1, label_smoothing=0.2)(z, T4)
    theirs = torch.nn.CrossEntropyLoss(torch.tensor(W4), ignore_index=1, label_smoothing=0.2)(
        torch.tensor(Z4), torch.tensor(T4))
    same(ours.data, theirs)
    logp = z.log_softmax(1)
    same(nn.NLLLoss(ct.tensor(W4))(logp, T4).data,
         torch.nn.NLLLoss(torch.tensor(W4))(torch.tensor(logp.data), torch.tensor(T4)))
    assert nn.MSELoss(None, None, "sum").reduction == "sum"
    assert "label_smoothing=0.2" in repr(nn.CrossEntropyLoss(label_smoothing=0.2))


# -- reductions and shapes -----------------------------------------------------------------------

@pytest.mark.parametrize("call", ["mean(0)", "mean()", "var(0)", "std(0)", "var()", "sum(0)", "mean((0, 1))",
                                  "mean(1, keepdim=True)"])
def test_reductions_over_nothing_give_nan_as_torch(call):
    x = ct.zeros(0, 3, requires_grad=True)
    xt = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    with pytest.warns(UserWarning) if "var" in call or "std" in call else _nothing():
        theirs = eval("xt." + call)  # noqa: S307
    ours = eval("x." + call)  # noqa: S307
    same(ours.data, theirs, call)
    ours.sum().backward()
    theirs.sum().backward()
    same(x.grad, xt.grad, call)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_variance_of_one_number_is_nan_as_torch():
    x = ct.tensor([1.0], requires_grad=True)
    v = x.var()
    v.backward()
    assert math.isnan(v.item()) and math.isnan(x.grad[0])


def test_squeeze_of_a_0d_tensor_and_of_several_dims():
    s = ct.tensor(3.0)
    assert s.squeeze(0) is s and s.squeeze(-1) is s and s.squeeze() is s
    with pytest.raises(ChainruleError, match="out of range"):
        s.squeeze(1)
    t = torch.zeros(1, 2, 1, 3)
    c = ct.zeros(1, 2, 1, 3)
    for dims in [(0, 2), (1,), (0, 1, 2), (-2,)]:
        assert c.squeeze(dims).shape == tuple(t.squeeze(dims).shape)


def test_linspace_with_tensor_ends_keeps_the_gradient():
    a, b = ct.tensor(1.0, requires_grad=True), ct.tensor(3.0, requires_grad=True)
    out = ct.linspace(a, b, 5)
    same(out.data, np.linspace(1.0, 3.0, 5))
    (out * np.arange(1.0, 6.0)).sum().backward()
    w = np.linspace(0, 1, 5)
    assert a.grad == pytest.approx(np.sum((1 - w) * np.arange(1, 6)))
    assert b.grad == pytest.approx(np.sum(w * np.arange(1, 6)))
    assert ct.linspace(a, 3.0, 1).tolist() == [1.0]
    same(ct.linspace(ct.tensor(0.0), ct.tensor(1.0), 3).data, torch.linspace(0, 1, 3, dtype=torch.float64))


def test_full_with_a_tensor_fill_value_keeps_the_gradient():
    a = ct.tensor(2.0, requires_grad=True)
    ct.full((3,), a).sum().backward()
    assert a.grad == 3.0


# -- dtypes: PyTorch's inference, float64 where PyTorch uses its default float32 -------------------

DTYPE_CASES = ["tensor(3)", "tensor([1, 2])", "tensor(True)", "tensor(3.0)", "full((2,), 4)", "full((2,), True)",
               "full((2,), 4.0)", "arange(3)", "arange(3.0)", "arange(0, 1, 0.5)", "zeros(2)", "eye(2)",
               "linspace(0, 1, 3)", "ones(2)"]
_FLOAT_DEFAULT = {torch.float32: np.dtype(np.float64)}


@pytest.mark.parametrize("expr", DTYPE_CASES)
def test_factory_dtypes_follow_torch_with_float64_as_the_default(expr):
    ours = eval("ct." + expr).dtype  # noqa: S307
    theirs = eval("torch." + expr).dtype  # noqa: S307
    want = _FLOAT_DEFAULT.get(theirs) or np.dtype(str(theirs).replace("torch.", ""))
    assert ours == want, f"{expr}: {ours}, torch {theirs}"


@pytest.mark.parametrize("expr, dtype", [("t + 1", np.int64), ("t * True", np.int64), ("t + 1.5", np.float64),
                                         ("t / 2", np.float64), ("t ** 2", np.int64), ("t.sum()", np.int64),
                                         ("f * 0.5", np.float64)])
def test_python_numbers_in_arithmetic_follow_torch(expr, dtype):
    t, f = ct.tensor([1, 2]), ct.full((2,), 4)
    assert eval(expr).dtype == dtype  # noqa: S307


# -- gradcheck on functions that return their input -------------------------------------------------

@pytest.mark.parametrize("fn, x", [
    (lambda x: x, 1.5),
    (lambda x: x, ct.tensor(1.5)),
    (lambda x: x.reshape(()), ct.tensor(1.5)),
    (lambda x: x.reshape(1).sum(), ct.tensor([1.5])),
    (lambda x: x.squeeze(), ct.tensor([[1.5]])),
    (lambda x: x.transpose(), ct.tensor([2.0])),
])
def test_gradcheck_of_a_function_that_returns_its_input(fn, x):
    r = gradcheck(fn, [x])
    assert r.ok, str(r)
    assert all(c.numeric == pytest.approx(1.0) for c in r.checks)


# -- the same bug classes beyond the examples ----------------------------------------------

@pytest.mark.parametrize("call", ["norm()", "norm(dim=-1)", "std()", "std(0)", "std(correction=0)"])
@pytest.mark.parametrize("arr", [np.zeros(3), np.ones((2, 3)), np.array([[0.0, 0.0], [1.0, 2.0]])],
                         ids=["zeros", "constant", "mixed"])
def test_norm_and_std_have_torchs_zero_gradient_where_they_are_zero(call, arr):
    x = ct.tensor(arr, requires_grad=True)
    xt = torch.tensor(arr, requires_grad=True)
    out, tout = eval("x." + call), eval("xt." + call)  # noqa: S307
    same(out.data, tout, call)
    out.sum().backward()
    tout.sum().backward()
    same(x.grad, xt.grad, f"∂/∂x of {call}")                 # was NaN (inf · 0) at a zero norm or spread


@pytest.mark.parametrize("call, shape", [("softmax(0)", (0, 2)), ("log_softmax(1)", (2, 0)),
                                         ("logsumexp(0)", (0, 2)), ("logsumexp(1)", (0, 3))])
def test_softmax_family_on_empty_tensors(call, shape):
    x = ct.zeros(*shape, requires_grad=True)
    xt = torch.zeros(*shape, dtype=torch.float64, requires_grad=True)
    out, tout = eval("x." + call), eval("xt." + call)  # noqa: S307
    same(out.data, tout, call)
    out.sum().backward()
    tout.sum().backward()
    same(x.grad, xt.grad, call)


@pytest.mark.parametrize("call", ["var(0, True)", "var(0, False)", "std(1, True, True)", "var(1, False, True)",
                                  "var(dim=0, unbiased=False)", "std(0, correction=2)", "var((0, 1), keepdim=True)"])
def test_var_and_std_take_unbiased_second_as_torch(call):
    arr = RNG.standard_normal((4, 3))
    x, xt = ct.tensor(arr, requires_grad=True), torch.tensor(arr, requires_grad=True)
    out, tout = eval("x." + call), eval("xt." + call)  # noqa: S307
    same(out.data, tout, call)                             # var(0, True) used to mean keepdim=True
    out.sum().backward()
    tout.sum().backward()
    same(x.grad, xt.grad, call)
