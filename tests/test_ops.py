"""The op table: every row's derivative against central differences, the
conventions at kinks (as PyTorch), and the three compilations (Python floats,
NumPy, JavaScript) agreeing with each other."""
import json
import math
import shutil
import subprocess

import numpy as np
import pytest

from chainrule import Value
from chainrule.ops import FUNCTIONS, OPS, get, js_runtime

import oracles  # tests/oracles.py: every op row in PyTorch and plain floats

# Points (x, y, k) where each op is smooth; near-kink points ±1e-3 included.
SMOOTH = {
    "add": [(1.5, -2.0, None), (-0.3, 0.7, None), (1e3, 4.0, None)],
    "sub": [(1.5, -2.0, None), (-0.3, 0.7, None), (1e3, 4.0, None)],
    "mul": [(1.5, -2.0, None), (-0.3, 0.7, None), (0.0, 4.0, None)],
    "div": [(1.5, -2.0, None), (-0.3, 0.7, None), (3.0, 1e-2, None)],
    "neg": [(-2.0, None, None), (0.5, None, None), (0.0, None, None)],
    "pow": [(2.0, 3.0, None), (0.5, -1.5, None), (1.7, 0.3, None), (3.0, 0.0, None)],
    "powc": [(2.0, None, 3.0), (0.5, None, -1.5), (-1.5, None, 2.0), (4.0, None, 0.5), (3.0, None, 0.0),
             (-2.0, None, -3.0)],
    "square": [(-2.5, None, None), (0.0, None, None), (0.7, None, None)],
    "sqrt": [(0.04, None, None), (1.0, None, None), (9.0, None, None)],
    "exp": [(-2.5, None, None), (0.0, None, None), (3.0, None, None)],
    "log": [(0.04, None, None), (1.0, None, None), (9.0, None, None)],
    "tanh": [(-2.5, None, None), (0.0, None, None), (0.7, None, None)],
    "sigmoid": [(-2.5, None, None), (0.0, None, None), (0.7, None, None), (-30.0, None, None)],
    "relu": [(-1.3, None, None), (-1e-3, None, None), (1e-3, None, None), (2.0, None, None)],
    "leaky_relu": [(-1.3, None, 0.01), (-1e-3, None, 0.2), (1e-3, None, 0.2), (2.0, None, 0.01)],
    "abs": [(-1.3, None, None), (-1e-3, None, None), (1e-3, None, None), (2.0, None, None)],
    "sin": [(-2.5, None, None), (0.0, None, None), (0.7, None, None)],
    "cos": [(-2.5, None, None), (0.0, None, None), (0.7, None, None)],
    "maximum": [(1.0, 2.0, None), (2.0, 1.0, None), (-1e-3, 1e-3, None), (1e-3, -1e-3, None)],
    "minimum": [(1.0, 2.0, None), (2.0, 1.0, None), (-1e-3, 1e-3, None), (1e-3, -1e-3, None)],
    "tan": [(-1.2, None, None), (0.001, None, None), (0.7, None, None)],
    "sinh": [(-2.5, None, None), (0.001, None, None), (3.0, None, None)],
    "cosh": [(-2.5, None, None), (0.001, None, None), (3.0, None, None)],
    "atan": [(-30.0, None, None), (0.001, None, None), (0.7, None, None)],
    "asinh": [(-30.0, None, None), (0.001, None, None), (0.7, None, None)],
    "log1p": [(-0.9, None, None), (0.001, None, None), (40.0, None, None)],
    "expm1": [(-2.5, None, None), (0.001, None, None), (3.0, None, None)],
    "log2": [(0.04, None, None), (1.0, None, None), (40.0, None, None)],
    "log10": [(0.04, None, None), (1.0, None, None), (40.0, None, None)],
    "softsign": [(-2.5, None, None), (-0.001, None, None), (0.001, None, None), (30.0, None, None)],
    "silu": [(-30.0, None, None), (-0.001, None, None), (0.7, None, None)],
    "logsigmoid": [(-30.0, None, None), (-0.001, None, None), (0.001, None, None), (30.0, None, None)],
}

