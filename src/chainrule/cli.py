"""The ``chainrule`` command: gradients, explanations, steps and lessons from a terminal.

::

    chainrule grad "L = (3*x + 1)**2" --at x=2            # value and ∂L/∂x
    chainrule explain @net.txt --at x=1 w=0.5 --wrt w      # the chain rule, with numbers
    chainrule step "L = (w*x - y)**2" --at w=1 x=2 y=3 --lr 0.1
    chainrule lesson list | show NAME | check

PROGRAM is the program text (see :mod:`chainrule.lang`), or ``@path`` to read
it from a file (``@-`` reads standard input).

Errors: a bad program, input or option (a :class:`ChainruleError`) prints one
line, ``chainrule: error: line 1, column 9: log(-1) is undefined: ...``, and
exits with status 2. Anything else is a bug in chainrule: one line saying so,
status 1 (``CHAINRULE_DEBUG=1`` shows the traceback).

Non-finite results: when ``grad``, ``explain``, ``step``, ``draw`` or ``html`` computed a
gradient that is not a finite number (``x**y`` at x = −2 has no real
derivative in y; √x has an infinite slope at 0), the results are still
printed, a one-line ``chainrule: warning:`` says where it first appeared and
why, and the exit status is 3 (:data:`EXIT_NONFINITE`). JSON output writes
such numbers as ``null`` and lists the warnings under ``"warnings"`` (a key
that ``grad`` and ``step`` add only when there is a warning).

Plugins. Each module in :data:`PLUGINS` that exists is imported and its
``register(subparsers)`` called with the top-level subparsers action; it adds
its commands with ``subparsers.add_parser(...)`` and sets ``func=handler``
where ``handler(args) -> int`` raises ChainruleError for user errors. A module
must import heavy libraries inside its handlers, so ``chainrule --help`` stays
fast. Nested command groups are in :data:`SUBPARSERS` by name, so a plugin can
extend them: ``SUBPARSERS["lesson"].add_parser("html", ...)`` adds
``chainrule lesson html NAME``. Plugins taking a program can reuse
:func:`add_program_arguments` and :func:`run_from_args`.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import json
import math
import os
import sys
import textwrap
import traceback

from .errors import ChainruleError, InputError
from .numfmt import MAX_DIGITS, factor, fmt, printoptions, signed, terminal_width
from .textfmt import fit_lines, text_table
from . import lang

__all__ = ["main", "build_parser", "PLUGINS", "SUBPARSERS", "add_program_arguments", "read_program",
           "parse_at", "program_values", "run_from_args", "fmt", "json_number", "EXIT_NONFINITE",
           "EXIT_STATUSES", "trace_status"]

#: Exit status when the command ran but a gradient it printed is not a finite number (inf or nan).
EXIT_NONFINITE = 3
EXIT_STATUSES = ("exit status: 0 done; 1 a failed check (lesson check) or a bug in chainrule; 2 a bad program, "
                 f"input or option; {EXIT_NONFINITE} computed, but a gradient is not a finite number (inf or nan: "
                 "a warning says where and why)")

PLUGINS = ["chainrule.nn.commands", "chainrule.viz.commands", "chainrule.web.commands", "chainrule.lab.practice",
           "chainrule.lab.cards", "chainrule.book.commands", "chainrule.lab.commands"]

# Subparser groups by name, filled by build_parser() before the plugins register:
# "chainrule" (the top level) and "lesson".
SUBPARSERS: dict[str, argparse._SubParsersAction] = {}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and status 2), like every other error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# --------------------------------------------------------------------------
# Shared pieces (plugins may use these too)
# --------------------------------------------------------------------------

def add_program_arguments(p: argparse.ArgumentParser) -> None:
    """PROGRAM and ``--at NAME=VALUE ...``."""
    p.add_argument("program", metavar="PROGRAM",
                   help='program text, e.g. "L = (3*x + 1)**2"; or @FILE to read it from a file (@- for stdin)')
    p.add_argument("--at", action="extend", nargs="+", default=[], metavar="NAME=VALUE",
                   help="value of an input, e.g. --at x=2 y=-1 (repeatable)")


def read_program(text: str) -> str:
    """The program text itself, or the contents of ``@path``."""
    if not text.startswith("@"):
        return text
    path = text[1:]
    if not path:
        raise InputError("'@' needs a file name: @program.txt (or @- for standard input)")
    if path == "-":
        if sys.stdin is None:   # started with stdin closed (`chainrule grad @- <&-`)
            raise InputError("@-: cannot read the program from standard input: it is closed")
        return sys.stdin.read(lang.MAX_CHARS + 1)
    try:
        with open(path, encoding="utf-8") as f:
            # One character past the limit is enough for lang to refuse it (and
            # @/dev/zero must not fill the memory first).
            return f.read(lang.MAX_CHARS + 1)
    except FileNotFoundError:
        raise InputError(f"cannot read program file '{path}': no such file") from None
    except IsADirectoryError:
        raise InputError(f"cannot read program file '{path}': it is a directory") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read program file '{path}': it is not UTF-8 text") from None
    except OSError as e:
        raise InputError(f"cannot read program file '{path}': {e.strerror or e}") from None


def parse_at(items: list[str]) -> dict[str, float]:
    """``["x=1", "y=2"]`` (or ``["x=1 y=2"]``, ``["x=1,y=2"]``) -> ``{"x": 1.0, "y": 2.0}``.

    Values are numbers as chainrule prints them too (``x=−0.3``, with U+2212). One value per
    name: ``x=1,5`` is refused, saying so (a decimal is written ``1.5``).
    """
    values: dict[str, float] = {}
    for item in items:
        for word in item.split():
            parts = word.split(",")
            for i, part in enumerate(parts):
                if not part:
                    continue
                name, eq, text = part.partition("=")
                name = lang.plain_name(name)     # w₁=2 is w1=2, as in the program
                if not eq and i > 0 and "=" in parts[i - 1]:
                    first = parts[i - 1].partition("=")[0]
                    raise InputError(f"--at {word!r}: one value per input is expected ({parts[i - 1]}); "
                                     f"a decimal is written with a point ({parts[i - 1]}.{part}), and each "
                                     f"input gets its own NAME=VALUE (--at {first}=1 y=2)")
                if not eq or not name or not text.strip():
                    raise InputError(f"--at {part!r}: expected NAME=VALUE, e.g. --at x=2")
                if not name.isidentifier():
                    raise InputError(f"--at {part!r}: '{name}' is not a variable name")
                try:
                    value = lang.parse_number(text)
                except ValueError:
                    raise InputError(f"--at {part!r}: '{text}' is not a number") from None
                if not math.isfinite(value):
                    raise InputError(f"--at {part!r}: the value must be a finite number")
                if name in values:
                    raise InputError(f"--at: '{name}' is given twice")
                values[name] = value
    return values


def program_values(program, items: list[str]) -> dict[str, float]:
    """``--at`` for ``program``: a value it does not use is a warning on stderr, not a failure."""
    values = parse_at(items)
    for name, why in program.unused(values).items():
        print(f"chainrule: warning: --at {name}={fmt(values[name])} is not used: {why}", file=sys.stderr)
    return values


def run_from_args(args):
    """Parse ``args.program`` and run it at ``args.at``: a :class:`chainrule.lang.Run`."""
    from .lang import parse

    program = parse(read_program(args.program))
    return program.run(program_values(program, args.at), unused="ignore")


def json_number(x):
    """Full precision (repr round-trips); inf and nan, which JSON lacks, as null (the
    ``"warnings"`` list next to them says which and why)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, allow_nan=False))


