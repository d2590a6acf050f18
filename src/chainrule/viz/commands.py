"""``chainrule draw``, ``chainrule html`` and ``chainrule lesson html`` (registered by :mod:`chainrule.cli`).

::

    chainrule draw "L = (3*x + 1)**2" --at x=2 -o graph.svg      # also .png (matplotlib) and .dot
    chainrule html @net.txt --at x=1 w1=0.5 ... -o page.html       # the interactive player, one file
    chainrule lesson html sigmoid_net -o sigmoid.html
"""
from __future__ import annotations

import os
import sys

from ..errors import InputError
from ..files import atomic_write

__all__ = ["register", "cmd_draw", "cmd_html", "cmd_lesson_html"]

FORMATS = ("svg", "png", "dot")


def register(subparsers) -> None:
    from ..cli import EXIT_STATUSES, SUBPARSERS, add_program_arguments

    p = subparsers.add_parser(
        "draw", help="draw a program's graph with values, gradients and local derivatives (.svg/.png/.dot)",
        epilog=EXIT_STATUSES, description="Draw the computational graph of a program at the given inputs: each box shows its name, "
                    "operation, value and gradient; each edge its local derivative; line width and colour show "
                    "the size of the gradient. No Graphviz needed (.dot is an export for those who have it).")
    add_program_arguments(p)
    p.add_argument("-o", "--output", default="graph.svg", metavar="FILE",
                   help="where to write: .svg (default graph.svg), .png (needs matplotlib) or .dot; - for stdout")
    p.add_argument("--format", choices=FORMATS, help="format (default: from the file name)")
    p.add_argument("--no-locals", action="store_true", help="leave local derivatives off the edges")
    p.add_argument("--no-grad", action="store_true",
                   help="draw before the backward pass (values only: 'gradients not computed yet')")
    _collapse_args(p)
    p.set_defaults(func=cmd_draw)

    p = subparsers.add_parser(
        "html", help="a self-contained HTML page that plays the forward and backward pass step by step",
        epilog=EXIT_STATUSES, description="Write one HTML file (no network needed) that steps through the forward and backward pass, "
                    "shows the chain rule for an input as boxes lighting up, lets you click any node, move "
                    "sliders for the inputs (the page recomputes everything) and take gradient-descent steps.")
    add_program_arguments(p)
    _page_args(p, "graph.html")
    p.set_defaults(func=cmd_html)

    lesson = SUBPARSERS.get("lesson")
    if lesson is not None:
        q = lesson.add_parser("html", help="a lesson as a self-contained interactive HTML page",
                              description="Write a lesson (see chainrule lesson list) as the step-by-step player.")
        q.add_argument("name", metavar="NAME", help="lesson name (see chainrule lesson list)")
        q.add_argument("-o", "--output", metavar="FILE", help="where to write (default NAME.html; - for stdout)")
        _collapse_args(q)
        q.set_defaults(func=cmd_lesson_html)


def _collapse_args(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--collapse", dest="collapse", action="store_true", default=None,
                   help="fold subexpressions into boxes (default: only for graphs of more than a few hundred nodes)")
    g.add_argument("--expand", dest="collapse", action="store_false", help="draw every node")


def _page_args(p, default: str) -> None:
    p.add_argument("-o", "--output", default=default, metavar="FILE",
                   help=f"where to write (default {default}; - for stdout)")
    p.add_argument("--title", help="page title")
    p.add_argument("--wrt", metavar="NAME", help="whose chain to show first (default: the deepest input)")
    p.add_argument("--params", nargs="+", metavar="NAME",
                   help="inputs the gradient-descent button updates (default: names like w1, b2; else every input)")
    p.add_argument("--lr", type=float, help="learning rate shown in the page (default 0.1)")
    _collapse_args(p)