# Kinks and edges, with the value PyTorch gives (checked against torch in test_torch_scalar.py).
# (op, x, y, k, expected local derivatives)
CONVENTIONS = [
    ("relu", 0.0, None, None, (0.0,)),
    ("leaky_relu", 0.0, None, 0.01, (0.01,)),
    ("leaky_relu", 0.0, None, 0.2, (0.2,)),
    ("abs", 0.0, None, None, (0.0,)),
    ("maximum", 1.5, 1.5, None, (0.5, 0.5)),
    ("minimum", -1.5, -1.5, None, (0.5, 0.5)),
    ("maximum", 0.0, 0.0, None, (0.5, 0.5)),
    ("sqrt", 0.0, None, None, (math.inf,)),
    ("pow", 0.0, 2.0, None, (0.0, 0.0)),        # ∂/∂y at x = 0 is 0
    ("pow", 0.0, 0.5, None, (math.inf, 0.0)),
    ("pow", 0.0, 0.0, None, (0.0, 0.0)),        # 0⁰ = 1, flat in x
    ("pow", -2.0, 3.0, None, (12.0, math.nan)),  # ∂/∂y of a negative base is NaN
    ("powc", 0.0, None, 0.0, (0.0,)),
    ("powc", 0.0, None, 0.5, (math.inf,)),
    ("powc", 0.0, None, 2.0, (0.0,)),
]


def _cases():
    for name, points in SMOOTH.items():
        for x, y, k in points:
            yield pytest.param(name, x, y, k, id=f"{name}({x},{y},{k})")


def _local(op, x, y, k):
    """Local derivatives as the scalar engine computes them (IEEE fallback for 1/0)."""
    out = op.f(x, y, k)
    try:
        return out, tuple(d(x, y, k, out) for d in op.d)
    except (ArithmeticError, ValueError):
        return out, op.local_grads_ieee(x, y, k, out)


def _same(a, b, rel=1e-12, abs_=1e-300):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def test_every_op_has_points():
    assert set(SMOOTH) == set(OPS), "add points for new ops here"


@pytest.mark.parametrize("name, x, y, k", list(_cases()))
def test_local_derivative_matches_central_difference(name, x, y, k):
    op = OPS[name]
    _, locals_ = _local(op, x, y, k)
    eps = 1e-6
    args = [x, y]
    for i in range(op.arity):
        if name == "pow" and i == 1 and x < 0:
            continue
        plus, minus = list(args), list(args)
        plus[i] += eps
        minus[i] -= eps
        numeric = (op.f(plus[0], plus[1], k) - op.f(minus[0], minus[1], k)) / (2 * eps)
        scale = max(1.0, abs(op.f(x, y, k)))
        assert math.isclose(locals_[i], numeric, rel_tol=1e-6, abs_tol=1e-8 * scale), \
            f"{name} ∂/∂input{i} at {(x, y, k)}: table says {locals_[i]}, central difference {numeric}"


@pytest.mark.parametrize("name, x, y, k, expected", CONVENTIONS,
                         ids=[f"{c[0]}({c[1]},{c[2]},{c[3]})" for c in CONVENTIONS])
def test_conventions_at_kinks(name, x, y, k, expected):
    op = OPS[name]
    _, locals_ = _local(op, x, y, k)
    assert len(locals_) == len(expected)
    for got, want in zip(locals_, expected, strict=True):
        assert _same(got, want), f"{name}{(x, y, k)}: {locals_} != {expected}"


@pytest.mark.parametrize("name, x, y, k, expected", CONVENTIONS,
                         ids=[f"{c[0]}({c[1]},{c[2]},{c[3]})" for c in CONVENTIONS])
def test_conventions_through_value(name, x, y, k, expected):
    """The same numbers come out of a real backward pass on Values."""
    a = Value(x)
    b = None if y is None else Value(y)
    if name == "powc":
        out = a ** k
    elif name == "pow":
        out = a ** b
    elif name == "leaky_relu":
        out = a.leaky_relu(k)
    elif b is not None:
        out = getattr(a, name)(b)
    else:
        out = getattr(a, name)()
    out.backward()
    grads = (a.grad,) if b is None else (a.grad, b.grad)
    for got, want in zip(grads, expected, strict=True):
        assert _same(got, want), f"{name}{(x, y, k)}: grads {grads} != {expected}"


