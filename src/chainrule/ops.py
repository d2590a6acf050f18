"""The op table: every primitive's forward, local derivatives and formula text, once.

Each row is declarative, in the spirit of PyTorch's ``derivatives.yaml``: the
forward value and the local derivative with respect to each input are written
as small expressions over ``x`` (first input), ``y`` (second input), ``k`` (a
constant parameter such as a fixed exponent) and ``out`` (the forward value,
saved so that e.g. tanh' = 1 − out² needs no recomputation).

The same expression strings are compiled three ways:

* for Python floats (``math``-based, used by :class:`~chainrule.scalar.Value`),
* for NumPy arrays (used by :class:`~chainrule.tensor.Tensor` and forward mode),
* to JavaScript (used by the self-contained HTML player),

so a derivative is written exactly once.

Conventions at kinks follow PyTorch and are tested:

* ``relu'(0) = 0``, ``leaky_relu'(0) = slope``, ``abs'(0) = 0`` (sign(0) = 0)
* ``maximum``/``minimum`` split the gradient equally (½ each) on ties
* ``∂(xʸ)/∂y`` at x = 0 is 0 for y ≥ 0 and −inf for y < 0, and NaN where x < 0
  (as in PyTorch); ``∂(xʸ)/∂x`` is 0 where y = 0
* ``sqrt'(0) = inf``
"""
from __future__ import annotations

import inspect
import json
import math
import re
from dataclasses import dataclass, field
from numbers import Real
from typing import Callable

import numpy as np

from .errors import InputError
from .numfmt import fmt

__all__ = ["Op", "OPS", "get", "FUNCTIONS", "js_runtime", "row", "register", "unregister", "on_register"]


# --------------------------------------------------------------------------
# Backends: the functions an expression may call.
# --------------------------------------------------------------------------

def _sigmoid(x: float) -> float:
    # Split by sign so exp never overflows.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _where(c, a, b):
    return a if c else b


def _sign(x: float) -> float:
    return (x > 0) - (x < 0) + 0.0


def _np_sigmoid(x):
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


SCALAR_FUNCS = {
    "exp": math.exp, "log": math.log, "sqrt": math.sqrt, "tanh": math.tanh,
    "sin": math.sin, "cos": math.cos, "abs": abs, "sigmoid": _sigmoid,
    "where": _where, "sign": _sign, "pow": math.pow, "nan": math.nan, "inf": math.inf,
    "tan": math.tan, "sinh": math.sinh, "cosh": math.cosh, "atan": math.atan, "asinh": math.asinh,
    "log1p": math.log1p, "expm1": math.expm1, "log2": math.log2, "log10": math.log10,
}
NUMPY_FUNCS = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
    "sin": np.sin, "cos": np.cos, "abs": np.abs, "sigmoid": _np_sigmoid,
    "where": np.where, "sign": np.sign, "pow": np.power, "nan": np.nan, "inf": np.inf,
    "maximum": np.maximum,
    "tan": np.tan, "sinh": np.sinh, "cosh": np.cosh, "atan": np.arctan, "asinh": np.arcsinh,
    "log1p": np.log1p, "expm1": np.expm1, "log2": np.log2, "log10": np.log10,
}
JS_FUNCS = {  # name in expressions -> JS spelling
    "exp": "Math.exp", "log": "Math.log", "sqrt": "Math.sqrt", "tanh": "Math.tanh",
    "sin": "Math.sin", "cos": "Math.cos", "abs": "Math.abs", "sigmoid": "R.sigmoid",
    "where": "R.where", "sign": "Math.sign", "pow": "Math.pow", "nan": "NaN", "inf": "Infinity",
    "tan": "Math.tan", "sinh": "Math.sinh", "cosh": "Math.cosh", "atan": "Math.atan", "asinh": "Math.asinh",
    "log1p": "Math.log1p", "expm1": "Math.expm1", "log2": "Math.log2", "log10": "Math.log10",
}


