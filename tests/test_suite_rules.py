"""Rules the suite keeps about itself: CI runs every check it claims, and no test is written so it cannot fail.

* The README's test command is the one ``.ci/run`` runs, and it installs what the checks need.
* With ``CI`` set, a skip is a failure (``conftest.py``), except a ``platform:`` skip.
* A static scan of every test file: no ``assert … or True`` (or any assert of a constant), every ``zip``
  says whether its lengths must match (``strict=``), the project's own modules are imported (never
  ``importorskip``-ped), and no test reaches ``../shared`` through an absolute machine path.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CONFTEST = (TESTS / "conftest.py").read_text(encoding="utf-8")


# --------------------------------------------------------------------------
# the one test command
# --------------------------------------------------------------------------

def readme_test_command() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n# 2\. .*?\n```", readme, re.S)
    assert block, "README.md has no '# 2.' test command block"
    commands = [line for line in block.group(0).splitlines()[1:-1] if not line.startswith("#")]
    assert len(commands) == 1, f"the README's test command must be exactly one command: {commands}"
    return commands[0]


def test_ci_runs_the_readmes_test_command_and_it_installs_what_the_checks_need():
    command = readme_test_command()
    ci = [line for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1] == command, ".ci/run must run the README's test command, exactly"
    apt = re.search(r"apt-get install -y -qq ([\w .-]+?) >/dev/null", command)
    assert apt and {"chromium", "nodejs"} <= set(apt.group(1).split()), command   # browser tests, JS op table
    assert "torch==" in command and '".[test]"' in command and "pytest" in command


# --------------------------------------------------------------------------
# skips in CI
# --------------------------------------------------------------------------

SMALL_SUITE = '''
import pytest

def test_runs():
    assert 1 + 1 == 2

def test_missing_tool():
    pytest.skip("node is not on PATH")

@pytest.mark.skipif(True, reason="chromium is missing")
def test_marked():
    pass

def test_platform():
    pytest.skip("platform: directories cannot be fsynced on Windows")

def test_import():
    pytest.importorskip("surely_not_an_installed_module_1234")

@pytest.mark.xfail(reason="a known bug, tracked")
def test_known_bug():
    assert False
'''


@pytest.fixture
def small_suite(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_small=SMALL_SUITE)
    return pytester


MODULE_SKIP = 'import pytest\npytest.importorskip("surely_not_installed_5678")\n\ndef test_never():\n    pass\n'


def test_in_ci_a_skip_is_a_failure_with_its_reason(small_suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = small_suite.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=2, errors=1, skipped=1, xfailed=1)   # a skipif fails in setup
    out = result.stdout.str()
    failures = [line for line in out.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert len(failures) == 3, failures
    for reason in ("node is not on PATH", "chromium is missing", "surely_not_an_installed_module_1234"):
        assert any(f"CI is meant to have what this check needs (the README's test command installs it): " in line
                   and reason in line for line in failures), reason
    assert "SKIPPED [1] test_small.py:14: platform: directories cannot be fsynced on Windows" in out


def test_in_ci_a_module_level_skip_fails_the_run(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_module_skip=MODULE_SKIP)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert result.ret != 0 and "surely_not_installed_5678" in result.stdout.str()


def test_outside_ci_a_skip_stays_a_skip(small_suite, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    small_suite.makepyfile(test_module_skip=MODULE_SKIP)
    result = small_suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=5, xfailed=1)
    assert result.ret == 0


def test_reference_values_are_found_without_a_machine_path(seed_reference):
    from conftest import REFERENCE_COPY, SHARED, reference_path
    assert reference_path() in (SHARED / "reference" / "seed_examples.json", REFERENCE_COPY)
    assert "sigmoid_net_squared" in seed_reference
    assert seed_reference["sigmoid_net_squared"]["gradients"]["dL/dw1"] == pytest.approx(-0.033419364485, rel=1e-9)


def test_the_kept_copy_of_the_reference_equals_shared():
    from conftest import REFERENCE_COPY, SHARED
    shared = SHARED / "reference" / "seed_examples.json"
    if not shared.is_file():
        pytest.skip("platform: no ../shared beside this clone, so only the kept copy is used")
    assert json.loads(REFERENCE_COPY.read_text(encoding="utf-8")) == json.loads(shared.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------
# a static scan of the tests
# --------------------------------------------------------------------------

def _test_files():
    files = sorted(TESTS.glob("*.py"))      # the tests, conftest.py and helpers such as oracles.py
    assert len(files) > 10 and TESTS / "conftest.py" in files
    return files


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Assert):
            t = node.test
            constant = isinstance(t, ast.Constant) and bool(t.value)
            or_constant = isinstance(t, ast.BoolOp) and isinstance(t.op, ast.Or) and \
                any(isinstance(v, ast.Constant) and bool(v.value) for v in t.values)
            if constant or or_constant:
                found.append(f"{where}: an assert that cannot fail: {ast.unparse(t)}")
        elif isinstance(node, ast.Call):
            fn = ast.unparse(node.func)
            if fn == "zip" and not any(k.arg == "strict" for k in node.keywords):
                found.append(f"{where}: zip() without strict= (an empty or short side passes silently)")
            if fn.endswith("importorskip") and node.args and isinstance(node.args[0], ast.Constant) \
                    and str(node.args[0].value).split(".")[0] == "chainrule":
                found.append(f"{where}: importorskip of the project's own module {node.args[0].value}: import it")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.match(r"^/[^\s]*shared/", node.value):
                found.append(f"{where}: an absolute path to shared/ ({node.value}): use the seed_reference fixture")
    return found


def test_no_test_is_written_so_it_cannot_fail():
    problems = [p for path in _test_files() for p in _problems(path)]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("source, expected", [
    ("assert x or True", "cannot fail"),
    ("assert 1", "cannot fail"),
    ("assert all(a == b for a, b in zip(xs, ys))", "strict="),
    ("m = pytest.importorskip('chainrule.lang')", "own module"),
    ("REF = '/srv/shared/reference/seed_examples.json'", "absolute path"),
])
def test_the_scan_finds_each_pattern(tmp_path, source, expected):
    path = tmp_path / "test_planted.py"
    path.write_text(source + "\n", encoding="utf-8")
    (problem,) = _problems(path)
    assert expected in problem
    path.write_text("assert x == 1\nassert all(a == b for a, b in zip(xs, ys, strict=True))\n", encoding="utf-8")
    assert _problems(path) == []