def test_forward_at_kinks():
    assert OPS["relu"].f(0.0, None, None) == 0.0
    assert OPS["leaky_relu"].f(-2.0, None, 0.1) == pytest.approx(-0.2)
    assert OPS["abs"].f(-0.0, None, None) == 0.0
    assert OPS["maximum"].f(1.0, 2.0, None) == 2.0 and OPS["minimum"].f(1.0, 2.0, None) == 1.0
    assert OPS["pow"].f(0.0, 0.0, None) == 1.0
    assert OPS["sigmoid"].f(-800.0, None, None) == 0.0 and OPS["sigmoid"].f(800.0, None, None) == 1.0


def _all_points():
    for name, points in SMOOTH.items():
        for x, y, k in points:
            yield name, x, y, k
    for name, x, y, k, _ in CONVENTIONS:
        yield name, x, y, k


@pytest.mark.parametrize("name", sorted(OPS))
def test_numpy_compilation_agrees_with_scalar(name):
    op = OPS[name]
    pts = [(x, y, k) for n, x, y, k in _all_points() if n == name]
    for k in sorted({p[2] for p in pts}, key=str):
        group = [p for p in pts if p[2] == k]
        xs = np.array([p[0] for p in group])
        ys = None if op.arity == 1 else np.array([p[1] for p in group])
        with np.errstate(all="ignore"):
            outs = op.np_f(xs, ys, k)
            grads = [np.broadcast_to(d(xs, ys, k, outs), xs.shape) for d in op.np_d]
        assert outs.shape == xs.shape
        for j, (x, y, _) in enumerate(group):
            out, locals_ = _local(op, x, y, k)
            assert _same(float(outs[j]), out), f"{name} forward at {(x, y, k)}"
            for i, g in enumerate(grads):
                assert _same(float(g[j]), locals_[i]), f"{name} ∂/∂input{i} at {(x, y, k)}: numpy {g[j]}, scalar {locals_[i]}"


@pytest.mark.parametrize("name", sorted(OPS))
def test_formulas_exist_for_every_input(name):
    op = get(name)
    assert op.arity in (1, 2) and len(op.d) == len(op.np_d) == op.arity
    names = {"x": "a1", "y": "b2", "k": "3", "out": "c3"}
    for i in range(op.arity):
        text, latex = op.formula(i, **names), op.formula(i, latex=True, **names)
        assert text.strip() and latex.strip(), f"{name} input {i} has no formula"
        assert "{" not in text, f"unfilled placeholder in {name} text formula {text!r}"
        # a template that mentions an operand shows the given name, not the placeholder letter
        for key in ("x", "y", "out"):
            if "{" + key + "}" in op.text[i]:
                assert names[key] in text, f"{name}: {text!r} lacks {names[key]}"
    shown = op.describe("a1", "b2", "3") if op.arity == 2 else op.describe("a1", "3")
    assert "a1" in shown and "{" not in shown


def test_powc_formula_works_out_the_exponent():
    sq = OPS["powc"].formula(0, x="w", k="2")
    assert sq == "2·w"
    assert OPS["powc"].formula(0, x="w", k="3") == "3·w²"
    assert "−0.5" in OPS["powc"].formula(0, x="w", k="0.5")


def test_get_unknown_op_names_the_known_ones():
    with pytest.raises(KeyError, match="known ops: .*sigmoid"):
        get("sigmoidd")


def test_functions_map_to_rows():
    aliases = {"max": "maximum", "min": "minimum"}
    for fn in FUNCTIONS:
        assert aliases.get(fn, fn) in OPS, fn


def test_js_runtime_contains_every_op():
    src = js_runtime()
    assert "const OPS" in src and "const R" in src
    for name, op in OPS.items():
        assert f"  {name}: {{arity: {op.arity}," in src, f"{name} missing from js_runtime()"
    assert "eval(" not in src


# ---------------------------------------------------------------------------
# The JS compilation, run in node: forward and every derivative agree with Python.
# ---------------------------------------------------------------------------

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not on PATH: the JS op table is only checked textually")