@dataclass(frozen=True)
class Op:
    """One primitive. See the module docstring for the expression language."""

    name: str
    arity: int                      # number of differentiable inputs (1 or 2)
    forward: str                    # expression for the value
    grads: tuple[str, ...]          # expression for ∂out/∂input_i, one per input
    text: tuple[str, ...]           # Unicode formula for each local derivative
    latex: tuple[str, ...]          # LaTeX formula for each local derivative
    show: str                       # how the forward reads, e.g. "{x} · {y}"
    param: str | None = None        # name of a constant parameter k, if any
    domain: str = ""                # what inputs are allowed, for error messages
    note: str = ""                  # convention at kinks, for the docs
    singular: tuple[str, ...] = ()  # per input: why its local derivative can be inf or nan (formula text)
    variant_of: str = ""            # a row reached through another one (powc through pow), not by name
    # -- where the row shows up (see README, "A new op"): every engine and view loops over these --
    method: str = ""                # method on Value, Tensor and Dual, and the function in chainrule.tensor
    operator: str = ""              # Python operator stem (operator module name): "add" makes __add__ and
                                    # __radd__, "neg" makes __neg__; chainrule.<name> applies it
    lang: bool = False              # a program may call it by name (lang.py), and the README lists it
    aliases: tuple[str, ...] = ()   # more names a program may call it by ("max" for maximum)
    args: tuple[str, ...] = ()      # the arguments as a program's error messages name them: ("x", "slope");
                                    # default (x) or (a, b)
    symbol: str = ""                # another name the printed notation uses for it (σ, √, ln), read back
    keyword: str = ""               # the Python keyword of the constant k in a method call (negative_slope)
    default: float | None = None    # k when a call leaves it out (None: k must be given)
    linear: bool = False            # the output is a linear function of the inputs (constant local derivatives)
    forms: tuple = ()               # per input (in words, as a formula of δ) for tensor explanations;
                                    # default "multiply by (<text>) elementwise"
    fast: str = ""                  # a faster NumPy spelling of ``forward`` for arrays (same numbers, tested)
    # compiled forms, filled in by __post_init__
    f: Callable = field(init=False, repr=False, compare=False)
    d: tuple = field(init=False, repr=False, compare=False)
    np_f: Callable = field(init=False, repr=False, compare=False)
    np_d: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        assert len(self.grads) == self.arity == len(self.text) == len(self.latex), self.name
        set_ = object.__setattr__
        set_(self, "f", _compile(self.forward, "x, y, k", SCALAR_FUNCS))
        set_(self, "d", tuple(_compile(g, "x, y, k, out", SCALAR_FUNCS) for g in self.grads))
        set_(self, "np_f", _compile(self.forward, "x, y, k", NUMPY_FUNCS))
        set_(self, "np_d", tuple(_compile(g, "x, y, k, out", NUMPY_FUNCS) for g in self.grads))
        assert not self.forms or len(self.forms) == self.arity, self.name

    @property
    def called(self) -> str:
        """The name a program or a user writes for this row: ``pow`` for ``powc``."""
        return self.variant_of or self.name

    def usage(self, name: str = "") -> str:
        """How a program calls it: ``exp(x)``, ``max(a, b)``, ``leaky_relu(x, slope)``."""
        args = self.args or (("x",) if self.arity == 1 else ("a", "b"))
        return f"{name or self.name}({', '.join(args)})"

    # -- evaluation helpers --------------------------------------------------
    def local_grads_ieee(self, x, y, k, out) -> tuple[float, ...]:
        """Local derivatives for floats with IEEE semantics (1/0 = inf, not an error).

        Python's float arithmetic raises on division by zero, so the scalar
        engine falls back here when the fast ``math`` version raises.
        """
        with np.errstate(all="ignore"):
            xs = np.float64(x)
            ys = None if y is None else np.float64(y)
            return tuple(float(g(xs, ys, k, np.float64(out))) for g in self.np_d)

    def describe(self, *args: str) -> str:
        """The forward written with the given operand names: ``describe("a", "b") -> "a · b"``."""
        names = dict(zip(("x", "y"), args))
        if self.param and len(args) > self.arity:
            names["k"] = args[self.arity]
        return self.show.format(**names)

    def formula(self, i: int, latex: bool = False, **names: str) -> str:
        """Local derivative formula for input ``i`` with names substituted."""
        if self.name == "powc" and "k" in names:
            return _powc_formula(names.get("x", "x"), names["k"], latex)
        tmpl = (self.latex if latex else self.text)[i]
        return tmpl.format(x=names.get("x", "x"), y=names.get("y", "y"),
                           k=names.get("k", "k"), out=names.get("out", "out"))

    def singular_reason(self, i: int, **names: str) -> str:
        """Why the local derivative for input ``i`` is not a finite number here ("" if the row
        does not say), with the operands' names substituted like :meth:`formula`."""
        if i >= len(self.singular) or not self.singular[i]:
            return ""
        return self.singular[i].format(x=names.get("x", "x"), y=names.get("y", "y"), k=names.get("k", "k"))

    def js(self) -> str:
        """This op as a JS object literal: ``{arity, f, d: [...]}``."""
        f = _to_js(self.forward)
        ds = ", ".join(f"(x, y, k, out) => {_to_js(g)}" for g in self.grads)
        return (f"{{arity: {self.arity}, param: {'true' if self.param else 'false'}, called: {json.dumps(self.called)}, "
                f"f: (x, y, k) => {f}, d: [{ds}]}}")


_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


def _powc_formula(x: str, k: str, latex: bool) -> str:
    """k·x^(k−1) with the known exponent worked out: 2·x, 3·x², 0.5·x^(−0.5)."""
    try:
        kv = float(k)
    except ValueError:
        return f"{k}\\,{x}^{{{k}-1}}" if latex else f"{k}·{x}^({k}−1)"
    e = kv - 1.0
    es = fmt(e, 6, ascii=True)      # as %g writes it, minus the exponent's padding
    if e == 0:
        return k
    if e == 1:
        return f"{k}\\,{x}" if latex else f"{k}·{x}"
    if latex:
        return f"{k}\\,{x}^{{{es}}}"
    return f"{k}·{x}" + (es.translate(_SUPERSCRIPT) if e == int(e) and e > 0 else f"^({es.replace('-', '−')})")


def _compile(expr: str, args: str, funcs: dict) -> Callable:
    # Only our own table's strings are compiled here; user text never reaches this.
    return eval(f"lambda {args}: {expr}", dict(funcs))  # noqa: S307


_JS_NAME = re.compile(r"\b(" + "|".join(JS_FUNCS) + r")\b")


def _to_js(expr: str) -> str:
    return _JS_NAME.sub(lambda m: JS_FUNCS[m.group(1)], expr).replace("True", "true")


def row(name, arity, forward, grads, text, latex, show, **kw) -> Op:
    """An :class:`Op`; a single derivative, formula or form may be given without its tuple."""
    as_t = lambda v: v if isinstance(v, tuple) else (v,)  # noqa: E731
    if "forms" in kw and kw["forms"] and isinstance(kw["forms"][0], str):
        kw["forms"] = (kw["forms"],)
    return Op(name, arity, forward, as_t(grads), as_t(text), as_t(latex), show, **kw)


_row = row
_PASS = ("pass δ through (summed over broadcast dims)", "δ")

