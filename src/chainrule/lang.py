"""A tiny, safe program language for people who do not write Python.

A program is a few assignments in Python's own syntax::

    z1 = w1*x + b1
    a1 = sigmoid(z1)
    L = (a1 - y)**2      # the last assigned name is the output

Names that are used before they are assigned (``w1``, ``x``, ``b1``, ``y``)
are the program's *inputs*: each becomes a leaf :class:`~chainrule.scalar.Value`
named after the variable, and gets a gradient.

Why a subset of Python parsed with :mod:`ast`: the syntax is familiar and
Python's parser does the hard part, while we walk the tree ourselves and build
Values from a short list of allowed shapes. User text is never passed to
``eval`` or ``exec``; anything outside the list is refused with a
:class:`~chainrule.errors.ProgramError` naming its line and column.

Why every assigned name must be new: an explanation shows one node per name
(``∂L/∂a1``), so ``a = a + 1`` or ``x += 1`` would make a name mean two nodes.
"""
from __future__ import annotations

import ast
import bisect
import difflib
import keyword
import math
import re
import threading
import unicodedata
import warnings
from dataclasses import dataclass, field
from numbers import Real
from typing import Mapping

from .autodiff import enable_grad
from .errors import InputError, ProgramError
from . import ops
from .numfmt import fmt
from .scalar import MathError, Value

__all__ = ["parse", "evaluate", "parse_number", "plain_name", "Program", "Statement", "Run", "StepResult", "gradient_step",
           "MAX_CHARS", "MAX_STATEMENTS", "MAX_DEPTH", "MAX_CHAIN", "MAX_NODES"]

# Bounds, so that a program pasted into the web app cannot exhaust the machine.
# Module-level so an application (or a test) can tighten them.
MAX_CHARS = 20_000        # program text length
MAX_STATEMENTS = 2_000    # assignments
MAX_DEPTH = 200           # expression nesting (our walk is recursive; Python's parser allows 200 brackets)
MAX_CHAIN = 2_500         # operations in a row in one statement, e.g. the + of a long sum (Python's
                          # AST constructor stops near 3,000 levels, less the caller's stack)
MAX_NODES = 100_000       # Values built by one run

# The functions a program may call: the op table's rows marked ``lang`` (and their aliases), kept up
# to date by ops.on_register. name in a program -> its row; (fewest, most) arguments; how to call it.
_FN: dict = {}
_ARITY: dict[str, tuple[int, int]] = {}
_USAGE: dict[str, str] = {}
_NAMED: dict[str, str] = {}     # the notation's own function names: σ → sigmoid, ln → log, √ → sqrt
_PREFIX: set[str] = set()       # names applied to what follows without brackets: σ z, ln x, tanh²(x)
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
FUNCTIONS: tuple[str, ...] = ()
ALLOWED = ""


def _functions_changed() -> None:
    global FUNCTIONS, ALLOWED
    FUNCTIONS = ops.FUNCTIONS
    ALLOWED = ("a program may use numbers, names, `name = expression` (one per line or separated by ;), "
               "+ - * / ** (also − · × ^ x²), unary minus, parentheses, |x|, √x and the functions "
               + ", ".join(FUNCTIONS))


def _install(op) -> None:
    if not op.lang:
        return
    most = op.arity + (1 if op.param else 0)       # leaky_relu(x) or leaky_relu(x, 0.2)
    arity = (most - (op.param is not None and op.default is not None), most)
    for name in (op.name,) + op.aliases:
        _FN[name], _ARITY[name], _USAGE[name] = op, arity, op.usage(name)
    if op.arity == 1 and not op.param:
        _PREFIX.add(op.name)
    if op.symbol:
        _NAMED[op.symbol] = op.name
        if op.symbol.isidentifier():               # σ z, ln x (√ is a token of its own)
            _PREFIX.add(op.symbol)
    _functions_changed()


def _uninstall(op) -> None:
    if not op.lang:
        return
    for name in (op.name,) + op.aliases:
        del _FN[name], _ARITY[name], _USAGE[name]
    _NAMED.pop(op.symbol, None)
    _PREFIX.discard(op.name)
    _PREFIX.discard(op.symbol)
    _functions_changed()


ops.on_register(_install, _uninstall)

# Names chainrule prints in explanations that are not functions of a program
_SHOWN_ONLY = {
    "sign": "sign(x) is not a function of a program: chainrule shows it as the slope of |x| (abs); "
            "write abs(x) for the absolute value",
}
_BRANCH = ("a program's graph is the same at every input, so it cannot branch (chainrule prints "
           "'1 if x > 0 else 0' for the slope of relu at a kink): use relu(x), max(a, b), min(a, b) or abs(x)")


# What to call a refused construct, by ast class name.
_REFUSED = {
    "Attribute": "attribute access (a.b)", "Subscript": "indexing (a[i])", "Slice": "slicing",
    "Lambda": "lambda", "Import": "import", "ImportFrom": "import", "JoinedStr": "f-strings",
    "FormattedValue": "f-strings", "ListComp": "comprehensions", "SetComp": "comprehensions",
    "DictComp": "comprehensions", "GeneratorExp": "comprehensions", "Compare": "comparisons (<, ==, …): " + _BRANCH,
    "If": "if statements", "IfExp": "if-expressions (a if c else b): " + _BRANCH, "BoolOp": "and/or",
    "AugAssign": "augmented assignment (x += …): assign a new name instead, e.g. x2 = x + 1",
    "AnnAssign": "annotated assignment (x: float = …)", "For": "loops", "AsyncFor": "loops",
    "While": "loops", "FunctionDef": "def", "AsyncFunctionDef": "def", "ClassDef": "class",
    "Return": "return", "Delete": "del", "With": "with", "AsyncWith": "with", "Try": "try",
    "TryStar": "try", "Raise": "raise", "Assert": "assert", "Global": "global", "Nonlocal": "nonlocal",
    "Pass": "pass", "Break": "break", "Continue": "continue", "List": "lists", "Tuple": "tuples",
    "Dict": "dicts", "Set": "sets", "Starred": "*arguments", "NamedExpr": "the := operator",
    "Await": "await", "Yield": "yield", "YieldFrom": "yield", "Match": "match",
}


# --------------------------------------------------------------------------
# Parsing: text -> Program (all refusals happen here, before any arithmetic)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Statement:
    target: str
    expr: ast.expr = field(repr=False)
    line: int
    col: int
    text: str            # the right-hand side as written


