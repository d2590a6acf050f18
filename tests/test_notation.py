"""The learner's notation (issue 7.6 and 7.7): what chainrule prints can be typed back in, and
errors teach.

The round trip is tested on what chainrule really displays: the op table's Unicode formulas,
the forward table's "computed as" column, every chain factor, the draw labels, ``str(Program)``
and the lesson programs. Each must parse back to the same function: same value and same
gradients at several points.
"""
import math
import random

import pytest

from chainrule import lang
from chainrule.errors import InputError, ProgramError
from chainrule.explain import explain
from chainrule.explain.render import forward_rows
from chainrule.lab.lessons import LESSONS
from chainrule.lang import evaluate, parse, parse_number
from chainrule.ops import OPS
from chainrule.viz.svg import title_line

REL = 1e-9


def close(a, b):
    return a == b or math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def same_function(a: str, b: str, points):
    """Programs ``a`` and ``b`` have the same inputs, and the same value and gradients at ``points``."""
    pa, pb = parse(a), parse(b)
    assert set(pa.inputs) == set(pb.inputs), (a, b)
    for at in points:
        at = {n: at[n] for n in pa.inputs}
        ra, rb = pa.run(at), pb.run(at)
        assert close(ra.value, rb.value), (a, b, at, ra.value, rb.value)
        ga, gb = ra.grads(), rb.grads()
        for n in ga:
            assert close(ga[n], gb[n]), (a, b, n, at, ga[n], gb[n])


def points(names, n=4, seed=0, lo=0.3, hi=1.7):
    rng = random.Random(seed)
    return [{k: rng.uniform(lo, hi) for k in names} for _ in range(n)]


# --------------------------------------------------------------------------
# The notation itself: printed form == Python form
# --------------------------------------------------------------------------

@pytest.mark.parametrize("printed, python", [
    ("L = x − y", "L = x - y"),
    ("L = −x + 3", "L = -x + 3"),
    ("L = w1·x", "L = w1*x"),
    ("L = w1 × x", "L = w1*x"),
    ("L = x²", "L = x**2"),
    ("L = x³ + 2·x²", "L = x**3 + 2*x**2"),
    ("L = x⁻¹", "L = x**-1"),
    ("L = (x + y)²", "L = (x + y)**2"),
    ("L = x¹²", "L = x**12"),
    ("L = −x²", "L = -x**2"),              # the square binds first, as in print
    ("L = x^2", "L = x**2"),
    ("L = x^y·ln x", "L = x**y*log(x)"),
    ("L = 2^x^y", "L = 2**x**y"),         # right to left, like **
    ("L = x^2*3", "L = x**2*3"),          # ^ is the power, not xor: it binds tighter than *
    ("L = σ(z)", "L = sigmoid(z)"),
    ("L = σ(z)·(1−σ(z))", "L = sigmoid(z)*(1-sigmoid(z))"),
    ("L = √x", "L = sqrt(x)"),
    ("L = √(x + y)", "L = sqrt(x + y)"),
    ("L = 1/(2·√x)", "L = 1/(2*sqrt(x))"),
    ("L = √x^2", "L = sqrt(x)**2"),       # as chainrule prints (√a1)^2
    ("L = √√x", "L = sqrt(sqrt(x))"),
    ("L = |x − y|", "L = abs(x - y)"),
    ("L = |x|·|y|", "L = abs(x)*abs(y)"),
    ("L = |x − |y||", "L = abs(x - abs(y))"),
    ("L = ln x + ln(y)", "L = log(x) + log(y)"),
    ("L = 1 − tanh²(x)", "L = 1 - tanh(x)**2"),
    ("L = sin x·cos y", "L = sin(x)*cos(y)"),
    ("L = x₁ + w₂₃", "L = x1 + w23"),
    ("L = ½·x + ¼", "L = (1/2)*x + 1/4"),
    ("L = max(0, z)", "L = maximum(0, z)"),
    ("L = x ÷ y", "L = x / y"),
    ("L = x – y", "L = x - y"),            # an en dash, as word processors type it
    ("L = leaky_relu(z, 0.1)", "L = leaky_relu(z, 0.1)"),
])
def test_printed_notation_is_the_python_one(printed, python):
    pts = points(parse(python).inputs, seed=len(printed))
    same_function(printed, python, pts)


