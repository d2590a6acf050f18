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
import difflib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from numbers import Real
from typing import Mapping

from .autodiff import enable_grad
from .errors import InputError, ProgramError
from .ops import FUNCTIONS
from .scalar import MathError, Value

__all__ = ["parse", "evaluate", "Program", "Statement", "Run", "StepResult", "gradient_step",
           "MAX_CHARS", "MAX_STATEMENTS", "MAX_DEPTH", "MAX_NODES"]

# Bounds, so that a program pasted into the web app cannot exhaust the machine.
# Module-level so an application (or a test) can tighten them.
MAX_CHARS = 20_000        # program text length
MAX_STATEMENTS = 2_000    # assignments
MAX_DEPTH = 200           # expression nesting (our walk is recursive)
MAX_NODES = 100_000       # Values built by one run

# function name in a program -> (op-table row, number of Value arguments)
_UNARY = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "square")
_ALIASES = {"max": "maximum", "min": "minimum"}
_ARITY = {**{f: (1, 1) for f in _UNARY}, "leaky_relu": (1, 2),
          "maximum": (2, 2), "minimum": (2, 2), "max": (2, 2), "min": (2, 2), "pow": (2, 2)}
_USAGE = {"leaky_relu": "leaky_relu(x, slope)", "maximum": "maximum(a, b)", "minimum": "minimum(a, b)",
          "max": "max(a, b)", "min": "min(a, b)", "pow": "pow(x, y)"}
assert set(_ARITY) == set(FUNCTIONS)

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
ALLOWED = ("a program may use numbers, names, `name = expression` (one per line or separated by ;), "
           "+ - * / **, unary minus, parentheses and the functions " + ", ".join(FUNCTIONS))

