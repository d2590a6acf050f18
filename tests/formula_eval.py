"""Evaluate a formula as chainrule prints it (Unicode or LaTeX), with numbers in place of names.

For tests only: it reads the op table's own formula text (``Op.formula``, ``Op.describe``) so that a
test can compare what the text says with what the compiled derivative computes. A small
recursive-descent parser of the notation the table writes: + − · / ^ ² √ |…| ½, function names
applied with or without brackets (``ln 2``, ``tanh²(x)``), ``a if c else b`` with PyTorch's tie
note ``(½ if equal)``; in LaTeX \\frac, \\sqrt, e^{…}, \\, and juxtaposition, \\mathbb{1}[…],
\\operatorname{…}, \\le and \\ge.
"""
from __future__ import annotations

import math
import re


def _sigmoid(x):
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def _sign(x):
    return (x > 0) - (x < 0) + 0.0


FUNCS = {
    "exp": math.exp, "ln": math.log, "log": math.log, "sqrt": math.sqrt, "tanh": math.tanh,
    "sin": math.sin, "cos": math.cos, "σ": _sigmoid, "sigma": _sigmoid, "sigmoid": _sigmoid,
    "sign": _sign, "abs": abs, "relu": lambda x: max(x, 0.0), "max": max, "min": min,
    "leaky_relu": lambda x, k: x if x > 0 else k * x,
    "tan": math.tan, "sinh": math.sinh, "cosh": math.cosh, "atan": math.atan, "asinh": math.asinh,
    "log1p": math.log1p, "expm1": math.expm1, "log2": math.log2, "log10": math.log10,
    "softsign": lambda x: x / (1 + abs(x)), "silu": lambda x: x * _sigmoid(x),
    "logsigmoid": lambda x: min(x, 0.0) - math.log1p(math.exp(-abs(x))),
}
_SUPERS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻·", "0123456789-.")
_TOKEN = re.compile(r"""
    (?P<num>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<sup>[⁰¹²³⁴⁵⁶⁷⁸⁹⁻][⁰¹²³⁴⁵⁶⁷⁸⁹⁻·]*)
  | (?P<cmd>\\[A-Za-z]+|\\,)
  | (?P<name>[A-Za-zσ_][A-Za-z0-9_]*)
  | (?P<op>[-−+·×*/^()\[\]{}|,<>=≤≥½√])
  | (?P<ws>\s+)
""", re.VERBOSE)


class FormulaError(ValueError):
    pass


def tokens(text: str) -> list[str]:
    out, i = [], 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m:
            raise FormulaError(f"cannot read {text[i:]!r} in {text!r}")
        if m.lastgroup != "ws":
            t = m.group()
            out.append({"−": "-", "×": "·", "*": "·", "≤": r"\le", "≥": r"\ge"}.get(t, t))
        i = m.end()
    return out