@dataclass(frozen=True)
class Program:
    """A parsed program: run it with :meth:`run`."""

    text: str
    statements: tuple[Statement, ...]
    inputs: tuple[str, ...]      # free names, in order of first use
    assigned: tuple[str, ...]    # assigned names, in order
    output: str                  # the last assigned name
    _source: "_Source | None" = field(default=None, repr=False, compare=False)

    def run(self, values: Mapping[str, float], *, unused: str = "error") -> "Run":
        """Build the graph at these input values. Raises InputError / ProgramError.

        A value for a name that is not an input is an InputError, or with
        ``unused="ignore"`` left out (see :meth:`unused`, which says why for each).
        """
        given = _check_values(self, values, unused)
        with enable_grad():
            return _Builder(self).run(given)

    def unused(self, values: Mapping[str, float]) -> dict[str, str]:
        """For each given name that is not an input of the program: why it is not used."""
        out = {}
        for key in values:
            name = _nfkc(key)
            if name not in self.inputs:
                out[str(key)] = _unused_reason(self, name)
        return out

    def __str__(self) -> str:
        return "\n".join(f"{s.target} = {s.text}" for s in self.statements)


def parse(text: str) -> Program:
    """Parse program text; refuse anything outside the language with a ProgramError.

    The text may use Python's notation or the one chainrule prints (see
    :class:`_Source`): ``σ(z1)·w₁ − x²`` reads as ``sigmoid(z1)*w1 - x**2``.
    """
    if not isinstance(text, str):
        raise ProgramError(f"a program is text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ProgramError(f"the program is {len(text)} characters long; at most {MAX_CHARS} are allowed", 1, 1)
    text = text.removeprefix("\ufeff")   # the byte-order mark some editors put first (Windows Notepad)
    source = _Source(text)
    _check_chains(source)
    tree = _ast_parse(source)
    where = _Where(source)
    if not tree.body:
        raise ProgramError("the program is empty: write at least one assignment, e.g. L = (3*x + 1)**2", 1, 1)
    if len(tree.body) > MAX_STATEMENTS:
        raise ProgramError(f"the program has {len(tree.body)} statements; at most {MAX_STATEMENTS} are allowed",
                           *where(tree.body[MAX_STATEMENTS]))

    statements: list[Statement] = []
    inputs: dict[str, tuple[int, int]] = {}     # name -> where first used
    assigned: dict[str, int] = {}               # name -> line
    for stmt in tree.body:
        target, expr = _assignment(stmt, where)
        _check_depth(expr, where)
        checker = _Checker(where)
        checker.visit(expr)
        for name, pos in checker.names:
            if name not in assigned and name not in inputs:
                inputs[name] = pos
        line, col = where(stmt)
        if target in assigned:
            raise ProgramError(f"'{target}' is already assigned on line {assigned[target]}: each name can be "
                               f"assigned once (use a new name such as {target}2)", line, col)
        if target in inputs:
            ul, uc = inputs[target]
            raise ProgramError(f"'{target}' is used as an input (line {ul}, column {uc}) before this "
                               f"assignment: an input cannot be assigned; use a new name such as {target}2",
                               line, col)
        if target in _ARITY:
            raise ProgramError(f"'{target}' is a function name; pick another variable name", line, col)
        assigned[target] = line
        statements.append(Statement(target, expr, line, col, where.segment(expr)))
    return Program(text, tuple(statements), tuple(inputs), tuple(assigned), statements[-1].target, source)


# Python's AST constructor keeps its own recursion count, which CPython 3.11 can get wrong when
# several threads parse at once ("SystemError: AST constructor recursion depth mismatch"):
# one parse at a time. Parsing a 20,000-character program takes about a millisecond.
_PARSE_LOCK = threading.Lock()
# For a syntax error, CPython looks for the program's line in a file of this name (the text is
# not a file; the lookup fails and it uses the text itself). A name no file is likely to have.
_PARSE_FILENAME = "<chainrule program>"


def _ast_parse(source: "_Source") -> ast.Module:
    try:
        with _PARSE_LOCK, warnings.catch_warnings():
            # Python's warnings about the text ('invalid decimal literal' in 1if, 0.if) would print
            # on stderr before our own error: make them refusals at their position instead.
            warnings.simplefilter("error", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            return ast.parse(source.py, filename=_PARSE_FILENAME, mode="exec")
    except SyntaxError as e:
        line = min(max(1, e.lineno or 1), max(1, len(source.lines)))
        col = source.column(line, max(0, (e.offset or 1) - 1))
        raise ProgramError(_syntax_message(e.msg or "invalid syntax", source, line), line, col) from None
    except (RecursionError, MemoryError, SystemError):
        # Python's own parser gave up (our checks keep programs well inside its limits, unless the
        # caller's own stack is already deep): point at the longest line, the likely culprit.
        lines = source.lines
        line = max(range(len(lines)), key=lambda i: len(lines[i])) + 1 if lines else 1
        raise ProgramError(f"this statement is too deep for Python's parser (at most {MAX_DEPTH} levels of "
                           f"nesting and {MAX_CHAIN} operations in a row are allowed): split it into "
                           "several statements", line, 1) from None
    except ValueError as e:  # "source code string cannot contain null bytes" (Python 3.11)
        if "null" in str(e):
            raise ProgramError("the program contains a NUL character", 1, 1) from None
        raise ProgramError("the program could not be read: it is not valid text", 1, 1) from None


def _syntax_message(msg: str, source: "_Source", line: int) -> str:
    """Python's SyntaxError message, said for someone who does not write Python."""
    if "null bytes" in msg:
        return "the program contains a NUL character"
    if "nested parentheses" in msg:
        return f"{msg} (at most {MAX_DEPTH} levels of nesting are allowed: split it into several statements)"
    if "Exceeds the limit" in msg and "digits" in msg:
        return "this number has too many digits (a program's numbers must be finite floats, at most about 1.8e308)"
    text = source.lines[line - 1].strip() if line <= len(source.lines) else ""
    if any(t.kind == "name" and t.py in ("if", "else") for t in source.tokens if t.line == line):
        return "not allowed: if-expressions (a if c else b): " + _BRANCH
    if "assign to function call" in msg or "assign to expression" in msg:
        m = re.match(r"([^\W\d]\w*)\s*\(([^()]*)\)\s*=", text)
        if m:
            return (f"'{m.group(0).rstrip('= ').strip()} =' is not how to write it: the left side of = is the "
                    f"name of the result, and the inputs are whatever names the right side uses; write "
                    f"{m.group(1)} = {text[m.end():].strip() or '…'}")
        return "the left side of = must be one new name, e.g. L = (3*x + 1)**2"
    if "invalid character" in msg:
        m = re.search(r"'(.)' \(U\+([0-9A-F]+)\)", msg)
        if m and m.group(1) == "√":
            return "√ needs something to take the root of, e.g. √x or √(x + 1)"
        if m and m.group(1) == "…":
            return ("'…' stands for a part that a drawing's label leaves out (a long expression, shortened): "
                    "type the whole expression")
        if m:
            return f"'{m.group(1)}' (U+{m.group(2)}) is not part of the language; {ALLOWED}"
    msg = msg.replace(". Maybe you meant '==' or ':=' instead of '='?", "").replace(" Perhaps you forgot a comma?", "")
    return f"syntax error: {msg}; {ALLOWED}"


class _Where:
    """1-based (line, column) of an ast node in the user's own text (ast columns count UTF-8 bytes of
    the Python spelling; people count the characters they typed)."""

    def __init__(self, source: "_Source"):
        self.source = source
        self.lines = source.lines

    def __call__(self, node) -> tuple[int, int]:
        line = getattr(node, "lineno", 1) or 1
        return line, self.source.byte_column(line, getattr(node, "col_offset", 0) or 0)

    def segment(self, node) -> str:
        """The user's text of ``node``, on one line (as typed: ``σ(z1)`` stays ``σ(z1)``)."""
        first, last = node.lineno, node.end_lineno
        start = self.source.byte_column(first, node.col_offset) - 1
        # the 1-based column of the node's last character is the 0-based end of the slice
        end = self.source.byte_column(last, _prev_char(self.source.py_lines[last - 1], node.end_col_offset))
        if first == last:
            raw = [self.lines[first - 1][start:end]]
        else:
            raw = [self.lines[first - 1][start:], *self.lines[first:last - 1], self.lines[last - 1][:end]]
        return " ".join("\n".join(raw).split())


def _prev_char(line: str, offset: int) -> int:
    """Byte offset of the character before byte ``offset`` of ``line``."""
    b = line.encode("utf-8")[:offset]
    return len(b) - len(b.decode("utf-8", errors="ignore")[-1:].encode("utf-8"))


def _lines(text: str) -> list[str]:
    """Lines as Python's tokenizer counts them (str.splitlines also splits at \\f, \\v, U+2028 ...)."""
    return re.split(r"\r\n|\r|\n", text)


def _close(name: str, candidates, n: int = 3) -> list[str]:
    """The candidates that look like ``name``: same letters in another case first, then difflib's."""
    candidates = list(candidates)
    same = [c for c in candidates if c.lower() == name.lower()]
    lower = {c.lower(): c for c in candidates}
    near = [lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=n)]
    return list(dict.fromkeys(same + near))[:n]


def _refuse(node, where, what: str | None = None):
    what = what or _REFUSED.get(type(node).__name__, f"'{type(node).__name__}'")
    raise ProgramError(f"not allowed: {what}; {ALLOWED}", *where(node))


def _assignment(stmt, where) -> tuple[str, ast.expr]:
    """``name = expression`` or a ProgramError saying why not."""
    if isinstance(stmt, ast.Expr):
        raise ProgramError("an expression on its own does nothing: assign it to a name, "
                           f"e.g. y = {_short(stmt.value, where)}", *where(stmt))
    if not isinstance(stmt, ast.Assign):
        _refuse(stmt, where)
    if len(stmt.targets) != 1:
        raise ProgramError("not allowed: chained assignment (a = b = …); assign one name per statement",
                           *where(stmt.targets[1]))
    target = stmt.targets[0]
    if isinstance(target, (ast.Tuple, ast.List)):
        raise ProgramError("not allowed: assigning several names at once (a, b = …); "
                           "assign one name per statement", *where(target))
    if not isinstance(target, ast.Name):
        _refuse(target, where)
    return target.id, stmt.value


_BINARY = {ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y,
           ast.Mult: lambda x, y: x * y, ast.Div: lambda x, y: x / y}


def _short(node, where) -> str:
    """The user's text of ``node``, cut short (never ast.unparse: it recurses, and fails on huge ints)."""
    s = where.segment(node)
    return s if len(s) <= 40 else s[:37] + "…"


def _check_depth(expr, where) -> None:
    """Refuse deep nesting before any recursive walk over it (iterative on purpose)."""
    stack = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ProgramError(f"this expression is nested more than {MAX_DEPTH} levels deep: "
                               "split it into several statements", *where(node))
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                # a + b + c + … nests to the left, but is walked as a flat chain (see expr)
                flat = child is getattr(node, "left", None) and _chain_link(node) and _chain_link(child)
                stack.append((child, depth if flat else depth + 1))


def _chain_link(node) -> bool:
    return isinstance(node, ast.BinOp) and not isinstance(node.op, ast.Pow)


def _number(node) -> float | None:
    """The value of a plain number literal (optionally signed), else None."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        if isinstance(node.op, ast.USub):
            sign = -sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * float(node.value)
    return None


class _Checker:
    """Walks one right-hand side; refuses what is not allowed; collects the names read."""

    def __init__(self, where):
        self.where = where
        self.names: list[tuple[str, tuple[int, int]]] = []

    def visit(self, node) -> None:
        if isinstance(node, ast.Constant):
            self.constant(node)
        elif isinstance(node, ast.Name):
            if node.id in _ARITY:
                raise ProgramError(f"'{node.id}' is a function: call it, e.g. {_USAGE.get(node.id, node.id + '(x)')}",
                                   *self.where(node))
            self.names.append((node.id, self.where(node)))
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                _refuse(node, self.where, "'not'" if isinstance(node.op, ast.Not) else "the ~ operator")
            self.visit(node.operand)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                sym = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
                       ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^"}.get(type(node.op), "this operator")
                hint = " (for powers write **)" if sym == "^" else ""
                raise ProgramError(f"not allowed: the {sym} operator{hint}; {ALLOWED}", *self.where(node))
            # a + b + c + … nests to the left: walk that spine in a loop, not by recursion
            spine = [node]
            while _chain_link(spine[-1].left):
                spine.append(spine[-1].left)
                if type(spine[-1].op) not in _BINOPS:
                    self.visit(spine[-1])     # refuses the operator with its message
            self.visit(spine[-1].left)
            for link in reversed(spine):
                self.visit(link.right)
        elif isinstance(node, ast.Call):
            self.call(node)
        else:
            _refuse(node, self.where)

    def constant(self, node) -> None:
        v = node.value
        if type(v) not in (int, float):
            kind = {str: "text strings", bytes: "bytes", bool: str(v), complex: "complex numbers",
                    type(None): "None", type(...): "..."}.get(type(v), type(v).__name__)
            raise ProgramError(f"not allowed: {kind} (only real numbers); {ALLOWED}", *self.where(node))
        try:
            ok = math.isfinite(float(v))
        except OverflowError:
            ok = False
        if not ok:
            raise ProgramError("this number is too large (a program's numbers must be finite floats)",
                               *self.where(node))

    def call(self, node) -> None:
        f, where = node.func, self.where
        if isinstance(f, ast.Attribute):
            close = _close(f.attr, _ARITY)
            if isinstance(f.value, ast.Name) and close:
                raise ProgramError(f"write {close[0]}(…) without '{f.value.id}.': the functions are built in",
                                   *where(f))
            _refuse(f, where)
        if not isinstance(f, ast.Name):
            text = _short(f, where)
            args = ", ".join(_short(a, where) for a in node.args)
            raise ProgramError(f"'{text}' is not a function: to multiply, write {text}*({args}); "
                               f"known functions: {', '.join(FUNCTIONS)}", *where(f))
        name = f.id
        if name not in _ARITY:
            if name in _SHOWN_ONLY:
                raise ProgramError(_SHOWN_ONLY[name], *where(f))
            close = _close(name, _ARITY)
            if close and close[0].lower() == name.lower():
                hint = f"did you mean {close[0]}? (function names are lower-case) "
            elif close:
                hint = f"did you mean {' or '.join(close)}? "
            else:
                args = ", ".join(_short(a, where) for a in node.args)
                hint = f"to multiply, write {name}*({args}); "
            raise ProgramError(f"unknown function '{name}': {hint}known functions: {', '.join(FUNCTIONS)}",
                               *where(f))
        if node.keywords:
            kw = node.keywords[0]
            raise ProgramError(f"not allowed: keyword arguments ({kw.arg or '**'}=…); write "
                               f"{_USAGE.get(name, name + '(x)')}", *self.where(kw.value))
        lo, hi = _ARITY[name]
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} or {hi}"
            raise ProgramError(f"{name} takes {want} argument{'s' if hi > 1 else ''} "
                               f"({_USAGE.get(name, name + '(x)')}), got {len(node.args)}", *self.where(node))
        for a in node.args:
            if isinstance(a, ast.Starred):
                _refuse(a, self.where)
        op = _FN[name]
        if op.param and len(node.args) == 2 and _number(node.args[1]) is None:
            word = op.args[-1] if op.args else "constant"
            eg = op.usage(name).replace(word, fmt(op.default, ascii=True)) if op.default is not None else op.usage(name)
            raise ProgramError(f"the {word} of {name} must be a plain number, e.g. {eg}",
                               *self.where(node.args[1]))
        for a in node.args:
            self.visit(a)


# --------------------------------------------------------------------------
# The learner's notation: what chainrule prints can be typed back in
# --------------------------------------------------------------------------
#
# Before Python's parser sees the text, a small scanner turns the notation
# chainrule itself prints into Python's: − (U+2212) → -, · and × → *,
# x² → x**2, x^y → x**y (there is no xor here), σ(z) → sigmoid(z),
# √x → sqrt(x), |x| → abs(x), ln x → log(x), tanh²(x) → tanh(x)**2,
# x₁ → x1, ½ → (1/2). Each character of the translated text remembers the
# column of the user's character it came from, so every error points into
# the user's own text. The scanner only rewrites tokens; it never evaluates.

_DASHES = "\u2212\u2010\u2011\u2012\u2013\ufe63\uff0d"          # − ‐ ‑ ‒ – ﹣ －
_UNICODE_OPS = {**{c: "-" for c in _DASHES}, **{c: "*" for c in "·×⋅∙∗\u0387"},
                "÷": "/", "∕": "/", "≤": "<=", "≥": ">=", "≠": "!=", "^": "**", "^=": "**="}
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+"))
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉", "0123456789"))
_NAMED = {"σ": "sigmoid", "ln": "log", "√": "sqrt"}   # the notation's own function names
_OPERAND_END = ("name", "number", "frac", "sup", "close")


@dataclass(slots=True)
class _Tok:
    kind: str      # name number frac sup root op str ws nl other (and, once rewritten, close moved)
    src: str       # the user's text
    py: str        # its Python spelling
    line: int      # 1-based
    col: int       # 0-based, in characters of the user's line
    tail: str = "" # Python text inserted after it (the ) that closes √x, the **2 of tanh²(x))


def _is_name_char(c: str) -> bool:
    return c not in _UNICODE_OPS and (("a" + c).isidentifier() or c in _SUBSCRIPTS)


# The common tokens in one regular expression (ASCII only; everything else goes character by character)
_FAST = re.compile(r"(?P<nl>\r\n|\r|\n)|(?P<ws>[ \t\f]+|\\(?=[\r\n])|\#[^\r\n]*)"
                   r"|(?P<number>0[xX][0-9a-fA-F_]*|0[bB][01_]*|0[oO][0-7_]*"
                   r"|(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9][0-9_]*)?[jJ]?)"
                   r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                   r"|(?P<op>\*\*=|//=|>>=|<<=|\.\.\.|\*\*|//|==|!=|<=|>=|->|:=|<<|>>|[-+*/%&|^@]="
                   r"|[-+*/%@&|^~<>()\[\]{},:;.=!])")


def _scan(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, line, col, n = 0, 1, 0, len(text)
    fast = _FAST.match
    while i < n:
        m = fast(text, i)
        if m is not None:
            kind, src = m.lastgroup, m.group()
            if kind == "nl":
                toks.append(_Tok("nl", src, src, line, col))
                i, line, col = i + len(src), line + 1, 0
                continue
            if kind == "name" and m.end() < n and not text[m.end()].isascii() and _is_name_char(text[m.end()]):
                j = m.end()
                while j < n and _is_name_char(text[j]):
                    j += 1
                src = text[i:j]
                toks.append(_Tok("name", src, "".join(_SUBSCRIPTS.get(ch, ch) for ch in src), line, col))
            else:
                toks.append(_Tok(kind, src, _UNICODE_OPS.get(src, src) if kind == "op" else src, line, col))
            i += len(src)
            col += len(src)
            continue
        c = text[i]
        if c in "'\"":
            j = _string_end(text, i)
            src = text[i:j]
            toks.append(_Tok("str", src, src, line, col))
            breaks = _lines(src)
            i, line = j, line + len(breaks) - 1
            col = col + len(src) if len(breaks) == 1 else len(breaks[-1])
            continue
        if c.isidentifier() and c not in _UNICODE_OPS:
            j = i + 1
            while j < n and _is_name_char(text[j]):
                j += 1
            src = text[i:j]
            tok = _Tok("name", src, "".join(_SUBSCRIPTS.get(ch, ch) for ch in src), line, col)
        elif c in _SUPERSCRIPTS:
            j = i
            while j < n and text[j] in _SUPERSCRIPTS:
                j += 1
            src = text[i:j]
            tok = _Tok("sup", src, "**" + "".join(_SUPERSCRIPTS[ch] for ch in src), line, col)
        elif c == "√":
            tok = _Tok("root", c, "sqrt", line, col)
        elif unicodedata.decomposition(c).startswith("<fraction>"):
            num, _, den = unicodedata.normalize("NFKC", c).partition("\u2044")
            tok = _Tok("frac", c, f"({num or 1}/{den})", line, col)
        elif c in _UNICODE_OPS:
            tok = _Tok("op", c, _UNICODE_OPS[c], line, col)
        else:
            tok = _Tok("other", c, c, line, col)
        toks.append(tok)
        i += len(tok.src)
        col += len(tok.src)
    return toks


def _string_end(text: str, i: int) -> int:
    """Index just past the string literal starting at ``text[i]`` (or the end of its line)."""
    q = text[i] * 3 if text.startswith(text[i] * 3, i) else text[i]
    j = i + len(q)
    while j < len(text):
        if text[j] == "\\":
            j += 2
        elif text.startswith(q, j):
            return j + len(q)
        elif len(q) == 1 and text[j] in "\r\n":
            return j
        else:
            j += 1
    return len(text)


_KEYWORDS = frozenset(keyword.kwlist) | (frozenset(getattr(keyword, "softkwlist", ())) - {"_"})


class _Source:
    """The user's text, its Python spelling, and the map from Python columns back to the user's."""

    def __init__(self, text: str):
        self.text = text
        self.lines = _lines(text)
        toks = _scan(text)
        _refuse_strings(toks)
        _Rewriter(toks).run()
        _check_juxtaposition(toks)
        self.tokens = toks
        out: list[str] = []
        maps: list[list[int]] = [[]]
        for t in toks:
            if t.kind == "nl":
                out.append(t.py)
                maps.append([])
                continue
            out.append(t.py)
            n, m = len(t.src), len(t.py)
            if m == n:
                maps[-1].extend(range(t.col, t.col + n))
            else:   # spread the Python text over the user's characters it came from
                maps[-1].extend(t.col + min(n - 1, i * n // m) for i in range(m))
            if t.tail:
                out.append(t.tail)
                maps[-1].extend([t.col + max(0, n - 1)] * len(t.tail))
        for i, m in enumerate(maps):
            m.append(len(self.lines[i]) if i < len(self.lines) else 0)   # one past the end
        self.py = "".join(out)
        self.maps = maps
        self.py_lines = _lines(self.py)
        self._byte_starts: dict[int, list[int]] = {}

    def column(self, line: int, char: int) -> int:
        """1-based column in the user's line for 0-based character ``char`` of Python's line."""
        m = self.maps[line - 1] if 0 < line <= len(self.maps) else [0]
        if char < len(m):
            return m[char] + 1
        return m[-1] + 1 + (char - len(m) + 1)

    def byte_column(self, line: int, offset: int) -> int:
        """The same for an ast node's ``col_offset`` (UTF-8 bytes of Python's line)."""
        return self.column(line, self._char_index(line, offset))

    def _char_index(self, line: int, offset: int) -> int:
        text = self.py_lines[line - 1] if 0 < line <= len(self.py_lines) else ""
        if text.isascii():
            return offset
        starts = self._byte_starts.get(line)
        if starts is None:   # byte offset of each character, once per line (lines can be 20,000 long)
            starts, b = [], 0
            for ch in text:
                starts.append(b)
                b += len(ch.encode("utf-8"))
            starts.append(b)   # the end of the line
            self._byte_starts[line] = starts
        if offset >= starts[-1]:
            return len(text) + (offset - starts[-1])
        return bisect.bisect_right(starts, offset) - 1


def _refuse_strings(toks: list[_Tok]) -> None:
    """Text in quotes is never part of a program. One with a backslash is refused before Python's
    parser, which would warn on stderr about escapes such as '\\d'; the others are refused in order."""
    for k, t in enumerate(toks):
        if t.kind != "str" or "\\" not in t.src:
            continue
        prev = toks[k - 1] if k else None
        if prev is not None and prev.kind == "name" and prev.line == t.line and \
                prev.col + len(prev.src) == t.col and set(prev.src.lower()) <= set("rbuf") and len(prev.src) <= 2:
            kind = "f-strings" if "f" in prev.src.lower() else "bytes" if "b" in prev.src.lower() else "text strings"
            t = prev
        else:
            kind = "text strings"
        raise ProgramError(f"not allowed: {kind} (only real numbers); {ALLOWED}", t.line, t.col + 1)


def _ends_operand(t: _Tok) -> bool:
    return (t.kind in _OPERAND_END and not (t.kind == "name" and t.py in _KEYWORDS)) or t.py in (")", "]", "}")


def _starts_operand(t: _Tok) -> bool:
    return t.kind in ("number", "frac", "root") or t.py == "abs(" or (t.kind == "name" and t.py not in _KEYWORDS)


class _Rewriter:
    """Rewrites tokens in place (their ``py`` text) from the printed notation to Python's."""

    _PREFIX = _PREFIX

    def __init__(self, toks: list[_Tok]):
        self.toks = toks
        self.sig = [k for k, t in enumerate(toks) if t.kind not in ("ws", "nl")]
        self.next = {}      # significant index -> next significant index on the same line
        for a, b in zip(self.sig, self.sig[1:]):
            if toks[a].line == toks[b].line:   # (strings, the only tokens over several lines, are refused)
                self.next[a] = b
        self.match: dict[int, int] = {}
        stack: list[int] = []
        for k in self.sig:
            p = toks[k].py
            if p in ("(", "[", "{"):
                stack.append(k)
            elif p in (")", "]", "}") and stack and "([{"[")]}".index(p)] == toks[stack[-1]].py:
                self.match[stack.pop()] = k
        self.applied: set[int] = set()     # name/root tokens applied to the following atom
        self._ends: dict[int, int | None] = {}   # atom_end, memoised (√√√…x would be quadratic)
        self._bars()

    def _bars(self) -> None:
        """|x| is abs(x): a bar where an operand is expected opens, after an operand it closes."""
        toks, open_bars, depth, prev = self.toks, [], 0, None
        for k in self.sig:
            t = toks[k]
            if t.py in ("(", "[", "{"):
                depth += 1
            elif t.py in (")", "]", "}"):
                depth -= 1
            elif t.py in (";",) or (prev is not None and toks[prev].line != t.line and depth == 0):
                open_bars.clear()
            if t.src == "|":
                if prev is not None and _ends_operand(toks[prev]) and open_bars and open_bars[-1][1] == depth:
                    start = open_bars.pop()[0]
                    self.match[start] = k
                    toks[start].py, t.py = "abs(", ")"
                    t.kind = "close"
                elif prev is None or not _ends_operand(toks[prev]):
                    open_bars.append((k, depth))
            prev = k
        if open_bars:
            t = toks[open_bars[0][0]]
            raise ProgramError("this | is never closed: write |x| for the absolute value of x (or abs(x))",
                               t.line, t.col + 1)

    def atom_end(self, k: int | None) -> int | None:
        """Index of the last token of the atom starting at ``k``: a name (or call), number, (…), |…|,
        or √ / a function name (ln x, sin²x) applied to an atom. None if no atom starts at ``k``."""
        toks, walked = self.toks, []
        while k is not None and k not in self._ends:
            t = toks[k]
            walked.append(k)
            if t.kind == "root":
                k = self.next.get(k)
                continue
            if t.kind == "name" and t.py in self._PREFIX:
                j = self.next.get(k)
                if j is not None and toks[j].kind == "sup":
                    j = self.next.get(j)
                if j is not None and toks[j].py != "(" and self._starts_atom(toks[j]):
                    k = j
                    continue
            break
        end = self._ends.get(k) if k is not None and k in self._ends else self._base_end(k)
        for w in walked:
            self._ends[w] = end
        return end

    def _starts_atom(self, t: _Tok) -> bool:
        return t.kind in ("root", "number", "frac") or t.py in ("(", "abs(") or \
            (t.kind == "name" and t.py not in _KEYWORDS)

    def _base_end(self, k: int | None) -> int | None:
        if k is None:
            return None
        toks, t = self.toks, self.toks[k]
        if t.py in ("(", "[", "{", "abs("):
            return self.match.get(k)
        if t.kind == "name" and t.py not in _KEYWORDS:
            j = self.next.get(k)
            if j is not None and toks[j].kind == "sup" and t.py in self._PREFIX:
                j = self.next.get(j)
            return self.match.get(j, k) if j is not None and toks[j].py == "(" else k
        return k if t.kind in ("number", "frac") else None

    def insert_after(self, k: int, text: str) -> None:
        self.toks[k].tail += text

    def run(self) -> None:
        toks = self.toks
        prev = None
        for k in self.sig:
            t = toks[k]
            if t.kind == "name" and t.py in self._PREFIX:
                self.prefix(k)
            elif t.kind == "root":
                j = self.next.get(k)
                if j is not None and toks[j].py == "(":
                    self.applied.add(k)
                else:
                    end = self.atom_end(j)
                    if end is not None:
                        t.py = "sqrt("
                        self.insert_after(end, ")")
                        self.applied.add(k)
                    else:
                        t.py = t.src          # refused below, in the user's words
            elif t.kind == "sup":
                if prev is None or not _ends_operand(toks[prev]) or not any(c.isdigit() for c in t.py):
                    t.py = t.src              # Python says: invalid character '²'
            prev = k

    def prefix(self, k: int) -> None:
        """σ(z), ln x, tanh²(x), sin x: a function name applied to what follows it."""
        toks, t = self.toks, self.toks[k]
        j = self.next.get(k)
        sup = None
        if j is not None and toks[j].kind == "sup":
            sup, j = j, self.next.get(j)
        if j is None:
            return
        name = _NAMED.get(t.py, t.py)
        if toks[j].py == "(":
            end = self.match.get(j)
            if end is None:
                return
            t.py = name
        else:
            end = self.atom_end(j)
            if end is None:
                return
            t.py = name + "("
            self.insert_after(end, ")")
        self.applied.add(k)
        if sup is not None:       # tanh²(x) is tanh(x)**2
            self.insert_after(end, toks[sup].py)
            toks[sup].py = ""
            toks[sup].kind = "moved"


