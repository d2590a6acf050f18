"""Checked practice: the answer reader and checker, the problems' numbers, JSON, seeds, the terminal
session and the printable sheet (chainrule.lab.practice)."""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from chainrule.cli import main
from chainrule.lab import practice
from chainrule.lab.practice import AnswerError, Rng, at, check_answer, generate, parse_answer


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------
# Reading answers: never eval, the forms people type
# --------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("-0.5", -0.5), ("\u22120.5", -0.5), ("\u2013 0.5".replace(" ", ""), -0.5), (".25", 0.25), ("2.5e-1", 0.25),
    ("2.5E\u22121", 0.25), ("+3", 3.0), ("  4 ", 4.0), ("1/4", 0.25), ("\u22123/8", -0.375), ("1 / 32", 1 / 32),
    ("0.5/2", 0.25), ("7.", 7.0), ("1e3", 1000.0),
])
def test_parse_answer_reads_the_forms_people_type(text, value):
    assert parse_answer(text).value == value


@pytest.mark.parametrize("text, says", [
    ("", "no answer"), ("   ", "no answer"), ("abc", "is not a number"), ("2,5", "with a point (2.5)"),
    ("1/0", "cannot divide by 0"), ("inf", "finite"), ("nan", "finite"), ("-Infinity", "finite"),
    ("1/2/3", "is not a number"), ("__import__('os')", "is not a number"), ("2**3", "is not a number"),
    ("1e999", "too large"), ("0x10", "is not a number"), ("1_000", "is not a number"), ("\u0661", "is not a number"),
    ("3" * 100, "characters long"), ("1e99999", "too large"), ("1/1e999", "too large"), ("1/0.0", "cannot divide by 0"),
])
def test_parse_answer_refuses_with_a_message_saying_what_to_type(text, says):
    with pytest.raises(AnswerError) as e:
        parse_answer(text)
    assert says in str(e.value)


def test_parse_answer_never_evaluates(monkeypatch):
    import builtins
    monkeypatch.setattr(builtins, "eval", lambda *a: pytest.fail("eval called"))
    for text in ("1/4", "1+1", "(1)", "open('x')"):
        try:
            parse_answer(text)
        except AnswerError:
            pass


@pytest.mark.parametrize("text, truth, ok, note", [
    ("8", 8.0, True, ""),                    # right
    ("7", 8.0, False, ""),                   # wrong
    ("-8", 8.0, False, "sign"),              # the sign slip
    ("1/32", 0.03125, True, ""),             # a fraction
    ("0.03125", 0.03125, True, ""),
    ("0.031", 0.03125, True, "rounded"),     # rounded to the decimals typed
    ("0.03", 0.03125, False, "close"),       # 4 % off: close, not right
    ("0.001", 0.5 ** 10, True, "rounded"),   # the lesson's 0.5¹⁰ ≈ 0.001
    ("0.002", 0.5 ** 10, False, ""),
    ("0.731", 0.7310585786300049, True, ""),   # three significant digits of σ(1)
    ("0.7", 0.7310585786300049, False, "close"),
    ("1/3", 0.3333333333333333, True, ""),
    ("0.333", 1 / 3, True, ""),
    ("0", 0.0, True, ""),
    ("0.0", 0.0, True, ""),
    ("0.1", 0.0, False, ""),
    ("−0.2", -0.2, True, ""),
    (".2", -0.2, False, "sign"),
])
def test_check_answer(text, truth, ok, note):
    v = check_answer(text, truth)
    assert (v.ok, v.note) == (ok, note), v


def test_check_answer_refuses_malformed():
    with pytest.raises(AnswerError):
        check_answer("eight", 8.0)


# --------------------------------------------------------------------------
# The problems' numbers: the engine's, and the practice lesson's own
# --------------------------------------------------------------------------

