"""The op table is the only list of ops: one new row, registered at run time, works everywhere.

``ops.register(row)`` installs a row in every place that enumerates ops (Value, Tensor and Dual
methods and operators, ``chainrule.<name>``, ``chainrule.tensor.<name>``, the language's callable
names); the JS runtime and the explainers read the table itself. ``ops.unregister`` takes it out
again, and the fixtures check that nothing of it is left for the other tests.
"""
import json
import math
import shutil
import subprocess
import types

import numpy as np
import pytest

import chainrule
import chainrule.tensor as ct
from chainrule import Value, ops
from chainrule.errors import InputError, ProgramError
from chainrule.explain import explain
from chainrule.forward import Dual, derivative, gradient_forward
from chainrule.lang import parse

NODE = shutil.which("node")

# A throw-away elementwise op of one input, written the way a new row is written: forward, local
# derivative, its formula text in Unicode and LaTeX, how it reads, and where it shows up.
CUBE = dict(name="cube3", arity=1, forward="x * x * x", grads="3.0 * x * x", text="3·{x}²",
            latex=r"3{x}^2", show="cube3({x})", method="cube3", lang=True,
            forms=("multiply by 3·{x}² elementwise", "δ ⊙ 3{x}²"))
# ... and one of two inputs, with no Jacobian form of its own (the default form is used).
HYPOT = dict(name="hypot2", arity=2, forward="sqrt(x * x + y * y)", grads=("x / out", "y / out"),
             text=("{x}/hypot2({x}, {y})", "{y}/hypot2({x}, {y})"),
             latex=(r"\frac{{{x}}}{{\operatorname{{hypot2}}({x}, {y})}}",
                    r"\frac{{{y}}}{{\operatorname{{hypot2}}({x}, {y})}}"),
             show="hypot2({x}, {y})", method="hypot2", lang=True)
# ... and one with a constant (like leaky_relu's slope): a keyword, a default and a usage.
SCALE = dict(name="scaled3", arity=1, forward="k * x", grads="k", text="{k}", latex="{k}",
             show="scaled3({x}, {k})", param="k", method="scaled3", lang=True, keyword="factor",
             default=2.0, args=("x", "factor"), linear=True)


def _snapshot():
    import chainrule.lang as lang
    return (dict(ops.OPS), ops.FUNCTIONS, lang.FUNCTIONS, lang.ALLOWED, set(lang._ARITY), set(lang._PREFIX),
            sorted(vars(Value)), sorted(vars(ct.Tensor)), sorted(vars(Dual)), _names(chainrule), _names(ct),
            list(chainrule.__all__), list(ct.__all__), ops.js_runtime())


def _names(module):
    """A module's names, less the submodules that lazy imports attach while the tests run."""
    return sorted(k for k, v in vars(module).items() if not isinstance(v, types.ModuleType))


@pytest.fixture
def rows():
    """Register the three rows; afterwards take them away and check that nothing is left."""
    before = _snapshot()
    made = [ops.register(ops.row(**spec)) for spec in (CUBE, HYPOT, SCALE)]
    try:
        yield made
    finally:
        for op in made:
            ops.unregister(op.name)
        assert _snapshot() == before


def test_a_registered_row_works_in_value(rows):
    x = Value(2.0, name="x")
    y = x.cube3()
    y.backward()
    assert y.data == 8.0 and x.grad == 12.0 and y.op == "cube3"
    a, b = Value(3.0), Value(4.0)
    h = a.hypot2(b)
    h.backward()
    assert h.data == 5.0 and (a.grad, b.grad) == (0.6, 0.8)
    assert Value(1.5).scaled3().data == 3.0 and Value(1.5).scaled3(factor=3.0).data == 4.5
    with pytest.raises(InputError, match="scaled3: factor must be a finite number"):
        Value(1.0).scaled3(math.nan)
    assert "3·x²" in Value.cube3.__doc__