def _check_juxtaposition(toks: list[_Tok]) -> None:
    """``3x``, ``2 x``, ``(a + b)c``: two operands side by side. Python would say 'invalid
    decimal literal' (and warn on stderr); say what to write instead. Also a number too long for
    Python's int conversion (4,300 digits), whose error makes Python look for a source file."""
    sig = [t for t in toks if t.kind not in ("ws", "nl", "moved")]
    for t in sig:
        if t.kind == "number" and len(t.src) > 4000:
            raise ProgramError(f"this number has {len(t.src)} digits: a program's numbers must be finite floats "
                               "(at most about 1.8e308)", t.line, t.col + 1)
    for a, b in zip(sig, sig[1:]):
        if a.line != b.line:
            continue
        touching = a.col + len(a.src) == b.col
        if a.kind == "number" and b.kind == "name" and touching and b.py in _KEYWORDS:
            raise ProgramError(f"'{a.src}{b.src}': put a space between the number {a.src} and '{b.src}'",
                               a.line, a.col + 1)
        if _ends_operand(a) and _starts_operand(b) and not _is_applied(a):
            left = a.src if a.kind in ("number", "name", "frac") else "(…)" if a.py == ")" else "|…|" \
                if a.kind == "close" else "…" + a.src
            right = b.src + "…" if b.kind == "root" else b.src
            if a.kind == "number" and b.kind == "name" and touching:
                msg = f"'{a.src}{b.src}': to multiply, write {a.src}*{right} (a number next to a name needs *)"
                raise ProgramError(msg, a.line, a.col + 1)
            raise ProgramError(f"missing operator between '{left}' and '{b.src}': to multiply, write "
                               f"{left}*{right}", b.line, b.col + 1)