def _check_html_name(path: str) -> None:
    # an HTML page saved as graph.svg or graph.png opens as a broken image
    ext = os.path.splitext(path)[1].lower()
    if path != "-" and ext not in (".html", ".htm"):
        hint = f"; for a {ext[1:]} picture use 'chainrule draw'" if ext[1:] in FORMATS else ""
        raise InputError(f"-o {path}: an HTML page needs a name ending in .html (or - for stdout){hint}")


def _write(path: str, data, what: str) -> None:
    if path == "-":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return
    try:
        atomic_write(path, data)   # a failed write keeps the old file
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
    print(f"chainrule: wrote {what} to {path}", file=sys.stderr)


def _trace(run, backward: bool = True):
    from ..trace import trace
    t = trace(run.output, backward=backward)
    for w in t.warnings:
        print(f"chainrule: warning: {w}", file=sys.stderr)
    return t


def cmd_draw(args) -> int:
    from ..cli import run_from_args, trace_status
    fmt = args.format
    if fmt is None:
        ext = os.path.splitext(args.output)[1].lower().lstrip(".")
        if args.output == "-":
            ext = "svg"
        if ext not in FORMATS:
            raise InputError(f"-o {args.output}: cannot tell the format from the name; use .svg, .png or .dot "
                             "(or --format)")
        fmt = ext
    run = run_from_args(args)
    t = _trace(run, backward=not args.no_grad)
    show = not args.no_locals
    if fmt == "svg":
        from .svg import trace_to_svg
        data = trace_to_svg(t, show_locals=show, collapse=args.collapse)
    elif fmt == "dot":
        from .dot import trace_to_dot
        data = trace_to_dot(t, show_locals=show)
    else:
        from .png import trace_to_png
        data = trace_to_png(t, show_locals=show, collapse=args.collapse)
    _write(args.output, data, f"the graph of {run.program.output} ({len(t.nodes)} nodes, {fmt})")
    return trace_status(t)


def _check_inputs(t, names, option) -> None:
    labels = [n.label for n in t.nodes]
    for n in names or ():
        if n not in labels:
            raise InputError(f"{option} {n}: no variable named '{n}'; inputs: "
                             f"{', '.join(x.label for x in t.inputs) or '(none)'}")


def cmd_html(args) -> int:
    from ..cli import read_program, run_from_args, trace_status
    from .html import trace_to_html
    _check_html_name(args.output)
    run = run_from_args(args)
    t = _trace(run)
    _check_inputs(t, [args.wrt] if args.wrt else [], "--wrt")
    if args.params:
        inputs = {n.label for n in t.inputs}
        for p in args.params:
            if p not in inputs:
                raise InputError(f"--params {p}: not an input of the program; inputs: {', '.join(sorted(inputs))}")
    if args.lr is not None and not (args.lr > 0 and args.lr < float("inf")):
        raise InputError(f"--lr must be a positive number, got {args.lr}")
    page = trace_to_html(t, title=args.title, program=read_program(args.program).strip(), wrt=args.wrt,
                         params=args.params, lr=args.lr, collapse=args.collapse)
    _write(args.output, page, f"the player for {run.program.output} ({len(t.nodes)} nodes)")
    return trace_status(t)


def lesson_page(lesson, collapse=None) -> str:
    """A lesson (:mod:`chainrule.lab.lessons`) as a player page."""
    from ..trace import trace
    from .html import trace_to_html
    run = lesson.run()
    t = trace(run.output)
    notes = [f"{s.title}: {s.shows}" for s in lesson.steps] if lesson.steps else None
    return trace_to_html(t, title=lesson.title, intro=lesson.intro, program=lesson.program,
                         wrt=lesson.wrt[0] if lesson.wrt else None,
                         params=list(lesson.params) if lesson.params else None, lr=lesson.lr,
                         collapse=collapse, step_notes=notes)


def cmd_lesson_html(args) -> int:
    from ..lab.lessons import get_lesson
    lesson = get_lesson(args.name)
    out = args.output or f"{lesson.name}.html"
    _check_html_name(out)
    _write(out, lesson_page(lesson, args.collapse), f"lesson {lesson.name}")
    return 0