def _print_lines(lines: list[str]) -> None:
    """Text for the terminal: every line fitted to its width (tables fit already)."""
    print("\n".join(fit_lines("\n".join(lines).split("\n"))))


def _table(header: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    return "\n".join(text_table(header, rows, indent))


def _at(values: dict) -> str:
    return ", ".join(f"{k} = {fmt(v)}" for k, v in values.items())


def _warn(trace) -> None:
    _warn_lines(trace.warnings)


def _warn_lines(lines) -> None:
    for w in lines:
        print(f"chainrule: warning: {w}", file=sys.stderr)


def trace_status(trace) -> int:
    """The exit status for a command that showed ``trace``: :data:`EXIT_NONFINITE` if a value or
    gradient in it is inf or nan (its warnings say where and why), else 0."""
    return EXIT_NONFINITE if trace.nonfinite else 0


def _nonfinite(numbers) -> list[str]:
    """The names in ``{name: number}`` whose number is inf or nan."""
    return [n for n, g in numbers.items() if not math.isfinite(g)]


def _nonfinite_warnings(run, grads: dict, output: str) -> list[str]:
    """Warnings for the non-finite gradients in ``grads`` (none if all are finite): from the
    trace, which names the node where each first appeared and why."""
    bad = _nonfinite(grads)
    if not bad:
        return []
    lines = run.trace().warnings
    if not lines:   # the trace always says more; this is only a floor
        lines = [f"∂{output}/∂{n} is {grads[n]}, not a finite number" for n in bad]
    return lines


def _check_names(run, names, option: str) -> None:
    known = set(run.values)
    for n in names:
        if n not in known:
            close = lang._close(n, known)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise InputError(f"{option} {n}: the program has no variable named '{n}'{hint}; its inputs: "
                             f"{', '.join(run.program.inputs) or '(none)'}; assigned: "
                             f"{', '.join(run.program.assigned)}")


# --------------------------------------------------------------------------
# grad, explain, step
# --------------------------------------------------------------------------

def cmd_grad(args) -> int:
    run = run_from_args(args)
    grads = run.grads()
    out = run.program.output
    warnings = _nonfinite_warnings(run, grads, out)
    status = EXIT_NONFINITE if warnings else 0
    if args.json:
        obj = {"output": out, "value": json_number(run.value), "grads": {n: json_number(g) for n, g in grads.items()}}
        _print_json(dict(obj, warnings=warnings) if warnings else obj)
        return status
    _warn_lines(warnings)
    lines = [f"{out} = {fmt(run.value)}"]
    if grads:
        lines += ["", _table(["input", "value", f"∂{out}/∂input"],
                             [[n, fmt(run.inputs[n].data), fmt(g)] for n, g in grads.items()])]
    _print_lines(lines)
    return status


def _explanation(run, wrt, ops: bool, full: bool = False):
    from .explain import explain

    t = run.trace()
    _warn(t)
    return t, explain(t, wrt=wrt, ops=ops, full=full)


def cmd_explain(args) -> int:
    run = run_from_args(args)
    wrt = list(dict.fromkeys(args.wrt)) if args.wrt else None
    if wrt:
        _check_names(run, wrt, "--wrt")
    t, ex = _explanation(run, wrt, args.ops, args.full)
    if args.format == "json":
        _print_json(_jsonable(ex.to_dict()))
    elif args.format == "markdown":
        print(ex.to_markdown())
    else:
        print(ex.to_text())
    return trace_status(t)


def _jsonable(obj):
    """Replace non-finite floats (which JSON lacks) by null, recursively."""
    if isinstance(obj, float):
        return json_number(obj)
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _parse_lr(text: str) -> float:
    try:
        lr = float(text)
    except ValueError:
        raise InputError(f"--lr {text!r}: not a number; give a learning rate such as --lr 0.1") from None
    if not math.isfinite(lr) or lr <= 0:
        raise InputError(f"--lr {text}: the learning rate must be a positive finite number, e.g. --lr 0.1")
    return lr


def cmd_step(args) -> int:
    from .lang import gradient_step, parse
    from .steps import review_step

    lr = _parse_lr(args.lr)
    program = parse(read_program(args.program))
    params = None
    if args.params:
        params = [p for item in args.params for p in item.replace(",", " ").split()]
        for p in params:
            if p not in program.inputs:
                raise InputError(f"--params {p}: not an input of the program; its inputs: "
                                 f"{', '.join(program.inputs) or '(none)'}")
    values = program_values(program, args.at)
    out = program.output
    before = program.run(values, unused="ignore")
    grads = before.grads()
    warnings = _nonfinite_warnings(before, grads, out)
    stuck = [p for p in (params or program.inputs) if p in grads and not math.isfinite(grads[p])]
    if stuck:    # no learning rate helps: the slope itself is undefined
        return _no_step(args.json, lr, params or list(program.inputs), before, grads, stuck, warnings)
    s = gradient_step(program, values, lr, params, unused="ignore")
    review = review_step(s)
    status = EXIT_NONFINITE if warnings else 0
    if args.json:
        obj = {"output": out, "lr": s.lr, "params": list(s.params),
               "value_before": json_number(s.before.value),
               "grads": {n: json_number(g) for n, g in s.grads.items()},
               "new_values": {n: json_number(v) for n, v in s.new_values.items()},
               "value_after": None if s.after is None else json_number(s.after.value),
               **_jsonable(review.to_dict())}
        if warnings or review.warning():
            obj["warnings"] = warnings + ([review.warning()] if review.warning() else [])
        if s.after_error:
            obj["error_after"] = s.after_error
        _print_json(obj)
        return status
    _warn_lines(warnings)
    lines = [f"before: {out} = {fmt(s.before.value)}", ""]
    rows = []
    for n, g in s.grads.items():
        old = s.before.inputs[n].data
        new = f"{fmt(old)} − {fmt(s.lr)} · {factor(g)} = {fmt(s.new_values[n])}" if n in s.params else "(not updated)"
        rows.append([n, fmt(old), fmt(g), new])
    lines += [_table(["input", "value", f"∂{out}/∂input", f"new value (lr {fmt(s.lr)})"], rows), ""]
    if s.after is None:
        lines.append(f"after:  {out} is undefined at the new values ({s.after_error})")
    else:
        change = s.after.value - s.before.value
        lines.append(f"after:  {out} = {fmt(s.after.value)}  (change {signed(change)}; first order: "
                     f"{review.prediction()})")
    lines += ["", *(f"warning: {w}" for w in review.sentences())] if review.failed else []
    _print_lines(lines)
    return status


def _no_step(as_json: bool, lr: float, params, before, grads, stuck, warnings) -> int:
    """``step`` when a parameter's gradient is inf or nan: the gradients, why, and no step."""
    out = before.program.output
    why = (f"no step taken: ∂{out}/∂{stuck[0]} is {grads[stuck[0]]}"
           + (f" (and {len(stuck) - 1} more)" if len(stuck) > 1 else "")
           + f", so no learning rate gives a step; try other starting values or leave "
           + ", ".join(stuck) + " out of --params")
    if as_json:
        _print_json({"output": out, "lr": lr, "params": list(params), "value_before": json_number(before.value),
                     "grads": {n: json_number(g) for n, g in grads.items()}, "new_values": None,
                     "value_after": None, "warnings": warnings + [why]})
        return EXIT_NONFINITE
    _warn_lines(warnings)
    _print_lines([f"before: {out} = {fmt(before.value)}", "",
                  _table(["input", "value", f"∂{out}/∂input"],
                         [[n, fmt(before.inputs[n].data), fmt(g)] for n, g in grads.items()]), "", why])
    return EXIT_NONFINITE


# --------------------------------------------------------------------------
# lessons
# --------------------------------------------------------------------------

def cmd_lesson_list(args) -> int:
    from .lab.lessons import LESSONS

    rows = [[lesson.name, lesson.seed or "-", lesson.title] for lesson in LESSONS.values()]
    print(_table(["name", "seed", "title"], rows, indent=""))
    return 0


def cmd_lesson_check(args) -> int:
    from .lab.lessons import check_all

    results = check_all()
    _print_lines([r.line() for r in results])
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} lessons do not match: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(results)} lessons match ({sum(r.checked for r in results)} numbers)")
    return 0


