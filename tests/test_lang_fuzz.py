"""The language refuses everything cleanly (issue 8.1), and never executes anything.

Every input either runs, or raises chainrule's own error type (a ProgramError with a line and a
column); nothing prints to stderr, and an audit hook fails the test on any exec, compile (other
than chainrule's own ``ast.parse``), subprocess, os.system, socket or file open while the
language works on user text (the one open allowed is CPython's own look-up, on a syntax error,
of a file named like the parse's filename, ``<chainrule program>``).

The fuzz tests are bounded in CI (``HYPOTHESIS_PROFILE=ci``: derandomised, 200 examples per
generator). For a longer local run::

    CHAINRULE_FUZZ_EXAMPLES=20000 HYPOTHESIS_PROFILE=default python -m pytest tests/test_lang_fuzz.py

and ``python benchmarks/fuzz_lang.py`` runs 10⁵ inputs and reports crashes, hangs and executions.
"""
import ast
import os
import sys
import threading
import warnings

import pytest

from chainrule import lang
from chainrule.errors import ChainruleError, ProgramError
from chainrule.explain import explain
from chainrule.lab.lessons import LESSONS
from chainrule.lang import parse

EXAMPLES = int(os.environ.get("CHAINRULE_FUZZ_EXAMPLES", "200"))

# --------------------------------------------------------------------------
# The audit hook: nothing may run while the language works on user text
# --------------------------------------------------------------------------

_GUARD = {"on": False, "violations": []}
_FORBIDDEN = ("exec", "compile", "open", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
              "os.forkpty", "subprocess.Popen", "socket.connect", "socket.bind", "ctypes.dlopen",
              "os.remove", "os.rename", "os.mkdir", "shutil.rmtree", "builtins.input", "pty.spawn")


def _own_parse(frame) -> bool:
    """Is this compile() the AST-only parse that chainrule.lang._ast_parse asks for?"""
    caller = frame.f_back
    return (frame.f_code.co_name == "parse" and frame.f_code.co_filename.endswith("ast.py")
            and bool(frame.f_locals.get("flags", 0) & ast.PyCF_ONLY_AST)
            and caller is not None and caller.f_code.co_name == "_ast_parse"
            and caller.f_code.co_filename == lang.__file__)


def _hook(event, args):
    if not _GUARD["on"] or not event.startswith(_FORBIDDEN):
        return
    if event == "compile" and _own_parse(sys._getframe(1)):
        return
    # On a syntax error CPython tries to read the line from a file named like the source (it is
    # not a file, the open fails, and it uses the text): allowed for chainrule's own parse only.
    if event == "open" and args[0] == lang._PARSE_FILENAME and _own_parse(sys._getframe(1)):
        return
    _GUARD["violations"].append((event, repr(args)[:200]))
    raise RuntimeError(f"audit: {event} while handling user text")


sys.addaudithook(_hook)


class guarded:
    def __enter__(self):
        _GUARD["on"] = True

    def __exit__(self, *exc):
        _GUARD["on"] = False


def _warm():
    """Import everything the language and the explainer import lazily, before guarding."""
    run = parse("a = sigmoid(w*x) + relu(x) + x**2 + max(x, 1)\nL = (a - 1)**2").run({"w": 0.5, "x": 1.0})
    run.grads()
    explain(run.trace()).to_text()


_warm()


def check(text: str) -> str:
    """Run ``text`` through the language like the CLI and the web do: 'ok' if it ran or was refused
    cleanly, with nothing executed and no warning."""
    _GUARD["violations"].clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with guarded():
            outcome = _attempt(text)
    assert not _GUARD["violations"], (text, _GUARD["violations"])
    assert not [w for w in caught if issubclass(w.category, SyntaxWarning | DeprecationWarning)], \
        (text, [str(w.message) for w in caught])
    return outcome