# --------------------------------------------------------------------------
# The table.  name, arity, forward, local derivative(s), Unicode, LaTeX, display, then where it shows up.
# The order is the order of the language's function list (error messages, the README).
# --------------------------------------------------------------------------
_ROWS = [
    _row("add", 2, "x + y", ("1.0", "1.0"), ("1", "1"), ("1", "1"), "{x} + {y}",
         operator="add", linear=True, forms=(_PASS, _PASS)),
    _row("sub", 2, "x - y", ("1.0", "-1.0"), ("1", "−1"), ("1", "-1"), "{x} − {y}",
         operator="sub", linear=True, forms=(_PASS, ("negate δ (summed over broadcast dims)", "−δ"))),
    _row("mul", 2, "x * y", ("y", "x"), ("{y}", "{x}"), ("{y}", "{x}"), "{x} · {y}", operator="mul",
         forms=(("multiply by {y} elementwise", "δ ⊙ {y}"), ("multiply by {x} elementwise", "δ ⊙ {x}"))),
    _row("div", 2, "x / y", ("1.0 / y", "-x / (y * y)"),
         ("1/{y}", "−{x}/{y}²"), (r"\frac{{1}}{{{y}}}", r"-\frac{{{x}}}{{{y}^2}}"),
         "{x} / {y}", domain="the divisor must not be 0", operator="truediv",
         forms=(("divide by {y} elementwise", "δ ⊘ {y}"),
                ("multiply by −{x}/{y}² elementwise", "−δ ⊙ {x}/{y}²"))),
    _row("neg", 1, "-x", "-1.0", "−1", "-1", "−{x}", operator="neg", method="neg", linear=True,
         forms=("negate δ", "−δ")),
    _row("exp", 1, "exp(x)", "out", "exp({x})", r"e^{{{x}}}", "exp({x})",
         domain="exp overflows above about 709.78", method="exp", lang=True,
         forms=("multiply by exp({x}) elementwise", "δ ⊙ exp({x})")),
    _row("log", 1, "log(x)", "1.0 / x", "1/{x}", r"\frac{{1}}{{{x}}}", "log({x})",
         domain="log needs a positive input", method="log", lang=True, symbol="ln",
         forms=("divide by {x} elementwise", "δ ⊘ {x}")),
    _row("sqrt", 1, "sqrt(x)", "0.5 / out", "1/(2·√{x})", r"\frac{{1}}{{2\sqrt{{{x}}}}}", "√{x}",
         domain="sqrt needs a non-negative input", note="sqrt'(0) = inf",
         singular=("√{x} has an infinite slope at {x} = 0",), method="sqrt", lang=True, symbol="√",
         forms=("multiply by 1/(2·√{x}) elementwise", "δ ⊘ 2√{x}")),
    _row("tanh", 1, "tanh(x)", "1.0 - out * out", "1 − tanh²({x})", r"1-\tanh^2({x})", "tanh({x})",
         method="tanh", lang=True, forms=("1 − tanh²({x}) elementwise", "δ ⊙ (1 − tanh²({x}))")),
    _row("sigmoid", 1, "sigmoid(x)", "out * (1.0 - out)", "σ({x})·(1−σ({x}))",
         r"\sigma({x})\,(1-\sigma({x}))", "σ({x})", method="sigmoid", lang=True, symbol="σ",
         forms=("σ({x})(1−σ({x})) elementwise", "δ ⊙ σ′({x})")),
    _row("relu", 1, "where(x > 0, x, 0.0)", "where(x > 0, 1.0, 0.0)",
         "1 if {x} > 0 else 0", r"\mathbb{{1}}[{x} > 0]", "relu({x})", note="relu'(0) = 0",
         method="relu", lang=True, fast="maximum(x, 0.0)", forms=("mask by {x} > 0", "δ ⊙ 1[{x} > 0]")),
    _row("leaky_relu", 1, "where(x > 0, x, k * x)", "where(x > 0, 1.0, k)",
         "1 if {x} > 0 else {k}", r"\mathbb{{1}}[{x} > 0] + {k}\,\mathbb{{1}}[{x} \le 0]",
         "leaky_relu({x}, {k})", param="k", note="leaky_relu'(0) = slope",
         method="leaky_relu", lang=True, args=("x", "slope"), keyword="negative_slope", default=0.01,
         forms=("mask by {x} > 0 (slope {k} elsewhere)", "δ ⊙ leaky′({x})")),
    _row("abs", 1, "abs(x)", "sign(x)", "sign({x})", r"\operatorname{{sign}}({x})", "|{x}|",
         note="abs'(0) = 0", method="abs", operator="abs", lang=True,
         forms=("multiply by sign({x})", "δ ⊙ sign({x})")),
    _row("sin", 1, "sin(x)", "cos(x)", "cos({x})", r"\cos {x}", "sin({x})", method="sin", lang=True,
         forms=("multiply by cos({x}) elementwise", "δ ⊙ cos({x})")),
    _row("cos", 1, "cos(x)", "-sin(x)", "−sin({x})", r"-\sin {x}", "cos({x})", method="cos", lang=True,
         forms=("multiply by −sin({x}) elementwise", "−δ ⊙ sin({x})")),
    _row("square", 1, "x * x", "2.0 * x", "2·{x}", r"2\,{x}", "{x}²", method="square", lang=True,
         forms=("multiply by 2·{x} elementwise", "δ ⊙ 2{x}")),
    _row("tan", 1, "tan(x)", "1.0 + out * out", "1 + tan²({x})", r"1+\tan^2({x})", "tan({x})",
         method="tan", lang=True),
    _row("sinh", 1, "sinh(x)", "cosh(x)", "cosh({x})", r"\cosh {x}", "sinh({x})", method="sinh", lang=True,
         domain="sinh overflows beyond about ±710"),
    _row("cosh", 1, "cosh(x)", "sinh(x)", "sinh({x})", r"\sinh {x}", "cosh({x})", method="cosh", lang=True,
         domain="cosh overflows beyond about ±710"),
    _row("atan", 1, "atan(x)", "1.0 / (1.0 + x * x)", "1/(1 + {x}²)", r"\frac{{1}}{{1+{x}^2}}", "atan({x})",
         method="atan", lang=True),
    _row("asinh", 1, "asinh(x)", "1.0 / sqrt(x * x + 1.0)", "1/√({x}² + 1)", r"\frac{{1}}{{\sqrt{{{x}^2+1}}}}",
         "asinh({x})", method="asinh", lang=True),
    _row("log1p", 1, "log1p(x)", "1.0 / (1.0 + x)", "1/(1 + {x})", r"\frac{{1}}{{1+{x}}}", "log1p({x})",
         method="log1p", lang=True, domain="log1p needs an input above −1"),
    _row("expm1", 1, "expm1(x)", "out + 1.0", "exp({x})", r"e^{{{x}}}", "expm1({x})", method="expm1", lang=True,
         domain="expm1 overflows above about 709.78"),
    _row("log2", 1, "log2(x)", "1.0 / (x * 0.6931471805599453)", "1/({x}·ln 2)", r"\frac{{1}}{{{x}\ln 2}}",
         "log2({x})", method="log2", lang=True, domain="log2 needs a positive input"),
    _row("log10", 1, "log10(x)", "1.0 / (x * 2.302585092994046)", "1/({x}·ln 10)", r"\frac{{1}}{{{x}\ln 10}}",
         "log10({x})", method="log10", lang=True, domain="log10 needs a positive input"),
    _row("softsign", 1, "x / (1.0 + abs(x))", "1.0 / ((1.0 + abs(x)) * (1.0 + abs(x)))", "1/(1 + |{x}|)²",
         r"\frac{{1}}{{(1+|{x}|)^2}}", "softsign({x})", method="softsign", lang=True),
    _row("silu", 1, "x * sigmoid(x)", "sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x)))", "σ({x})·(1 + {x}·(1 − σ({x})))",
         r"\sigma({x})\,(1+{x}\,(1-\sigma({x})))", "silu({x})", method="silu", lang=True),
    _row("logsigmoid", 1, "where(x < 0, x, 0.0) - log1p(exp(-abs(x)))", "sigmoid(-x)", "σ(−{x})",
         r"\sigma(-{x})", "logsigmoid({x})", method="logsigmoid", lang=True),
    _row("maximum", 2, "where(x >= y, x, y)",
         ("where(x > y, 1.0, where(x == y, 0.5, 0.0))", "where(y > x, 1.0, where(x == y, 0.5, 0.0))"),
         ("1 if {x} > {y} (½ if equal) else 0", "1 if {y} > {x} (½ if equal) else 0"),
         (r"\mathbb{{1}}[{x} > {y}] + \tfrac{{1}}{{2}}\,\mathbb{{1}}[{x} = {y}]", r"\mathbb{{1}}[{y} > {x}] + \tfrac{{1}}{{2}}\,\mathbb{{1}}[{x} = {y}]"),
         "max({x}, {y})", note="ties split the gradient ½ / ½, as in PyTorch",
         method="maximum", lang=True, aliases=("max",),
         forms=(("mask by {x} > {y} (½ on ties)", "δ ⊙ 1[{x} > {y}]"),
                ("mask by {y} > {x} (½ on ties)", "δ ⊙ 1[{y} > {x}]"))),
    _row("minimum", 2, "where(x <= y, x, y)",
         ("where(x < y, 1.0, where(x == y, 0.5, 0.0))", "where(y < x, 1.0, where(x == y, 0.5, 0.0))"),
         ("1 if {x} < {y} (½ if equal) else 0", "1 if {y} < {x} (½ if equal) else 0"),
         (r"\mathbb{{1}}[{x} < {y}] + \tfrac{{1}}{{2}}\,\mathbb{{1}}[{x} = {y}]", r"\mathbb{{1}}[{y} < {x}] + \tfrac{{1}}{{2}}\,\mathbb{{1}}[{x} = {y}]"),
         "min({x}, {y})", note="ties split the gradient ½ / ½, as in PyTorch",
         method="minimum", lang=True, aliases=("min",),
         forms=(("mask by {x} < {y} (½ on ties)", "δ ⊙ 1[{x} < {y}]"),
                ("mask by {y} < {x} (½ on ties)", "δ ⊙ 1[{y} < {x}]"))),
    _row("pow", 2, "pow(x, y)",
         ("where(y == 0, 0.0, y * pow(x, y - 1.0))",
          "where(x > 0, out * log(where(x > 0, x, 1.0)), where(x == 0, where(y >= 0, 0.0, -inf), nan))"),
         ("{y}·{x}^({y}−1)", "{x}^{y}·ln {x}"),
         (r"{y}\,{x}^{{{y}-1}}", r"{x}^{{{y}}}\ln {x}"),
         "{x}^{y}", domain="a negative base needs a whole-number exponent, and 0 a non-negative one",
         note="∂/∂x is 0 where y = 0 (also at x = 0); ∂/∂y at x = 0 is 0 for y ≥ 0 and −inf for y < 0 "
              "(xʸ·ln x with 0^y = inf there), and NaN for x < 0: PyTorch's values",
         singular=("{x}^{y} has an infinite slope in {x} at {x} = 0 when {y} < 1",
                   "{x}^{y} with a negative base has no real derivative in {y} (and at {x} = 0 with "
                   "{y} < 0 an infinite one)"),
         method="pow", operator="pow", lang=True, args=("x", "y"),
         forms=(("multiply by {y}·{x}^({y}−1) elementwise", "δ ⊙ {y}·{x}^({y}−1)"),
                ("multiply by {x}^{y}·ln {x} elementwise", "δ ⊙ {x}^{y}·ln {x}"))),
    _row("powc", 1, "pow(x, k)", "where(k == 0, 0.0, k * pow(x, k - 1.0))",
         "{k}·{x}^({k}−1)", r"{k}\,{x}^{{{k}-1}}", "{x}^{k}", param="k", variant_of="pow",
         domain="a negative base needs a whole-number exponent, and 0 a non-negative one",
         singular=("{x}^{k} has an infinite slope at {x} = 0 (the exponent {k} is below 1)",),
         forms=("multiply by {k}·{x}^({k}−1) elementwise", "δ ⊙ {k}·{x}^({k}−1)")),
]

