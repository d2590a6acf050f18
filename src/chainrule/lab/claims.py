"""A lesson's words, checked against its numbers.

A lesson's prose may say three kinds of things about numbers, and ``lesson check`` checks each:

* **Generated numbers**: ``{expr}`` in a lesson's intro or note is replaced by the value of
  ``expr`` (chainrule's little language) over the lesson's numbers (:func:`lesson_numbers`):
  ``C goes from {C} to {after_C}``. Such a number cannot disagree with the engine.
* **Typed numbers**, in equations: every ``A = B`` whose sides are both arithmetic
  (``2 · 0.5 · 3 · 1 = 3``, ``0.5⁵ = 1/32``) must hold, to the digits shown (``≈``: within 5 %);
  every ``name = … = number`` for a variable of the program must give its value, and
  ``∂C/∂name = … = number`` (or ``dC/dname``) its gradient.
* **Claims**: a lesson's ``claims`` are comparisons over its numbers (``after_C > C``,
  ``lower_after < C``), each checked. A sentence that says a step lowers or raises the
  cost must be backed by a claim about ``after_<output>``, and a step that does not lower
  the output must be acknowledged by one.

The numbers: every variable of the program at the lesson's inputs (``a3``), its gradient
(``d_a3`` = ∂output/∂a3); with a step, ``lr``, every variable after it (``after_a3``), the
new inputs (``new_w1``), ``change``, the first-order prediction ``predicted_change`` (−lr·|∇C|²),
``grad_sq`` (|∇C|²), ``slope_after`` (the slope along the step where it ended), and — when the
step did not lower the output — ``lower_lr`` and ``lower_after`` (a learning rate that does,
and the output after it), as :mod:`chainrule.steps` finds them.
"""
from __future__ import annotations

import math
import re

from ..errors import ChainruleError
from ..lang import evaluate, parse
from ..numfmt import fmt

__all__ = ["lesson_numbers", "render", "value_of", "check_claim", "check_prose", "unbacked_step_sentences",
           "OPERATORS"]

OPERATORS = ("<=", ">=", "==", "≈", "<", ">")
APPROX = 0.05          # "≈" in prose and claims: within 5 %
_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_SUB = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_SUPER = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9"}
_NUMERIC = set("0123456789.−-+·×/() ") | set(_SUPER)
_IDENT = re.compile(r"[\w₀₁₂₃₄₅₆₇₈₉]")
_GRAD = re.compile(r"(?:∂|\bd)([A-Za-z_][\w₀₁₂₃₄₅₆₇₈₉]*)/(?:∂|d)([A-Za-z_][\w₀₁₂₃₄₅₆₇₈₉]*)$")
_NAME = re.compile(r"(?<![\w₀₁₂₃₄₅₆₇₈₉/∂'’])([A-Za-z_][\w₀₁₂₃₄₅₆₇₈₉]*)$")
_BREAK = re.compile(r"[,;:]|\s[a-z]{3,}\b")       # a side that is more than one expression
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_STEP_WORD = re.compile(r"\b(step|steps|update|updates|descent)\b", re.I)
_DIRECTION = re.compile(r"\b(lower|lowers|lowered|lowering|reduces?|reduced|decreases?|decreased|raises?|raised|"
                        r"raising|increases?|increased|nudges? (?:\w+ ){0,3}(?:down|up))\b", re.I)


# --------------------------------------------------------------------------
# The numbers
# --------------------------------------------------------------------------

def lesson_numbers(lesson) -> dict[str, float]:
    """Every number a lesson's words may use, computed by the engine (see the module docstring)."""
    from ..steps import review_step

    run = lesson.run()
    grads = run.grads()
    numbers: dict[str, float] = {name: v.data for name, v in run.values.items()}
    for name, v in run.values.items():
        numbers[f"d_{name}"] = v.grad if v.grad is not None else grads.get(name, 0.0)
    step = lesson.step()
    if step is not None:
        review = review_step(step)
        numbers["lr"] = step.lr
        numbers.update({f"new_{n}": v for n, v in step.new_values.items()})
        if step.after is not None:
            numbers.update({f"after_{n}": v.data for n, v in step.after.values.items()})
            numbers["change"] = review.change
            numbers["slope_after"] = review.slope_after
        numbers["predicted_change"] = review.predicted_change
        numbers["grad_sq"] = review.grad_sq
        if review.lower_lr is not None:
            numbers["lower_lr"], numbers["lower_after"] = review.lower_lr, review.lower_after
    return numbers


