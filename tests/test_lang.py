"""The program language: what it accepts, what it refuses (and where), bounds, running, stepping."""
import math
import re
from pathlib import Path

import pytest

from chainrule import lang, ops
from chainrule.errors import ChainruleError, InputError, ProgramError
from chainrule.lang import evaluate, gradient_step, parse


def refused(src: str) -> ProgramError:
    with pytest.raises(ProgramError) as info:
        parse(src)
    return info.value


# --------------------------------------------------------------------------
# What is accepted
# --------------------------------------------------------------------------

def test_square_3x_plus_1_value_and_gradient():
    run = evaluate("L = (3*x + 1)**2", {"x": 2})
    assert run.value == 49.0
    assert run.grads() == {"x": 42.0}
    assert run.program.output == "L"
    assert run.program.inputs == ("x",)
    assert run.program.assigned == ("L",)


def test_inputs_in_first_use_order_and_named_leaves():
    p = parse("a1 = w1*a0; a2 = w2*a1\n# a comment\na3 = w3*a2  # trailing\nC = (a3 - y)**2")
    assert p.inputs == ("w1", "a0", "w2", "w3", "y")
    assert p.assigned == ("a1", "a2", "a3", "C")
    assert p.output == "C"
    run = p.run({"a0": 1, "w1": 2, "w2": 3, "w3": 0.5, "y": 2})
    for name, v in run.values.items():
        assert v.name == name
    for name, v in run.inputs.items():
        assert v.requires_grad and v.op is None and v.name == name
    assert run.output is run.values["C"]
    assert run.grads() == {"w1": 3.0, "a0": 6.0, "w2": 2.0, "w3": 12.0, "y": -2.0}
    # intermediate variables get their gradient too: ∂C/∂a3 = 2(a3 − y) = 2
    assert run.values["a3"].grad == 2.0


def test_grads_is_idempotent():
    run = evaluate("y = x*x", {"x": 3})
    assert run.grads() == {"x": 6.0}
    assert run.grads() == {"x": 6.0}
    assert run.inputs["x"].grad == 6.0  # backward ran once


@pytest.mark.parametrize("src, at, value, grad", [
    ("y = 2*x**3", {"x": 2}, 16.0, 24.0),
    ("y = -x + +x*2 - (x/4)", {"x": 4}, 3.0, 0.75),
    ("y = exp(x)", {"x": 0}, 1.0, 1.0),
    ("y = log(x)", {"x": 2}, math.log(2), 0.5),
    ("y = sqrt(x)", {"x": 4}, 2.0, 0.25),
    ("y = tanh(x)", {"x": 0}, 0.0, 1.0),
    ("y = sigmoid(x)", {"x": 0}, 0.5, 0.25),
    ("y = relu(x)", {"x": -2}, 0.0, 0.0),
    ("y = relu(x)", {"x": 3}, 3.0, 1.0),
    ("y = leaky_relu(x, 0.2)", {"x": -2}, -0.4, 0.2),
    ("y = leaky_relu(x)", {"x": -1}, -0.01, 0.01),
    ("y = leaky_relu(x, -0.5)", {"x": -2}, 1.0, -0.5),
    ("y = abs(x)", {"x": -3}, 3.0, -1.0),
    ("y = sin(x)", {"x": 0}, 0.0, 1.0),
    ("y = cos(x)", {"x": 0}, 1.0, 0.0),
    ("y = square(x)", {"x": 3}, 9.0, 6.0),
    ("y = max(x, 1)", {"x": 3}, 3.0, 1.0),
    ("y = maximum(x, 5)", {"x": 3}, 5.0, 0.0),
    ("y = min(x, 1)", {"x": 3}, 1.0, 0.0),
    ("y = minimum(x, 5)", {"x": 3}, 3.0, 1.0),
    ("y = pow(x, 3)", {"x": 2}, 8.0, 12.0),
    ("y = x ** -1", {"x": 2}, 0.5, -0.25),
    ("y = 2 ** x", {"x": 3}, 8.0, 8 * math.log(2)),
    ("y = ((x))", {"x": 3}, 3.0, 1.0),
    ("y = 1_000 * x + 1e-3", {"x": 1}, 1000.001, 1000.0),
])
def test_accepted_forms(src, at, value, grad):
    run = evaluate(src, at)
    assert run.value == pytest.approx(value, rel=1e-12)
    assert run.grads()["x"] == pytest.approx(grad, rel=1e-12)