OPS: dict[str, Op] = {op.name: op for op in _ROWS}


def _functions() -> tuple[str, ...]:
    names = [op.name for op in OPS.values() if op.lang and not op.variant_of]
    return tuple(names + [a for op in OPS.values() if op.lang for a in op.aliases])


# Functions a program (lang.py) or a user may call by name: the rows marked ``lang``, then their
# aliases (``max``, ``min``). ``pow`` and ``leaky_relu`` pick their constant-parameter variant when
# the second argument is a plain number. Rebuilt by :func:`register`.
FUNCTIONS = _functions()


def program_functions() -> tuple[str, ...]:
    """The functions a program may call, each by its shortest name, in table order: the README's list."""
    return tuple(min((op.name,) + op.aliases, key=len) for op in OPS.values() if op.lang and not op.variant_of)


def variant(op: Op) -> Op | None:
    """The constant-parameter row reached through ``op`` (``powc`` for ``pow``), if any."""
    return next((v for v in OPS.values() if v.variant_of == op.name), None)


def get(name: str) -> Op:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(sorted(OPS))}") from None


def js_runtime() -> str:
    """JavaScript source defining ``OPS`` (every row) and the helpers ``R`` they use."""
    rows = ",\n".join(f"  {name}: {op.js()}" for name, op in OPS.items())
    return (
        "const R = {\n"
        "  sigmoid: (x) => x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)),\n"
        "  where: (c, a, b) => (c ? a : b),\n"
        "};\n"
        f"const OPS = {{\n{rows}\n}};\n"
    )


