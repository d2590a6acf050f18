"""Lessons never contradict their own numbers; `step` says when a step raised the loss."""
from __future__ import annotations

import dataclasses
import json

import pytest

from chainrule.cli import main
from chainrule.lab import lessons
from chainrule.lab.claims import check_claim, check_prose, lesson_numbers, render
from chainrule.lab.lessons import LESSONS, check, check_all
from chainrule.lang import gradient_step, parse
from chainrule.steps import review_step

M = "\u2212"
CHAIN = "a1 = w1*a0; a2 = w2*a1; a3 = w3*a2; C = (a3 - y)**2"
PRACTICE_AT = ["--at", "a0=1", "w1=1", "w2=2", "w3=2", "y=3"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def practice(**changes):
    return dataclasses.replace(LESSONS["chain_practice"], **changes)


# --------------------------------------------------------------------------
# the seed-001 practice step
# --------------------------------------------------------------------------

def test_practice_lesson_says_what_its_step_really_does():
    lesson = LESSONS["chain_practice"]
    assert "which lowers the cost" not in lesson.note
    for words in ("C goes from 1 to 4.84", f"here {M}0.1 · 64 = {M}6.4", "from 4 to 0.8, past the target y = 3",
                  "it overshoots", "at lr 0.05, C falls to 0.36"):
        assert words in lesson.note, words
    # those numbers are the engine's, not typed: the source has fields where the numbers are
    assert "{after_C}" in lesson.sources["note"] and "{lower_lr}" in lesson.sources["note"]
    assert check(lesson).ok, check(lesson).problems


def test_the_old_words_fail_lesson_check():
    old = "The slope was positive, so the step lowered w1, which lowers the cost."
    r = check(practice(note=old, claims=()))
    assert not r.ok
    assert any("makes no claim about C after the step" in p for p in r.problems), r.problems
    assert any("the lesson's step does not lower C (1 → 4.84)" in p for p in r.problems), r.problems
    r = check(practice(note=old, claims=("after_C < C",)))
    assert not r.ok and "the lesson claims after_C < C, but after_C = 4.84 and C = 1" in r.problems, r.problems


def test_lesson_check_exits_1_on_a_lesson_whose_words_disagree(capsys, monkeypatch):
    monkeypatch.setitem(LESSONS, "chain_practice", practice(claims=("after_C < C",)))
    code, out, err = run(capsys, "lesson", "check")
    assert code == 1 and "FAIL  chain_practice" in out and "chain_practice" in err


@pytest.mark.parametrize("intro, problem", [
    ("Forward: a1 = 1, a2 = 2, a3 = 5.", "the lesson says a3 = 5, but chainrule computes a3 = 4"),
    ("∂C/∂w1 = 2 · 2 · 2 · 1 = 9.", "the lesson writes 2 · 2 · 2 · 1 = 9, but 2 · 2 · 2 · 1 is 8"),
    ("dC/dw3 = 2 · a2 = 5.", "the lesson says ∂C/∂w3 = 5, but chainrule computes ∂C/∂w3 = 4"),
    ("0.5⁵ ≈ 0.3", "the lesson writes 0.5⁵ ≈ 0.3, but 0.5⁵ is 0.03125"),
    ("C is {after_Z}.", "cannot fill in the text"),
])
def test_numbers_typed_in_the_prose_are_checked(intro, problem):
    r = check(practice(intro=intro))
    assert not r.ok and any(problem in p for p in r.problems), r.problems


def test_prose_checker_leaves_formulas_and_words_alone():
    nums = lesson_numbers(LESSONS["chain"])
    for text in ("∂C/∂a3 = 2(a3 − y) = 2 (the output's desire)", "z = w×x", "c = b + b = 4a",
                 "y(2.01) = 7.03²", "a change of 0.4209 ≈ 42 · 0.01", "x = 1, w₁ = 2"):
        checked, problems = check_prose(text, nums, "C")
        assert not problems, (text, problems)
    assert check_prose("w₁ = 5", nums, "C")[1] == ["the lesson says w1 = 5, but chainrule computes w1 = 2"]


def test_every_lesson_is_consistent_with_its_words():
    results = check_all()
    assert all(r.ok for r in results), [r.problems for r in results if not r.ok]
    by_name = {r.name: r for r in results}
    # the words were checked too, not only the expected numbers
    assert by_name["chain_practice"].checked >= 25 and by_name["two_layer_relu"].checked >= 30


def test_vanishing_lesson_ratio_is_the_engines():
    lesson = LESSONS["vanishing"]
    assert "16 times weaker than a weight one factor from the output" in lesson.intro
    assert check_claim("d_h9 / d_h5 == 30", lesson_numbers(lesson)).startswith("the lesson claims")


def test_claims_and_fields_name_what_is_wrong():
    nums = lesson_numbers(LESSONS["chain_practice"])
    assert check_claim("after_C > C", nums) is None
    assert "not a comparison" in check_claim("after_C", nums)
    assert "does not have" in check_claim("after_Q > C", nums)
    assert render("C: {C} → {after_C}", nums) == "C: 1 → 4.84"


# --------------------------------------------------------------------------
# chainrule step says when a step raised the loss
# --------------------------------------------------------------------------

def test_step_text_says_the_step_raised_the_loss(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "step", CHAIN, *PRACTICE_AT, "--lr", "0.1", "--params", "w1")
    assert code == 0
    assert f"first order: ΔC ≈ −lr·|∇C|² = {M}0.1 · 64 = {M}6.4" in out
    assert f"warning: the step raised C from 1 to 4.84 (+3.84), against the first-order prediction {M}6.4" in out
    assert "it overshot" in out and "warning: lr 0.05 lowers C to 0.36" in out
    code, out, _ = run(capsys, "step", CHAIN, *PRACTICE_AT, "--lr", "0.05", "--params", "w1")
    assert code == 0 and "warning" not in out and f"(change {M}0.64;" in out


def test_step_json_says_the_step_raised_the_loss(capsys):
    code, out, _ = run(capsys, "step", CHAIN, *PRACTICE_AT, "--lr", "0.1", "--params", "w1", "--json")
    d = json.loads(out)
    assert code == 0 and d["raised"] is True and d["lowered"] is False and d["overshot"] is True
    assert d["predicted_change"] == pytest.approx(-6.4) and d["change"] == pytest.approx(3.84)
    assert d["lower_lr"] == 0.05 and d["value_after_lower_lr"] == pytest.approx(0.36)
    assert len(d["warnings"]) == 1 and "raised C from 1 to 4.84" in d["warnings"][0]
    code, out, _ = run(capsys, "step", CHAIN, *PRACTICE_AT, "--lr", "0.05", "--params", "w1", "--json")
    d = json.loads(out)
    assert d["raised"] is False and d["lowered"] is True and "warnings" not in d and d["lower_lr"] is None


def test_review_of_a_step_out_of_the_domain_and_of_a_flat_one():
    r = review_step(gradient_step(parse("L = log(x)"), {"x": 0.5}, 1.0))
    assert r.after is None and r.failed and r.lower_lr == 0.125 and r.lower_after < r.before
    assert "left the domain" in r.warning()
    flat = review_step(gradient_step(parse("L = (x - 1)**2"), {"x": 1.0}, 0.1))
    assert flat.grad_sq == 0 and not flat.failed and flat.warning() is None and flat.predicted_change == 0


def test_lesson_show_prints_the_review_of_its_step(capsys):
    code, out, _ = run(capsys, "lesson", "show", "chain_practice")
    flat = " ".join(out.split())
    assert code == 0 and f"first order: ΔC ≈ −lr·|∇C|² = {M}0.1 · 64 = {M}6.4" in flat
    assert "warning: lr 0.05 lowers C to 0.36" in flat


def test_lessons_module_is_untouched_by_a_replace():
    # dataclasses.replace makes a new lesson (its text filled in again), never changes the registered one
    practice(claims=("after_C < C",))
    assert check(lessons.LESSONS["chain_practice"]).ok
