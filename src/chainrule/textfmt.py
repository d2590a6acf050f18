"""Plain-text tables and lines for the terminal (the CLI, gradcheck and the explainer share this).

Everything fits a width: by default the terminal's (:func:`chainrule.numfmt.terminal_width`:
``COLUMNS``, else the terminal, else 80). A table too wide for it wraps the text inside its
widest cells; a table that cannot fit even then is written one record per row instead.
"""
from __future__ import annotations

import re

from .numfmt import terminal_width, text_width

__all__ = ["text_table", "fit_lines", "wrap_text"]

MIN_WIDTH = 20     # narrower than this, lines are wrapped at 20 columns anyway
_GAP = 2


def _ljust(s: str, width: int) -> str:
    return s + " " * (width - text_width(s))


def _cut(word: str, width: int) -> list[str]:
    """A word too long for ``width`` columns, in pieces that fit."""
    pieces, start, used = [], 0, 0
    for i, ch in enumerate(word):
        w = text_width(ch)
        if used and used + w > width:
            pieces.append(word[start:i])
            start, used = i, 0
        used += w
    return pieces + [word[start:]] if start < len(word) else pieces


def wrap_text(text: str, width: int, indent: str = "", first_indent: str | None = None) -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken at spaces (long words are cut).

    ``first_indent`` starts the first line (default ``indent``), ``indent`` every later one.
    Spaces inside a line are kept as they are (``after:  L``); a break swallows its spaces.
    """
    cur = [indent if first_indent is None else first_indent]
    used = text_width(cur[0])       # columns taken by the line so far
    room = max(width - text_width(indent), 1)
    lines, empty, gap = [], True, ""
    for token in re.split(r"( +)", text.strip(" ")):
        if not token:
            continue
        if token.startswith(" "):
            gap = token
            continue
        tw = text_width(token)
        for piece in _cut(token, room) if tw > room else [token]:
            pw = tw if piece is token else text_width(piece)
            if not empty and used + len(gap) + pw > width:
                lines.append("".join(cur))
                cur, used, empty = [indent], text_width(indent), True
            if not empty:
                cur.append(gap)
                used += len(gap)
            cur.append(piece)
            used += pw
            empty, gap = False, ""
    lines.append("".join(cur))
    return [ln.rstrip() for ln in lines]


def fit_lines(lines: list[str], width: int | None = None, hang: int = 4) -> list[str]:
    """Lines longer than ``width`` wrapped, continuations indented ``hang`` more than the line."""
    width = max(terminal_width() if width is None else width, MIN_WIDTH)
    out = []
    for line in lines:
        if text_width(line) <= width:
            out.append(line)
            continue
        lead = line[:len(line) - len(line.lstrip(" "))]
        out += wrap_text(line.strip(" "), width, lead + " " * hang, lead)
    return out


def _wrap_cell(s: str, width: int) -> list[str]:
    return wrap_text(s, width) if text_width(s) > width else [s]


def _shrink(widths: list[int], room: int, floors: list[int]) -> list[int]:
    """Narrow the widest column first, never below its floor, until the widths sum to ``room``."""
    widths = list(widths)
    excess = sum(widths) - room
    while excess > 0:
        i = max(range(len(widths)), key=lambda j: (widths[j] > floors[j], widths[j]))
        if widths[i] <= floors[i]:
            break
        widths[i] -= 1
        excess -= 1
    return widths


def text_table(header, rows, indent: str = "", rule: bool = False, width: int | None = None) -> list[str]:
    """Left-aligned columns two spaces apart, fitted to ``width`` columns (default: the terminal's).

    ``rule`` draws a line under the header. A cell that does not fit wraps onto more lines
    of its row; when even narrow columns cannot fit, each row is written as ``header: value``
    lines instead.
    """
    table = [[str(c) for c in header], *[[str(c) for c in r] for r in rows]]
    n = len(header)
    natural = [max(text_width(r[i]) for r in table) for i in range(n)]
    room = max(terminal_width() if width is None else width, MIN_WIDTH) - text_width(indent) - _GAP * (n - 1)
    widths = natural
    if sum(natural) > room:
        def longest_word(cells):
            return max((text_width(w) for c in cells for w in c.split(" ")), default=0)
        body = [max((text_width(r[i]) for r in table[1:]), default=0) for i in range(n)]
        # 1. wrap headers wider than their column's cells; 2. wrap cells at spaces, keeping words
        # up to 12 columns whole; 3. cut words down to 4 columns; 4. one record per row
        stages = [[max(body[i], longest_word([table[0][i]])) for i in range(n)],
                  [min(natural[i], max(longest_word(r[i] for r in table), 4), 12) for i in range(n)],
                  [min(w, 4) for w in natural]]
        for floors in stages:
            widths = _shrink(widths, room, floors)
            if sum(widths) <= room:
                break
        else:
            return _records(table, indent, room + _GAP * (n - 1))
    lines = []
    for k, r in enumerate(table):
        # a row's last cell may run on into the empty columns after it
        last = max([i for i, c in enumerate(r) if c] or [0])
        ws = widths[:last] + [sum(widths[last:]) + _GAP * (n - 1 - last)]
        cells = [_wrap_cell(c, w) for c, w in zip(r, ws)]
        for j in range(max(len(c) for c in cells)):
            parts = [c[j] if j < len(c) else "" for c in cells]
            lines.append(indent + (" " * _GAP).join(_ljust(p, w) for p, w in zip(parts, ws)).rstrip())
        if k == 0 and rule:
            lines.append(indent + (" " * _GAP).join("─" * w for w in widths))
    return lines


def _records(table: list[list[str]], indent: str, room: int) -> list[str]:
    """A table too wide for any columns: every row as ``header: value`` lines, rows apart."""
    header, *rows = table
    out = []
    for r in rows:
        if out:
            out.append("")
        for h, c in zip(header, r):
            if c:
                out += wrap_text(f"{h}: {c}", room + text_width(indent), indent + "    ", indent)
    return out
