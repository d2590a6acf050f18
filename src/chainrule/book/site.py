"""``chainrule book SRC -o SITE``: a folder of lesson files -> a static, offline site.

One page per lesson (``SLUG.html``), a contents page (``index.html``), a print view of the
whole course (``print.html``), and ``assets/`` with every script and style the pages use:
nothing is fetched from anywhere. A rebuild re-renders only the pages whose inputs changed
(``.chainrule-book.json`` keeps one content hash per page: the lesson's text, the course's
navigation and chainrule's own page code).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path

from ..errors import InputError
from .format import Lesson, LessonError, read_lesson

__all__ = ["build_book", "BuildReport", "course_dir", "markdown", "page_body", "MANIFEST", "lesson_files",
           "built_course", "site_file", "write_assets", "COURSE_TITLE"]

MANIFEST = ".chainrule-book.json"
COURSE_TITLE = "Backpropagation, shown with its work"
ASSETS = ("components.css", "book.css", "book.js")


def course_dir() -> Path:
    """The built-in course's lesson files (shipped in the package)."""
    return Path(str(resources.files("chainrule.book").joinpath("course")))


def markdown():
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        raise InputError("chainrule book needs markdown-it-py: pip install \"chainrule[book]\" "
                         "(or pip install markdown-it-py)") from None
    # raw HTML off: a lesson is Markdown, never markup or script of its own
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def _slugify(text: str, seen: set) -> str:
    base = re.sub(r"[^\w]+", "-", text.lower(), flags=re.U).strip("-") or "section"
    slug, i = base, 2
    while slug in seen:
        slug, i = f"{base}-{i}", i + 1
    seen.add(slug)
    return slug


@dataclass
class Page:
    body: str                 # the lesson's HTML (inside <article>)
    toc: list = field(default_factory=list)     # (level, id, text)
    needs_player: bool = False


def page_body(lesson: Lesson, md=None) -> Page:
    """The lesson's Markdown and blocks as HTML, its ## sections wrapped in <section>."""
    from .blocks import render_block
    md = md or markdown()
    env: dict = {}
    tokens = md.parse(lesson.body, env)
    blocks = iter(lesson.blocks)
    ctx: dict = {}
    out, toc, seen = [], [], {b.id for b in lesson.blocks}
    chapters_at = None
    open_section = False
    Token = type(tokens[0]) if tokens else None
    rendered_blocks = {}
    for i, t in enumerate(tokens):
        if t.type == "fence" and t.info.strip() == "chainrule":
            b = next(blocks)
            html = render_block(b, lesson.models, md, ctx)
            if b.kind == "chapters":
                chapters_at = len(out)
            rendered_blocks[len(out)] = html
            out.append(("html", html))
            continue
        if t.type == "heading_open" and t.tag in ("h2", "h3"):
            text = tokens[i + 1].content if i + 1 < len(tokens) else ""
            hid = _slugify(text, seen)
            t.attrSet("id", hid)
            toc.append((int(t.tag[1]), hid, text))
            if t.tag == "h2":
                cls = "cr-sec cr-chapter" if chapters_at is not None else "cr-sec"
                out.append(("html", ("</section>" if open_section else "") +
                            f'<section class="{cls}" aria-labelledby="{hid}">'))
                open_section = True
        out.append(("tok", t))
    if open_section:
        out.append(("html", "</section>"))
    # render: runs of tokens through markdown-it, html pieces as they are
    parts, run = [], []
    for kind, x in out:
        if kind == "tok":
            run.append(x)
            continue
        if run:
            parts.append(md.renderer.render(run, md.options, env))
            run = []
        parts.append(x)
    if run:
        parts.append(md.renderer.render(run, md.options, env))
    # code may be wider than the page: it scrolls, so it must take the focus (keyboard scrolling)
    html = "".join(parts).replace("<pre>", '<pre tabindex="0">')
    if chapters_at is not None:
        chapters = [(hid, text) for level, hid, text in toc if level == 2 and html.find(f'id="{hid}"') >
                    html.find('data-kind="chapters"')]
        items = "".join(f'<li><a href="#{escape(h)}" data-chapter="{k}">{escape(text)}</a></li>'
                        for k, (h, text) in enumerate(chapters))
        html = html.replace("<!--CHAPTER-LIST-->", f'<ol class="cr-ch-list" aria-label="chapters">{items}</ol>', 1)
        html = html.replace('<span class="cr-ch-total">?</span>', f'<span class="cr-ch-total">{len(chapters)}</span>', 1)
    return Page(html, toc, bool(ctx.get("needs_player")))


