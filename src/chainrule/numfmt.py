"""How chainrule writes a number: one policy for every command and view.

Every text, table, drawing and page that shows a number to a person goes
through :func:`fmt` (the HTML player's ``fmt`` in ``viz/player.js`` is the
same algorithm, checked against this one in node by the tests):

* **Significant digits**: ``digits`` of them (default 6), trailing zeros
  dropped: ``3``, ``0.5``, ``−0.0334194``, ``1.23457e6``, ``1e−7``. Scientific
  notation exactly when Python's ``%g`` uses it (exponent below −4, or at least
  ``digits``). Exact ties round half away from zero (as JavaScript's
  ``toPrecision`` does), so Python and the page always agree.
  Change it with ``--digits N`` on any command, or in Python with
  :func:`set_printoptions` (``chainrule.set_printoptions(digits=4)``) or the
  :func:`printoptions` context manager.
* **One minus sign**: U+2212 ``−`` in text meant for people (terminal tables,
  explanations, drawings, pages, lessons); ASCII ``-`` (``ascii=True``) where a
  program reads it or a user copies it into Python: JSON (which keeps full
  precision and ignores ``digits``), ``repr()``, and error messages that quote
  what the user typed. chainrule's own program language reads both.
* **Negative factors are bracketed** in a product: ``−2.6 · (−0.3)``
  (:func:`factor`, :func:`product`); the first factor needs no brackets.
* Whole numbers of type ``int`` are written exactly; ``None`` is ``—``;
  non-finite values are ``inf``, ``−inf`` and ``nan`` (the words Python and the
  warnings use; ``-inf`` with ``ascii=True``); negative zero is ``0``.

Terminal widths (:func:`terminal_width`, :func:`text_width`) live here too:
tables fit ``shutil.get_terminal_size()``, i.e. ``COLUMNS`` if set, else the
terminal, else 80 columns.

This module is the bottom layer: it imports nothing from chainrule.
"""
from __future__ import annotations

import math
import re
import shutil
import unicodedata
from contextlib import contextmanager
from functools import lru_cache
from decimal import ROUND_HALF_UP, Decimal, localcontext
from numbers import Integral, Real

__all__ = ["DEFAULT_DIGITS", "MAX_DIGITS", "MINUS", "fmt", "literal", "constant", "factor", "product", "signed",
           "count", "shape", "percent", "fixed", "get_digits", "set_printoptions", "printoptions", "check_digits",
           "terminal_width", "text_width"]

DEFAULT_DIGITS = 6
MAX_DIGITS = 17          # enough to write any float64 exactly
MINUS = "\u2212"
_EXACT_INT = 10 ** 16    # ints below this are written in full

_digits = DEFAULT_DIGITS


# --------------------------------------------------------------------------
# The setting
# --------------------------------------------------------------------------

def check_digits(digits) -> int:
    """``digits`` as an int in 1..17, or a ValueError saying what is allowed."""
    if isinstance(digits, bool) or not isinstance(digits, Integral) or not 1 <= digits <= MAX_DIGITS:
        raise ValueError(f"digits must be a whole number from 1 to {MAX_DIGITS}, got {digits!r}")
    return int(digits)


def get_digits() -> int:
    """The significant digits numbers are shown with (default 6)."""
    return _digits


def set_printoptions(digits: int | None = None) -> None:
    """Set how many significant digits every view shows (like ``torch.set_printoptions``).

    ``digits=None`` restores the default (6).
    """
    global _digits
    _digits = DEFAULT_DIGITS if digits is None else check_digits(digits)


@contextmanager
def printoptions(digits: int | None = None):
    """``with chainrule.printoptions(digits=3): ...`` shows 3 significant digits inside the block."""
    old = _digits
    set_printoptions(digits)
    try:
        yield
    finally:
        set_printoptions(old)


# --------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------