def _load_benchmark():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_lang.py"
    spec = importlib.util.spec_from_file_location("fuzz_lang", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _load_benchmark()   # its handle() is the one definition of "runs or is refused cleanly"


def _attempt(text):
    why = BENCH.handle(text)
    assert why is None, (text, why)
    return "ok"


def test_the_audit_hook_sees_what_it_must():
    for bad in (lambda: exec("1"), lambda: compile("1", "<x>", "eval"), lambda: open(__file__),
                lambda: os.system("true")):
        with guarded():
            with pytest.raises(RuntimeError, match="audit"):
                bad()
        assert _GUARD["violations"]
        _GUARD["violations"].clear()
    with guarded():
        parse("L = x")          # chainrule's own ast.parse is allowed
    assert not _GUARD["violations"]


# --------------------------------------------------------------------------
# The crash classes found by the fuzzing campaign, one by one
# --------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("L = 1" + "0" * 5000, "this number has 5001 digits"),              # Python's 4,300-digit limit
    ("1" + "0" * 5000, "this number has 5001 digits"),
    ("y = 0x" + "f" * 3700 + "(2)", "is not a function"),   # a callee of 4,455 digits (was ast.unparse)
    ("+".join(["x"] * 900), "an expression on its own does nothing"),    # was a RecursionError in unparse
    ("y = (" + "+".join(["x"] * 900) + ")(1)", "is not a function"),
    ("y = " + "+".join(["x"] * 5000), f"at most {lang.MAX_CHAIN} are allowed"),
    ("y = " + "-" * 5000 + "x", f"nested more than {lang.MAX_DEPTH} levels"),
    ("y = " + "not " * 3000 + "x", "too deep for Python's parser"),
    ("y = x" + ".a" * 5000, "too deep for Python's parser"),
    ("L = 1if x else 2", "put a space between the number 1 and 'if'"),  # was a SyntaxWarning on stderr
    ("L = 0x1for x", "put a space"),
    ("L = '\\d'", "text strings"),                                      # an escape warning
    ("y = x\ud800", "could not be read"),                               # a lone surrogate
], ids=lambda v: repr(v[:24]) if isinstance(v, str) else None)
def test_crash_classes_are_clean_errors(capfd, text, words):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ProgramError) as info:
            parse(text)
    assert words in info.value.message, info.value.message
    assert info.value.line >= 1 and info.value.col >= 1
    assert not caught and capfd.readouterr().err == ""
    assert check(text) == "ok"


def test_the_chain_limit_is_the_stated_one():
    n = lang.MAX_CHAIN
    run = parse("y = " + "+".join(["x"] * (n + 1))).run({"x": 1.0})    # n operations
    assert run.value == n + 1 and run.grads() == {"x": n + 1}
    e = pytest.raises(ProgramError, parse, "y = " + "+".join(["x"] * (n + 2))).value
    assert f"chain of about {n + 1} operations" in e.message and f"at most {n}" in e.message


def test_fsum_overflow_in_explain_is_not_a_crash():
    run = parse("a = x*1e308; b = x*1e308; L = a - b").run({"x": 1.0})
    run.grads()
    text = explain(run.trace()).to_text()
    assert "∂L/∂x" in text


def test_a_python_parser_failure_is_a_clean_error(monkeypatch):
    # CPython 3.11 can raise SystemError ("AST constructor recursion depth mismatch") under
    # concurrency; whatever Python's parser raises, the user gets a ProgramError.
    for exc in (SystemError("AST constructor recursion depth mismatch (before=48, after=47)"),
                RecursionError("maximum recursion depth exceeded during ast construction"), MemoryError()):
        def boom(*a, exc=exc, **k):
            raise exc
        monkeypatch.setattr(lang.ast, "parse", boom)
        e = pytest.raises(ProgramError, parse, "L = x + 1").value
        assert "split it into several statements" in e.message and e.line == 1


def test_parsing_from_many_threads_at_once():
    big = "\n".join(f"a{i} = " + "+".join(f"x{j}*w" for j in range(40)) for i in range(20))
    bad = "y = " + "+".join(["x"] * (lang.MAX_CHAIN + 10))
    errors, done = [], []

    def work():
        try:
            for _ in range(3):
                assert parse(big).inputs[0] == "x0"
                with pytest.raises(ProgramError):
                    parse(bad)
            done.append(1)
        except Exception as e:   # noqa: BLE001 - collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(done) == 8


# --------------------------------------------------------------------------
# Fuzzing: grammar-based, mutated seeds, and raw characters
# --------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
FUZZ = hypothesis.settings(max_examples=EXAMPLES, deadline=None)