def _meta_line(meta: dict) -> str:
    bits = []
    if meta.get("reading_time"):
        rt = meta["reading_time"]
        bits.append(f"Reading time: {rt} minutes" if isinstance(rt, int) else f"Reading time: {rt}")
    if meta.get("practice_time"):
        pt = meta["practice_time"]
        bits.append(f"Practice: {pt} minutes" if isinstance(pt, int) else f"Practice: {pt}")
    if meta.get("difficulty"):
        bits.append(f"Difficulty: {meta['difficulty']}")
    return " · ".join(escape(b) for b in bits)


def _shell(title: str, main: str, nav: str, *, course: str, assets: str = "assets/", player: bool = False,
           toc: str = "", page_class: str = "") -> str:
    scripts = (f'<script src="{assets}player.js"></script>\n' if player else "") + \
        f'<script src="{assets}book.js" defer></script>'
    links = f'<link rel="stylesheet" href="{assets}components.css">\n<link rel="stylesheet" href="{assets}book.css">' + (
        f'\n<link rel="stylesheet" href="{assets}player.css">' if player else "")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="chainrule book">
<title>{escape(title)}</title>
<link rel="icon" href="data:,">
{links}
{scripts}
</head>
<body class="cr-book {page_class}">
<a class="cr-skip" href="#main">Skip to the lesson</a>
<header class="cr-top">
  <a class="cr-brand" href="index.html">{escape(course)}</a>
  <button type="button" class="cr-button cr-print" data-print>Print</button>
