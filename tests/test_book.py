"""Lessons as files (chainrule.book): the format, its checks, the site builder, the MkDocs plugin.

Browser checks of the built course are in tests/test_book_browser.py.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("markdown_it", reason="chainrule book needs markdown-it-py (the [book] extra)")

from chainrule.book.format import (KINDS, LessonError, check_stated, parse_fragment, parse_lesson,  # noqa: E402
                                   parse_simple_mapping)
from chainrule.book.site import MANIFEST, build_book, course_dir, page_body  # noqa: E402
from chainrule.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "lesson-format.md"

RELU = """\
---
title: Two layers
order: 1
goals:
  - one goal
---
The gradient is {{ grad("relu", "w1") }}; the chain {{ chain("relu", "w1") }}; `{{ not("a", "reference") }}`.

```chainrule
id: relu
show: player
program: |
  z1 = w1*x
  a1 = relu(z1)
  z2 = w2*a1
  L = (z2 - y)**2
at: x=2 y=1 w1=0.5 w2=-0.3
lr: 0.1
params: w1 w2
expect: L = 1.69
expect: ∂L/∂w1 = 1.56
expect: step w1 = 0.344
expect: chain w1 = −2.6 · −0.3 · 1 · 2
```
"""


def lesson(text=RELU, name="relu.md"):
    return parse_lesson(text, name)


def refused(text, name="bad.md") -> LessonError:
    with pytest.raises(LessonError) as e:
        parse_lesson(text, name)
    return e.value


# ----------------------------------------------------------------------------- the format

def test_a_lesson_states_numbers_the_engine_reproduces():
    les = lesson()
    assert les.title == "Two layers" and les.meta["goals"] == ["one goal"] and les.slug == "relu"
    assert les.checked == 4
    assert "The gradient is 1.56; the chain −2.6 · (−0.3) · 1 · 2 = 1.56;" in les.body
    assert '`{{ not("a", "reference") }}`' in les.body          # code spans are left alone


def test_a_stale_number_names_file_line_and_both_numbers():
    e = refused(RELU.replace("∂L/∂w1 = 1.56", "∂L/∂w1 = 1.5"), "lessons/relu.md")
    line = RELU.splitlines().index("expect: ∂L/∂w1 = 1.56") + 1
    assert (e.path, e.line) == ("lessons/relu.md", line)
    assert str(e) == (f"lessons/relu.md:{line}: the lesson states ∂L/∂w1 = 1.5, but chainrule computes 1.56 "
                      "(block 'relu')")
    e = refused(RELU.replace("−2.6 · −0.3 · 1 · 2", "−2.6 · 0.3 · 1 · 2"))
    assert "factor 2 of the chain for w1 = 0.3, but chainrule computes −0.3" in str(e)
    assert lesson(RELU.replace("step w1 = 0.344", "step w1 ≈ 0.34")).checked == 4   # 0.344 rounds to 0.34
    e = refused(RELU.replace("step w1 = 0.344", "step w1 = 0.34"))                  # but it is not 0.34
    assert "states w1 after one step (lr 0.1) = 0.34, but chainrule computes 0.344" in str(e)


def test_stated_numbers_are_checked_to_the_precision_typed():
    assert check_stated("1.56", 1.5600000000000003) and check_stated("0.03", 0.03125, approx=True)
    assert not check_stated("0.03", 0.03125) and check_stated("0.03125", 0.03125)
    assert check_stated("0", 0.0) and not check_stated("0", 1e-6)
    assert check_stated("3", 3.0000001) and not check_stated("3", 3.2)
    assert check_stated("−0.3", -0.3) and not check_stated("0.3", -0.3)
    assert check_stated("2e-3", 0.00204, approx=True) and not check_stated("2.0e-3", 0.00206, approx=True)
    assert not check_stated("1", math.nan) and not check_stated("1", math.inf)


@pytest.mark.parametrize("change, where, words", [
    (("show: player", "show: plyer"), "show: plyer", "unknown block kind 'show: plyer' (did you mean player?)"),
    (("  a1 = relu(z1)", "  a1 = relu(z1"), "  a1 = relu(z1", "the program is refused"),
    (("at: x=2 y=1 w1=0.5 w2=-0.3", "at: x=2 y=1 w1=0.5"), "at: x=2 y=1 w1=0.5",
     "the program needs a value for w2"),
    (("at: x=2 y=1 w1=0.5 w2=-0.3", "at: x=2 y=1 w1=0.5 w2=minus"), "at: x=2 y=1 w1=0.5 w2=minus",
     "input w2 = 'minus' is not a number"),
    (("lr: 0.1", "colour: red"), "colour: red", "'colour' is not a key of a 'player' block"),
    (("expect: L = 1.69", "expect: M = 1.69"), "expect: M = 1.69", "the program has no variable 'M'"),
    (("expect: L = 1.69", "expect: L is 1.69"), "expect: L is 1.69", "wants 'WHAT = NUMBER'"),
    (("order: 1", "oder: 1"), "oder: 1", "unknown front matter key 'oder'"),
    (("order: 1", "order: first"), "order: first", "'order' must be a whole number"),
    (("title: Two layers", "title: [unclosed"), "title: [unclosed", "front matter is not valid YAML"),
])
def test_every_refusal_names_the_line_and_what_was_wrong(change, where, words):
    text = RELU.replace(*change)
    e = refused(text)
    assert words in e.message, e
    lines = text.splitlines()
    want = next(i for i, ln in enumerate(lines, 1) if ln == where)
    if "YAML" in words:
        assert e.line in (want, want + 1)       # YAML reports where it noticed
    else:
        assert e.line == want, (e.line, want, str(e))


def test_references_are_read_never_run(tmp_path):
    for ref, words in [('{{ __import__("os").system("touch x") }}', "is not a reference"),
                       ('{{ open("relu", "w1") }}', "unknown reference function 'open'"),
                       ('{{ grad(relu, "w1") }}', "must be quoted names"),
                       ('{{ grad("relu", "w1", digits=99) }}', "digits=N (1 to 17)"),
                       ('{{ grad("nope", "w1") }}', "no block with id 'nope'"),
                       ('{{ grad("relu", "w9") }}', "has no variable 'w9'")]:
        text = RELU.replace('{{ grad("relu", "w1") }}', ref)
        e = refused(text)
        assert words in e.message and e.line == 7, (ref, str(e))
    assert not (Path.cwd() / "x").exists()


def test_front_matter_without_pyyaml_reads_the_same(monkeypatch):
    with_yaml = lesson().meta
    monkeypatch.setitem(sys.modules, "yaml", None)            # import yaml -> ImportError
    assert lesson().meta == with_yaml
    items = parse_simple_mapping("a: 1\nb: |\n  two\n  lines\nc:\n  - x\n  - 'y'\n", "f", 1)
    assert items == [("a", 1, 1), ("b", "two\nlines", 2), ("c", ["x", "y"], 5)]


def test_lessons_without_title_or_with_open_front_matter_are_refused():
    assert "has no title" in refused("just text\n").message
    assert "never ends" in refused("---\ntitle: x\n").message
    assert "NUL byte" in str(refused("---\ntitle: x\n---\n\x00"))


def test_every_kind_of_block_is_documented_with_an_example_that_builds():
    """docs/lesson-format.md alone is enough to write a lesson: every kind has an example, and all of
    them (and the whole-file example) parse and check as written."""
    doc = DOC.read_text(encoding="utf-8")
    outer = re.search(r"````markdown\n(.*?)\n````", doc, re.S).group(1)
    parse_lesson(outer, "example.md")
    examples = re.findall(r"^```chainrule\n(.*?)^```$", re.sub(r"````markdown\n.*?\n````", "", doc, flags=re.S),
                          re.S | re.M)
    kinds = {re.search(r"^show: (\w+)", e, re.M).group(1) for e in examples}
    assert kinds == set(KINDS), set(KINDS) ^ kinds
    body = "".join(f"```chainrule\n{e}```\n\n" for e in examples)
    les = parse_lesson("---\ntitle: every block\n---\n" + body, "doc.md")
    assert les.checked >= 8


def test_fragments_render_every_block_but_the_slow_one():
    """Every renderer draws real numbers (no block renders without its program's values)."""
    doc = DOC.read_text(encoding="utf-8")
    examples = re.findall(r"^```chainrule\n(.*?)^```$", re.sub(r"````markdown\n.*?\n````", "", doc, flags=re.S),
                          re.S | re.M)
    body = "".join(f"```chainrule\n{e}```\n\n" for e in examples if "show: digits" not in e)
    page = page_body(parse_fragment(body + "## A section\n\ntext\n", "doc.md"))
    html = page.body
    assert html.count('<section class="cr-block ') == len(examples) - 1
    assert "42" in html and "−0.0334194" in html and "4.84" in html      # program, chain, step
    assert html.count('data-kind="player"') == 1 and "ChainrulePlayer" not in html   # data only: book.js mounts
    assert 'class="cr-unbuilt"' in html                                  # kinds still to come say so
    assert "Show answer" in html and 'aria-expanded="false"' in html


def test_generated_pytorch_and_chainrule_code_give_the_engines_gradients():
    torch = pytest.importorskip("torch")
    from chainrule.book.blocks import chainrule_code, torch_code
    model = lesson().models["relu"]
    dtype = torch.get_default_dtype()
    try:
        for code in (torch_code(model), chainrule_code(model), torch_code(model)):
            scope = {}
            exec(compile(code.replace("print(", "_ = ("), "<generated>", "exec"), scope)   # our own generated code
            for name in ("w1", "w2"):
                g = scope[name].grad
                assert float(g) == pytest.approx(model.grad(name), rel=1e-12), (name, code)
    finally:
        torch.set_default_dtype(dtype)


# ----------------------------------------------------------------------------- the site

def write_lessons(folder: Path, n=2):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        (folder / f"{i:02d}.md").write_text(RELU.replace("title: Two layers", f"title: Lesson {i}")
                                            .replace("order: 1", f"order: {i}"), encoding="utf-8")


def test_build_is_offline_and_incremental(tmp_path):
    src, out = tmp_path / "src", tmp_path / "site"
    write_lessons(src, 3)
    r = build_book(src, out)
    assert sorted(r.built) == ["01", "02", "03"] and r.checked == 12
    for page in ("index.html", "print.html", "01.html", "assets/book.js", "assets/player.js",
                 "assets/components.css", "assets/book.css", "assets/player.css"):
        assert (out / page).is_file(), page
    for f in out.rglob("*"):
        if f.suffix in (".html", ".js", ".css"):
            text = f.read_text(encoding="utf-8")
            assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", text), f
    html = (out / "02.html").read_text(encoding="utf-8")
    assert 'aria-current="page"' in html and 'href="01.html"' in html and 'href="03.html"' in html
    assert 'class="cr-toc"' not in html or "On this page" in html
    # one changed lesson rebuilds one page
    (src / "02.md").write_text((src / "02.md").read_text(encoding="utf-8").replace("The gradient", "Its gradient"),
                               encoding="utf-8")
    r = build_book(src, out)
    assert r.built == ["02"] and sorted(r.unchanged) == ["01", "03"] and r.checked == 12
    assert "Its gradient is 1.56" in (out / "02.html").read_text(encoding="utf-8")
    # a new title changes every page's navigation: all are rebuilt
    (src / "03.md").write_text((src / "03.md").read_text(encoding="utf-8").replace("Lesson 3", "Lesson three"),
                               encoding="utf-8")
    assert sorted(build_book(src, out).built) == ["01", "02", "03"]
    (src / "01.md").unlink()
    build_book(src, out)
    assert not (out / "01.html").exists() and (out / MANIFEST).is_file()


def test_cli_stale_number_fails_the_build_with_file_line_and_both_numbers(tmp_path, capsys):
    src = tmp_path / "lessons"
    write_lessons(src, 1)
    assert main(["book", str(src), "-o", str(tmp_path / "site")]) == 0
    assert "built 1 of 1 lesson pages" in capsys.readouterr().out
    (src / "01.md").write_text(RELU.replace("expect: L = 1.69", "expect: L = 1.7"), encoding="utf-8")
    assert main(["book", str(src), "-o", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err.strip()
    line = RELU.splitlines().index("expect: L = 1.69") + 1
    assert err == (f"chainrule: error: {src / '01.md'}:{line}: the lesson states L = 1.7, but chainrule computes "
                   "1.69 (block 'relu')")
    assert main(["book", str(tmp_path / "nowhere"), "-o", str(tmp_path / "s")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_the_course_ships_in_the_package_and_covers_the_issue():
    files = sorted(course_dir().glob("*.md"))
    assert len(files) == 5
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    kinds = set(re.findall(r"^show: (\w+)", text, re.M))
    assert kinds >= {"player", "graph", "chain", "step", "practice", "flashcards", "selfcheck", "chapters",
                     "compare", "digits", "tangent", "heatmap", "vanishing", "modes"}
    for phrase in ("gear", "2 · 0.5 · 3 · 1", "one backward sweep", "one factor per layer", "vanishing",
                   "13 steps", "handwritten 3", "PyTorch"):
        assert phrase.lower() in text.lower(), phrase
    assert len(re.findall(r"^q: ", text, re.M)) == 9
    for f in files:
        les = parse_lesson(f.read_text(encoding="utf-8"), f)
        assert les.checked >= 1, f


def test_the_course_says_nothing_the_seeds_say(shared_dir):
    """The course is in the project's own words: no sentence (8 words or more in a row) of a seed page."""
    def words(t):
        return re.findall(r"[a-z0-9']+", t.lower().replace("’", "'"))

    ours = " ".join(words("\n".join(f.read_text(encoding="utf-8") for f in course_dir().glob("*.md"))))
    for seed in sorted((shared_dir / "seeds").glob("*.txt")):
        w = words(seed.read_text(encoding="utf-8"))
        runs = (w[i:i + 8] for i in range(len(w) - 7))
        # prose only: a run of mostly real words (formulas and programs such as 'a1 w1 a0' are shared notation)
        copied = [" ".join(r) for r in runs if sum(len(x) >= 3 and x.isalpha() for x in r) >= 5
                  and " ".join(r) in ours]
        assert not copied, (seed.name, copied[:3])


# ----------------------------------------------------------------------------- MkDocs

def test_mkdocs_plugin_builds_a_tiny_site_and_fails_on_a_stale_number(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (the [test] extra)")
    import tomllib
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    target = declared["mkdocs.plugins"]["chainrule"]
    assert target == "chainrule.book.mkdocs_plugin:ChainrulePlugin"
    # MkDocs finds plugins by entry point: declare the same one for this run (an installed copy may be older)
    shim = tmp_path / "shim" / "chainrule_test_shim-0.dist-info"
    shim.mkdir(parents=True)
    (shim / "METADATA").write_text("Metadata-Version: 2.1\nName: chainrule-test-shim\nVersion: 0\n")
    (shim / "entry_points.txt").write_text(f"[mkdocs.plugins]\nchainrule = {target}\n")
    site = tmp_path / "mk"
    (site / "docs").mkdir(parents=True)
    (site / "mkdocs.yml").write_text("site_name: Tiny course\nplugins:\n  - chainrule\n")
    page = textwrap.dedent("""\
        # Tiny

        The slope is {{ grad("sq", "x") }}.

        ```chainrule
        id: sq
        show: chain
        program: |
          u = 3*x + 1
          y = u**2
        at: x=2
        wrt: x
        expect: dy/dx = 42
        ```

        ```chainrule
        show: player
        use: sq
        ```
        """)
    (site / "docs" / "index.md").write_text(page)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(shim.parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    run = lambda: subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q"], cwd=site, env=env,
                                 capture_output=True, text=True, timeout=120)
    r = run()
    assert r.returncode == 0, r.stderr
    html = (site / "site" / "index.html").read_text(encoding="utf-8")
    assert "The slope is 42." in html and html.count('<section class="cr-block ') == 2
    assert "chainrule-block" not in html.lower()
    for name in ("player.js", "book.js", "components.css", "player.css"):
        assert (site / "site" / "assets" / "chainrule" / name).is_file()
        assert f"assets/chainrule/{name}" in html
    (site / "docs" / "index.md").write_text(page.replace("= 42", "= 41"))
    r = run()
    assert r.returncode != 0
    assert "index.md:13: the lesson states ∂y/∂x = 41, but chainrule computes 42" in r.stderr + r.stdout


# ----------------------------------------------------------------------------- chainrule serve

def test_serve_offers_the_course_on_its_front_page(course_site):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient
    from chainrule.web.app import create_app
    client = TestClient(create_app())
    front = client.get("/").text
    assert 'href="/course/"' in front
    r = client.get("/course", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/course/"
    r = client.get("/course/")
    assert r.status_code == 200 and "Backpropagation, shown with its work" in r.text
    assert "Content-Security-Policy" in r.headers          # the app's own headers: the pages need no inline script
    assert client.get("/course/blame-chain.html").status_code == 200
    assert client.get("/course/assets/player.js").headers["content-type"].startswith("text/javascript")
    for bad in ("/course/../app.py", "/course/%2e%2e/%2e%2e/etc/passwd", "/course/nope.html", "/course/.chainrule-book.json"):
        assert client.get(bad).status_code == 404, bad


def test_chainrule_course_writes_the_five_lessons(course_site):
    pages = sorted(p.name for p in course_site.glob("*.html"))
    assert pages == ["backpropagation.html", "blame-chain.html", "chain-rule.html", "index.html", "practice.html",
                     "print.html", "unfolded.html"]
    html = (course_site / "practice.html").read_text(encoding="utf-8")
    assert "Test digit" in html and "accuracy" in html     # the capstone trained and explained a digit