def run_js(cases):
    """Every (name, x, y, k) through js_runtime()'s OPS in node: [(forward, (local derivatives…)), …].

    Cases go in as a JS literal (json.dumps writes Infinity and NaN, which JS reads); results come
    back with non-finite numbers as strings."""
    script = js_runtime() + """
const enc = (v) => (Number.isFinite(v) ? v : String(v));
const cases = %s;
const res = cases.map(([name, x, y, k]) => {
  const op = OPS[name];
  const out = op.f(x, y, k);
  return {f: enc(out), d: op.d.map((d) => enc(d(x, y, k, out)))};
});
console.log(JSON.stringify(res));
""" % json.dumps(cases)
    proc = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert len(results) == len(cases)

    def num(v):
        return float(v) if not isinstance(v, str) else float(v.replace("Infinity", "inf"))
    return [(num(r["f"]), tuple(num(g) for g in r["d"])) for r in results]


@needs_node
def test_js_runtime_in_node_agrees_with_python():
    cases = [(n, x, y, k) for n, x, y, k in _all_points()]
    for (name, x, y, k), (f, d) in zip(cases, run_js(cases), strict=True):
        out, locals_ = _local(OPS[name], x, y, k)
        assert _same(f, out, rel=1e-13), f"JS {name} forward at {(x, y, k)}: {f} vs {out}"
        assert len(d) == len(locals_) == OPS[name].arity
        for i, (g, want) in enumerate(zip(d, locals_, strict=True)):
            assert _same(g, want, rel=1e-13), f"JS {name} ∂/∂input{i} at {(x, y, k)}: {g} vs {want}"