def test_a_registered_row_works_in_tensor(rows):
    t = ct.tensor([1.0, -2.0], requires_grad=True)
    out = t.cube3()
    out.sum().backward()
    np.testing.assert_array_equal(out.data, [1.0, -8.0])
    np.testing.assert_array_equal(t.grad, [3.0, 12.0])
    np.testing.assert_array_equal(ct.cube3([2.0]).data, [8.0])
    np.testing.assert_array_equal(ct.hypot2(ct.tensor([3.0, 5.0]), 12.0 * np.array([1.0, 1.0])).data, [12.369316876852981, 13.0])
    assert "cube3" in ct.__all__ and ct.scaled3(ct.tensor([1.0]), 4.0).data[0] == 4.0
    # chainrule.<name>: a number gives a float, a Value a Value, a Tensor a Tensor
    assert chainrule.cube3(2.0) == 8.0 and "cube3" in chainrule.__all__
    assert isinstance(chainrule.cube3(Value(2.0)), Value)
    assert isinstance(chainrule.hypot2(ct.tensor([3.0]), 4.0), ct.Tensor)


def test_a_registered_row_works_in_forward_mode(rows):
    assert derivative(lambda x: x.cube3(), -2.0) == 12.0
    assert gradient_forward(lambda a, b: a.hypot2(b), [3.0, 4.0]) == [0.6, 0.8]
    assert derivative(lambda x: x.scaled3(5.0), 1.0) == 5.0


def test_a_registered_row_works_in_the_language(rows):
    run = parse("y = cube3(x) + hypot2(x, 4) + scaled3(x, 0.5) + scaled3(x)").run({"x": 3.0})
    assert run.output.data == 27.0 + 5.0 + 1.5 + 6.0
    assert run.grads()["x"] == pytest.approx(27.0 + 0.6 + 0.5 + 2.0)
    with pytest.raises(ProgramError, match=r"cube3 takes 1 argument \(cube3\(x\)\), got 2"):
        parse("y = cube3(x, x)")
    with pytest.raises(ProgramError, match=r"the factor of scaled3 must be a plain number, e\.g\. scaled3\(x, 2\)"):
        parse("y = scaled3(x, x)")
    with pytest.raises(ProgramError, match="known functions: .*cube3, hypot2, scaled3"):
        parse("y = cub3(x)")
    # the notation reads it without brackets, like sin x
    assert parse("y = cube3 x").run({"x": 2.0}).output.data == 8.0


@pytest.mark.skipif(NODE is None, reason="node is not on PATH")
def test_a_registered_row_works_in_the_js_runtime(rows):
    script = ops.js_runtime() + """
const c = OPS.cube3, h = OPS.hypot2, s = OPS.scaled3;
console.log(JSON.stringify([c.f(-2, null, null), c.d[0](-2, null, null, -8), h.f(3, 4, null),
  h.d.map((d) => d(3, 4, null, 5)), s.f(1.5, null, 3), s.d[0](1.5, null, 3, 4.5), c.called, s.param]));
"""
    proc = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [-8, 12, 5, [0.6, 0.8], 4.5, 3, "cube3", True]


def test_a_registered_row_works_in_the_explainers(rows):
    x = Value(2.0, name="x")
    y = x.cube3()
    y.name = "y"
    text = explain(y).to_text(100)
    assert "cube3(x)" in text and "∂y/∂x = 3·x² = 12" in text          # the row's show and formula text
    from chainrule.explain import explain_tensor
    W = ct.tensor([[1.0, -2.0]], requires_grad=True, name="W")
    a, b = ct.tensor([3.0, 4.0], name="b"), ct.tensor([1.0, 1.0], name="c")
    loss = ((W * a).cube3() + W.hypot2(b)).sum()
    ex = explain_tensor(loss, W)
    forms = {step.op: step.form for path in ex.paths for step in path}
    assert forms["cube3"] == "multiply by 3·(W · b)² elementwise"            # the row's own form
    assert forms["hypot2"] == "multiply by (W/hypot2(W, c)) elementwise"     # the default form, from its text
    want = 3 * (W.data * a.data) ** 2 * a.data + W.data / np.hypot(W.data, b.data)
    assert ex.grad_norm == pytest.approx(np.linalg.norm(want), rel=1e-12)


def test_register_refuses_a_clash_and_leaves_nothing_behind():
    before = _snapshot()
    with pytest.raises(ValueError, match="already in the table"):
        ops.register(ops.row(**dict(CUBE, name="exp")))
    with pytest.raises(ValueError, match="Value already has backward"):
        ops.register(ops.row(**dict(CUBE, name="cube4", method="backward")))
    with pytest.raises(ValueError, match="chainrule's own rows"):
        ops.unregister("exp")
    assert _snapshot() == before