@pytest.mark.parametrize("src, value", [
    ("y = -x**2", -9.0),            # ** binds tighter than unary minus
    ("y = -2**2 + 0*x", -4.0),
    ("y = (-2)**2 + 0*x", 4.0),
    ("y = 2**3**2 + 0*x", 512.0),   # ** is right-associative
    ("y = x - 1 - 1", 1.0),         # - and / are left-associative
    ("y = x / 3 / 3", 1 / 3),
    ("y = 1 + x * 2 ** 2", 13.0),
    ("y = x ** -1 * 3", 1.0),
])
def test_precedence_is_pythons(src, value):
    assert evaluate(src, {"x": 3}).value == pytest.approx(value, rel=1e-15)


def test_constant_exponent_uses_powc_and_variable_exponent_pow():
    assert evaluate("y = x**2", {"x": 3}).output.op == "powc"
    assert evaluate("y = pow(x, 2)", {"x": 3}).output.op == "powc"
    assert evaluate("y = x ** -2", {"x": 3}).output._k == -2.0
    run = evaluate("y = x**z", {"x": 2, "z": 3})
    assert run.output.op == "pow"
    assert run.grads() == pytest.approx({"x": 12.0, "z": 8 * math.log(2)})
    assert evaluate("y = pow(x, z)", {"x": 2, "z": 3}).output.op == "pow"


def test_max_min_are_the_maximum_minimum_rows():
    assert evaluate("y = max(a, b)", {"a": 1, "b": 2}).output.op == "maximum"
    assert evaluate("y = min(a, b)", {"a": 1, "b": 2}).output.op == "minimum"


def test_negative_literal_is_a_constant_not_a_neg_node():
    run = evaluate("y = -3 * x", {"x": 2})
    assert run.output.op == "mul"
    left, right = run.output.inputs
    assert left.op is None and left.data == -3.0 and not left.requires_grad
    assert evaluate("y = -x", {"x": 2}).output.op == "neg"


def test_bare_name_copy_is_its_own_node():
    run = evaluate("b = a\nc = b * b", {"a": 3})
    a, b = run.values["a"], run.values["b"]
    assert b is not a
    assert b.name == "b" and a.name == "a"
    assert b.data == 3.0 and b.op == "add"          # b = a + 0: value a, local derivative 1
    assert run.grads() == {"a": 6.0}
    assert b.grad == 6.0
    # unary plus is a copy too
    run = evaluate("b = +a", {"a": 1})
    assert run.output is not run.inputs["a"] and run.output.name == "b"


def test_constant_only_statements_and_outputs():
    run = evaluate("k = 2 * 3\ny = k * x", {"x": 5})
    assert run.values["k"].data == 6.0 and not run.values["k"].requires_grad
    assert run.values["k"].name == "k"
    assert run.grads() == {"x": 6.0}
    run = evaluate("a = x\ny = 3", {"x": 1})  # an output that ignores the inputs
    assert run.value == 3.0 and run.grads() == {"x": 0.0}


def test_program_without_inputs_runs():
    run = evaluate("y = 2 ** 3", {})
    assert run.value == 8.0 and run.grads() == {}


def test_unicode_names_and_columns():
    run = evaluate("α = 2*β", {"β": 3})
    assert run.value == 6.0 and run.program.inputs == ("β",)
    e = refused("α = β + x.y")
    assert (e.line, e.col) == (1, 9)  # characters, not UTF-8 bytes


def test_str_of_program_lists_statements():
    assert str(parse("a = x*2; b = a +  1")) == "a = x*2\nb = a + 1"
    assert str(parse("a = (x +\n     2*y)\nb = a")) == "a = x + 2*y\nb = a"


def test_lines_are_counted_as_python_counts_them():
    # \r\n and \r end a line; a form feed does not (str.splitlines would disagree)
    e = refused("a = 1\r\nb = a\x0c + 1\rc = b.real")
    assert (e.line, e.col) == (3, 5)
    e = refused("a = 1\x0c\nb = x[0]")
    assert (e.line, e.col) == (2, 5)