</header>
<div class="cr-layout">
<nav class="cr-nav" aria-label="course">{nav}</nav>
<main id="main" class="cr-main" tabindex="-1">
{main}
</main>
{f'<nav class="cr-toc" aria-label="on this page"><h2>On this page</h2>{toc}</nav>' if toc else ""}
</div>
<footer class="cr-foot"><p>Built with chainrule: every number on this page was computed by the engine when the page was built,
and every number the text states was checked against it.</p></footer>
</body>
</html>
"""


def _nav(lessons: list[Lesson], current: str | None) -> str:
    items = []
    for k, les in enumerate(lessons, 1):
        here = ' aria-current="page"' if les.slug == current else ""
        items.append(f'<li><a href="{escape(les.slug)}.html"{here}><span class="cr-num">{k}</span> '
                     f'{escape(les.title)}</a></li>')
    return (f'<h2 class="cr-nav-head"><a href="index.html">Contents</a></h2><ol class="cr-nav-list">{"".join(items)}</ol>'
            f'<p class="cr-nav-print"><a href="print.html">The whole course, for print</a></p>')


def _toc(toc) -> str:
    if not toc:
        return ""
    return "<ol>" + "".join(f'<li class="cr-toc-{level}"><a href="#{escape(h)}">{escape(t)}</a></li>'
                            for level, h, t in toc) + "</ol>"


def _lesson_main(lesson: Lesson, page: Page, k: int, lessons: list[Lesson]) -> str:
    meta = lesson.meta
    head = [f'<p class="cr-kicker">Lesson {k}</p><h1>{escape(lesson.title)}</h1>']
    if meta.get("summary"):
        head.append(f'<p class="cr-summary">{escape(meta["summary"])}</p>')
    line = _meta_line(meta)
    if line:
        head.append(f'<p class="cr-meta">{line}</p>')
    by_slug = {les.slug: les for les in lessons}
    if meta.get("prerequisites"):
        pre = []
        for p in meta["prerequisites"]:
            les = by_slug.get(p)
            pre.append(f'<a href="{escape(p)}.html">{escape(les.title)}</a>' if les else escape(p))
        head.append(f'<p class="cr-prereq"><strong>Before this lesson:</strong> {", ".join(pre)}</p>')
    if meta.get("goals"):
        head.append('<div class="cr-goals"><h2 class="cr-goals-head">What you will be able to do</h2><ul>' +
                    "".join(f"<li>{escape(g)}</li>" for g in meta["goals"]) + "</ul></div>")
    prev = lessons[k - 2] if k > 1 else None
    nxt = lessons[k] if k < len(lessons) else None
    pager = '<nav class="cr-pager" aria-label="previous and next lesson">' + (
        f'<a rel="prev" href="{escape(prev.slug)}.html">← {escape(prev.title)}</a>' if prev else "<span></span>") + (
        f'<a rel="next" href="{escape(nxt.slug)}.html">{escape(nxt.title)} →</a>' if nxt else "<span></span>") + "</nav>"
    return f'<article class="cr-lesson"><header class="cr-lesson-head">{"".join(head)}</header>{page.body}</article>{pager}'


def _index_html(lessons: list[Lesson], course: str, intro: str) -> str:
    cards = []
    for k, les in enumerate(lessons, 1):
        goals = "".join(f"<li>{escape(g)}</li>" for g in les.meta.get("goals", [])[:3])
        cards.append(f'<li class="cr-index-item"><h2><a href="{escape(les.slug)}.html"><span class="cr-num">{k}</span> '
                     f'{escape(les.title)}</a></h2>'
                     + (f'<p>{escape(les.meta["summary"])}</p>' if les.meta.get("summary") else "")
                     + (f'<p class="cr-meta">{_meta_line(les.meta)}</p>' if _meta_line(les.meta) else "")
                     + (f"<ul>{goals}</ul>" if goals else "") + "</li>")
    main = (f'<h1>{escape(course)}</h1><p class="cr-summary">{escape(intro)}</p>'
            f'<ol class="cr-index">{"".join(cards)}</ol>')
    return _shell(course, main, _nav(lessons, None), course=course, page_class="cr-home")


def _print_html(lessons: list[Lesson], bodies: dict, course: str) -> str:
    parts = [f'<h1>{escape(course)}</h1>']
    for k, les in enumerate(lessons, 1):
        parts.append(f'<div class="cr-print-lesson">{bodies[les.slug]}</div>')
    return _shell(f"{course} (print)", "".join(parts), _nav(lessons, None), course=course, player=True,
                  page_class="cr-print-all")


def lesson_files(src: Path) -> list[Path]:
    if not src.is_dir():
        raise InputError(f"{src}: not a folder of lesson files (*.md)")
    files = sorted(p for p in src.glob("*.md") if not p.name.startswith(".") and p.name.lower() != "readme.md")
    if not files:
        raise InputError(f"{src}: holds no lesson files (*.md)")
    return files


def _code_version() -> str:
    """A hash of everything in chainrule that shapes a page (so an upgrade rebuilds every page)."""
    from .. import __version__
    from ..viz.html import player_assets
    h = hashlib.sha256(__version__.encode())
    pkg = resources.files("chainrule.book")
    for name in ("format.py", "blocks.py", "site.py", "digits_block.py", *ASSETS):
        h.update(pkg.joinpath(name).read_bytes())
    for part in player_assets():
        h.update(part.encode())
    return h.hexdigest()[:16]


@dataclass
class BuildReport:
    pages: int = 0
    built: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    seconds: float = 0.0
    checked: int = 0
    out: Path | None = None

    def line(self) -> str:
        from ..numfmt import fixed
        return (f"built {len(self.built)} of {self.pages} lesson pages ({len(self.unchanged)} unchanged), "
                f"{self.checked} stated numbers checked, in {fixed(self.seconds, 2)} s: {self.out}")


def _course_name(src: Path, lessons) -> str:
    conf = src / "course.txt"
    if conf.is_file():
        return conf.read_text(encoding="utf-8").strip().splitlines()[0][:120] or src.name
    return src.name.replace("-", " ").replace("_", " ").strip().capitalize() or "Course"


def build_book(src, out, *, course: str | None = None, intro: str | None = None, force: bool = False) -> BuildReport:
    """Build the site; only pages whose content hash changed are rendered again."""
    t0 = time.perf_counter()
    src, out = Path(src), Path(out)
    files = lesson_files(src)
    sources = {p: p.read_bytes() for p in files}
    # front matter of every lesson (cheap) for the navigation; the body is rendered only when needed
    from .format import read_meta
    metas = []
    for p in files:
        try:
            text = sources[p].decode("utf-8")
        except UnicodeDecodeError as e:
            raise LessonError(p, None, f"not UTF-8 text (byte {e.start})") from None
        meta = read_meta(text, p)[0]
        metas.append((meta["order"], p.name, p, meta))
    metas.sort(key=lambda m: (m[0], m[1]))
    slugs: dict[str, Path] = {}
    for _, _, p, meta in metas:
        if meta["slug"] in slugs:
            raise LessonError(p, 1, f"two lessons make the page {meta['slug']}.html (also {slugs[meta['slug']].name})")
        slugs[meta["slug"]] = p
    stubs = [Lesson(p, meta, "", "", 1) for _, _, p, meta in metas]
    course = course or _course_name(src, stubs)
    intro = intro or "Lessons built with chainrule: every number is computed by the engine and checked."
    nav_sig = json.dumps([[s.slug, s.title] for s in stubs] + [course, intro])
    version = _code_version()
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    try:
        old = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() and not force else {}
    except (OSError, ValueError):
        old = {}
    pages_old = old.get("pages", {}) if old.get("version") == version else {}
    report = BuildReport(pages=len(stubs), out=out)
    md = markdown()
    new_pages, bodies = {}, {}
    for stub in stubs:
        digest = hashlib.sha256(sources[stub.path] + nav_sig.encode() + version.encode()).hexdigest()
        target = out / f"{stub.slug}.html"
        entry = pages_old.get(stub.slug)
        if entry and entry.get("hash") == digest and target.is_file() and entry.get("body") is not None:
            new_pages[stub.slug] = entry
            bodies[stub.slug] = entry["body"]
            report.unchanged.append(stub.slug)
            report.checked += entry.get("checked", 0)
            continue
        lesson = read_lesson(stub.path)
        page = page_body(lesson, md)
        k = [s.slug for s in stubs].index(lesson.slug) + 1
        html = _shell(f"{lesson.title} · {course}", _lesson_main(lesson, page, k, stubs), _nav(stubs, lesson.slug),
                      course=course, player=page.needs_player, toc=_toc(page.toc))
        _write(target, html)
        body = f'<h1>{escape(lesson.title)}</h1>' + page.body
        new_pages[stub.slug] = {"hash": digest, "checked": lesson.checked, "body": body}
        bodies[stub.slug] = body
        report.built.append(stub.slug)
        report.checked += lesson.checked
    for slug in set(pages_old) - set(new_pages):       # a lesson removed: its page goes too
        try:
            (out / f"{slug}.html").unlink()
        except OSError:
            pass
    if report.built or not (out / "index.html").is_file() or pages_old.keys() != new_pages.keys():
        _write(out / "index.html", _index_html(stubs, course, intro))
        _write(out / "print.html", _print_html(stubs, bodies, course))
        write_assets(out / "assets")
    _write(manifest_path, json.dumps({"version": version, "pages": new_pages}))
    report.seconds = time.perf_counter() - t0
    return report


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_assets(folder: Path) -> None:
    from ..viz.html import player_assets
    folder.mkdir(parents=True, exist_ok=True)
    pkg = resources.files("chainrule.book")
    for name in ASSETS:
        _write(folder / name, pkg.joinpath(name).read_text(encoding="utf-8"))
    js, css = player_assets()
    _write(folder / "player.js", js)
    _write(folder / "player.css", css)


_built: dict = {}
_build_lock = __import__("threading").Lock()


def built_course(folder: Path | None = None) -> Path:
    """The built-in course, built once per process (into ``folder``, default a cache folder in the
    system's temporary directory, reused while chainrule's pages are unchanged). For ``chainrule serve``."""
    import tempfile
    with _build_lock:
        if "dir" not in _built:
            out = Path(folder) if folder else Path(tempfile.gettempdir()) / f"chainrule-course-{_code_version()}"
            build_book(course_dir(), out, course=COURSE_TITLE)
            _built["dir"] = out
        return _built["dir"]


def site_file(root: Path, rel: str) -> Path | None:
    """``rel`` inside the built site ``root`` (``index.html`` for a folder), or None if it is not
    a file there (no way out of ``root``: '..', absolute paths and links are refused)."""
    root = Path(root).resolve()
    target = (root / (rel or "index.html")).resolve()
    if target != root and root not in target.parents:
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() and not target.name.startswith(".") else None
