"""Errors a user can cause, each with a message that names the place.

The CLI and the web app catch :class:`ChainruleError` and show its message on
one line (exit status 2, or HTTP 4xx); anything else is a bug in chainrule.
"""
from __future__ import annotations

__all__ = ["ChainruleError", "ProgramError", "InputError"]


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