# --------------------------------------------------------------------------
# What is refused, and where (line, column are 1-based)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("src, line, col, words", [
    ("y = x.y", 1, 5, "attribute access"),
    ("y = math.exp(x)", 1, 5, "write exp(…) without 'math.'"),
    ("y = os.system(x)", 1, 5, "attribute access"),
    ("x.y = 1", 1, 1, "attribute access"),
    ("y = x[0]", 1, 5, "indexing"),
    ("y = lambda: 1", 1, 5, "lambda"),
    ("import os", 1, 1, "import"),
    ("from os import path", 1, 1, "import"),
    ("y = 'a'", 1, 5, "text strings"),
    ("y = f'{x}'", 1, 5, "f-strings"),
    ("y = exp(x=1)", 1, 11, "keyword arguments"),
    ("y = [i for i in x]", 1, 5, "comprehensions"),
    ("y = sum(i for i in x)", 1, 5, "unknown function 'sum'"),
    ("y = x < 1", 1, 5, "comparisons"),
    ("if x: y = 1", 1, 1, "if statements"),
    ("y = x if x else 2", 1, 5, "if-expressions"),
    ("x += 1", 1, 1, "augmented assignment"),
    ("a, b = 1, 2", 1, 1, "several names at once"),
    ("[a, b] = 1, 2", 1, 1, "several names at once"),
    ("a = b = 1", 1, 5, "chained assignment"),
    ("y = x and z", 1, 5, "and/or"),
    ("y = not x", 1, 5, "'not'"),
    ("y = ~x", 1, 5, "~"),
    ("y = x // 2", 1, 5, "//"),
    ("y = x % 2", 1, 5, "%"),
    ("y = x @ 2", 1, 5, "@"),
    ("y = x | 2", 1, 5, "the | operator"),
    ("y = True", 1, 5, "True"),
    ("y = None", 1, 5, "None"),
    ("y = 1j", 1, 5, "complex numbers"),
    ("y = [1, 2]", 1, 5, "lists"),
    ("y = (1, 2)", 1, 5, "tuples"),
    ("y = {1: 2}", 1, 5, "dicts"),
    ("y = (z := 2)", 1, 6, ":="),
    ("for i in x: y = i", 1, 1, "loops"),
    ("while x: y = 1", 1, 1, "loops"),
    ("def f(): pass", 1, 1, "def"),
    ("class A: pass", 1, 1, "class"),
    ("pass", 1, 1, "pass"),
    ("del x", 1, 1, "del"),
    ("y: float = 2", 1, 1, "annotated assignment"),
    ("y = exp(*x)", 1, 9, "*arguments"),
    ("y = 1e999", 1, 5, "too large"),
    ("y = x\nz = y + q.r", 2, 9, "attribute access"),
    ("a = 1\n\n   \nb = a[1]", 4, 5, "indexing"),
])
def test_refused_constructs_name_line_and_column(src, line, col, words):
    e = refused(src)
    assert (e.line, e.col) == (line, col), str(e)
    assert words in e.message
    assert str(e).startswith(f"line {line}, column {col}: ")


def test_refusals_say_what_is_allowed():
    e = refused("y = x < 1")
    assert "not allowed" in e.message
    assert "+ - * / **" in e.message and "exp" in e.message and "leaky_relu" in e.message


def test_unknown_function_lists_known_and_suggests():
    e = refused("y = 2 * expp(x)")
    assert (e.line, e.col) == (1, 9)
    assert "unknown function 'expp'" in e.message and "did you mean exp or expm1?" in e.message
    for f in ops.FUNCTIONS:                 # every function a program may call, from the op table
        assert f in e.message
    assert "__import__" in refused("y = __import__('os')").message  # never run, only refused


