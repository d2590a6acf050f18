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
* ``∂(xʸ)/∂y`` is 0 where x = 0 and NaN where x < 0 (as in PyTorch)
* ``sqrt'(0) = inf``
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Op", "OPS", "get", "FUNCTIONS", "js_runtime"]


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
    "where": _where, "sign": _sign, "pow": math.pow, "nan": math.nan,
}
NUMPY_FUNCS = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
    "sin": np.sin, "cos": np.cos, "abs": np.abs, "sigmoid": _np_sigmoid,
    "where": np.where, "sign": np.sign, "pow": np.power, "nan": np.nan,
}
JS_FUNCS = {  # name in expressions -> JS spelling
    "exp": "Math.exp", "log": "Math.log", "sqrt": "Math.sqrt", "tanh": "Math.tanh",
    "sin": "Math.sin", "cos": "Math.cos", "abs": "Math.abs", "sigmoid": "R.sigmoid",
    "where": "R.where", "sign": "Math.sign", "pow": "Math.pow", "nan": "NaN",
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

    def forward_ieee(self, x, y, k) -> float:
        with np.errstate(all="ignore"):
            return float(self.np_f(np.float64(x), None if y is None else np.float64(y), k))

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

    def js(self) -> str:
        """This op as a JS object literal: ``{arity, f, d: [...]}``."""
        f = _to_js(self.forward)
        ds = ", ".join(f"(x, y, k, out) => {_to_js(g)}" for g in self.grads)
        return f"{{arity: {self.arity}, param: {'true' if self.param else 'false'}, f: (x, y, k) => {f}, d: [{ds}]}}"


_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


def _powc_formula(x: str, k: str, latex: bool) -> str:
    """k·x^(k−1) with the known exponent worked out: 2·x, 3·x², 0.5·x^(−0.5)."""
    try:
        kv = float(k)
    except ValueError:
        return f"{k}\\,{x}^{{{k}-1}}" if latex else f"{k}·{x}^({k}−1)"
    e = kv - 1.0
    es = f"{e:g}"
    if e == 0:
        return k
    if e == 1:
        return f"{k}{x}" if latex else f"{k}·{x}"
    if latex:
        return f"{k}\\,{x}^{{{es}}}"
    return f"{k}·{x}" + (es.translate(_SUPERSCRIPT) if e == int(e) and e > 0 else f"^({es})")


def _compile(expr: str, args: str, funcs: dict) -> Callable:
    # Only our own table's strings are compiled here; user text never reaches this.
    return eval(f"lambda {args}: {expr}", dict(funcs))  # noqa: S307


_JS_NAME = re.compile(r"\b(" + "|".join(JS_FUNCS) + r")\b")


def _to_js(expr: str) -> str:
    return _JS_NAME.sub(lambda m: JS_FUNCS[m.group(1)], expr).replace("True", "true")


def _row(name, arity, forward, grads, text, latex, show, **kw) -> Op:
    as_t = lambda v: v if isinstance(v, tuple) else (v,)  # noqa: E731
    return Op(name, arity, forward, as_t(grads), as_t(text), as_t(latex), show, **kw)


# --------------------------------------------------------------------------
# The table.  name, arity, forward, local derivative(s), Unicode, LaTeX, display
# --------------------------------------------------------------------------
_ROWS = [
    _row("add", 2, "x + y", ("1.0", "1.0"), ("1", "1"), ("1", "1"), "{x} + {y}"),
    _row("sub", 2, "x - y", ("1.0", "-1.0"), ("1", "−1"), ("1", "-1"), "{x} − {y}"),
    _row("mul", 2, "x * y", ("y", "x"), ("{y}", "{x}"), ("{y}", "{x}"), "{x} · {y}"),
    _row("div", 2, "x / y", ("1.0 / y", "-x / (y * y)"),
         ("1/{y}", "−{x}/{y}²"), (r"\frac{{1}}{{{y}}}", r"-\frac{{{x}}}{{{y}^2}}"),
         "{x} / {y}", domain="the divisor must not be 0"),
    _row("neg", 1, "-x", "-1.0", "−1", "-1", "−{x}"),
    _row("pow", 2, "pow(x, y)",
         ("where(y == 0, 0.0, y * pow(x, y - 1.0))",
          "where(x > 0, out * log(where(x > 0, x, 1.0)), where(x == 0, 0.0, nan))"),
         ("{y}·{x}^({y}−1)", "{x}^{y}·ln {x}"),
         (r"{y}\,{x}^{{{y}-1}}", r"{x}^{{{y}}}\ln {x}"),
         "{x}^{y}", domain="a negative base needs a whole-number exponent, and 0 a non-negative one",
         note="∂/∂x is 0 where y = 0 (also at x = 0); ∂/∂y is 0 at x = 0 and NaN for x < 0, as in PyTorch"),
    _row("powc", 1, "pow(x, k)", "where(k == 0, 0.0, k * pow(x, k - 1.0))",
         "{k}·{x}^({k}−1)", r"{k}\,{x}^{{{k}-1}}", "{x}^{k}", param="k",
         domain="a negative base needs a whole-number exponent, and 0 a non-negative one"),
    _row("square", 1, "x * x", "2.0 * x", "2·{x}", r"2{x}", "{x}²"),
    _row("sqrt", 1, "sqrt(x)", "0.5 / out", "1/(2·√{x})", r"\frac{{1}}{{2\sqrt{{{x}}}}}", "√{x}",
         domain="sqrt needs a non-negative input", note="sqrt'(0) = inf"),
    _row("exp", 1, "exp(x)", "out", "exp({x})", r"e^{{{x}}}", "exp({x})",
         domain="exp overflows above about 709.78"),
    _row("log", 1, "log(x)", "1.0 / x", "1/{x}", r"\frac{{1}}{{{x}}}", "log({x})",
         domain="log needs a positive input"),
    _row("tanh", 1, "tanh(x)", "1.0 - out * out", "1 − tanh²({x})", r"1-\tanh^2({x})", "tanh({x})"),
    _row("sigmoid", 1, "sigmoid(x)", "out * (1.0 - out)", "σ({x})·(1−σ({x}))",
         r"\sigma({x})\,(1-\sigma({x}))", "σ({x})"),
    _row("relu", 1, "where(x > 0, x, 0.0)", "where(x > 0, 1.0, 0.0)",
         "1 if {x} > 0 else 0", r"\mathbb{{1}}[{x} > 0]", "relu({x})", note="relu'(0) = 0"),
    _row("leaky_relu", 1, "where(x > 0, x, k * x)", "where(x > 0, 1.0, k)",
         "1 if {x} > 0 else {k}", r"\mathbb{{1}}[{x} > 0] + {k}\,\mathbb{{1}}[{x} \le 0]",
         "leaky_relu({x})", param="k", note="leaky_relu'(0) = slope"),
    _row("abs", 1, "abs(x)", "sign(x)", "sign({x})", r"\operatorname{{sign}}({x})", "|{x}|",
         note="abs'(0) = 0"),
    _row("sin", 1, "sin(x)", "cos(x)", "cos({x})", r"\cos {x}", "sin({x})"),
    _row("cos", 1, "cos(x)", "-sin(x)", "−sin({x})", r"-\sin {x}", "cos({x})"),
    _row("maximum", 2, "where(x >= y, x, y)",
         ("where(x > y, 1.0, where(x == y, 0.5, 0.0))", "where(y > x, 1.0, where(x == y, 0.5, 0.0))"),
         ("1 if {x} > {y} (½ if equal) else 0", "1 if {y} > {x} (½ if equal) else 0"),
         (r"\mathbb{{1}}[{x} > {y}]", r"\mathbb{{1}}[{y} > {x}]"),
         "max({x}, {y})", note="ties split the gradient ½ / ½, as in PyTorch"),
    _row("minimum", 2, "where(x <= y, x, y)",
         ("where(x < y, 1.0, where(x == y, 0.5, 0.0))", "where(y < x, 1.0, where(x == y, 0.5, 0.0))"),
         ("1 if {x} < {y} (½ if equal) else 0", "1 if {y} < {x} (½ if equal) else 0"),
         (r"\mathbb{{1}}[{x} < {y}]", r"\mathbb{{1}}[{y} < {x}]"),
         "min({x}, {y})", note="ties split the gradient ½ / ½, as in PyTorch"),
]

OPS: dict[str, Op] = {op.name: op for op in _ROWS}

# Functions a program (lang.py) or a user may call by name, mapped to op rows.
# ``pow`` and ``leaky_relu`` pick their constant-parameter variant when the
# second argument is a plain number.
FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "abs",
             "sin", "cos", "square", "maximum", "minimum", "pow", "max", "min")


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