class _Parser:
    def __init__(self, text: str, latex: bool):
        self.text, self.latex, self.t, self.i = text, latex, tokens(text), 0

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def take(self, want=None):
        t = self.peek()
        if t is None or (want is not None and t != want):
            raise FormulaError(f"expected {want!r} at token {self.i} of {self.text!r}, got {t!r}")
        self.i += 1
        return t

    def parse(self):
        v = self.cond()
        if self.peek() is not None:
            raise FormulaError(f"left over {self.t[self.i:]} in {self.text!r}")
        return v

    # a if c (½ if equal) else b
    def cond(self):
        a = self.cmp()
        if self.peek() == "if":
            self.take()
            c, tie = self.cmp_parts()
            half = False
            if self.peek() == "(" and self.peek(1) == "½":
                for w in ("(", "½", "if", "equal", ")"):
                    self.take(w)
                half = True
            self.take("else")
            b = self.cond()
            if half and tie:
                return 0.5
            return a if c else b
        return a

    def cmp_parts(self):
        left = self.sum()
        op = self.take()
        right = self.sum()
        result = {">": left > right, "<": left < right, r"\le": left <= right, r"\ge": left >= right,
                  "=": left == right}[op]
        return result, left == right

    def cmp(self):
        v = self.sum()
        if self.peek() in (">", "<", r"\le", r"\ge", "="):
            op = self.take()
            w = self.sum()
            return float({">": v > w, "<": v < w, r"\le": v <= w, r"\ge": v >= w, "=": v == w}[op])
        return v

    def sum(self):
        v = self.product()
        while self.peek() in ("+", "-"):
            op = self.take()
            w = self.product()
            v = v + w if op == "+" else v - w
        return v

    def _starts_factor(self, t) -> bool:
        """Juxtaposition (LaTeX ``2x``, ``\\sigma(x)\\,(1-…)``; Unicode ``x^y·ln x`` has its ·)."""
        if t is None:
            return False
        if t == r"\,":
            return True
        if not self.latex:
            return False
        return t in ("(", "{", r"\frac", r"\sqrt", r"\mathbb", r"\operatorname", r"\sigma", r"\tanh",
                     r"\sin", r"\cos", r"\ln", r"\exp", r"\tfrac") or bool(re.match(r"[\d.]|[A-Za-z]", t))

    def product(self):
        v = self.unary()
        while True:
            t = self.peek()
            if t in ("·", "/"):
                self.take()
                w = self.unary()
                v = v * w if t == "·" else v / w
            elif self._starts_factor(t):
                if t == r"\,":
                    self.take()
                v = v * self.unary()
            else:
                return v

    def unary(self):
        if self.peek() == "-":
            self.take()
            return -self.unary()
        return self.power()

    def power(self):
        v = self.postfix()
        if self.peek() == "^":
            self.take()
            e = self.unary() if self.peek() != "{" else self.group()
            return _pow(v, e)
        return v

    def postfix(self):
        v = self.atom()
        while self.peek() is not None and self.peek()[0] in "⁰¹²³⁴⁵⁶⁷⁸⁹⁻":
            v = _pow(v, float(self.take().translate(_SUPERS)))
        return v

    def group(self):
        self.take("{")
        v = self.cond()
        self.take("}")
        return v

    def args(self):
        self.take("(")
        vals = [self.cond()]
        while self.peek() == ",":
            self.take()
            vals.append(self.cond())
        self.take(")")
        return vals

    def apply(self, name):
        f = FUNCS[name]
        square = False
        if self.peek() == "²" or (self.peek() == "^" and self.peek(1) == "2"):   # tanh²(x), \tanh^2(x)
            square = True
            self.i += 1 if self.peek() == "²" else 2
        vals = self.args() if self.peek() == "(" else [self.postfix()]
        v = f(*vals)
        return v * v if square else v

    def atom(self):
        t = self.peek()
        if t is None:
            raise FormulaError(f"unexpected end of {self.text!r}")
        if re.match(r"[\d.]", t):
            self.take()
            return float(t)
        if t == "½":
            self.take()
            return 0.5
        if t == "(":
            self.take()
            v = self.cond()
            self.take(")")
            return v
        if t == "{":
            return self.group()
        if t == "|":
            self.take()
            v = self.sum()
            self.take("|")
            return abs(v)
        if t == "√":
            self.take()
            return math.sqrt(self.postfix())
        if t in (r"\frac", r"\tfrac"):
            self.take()
            a = self.group()
            return a / self.group()
        if t == r"\sqrt":
            self.take()
            return math.sqrt(self.group())
        if t == r"\mathbb":                       # \mathbb{1}[condition]
            self.take()
            self.group()
            self.take("[")
            c = self.cmp()
            self.take("]")
            return c
        if t == r"\operatorname":
            self.take()
            self.take("{")
            name = self.take()
            self.take("}")
            return self.apply(name)
        if t.startswith("\\") and t[1:] in FUNCS:
            self.take()
            return self.apply(t[1:])
        if t == "e" and self.latex and self.peek(1) == "^":
            self.take()
            self.take("^")
            return math.exp(self.group() if self.peek() == "{" else self.postfix())
        if t in FUNCS:
            self.take()
            return self.apply(t)
        raise FormulaError(f"unexpected {t!r} in {self.text!r}")


def _pow(a, b):
    try:
        v = a ** b
    except ZeroDivisionError:
        return math.inf
    if isinstance(v, complex):
        return math.nan
    return v


def evaluate(text: str, latex: bool = False) -> float:
    """The number a formula with numbers in it stands for (nan where it has none)."""
    try:
        return float(_Parser(text, latex).parse())
    except (ValueError, OverflowError, ZeroDivisionError) as e:
        if isinstance(e, FormulaError):
            raise
        return math.nan


def number(v: float, latex: bool = False) -> str:
    """A number to put in a formula: negative ones in brackets, so ``x²`` stays ``(−2)²``."""
    s = repr(float(v))
    if not math.isfinite(v):
        raise ValueError(f"a formula needs a finite number, not {s}")
    return f"({s if latex else '−' + s[1:]})" if v < 0 else s