def test_subscripted_names_are_the_plain_names():
    p = parse("a₁ = w₁·x₁\nL = a₁ + a1")
    assert p.inputs == ("w1", "x1") and p.assigned == ("a1", "L")
    with pytest.raises(ProgramError, match="already assigned"):
        parse("a₁ = x\na1 = x")
    assert evaluate("L = w₁·x", {"w₁": 2, "x": 3}).value == 6   # --at w₁=2 is w1 too


def test_statement_text_and_errors_are_in_the_users_notation():
    p = parse("a = σ(z)·w₁\nL = √a + x²")
    assert str(p) == "a = σ(z)·w₁\nL = √a + x²"
    assert [s.text for s in p.statements] == ["σ(z)·w₁", "√a + x²"]
    # columns count the user's characters, not the translation's (sigmoid( is longer than σ()
    with pytest.raises(ProgramError) as info:
        evaluate("a = σ(z)·w₁ + √x + log(−1)", {"z": 1, "w1": 1, "x": 1})
    e = info.value
    assert (e.line, e.col) == (1, 20) and "log(-1) is undefined" in e.message
    e = _refused("L = σ(z) + x ** y ** ")
    assert e.line == 1 and e.col == 22
    e = _refused("L = √(x² + y²) + q.r")
    assert (e.line, e.col) == (1, 18) and "attribute access" in e.message


def test_parse_number_reads_the_printed_minus():
    assert parse_number("−0.3") == -0.3 and parse_number(" 1e−3 ") == 1e-3 and parse_number("+2") == 2
    with pytest.raises(ValueError):
        parse_number("0.3.1")


# --------------------------------------------------------------------------
# Round trip of what chainrule displays
# --------------------------------------------------------------------------

# The op table's derivative texts that are not functions a program can write: a program's graph
# is the same at every input, so a step at a kink ("1 if x > 0 else 0") or sign(x) cannot be
# typed in. Typing them gives an error that says so (test below); every other text round-trips.
KINKS = {("relu", 0), ("leaky_relu", 0), ("abs", 0), ("maximum", 0), ("maximum", 1),
         ("minimum", 0), ("minimum", 1)}


def _op_cases():
    for name, op in OPS.items():
        ks = [None] if not op.param else ([2.0, 3.0, 0.5, -1.0] if name == "powc" else [0.1])
        for k in ks:
            yield name, op, k