@pytest.mark.parametrize("src, line, col, words", [
    ("x = 1; x = 2", 1, 8, "'x' is already assigned on line 1"),
    ("y = x + 1\nx = 2", 2, 1, "'x' is used as an input (line 1, column 5)"),
    ("x = x + 1", 1, 1, "'x' is used as an input"),
    ("exp = 2", 1, 1, "'exp' is a function name"),
    ("y = exp", 1, 5, "'exp' is a function: call it"),
    ("y = max(x)", 1, 5, "max takes 2 arguments (max(a, b)), got 1"),
    ("y = exp(x, 2)", 1, 5, "exp takes 1 argument (exp(x)), got 2"),
    ("y = leaky_relu(x, 1, 2)", 1, 5, "leaky_relu takes 1 or 2 arguments"),
    ("y = leaky_relu(x, z)", 1, 19, "slope of leaky_relu must be a plain number"),
    ("y = (x)(2)", 1, 6, "unknown function 'x'"),
    ("y = (x + 1)(2)", 1, 6, "is not a function"),
    ("x + 1", 1, 1, "assign it to a name, e.g. y = x + 1"),
    ("", 1, 1, "the program is empty"),
    ("# only a comment\n", 1, 1, "the program is empty"),
    ("y = 1 +", 1, 8, "syntax error"),
    ("y = 2 * x\n  z = 3", 2, 2, "unexpected indent"),
    ("y = (2 * x", 1, 5, "never closed"),
    ("y = x\0", 1, 1, "NUL"),
])
def test_other_refusals(src, line, col, words):
    e = refused(src)
    assert (e.line, e.col) == (line, col), str(e)
    assert words in e.message, e.message


def test_parse_needs_text():
    with pytest.raises(ProgramError, match="a program is text"):
        parse(b"y = x")


def test_lang_never_evals_user_text():
    source = Path(lang.__file__).read_text(encoding="utf-8")
    assert not re.search(r"(?<![\w.])(eval|exec|compile)\(", source)


# --------------------------------------------------------------------------
# Bounds
# --------------------------------------------------------------------------

def test_text_length_bound():
    e = refused("y = x" + " " * lang.MAX_CHARS)
    assert "at most 20000" in e.message and (e.line, e.col) == (1, 1)


def test_statement_count_bound(monkeypatch):
    monkeypatch.setattr(lang, "MAX_STATEMENTS", 3)
    parse("a = x; b = a; c = b")
    e = refused("a = x; b = a; c = b; d = c")
    assert "4 statements; at most 3" in e.message and (e.line, e.col) == (1, 22)


def test_nesting_depth_bound_ours():
    e = refused("y = " + "-" * 250 + "x")  # Python parses it; our walk refuses it
    assert "nested more than 200 levels" in e.message and e.line == 1


def test_a_long_flat_sum_is_a_chain_not_deep_nesting():
    n = 1500
    run = evaluate("L = " + " + ".join(f"x{i}*w" for i in range(n)), {**{f"x{i}": 1.0 for i in range(n)}, "w": 2.0})
    assert run.output.data == 2.0 * n
    run.output.backward()
    assert run.inputs["w"].grad == n
    assert evaluate("L = 1 - 2 - 3 / 4 * 5 + 6", {}).output.data == 1 - 2 - 3 / 4 * 5 + 6
    e = refused("y = a + b % c + d")
    assert "% operator" in e.message


def test_nesting_depth_bound_python_parser():
    # A flat sum longer than the stated limit is refused with that limit, before Python's
    # AST constructor would give up (near 3,000 levels) with a RecursionError.
    e = refused("a = 1\ny = " + "x+" * 5000 + "1")
    assert "chain of about 5000 operations" in e.message and f"at most {lang.MAX_CHAIN}" in e.message
    assert (e.line, e.col) == (2, 1)
    e = refused("y = " + "(" * 300 + "x" + ")" * 300)
    assert "200 levels" in e.message and "nest" in e.message and (e.line, e.col) == (1, 205)
    e = refused("y = " + "-" * 5000 + "x")
    assert "nested" in e.message


def test_depth_just_inside_the_bound_runs():
    run = evaluate("y = " + "x+" * 150 + "1", {"x": 1})
    assert run.value == 151.0 and run.grads() == {"x": 150.0}


def test_graph_size_bound(monkeypatch):
    monkeypatch.setattr(lang, "MAX_NODES", 6)
    evaluate("y = x*2", {"x": 1})   # x, 2, mul
    with pytest.raises(ProgramError, match="more than 6 nodes") as info:
        evaluate("a = x*2\nb = a*3\nc = b*4", {"x": 1})
    assert (info.value.line, info.value.col) == (3, 5)