def _maybe_tie(x: float, digits: int) -> bool:
    """Could ``x > 0`` lie exactly halfway between two ``digits``-digit numbers?

    Python's ``format`` rounds exact ties to even; JavaScript's ``toPrecision``
    rounds them away from zero. A tie needs the exact binary value to stop at
    digit ``digits + 1`` with a 5; below 15 digits its shortest repr then shows
    that too (any decimal of up to 15 digits survives a round trip through a
    float). Only such numbers are rounded by hand (:func:`_round_exact`).
    """
    if f"{x:.{digits}e}"[digits + 1] != "5":     # "d.ddd5e±XX": digit digits + 1 is the first one dropped
        return False
    sig = repr(x).split("e")[0].replace(".", "").strip("0")
    return digits >= 15 or (len(sig) == digits + 1 and sig.endswith("5"))


def _round_exact(x: float, digits: int, minus: str) -> str:
    """``x > 0`` to ``digits`` significant digits from its exact value, ties away from zero."""
    d = Decimal(x)
    e = d.adjusted()
    with localcontext() as ctx:
        ctx.prec = 1100  # more than any float64's exact decimal expansion
        q = d.quantize(Decimal((0, (1,), e - digits + 1)), rounding=ROUND_HALF_UP)
    ds = "".join(map(str, q.as_tuple().digits))
    if len(ds) > digits:   # 9.995 -> 10.0: one more digit before the point
        ds, e = ds[:digits], e + 1
    if e < -4 or e >= digits:    # where %g writes an exponent
        frac = ds[1:].rstrip("0")
        return f"{ds[0]}{'.' + frac if frac else ''}e{minus if e < 0 else ''}{abs(e)}"
    whole, frac = (ds[:e + 1], ds[e + 1:]) if e >= 0 else ("0", "0" * (-e - 1) + ds)
    frac = frac.rstrip("0")
    return whole + ("." + frac if frac else "")


def _finite(x: float, digits: int, minus: str) -> str:
    if x == 0:
        return "0"
    if _maybe_tie(abs(x), digits):
        return (minus if x < 0 else "") + _round_exact(abs(x), digits, minus)
    s = f"{x:.{digits}g}"
    if "e" in s:
        m, e = s.split("e")
        s = f"{m}e{int(e)}"
    return s if minus == "-" else s.replace("-", minus)


def fmt(x, digits: int | None = None, *, ascii: bool = False) -> str:
    """``x`` for people: ``digits`` significant digits (default: :func:`get_digits`).

    ``ascii=True`` writes ``-`` instead of ``−`` and ``inf``/``nan`` instead of
    ``−inf``: for text a program or a Python prompt reads back.
    Lists and tuples of up to six numbers are written out, longer ones counted.
    """
    minus = "-" if ascii else MINUS
    if type(x) is float and x - x == 0.0:     # the common case first: a finite float
        return _finite(x, _digits if digits is None else check_digits(digits), minus)
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, Integral) and abs(int(x)) < _EXACT_INT:
        x = int(x)
        return (minus + str(-x)) if x < 0 else str(x)
    if isinstance(x, Real):
        v = float(x)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else minus + "inf"
        return _finite(v, check_digits(digits) if digits is not None else _digits, minus)
    if hasattr(x, "tolist") and not isinstance(x, (list, tuple)):
        x = x.tolist()
        if not isinstance(x, list):
            return fmt(x, digits, ascii=ascii)
    if isinstance(x, (list, tuple)):
        n = sum(1 for _ in _flatten(x))
        if n <= 6:
            return "[" + ", ".join(fmt(v, digits, ascii=ascii) for v in x) + "]"
        return f"[{n} numbers]"
    return str(x)


def _flatten(v):
    for x in v:
        if isinstance(x, (list, tuple)):
            yield from _flatten(x)
        else:
            yield x


