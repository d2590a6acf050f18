"""A MkDocs plugin: ``chainrule`` blocks, ``{{ … }}`` references and ``expect:`` lines in a MkDocs site.

In ``mkdocs.yml``::

    plugins:
      - chainrule

Each page's fenced ``chainrule`` blocks are rendered by the same code as ``chainrule book``
(:mod:`chainrule.book.blocks`); the scripts and styles they need are written into the site
(``assets/chainrule/``), never fetched. A number a page states that the engine does not
reproduce fails ``mkdocs build`` with the file, the line and both numbers.
"""
from __future__ import annotations

import re
from pathlib import Path

try:
    from mkdocs.exceptions import PluginError
    from mkdocs.plugins import BasePlugin
except ImportError as e:  # pragma: no cover - only MkDocs imports this module
    raise ImportError("the chainrule MkDocs plugin needs MkDocs: pip install mkdocs") from e

__all__ = ["ChainrulePlugin"]

ASSET_DIR = "assets/chainrule"
_MARK = "CHAINRULE-BLOCK-{}-{}"


class ChainrulePlugin(BasePlugin):
    def __init__(self):
        super().__init__()
        self._blocks: dict[str, list[str]] = {}

    def on_config(self, config, **kwargs):
        for name in ("components.css", "player.css"):
            if f"{ASSET_DIR}/{name}" not in config["extra_css"]:
                config["extra_css"].append(f"{ASSET_DIR}/{name}")
        for name in ("player.js", "book.js"):
            if f"{ASSET_DIR}/{name}" not in [str(s) for s in config["extra_javascript"]]:
                config["extra_javascript"].append(f"{ASSET_DIR}/{name}")
        return config

    def on_page_markdown(self, markdown, page, config, files, **kwargs):
        if "```chainrule" not in markdown and "~~~chainrule" not in markdown and "{{" not in markdown:
            return markdown
        from ..errors import ChainruleError
        from .blocks import render_block
        from .format import parse_fragment
        from .site import markdown as make_md

        path = Path(page.file.abs_src_path or page.file.src_path)
        first = 1
        try:
            source = path.read_text(encoding="utf-8")
            at = source.find(markdown)
            if at > 0:
                first = source[:at].count("\n") + 1
        except OSError:
            pass
        shown = page.file.src_path
        try:
            lesson = parse_fragment(markdown, shown, first)
            md, ctx = make_md(), {}
            htmls = [render_block(b, lesson.models, md, ctx) for b in lesson.blocks]
        except ChainruleError as e:
            raise PluginError(f"chainrule: {e}") from None
        lines = lesson.body.splitlines()
        key = page.file.src_uri
        for k, (i, j) in reversed(list(enumerate(lesson.fences))):
            lines[i:j + 1] = ["", _MARK.format(id(self) % 997, k), ""]
        self._blocks[key] = htmls
        return "\n".join(lines) + "\n"

    def on_page_content(self, html, page, config, files, **kwargs):
        htmls = self._blocks.pop(page.file.src_uri, None)
        if not htmls:
            return html
        for k, block in enumerate(htmls):
            mark = _MARK.format(id(self) % 997, k)
            html = re.sub(rf"<p>\s*{re.escape(mark)}\s*</p>", lambda m, b=block: b, html, count=1)
        return html

    def on_post_build(self, config, **kwargs):
        from .site import write_assets
        write_assets(Path(config["site_dir"]) / ASSET_DIR)
