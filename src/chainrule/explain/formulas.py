"""Composing formula *text* from the op table's per-primitive formulas.

Nothing here knows any calculus. The strings come from the trace
(``TraceNode.expr`` and ``LocalStep.formula``, which come from the op table);
this module only pastes them together:

* :func:`substitute` puts an unnamed node's expression where its label
  appears (``2·sub8`` with ``sub8 = a3 − y`` becomes ``2·(a3 − y)``),
  adding parentheses only where the surrounding operator needs them;
* :func:`product` writes a chain of local derivatives as one product,
  dropping ``1`` factors and turning ``−1`` factors into a sign;
* :func:`total` writes a sum of such products (several ways through the
  unnamed steps of one assignment, e.g. both uses of ``x`` in ``x * x``).
"""
from __future__ import annotations

import re
from functools import lru_cache

# Binding strength of a piece of formula text, loosest first.
COND, SUM, PRODUCT, UNARY, POWER, ATOM = 0, 1, 2, 3, 4, 5

_OPEN, _CLOSE = "([", ")]"
_MINUS = "−-"
_SUPERS = "⁰¹²³⁴⁵⁶⁷⁸⁹⁻"
_BRACKETS = re.compile(r"[()\[\]|]")
_MINUS_SIGN = re.compile("[−-]")
_NUMBER = re.compile(r"^[−-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def is_number(text: str) -> bool:
    return bool(_NUMBER.match(text.strip()))


def _top_level(text: str):
    """Yield (index, char) of the characters outside any brackets or |…|."""
    depth, in_abs = 0, False
    for i, c in enumerate(text):
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
        elif c == "|":
            in_abs = not in_abs
        elif depth == 0 and not in_abs:
            yield i, c


def _is_unary(text: str, i: int) -> bool:
    """Is the minus at ``text[i]`` a sign rather than a subtraction?"""
    j = i - 1
    while j >= 0 and text[j] == " ":
        j -= 1
    if j < 0:
        return True
    prev = text[j]
    if prev in "eE" and j > 0 and text[j - 1].isdigit():  # 1e-05
        return True
    return prev in "(+−-·×/^,=<>[" or text[max(0, j - 1):j + 1] in ("if", "se")


def _flat(s: str) -> str:
    """``s`` with everything inside brackets or |…| blanked out."""
    if not _BRACKETS.search(s):
        return s
    chars = [" "] * len(s)
    for i, c in _top_level(s):
        chars[i] = c
    return "".join(chars)


@lru_cache(maxsize=1 << 16)
def precedence(text: str) -> int:
    """How tightly ``text`` holds together, judged by its loosest top-level operator."""
    s = text.strip()
    if not s:
        return ATOM
    if is_number(s):
        return UNARY if s[0] in _MINUS else ATOM
    flat = _flat(s)
    if re.search(r"\b(if|else)\b", flat) or any(c in flat for c in "<>≤≥"):
        return COND
    if "+" in flat:
        return SUM
    best = ATOM
    for m in _MINUS_SIGN.finditer(flat):
        i = m.start()
        if not _is_unary(s, i):
            return SUM
        best = min(best, UNARY if i == 0 else POWER)
    if "·" in flat or "×" in flat or "/" in flat:
        best = min(best, PRODUCT)
    if "^" in flat or any(c in flat for c in _SUPERS):
        best = min(best, POWER)
    return best


def _need_left(template: str, start: int) -> int:
    """The binding strength an operand needs, given what stands to its left."""
    j = start - 1
    while j >= 0 and template[j] == " ":
        j -= 1
    if j < 0 or template[j] in "([,":
        return COND
    c = template[j]
    if c == "+":
        return SUM
    if c in _MINUS:
        return UNARY if _is_unary(template, j) else PRODUCT
    if c in "·×":
        return PRODUCT
    if c == "/":
        return UNARY
    if c in "^√":
        return ATOM
    if template[max(0, j - 1):j + 1] in ("if", "se") or c in "<>≤≥":
        return SUM
    return ATOM  # juxtaposition, e.g. "2x" in LaTeX


def _need_right(template: str, end: int) -> int:
    j = end
    while j < len(template) and template[j] == " ":
        j += 1
    if j >= len(template) or template[j] in ")],":
        return COND
    c = template[j]
    if c == "+" or c in _MINUS:
        return SUM
    if c in "·×/":
        return PRODUCT
    if c == "^" or c in _SUPERS:
        return ATOM
    if template[j:j + 2] in ("if", "el") or c in "<>≤≥":
        return SUM
    return ATOM


def _binary_left(template: str, start: int) -> bool:
    j = start - 1
    while j >= 0 and template[j] == " ":
        j -= 1
    return j >= 0 and (template[j] in "+·×/" or (template[j] in _MINUS and not _is_unary(template, j)))


_LABEL = re.compile(r"(?<![\w.])[A-Za-z_][A-Za-z0-9_]*")   # node labels made by the trace are identifiers


def substitute(template: str, names: dict[str, str]) -> str:
    """Replace each whole-word label in ``template`` by its text in ``names``.

    Parentheses are added where the neighbouring operators bind tighter than
    the substituted text: ``sub8^2`` → ``(a3 − y)^2``, ``mul4 + b1`` →
    ``w1 · x + b1``.
    """
    if not names or not template:
        return template

    def put(m: re.Match) -> str:
        text = names.get(m.group(0))
        if text is None:
            return m.group(0)
        if template.strip() == m.group(0):
            return text
        need = max(_need_left(template, m.start()), _need_right(template, m.end()))
        p = precedence(text)
        if p < need or (p == UNARY and _binary_left(template, m.start())):
            return f"({text})"
        return text

    return _LABEL.sub(put, template)


# --------------------------------------------------------------------------
# Products and sums of formula text
# --------------------------------------------------------------------------

def _signed(factors: list[str]) -> tuple[int, list[str]]:
    """(sign, factors) with 1s dropped and leading minus signs pulled out front."""
    sign, kept = 1, []
    for f in factors:
        f = f.strip()
        # −x, −sin(x), −x/y²: a leading sign that belongs to the whole factor
        if f[:1] and f[0] in _MINUS and precedence(f) > SUM:
            sign, f = -sign, f[1:].strip()
        if f in ("1", ""):
            continue
        kept.append(f)
    return sign, kept


def _join(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return "·".join(p if precedence(p) >= PRODUCT else f"({p})" for p in parts) or "1"


def product(factors: list[str]) -> str:
    """``["2·(a3 − y)", "1"]`` → ``"2·(a3 − y)"``; ``["2·u", "−1"]`` → ``"−2·u"``."""
    sign, kept = _signed(factors)
    return _with_sign(sign, _join(kept))


def _with_sign(sign: int, body: str) -> str:
    if sign > 0:
        return body
    return "−" + (body if precedence(body) >= PRODUCT else f"({body})")


def total(terms: list[list[str]]) -> str:
    """A sum of products, one per way through the unnamed steps, in order.

    Terms are not combined (``a + a`` gives ``1 + 1``): each term is one use,
    and seeing the uses is the point.
    """
    pieces = []
    for factors in terms:
        sign, kept = _signed(factors)
        pieces.append((sign, _join(kept)))
    if not pieces:
        return "0"
    if len(pieces) == 1:
        return _with_sign(*pieces[0])
    first_sign, first = pieces[0]
    out = ("−" if first_sign < 0 else "") + (first if precedence(first) > SUM else f"({first})")
    for sign, text in pieces[1:]:
        out += (" − " if sign < 0 else " + ") + (text if precedence(text) > SUM else f"({text})")
    return out