def value_of(expr: str, numbers: dict[str, float]) -> float:
    """``expr`` (chainrule's language) over ``numbers``; an unknown name is a ChainruleError naming it."""
    program = parse(f"value_ = {expr}")
    missing = [n for n in program.inputs if n not in numbers]
    if missing:
        raise ChainruleError(f"'{expr}' uses {', '.join(missing)}, which this lesson does not have "
                             f"(it has: {', '.join(sorted(numbers))})")
    return evaluate(f"value_ = {expr}", {n: numbers[n] for n in program.inputs}).value


def render(template: str, numbers: dict[str, float]) -> str:
    """``{expr}`` fields replaced by their values, written by :func:`chainrule.numfmt.fmt`."""
    return _TEMPLATE.sub(lambda m: fmt(value_of(m.group(1), numbers)), template)


# --------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------

def _split_claim(claim: str) -> tuple[str, str, str]:
    for op in OPERATORS:
        lhs, found, rhs = claim.partition(op)
        if found and lhs.strip() and rhs.strip():
            return lhs.strip(), op, rhs.strip()
    raise ChainruleError(f"claim '{claim}' is not a comparison: write LEFT OP RIGHT with OP one of "
                         f"{' '.join(OPERATORS)}")


def _holds(a: float, op: str, b: float) -> bool:
    tol = 1e-9 * max(abs(a), abs(b), 1e-12)
    return {"<": a < b - tol, ">": a > b + tol, "<=": a <= b + tol, ">=": a >= b - tol,
            "==": math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
            "≈": math.isclose(a, b, rel_tol=APPROX, abs_tol=1e-12)}[op]


def check_claim(claim: str, numbers: dict[str, float]) -> str | None:
    """None if ``claim`` holds, else why not (with both sides' numbers)."""
    try:
        lhs, op, rhs = _split_claim(claim)
        a, b = value_of(lhs, numbers), value_of(rhs, numbers)
    except ChainruleError as e:
        return f"claim '{claim}' cannot be checked: {e}"
    if _holds(a, op, b):
        return None
    return f"the lesson claims {claim}, but {lhs} = {fmt(a)} and {rhs} = {fmt(b)}"


# --------------------------------------------------------------------------
# Equations in the prose
# --------------------------------------------------------------------------

def _arith(text: str) -> float | None:
    """The value of a purely numeric expression as prose writes it (``2(−1.3)``, ``0.5⁵``), or None."""
    t = text.strip().rstrip(".").strip()
    if not t or not any(ch.isdigit() for ch in t) or t.count("(") != t.count(")"):
        return None
    t = t.replace("−", "-").replace("·", "*").replace("×", "*")
    t = re.sub(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]+", lambda m: "**" + "".join(_SUPER[c] for c in m.group(0)), t)
    t = re.sub(r"(\d|\))\s*\(", r"\1*(", t)
    try:
        return evaluate(f"value_ = {t}", {}).value
    except (ChainruleError, ValueError, OverflowError, ZeroDivisionError):
        return None


def _left_run(text: str) -> str | None:
    """The numeric expression that ends ``text`` (the left side of an ``=``), if it is a whole one."""
    i = len(text)
    while i > 0 and text[i - 1] in _NUMERIC:
        i -= 1
    run = text[i:]
    if (i > 0 and _IDENT.match(text[i - 1])) or not run.strip() or run.count("(") != run.count(")"):
        return None
    return run


def _right_run(text: str) -> tuple[str | None, bool]:
    """The numeric expression that starts ``text`` (a right side), and whether it is all of ``text``."""
    j = 0
    while j < len(text) and text[j] in _NUMERIC:
        j += 1
    run = text[:j]
    # "2 (the output's desire)": a bracket after a space opens words, not a product
    while run.rstrip().endswith("(") and run.rstrip()[:-1].endswith(" "):
        run = run.rstrip()[:-1]
    while run.count(")") > run.count("(") and run.rstrip().endswith(")"):    # "(a gets 1 + 1)"
        run = run.rstrip()[:-1]
    rest = text[len(run):]
    if rest[:1] and _IDENT.match(rest[:1]) or run.count("(") != run.count(")"):
        return None, False
    return (run if run.strip() else None), not rest.strip().rstrip(".")