# What to call a refused construct, by ast class name.
_REFUSED = {
    "Attribute": "attribute access (a.b)", "Subscript": "indexing (a[i])", "Slice": "slicing",
    "Lambda": "lambda", "Import": "import", "ImportFrom": "import", "JoinedStr": "f-strings",
    "FormattedValue": "f-strings", "ListComp": "comprehensions", "SetComp": "comprehensions",
    "DictComp": "comprehensions", "GeneratorExp": "comprehensions", "Compare": "comparisons (<, ==, …)",
    "If": "if statements", "IfExp": "if-expressions (a if c else b)", "BoolOp": "and/or",
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

    def run(self, values: Mapping[str, float]) -> "Run":
        """Build the graph at these input values. Raises InputError / ProgramError."""
        given = _check_values(self, values)
        with enable_grad():
            return _Builder(self).run(given)

    def __str__(self) -> str:
        return "\n".join(f"{s.target} = {s.text}" for s in self.statements)


def parse(text: str) -> Program:
    """Parse program text; refuse anything outside the language with a ProgramError."""
    if not isinstance(text, str):
        raise ProgramError(f"a program is text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ProgramError(f"the program is {len(text)} characters long; at most {MAX_CHARS} are allowed", 1, 1)
    text = text.removeprefix("\ufeff")   # the byte-order mark some editors put first (Windows Notepad)
    lines = _lines(text)
    tree = _ast_parse(text, lines)
    where = _Where(lines)
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
    return Program(text, tuple(statements), tuple(inputs), tuple(assigned), statements[-1].target)


def _ast_parse(text: str, lines: list[str]) -> ast.Module:
    try:
        return ast.parse(text, mode="exec")
    except SyntaxError as e:
        msg = e.msg
        if "null bytes" in msg:
            raise ProgramError("the program contains a NUL character", 1, 1) from None
        if "nested parentheses" in msg:
            msg += f" (at most {MAX_DEPTH} levels of nesting are allowed: split it into several statements)"
        else:
            msg = f"syntax error: {msg}; {ALLOWED}"
        raise ProgramError(msg, e.lineno or 1, max(1, e.offset or 1)) from None
    except (RecursionError, MemoryError):
        # Python's own parser gave up; point at the longest line, the likely culprit.
        line = max(range(len(lines)), key=lambda i: len(lines[i])) + 1 if lines else 1
        raise ProgramError(f"this statement is nested too deeply (at most {MAX_DEPTH} levels are "
                           "allowed): split it into several statements", line, 1) from None
    except ValueError as e:  # e.g. source code cannot contain null bytes (older Pythons)
        raise ProgramError(f"the program could not be read: {e}", 1, 1) from None


class _Where:
    """1-based (line, column) of an ast node; ast columns count UTF-8 bytes, people count characters."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def __call__(self, node) -> tuple[int, int]:
        line = getattr(node, "lineno", 1) or 1
        offset = getattr(node, "col_offset", 0) or 0
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        col = len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore")) + 1
        return line, col

    def segment(self, node) -> str:
        """The source text of ``node``, on one line (ast.get_source_segment re-splits the whole text)."""
        first, last = node.lineno - 1, node.end_lineno - 1
        raw = [line.encode("utf-8") for line in self.lines[first:last + 1]]
        raw[-1] = raw[-1][:node.end_col_offset]
        raw[0] = raw[0][node.col_offset:]
        return " ".join(b"\n".join(raw).decode("utf-8", errors="replace").split())


def _lines(text: str) -> list[str]:
    """Lines as Python's tokenizer counts them (str.splitlines also splits at \\f, \\v, U+2028 ...)."""
    return re.split(r"\r\n|\r|\n", text)


def _refuse(node, where, what: str | None = None):
    what = what or _REFUSED.get(type(node).__name__, f"'{type(node).__name__}'")
    raise ProgramError(f"not allowed: {what}; {ALLOWED}", *where(node))


def _assignment(stmt, where) -> tuple[str, ast.expr]:
    """``name = expression`` or a ProgramError saying why not."""
    if isinstance(stmt, ast.Expr):
        raise ProgramError("an expression on its own does nothing: assign it to a name, "
                           f"e.g. y = {_short(stmt.value)}", *where(stmt))
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


def _short(node) -> str:
    s = ast.unparse(node)
    return s if len(s) <= 40 else s[:37] + "..."


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
        f = node.func
        if isinstance(f, ast.Attribute):
            _refuse(f, self.where)
        if not isinstance(f, ast.Name):
            raise ProgramError(f"'{_short(f)}' is not a function; known functions: {', '.join(FUNCTIONS)}",
                               *self.where(f))
        name = f.id
        if name not in _ARITY:
            close = difflib.get_close_matches(name, _ARITY, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ProgramError(f"unknown function '{name}': {hint}known functions: {', '.join(FUNCTIONS)}",
                               *self.where(f))
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
        if name == "leaky_relu" and len(node.args) == 2 and _number(node.args[1]) is None:
            raise ProgramError("the slope of leaky_relu must be a plain number, e.g. leaky_relu(x, 0.01)",
                               *self.where(node.args[1]))
        for a in node.args:
            self.visit(a)


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


def _check_values(program: Program, values: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise InputError(f"input values must be a mapping of name -> number, got {type(values).__name__}")
    given: dict[str, float] = {}
    for key, v in values.items():
        name = _nfkc(key)
        if name not in program.inputs:
            if name in program.assigned:
                raise InputError(f"'{name}' is computed by the program, not an input; "
                                 f"its inputs are: {_list(program.inputs)}")
            close = difflib.get_close_matches(name, program.inputs, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InputError(f"unknown input '{name}'{hint}: this program's inputs are: {_list(program.inputs)}")
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


def _nfkc(key) -> str:
    return unicodedata.normalize("NFKC", str(key))  # Python normalises identifiers the same way


def _list(names) -> str:
    return ", ".join(names) if names else "(none)"


class _Builder:
    """Evaluates statements into Values, turning math errors into positioned ProgramErrors."""

    def __init__(self, program: Program):
        self.program = program
        self.where = _Where(_lines(program.text))
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
        name = _ALIASES.get(node.func.id, node.func.id)
        if name == "pow":
            return self.power(node, *node.args)
        if name == "leaky_relu":
            slope = _number(node.args[1]) if len(node.args) == 2 else 0.01
            return self.op(lambda a: a.leaky_relu(slope), node, self.expr(node.args[0]))
        args = [self.expr(a) for a in node.args]
        return self.op(lambda *vs: getattr(vs[0], name)(*vs[1:]), node, *args)

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
                  params=None) -> StepResult:
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
    before = program.run(values)
    grads = before.grads()
    new_values = {n: v.data for n, v in before.inputs.items()}
    for p in params:
        if not math.isfinite(grads[p]):   # no learning rate helps: the slope itself is undefined
            raise InputError(f"∂{program.output}/∂{p} is {grads[p]} at this point, so no step can be taken; "
                             f"try other starting values or leave {p} out of the parameters")
        new = new_values[p] - lr * grads[p]
        if not math.isfinite(new):
            raise InputError(f"the step makes '{p}' {new} (its gradient is {grads[p]:g}): "
                             "use a smaller learning rate")
        new_values[p] = new
    try:
        after, error = program.run(new_values), None
    except ProgramError as e:
        after, error = None, str(e)
    return StepResult(before, grads, float(lr), params, new_values, after, error)
