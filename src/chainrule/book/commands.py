"""``chainrule book SRC -o SITE`` and ``chainrule course -o SITE`` (with ``--serve``: preview, reload on save)."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "book", help="build a static course site from a folder of lesson files (Markdown + chainrule blocks)",
        description="Build one offline page per lesson (*.md in SRC), a contents page and a print view. Every number "
                    "a lesson states (expect: lines) is checked against the engine: a wrong one fails the build "
                    "with its file, line and both numbers. Only changed lessons are rebuilt. "
                    "The format: docs/lesson-format.md.")
    p.add_argument("src", metavar="SRC_DIR", help="folder of lesson files (*.md)")
    _common(p, "site")
    p.set_defaults(func=cmd_book)
    q = subparsers.add_parser("course", help="build chainrule's own course (five lessons on backpropagation)",
                              description="Build the built-in course: the chain rule, backpropagation, the "
                                          "vanishing gradient, the blame chain and a trained digits network.")
    _common(q, "course")
    q.set_defaults(func=cmd_course)


def _common(p, default_out) -> None:
    p.add_argument("-o", "--out", default=default_out, metavar="SITE_DIR", help=f"where to write the site (default {default_out}/)")
    p.add_argument("--force", action="store_true", help="rebuild every page, changed or not")
    p.add_argument("--serve", action="store_true", help="then serve the site here and rebuild (and reload) on save")
    p.add_argument("--port", type=int, default=8001, help="port for --serve (default 8001)")
    p.add_argument("--host", default="127.0.0.1", help="address for --serve (default 127.0.0.1)")


def _build(src, args) -> int:
    from .site import build_book
    report = build_book(src, args.out, force=args.force, course=getattr(args, "course_title", None))
    print(f"chainrule book: {report.line()}")
    if args.serve:
        from .preview import serve
        return serve(src, args.out, host=args.host, port=args.port, course=getattr(args, "course_title", None))
    return 0


def cmd_book(args) -> int:
    src = Path(args.src)
    if not src.is_dir():
        raise InputError(f"{args.src}: no such folder (give the folder that holds the lesson files)")
    return _build(src, args)


def cmd_course(args) -> int:
    from .site import COURSE_TITLE, course_dir
    args.course_title = COURSE_TITLE
    return _build(course_dir(), args)