# --------------------------------------------------------------------------
# Math errors become positioned ProgramErrors
# --------------------------------------------------------------------------

@pytest.mark.parametrize("src, at, col, words", [
    ("L = 2 * log(x)", {"x": -1}, 9, "log(-1) is undefined: log needs a positive input"),
    ("L = 1 + 1/x", {"x": 0}, 9, "the divisor must not be 0"),
    ("L = sqrt(x)", {"x": -4}, 5, "sqrt needs a non-negative input"),
    ("L = exp(x)", {"x": 1000}, 5, "exp(1000) is too large for a float (overflow)"),
    ("L = 10**400", {}, 5, "10^400 is too large for a float (overflow)"),
    ("L = x**400", {"x": 10}, 5, "too large for a float"),
    ("L = x*x*1e300", {"x": 1e10}, 5, "too large for a float"),
    ("L = pow(x, z)", {"x": -1, "z": 0.5}, 5, "negative base needs a whole-number exponent"),
])
def test_math_errors_name_the_place(src, at, col, words):
    with pytest.raises(ProgramError) as info:
        evaluate(src, at)
    assert (info.value.line, info.value.col) == (1, col)
    assert words in info.value.message


def test_math_error_on_a_later_line():
    with pytest.raises(ProgramError) as info:
        evaluate("a = x - 1\nb = log(a)", {"x": 1})
    assert (info.value.line, info.value.col) == (2, 5)
    assert "log(0)" in info.value.message


# --------------------------------------------------------------------------
# Input values
# --------------------------------------------------------------------------

def test_missing_input():
    with pytest.raises(InputError, match=r"missing value for input 'y': give --at y=VALUE"):
        evaluate("L = x + y", {"x": 1})


def test_missing_input_suggests_assigned_name():
    with pytest.raises(InputError, match="did you mean 'a1', assigned in the program"):
        evaluate("a1 = 2*x\nL = a11 + 1", {"x": 1})


def test_unknown_input_names_the_inputs():
    with pytest.raises(InputError) as info:
        evaluate("L = x + y", {"x": 1, "y": 2, "zz": 3})
    assert "unknown input 'zz'" in str(info.value) and "inputs are: x, y" in str(info.value)
    with pytest.raises(InputError, match="did you mean 'weight'"):
        evaluate("L = weight + 1", {"wieght": 1})
    with pytest.raises(InputError, match="'a' is computed by the program, not an input"):
        evaluate("a = 2*x\nL = a", {"x": 1, "a": 2})


@pytest.mark.parametrize("bad", [True, float("nan"), float("inf"), -float("inf"), "2", None, [1]])
def test_bad_input_values(bad):
    with pytest.raises(InputError, match="'x' must be a"):
        evaluate("L = 2*x", {"x": bad})


def test_two_spellings_of_one_input_are_refused():
    # Python reads the identifier 'ﬁ' (a ligature) as 'fi': both keys name the same input
    with pytest.raises(InputError, match="input 'fi' is given twice"):
        evaluate("L = ﬁ*2", {"ﬁ": 1, "fi": 2})
    assert evaluate("L = ﬁ*2", {"ﬁ": 1}).value == 2.0


def test_values_must_be_a_mapping():
    with pytest.raises(InputError, match="mapping"):
        parse("L = x").run([("x", 1)])


def test_ints_are_fine_and_become_floats():
    run = evaluate("L = x / 2", {"x": 3})
    assert run.value == 1.5 and isinstance(run.inputs["x"].data, float)


def test_run_under_no_grad_still_builds_the_graph():
    from chainrule import no_grad
    with no_grad():
        run = evaluate("L = x*x", {"x": 3})
    assert run.grads() == {"x": 6.0}


def test_trace_of_a_run_keeps_grads_untouched():
    run = evaluate("L = (3*x + 1)**2", {"x": 2})
    t = run.trace()
    assert t.node("x").grad == 42.0
    assert run.inputs["x"].grad == 0.0
    assert t.warnings == []


# --------------------------------------------------------------------------
# Gradient step
# --------------------------------------------------------------------------

