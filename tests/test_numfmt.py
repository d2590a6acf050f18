"""One way to write numbers: chainrule.numfmt's policy, in every command and view, and in the page's JS."""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import subprocess
from importlib import resources

import pytest

import chainrule
from chainrule import Value, numfmt
from chainrule.cli import build_parser, main
from chainrule.lab.lessons import LESSONS
from chainrule.numfmt import factor, fmt, literal, product, signed, text_width
from chainrule.textfmt import fit_lines, text_table

M = "\u2212"
SIGMOID = "z1 = w1*x + b1; a1 = sigmoid(z1); z2 = w2*a1 + b2; a2 = sigmoid(z2); L = (a2 - y)**2"
SIGMOID_AT = ["--at", "x=1", "w1=0.5", "w2=0.8", "b1=0", "b2=0", "y=1"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("x, digits, want", [
    (3.0, None, "3"), (0.5, None, "0.5"), (-0.0334194364485, None, f"{M}0.0334194"),
    (0.1 + 0.2, None, "0.3"), (49.0, None, "49"), (-0.0, None, "0"), (0.0, None, "0"),
    (1234567.0, None, "1.23457e6"), (1e-7, None, f"1e{M}7"), (-1.5e-5, None, f"{M}1.5e{M}5"),
    (0.0001, None, "0.0001"), (123456.0, None, "123456"), (999999.5, None, "1e6"), (1e21, None, "1e21"),
    (math.inf, None, "inf"), (-math.inf, None, f"{M}inf"), (math.nan, None, "nan"), (None, None, "—"),
    (7, None, "7"), (-12345678901, None, f"{M}12345678901"), (True, None, "True"),
    (-2.6, 2, f"{M}2.6"), (3.14159, 3, "3.14"), (1.0557973504, 11, "1.0557973504"),
    # exact ties round away from zero, as JavaScript's toPrecision does (Python's format rounds to even)
    (0.125, 2, "0.13"), (2.5, 1, "3"), (-2.5, 1, f"{M}3"), (85.0, 1, "9e1"), (0.375, 2, "0.38"),
    (0.15, 1, "0.1"),   # not a tie: the float 0.15 is a little below 0.15
    ([1.0, -2.0], None, f"[1, {M}2]"), ([0.0] * 7, None, "[7 numbers]"),
])
def test_fmt_policy(x, digits, want):
    assert fmt(x, digits) == want


def test_ascii_is_for_text_a_program_or_python_reads():
    assert fmt(-0.3, ascii=True) == "-0.3" and fmt(1e-7, ascii=True) == "1e-7"
    assert fmt(-math.inf, ascii=True) == "-inf" and fmt(math.nan, ascii=True) == "nan"
    assert float(fmt(-1.5e-5, ascii=True)) == -1.5e-5


def test_negative_factors_are_bracketed():
    assert factor(-0.3) == f"({M}0.3)" and factor(2.0) == "2"
    assert product([-2.6, -0.3]) == f"{M}2.6 · ({M}0.3)"
    assert product([0.1, -3.8], " × ") == f"0.1 × ({M}3.8)"
    assert signed(0.3) == "+0.3" and signed(-3.84) == f"{M}3.84" and signed(0.0) == "0"


def test_literal_keeps_every_digit_of_a_constant():
    assert literal(0.1) == "0.1" and literal(-0.5) == f"{M}0.5" and literal(2.0) == "2"
    assert literal(0.123456789) == "0.123456789" and literal(1e-7) == f"1e{M}7"
    assert literal(-0.5, ascii=True) == "-0.5"


def test_printoptions_set_the_digits_for_every_view():
    x = Value(2.0, name="x")
    y = (x / 3.0)
    y.name = "y"
    y.backward()
    with chainrule.printoptions(digits=3):
        assert numfmt.get_digits() == 3
        assert fmt(2 / 3) == "0.667"
        assert "0.667" in chainrule.trace(y)._repr_svg_()
    assert numfmt.get_digits() == 6
    chainrule.set_printoptions(digits=2)
    try:
        assert fmt(2 / 3) == "0.67"
    finally:
        chainrule.set_printoptions()
    assert fmt(2 / 3) == "0.666667"
    for bad in (0, 18, 2.5, "3", True):
        with pytest.raises(ValueError, match="digits must be a whole number from 1 to 17"):
            chainrule.set_printoptions(digits=bad)


def _leaves(parser, path=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for a in subs:
        for name, child in a.choices.items():
            yield from _leaves(child, path + (name,))


def test_every_command_takes_digits():
    leaves = list(_leaves(build_parser()))
    assert len(leaves) >= 8
    for path, p in leaves:
        assert any("--digits" in a.option_strings for a in p._actions), f"chainrule {' '.join(path)} has no --digits"


def test_digits_on_the_command_line(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "grad", "L = x/3", "--at", "x=2", "--digits", "3")
    assert code == 0 and out.splitlines()[0] == "L = 0.667"
    code, out, _ = run(capsys, "--digits", "2", "grad", "L = x/3", "--at", "x=2")
    assert code == 0 and out.splitlines()[0] == "L = 0.67"
    code, out, _ = run(capsys, "explain", SIGMOID, *SIGMOID_AT, "--wrt", "w1", "--digits", "3")
    assert f"= {M}0.756 · 0.235 · 0.8 · 0.235 · 1 = {M}0.0334" in out
    # JSON keeps full precision whatever --digits says
    code, out, _ = run(capsys, "grad", "L = x/3", "--at", "x=2", "--json", "--digits", "2")
    assert json.loads(out)["value"] == 2 / 3
    for bad in ("0", "18", "x", "2.5"):
        code, _, err = run(capsys, "grad", "L = x", "--at", "x=1", "--digits", bad)
        assert code == 2 and "--digits" in err and "from 1 to 17" in err and len(err.splitlines()) == 1
    assert numfmt.get_digits() == 6      # the command's setting does not outlive it


def test_one_minus_sign_in_human_text(capsys):
    code, out, _ = run(capsys, "step", "L = (w*x - y)**2", "--at", "w=1", "x=2", "y=3", "--lr", "0.1")
    assert code == 0 and "-" not in out.replace("--", "")
    assert f"1 {M} 0.1 · ({M}4) = 1.4" in out and f"(change {M}0.9216;" in out
    code, out, _ = run(capsys, "explain", SIGMOID, *SIGMOID_AT, "--wrt", "w1")
    assert f"1 × ({M}0.756037) = {M}0.756037" in out.replace("\n", " ") or f"({M}0.756037)" in out
    assert not any(ch.isdigit() and prev == "-" for prev, ch in zip(out, out[1:], strict=False))


def _widths(text: str) -> int:
    return max(text_width(line) for line in text.splitlines())


@pytest.mark.parametrize("columns", [40, 64, 80, 132])
def test_every_terminal_table_fits_columns(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    commands = [["explain", SIGMOID, *SIGMOID_AT], ["explain", SIGMOID, *SIGMOID_AT, "--ops"],
                ["grad", SIGMOID, *SIGMOID_AT], ["step", SIGMOID, *SIGMOID_AT, "--lr", "0.5"],
                ["lesson", "list"], ["lesson", "check"]] + [["lesson", "show", name] for name in LESSONS]
    for argv in commands:
        code, out, _ = run(capsys, *argv)
        assert code == 0, argv
        assert _widths(out) <= columns, (argv, [ln for ln in out.splitlines() if text_width(ln) > columns][:3])
    r = chainrule.gradcheck(lambda a, b: (a * b + a.sin()) ** 2, [1.0, 2.0])
    assert _widths(str(r)) <= columns


def test_80_columns_when_not_a_terminal(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert numfmt.terminal_width() == shutil.get_terminal_size((80, 24)).columns == 80   # pytest's stdout is a file
    text = chainrule.explain.render_text(_sigmoid_value())
    assert _widths(text) <= 80 and _widths(text) > 60


def _sigmoid_value():
    from chainrule.lang import evaluate
    return evaluate(SIGMOID.replace("; ", "\n"), {"x": 1, "w1": 0.5, "w2": 0.8, "b1": 0, "b2": 0, "y": 1}).trace()


def test_text_table_wraps_cells_and_falls_back_to_records():
    header = ["name", "a long description of the column", "value"]
    rows = [["w₁", "the weight of the first layer, which the step updates", f"{M}0.756037"],
            ["変数", "a name two columns wide per character", "1"]]
    for width in (30, 45, 60, 200):
        lines = text_table(header, rows, indent="  ", rule=True, width=width)
        assert max(text_width(ln) for ln in lines) <= width
        assert f"{M}0.756037" in "\n".join(lines)
    wide = text_table(header, rows, width=200)
    assert len(wide) == 3 and wide[1].startswith("w₁    the weight")
    many = text_table([f"column {i}" for i in range(12)], [[str(i) * 3 for i in range(12)]], width=30)
    assert max(text_width(ln) for ln in many) <= 30 and "column 11: 111111" in "\n".join(many).replace("\n    ", "")
    assert fit_lines(["  " + "word " * 30], 40)[1].startswith("      word")


# ---------------------------------------------------------------------------
# The page's formatter (player.js) is the same algorithm: checked in node on a table of numbers.
# ---------------------------------------------------------------------------

NODE = shutil.which("node")


def _number_table() -> list[tuple[float, int]]:
    rng = random.Random(7)
    vals = [0.125, 2.5, -0.3, 1e-7, 1234567.0, 0.1 + 0.2, 9.9999995, 49.0, 0.0001, 0.00001234, 123456.0,
            999999.5, 1e21, 5e-324, 1.7976931348623157e308, 0.15, 0.35, -2.5, 1e-5, 99999.95, 85.0, -0.0,
            0.0, -0.756036881663, 0.235120499223, 1400567600475105.2]
    for _ in range(400):
        vals.append(rng.choice([-1, 1]) * 10 ** rng.uniform(-30, 30))
        vals.append(round(rng.uniform(-100, 100), rng.randint(0, 6)))
    return [(v, d) for v in vals for d in (1, 2, 3, 4, 6, 12, 15, 17)]


@pytest.mark.skipif(NODE is None, reason="node is not on PATH")
def test_player_js_formats_numbers_as_python_does():
    src = resources.files("chainrule.viz").joinpath("player.js").read_text(encoding="utf-8")
    cases = _number_table() + [(math.inf, 6), (-math.inf, 6), (math.nan, 6)]
    enc = [[v if math.isfinite(v) else str(v), d] for v, d in cases]
    script = src + """
const num = (v) => (typeof v === "string" ? {inf: Infinity, "-inf": -Infinity, nan: NaN}[v] : v);
const cases = %s;
console.log(JSON.stringify(cases.map(([v, d]) => ChainrulePlayer.fmt(num(v), d))));
""" % json.dumps(enc)
    proc = subprocess.run([NODE, "-"], input=script, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    bad = [(v, d, g, fmt(v, d)) for (v, d), g in zip(cases, got, strict=True) if g != fmt(v, d)]
    assert not bad, bad[:10]
    assert len(got) == len(cases) > 3000


def test_player_data_carries_the_digits():
    from chainrule.viz.html import player_data
    t = _sigmoid_value()
    assert player_data(t)["digits"] == 6
    with chainrule.printoptions(digits=3):
        assert player_data(t)["digits"] == 3


# ---------------------------------------------------------------------------
# One module writes numbers: the other spellings moved here, and no view keeps its own
# ---------------------------------------------------------------------------

def test_counts_shapes_constants_percentages_and_quantities():
    from chainrule.numfmt import constant, count, fixed, percent, shape
    assert [count(4), count(10 ** 6), count(2 ** 60, short=True)] == ["4", "1,000,000", "2⁶⁰"]
    assert count(2 ** 60) == "2⁶⁰ = 1,152,921,504,606,846,976" and count(3 * 10 ** 20, short=True) == "≈ 3e20"
    assert [shape([4, 5]), shape([3]), shape([])] == ["(4, 5)", "(3,)", "()"]
    assert [constant(0.5), constant(-0.1), constant(-1), constant((0, 2))] == ["0.5", "−0.1", "-1", "(0, 2)"]
    assert [percent(0.93456), percent(0.93456, 2), percent(1.0), percent(0.5, 0, sep=" ")] == ["93.5%", "93.46%", "100.0%", "50 %"]
    assert [fixed(2.5), fixed(12.0), fixed(-0.25, 2)] == ["2.5", "12.0", "−0.25"]


# Drawings place boxes with fixed-point coordinates (x="12.5"); those are not numbers shown to people.
_GEOMETRY = {"viz/svg.py", "viz/dot.py"}


def test_no_python_view_formats_a_number_its_own_way():
    import ast
    from pathlib import Path
    src = Path(chainrule.__file__).parent
    found = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if rel == "numfmt.py" or rel in _GEOMETRY:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            spec = node.format_spec if isinstance(node, ast.FormattedValue) else None
            text = "".join(v.value for v in getattr(spec, "values", []) if isinstance(v, ast.Constant))
            literal = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
            if re.search(r"[gGeEf%]$", text) or re.search(r"%[-+ 0#]*\d*(\.\d+)?[gGeEf]", literal):
                found.append(f"{rel}:{node.lineno}")
    assert not found, f"numbers formatted outside chainrule.numfmt: {found}"
