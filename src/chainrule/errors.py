"""Errors a user can cause, each with a message that names the place.

The CLI and the web app catch :class:`ChainruleError` and show its message on
one line (exit status 2, or HTTP 4xx); anything else is a bug in chainrule.
"""
from __future__ import annotations

__all__ = ["ChainruleError", "ProgramError", "InputError", "GraphCutError"]


class ChainruleError(Exception):
    """Base class of errors caused by user input, not by a bug."""


class ProgramError(ChainruleError):
    """A program text was refused; ``line``/``col`` (1-based) say where."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None):
        self.message, self.line, self.col = message, line, col
        where = f"line {line}, column {col}: " if line is not None else ""
        super().__init__(where + message)


class InputError(ChainruleError, ValueError):
    """A bad value for a named input, argument or option."""


class GraphCutError(ChainruleError, TypeError):
    """A value that requires grad was turned into a plain number (``math.exp(v)``, ``float(v)``).

    The number would not remember where it came from, so the gradient would
    silently miss that path; the message says what to write instead.
    """


def graph_cut(v, how: str, kind: str = "Value") -> GraphCutError:
    """The error for turning ``v`` (which requires grad) into a plain number with ``how(v)``."""
    n = v.name if isinstance(v.name, str) and v.name.isidentifier() else "v"
    number = f"{n}.data" if kind == "Value" else f"{n}.item() (or {n}.detach())"
    return GraphCutError(
        f"{how}({n}) would turn the {kind} {n}, which requires grad, into a plain number and cut the "
        f"graph ({n}'s gradient would miss this path): write {n}.exp(), {n}.log(), {n}.sigmoid(), ... "
        f"or chainrule.exp({n}) instead of math.exp({n}), or {number} to use the number on purpose")