RELU = "z1 = w1*x\na1 = relu(z1)\nz2 = w2*a1\nL = (z2 - y)**2"
AT = {"x": 2, "y": 1, "w1": 0.5, "w2": -0.3}


def test_step_updates_only_params():
    s = gradient_step(parse(RELU), AT, 0.1, ["w1", "w2"])
    assert s.params == ("w1", "w2")
    assert s.new_values["w1"] == pytest.approx(0.344, rel=1e-12)
    assert s.new_values["w2"] == pytest.approx(-0.04, rel=1e-12)
    assert s.new_values["x"] == 2.0 and s.new_values["y"] == 1.0
    assert s.before.value == pytest.approx(1.69, rel=1e-12)
    assert s.grads["w1"] == pytest.approx(1.56) and s.grads["w2"] == pytest.approx(-2.6)
    # after: z2 = -0.04 * relu(0.688) = -0.02752, L = 1.02752**2
    assert s.after.value == pytest.approx(1.02752 ** 2, rel=1e-12)
    assert s.after_error is None


def test_step_default_params_is_every_input():
    s = gradient_step(parse("L = (w - 3)**2"), {"w": 1}, 0.25)
    assert s.params == ("w",) and s.new_values == {"w": 2.0} and s.after.value == 1.0


def test_step_refusals():
    p = parse(RELU)
    with pytest.raises(InputError, match="unknown parameter 'q'"):
        gradient_step(p, AT, 0.1, ["q"])
    with pytest.raises(InputError, match="unknown parameter 'z1'"):
        gradient_step(p, AT, 0.1, ["z1"])
    for lr in (0, -0.1, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(InputError, match="learning rate"):
            gradient_step(p, AT, lr)
    with pytest.raises(InputError, match="smaller learning rate"):
        gradient_step(parse("L = x**2"), {"x": 1e150}, 1e200)


@pytest.mark.parametrize("src, at", [("L = sqrt(x)", {"x": 0.0}),               # slope inf
                                     ("L = sqrt(x)*y", {"x": 0.0, "y": 0.0})])   # slope 0·inf = nan
def test_step_with_an_undefined_slope_says_so(src, at):
    with pytest.raises(InputError, match=r"∂L/∂x is (inf|nan) at this point, so no step can be taken") as e:
        gradient_step(parse(src), at, 0.1)
    assert "smaller learning rate" not in str(e.value)


def test_step_needs_an_input():
    with pytest.raises(InputError, match="no inputs, so there is nothing to step"):
        gradient_step(parse("y = 2*3"), {}, 0.1)


def test_step_into_an_undefined_point_is_reported_not_raised():
    s = gradient_step(parse("L = log(x)"), {"x": 0.5}, 1.0)   # x ← 0.5 − 1·2 = −1.5
    assert s.new_values == {"x": -1.5}
    assert s.after is None
    assert "line 1, column 5: log(-1.5) is undefined" in s.after_error


# --------------------------------------------------------------------------
# Robustness: any text either parses or is refused with a ProgramError
# --------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.given(st.text(alphabet="xyab01.+-*/()= \n;#,*ex[]lgsqrtpow'\"<:", max_size=40))
@hypothesis.settings(max_examples=300)
def test_fuzz_only_chainrule_errors(text):
    try:
        p = parse(text)
    except ProgramError as e:
        assert e.line is not None and e.col is not None and e.line >= 1 and e.col >= 1
        return
    try:
        p.run({n: 0.5 for n in p.inputs})
    except ChainruleError:
        pass


@pytest.mark.parametrize("text", [
    'L[0] += __import__(tanh²(getattr(print, os))not 2 == 1e308, [0b101]&00 (σ σ), print()) ≤ a1',
    "a.b == 'cos(not)'; f(x) += *((0⁻¹.if&00),); f(x)=ℌ; =f'{1e308:=f'{ℌ}'^lambda: os()}'; exec('1')",
    "y = 0x1f.if",
])
def test_python_syntax_warnings_become_our_refusal_not_a_line_on_stderr(text):
    """Found by benchmarks/fuzz_lang.py: 'invalid decimal literal' was printed as a SyntaxWarning."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ProgramError) as e:
            parse(text)
    assert not caught, [str(w.message) for w in caught]
    assert e.value.line == 1 and e.value.col >= 1
