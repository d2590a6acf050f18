"""Notebook display, registered by the views: the engine asks here, it never imports them.

``Value``, ``Tensor`` and ``Trace`` have Jupyter's ``_repr_svg_`` and
``_repr_html_``; each calls :func:`show`, which hands the object to the
drawing that :mod:`chainrule.viz` registered with :func:`register` for its
kind (``"graph"``: a Value's or Tensor's graph; ``"trace"``: a recorded
trace) and format (``"svg"``, ``"html"``). The package's face
(``chainrule/__init__``) adds a loader that imports :mod:`chainrule.viz` the
first time something is shown, so ``import chainrule`` stays light and a
notebook still draws everything. With nothing registered, ``show`` returns
None and Jupyter falls back to the plain ``repr``.

This module is the bottom layer: it imports nothing from chainrule.
"""
from __future__ import annotations

from typing import Callable

__all__ = ["register", "add_loader", "show"]

_drawings: dict[tuple[str, str], Callable] = {}
_loaders: list[Callable[[], object]] = []


def register(kind: str, fmt: str, drawing: Callable) -> None:
    """Let ``drawing(obj)`` answer :func:`show` for ``kind`` ("graph", "trace") in ``fmt`` ("svg", "html")."""
    _drawings[(kind, fmt)] = drawing


def add_loader(load: Callable[[], object]) -> None:
    """``load()`` is run (once) when something is shown before any drawing was registered."""
    _loaders.append(load)


def show(kind: str, fmt: str, obj):
    """The registered drawing of ``obj``, or None if no view registered one."""
    drawing = _drawings.get((kind, fmt))
    while drawing is None and _loaders:
        _loaders.pop(0)()
        drawing = _drawings.get((kind, fmt))
    return None if drawing is None else drawing(obj)