def cmd_lesson_show(args) -> int:
    from .lab.lessons import get_lesson

    print(lesson_text(get_lesson(args.name)))
    return 0


def lesson_text(lesson) -> str:
    """A lesson as plain text: what it shows, the program, the whole pass, its chains and step."""
    from .explain import render_text
    from .lab.lessons import naive_recursive_grads
    from .steps import review_step

    parts = [f"{lesson.name}: {lesson.title}", f"seed {lesson.seed}: {lesson.seed_title}" if lesson.seed
             else "chainrule's own lesson (why backward walks a topological order)"]
    if lesson.intro:
        parts.append(textwrap.fill(lesson.intro, min(terminal_width(), 92)))
    program = "\n".join("  " + line for line in lesson.program.splitlines())
    parts.append(f"program:\n{program}\nat: {_at(lesson.inputs)}")

    run = lesson.run()
    t = run.trace()
    _warn(t)
    wrt = list(lesson.wrt) if lesson.wrt else None
    parts.append(render_text(t, wrt=wrt).rstrip())

    if lesson.steps:
        lines = [f"{i:>2}. [{s.phase}] {s.title}" + (f" = {fmt(s.value)}" if s.value is not None else "")
                 + f"\n      {s.shows}" for i, s in enumerate(lesson.steps, 1)]
        parts.append(f"the player's {len(lesson.steps)} steps:\n" + "\n".join(lines))
    if lesson.points:
        parts.append(_points_text(lesson, run))
    step = lesson.step()
    if step is not None:
        out = lesson.output
        lines = [f"  {p} ← {fmt(step.before.inputs[p].data)} − {fmt(step.lr)} · {factor(step.grads[p])} "
                 f"= {fmt(step.new_values[p])}" for p in step.params]
        after = fmt(step.after.value) if step.after is not None else f"undefined ({step.after_error})"
        review = review_step(step)
        lines += [f"  {out} before the step: {fmt(step.before.value)}, after: {after}",
                  f"  first order: {review.prediction()}"]
        lines += [f"  warning: {w}" for w in review.sentences()]
        parts.append(f"one gradient-descent step (lr {fmt(step.lr)}):\n" + "\n".join(lines))
    if lesson.wrong_grads:
        fresh = lesson.run()
        naive = naive_recursive_grads(fresh.output)
        right = fresh.grads()
        out = lesson.output
        lines = [f"  right (topological order):  ∂{out}/∂{n} = {fmt(right[n])}\n"
                 f"  WRONG (naive recursion):    ∂{out}/∂{n} = {fmt(naive[fresh.values[n]])}"
                 for n in lesson.wrong_grads]
        parts.append("the same graph, two ways of walking it:\n" + "\n".join(lines))
    if lesson.note:
        parts.append(textwrap.fill(lesson.note, min(terminal_width(), 92)))
    return "\n".join(fit_lines("\n\n".join(parts).split("\n"))) + "\n"


