"""Lessons as files: a teacher writes Markdown, chainrule builds the interactive course.

* :mod:`chainrule.book.format` reads a lesson file (front matter, Markdown, fenced
  ``chainrule`` blocks, ``{{ grad("id", "w1") }}`` references, ``expect:`` lines) and checks
  every number it states against the engine;
* :mod:`chainrule.book.blocks` turns each block into HTML (player, graph, chain, step, ...);
* :mod:`chainrule.book.site` writes the static, offline site (``chainrule book``);
* :mod:`chainrule.book.mkdocs_plugin` renders the same blocks inside a MkDocs site.

The format is documented in ``docs/lesson-format.md``. Needs ``markdown-it-py``
(``pip install "chainrule[book]"``); YAML front matter uses PyYAML's safe loader when it is
installed and a small ``key: value`` reader otherwise.
"""
from __future__ import annotations

__all__ = ["LessonError", "read_lesson", "build_book", "course_dir"]


def __getattr__(name):
    if name in ("LessonError", "read_lesson"):
        from . import format as _format
        return getattr(_format, name)
    if name == "build_book":
        from .site import build_book
        return build_book
    if name == "course_dir":
        from .site import course_dir
        return course_dir
    raise AttributeError(name)