def test_the_practice_lessons_chain_and_step():
    """Seed 001, part 1: a0 = 1, w1 = 1, w2 = 2, w3 = 2, y = 3, lr 0.1."""
    p = at("chain", {"a0": 1, "w1": 1, "w2": 2, "w3": 2, "y": 3})
    assert p.answers == {"a1": 1, "a2": 2, "a3": 4, "C": 1, "dC/da3": 2, "dC/dw1": 8, "dC/dw3": 4}
    s = at("step", {"a0": 1, "w1": 1, "w2": 2, "w3": 2, "y": 3}, lr=0.1)
    assert s.answers["dC/dw1"] == 8 and s.answers["w1_new"] == pytest.approx(0.2, abs=1e-15)
    worked = p.to_dict()["solution"]
    assert worked["dC/dw1"]["worked"][0] == "∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 2 · 2 · 1 = 8"
    assert "∂C/∂w₃ = ∂C/∂a₃ · ∂a₃/∂w₃ = 2 · 2 = 4" in worked["dC/dw3"]["worked"]
    assert worked["C"]["worked"] == ["C = (a3 − y)^2 = (4 − 3)^2 = 1"]
    assert s.to_dict()["solution"]["w1_new"]["worked"] == ["w1_new = w1 − lr · ∂C/∂w1 = 1 − 0.1 · 8 = 0.2"]


def test_the_practice_lessons_vanishing_gradient():
    """Seed 001, part 2: 0.5⁵ = 1/32 = 0.03125, and 0.5¹⁰ ≈ 0.001."""
    p = at("vanish", {"f": 0.5, "n": 5})
    assert p.answers == {"p": 0.03125, "q": 0.0009765625}
    assert check_answer("1/32", p.answers["p"]).ok and check_answer("0.001", p.answers["q"]).ok


def test_the_refreshed_neuron_and_local_gradients():
    """Seed 002: ∂L/∂z = a − y for a sigmoid with cross-entropy; the local gradients to memorise."""
    p = at("sigmoid-bce", {"w": 1, "x": 2, "b": -1, "y": 1})
    a = 1 / (1 + math.exp(-1))
    assert p.answers["a"] == pytest.approx(a, rel=1e-15)
    assert p.answers["dL/dz"] == pytest.approx(a - 1, rel=1e-12)
    assert p.answers["dL/dw"] == pytest.approx((a - 1) * 2, rel=1e-12)
    assert at("local-grad:sigmoid", {"z": 0}).answers == {"dout/dz": 0.25}
    assert at("local-grad:relu", {"z": -0.5}).answers == {"dout/dz": 0.0}
    assert at("local-grad:mul", {"x": 3, "y": -1}).answers == {"dout/dx": -1.0}
    assert at("local-grad:add", {"x": 3, "y": -1}).answers == {"dout/dx": 1.0}
    # seed 003's slice slopes: f = x² + 2y² at (0.5, 0.3): ∂f/∂x = 1.0, ∂f/∂y = 1.2
    q = at("partial", {"c": 1, "d": 0, "e": 2, "x": 0.5, "y": 0.3})
    assert q.answers["df/dx"] == pytest.approx(1.0) and q.answers["df/dy"] == pytest.approx(1.2)


def test_a_dead_relu_passes_nothing_back():
    p = at("relu-net", {"x": 1, "w1": -1, "b1": 0, "w2": 2, "b2": 0, "y": 1})
    assert p.answers["h"] == 0 and p.answers["dL/dw1"] == 0 and p.answers["dL/dw2"] == 0
    assert not practice._acceptable(p.template, p.answers)   # dL/dw2 = 0: generate draws again


@pytest.mark.parametrize("kind", practice.KINDS)
def test_every_kind_draws_friendly_numbers_reproducibly(kind):
    seen = set()
    for seed in range(25):
        p = generate(kind, seed)
        assert p.kind == kind and p.seed == seed
        for name, v in p.inputs.items():
            assert v in p.template.choices[name]
        assert all(math.isfinite(a) and abs(a) <= practice.MAX_ANSWER for a in p.answers.values())
        assert all(p.answers[k] != 0 for k in p.template.nonzero)
        again = generate(kind, seed)
        assert again.to_dict() == p.to_dict()
        seen.add(json.dumps(p.inputs, sort_keys=True) + p.template.name)
    assert len(seen) > 5, "seeds should give different problems"


def test_the_generator_is_mulberry32():
    """The reference values of mulberry32 (as in practice.js: the page draws the same numbers)."""
    r = Rng(1)
    assert [r.random() for _ in range(3)] == [0.6270739405881613, 0.002735721180215478, 0.5274470399599522]
    r = Rng(2 ** 32 - 1)
    assert [r.random() for _ in range(3)] == [0.8964226141106337, 0.189478256739676, 0.7156526781618595]


# --------------------------------------------------------------------------
# The command: JSON, errors
# --------------------------------------------------------------------------