def literal(x, *, ascii: bool = False) -> str:
    """A constant of a program as it would be typed: the shortest text that reads back as ``x``.

    ``3``, ``0.5``, ``−0.1``, ``1e−7`` (all its digits, whatever ``digits`` is: a
    formula's constants are exact).
    """
    if isinstance(x, bool) or not isinstance(x, Real):
        return str(x)
    if isinstance(x, Integral):
        s = str(int(x))
    else:
        v = float(x)
        if not math.isfinite(v):
            return fmt(v, ascii=ascii)
        s = repr(v + 0.0)      # -0.0 -> 0.0
        s = s[:-2] if s.endswith(".0") else s
        if "e" in s:
            m, e = s.split("e")
            s = f"{m}e{int(e)}"
    return s if ascii else s.replace("-", MINUS)


def constant(k) -> str:
    """An op's constant as its description writes it: a float exactly (:func:`literal`: ``0.5``,
    ``−0.1``), anything else (a dim, a shape, an int) as Python writes it: ``-1``, ``(0, 2)``."""
    return literal(k) if isinstance(k, float) else str(k)


def factor(x, digits: int | None = None) -> str:
    """``x`` as a factor after ``·`` or ``×``: in brackets when negative, ``(−0.3)``."""
    s = fmt(x, digits)
    return f"({s})" if s.startswith(MINUS) else s


def product(values, sep: str = " · ", digits: int | None = None) -> str:
    """``−2.6 · (−0.3) · 2``: the first factor as is, every later negative one bracketed."""
    return sep.join(fmt(v, digits) if i == 0 else factor(v, digits) for i, v in enumerate(values))


_SUPER = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def count(n: int, short: bool = False) -> str:
    """An exact count (of paths, say), readable: 4, 1,000,000, 2⁶⁰ = 1,152,921,504,606,846,976.

    ``short`` drops the digits of a large power of two (2⁵⁹) and rounds
    other large counts (≈ 3.5e+20).
    """
    if n < 10 ** 6:
        return str(n)
    if n & (n - 1) == 0:
        power = f"2{str(n.bit_length() - 1).translate(_SUPER)}"
        return power if short else f"{power} = {n:,}"
    return f"≈ {fmt(float(n), 3)}" if short and n >= 10 ** 12 else f"{n:,}"


def shape(dims) -> str:
    """An array's shape as Python writes a tuple: ``(4, 5)``, ``(3,)``, ``()``."""
    return "(" + ", ".join(str(n) for n in dims) + ("," if len(dims) == 1 else "") + ")"


def percent(fraction: float, decimals: int = 1, sep: str = "") -> str:
    """A fraction as a percentage with a fixed number of decimals: ``93.4%`` (``sep=" "``: ``93.4 %``)."""
    return f"{100 * fraction:.{decimals}f}{sep}%"


def fixed(x: float, decimals: int = 1) -> str:
    """A measured quantity (seconds, megabytes) with a fixed number of decimals: ``2.5``, ``12.0``."""
    return f"{x:.{decimals}f}".replace("-", MINUS)


def signed(x, digits: int | None = None) -> str:
    """A change, with its sign always written: ``+0.3``, ``−3.84``, ``0``."""
    s = fmt(x, digits)
    return s if s.startswith(MINUS) or s in ("0", "nan") else "+" + s


# --------------------------------------------------------------------------
# Widths
# --------------------------------------------------------------------------

def terminal_width() -> int:
    """Columns to fit: ``COLUMNS`` if set, else the terminal's, else 80 (``shutil.get_terminal_size``)."""
    return shutil.get_terminal_size((80, 24)).columns


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=4096)
def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


@lru_cache(maxsize=65536)
def text_width(s: str) -> int:
    """Columns ``s`` takes in a terminal: wide (CJK) characters count 2, combining marks 0."""
    if s.isascii():
        return len(s)
    wide = _NON_ASCII.findall(s)
    return len(s) - len(wide) + sum(map(_char_width, wide))