def _points_text(lesson, run) -> str:
    from .lab.lessons import identity_value

    out = lesson.output
    rows = []
    for inputs in [lesson.inputs] + [p.inputs for p in lesson.points]:
        r = lesson.run(inputs)
        grads = r.grads()
        row = [_at(inputs), fmt(r.value)]
        for name, expr in lesson.identities.items():
            row += [fmt(grads[name]), fmt(identity_value(expr, r))]
        rows.append(row)
    header = ["at", out]
    for name, expr in lesson.identities.items():
        header += [f"∂{out}/∂{name}", expr]
    return "at several points:\n" + _table(header, rows)


# --------------------------------------------------------------------------
# The parser and main
# --------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="chainrule", description="Automatic differentiation that shows its work: "
                     "every gradient told as the chain rule, with numbers.", epilog=EXIT_STATUSES)
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    SUBPARSERS.clear()
    SUBPARSERS["chainrule"] = sub

    p = sub.add_parser("grad", help="value of a program's output and its gradient w.r.t. every input",
                       epilog=EXIT_STATUSES,
                       description="Run PROGRAM at the given inputs; print the output's value and its "
                                   "gradient with respect to every input.")
    add_program_arguments(p)
    p.add_argument("--json", action="store_true",
                   help='print one JSON object: {"output": ..., "value": ..., "grads": {...}}; an inf or nan '
                        'gradient is null, with a "warnings" list saying why')
    p.set_defaults(func=cmd_grad)

    p = sub.add_parser("explain", help="the forward pass, the backward pass, and each gradient as a chain",
                       epilog=EXIT_STATUSES,
                       description="Explain every gradient of PROGRAM at the given inputs: a forward table, "
                                   "the backward steps (incoming × local = contribution) and the chain-rule "
                                   "product for each --wrt.")
    add_program_arguments(p)
    p.add_argument("--wrt", action="extend", nargs="+", metavar="NAME",
                   help="explain the gradient with respect to these variables (default: every input)")
    p.add_argument("--ops", action="store_true", help="show every operation, not only named variables")
    p.add_argument("--full", action="store_true",
                   help="explain everything even for a big graph (above 10,000 nodes the default is a summary: "
                        "chains for --wrt or the 8 largest gradients, a table of the others)")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text", help="output format")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("step", help="one gradient-descent step: loss before, gradients, new values, loss after",
                       epilog=EXIT_STATUSES,
                       description="Take one gradient-descent step p ← p − lr·∂output/∂p on PROGRAM's inputs.")
    add_program_arguments(p)
    p.add_argument("--lr", required=True, metavar="RATE", help="learning rate, e.g. 0.1")
    p.add_argument("--params", action="extend", nargs="+", metavar="NAME",
                   help="update only these inputs (default: every input)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_step)

    p = sub.add_parser("lesson", help="the seed lessons' worked examples: list, show, check",
                       description="Every worked example of the lessons, reproduced with their own numbers.")
    lesson = p.add_subparsers(dest="lesson_command", metavar="ACTION")
    SUBPARSERS["lesson"] = lesson
    p.set_defaults(func=lambda args, p=p: _missing_action(p))
    q = lesson.add_parser("list", help="list the lessons")
    q.set_defaults(func=cmd_lesson_list)
    q = lesson.add_parser("show", help="show a lesson: program, forward and backward pass, chains, step")
    q.add_argument("name", metavar="NAME", help="lesson name (see chainrule lesson list)")
    q.set_defaults(func=cmd_lesson_show)
    q = lesson.add_parser("check", help="recompute every lesson and compare with its numbers (exit 1 on a mismatch)")
    q.set_defaults(func=cmd_lesson_check)

    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (e.name == name or name.startswith(e.name + ".")):
                continue   # that plugin is not installed
            raise
        module.register(sub)
    _add_digits(parser)
    return parser


def _digits(text: str) -> int:
    try:
        digits = int(text)
    except ValueError:
        digits = 0
    if not 1 <= digits <= MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"expected a whole number of significant digits from 1 to {MAX_DIGITS}, "
                                         f"got {text!r}")
    return digits