def test_practice_json_shape(capsys):
    code, out, err = run(capsys, "practice", "--kind", "step", "--seed", "7", "--json")
    assert code == 0 and err == ""
    d = json.loads(out)
    assert set(d) >= {"kind", "problem", "answers", "solution"} and d["kind"] == "step" and d["seed"] == 7
    assert set(d["problem"]) >= {"title", "story", "program", "inputs", "questions", "lr"}
    keys = [q["key"] for q in d["problem"]["questions"]]
    assert keys == list(d["answers"]) == list(d["solution"]) == ["C", "dC/dw1", "w1_new"]
    for s in d["solution"].values():
        assert s["worked"] and all(isinstance(line, str) for line in s["worked"]) and s["slip"]
    p = d["problem"]
    assert d["answers"]["w1_new"] == pytest.approx(p["inputs"]["w1"] - p["lr"] * d["answers"]["dC/dw1"])
    code, again, _ = run(capsys, "practice", "--kind", "step", "--seed", "7", "--json")
    assert again == out


def test_practice_json_for_every_kind(capsys):
    for kind in practice.KINDS:
        code, out, _ = run(capsys, "practice", "--kind", kind, "--seed", "1", "--json")
        d = json.loads(out)
        assert code == 0 and d["kind"] == kind and d["answers"]


@pytest.mark.parametrize("argv, says", [
    (["--kind", "nope"], "invalid choice"), (["--seed", "-1"], "whole number"), (["--seed", "x"], "whole number"),
    (["sheet", "--count", "0", "-o", "x.html"], "from 1 to 200"), (["sheet", "--count", "3"], "-o"),
])
def test_practice_bad_options_are_one_line(capsys, argv, says):
    code, out, err = run(capsys, "practice", *argv)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --------------------------------------------------------------------------
# The terminal session (a real process: stdin, EOF, Ctrl-C)
# --------------------------------------------------------------------------

def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True, text=True, timeout=120,
                          **kw)


def test_session_checks_each_answer_and_explains_a_slip():
    lesson = at("chain", {"a0": 1, "w1": 1, "w2": 2, "w3": 2, "y": 3})
    p = generate("chain", 11)
    answers = [p.answers[a.key] for a in p.template.asks]
    typed = ["hello", repr(answers[0])] + [repr(a) for a in answers[1:5]] + [repr(-answers[5]) if answers[5] else "99",
                                                                              "1/1" if answers[6] == 1 else "12345"]
    r = _cli("practice", "--kind", "chain", "--seed", "11", input="\n".join(typed) + "\n")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    out = r.stdout
    assert "'hello' is not a number; type a number such as 0.25" in out
    assert out.count("✓ right") >= 5 and "✗ not" in out
    assert "Why this slip is common: The last factor is the input that w1 multiplies" in out
    assert p.to_dict()["solution"]["dC/dw1"]["worked"][0] in out    # the engine's chain for that step
    assert "of 7 right" in out and lesson.answers["dC/dw1"] == 8


def test_session_end_of_input_is_a_clean_exit():
    r = _cli("practice", "--kind", "vanish", "--seed", "1", input="")
    assert r.returncode == 0 and "stopped" in r.stdout and r.stderr == ""


