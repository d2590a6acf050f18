"""The command line: outputs, exact JSON, and every error path (one line, status 2, no traceback)."""
import json
import os
import re
import subprocess
import sys
import types

import pytest

from chainrule import cli
from chainrule.cli import main, parse_at

RELU = "z1 = w1*x; a1 = relu(z1); z2 = w2*a1; L = (z2 - y)**2"
CHAIN = "a1 = w1*a0; a2 = w2*a1; a3 = w3*a2; C = (a3 - y)**2"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bad(capsys, *argv) -> str:
    """Run a command that must fail on bad input: status 2, one line on stderr, nothing on stdout."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------
# grad
# --------------------------------------------------------------------------

def test_grad_json_exact(capsys):
    code, out, err = run(capsys, "grad", "L = (3*x+1)**2", "--at", "x=2", "--json")
    assert code == 0 and err == ""
    assert out == '{"output": "L", "value": 49.0, "grads": {"x": 42.0}}\n'


def test_grad_json_full_precision(capsys):
    code, out, _ = run(capsys, "grad", "y = 0.1*x + 0.2*z", "--at", "x=1", "z=1", "--json")
    obj = json.loads(out)
    assert obj["value"] == 0.1 + 0.2 == 0.30000000000000004    # repr round-trip, not rounded
    assert '"value": 0.30000000000000004' in out
    assert obj["grads"] == {"x": 0.1, "z": 0.2}


def test_grad_json_non_finite_gradient_is_null_with_a_warning(capsys):
    code, out, _ = run(capsys, "grad", "y = sqrt(x)", "--at", "x=0", "--json")
    assert code == cli.EXIT_NONFINITE == 3
    obj = json.loads(out)
    assert obj["grads"] == {"x": None} and obj["value"] == 0.0
    assert len(obj["warnings"]) == 1 and "infinite slope" in obj["warnings"][0]


def test_grad_text_table(capsys):
    code, out, _ = run(capsys, "grad", RELU, "--at", "x=2", "y=1", "w1=0.5", "w2=-0.3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "L = 1.69"
    assert lines[2].split() == ["input", "value", "∂L/∂input"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows == {"x": ["2", "0.39"], "w1": ["0.5", "1.56"], "w2": ["−0.3", "−2.6"], "y": ["1", "2.6"]}


def test_at_forms(capsys):
    for argv in (["--at", "x=2", "--at", "y=3"], ["--at", "x=2", "y=3"], ["--at", "x=2, y=3"],
                 ["--at", "x=2,y=3"], ["--at", "x=2e0", "y=+3"]):
        code, out, _ = run(capsys, "grad", "L = x*y", *argv, "--json")
        assert code == 0 and json.loads(out)["grads"] == {"x": 3.0, "y": 2.0}, argv


def test_parse_at():
    assert parse_at(["x=1", "y=-2.5e1", "z=.5"]) == {"x": 1.0, "y": -25.0, "z": 0.5}
    assert parse_at([]) == {}


def test_program_from_file(capsys, tmp_path):
    f = tmp_path / "prog.txt"
    f.write_text("# the lesson's chain\n" + CHAIN.replace("; ", "\n") + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "grad", f"@{f}", "--at", "a0=1", "w1=2", "w2=3", "w3=0.5", "y=2", "--json")
    assert code == 0
    assert json.loads(out) == {"output": "C", "value": 1.0,
                               "grads": {"w1": 3.0, "a0": 6.0, "w2": 2.0, "w3": 12.0, "y": -2.0}}


def test_program_file_with_byte_order_mark_and_crlf(capsys, tmp_path):
    f = tmp_path / "prog.txt"
    f.write_bytes(b"\xef\xbb\xbfL = 2*x\r\nM = L + 1\r\n")   # as Windows Notepad saves it
    code, out, err = run(capsys, "grad", f"@{f}", "--at", "x=1", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"output": "M", "value": 3.0, "grads": {"x": 2.0}}


def test_program_from_stdin(capsys, monkeypatch):
    import io
    monkeypatch.setattr(sys, "stdin", io.StringIO("L = 2*x\n"))
    code, out, _ = run(capsys, "grad", "@-", "--at", "x=1", "--json")
    assert code == 0 and json.loads(out)["grads"] == {"x": 2.0}


def test_program_from_closed_stdin_is_a_user_error(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)   # what Python gives a process started with `<&-`
    assert "@-: cannot read the program from standard input: it is closed" in bad(capsys, "grad", "@-")


# --------------------------------------------------------------------------
# Every error path: status 2, one line, the place named
# --------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["grad", "L = 2 * log(x)", "--at", "x=-1"],
     "chainrule: error: line 1, column 9: log(-1) is undefined: log needs a positive input (at x)"),
    (["grad", "L = 1 +", "--at", "x=1"], "chainrule: error: line 1, column 8: syntax error"),
    (["grad", "L = expp(x)", "--at", "x=1"],
     "chainrule: error: line 1, column 5: unknown function 'expp': did you mean exp or expm1?"),
    (["grad", "L = x.real", "--at", "x=1"], "chainrule: error: line 1, column 5: not allowed: attribute access"),
    (["grad", "L = x*y", "--at", "x=1"], "chainrule: error: missing value for input 'y': give --at y=VALUE"),
    (["grad", "L = 1/x", "--at", "x=0"], "chainrule: error: line 1, column 5: div(1, 0) is undefined"),
    (["grad", "L = x**2 * 1e300", "--at", "x=1e10"], "too large for a float (overflow)"),
    (["grad", "L = exp(x)", "--at", "x=1000"], "exp(1000) is too large for a float (overflow)"),
    (["grad", "L = x", "--at", "x"], "chainrule: error: --at 'x': expected NAME=VALUE"),
    (["grad", "L = x", "--at", "=1"], "expected NAME=VALUE"),
    (["grad", "L = x", "--at", "x="], "expected NAME=VALUE"),
    (["grad", "L = x", "--at", "x=abc"], "--at 'x=abc': 'abc' is not a number"),
    (["grad", "L = x", "--at", "x=inf"], "the value must be a finite number"),
    (["grad", "L = x", "--at", "x=nan"], "the value must be a finite number"),
    (["grad", "L = x", "--at", "1x=2"], "'1x' is not a variable name"),
    (["grad", "L = x", "--at", "x=1", "x=2"], "--at: 'x' is given twice"),
    (["grad", "@/nonexistent/prog.txt", "--at", "x=1"],
     "chainrule: error: cannot read program file '/nonexistent/prog.txt': no such file"),
    (["grad", "@", "--at", "x=1"], "'@' needs a file name"),
    (["step", "L = x**2", "--at", "x=1", "--lr", "abc"], "--lr 'abc': not a number"),
    (["step", "L = x**2", "--at", "x=1", "--lr", "0"], "--lr 0: the learning rate must be a positive"),
    (["step", "L = x**2", "--at", "x=1", "--lr", "-0.1"], "must be a positive"),
    (["step", "L = x**2", "--at", "x=1", "--lr", "nan"], "must be a positive"),
    (["step", "L = x**2", "--at", "x=1", "--lr", "0.1", "--params", "w"], "--params w: not an input"),
    (["step", "L = log(x)", "--at", "x=-1", "--lr", "0.1"], "line 1, column 5: log(-1) is undefined"),
    (["explain", "L = x**2", "--at", "x=1", "--wrt", "q"], "--wrt q: the program has no variable named 'q'"),
    (["explain", "L = log(x)", "--at", "x=0"], "log(0) is undefined"),
    (["lesson", "show", "chian"], "no lesson named 'chian' (did you mean chain?)"),
    (["grad"], "chainrule grad: error: the following arguments are required: PROGRAM"),
    (["grad", "L = x", "--at"], "argument --at: expected at least one argument"),
    (["step", "L = x", "--at", "x=1"], "the following arguments are required: --lr"),
    (["explain", "L = x", "--at", "x=1", "--format", "pdf"], "invalid choice: 'pdf'"),
    (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
])
def test_bad_input_is_one_line_and_status_2(capsys, argv, message):
    line = bad(capsys, *argv)
    assert message in line


def test_dir_as_program_file(capsys, tmp_path):
    assert "it is a directory" in bad(capsys, "grad", f"@{tmp_path}", "--at", "x=1")


def test_no_command_prints_help(capsys):
    code, out, err = run(capsys)
    assert code == 2 and "usage: chainrule" in err


def test_version_and_help(capsys):
    from chainrule import __version__
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"chainrule {__version__}"
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for cmd in ("grad", "explain", "step", "lesson"):
        assert cmd in out


def test_internal_error_is_one_line_status_1(capsys, monkeypatch):
    def boom(args):
        raise RuntimeError("something broke\ninside")
    monkeypatch.setattr(cli, "cmd_grad", boom)
    monkeypatch.delenv("CHAINRULE_DEBUG", raising=False)
    code, out, err = run(capsys, "grad", "L = x", "--at", "x=1")
    assert code == 1
    assert err.splitlines() == ["chainrule: internal error (a bug in chainrule, please report it): "
                                "RuntimeError: something broke inside (set CHAINRULE_DEBUG=1 to see the traceback)"]
    monkeypatch.setenv("CHAINRULE_DEBUG", "1")
    code, out, err = run(capsys, "grad", "L = x", "--at", "x=1")
    assert code == 1 and "Traceback" in err and "RuntimeError: something broke" in err


# --------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------

def test_explain_text_has_forward_backward_and_chain(capsys):
    code, out, err = run(capsys, "explain", CHAIN, "--at", "a0=1", "w1=2", "w2=3", "w3=0.5", "y=2", "--wrt", "w1")
    assert code == 0 and err == ""
    assert "Forward pass" in out and "Backward pass" in out
    assert "∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 0.5 · 3 · 1 = 3" in out
    assert "∂C/∂w₃ =" not in out   # only the chain asked for


def test_explain_default_is_every_input(capsys):
    # f = x² + 2y² at (0.5, 0.3): ∂f/∂x = 2x = 1, ∂f/∂y = 4y = 1.2 (by hand)
    code, out, _ = run(capsys, "explain", "f = x**2 + 2*y**2", "--at", "x=0.5", "y=0.3")
    assert code == 0
    assert "∂f/∂x = 2·x = 1\n" in out and "∂f/∂y = 2·2·y = 1.2\n" in out
    code, out, _ = run(capsys, "explain", "f = x**2 + 2*y**2", "--at", "x=0.5", "y=0.3", "--format", "json")
    chains = json.loads(out)["chains"]
    assert code == 0 and [c["wrt"] for c in chains] == ["x", "y"]
    assert [c["grad"] for c in chains] == pytest.approx([1.0, 1.2], rel=1e-15)
    assert [c["total"] for c in chains] == pytest.approx([1.0, 1.2], rel=1e-15)
    assert all(c["matches"] is True for c in chains)


def test_explain_json_and_markdown(capsys):
    code, out, _ = run(capsys, "explain", CHAIN, "--at", "a0=1", "w1=2", "w2=3", "w3=0.5", "y=2",
                       "--wrt", "w1", "w3", "--format", "json")
    d = json.loads(out)
    assert code == 0 and d["output"] == "C"
    chains = {c["wrt"]: c for c in d["chains"]}
    assert set(chains) == {"w1", "w3"}
    assert chains["w1"]["grad"] == 3.0 and chains["w3"]["grad"] == 12.0
    assert [f["value"] for f in chains["w1"]["paths"][0]["factors"]] == [2.0, 0.5, 3.0, 1.0]
    code, out, _ = run(capsys, "explain", CHAIN, "--at", "a0=1", "w1=2", "w2=3", "w3=0.5", "y=2",
                       "--format", "markdown")
    assert code == 0 and out.startswith("#") and "|" in out


def test_explain_ops_mode(capsys):
    # u = 3x + 1 = 7, y = u² = 49: ∂y/∂x = 2u · 3 = 42; ops mode puts the unnamed 3·x in as its own link
    code, out, _ = run(capsys, "explain", "u = 3*x + 1; y = u**2", "--at", "x=2", "--ops", "--format", "json")
    d = json.loads(out)
    assert code == 0 and d["mode"] == "ops"
    (chain,) = d["chains"]
    assert chain["wrt"] == "x" and chain["grad"] == 42.0 and chain["total"] == 42.0 and chain["path_count"] == 1
    (path,) = chain["paths"]
    assert [f["value"] for f in path["factors"]] == [14.0, 1.0, 3.0] and path["product"] == 42.0
    code, out, _ = run(capsys, "explain", "u = 3*x + 1; y = u**2", "--at", "x=2", "--format", "json")
    (names,) = json.loads(out)["chains"]
    assert [f["value"] for f in names["paths"][0]["factors"]] == [14.0, 3.0]     # names mode: u is the link


def test_explain_prints_trace_warnings(capsys, monkeypatch):
    trace_module = sys.modules["chainrule.trace"]   # (chainrule.trace the attribute is the function)
    real = trace_module.trace

    def warned(output, backward=True):
        t = real(output, backward)
        t.warnings.append("x.grad was already 1 before this backward pass")
        return t
    monkeypatch.setattr(trace_module, "trace", warned)
    code, out, err = run(capsys, "explain", "L = 2*x", "--at", "x=1")
    assert code == 0 and out
    assert err == "chainrule: warning: x.grad was already 1 before this backward pass\n"


# --------------------------------------------------------------------------
# step
# --------------------------------------------------------------------------

def test_step_json(capsys):
    code, out, _ = run(capsys, "step", RELU, "--at", "x=2", "y=1", "w1=0.5", "w2=-0.3", "--lr", "0.1",
                       "--params", "w1", "w2", "--json")
    d = json.loads(out)
    assert code == 0
    assert set(d) == {"output", "lr", "params", "value_before", "grads", "new_values", "value_after",
                      "change", "predicted_change", "raised", "lowered", "overshot", "lower_lr",
                      "value_after_lower_lr"}
    assert d["raised"] is False and d["lowered"] is True and d["lower_lr"] is None
    assert d["output"] == "L" and d["lr"] == 0.1 and d["params"] == ["w1", "w2"]
    assert d["value_before"] == pytest.approx(1.69, rel=1e-12)
    assert d["grads"] == pytest.approx({"w1": 1.56, "x": 0.39, "w2": -2.6, "y": 2.6}, rel=1e-12)
    assert d["new_values"] == pytest.approx({"w1": 0.344, "x": 2.0, "w2": -0.04, "y": 1.0}, rel=1e-12)
    assert d["value_after"] == pytest.approx(1.02752 ** 2, rel=1e-12)


def test_step_params_comma_separated_and_default(capsys):
    code, out, _ = run(capsys, "step", "L = (w*x - y)**2", "--at", "w=1", "x=2", "y=3", "--lr", "0.1",
                       "--params", "w", "--json")
    d = json.loads(out)
    # ∂L/∂w = 2(wx − y)x = −4 → w = 1.4; L after = (2.8 − 3)² = 0.04
    assert d["new_values"]["w"] == pytest.approx(1.4) and d["value_after"] == pytest.approx(0.04)
    code, out, _ = run(capsys, "step", "L = (w - 3)**2", "--at", "w=1", "--lr", "0.25", "--json")
    assert json.loads(out)["new_values"] == {"w": 2.0} and json.loads(out)["params"] == ["w"]


def test_step_text(capsys):
    code, out, _ = run(capsys, "step", RELU, "--at", "x=2", "y=1", "w1=0.5", "w2=-0.3", "--lr", "0.1",
                       "--params", "w1,w2")
    assert code == 0
    assert out.splitlines()[0] == "before: L = 1.69"
    assert "0.5 − 0.1 · 1.56 = 0.344" in out
    assert "−0.3 − 0.1 · (−2.6) = −0.04" in out
    assert "(not updated)" in out
    assert "after:  L = 1.0558  (change −0.634203; first order:" in out
    code, out, _ = run(capsys, "step", RELU, "--at", "x=2", "y=1", "w1=0.5", "w2=-0.3", "--lr", "0.1",
                       "--params", "w1,w2", "--digits", "11")
    assert "after:  L = 1.0557973504" in out


def test_step_into_undefined_point(capsys):
    code, out, _ = run(capsys, "step", "L = log(x)", "--at", "x=0.5", "--lr", "1", "--json")
    d = json.loads(out)
    assert code == 0 and d["new_values"] == {"x": -1.5} and d["value_after"] is None
    assert "log(-1.5) is undefined" in d["error_after"]
    code, out, _ = run(capsys, "step", "L = log(x)", "--at", "x=0.5", "--lr", "1")
    assert "after:  L is undefined at the new values" in out


# --------------------------------------------------------------------------
# lessons
# --------------------------------------------------------------------------

def test_lesson_list(capsys):
    from chainrule.lab.lessons import LESSONS
    code, out, _ = run(capsys, "lesson", "list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[1:] if not line.startswith(" ")]   # not wrapped titles
    assert names == list(LESSONS)


def test_lesson_check_passes(capsys):
    from chainrule.lab.lessons import LESSONS
    code, out, err = run(capsys, "lesson", "check")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == len(LESSONS) + 1
    assert all(line.startswith("ok    ") for line in lines[:-1])
    assert lines[-1].startswith(f"all {len(LESSONS)} lessons match")


def test_lesson_check_fails_on_mismatch(capsys, monkeypatch):
    import dataclasses
    from chainrule.lab.lessons import LESSONS
    lesson = LESSONS["square_3x_plus_1"]
    monkeypatch.setitem(LESSONS, "square_3x_plus_1", dataclasses.replace(lesson, grads={"x": 41}))
    code, out, err = run(capsys, "lesson", "check")
    assert code == 1
    assert "FAIL  square_3x_plus_1   ∂y/∂x: the lesson says 41, chainrule got 42.0" in out
    assert "1 of 11 lessons do not match: square_3x_plus_1" in err


def test_lesson_show_chain(capsys):
    code, out, _ = run(capsys, "lesson", "show", "chain")
    assert code == 0
    assert out.startswith("chain: The smallest chain")
    assert "seed 000" in out and "a1 = w1*a0" in out
    assert "∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 0.5 · 3 · 1 = 3" in out
    assert "w1 ← 2 − 0.1 · 3 = 1.7" in out


def test_lesson_show_reuse_right_next_to_wrong(capsys):
    code, out, _ = run(capsys, "lesson", "show", "reuse")
    assert code == 0
    assert "right (topological order):  ∂c/∂a = 4" in out
    assert "WRONG (naive recursion):    ∂c/∂a = 6" in out
    assert "partial sum" in out


def shown_tables(out: str) -> tuple[dict, dict]:
    """The forward table's value and the backward table's incoming gradient, by node label, as printed."""
    forward = out.split("Forward pass", 1)[1].split("Backward pass", 1)[0]
    backward = out.split("Backward pass", 1)[1]
    values = dict(re.findall(r"^  \d+\s+(\S+)\s.*\s(\S+)$", forward, re.M))
    grads = dict(re.findall(r"^  \d+\s+(\S+)\s+([-−]?[\d.]+(?:e[-+−]?\d+)?)\s", backward, re.M))
    minus = str.maketrans("−", "-")   # numbers for people are written with U+2212
    return ({k: v.translate(minus) for k, v in values.items()}, {k: v.translate(minus) for k, v in grads.items()})


@pytest.mark.parametrize("name", ["sigmoid_net", "sigmoid_bce", "chain_practice", "vanishing", "quadratic_2d"])
def test_lesson_show_others(capsys, monkeypatch, name):
    from chainrule.lab.lessons import LESSONS
    monkeypatch.setenv("COLUMNS", "300")   # one line per table row
    lesson = LESSONS[name]
    code, out, err = run(capsys, "lesson", "show", name)
    assert code == 0 and err == "" and "Backward pass" in out
    # the numbers printed are the lesson's own (typed in from its seed), to the 6 digits shown
    values, grads = shown_tables(out)
    assert lesson.expected and lesson.grads
    for var, want in lesson.expected.items():
        assert float(values[var]) == pytest.approx(want, rel=5e-6, abs=1e-12), (var, values.get(var))
    for var, want in lesson.grads.items():
        assert float(grads[var]) == pytest.approx(want, rel=5e-6, abs=1e-12), (var, grads.get(var))


def test_lesson_show_extras(capsys):
    _, out, _ = run(capsys, "lesson", "show", "sigmoid_net")
    assert "the player's 13 steps" in out and "13. [result]" in out
    _, out, _ = run(capsys, "lesson", "show", "sigmoid_bce")
    assert "at several points" in out and "(a - y)*x" in out
    _, out, _ = run(capsys, "lesson", "show", "chain_practice")
    assert "w1 ← 1 − 0.1 · 8 = 0.2" in out


def test_lesson_without_action(capsys):
    code, out, err = run(capsys, "lesson")
    assert code == 2 and "list" in err and "check" in err


# --------------------------------------------------------------------------
# Plugins
# --------------------------------------------------------------------------

def test_plugins_register_commands_and_extend_lesson(capsys, monkeypatch):
    plugin = types.ModuleType("fake_chainrule_plugin")

    def hello(args):
        run_ = cli.run_from_args(args)
        print(f"hello {run_.value}")
        return 0

    def lesson_html(args):
        print(f"html for {args.name}")
        return 0

    def register(subparsers):
        p = subparsers.add_parser("hello")
        cli.add_program_arguments(p)
        p.set_defaults(func=hello)
        q = cli.SUBPARSERS["lesson"].add_parser("html")
        q.add_argument("name")
        q.set_defaults(func=lesson_html)

    plugin.register = register
    monkeypatch.setitem(sys.modules, "fake_chainrule_plugin", plugin)
    monkeypatch.setattr(cli, "PLUGINS", ["fake_chainrule_plugin", "chainrule_no_such_plugin.commands"])
    assert run(capsys, "hello", "y = 2*x", "--at", "x=3") == (0, "hello 6.0\n", "")
    assert run(capsys, "lesson", "html", "chain") == (0, "html for chain\n", "")


def test_missing_plugin_is_skipped_but_a_broken_one_is_a_bug(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "PLUGINS", ["chainrule_no_such_plugin.commands", "chainrule.no_such_module"])
    code, out, _ = run(capsys, "lesson", "list")
    assert code == 0 and "chain" in out
    # a plugin that exists but needs a missing library is not silently dropped
    (tmp_path / "broken_chainrule_plugin.py").write_text("import somedep_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "PLUGINS", ["broken_chainrule_plugin"])
    code, out, err = run(capsys, "lesson", "list")
    assert code == 1 and "internal error" in err and "somedep_not_installed" in err
    assert len(err.splitlines()) == 1


# --------------------------------------------------------------------------
# As a real process: no traceback, exit status 2
# --------------------------------------------------------------------------

def _py(*args, **env):
    e = {**os.environ, **env}
    e.pop("CHAINRULE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True, text=True,
                          env=e, timeout=120)


def test_subprocess_bad_input():
    p = _py("grad", "L = 2 * log(x)", "--at", "x=-1")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == ("chainrule: error: line 1, column 9: log(-1) is undefined: "
                        "log needs a positive input (at x)\n")
    p = _py("grad", "L = x +* 2", "--at", "x=1")
    assert p.returncode == 2 and len(p.stderr.splitlines()) == 1 and "Traceback" not in p.stderr


def test_subprocess_grad_json():
    p = _py("grad", "L = (3*x+1)**2", "--at", "x=2", "--json")
    assert p.returncode == 0 and p.stdout == '{"output": "L", "value": 49.0, "grads": {"x": 42.0}}\n'


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom chainrule.cli import main\nimport contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('matplotlib', 'starlette', 'uvicorn', 'torch', 'sklearn')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_a_huge_program_file_is_refused_without_reading_it_all(capsys):
    code = main(["grad", "@/dev/zero", "--at", "x=1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "characters" in err


def test_a_full_disk_is_not_called_a_bug():
    import subprocess
    import sys
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "chainrule", "lesson", "list"], stdout=full,
                           stderr=subprocess.PIPE, text=True)
    assert p.returncode == 1
    assert p.stderr == "chainrule: error: cannot write the output: No space left on device\n"
