"""Shared test settings.

Hypothesis: no per-example deadline (the machine is shared and timings are
noisy; speed is measured in benchmarks/, never asserted in tests), and a
derandomised profile for CI (HYPOTHESIS_PROFILE=ci) so a failure reproduces
run after run.

The shared reference numbers live in ``../shared`` beside the repository
(found from this file, never through a machine path): use the
``shared_dir`` and ``seed_reference`` fixtures.

Skips in CI. Everything the suite needs (node, Chromium, PyTorch, the
optional Python packages, ``../shared``) is installed by the README's test
command, so when the ``CI`` environment variable is set a skip means a check
that claims to run did not: it is reported as a failure, with the skip's
reason. The only skips allowed in CI are the ones that truly depend on the
platform (an operating system without a feature, running as root); they say
so with a reason that starts with ``platform:``, e.g.
``pytest.skip("platform: directories cannot be fsynced on Windows")``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis-based tests skip themselves (a failure in CI, see above)
    settings = None

if settings is not None:
    settings.register_profile("default", deadline=None)
    settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"          # ../shared, beside the checkout
PLATFORM_SKIP = "platform:"              # the only reason prefix a skip may have in CI

pytest_plugins = ["pytester"]            # tests/test_suite_rules.py runs small suites through these hooks


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository (seeds and reference values). The seed lesson pages are not part
    of this repository, so a clone without them beside it skips what only they can check (that the course
    and the cards say nothing in the seeds' words): a fact of where the clone sits, hence ``platform:``."""
    if not SHARED.is_dir():
        pytest.skip(f"{PLATFORM_SKIP} ../shared (the seed lessons, not in this repository) is not beside it "
                    f"(looked for {SHARED})")
    return SHARED


# A copy of ../shared/reference/seed_examples.json kept with the tests, so the reference checks run in a
# clone that has no ../shared beside it (CI's fresh clone may not). When both exist they must be equal.
REFERENCE_COPY = Path(__file__).resolve().parent / "reference" / "seed_examples.json"


def reference_path() -> Path:
    shared = SHARED / "reference" / "seed_examples.json"
    return shared if shared.is_file() else REFERENCE_COPY


@pytest.fixture(scope="session")
def seed_reference() -> dict:
    """PyTorch's numbers for the seed examples, by example name (../shared/reference/seed_examples.json,
    or the copy in tests/reference/ when ../shared is not beside the repository)."""
    path = reference_path()
    assert path.is_file(), f"reference values not found at {path}"
    examples = json.loads(path.read_text(encoding="utf-8"))["examples"]
    assert examples, f"{path} lists no examples"
    return {e["name"]: e for e in examples}


# --------------------------------------------------------------------------
# In CI, a skip is a failure unless it is a platform skip
# --------------------------------------------------------------------------

def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def _skip_reason(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def skip_is_allowed_in_ci(reason: str) -> bool:
    return reason.startswith(PLATFORM_SKIP)


def _fail_if_skipped(report, what: str) -> None:
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report.longrepr)
    if skip_is_allowed_in_ci(reason):
        return
    report.outcome = "failed"
    report.longrepr = (f"{what} was skipped, but CI is set and CI is meant to have what this check needs "
                       f"(the README's test command installs it): {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_if_skipped(outcome.get_result(), item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_if_skipped(outcome.get_result(), collector.nodeid or "collection")


# Browser tests: every piece of text on a page with the size it is drawn at (its computed font
# size, times the drawing's zoom for SVG text). Hidden text and tooltips (<title>) are left out.
DRAWN_SIZES = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const t = walk.currentNode, el = t.parentElement, text = t.textContent.trim();
    if (!text || !el || el.closest("title, script, style, noscript, [hidden], option")) continue;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden" || !el.getClientRects().length) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) continue;           // visually hidden
    let size = parseFloat(cs.fontSize);
    if (el instanceof SVGElement) { const m = el.getScreenCTM(); size *= Math.hypot(m.a, m.b); }
    out.push([Math.round(size * 100) / 100, text.slice(0, 50)]);
  }
  return out;
}"""


@pytest.fixture
def small_text():
    """A function: the text on a Playwright page drawn under ``minimum`` px, as (size, text)."""
    def measure(page, minimum: float = 11):
        sizes = page.evaluate(DRAWN_SIZES)
        assert len(sizes) > 20, f"the page shows almost no text: {sizes}"
        return [(size, text) for size, text in sizes if size < minimum - 1e-6]
    return measure


@pytest.fixture(scope="session")
def course_site(tmp_path_factory) -> Path:
    """chainrule's built-in course, built once per test session (what ``chainrule course`` writes)."""
    pytest.importorskip("markdown_it", reason="chainrule book needs markdown-it-py (the [book] extra)")
    from chainrule.book.site import built_course
    return built_course(tmp_path_factory.mktemp("course"))