def _is_applied(t: _Tok) -> bool:
    return t.py.endswith("(")


_PY_TOKEN = re.compile(r"\r\n|\r|\n|[ \t\f]+|\\\r?\n|#[^\r\n]*|\*\*=?|//=?|[<>=!]=|->|:="
                       r"|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?|\w+|.", re.S)


class _Frame:
    """Counts for one bracket level of one statement, bounding the depth of the tree Python builds."""

    __slots__ = ("adds", "mul", "muls", "pow", "pows", "neg", "negs", "child", "start")

    def __init__(self, start):
        self.adds = self.mul = self.muls = self.pow = self.pows = self.neg = self.negs = self.child = 0
        self.start = start

    def depth(self) -> int:
        return self.adds + self.muls + self.pows + self.negs + self.child + 1


def _check_chains(source: "_Source") -> None:
    """Refuse, before Python's parser, what would be too deep for its tree (a sum of 3,000 terms
    makes a tree 3,000 levels deep; Python's AST constructor gives up there with a RecursionError).

    The depth of each statement is bounded from its tokens: the +/− at one bracket level, plus the
    longest run of ·,/ and of ^ and of signs, plus the deepest bracket inside.
    """
    if len(source.py) <= MAX_CHAIN:
        return   # each operation takes a character: nothing this short comes near the limit
    line, pos = 1, 0
    frames = [_Frame((1, 0))]
    operand = False

    def finish():
        f = frames[0]
        if f.negs > MAX_DEPTH:
            raise ProgramError(f"this expression is nested more than {MAX_DEPTH} levels deep: "
                               "split it into several statements", f.start[0], source.column(*f.start))
        if f.depth() - 1 > MAX_CHAIN:
            raise ProgramError(f"this statement is a chain of about {f.depth() - 1} operations (a + b + c + … "
                               f"counts one per +); at most {MAX_CHAIN} are allowed in one statement: split it "
                               "into several statements, e.g. s1 = …; s2 = …; L = s1 + s2",
                               f.start[0], source.column(*f.start))

    for m in _PY_TOKEN.finditer(source.py):
        tok = m.group(0)
        here = (line, m.start() - pos)
        if tok in ("\r\n", "\r", "\n") or tok.startswith("\\"):
            line, pos = line + 1, m.end()
            if len(frames) == 1 and not tok.startswith("\\"):
                finish()
                frames[0], operand = _Frame((line, 0)), False
            continue
        if tok[0] in " \t\f#":
            continue
        f = frames[-1]
        if f.start is None:
            f.start = here
        if tok in ("(", "[", "{"):
            frames.append(_Frame(here))
            if len(frames) > MAX_DEPTH + 1:   # √√√…x and |||x|||: brackets the user did not type
                raise ProgramError(f"this expression is nested more than {MAX_DEPTH} levels deep: "
                                   "split it into several statements", here[0], source.column(*here))
            operand = False
        elif tok in (")", "]", "}"):
            if len(frames) > 1:
                inner = frames.pop()
                frames[-1].child = max(frames[-1].child, inner.depth())
            operand = True
        elif tok in ("+", "-", "~"):
            if operand and tok != "~":
                f.adds, f.mul, f.pow, f.neg = f.adds + 1, 0, 0, 0
            else:
                f.neg += 1
                f.negs = max(f.negs, f.neg)
            operand = False
        elif tok in ("*", "/", "//", "%", "@"):
            f.mul, f.pow = f.mul + 1, 0
            f.muls = max(f.muls, f.mul)
            operand = False
        elif tok == "**":
            f.pow += 1
            f.pows = max(f.pows, f.pow)
            operand = False
        elif tok in (";", "=") and len(frames) == 1:
            if tok == ";":
                finish()
            frames[0], operand = _Frame(None if tok == ";" else f.start), False
        elif tok[0].isalnum() or tok[0] == "_" or tok[0] == ".":
            operand = tok not in _KEYWORDS
            f.neg = 0 if operand else f.neg
        else:
            operand = False
    while len(frames) > 1:   # unclosed brackets: Python will say so; bound what is there
        inner = frames.pop()
        frames[-1].child = max(frames[-1].child, inner.depth())
    finish()


