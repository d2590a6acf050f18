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


@pytest.mark.skipif(NODE is None, reason="node is not on PATH: the JS op table is only checked textually")
def test_js_runtime_in_node_agrees_with_python():
    cases = [(n, x, y, k) for n, x, y, k in _all_points()]
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

    for (name, x, y, k), got in zip(cases, results, strict=True):
        out, locals_ = _local(OPS[name], x, y, k)
        assert _same(num(got["f"]), out, rel=1e-13), f"JS {name} forward at {(x, y, k)}: {got['f']} vs {out}"
        assert len(got["d"]) == len(locals_)
        for i, (g, want) in enumerate(zip(got["d"], locals_, strict=True)):
            assert _same(num(g), want, rel=1e-13), f"JS {name} ∂/∂input{i} at {(x, y, k)}: {g} vs {want}"