def _decimals(text: str) -> int | None:
    """Decimal places of ``text`` if it is one literal number (``0.78`` → 2), else None."""
    m = re.fullmatch(r"\s*[−-]?(\d+)(?:\.(\d+))?\s*\.?\s*", text)
    return None if m is None else len(m.group(2) or "")


def _agree(a: float, b: float, a_text: str, b_text: str, approx: bool) -> bool:
    places = [d for d in (_decimals(a_text), _decimals(b_text)) if d is not None]
    tol = 0.5 * 10.0 ** -min(places) + 1e-12 * abs(b) if places else 1e-9 * max(abs(a), abs(b), 1e-12)
    if approx:
        tol = max(tol, APPROX * max(abs(a), abs(b)))
    return abs(a - b) <= tol


def _name_value(left: str, numbers: dict[str, float], output: str) -> tuple[str, float] | None:
    """``∂C/∂w₁`` → ("∂C/∂w1", gradient), ``a3`` → ("a3", value), for the program's own names."""
    left = left.rstrip()
    m = _GRAD.search(left)
    if m:
        top, bottom = m.group(1).translate(_SUB), m.group(2).translate(_SUB)
        if top == output and f"d_{bottom}" in numbers:
            return f"∂{top}/∂{bottom}", numbers[f"d_{bottom}"]
        return None
    m = _NAME.search(left)
    if m and not left[:m.start()].rstrip().endswith(tuple("+−-·×*/^")):    # "w×x" or "z + b" is not a name
        name = m.group(1).translate(_SUB)
        if name in numbers and not name.startswith(("d_", "after_", "new_")):
            return name, numbers[name]
    return None


def check_prose(text: str, numbers: dict[str, float], output: str) -> tuple[int, list[str]]:
    """Check every equation in ``text`` (a template: ``{…}`` fields are generated, so skipped).

    Returns how many equations were checked and a message for each one that is wrong.
    """
    pieces = re.split(r"(=|≈)", _TEMPLATE.sub("§", text))
    checked, problems = 0, []
    segments, seps = pieces[0::2], pieces[1::2]
    for i, sep in enumerate(seps):
        left_text, right_text = segments[i], segments[i + 1]
        approx = sep == "≈"
        lrun = _left_run(left_text)
        rrun, _ = _right_run(right_text)
        if lrun is not None and rrun is not None:
            a, b = _arith(lrun), _arith(rrun)
            if a is not None and b is not None:
                checked += 1
                if not _agree(a, b, lrun, rrun, approx):
                    problems.append(f"the lesson writes {lrun.strip()} {sep} {rrun.strip().rstrip('.')}, "
                                    f"but {lrun.strip()} is {fmt(a)}")
        named = _name_value(left_text, numbers, output) if lrun is None else None
        if named is None:
            continue
        # follow the chain name = formula = … = number to its first number
        for k in range(i + 1, len(segments)):
            run, whole = _right_run(segments[k])
            value = _arith(run) if run is not None else None
            if value is not None:
                checked += 1
                if not _agree(value, named[1], run, fmt(named[1], 17), seps[k - 1] == "≈"):
                    problems.append(f"the lesson says {named[0]} = {run.strip().rstrip('.')}, "
                                    f"but chainrule computes {named[0]} = {fmt(named[1])}")
                break
            if k >= len(seps) or _BREAK.search(segments[k]) or "§" in segments[k]:
                break
    return checked, problems


def unbacked_step_sentences(text: str, output: str, claims) -> list[str]:
    """Sentences saying a step lowers or raises the cost, in a lesson with no claim about ``after_<output>``."""
    if any(f"after_{output}" in c or "change" in c for c in claims):
        return []
    cost = re.compile(rf"\b(cost|loss|{re.escape(output)})\b")
    return [s for s in _SENTENCE.split(text)
            if _STEP_WORD.search(s) and _DIRECTION.search(s) and cost.search(s)]
