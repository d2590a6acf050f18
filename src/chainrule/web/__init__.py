"""The chainrule web app (``chainrule serve``): Starlette + uvicorn, imported only when used.

    from chainrule.web import create_app     # a Starlette app, e.g. for TestClient
"""
from __future__ import annotations

__all__ = ["create_app"]


def create_app(**options):
    """The web app as a Starlette ASGI app; ``options`` go to :func:`chainrule.web.app.create_app`."""
    try:
        from .app import create_app as _create
    except ImportError as e:
        if e.name and e.name.split(".")[0] in ("starlette", "uvicorn", "anyio"):
            from ..errors import InputError
            raise InputError(f'the web app needs Starlette ({e.name} is missing): '
                             'pip install "chainrule[web]"') from None
        raise
    return _create(**options)