# Negative bases, kinks, zeros and non-finite numbers, with the values worked out by hand
# (test_hard_points_are_torchs checks every one of them against PyTorch):
# (op, x, y, k, forward, local derivatives)
inf, nan = math.inf, math.nan
HARD = [
    ("relu", 0.0, None, None, 0.0, (0.0,)),
    ("relu", -inf, None, None, 0.0, (0.0,)),
    ("relu", inf, None, None, inf, (1.0,)),
    ("leaky_relu", 0.0, None, 0.01, 0.0, (0.01,)),
    ("leaky_relu", -2.0, None, 0.1, -0.2, (0.1,)),
    ("abs", 0.0, None, None, 0.0, (0.0,)),
    ("abs", -3.0, None, None, 3.0, (-1.0,)),
    ("abs", -inf, None, None, inf, (-1.0,)),
    ("maximum", 1.5, 1.5, None, 1.5, (0.5, 0.5)),
    ("maximum", 0.0, 0.0, None, 0.0, (0.5, 0.5)),
    ("maximum", -1.0, 2.0, None, 2.0, (0.0, 1.0)),
    ("maximum", -inf, 1.0, None, 1.0, (0.0, 1.0)),
    ("minimum", 0.0, 0.0, None, 0.0, (0.5, 0.5)),
    ("minimum", -3.0, -1.0, None, -3.0, (1.0, 0.0)),
    ("pow", -2.0, 3.0, None, -8.0, (12.0, nan)),         # 3·(−2)², and ln of a negative base
    ("pow", -2.0, 2.0, None, 4.0, (-4.0, nan)),
    ("pow", 0.0, 2.0, None, 0.0, (0.0, 0.0)),
    ("pow", 0.0, 0.0, None, 1.0, (0.0, 0.0)),
    ("pow", 0.0, 0.5, None, 0.0, (inf, 0.0)),
    ("pow", -8.0, 1 / 3, None, nan, (nan, nan)),          # no real cube root through pow
    ("pow", 2.0, -inf, None, 0.0, (nan, 0.0)),            # −inf · 2^−inf = −inf · 0
    ("powc", -2.0, None, 3.0, -8.0, (12.0,)),
    ("powc", -1.5, None, 2.0, 2.25, (-3.0,)),
    ("powc", -2.0, None, -3.0, -0.125, (-0.1875,)),       # −3 · (−2)^−4
    ("powc", 0.0, None, 0.5, 0.0, (inf,)),
    ("powc", 0.0, None, -1.0, inf, (-inf,)),
    ("powc", -8.0, None, 1 / 3, nan, (nan,)),
    ("powc", 0.0, None, 0.0, 1.0, (0.0,)),
    ("powc", -0.5, None, 0.0, 1.0, (0.0,)),
    ("sqrt", 0.0, None, None, 0.0, (inf,)),
    ("sqrt", -1.0, None, None, nan, (nan,)),
    ("sqrt", inf, None, None, inf, (0.0,)),
    ("log", 0.0, None, None, -inf, (inf,)),
    ("log", -1.0, None, None, nan, (-1.0,)),              # 1/x is still −1 (PyTorch's too)
    ("log", inf, None, None, inf, (0.0,)),
    ("div", 1.0, 0.0, None, inf, (inf, -inf)),
    ("div", -1.0, 0.0, None, -inf, (inf, inf)),
    ("div", 0.0, 0.0, None, nan, (inf, nan)),
    ("div", -6.0, -2.0, None, 3.0, (-0.5, 1.5)),
    ("div", 1.0, inf, None, 0.0, (0.0, 0.0)),
    ("exp", 710.0, None, None, inf, (inf,)),
    ("exp", -inf, None, None, 0.0, (0.0,)),
    ("exp", -800.0, None, None, 0.0, (0.0,)),
    ("tanh", inf, None, None, 1.0, (0.0,)),
    ("tanh", -inf, None, None, -1.0, (0.0,)),
    ("tanh", -0.5, None, None, math.tanh(-0.5), (1 - math.tanh(-0.5) ** 2,)),
    ("sigmoid", -800.0, None, None, 0.0, (0.0,)),
    ("sigmoid", 800.0, None, None, 1.0, (0.0,)),
    ("sigmoid", -inf, None, None, 0.0, (0.0,)),
    ("sigmoid", inf, None, None, 1.0, (0.0,)),
    ("sigmoid", -2.0, None, None, 1 / (1 + math.e ** 2), (math.e ** 2 / (1 + math.e ** 2) ** 2,)),
    ("sin", -inf, None, None, nan, (nan,)),
    ("sin", -2.0, None, None, -math.sin(2.0), (math.cos(2.0),)),
    ("cos", -2.0, None, None, math.cos(2.0), (math.sin(2.0),)),
    ("square", -inf, None, None, inf, (-inf,)),
    ("square", -3.0, None, None, 9.0, (-6.0,)),
    ("neg", -inf, None, None, inf, (-1.0,)),
    ("neg", 0.0, None, None, 0.0, (-1.0,)),
    ("mul", 0.0, inf, None, nan, (inf, 0.0)),
    ("mul", -2.0, -inf, None, inf, (-inf, -2.0)),
    ("mul", -3.0, -4.0, None, 12.0, (-4.0, -3.0)),
    ("add", inf, -inf, None, nan, (1.0, 1.0)),
    ("add", -1.5, -2.5, None, -4.0, (1.0, 1.0)),
    ("sub", inf, inf, None, nan, (1.0, -1.0)),
    ("sub", -1.5, -2.5, None, 1.0, (1.0, -1.0)),
    ("tan", 0.0, None, None, 0.0, (1.0,)),
    ("tan", -1.0, None, None, -1.5574077246549023, (3.42551882081476,)),
    ("sinh", 0.0, None, None, 0.0, (1.0,)),
    ("sinh", -2.0, None, None, -3.626860407847019, (3.7621956910836314,)),
    ("cosh", 0.0, None, None, 1.0, (0.0,)),
    ("cosh", -2.0, None, None, 3.7621956910836314, (-3.626860407847019,)),
    ("atan", 0.0, None, None, 0.0, (1.0,)),
    ("atan", -1000.0, None, None, -1.5697963271282298, (9.99999000001e-07,)),
    ("atan", inf, None, None, 1.5707963267948966, (0.0,)),
    ("asinh", 0.0, None, None, 0.0, (1.0,)),
    ("asinh", -3.0, None, None, -1.8184464592320668, (0.31622776601683794,)),
    ("log1p", 0.0, None, None, 0.0, (1.0,)),
    ("log1p", -1.0, None, None, -inf, (inf,)),
    ("log1p", -2.0, None, None, nan, (-1.0,)),
    ("expm1", 0.0, None, None, 0.0, (1.0,)),
    ("expm1", -inf, None, None, -1.0, (0.0,)),
    ("log2", 0.0, None, None, -inf, (inf,)),
    ("log2", 8.0, None, None, 3.0, (0.18033688011112042,)),
    ("log10", 0.0, None, None, -inf, (inf,)),
    ("log10", 100.0, None, None, 2.0, (0.0043429448190325185,)),
    ("softsign", 0.0, None, None, 0.0, (1.0,)),
    ("softsign", -3.0, None, None, -0.75, (0.0625,)),
    ("silu", 0.0, None, None, 0.0, (0.5,)),
    ("silu", -40.0, None, None, -1.6993417021166355e-16, (-1.6568581595637197e-16,)),
    ("logsigmoid", 0.0, None, None, -0.6931471805599453, (0.5,)),
    ("logsigmoid", -800.0, None, None, -800.0, (1.0,)),
    ("logsigmoid", 800.0, None, None, 0.0, (0.0,)),
]
HARD_IDS = [f"{c[0]}({c[1]},{c[2]},{c[3]})" for c in HARD]