# --------------------------------------------------------------------------
# Registration: the engines install every row, and every row registered later
# --------------------------------------------------------------------------
# Value, Tensor, forward mode, chainrule.<name>, chainrule.tensor.<name> and the language each
# call :func:`on_register` once, at import, with a function that installs one row (methods,
# operators, module functions, callable names) and one that takes it away again. Modules
# imported later (forward mode and the language load lazily) install the rows registered before.

_INSTALLERS: list[tuple[Callable, Callable]] = []


def on_register(install: Callable[[Op], None], uninstall: Callable[[Op], None]) -> None:
    """Run ``install(row)`` for every row now and for each row :func:`register` adds later;
    ``uninstall(row)`` when :func:`unregister` takes it away."""
    _INSTALLERS.append((install, uninstall))
    for op in list(OPS.values()):
        install(op)


def register(op: Op) -> Op:
    """Add an elementwise row to the table and install it everywhere (methods on Value, Tensor and
    Dual, ``chainrule.<name>``, ``chainrule.tensor.<name>``, the language if ``lang``; the JS
    runtime and the explainers read the table directly). Returns the row."""
    if not isinstance(op, Op):
        raise TypeError(f"register() takes an ops.Op row, got {type(op).__name__}")
    if op.name in OPS or op.name in TENSOR_OPS:
        raise ValueError(f"an op named {op.name!r} is already in the table")
    global FUNCTIONS
    OPS[op.name] = op
    FUNCTIONS = _functions()
    done = []
    try:
        for install, uninstall in list(_INSTALLERS):
            install(op)
            done.append(uninstall)
    except BaseException:
        for uninstall in reversed(done):
            uninstall(op)
        del OPS[op.name]
        FUNCTIONS = _functions()
        raise
    return op


def param_value(op: Op, k) -> float:
    """The constant ``k`` of a method call (``leaky_relu(x, 0.2)``) as a float, or a one-line error."""
    if isinstance(k, bool) or not isinstance(k, Real) or not math.isfinite(k):
        raise InputError(f"{op.name}: {op.keyword or op.param} must be a finite number, got {k}")
    return float(k)


def param_binder(op: Op) -> Callable:
    """``bind(args, kwargs) -> k`` for a method taking the row's constant (``negative_slope=0.01``),
    with Python's own errors for a wrong call; the method gets this as its ``__signature__`` too."""
    P = inspect.Parameter
    default = P.empty if op.default is None else op.default
    sig = inspect.Signature([P("self", P.POSITIONAL_OR_KEYWORD),
                             P(op.keyword or "k", P.POSITIONAL_OR_KEYWORD, default=default)])

    def bind(self, args, kwargs):
        if not kwargs and len(args) == 1:
            return param_value(op, args[0])
        if not kwargs and not args and op.default is not None:
            return float(op.default)
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        return param_value(op, bound.arguments[op.keyword or "k"])
    bind.signature = sig
    return bind


def attributes(op: Op, forward: Callable, reflected: Callable, doc: str = "") -> dict:
    """name -> function for row ``op`` on an engine class: its operator (``__add__`` and the reflected
    ``__radd__``) and its method, each a fresh function from ``forward()``."""
    out = {}
    if op.operator:
        out[f"__{op.operator}__"] = forward()
        if op.arity == 2:
            out[f"__r{op.operator}__"] = reflected
    if op.method:
        out[op.method] = forward()
    for name, fn in out.items():
        fn.__name__ = name
        if doc:
            fn.__doc__ = doc
    return out


def keyword_method(op: Op, call: Callable) -> Callable:
    """A method ``(self, <keyword>=<default>)`` that checks the row's constant and runs ``call(self, k)``."""
    bind = param_binder(op)

    def fn(self, *args, **kwargs):
        return call(self, bind(self, args, kwargs))
    fn.__signature__ = bind.signature
    return fn


def install(cls, op: Op, attrs: dict) -> None:
    """Set ``attrs`` (name -> function) on ``cls`` for row ``op``; a name the class has already is refused."""
    taken = [name for name in attrs if name in cls.__dict__]
    if taken:
        raise ValueError(f"{cls.__name__} already has {', '.join(taken)}: row {op.name!r} cannot take it")
    for name, fn in attrs.items():
        fn.__qualname__ = f"{cls.__name__}.{name}"
        setattr(cls, name, fn)
    _INSTALLED.setdefault((cls, op.name), []).extend(attrs)