# --------------------------------------------------------------------------
# Running: Program + input values -> Values
# --------------------------------------------------------------------------

@dataclass
class Run:
    """One evaluation of a program: every input and assigned variable as a named Value."""

    program: Program
    inputs: dict[str, Value]
    values: dict[str, Value]     # inputs and assigned variables, by name
    output: Value
    _grads: dict[str, float] | None = field(default=None, repr=False)

    @property
    def value(self) -> float:
        return self.output.data

    def grads(self) -> dict[str, float]:
        """∂output/∂input for every input (runs ``backward()`` once, on first call).

        Intermediate variables get their ``.grad`` too: ``run.values["a3"].grad``.
        """
        if self._grads is None:
            if self.output.requires_grad:
                self.output.backward()
            self._grads = {n: v.grad for n, v in self.inputs.items()}
        return dict(self._grads)

    def trace(self):
        """The :class:`~chainrule.trace.Trace` of this run (leaves every ``.grad`` as it was)."""
        from .trace import trace
        return trace(self.output)


def evaluate(text: str, values: Mapping[str, float]) -> Run:
    """``parse(text).run(values)``."""
    return parse(text).run(values)


def _unused_reason(program: Program, name: str) -> str:
    if name in program.assigned:
        line = next(s.line for s in program.statements if s.target == name)
        return (f"'{name}' is computed by the program, not an input (line {line} assigns it); "
                f"its inputs are: {_list(program.inputs)}")
    close = _close(name, program.inputs)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown input '{name}'{hint}: this program's inputs are: {_list(program.inputs)}"