def test_session_ctrl_c_is_a_clean_exit():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "practice", "--kind", "chain", "--seed", "2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = ""
        deadline = time.monotonic() + 60
        while "1/7" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.read(1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err and "stopped" in out


# --------------------------------------------------------------------------
# The printable sheet
# --------------------------------------------------------------------------

def test_sheet_has_the_problems_then_the_key_on_its_own_page(tmp_path, capsys):
    path = tmp_path / "sheet.html"
    code, out, err = run(capsys, "practice", "sheet", "--count", "10", "--seed", "5", "-o", str(path))
    assert code == 0 and "10 problems" in err
    html = path.read_text(encoding="utf-8")
    problems = practice.sheet(10, 5)
    assert [p.kind for p in problems[:7]] == list(practice.KINDS)     # every kind in turn
    assert html.count('<section class="problem">') == 10
    head, key = html.split('<section class="key">')
    assert ".key { break-before: page; page-break-before: always; }" in html
    for p in problems:
        for a in p.template.asks:
            assert practice.fmt(p.answers[a.key]) in key
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert run(capsys, "practice", "sheet", "--count", "10", "--seed", "5", "-o", "-")[1] == html


# --------------------------------------------------------------------------
# The page's generator and checker (practice.js, in node): the same problems, numbers and verdicts
# --------------------------------------------------------------------------

NODE = shutil.which("node")


def _node(tmp_path, body: str):
    from importlib import resources

    from chainrule.viz.html import player_assets

    if NODE is None:
        pytest.skip("node is not on PATH (the README's test command installs it)")
    js = player_assets()[0] + "\n" + resources.files("chainrule.lab").joinpath("practice.js").read_text("utf-8")
    script = tmp_path / "t.js"
    script.write_text(js + "\nconst data = " + json.dumps(practice.practice_data()) + ";\n" + body, encoding="utf-8")
    r = subprocess.run([NODE, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_the_page_draws_the_same_problems_with_the_same_numbers_and_worked_lines(tmp_path):
    got = _node(tmp_path, """
const out = [];
for (const kind of data.kinds) for (let seed = 0; seed < 12; seed++) {
  const p = ChainrulePractice.generate(data, kind, seed);
  const worked = {};
  for (const a of p.template.asks) worked[a.key] = ChainrulePractice.worked(p, a);
  out.push({kind, seed, template: p.template.name, inputs: p.inputs, lr: p.lr, answers: p.answers, worked});
}
for (const seed of [0, 5, 99, 4294967295]) {
  const p = ChainrulePractice.generate(data, null, seed);
  out.push({kind: null, seed, template: p.template.name, inputs: p.inputs});
}
console.log(JSON.stringify(out));
""")
    assert len(got) == 12 * len(practice.KINDS) + 4
    for g in got:
        p = generate(g["kind"], g["seed"])
        assert (g["template"], g["inputs"]) == (p.template.name, p.inputs), g
        if g["kind"] is None:
            continue
        assert g["lr"] == p.lr
        for key, value in p.answers.items():
            assert g["answers"][key] == pytest.approx(value, rel=1e-12, abs=1e-15), (g["template"], key)
        for a in p.template.asks:
            assert g["worked"][a.key] == p.worked(a), (g["template"], g["seed"], a.key)


CHECKS = [("8", 8.0), ("7", 8.0), ("-8", 8.0), ("1/32", 0.03125), ("0.031", 0.03125), ("0.03", 0.03125),
          ("0.001", 0.5 ** 10), ("0.002", 0.5 ** 10), ("0.7", 0.7310585786300049), ("1/3", 1 / 3), ("0", 0.0),
          ("0.1", 0.0), ("\u22120.2", -0.2), (".2", -0.2), ("2.5e-1", 0.25), ("1e-999", 0.0)]
MALFORMED = ["", "abc", "2,5", "1/0", "inf", "nan", "1/2/3", "__import__('os')", "1e999", "0x10", "\u0661",
             "3" * 100, "1/1e999", "-Infinity"]


def test_the_page_checks_answers_as_python_does(tmp_path):
    got = _node(tmp_path, f"""
const checks = {json.dumps(CHECKS)}, bad = {json.dumps(MALFORMED)};
const out = {{checks: checks.map(([t, v]) => ChainrulePractice.checkAnswer(t, v)), errors: bad.map((t) => {{
  try {{ ChainrulePractice.parseAnswer(t); return null; }} catch (e) {{ return e.message; }} }})}};
console.log(JSON.stringify(out));
""")
    for (text, truth), js in zip(CHECKS, got["checks"], strict=True):
        py = check_answer(text, truth)
        assert (js["ok"], js["note"], js["given"]) == (py.ok, py.note, py.given), text
    for text, message in zip(MALFORMED, got["errors"], strict=True):
        with pytest.raises(AnswerError) as e:
            parse_answer(text)
        assert message == str(e.value), text


def test_practice_page_and_cards_page_commands_write_one_offline_file(tmp_path, capsys):
    page = tmp_path / "practice.html"
    code, out, err = run(capsys, "practice", "page", "--seed", "3", "--kind", "chain", "-o", str(page))
    assert code == 0 and "practice page" in err
    html = page.read_text(encoding="utf-8")
    assert 'data-chainrule-lab="practice"' in html and "const OPS = {" in html and "ChainrulePractice" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    cards = tmp_path / "cards.html"
    code, out, err = run(capsys, "cards", "--page", "-o", str(cards))
    assert code == 0 and 'data-chainrule-lab="cards"' in cards.read_text(encoding="utf-8")
    code, out, err = run(capsys, "cards", "--page")
    assert code == 2 and "--page needs -o FILE" in err