def uninstall(cls, op: Op) -> None:
    """Remove what :func:`install` set on ``cls`` for ``op``."""
    for name in _INSTALLED.pop((cls, op.name), ()):
        delattr(cls, name)


_INSTALLED: dict = {}


def unregister(name: str) -> Op:
    """Take a row added by :func:`register` out of the table and out of everything it was installed in."""
    global FUNCTIONS
    op = get(name)
    if any(op is r for r in _ROWS):
        raise ValueError(f"{name!r} is one of chainrule's own rows; only registered rows can be removed")
    del OPS[name]
    FUNCTIONS = _functions()
    for _, uninstall in reversed(_INSTALLERS):
        uninstall(op)
    return op


# ==========================================================================
# Tensor-only rows (structural ops).  Owned by the tensor engine (tensor.py).
#
# Elementwise ops on tensors use the rows above (their compiled ``np_f`` /
# ``np_d``); nothing below repeats an elementwise derivative.  The rows here
# are the ops whose Jacobian is not diagonal -- matmul, reductions, shape
# changes, indexing, softmax -- written the way PyTorch's derivatives.yaml
# writes them: a forward, and per input a vector-Jacobian product (what the
# incoming gradient ``g`` turns into for that input) plus the Jacobian's form
# in words ("multiply by Wᵀ") and as a formula of δ ("δ·Wᵀ").
#
# Signatures: ``forward(xs, k)`` and ``vjp[i](g, xs, k, out)`` where ``xs`` is
# the tuple of input arrays, ``k`` the op's constant parameter (dims, shape,
# index, ...) and ``out`` the forward value.  A vjp may return an array of the
# broadcast shape: the engine sums it back to the input's shape.  Rows with
# ``arity == -1`` (cat, stack) take any number of inputs and have one vjp
# returning the gradients of all of them.
# ==========================================================================

class _Names(dict):
    def __missing__(self, key):
        return key


@dataclass(frozen=True)
class TensorOp:
    """One structural tensor op: forward, vector-Jacobian products, Jacobian form."""

    name: str
    arity: int                   # number of tensor inputs; -1 = any number
    forward: Callable            # forward(xs, k) -> ndarray
    vjp: tuple                   # vjp[i](g, xs, k, out) -> gradient for input i
    text: tuple[str, ...]        # the Jacobian's form per input, in words: "multiply by {y}ᵀ"
    delta: tuple[str, ...]       # the VJP as a formula of the incoming δ: "δ·{y}ᵀ"
    show: str                    # how the forward reads: "{x} @ {y}"
    note: str = ""

    def describe(self, *labels: str) -> str:
        names = _Names(zip(("x", "y", "z"), labels))
        if self.arity < 0:
            names["xs"] = ", ".join(labels)
        return self.show.format_map(names)

    def formula(self, i: int, latex: bool = False, **names: str) -> str:
        """The Jacobian's form for input ``i`` with names substituted (no LaTeX variant)."""
        return self.text[min(i, len(self.text) - 1)].format_map(_Names(names))

    def delta_formula(self, i: int, **names: str) -> str:
        return self.delta[min(i, len(self.delta) - 1)].format_map(_Names(names))


def jacobian_form(op, i: int, **names: str) -> tuple[str, str]:
    """(in words, as a formula of δ) for input ``i`` of any row, tensor or elementwise."""
    if isinstance(op, TensorOp):
        return op.formula(i, **names), op.delta_formula(i, **names)
    forms = op.forms
    if not forms:
        f = op.formula(i, **names)
        return f"multiply by ({f}) elementwise", f"δ ⊙ ({f})"
    words, delta = forms[i]
    return words.format_map(_Names(names)), delta.format_map(_Names(names))


# -- helpers the rows share -------------------------------------------------

def _swap(a):
    return np.swapaxes(a, -1, -2)


def _mm_nt(a, b):
    """``a @ b.T`` for a 2-D ``b``. OpenBLAS is slow (2-4x) on small products whose right
    operand is a transposed view, so a small ``b.T`` is copied to C order first."""
    bt = b.T
    if b.size <= 65536:
        bt = np.ascontiguousarray(bt)
    return np.matmul(a, bt)


def _expand(g, shape, dims, keepdim):
    """A reduced gradient spread back over the reduced dims (a read-only view)."""
    if dims is not None and not keepdim:
        g = np.expand_dims(g, dims)
    return np.broadcast_to(g, shape)


def _reduced_count(shape, dims) -> int:
    if dims is None:
        return math.prod(shape)
    return math.prod(shape[d] for d in dims)


# -- forward and vjp functions ------------------------------------------------

def _matmul_f(xs, k):
    return np.matmul(xs[0], xs[1])


def _matmul_da(g, xs, k, out):
    a, b = xs
    if b.ndim == 1:
        if a.ndim == 1:                       # dot product: out is a scalar
            return g * b
        return np.multiply.outer(g, b)        # (..., m) x (k,) -> (..., m, k)
    if a.ndim == 1:                           # (k,) @ (..., k, n): g is (..., n)
        return np.matmul(b, g[..., None])[..., 0]
    if b.ndim == 2:
        return _mm_nt(g, b)
    return np.matmul(g, _swap(b))


def _matmul_db(g, xs, k, out):
    a, b = xs
    if a.ndim == 1:
        if b.ndim == 1:
            return g * a
        return a[:, None] * g[..., None, :]   # outer product per batch
    if b.ndim == 1:                           # (..., m, k) @ (k,): g is (..., m)
        return np.matmul(_swap(a), g[..., None])[..., 0]
    return np.matmul(_swap(a), g)


def _linear_f(xs, k):
    out = _mm_nt(xs[0], xs[1])
    if len(xs) == 3:
        out += xs[2]                          # out is fresh: add the bias in place
    return out