def test_hard_points_cover_every_op():
    assert {c[0] for c in HARD} == set(OPS)


@needs_node
def test_js_runtime_in_node_at_negative_bases_kinks_zeros_and_infinities():
    got = run_js([c[:4] for c in HARD])
    for (name, x, y, k, f, d), (js_f, js_d) in zip(HARD, got, strict=True):
        where = f"JS {name}{(x, y, k)}"
        assert _same(js_f, f, rel=1e-14), f"{where}: forward {js_f}, by hand {f}"
        assert len(js_d) == len(d), where
        for i, (g, want) in enumerate(zip(js_d, d, strict=True)):
            assert _same(g, want, rel=1e-14), f"{where} ∂/∂input{i}: {g}, by hand {want}"


def test_python_table_at_the_hard_points_it_accepts():
    """Where the scalar engine takes the point (it refuses a domain error or an overflow), it gives the same."""
    checked = 0
    for name, x, y, k, f, d in HARD:
        op = OPS[name]
        try:
            out = op.f(x, y, k)
        except (ArithmeticError, ValueError):
            continue
        _, locals_ = _local(op, x, y, k)
        assert _same(out, f, rel=1e-14), f"{name}{(x, y, k)}: forward {out}, by hand {f}"
        for i, (g, want) in enumerate(zip(locals_, d, strict=True)):
            assert _same(g, want, rel=1e-14), f"{name}{(x, y, k)} ∂/∂input{i}: {g}, by hand {want}"
        checked += 1
    assert checked >= 40


def torch_local(name, x, y, k):
    pytest.importorskip("torch", reason="torch is the reference for the hand values")
    return oracles.torch_local(name, x, y, k)


@pytest.mark.parametrize("name, x, y, k, f, d", HARD, ids=HARD_IDS)
def test_hard_points_are_torchs(name, x, y, k, f, d):
    tf, td = torch_local(name, x, y, k)
    assert _same(tf, f, rel=1e-14) and len(td) == len(d), (tf, td)
    for g, want in zip(td, d, strict=True):
        assert _same(g, want, rel=1e-14), (name, x, y, k, td, d)


# A grid of ordinary points on both sides of zero, every op: the JS against PyTorch, not against Python.
GRID_1 = [-2.5, -1.0, -0.3, 0.3, 1.0, 2.5]
GRID_2 = [(-1.5, 2.0), (-0.5, -0.7), (0.8, -1.2), (2.0, 3.0), (-2.0, -3.0), (1.5, 0.5)]


def _grid():
    for name, op in OPS.items():
        if op.arity == 2:
            yield from ((name, x, y, None) for x, y in GRID_2)
        else:
            for k in {"powc": (2.0, 3.0, -1.0, 0.5), "leaky_relu": (0.01, 0.2)}.get(name, (None,)):
                yield from ((name, x, None, k) for x in GRID_1)


@needs_node
def test_js_runtime_agrees_with_torch_on_both_sides_of_zero():
    cases = list(_grid())
    assert {c[0] for c in cases} == set(OPS)
    for (name, x, y, k), (f, d) in zip(cases, run_js(cases), strict=True):
        tf, td = torch_local(name, x, y, k)
        assert _same(f, tf, rel=1e-13), f"JS {name}{(x, y, k)}: forward {f}, torch {tf}"
        for i, (g, want) in enumerate(zip(d, td, strict=True)):
            assert _same(g, want, rel=1e-13), f"JS {name}{(x, y, k)} ∂/∂input{i}: {g}, torch {want}"
