"""Formula text cannot drift from the code: every row's Unicode and LaTeX derivative formulas, and
the way it writes its forward, are evaluated with numbers put in and compared with the compiled
forward and derivatives, at negative, near-zero, large and tie points of every row in the table.

The points are generated, not listed per row: a new row is checked without touching this file.
"""
import math

import pytest

from chainrule.ops import OPS

from formula_eval import FormulaError, evaluate, number

XS = (-7.25, -1.5, -0.001, 0.001, 0.7, 2.0, 3.0, 40.0)
YS = (-2.0, -0.001, 0.5, 2.0, 3.0, 9.5)
KS = (-1.5, 0.0, 0.01, 0.5, 1.0, 2.0, 3.0)


def _points(op):
    ks = KS if op.param else (None,)
    if op.arity == 1:
        return [(x, None, k) for x in XS for k in ks]
    pts = [(x, y, None) for x in XS for y in YS]
    return pts + [(x, x, None) for x in (-1.5, 0.7, 2.0)]          # ties (maximum, minimum)


def _defined(op, x, y, k):
    """(out, local derivatives, None where one is not a finite number) where the forward is finite."""
    try:
        out = op.f(x, y, k)
    except (ArithmeticError, ValueError):
        return None
    if not math.isfinite(out):
        return None
    ds = []
    for d in op.d:
        try:
            v = d(x, y, k, out)
        except (ArithmeticError, ValueError):
            v = math.nan
        ds.append(v if math.isfinite(v) else None)
    return out, ds


def _close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _names(x, y, k, out, latex=False):
    names = {"x": number(x, latex), "out": number(out, latex)}
    if y is not None:
        names["y"] = number(y, latex)
    if k is not None:
        names["k"] = number(k, latex)
    return names


@pytest.mark.parametrize("name", list(OPS))
def test_every_formula_text_says_what_the_derivative_computes(name):
    op = OPS[name]
    checked = set()
    for x, y, k in _points(op):
        got = _defined(op, x, y, k)
        if got is None:
            continue
        out, ds = got
        for latex in (False, True):
            names = _names(x, y, k, out, latex)
            for i, want in enumerate(ds):
                if want is None:        # the row's convention where the slope is not a number (its note says)
                    continue
                texts = {op.formula(i, latex=latex, **names)}           # what the explainers print
                raw = (op.latex if latex else op.text)[i]
                texts.add(raw.format(**{"x": "x", "y": "y", "k": "k", "out": "out", **names}))   # the template
                for text in texts:
                    try:
                        value = evaluate(text, latex)
                    except FormulaError as e:
                        pytest.fail(f"{name}: cannot read its formula {text!r}: {e}")
                    assert _close(value, want), (f"{name} ∂/∂input{i} at x={x}, y={y}, k={k}: the "
                                                 f"{'LaTeX' if latex else 'text'} {text!r} says {value}, "
                                                 f"the derivative is {want}")
                checked.add(x)
    # negative, zero-adjacent and large inputs were all among the checked points
    assert any(x > 10 for x in checked) and any(abs(x) < 0.01 for x in checked), (name, checked)
    assert any(x < 0 for x in checked) or "positive" in op.domain or "non-negative" in op.domain, (name, checked)


@pytest.mark.parametrize("name", list(OPS))
def test_every_forward_text_says_what_the_forward_computes(name):
    op = OPS[name]
    for x, y, k in _points(op):
        got = _defined(op, x, y, k)
        if got is None:
            continue
        args = [number(x)] + ([number(y)] if y is not None else []) + ([number(k)] if k is not None else [])
        text = op.describe(*args)
        assert _close(evaluate(text), got[0]), f"{name}: {text!r} is not {got[0]}"


def test_the_checker_catches_a_wrong_formula():
    """A formula that drifted (tanh' written with a plus) is caught: the check is not vacuous."""
    assert _close(evaluate("1 − tanh²(0.5)"), 1 - math.tanh(0.5) ** 2)
    assert not _close(evaluate("1 + tanh²(0.5)"), 1 - math.tanh(0.5) ** 2)
    assert evaluate(r"\frac{1}{2\sqrt{4.0}}", latex=True) == 0.25
    assert evaluate(r"\sigma(0.0)\,(1-\sigma(0.0))", latex=True) == 0.25
    assert evaluate("1 if 2.0 > 2.0 (½ if equal) else 0") == 0.5
    assert evaluate("(−2.0)^3.0·ln 2.0") == pytest.approx(-8 * math.log(2))
    for bad in ("1 ++", "tanh(", "1 & 2"):
        with pytest.raises(FormulaError):
            evaluate(bad)