def _add_digits(parser: argparse.ArgumentParser) -> None:
    """``--digits N`` on the top level and on every command (plugins' too): one number policy."""
    parser.add_argument("--digits", type=_digits, default=argparse.SUPPRESS, metavar="N",
                        help="significant digits of the numbers shown (default 6; JSON keeps full precision)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):   # aliases share a parser
                _add_digits(child)


def _missing_action(p) -> int:
    p.print_help(sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 bug or failed check, 2 bad input,
    3 computed but not finite)."""
    debug = os.environ.get("CHAINRULE_DEBUG", "") not in ("", "0")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return 2
        digits = getattr(args, "digits", None)
        with printoptions(digits) if digits else contextlib.nullcontext():
            return int(args.func(args) or 0)
    except SystemExit as e:   # argparse: --help, --version, usage errors
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except ChainruleError as e:
        print(f"chainrule: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # e.g. `chainrule lesson show chain | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
            # the machine, not chainrule: e.g. `chainrule lesson list > /dev/full`
            print(f"chainrule: error: cannot write the output: {e.strerror or e}", file=sys.stderr)
            return 1
        if debug:
            traceback.print_exc()
        print(f"chainrule: internal error (a bug in chainrule, please report it): {type(e).__name__}: "
              f"{' '.join(str(e).split())}" + ("" if debug else " (set CHAINRULE_DEBUG=1 to see the traceback)"),
              file=sys.stderr)
        return 1