def _check_values(program: Program, values: Mapping[str, float], unused: str = "error") -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise InputError(f"input values must be a mapping of name -> number, got {type(values).__name__}")
    if unused not in ("error", "ignore"):
        raise InputError(f"unused must be 'error' or 'ignore', got {unused!r}")
    given: dict[str, float] = {}
    for key, v in values.items():
        name = _nfkc(key)
        if name not in program.inputs:
            if unused == "ignore":
                continue
            raise InputError(_unused_reason(program, name))
        if isinstance(v, bool) or not isinstance(v, Real):
            raise InputError(f"the value for input '{name}' must be a number, got {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise InputError(f"the value for input '{name}' must be a finite number, got {v}")
        if name in given:   # e.g. 'ﬁ' and 'fi': two spellings, one variable
            spellings = " and ".join(repr(k) for k in values if _nfkc(k) == name)
            raise InputError(f"input '{name}' is given twice (as {spellings})")
        given[name] = v
    for name in program.inputs:
        if name not in given:
            close = difflib.get_close_matches(name, program.assigned, n=1)
            hint = f" (or did you mean '{close[0]}', assigned in the program?)" if close else ""
            raise InputError(f"missing value for input '{name}': give --at {name}=VALUE{hint}")
    return given


def parse_number(text: str) -> float:
    """A number as a person types it: ``-0.3``, ``−0.3`` (the minus chainrule prints), ``1e−3``, ``+2``.

    Raises ValueError (like ``float``) if it is not one number.
    """
    t = str(text).strip()
    for c in _DASHES:
        t = t.replace(c, "-")
    return float(t)


def plain_name(text: str) -> str:
    """A name as the program sees it: subscripts are digits (``w₁`` is ``w1``), NFKC-normalised."""
    return _nfkc("".join(_SUBSCRIPTS.get(c, c) for c in str(text).strip()))


def _nfkc(key) -> str:
    return unicodedata.normalize("NFKC", str(key))  # Python normalises identifiers the same way


def _list(names) -> str:
    return ", ".join(names) if names else "(none)"


class _Builder:
    """Evaluates statements into Values, turning math errors into positioned ProgramErrors."""

    def __init__(self, program: Program):
        self.program = program
        self.where = _Where(program._source or _Source(program.text))
        self.count = 0
        self.env: dict[str, Value] = {}

    def run(self, given: dict[str, float]) -> Run:
        inputs = {name: self.new(Value(given[name], name=name), None) for name in self.program.inputs}
        self.env.update(inputs)
        out = None
        for s in self.program.statements:
            out = self.expr(s.expr)
            if out.name is not None:
                # `b = a` (or `b = +a`): b must be its own node so explanations can name it.
                # a + 0 is honest: the value is a's, and the local derivative is 1.
                out = self.op(lambda v: v + 0.0, s.expr, out)
            out.name = s.target
            self.env[s.target] = out
        return Run(self.program, inputs, dict(self.env), out)

    def new(self, value: Value, node) -> Value:
        self.count += 1
        if self.count > MAX_NODES:
            raise ProgramError(f"the program builds more than {MAX_NODES} nodes; make it smaller",
                               *(self.where(node) if node is not None else (1, 1)))
        return value

    def op(self, fn, node, *args) -> Value:
        try:
            out = fn(*args)
        except MathError as e:
            raise ProgramError(str(e), *self.where(node)) from None
        return self.new(out, node)

    def expr(self, node) -> Value:
        if isinstance(node, ast.Constant):
            return self.new(Value(float(node.value), requires_grad=False), node)
        if isinstance(node, ast.Name):
            return self.env[node.id]
        if isinstance(node, ast.UnaryOp):
            k = _number(node)
            if k is not None:   # -3 is a number, not neg(3)
                return self.new(Value(k, requires_grad=False), node)
            v = self.expr(node.operand)
            return self.op(lambda a: -a, node, v) if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                return self.power(node, node.left, node.right)
            # Walk a + b + c + … down its left spine without recursion: a long sum
            # of terms is a flat chain, not deep nesting.
            spine = []
            while _chain_link(node):
                spine.append(node)
                node = node.left
            acc = self.expr(node)
            for link in reversed(spine):
                acc = self.op(_BINARY[type(link.op)], link, acc, self.expr(link.right))
            return acc
        assert isinstance(node, ast.Call)  # the checker allowed nothing else
        op = _FN[node.func.id]
        if ops.variant(op) is not None:           # pow(x, 2) is x ** 2: a plain number takes the variant row
            return self.power(node, *node.args)
        method = op.method
        if op.param:                              # leaky_relu(x, 0.2): the row's constant, a plain number
            k = _number(node.args[1]) if len(node.args) == 2 else op.default
            return self.op(lambda a: getattr(a, method)(k), node, self.expr(node.args[0]))
        args = [self.expr(a) for a in node.args]
        return self.op(lambda *vs: getattr(vs[0], method)(*vs[1:]), node, *args)

    def power(self, node, base, exponent) -> Value:
        b = self.expr(base)
        k = _number(exponent)
        if k is not None:          # x ** 2: constant exponent, the op row `powc`
            return self.op(lambda a: a ** k, node, b)
        e = self.expr(exponent)    # x ** y: the op row `pow`
        return self.op(lambda a, c: a ** c, node, b, e)


# --------------------------------------------------------------------------
# One gradient-descent step (used by `chainrule step` and the lessons)
# --------------------------------------------------------------------------

@dataclass
class StepResult:
    before: Run
    grads: dict[str, float]          # ∂output/∂input for every input
    lr: float
    params: tuple[str, ...]          # the inputs that were updated
    new_values: dict[str, float]     # every input after the step (non-params unchanged)
    after: Run | None                # None if the program has no value at the new point
    after_error: str | None = None   # why, e.g. "line 1, column 5: log(-0.2) is undefined: ..."


def gradient_step(program: Program, values: Mapping[str, float], lr: float,
                  params=None, *, unused: str = "error") -> StepResult:
    """``p ← p − lr · ∂output/∂p`` for each param (default: every input), then rerun.

    If the new point is outside the program's domain (the step jumped to
    ``log(-0.2)``), ``after`` is None and ``after_error`` says why: the step
    itself was fine, so this is reported rather than raised.
    """
    if isinstance(lr, bool) or not isinstance(lr, Real) or not math.isfinite(lr) or lr <= 0:
        raise InputError(f"the learning rate must be a positive number, got {lr!r}")
    if not program.inputs:
        raise InputError(f"the program has no inputs, so there is nothing to step: "
                         f"{program.output} is a constant")
    if params is None:
        params = program.inputs
    params = tuple(dict.fromkeys(params))
    for p in params:
        if p not in program.inputs:
            raise InputError(f"unknown parameter '{p}': parameters must be inputs of the program: "
                             f"{_list(program.inputs)}")
    before = program.run(values, unused=unused)
    grads = before.grads()
    new_values = {n: v.data for n, v in before.inputs.items()}
    for p in params:
        if not math.isfinite(grads[p]):   # no learning rate helps: the slope itself is undefined
            raise InputError(f"∂{program.output}/∂{p} is {fmt(grads[p], ascii=True)} at this point, so no step can be taken; "
                             f"try other starting values or leave {p} out of the parameters")
        new = new_values[p] - lr * grads[p]
        if not math.isfinite(new):
            raise InputError(f"the step makes '{p}' {fmt(new, ascii=True)} (its gradient is {fmt(grads[p], ascii=True)}): "
                             "use a smaller learning rate")
        new_values[p] = new
    try:
        after, error = program.run(new_values), None
    except ProgramError as e:
        after, error = None, str(e)
    return StepResult(before, grads, float(lr), params, new_values, after, error)