def _linear_dx(g, xs, k, out):
    return np.matmul(g, xs[1])


def _linear_dw(g, xs, k, out):
    x = xs[0]
    if x.ndim == 2:
        return np.matmul(g.T, x)
    if x.ndim == 1:
        return np.multiply.outer(g, x)
    return np.matmul(g.reshape(-1, g.shape[-1]).T, x.reshape(-1, x.shape[-1]))


def _linear_db(g, xs, k, out):
    if g.ndim == 2:
        return g.sum(axis=0)
    return g.reshape(-1, g.shape[-1]).sum(axis=0) if g.ndim > 1 else g


def _sum_f(xs, k):
    dims, keepdim = k
    return np.sum(xs[0], axis=dims, keepdims=keepdim)


def _sum_d(g, xs, k, out):
    return _expand(g, xs[0].shape, *k)


def _mean_f(xs, k):
    dims, keepdim = k
    x = xs[0]
    if _reduced_count(x.shape, dims) == 0:    # the mean of no numbers is NaN (PyTorch), not a warning
        shape = np.sum(x, axis=dims, keepdims=keepdim).shape
        return np.full(shape, np.nan, x.dtype if x.dtype.kind == "f" else np.float64)
    return np.mean(x, axis=dims, keepdims=keepdim)


def _mean_d(g, xs, k, out):
    x = xs[0]
    return _expand(g / _reduced_count(x.shape, k[0]), x.shape, *k)


def _amax_f(xs, k):
    dims, keepdim = k
    return np.max(xs[0], axis=dims, keepdims=keepdim)


def _amin_f(xs, k):
    dims, keepdim = k
    return np.min(xs[0], axis=dims, keepdims=keepdim)


def _extreme_d(g, xs, k, out):
    # every position equal to the max (or min) shares the gradient equally
    x = xs[0]
    dims, keepdim = k
    hit = x == _expand(out, x.shape, dims, keepdim)
    count = np.sum(hit, axis=dims, keepdims=True)
    share = _expand(g, x.shape, dims, keepdim) if dims is None or keepdim else np.expand_dims(g, dims)
    return hit * (share / count)


def _reshape_f(xs, k):
    return np.reshape(xs[0], k)


def _reshape_d(g, xs, k, out):
    return np.reshape(g, xs[0].shape)


def _transpose_f(xs, k):
    return np.swapaxes(xs[0], k[0], k[1])


def _transpose_d(g, xs, k, out):
    return np.swapaxes(g, k[0], k[1])


def _permute_f(xs, k):
    return np.transpose(xs[0], k)


def _permute_d(g, xs, k, out):
    return np.transpose(g, np.argsort(k))


def _expand_f(xs, k):
    return np.broadcast_to(xs[0], k)


def _pass_d(g, xs, k, out):
    return g        # the engine sums g back to the input's shape


def _index_f(xs, k):
    # k = (key, repeats, first): ``first`` (plain integers, PyTorch's order) is applied before ``key``
    x = xs[0] if len(k) < 3 or k[2] is None else xs[0][k[2]]
    return x[k[0]]


def _index_d(g, xs, k, out):
    key, repeats = k[0], k[1]
    grad = np.zeros_like(xs[0], dtype=g.dtype)
    view = grad if len(k) < 3 or k[2] is None else grad[k[2]]    # basic indexing: a view of grad
    if repeats:
        np.add.at(view, key, g)      # an index may appear twice: add, don't overwrite
    else:
        view[key] = g
    return grad


def _cat_f(xs, k):
    return np.concatenate(xs, axis=k)


def _cat_d(g, xs, k, out):
    cuts = np.cumsum([x.shape[k] for x in xs[:-1]])
    return np.split(g, cuts, axis=k)


def _stack_f(xs, k):
    return np.stack(xs, axis=k)


def _stack_d(g, xs, k, out):
    return [np.take(g, i, axis=k) for i in range(len(xs))]


def _where_f(xs, k):
    return np.where(k, xs[0], xs[1])


def _where_dx(g, xs, k, out):
    return np.where(k, g, 0)


def _where_dy(g, xs, k, out):
    return np.where(k, 0, g)


def _clip_f(xs, k):
    return np.clip(xs[0], k[0], k[1])


def _clip_d(g, xs, k, out):
    x = xs[0]
    lo, hi = k
    if lo is None:
        return g * (x <= hi)
    if hi is None:
        return g * (x >= lo)
    return g * ((x >= lo) & (x <= hi))


def _softmax_f(xs, k):
    x = xs[0]
    if x.size == 0:                           # nothing to normalise (PyTorch returns the empty tensor)
        return np.empty_like(x)
    e = np.exp(x - x.max(axis=k, keepdims=True))
    e /= e.sum(axis=k, keepdims=True)
    return e


def _softmax_d(g, xs, k, out):
    gs = g * out
    gs -= out * gs.sum(axis=k, keepdims=True)
    return gs


def _log_softmax_f(xs, k):
    x = xs[0]
    if x.size == 0:
        return np.empty_like(x)
    shifted = x - x.max(axis=k, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=k, keepdims=True))
    return shifted


def _log_softmax_d(g, xs, k, out):
    return g - np.exp(out) * g.sum(axis=k, keepdims=True)


def _logsumexp_f(xs, k):
    x = xs[0]
    dims, keepdim = k
    if _reduced_count(x.shape, dims) == 0 or x.size == 0:   # log of an empty sum: −inf, as PyTorch
        return np.full(np.sum(x, axis=dims, keepdims=keepdim).shape, -np.inf, x.dtype)
    m = np.max(x, axis=dims, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)        # all -inf (or inf): no shift
    out = np.log(np.sum(np.exp(x - m), axis=dims, keepdims=True)) + m
    return out if keepdim else (np.squeeze(out, axis=dims) if dims is not None else out.reshape(()))