@pytest.mark.parametrize("name, op, k", list(_op_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_op_table_formulas_parse_back_to_the_op(name, op, k):
    args = ["x", "y"][:op.arity] + ([f"{k:g}"] if k is not None else [])
    forward = f"f = {op.describe(*args)}"
    prog = parse(forward)
    assert set(prog.inputs) == set(args[:op.arity]), forward
    for at in points(args[:op.arity], n=5, seed=hash(name) % 1000, lo=0.4, hi=1.9):
        if op.arity == 2 and abs(at["x"] - at["y"]) < 1e-3:
            continue
        run = prog.run(at)
        x, y = at["x"], at.get("y")
        want = op.f(x, y, k)
        assert close(run.value, want), (forward, at)
        grads = run.grads()
        for i, var in enumerate(args[:op.arity]):
            local = op.d[i](x, y, k, want)
            assert close(grads[var], local), (forward, var, at)
            text = op.formula(i, x="x", y="y", k=f"{k:g}" if k is not None else "k")
            if (name, i) in KINKS:
                continue
            d = parse(f"d = {text}")
            got = d.run({n: at[n] for n in d.inputs}).value
            assert close(got, local), (name, i, text, at, got, local)


@pytest.mark.parametrize("name, i", sorted(KINKS))
def test_kink_formulas_are_refused_with_the_reason(name, i):
    text = OPS[name].formula(i, x="x", y="y", k="0.1")
    e = _refused(f"d = {text}")
    assert "cannot branch" in e.message or "slope of |x|" in e.message, e.message
    assert "powc" not in e.message


PROGRAMS = [
    ("z1 = w1*x + b1\na1 = sigmoid(z1)\n"
     "h = relu(a1) + max(0, z1) + x**3 + sqrt(a1) + leaky_relu(z1, 0.1) + abs(z1) + log(a1)/w1 - tanh(x)\n"
     "L = (h - y)**2", {"x": 0.5, "w1": -0.3, "b1": 0.2, "y": 1.0}),
    ("u = exp(x) * sin(y) - cos(x*y)\nv = square(u) / (1 + x**2)\n"
     "w = pow(x, y) + min(u, v) + maximum(x, y) + x**-1 + 2**y - -x\nL = w**0.5 + (-u)**2 / -v",
     {"x": 0.7, "y": 1.3}),
    ("a = x*y*x - x/y/(x - 3)\nb = a**3 + 1/(x**y) + -(a - x)\nL = (b*a)**2", {"x": 1.1, "y": 0.8}),
    *[(lesson.program, dict(lesson.inputs)) for lesson in LESSONS.values()],
]


def _nearby(program, at, n=3, seed=1):
    """``at`` and a few points near it where the program is defined."""
    rng = random.Random(seed)
    out = [dict(at)]
    while len(out) < n + 1:
        p = {k: v * rng.uniform(0.9, 1.1) + rng.uniform(-0.05, 0.05) for k, v in at.items()}
        try:
            program.run(p)
        except ProgramError:
            continue
        out.append(p)
    return out


@pytest.mark.parametrize("text, at", PROGRAMS, ids=lambda v: v.split("\n")[0][:30] if isinstance(v, str) else "")
def test_displayed_programs_and_formulas_round_trip(text, at):
    program = parse(text)
    pts = _nearby(program, at)
    # str(Program), and each statement as the forward table shows it ("computed as")
    same_function(text, str(program), pts)
    t = program.run(at).trace()
    shown = {label: what for _, label, what, _ in forward_rows(explain(t)) if what not in ("input", "constant")}
    assert shown
    for s in program.statements:
        if s.target not in shown:
            continue
        free = parse(f"t = {s.text}").inputs
        runs = [program.run(p) for p in pts]
        vals = [{n: r.values[n].data for n in free} for r in runs]
        same_function(f"t = {s.text}", f"t = {shown[s.target]}", vals)
    # the draw labels, box by box: "z1 = w1 · x + b1", or an unnamed step's "w1 · x", computes
    # that node from the values of the names it shows
    checked = 0
    for n in t.nodes:
        if not n.op:
            continue
        line = title_line(t, n)
        if "…" in line:     # a long expression, shortened for the drawing: refused, saying so
            assert "a drawing's label leaves out" in _refused(f"t = {line}").message
            continue
        checked += 1
        one = parse(line if n.name else f"t = {line}")
        got = one.run({name: t.node(name).value for name in one.inputs})
        assert close(got.value, n.value), (line, got.value, n.value)
    assert checked
    # every chain factor: its formula, typed back in at the run's values, is its number
    run = program.run(at)
    run.grads()
    ex = explain(run.trace())
    factors = [f for c in ex.chains for p in c.paths for f in p.factors]
    assert factors
    for f in factors:
        try:
            d = parse(f"d = {f.formula}")
        except ProgramError as e:
            # only the slopes at kinks (relu, max, |x| …) cannot be typed in, and say why
            assert ("if" in f.formula or "sign(" in f.formula) and (
                "cannot branch" in e.message or "slope of |x|" in e.message), (f.formula, e.message)
            continue
        got = d.run({n: run.values[n].data for n in d.inputs}).value
        assert close(got, f.value), (f.label, f.formula, got, f.value)


def test_the_cli_reads_the_printed_minus(capsys):
    from chainrule.cli import main
    assert main(["grad", "L = x·x", "--at", "x=−0.3"]) == 0
    assert "0.09" in capsys.readouterr().out


# --------------------------------------------------------------------------
# Errors that teach (7.7)
# --------------------------------------------------------------------------

def _refused(src: str) -> ProgramError:
    with pytest.raises(ProgramError) as info:
        parse(src)
    e = info.value
    assert e.line is not None and e.col is not None
    assert "powc" not in str(e)
    return e


@pytest.mark.parametrize("src, line, col, words", [
    ("L = 3x", 1, 5, "write 3*x"),
    ("L = 2.5w + 1", 1, 5, "write 2.5*w"),
    ("L = 3 x", 1, 7, "write 3*x"),
    ("L = (a + b)c", 1, 12, "write (…)*c"),
    ("L = x y", 1, 7, "missing operator between 'x' and 'y'"),
    ("L = 2(x + 1)", 1, 5, "write 2*(x + 1)"),
    ("L = x(2)", 1, 5, "to multiply, write x*(2)"),
    ("f(x) = x**2", 1, 1, "the left side of = is the name of the result"),
    ("f(x) = x**2", 1, 1, "write f = x**2"),
    ("L = ReLU(z1)", 1, 5, "did you mean relu? (function names are lower-case)"),
    ("L = Sigmoid(z1)", 1, 5, "did you mean sigmoid?"),
    ("L = sigmod(z1)", 1, 5, "did you mean sigmoid or logsigmoid?"),
    ("L = math.exp(x)", 1, 5, "write exp(…) without 'math.'"),
    ("L = np.tanh(x)", 1, 5, "write tanh(…) without 'np.'"),
    ("L = sign(x)", 1, 5, "slope of |x|"),
    ("L = 1 if x > 0 else 0", 1, 5, "cannot branch"),
    ("L = x > 0", 1, 5, "cannot branch"),
    ("L = 1if x else 2", 1, 5, "put a space between the number 1 and 'if'"),
    ("L = |x", 1, 5, "this | is never closed"),
    ("L = √", 1, 5, "√ needs something"),
    ("L = x ¢ 2", 1, 7, "'¢' (U+00A2) is not part of the language"),
])
def test_errors_that_teach(src, line, col, words):
    e = _refused(src)
    assert (e.line, e.col) == (line, col), str(e)
    assert words in e.message, e.message


def test_unknown_input_lists_the_close_ones():
    p = parse("L = weight1*x + weight2*x + bias")
    with pytest.raises(InputError) as info:
        p.run({"weight": 1, "x": 1, "weight1": 1, "weight2": 1, "bias": 1})
    assert "unknown input 'weight' (did you mean 'weight" in str(info.value)
    assert "'weight1'" in str(info.value) and "'weight2'" in str(info.value)
    why = p.unused({"weigth1": 1, "x": 2, "L": 3})
    assert set(why) == {"weigth1", "L"}
    assert why["weigth1"].startswith("unknown input 'weigth1' (did you mean 'weight1' or ")
    assert why["L"] == "'L' is computed by the program, not an input (line 1 assigns it); its inputs are: weight1, x, weight2, bias"
    run = p.run({"weight1": 1, "weight2": 2, "x": 3, "bias": 4, "extra": 5}, unused="ignore")
    assert run.value == 13


def test_unused_at_value_is_a_warning_not_a_failure(capsys):
    from chainrule.cli import main
    assert main(["grad", "a = 2*x; L = a*x", "--at", "x=3", "y=1", "a=5"]) == 0
    out, err = capsys.readouterr()
    assert "L = 18" in out
    assert err.splitlines() == [
        "chainrule: warning: --at y=1 is not used: unknown input 'y': this program's inputs are: x",
        "chainrule: warning: --at a=5 is not used: 'a' is computed by the program, not an input (line 1 assigns it); "
        "its inputs are: x"]
    assert main(["step", "L = (w*x)**2", "--at", "w=1", "x=2", "wx=3", "--lr", "0.1"]) == 0
    err = capsys.readouterr().err
    assert "chainrule: warning: --at wx=3 is not used: unknown input 'wx' (did you mean " in err
    assert "'w'" in err and "'x'" in err


@pytest.mark.parametrize("at, words", [
    ("x=1,5", "--at 'x=1,5': one value per input is expected (x=1); a decimal is written with a point (x=1.5)"),
    ("x=1,2,3", "one value per input is expected"),
    ("x=−", "'−' is not a number"),
])
def test_at_says_one_value_is_expected(capsys, at, words):
    from chainrule.cli import main
    assert main(["grad", "L = x*2", "--at", at]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and words in err, err


def test_at_still_takes_commas_between_inputs(capsys):
    from chainrule.cli import main, parse_at
    assert parse_at(["x=1,y=2", "z=−3", "w₁=4"]) == {"x": 1.0, "y": 2.0, "z": -3.0, "w1": 4.0}
    assert main(["grad", "L = σ(z)·w₁", "--at", "z=0", "w₁=2"]) == 0
    assert "L = 1" in capsys.readouterr().out


def test_internal_op_names_never_appear_in_messages():
    # the op table's row for a constant exponent is `powc`; a program writes pow or **
    for src, at in [("L = x**0.5", {"x": -1}), ("L = pow(x, 0.5)", {"x": -1}), ("L = x^0.5", {"x": -4}),
                    ("L = (−1)**0.5*x", {"x": 1}), ("L = 0**-1*x", {"x": 1})]:
        with pytest.raises(ProgramError) as info:
            evaluate(src, at)
        assert "powc" not in str(info.value) and "pow(" in str(info.value), str(info.value)
    # and no message template in the language mentions an op row that is not a function name
    import re
    from pathlib import Path
    source = Path(lang.__file__).read_text(encoding="utf-8")
    messages = re.findall(r'(?:ProgramError|InputError)\(\s*f?"([^"]*)"', source)
    assert messages and not any("powc" in m for m in messages)