NAMES = ["x", "y", "w1", "b", "x₁", "w₂", "σ", "ln", "L", "a1", "exp", "ReLU", "sign", "__import__", "os",
         "ﬁ", "ℌ", "_", "if", "lambda", "not", "e"]
NUMBERS = ["0", "1", "2", "0.5", "1e308", "1e-320", "−0.3", "1_000", "0x1f", "1j", ".5", "3.", "½", "1e999",
           "9" * 400, "1" + "0" * 4400]
BINARY = [" + ", "-", "*", "/", "**", "^", "·", " × ", " − ", "÷", "%", "//", " | ", "&", "@", " < ", " == ",
          " and ", " if x else ", ",", " ", "", "."]
FUNCS = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "abs", "sin", "cos", "square", "max",
         "min", "pow", "maximum", "minimum", "ReLU", "sign", "σ", "ln", "print", "eval", "math.exp", "(x)", "2"]


def _expr():
    atom = st.sampled_from(NAMES + NUMBERS)
    return st.recursive(atom, lambda e: st.one_of(
        st.tuples(e, st.sampled_from(BINARY), e).map("".join),
        st.tuples(st.sampled_from(["-", "−", "+", "~", "not ", "√", "ln ", "σ ", "*", "**"]), e).map("".join),
        st.tuples(st.sampled_from(FUNCS), st.lists(e, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        e.map(lambda s: f"({s})"), e.map(lambda s: f"|{s}|"), e.map(lambda s: s + "²"),
        e.map(lambda s: s + "⁻¹"), e.map(lambda s: s + ".real"), e.map(lambda s: s + "[0]"),
        e.map(lambda s: f"'{s}'"), e.map(lambda s: f"tanh²({s})"),
    ), max_leaves=12)


def _program():
    target = st.sampled_from(["L", "a", "y1", "f(x)", "x", "a, b", "a.b", "exp", "", "1", "a₁", "L: float"])
    statement = st.one_of(st.tuples(target, st.sampled_from([" = ", "=", " += ", " == ", " := "]), _expr())
                          .map("".join), _expr(), st.sampled_from(["pass", "import os", "# note", "del x"]))
    sep = st.sampled_from(["\n", "; ", "\r\n", "\r", "\n\n", "\n  ", "\\\n", "\f", ";"])
    return st.tuples(st.lists(statement, min_size=1, max_size=5), sep).map(lambda t: t[1].join(t[0]))


SEEDS = [lesson.program for lesson in LESSONS.values()] + [
    "a = σ(z)·w₁ − x²\nL = √a + |x − 2| + ln x + tanh²(x)", "L = max(0, z) ^ 2 · ½"]


@hypothesis.given(_program())
@FUZZ
def test_fuzz_grammar(text):
    check(text)


@hypothesis.given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 3),
                                                             st.text(max_size=3)), max_size=6))
@FUZZ
def test_fuzz_mutated_seeds(seed, edits):
    text = seed
    for pos, how, chars in edits:
        pos %= len(text) + 1
        if how == 0:
            text = text[:pos] + chars + text[pos:]
        elif how == 1:
            text = text[:pos] + text[pos + 1:]
        elif how == 2:
            text = text[:pos] + chars + text[pos + len(chars):]
        else:
            text = text[:pos] + text[pos:] * 2
    check(text)


@hypothesis.given(st.binary(max_size=120))
@FUZZ
def test_fuzz_bytes(data):
    check(data.decode("utf-8", errors="surrogateescape"))


@hypothesis.given(st.text(st.characters(exclude_categories=()), max_size=80))
@FUZZ
def test_fuzz_characters(text):
    check(text)


def test_the_fuzz_benchmark_runs_and_finds_nothing():
    import io
    out = io.StringIO()
    report = BENCH.run(n=100, seed=3, out=out)
    assert report["inputs"] == 100 and sum(report["per_generator"].values()) == 100
    assert (report["crash"], report["hang"], report["execution"]) == (0, 0, 0), out.getvalue()
    assert "crashes 0, hangs over 2 s CPU 0, executions 0" in out.getvalue()