def _logsumexp_d(g, xs, k, out):
    x = xs[0]
    dims, keepdim = k
    return _expand(g, x.shape, dims, keepdim) * np.exp(x - _expand(out, x.shape, dims, keepdim))


def _cross_entropy_f(xs, k):
    z = xs[0]
    target, reduction = k
    m = z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z - m).sum(axis=-1))
    lse += m[..., 0]
    if z.ndim == 1:
        losses = lse - z[target]
    else:
        losses = lse - z[np.arange(z.shape[0]), target]
    if reduction == "mean":
        return losses.sum() / max(target.size, 1)
    if reduction == "sum":
        return losses.sum()
    return losses


def _cross_entropy_d(g, xs, k, out):
    z = xs[0]
    target, reduction = k
    p = _softmax_f((z,), -1)
    if z.ndim == 1:
        p[target] -= 1
    else:
        p[np.arange(z.shape[0]), target] -= 1
    if reduction == "none":
        p *= g[..., None]
    else:
        p *= g / max(target.size, 1) if reduction == "mean" else g
    return p


def _cast_f(xs, k):
    return xs[0].astype(k)


def _cast_d(g, xs, k, out):
    return g.astype(xs[0].dtype)


def _trow(name, arity, forward, vjp, text, delta, show, note=""):
    as_t = lambda v: v if isinstance(v, tuple) else (v,)  # noqa: E731
    return TensorOp(name, arity, forward, as_t(vjp), as_t(text), as_t(delta), show, note)


_TENSOR_ROWS = [
    _trow("matmul", 2, _matmul_f, (_matmul_da, _matmul_db),
          ("multiply by {y}ᵀ (on the right)", "multiply by {x}ᵀ (on the left)"),
          ("δ·{y}ᵀ", "{x}ᵀ·δ"), "{x} @ {y}",
          note="batched and 1-D operands as in NumPy/PyTorch; batch dims are summed back"),
    _trow("linear", 3, _linear_f, (_linear_dx, _linear_dw, _linear_db),
          ("multiply by {y}ᵀ (δ·{y} for a batch of rows)", "outer product of δ with the input {x}",
           "sum δ over the batch"),
          ("δ·{y}", "δᵀ·{x}", "Σ_batch δ"), "{x} @ {y}ᵀ + {z}",
          note="fused x @ Wᵀ + b, W of shape (out, in) as in torch.nn.Linear"),
    _trow("sum", 1, _sum_f, _sum_d, "broadcast δ back to {x}'s shape", "δ", "Σ {x}"),
    _trow("mean", 1, _mean_f, _mean_d, "broadcast δ back to {x}'s shape, divided by the count {n}",
          "δ/{n}", "mean({x})"),
    _trow("amax", 1, _amax_f, _extreme_d, "route δ to the maximum (ties share it equally)",
          "δ ⊙ 1[{x} = max]", "max({x})"),
    _trow("amin", 1, _amin_f, _extreme_d, "route δ to the minimum (ties share it equally)",
          "δ ⊙ 1[{x} = min]", "min({x})"),
    _trow("reshape", 1, _reshape_f, _reshape_d, "reshape δ back to {x}'s shape", "reshape(δ)",
          "reshape({x})"),
    _trow("transpose", 1, _transpose_f, _transpose_d, "transpose δ back", "δᵀ", "{x}ᵀ"),
    _trow("permute", 1, _permute_f, _permute_d, "permute δ back (inverse permutation)",
          "permute⁻¹(δ)", "permute({x})"),
    _trow("expand", 1, _expand_f, _pass_d, "sum δ over the expanded dims", "Σ δ", "expand({x})"),
    _trow("index", 1, _index_f, _index_d, "scatter δ into zeros at the indexed positions (repeats add)",
          "scatter(δ)", "{x}[…]"),
    _trow("cat", -1, _cat_f, _cat_d, "slice out this input's block of δ", "δ[block]", "cat({xs})"),
    _trow("stack", -1, _stack_f, _stack_d, "take this input's slice of δ", "δ[i]", "stack({xs})"),
    _trow("where", 2, _where_f, (_where_dx, _where_dy),
          ("pass δ where the condition holds, else 0", "pass δ where the condition fails, else 0"),
          ("δ ⊙ 1[cond]", "δ ⊙ 1[¬cond]"), "where(cond, {x}, {y})"),
    _trow("clip", 1, _clip_f, _clip_d, "mask by lo ≤ {x} ≤ hi", "δ ⊙ 1[lo ≤ {x} ≤ hi]", "clip({x})",
          note="the gradient passes at the bounds themselves, as in PyTorch"),
    _trow("softmax", 1, _softmax_f, _softmax_d, "s ⊙ (δ − Σ δ⊙s) with s = softmax({x})",
          "s ⊙ (δ − Σ δ⊙s)", "softmax({x})"),
    _trow("log_softmax", 1, _log_softmax_f, _log_softmax_d, "δ − softmax({x})·Σδ",
          "δ − softmax({x})·Σδ", "log_softmax({x})"),
    _trow("logsumexp", 1, _logsumexp_f, _logsumexp_d, "broadcast δ, times softmax({x})",
          "δ ⊙ softmax({x})", "logsumexp({x})"),
    _trow("cross_entropy", 1, _cross_entropy_f, _cross_entropy_d,
          "(softmax({x}) − onehot(target)) / N", "δ·(softmax({x}) − onehot(y))/N",
          "cross_entropy({x}, target)", note="fused log_softmax + NLL on logits (class-index targets)"),
    _trow("cast", 1, _cast_f, _cast_d, "cast δ back to {x}'s dtype", "δ", "{x}.to(dtype)"),
]

TENSOR_OPS: dict[str, TensorOp] = {op.name: op for op in _TENSOR_ROWS}
__all__ += ["TensorOp", "TENSOR_OPS", "jacobian_form", "variant"]
