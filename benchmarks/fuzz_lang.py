"""Fuzz the program language: ≥ 10⁵ inputs; count crashes, hangs over 2 s and executions.

Targets (issue 8): 0 crashes, 0 hangs, 0 executions.

Each input goes through the language the way the CLI and the web use it: ``parse``, then (if it
parses) ``run`` at two points, ``grads`` and, for small graphs, ``explain``. An input may run or be
refused with chainrule's own error; anything else is a *crash*: another exception type, a
ProgramError without a line and column, a message of several lines or naming an internal op
(``powc``), or a Python warning (which would print on stderr). A *hang* is an input that takes
more than 2 s of CPU time (a CPU-time timer, SIGPROF, interrupts it: on a shared machine wall time
mostly measures the other jobs; the slowest wall time is printed too). An *execution* is any exec, compile (other than the
language's own AST-only ``ast.parse``), subprocess, os.system, socket or file open seen by an
audit hook while an input is handled.

Inputs come from five generators, in turn: a grammar of the language and its notation with
everything around it (other Python, broken pieces), mutations of the lesson programs, random
bytes (decoded with surrogate escapes, as a web request can carry lone surrogates), random
Unicode characters, and, for one input in 25, big shapes near and past the limits (long chains,
deep nesting, huge numbers, 2,000 statements), which take up to a second each.

    python benchmarks/fuzz_lang.py                 # 100,000 inputs (a few minutes)
    python benchmarks/fuzz_lang.py --n 20000 --seed 7
    python benchmarks/fuzz_lang.py --show 10       # print up to 10 failing inputs of each kind

Exit status 1 if any crash, hang or execution was found.
"""
from __future__ import annotations

import argparse
import ast
import random
import signal
import sys
import time
import warnings

from chainrule import lang
from chainrule.errors import ChainruleError, ProgramError
from chainrule.explain import explain
from chainrule.lab.lessons import LESSONS
from chainrule.ops import FUNCTIONS

HANG_SECONDS = 2.0

# --------------------------------------------------------------------------
# Executions: an audit hook, on only while an input is handled
# --------------------------------------------------------------------------

_ON = [False]
_INSTALLED: list[bool] = []
_SEEN: list[tuple[str, str]] = []
_WATCHED = ("exec", "compile", "open", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
            "subprocess.Popen", "socket.connect", "socket.bind", "ctypes.dlopen", "os.remove", "os.rename")


def _own_parse(frame) -> bool:
    caller = frame.f_back
    return (frame.f_code.co_name == "parse" and frame.f_code.co_filename.endswith("ast.py")
            and bool(frame.f_locals.get("flags", 0) & ast.PyCF_ONLY_AST)
            and caller is not None and caller.f_code.co_name == "_ast_parse")


def _audit(event, args):
    if not _ON[0] or not event.startswith(_WATCHED):
        return
    frame = sys._getframe(1)
    if event == "compile" and _own_parse(frame):
        return
    if event == "open" and args and args[0] == lang._PARSE_FILENAME and _own_parse(frame):
        return   # CPython looking for the source line of a syntax error in a file of that name
    _SEEN.append((event, repr(args)[:120]))
    raise RuntimeError(f"audit: {event}")


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


# --------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------

NAMES = ["x", "y", "w1", "b", "x₁", "w₂", "σ", "ln", "L", "a1", "z", "ReLU", "sign", "__import__", "os",
         "ﬁ", "ℌ", "_", "if", "lambda", "not", "e", "exp", "print", "open"]
NUMBERS = ["0", "1", "2", "0.5", "1e308", "1e-320", "−0.3", "1_000", "0x1f", "1j", ".5", "3.", "½", "1e999",
           "9" * 400, "0b101", "1" + "0" * 4400, "00", "1e", "0x"]
BINARY = [" + ", "-", "*", "/", "**", "^", "·", " × ", " − ", "÷", "%", "//", " | ", "&", "@", " < ", " == ",
          " and ", " if x else ", ",", " ", "", ".", " ≤ ", ":=", " for x in ", "="]
UNARY = ["-", "−", "+", "~", "not ", "√", "ln ", "σ ", "*", "**", "lambda: ", "await "]
FUNCS = list(FUNCTIONS) + ["ReLU", "sign", "σ", "ln", "print", "eval", "exec", "math.exp", "np.tanh", "(x)", "2",
                           "__import__", "open", "getattr"]
WRAP = ["({})", "|{}|", "{}²", "{}⁻¹", "{}.real", "{}[0]", "'{}'", "tanh²({})", "f'{{{}}}'", "[{}]", "{{{}}}",
        "({},)", "*{}", "{}()", "√({})"]
TARGETS = ["L", "a", "y1", "f(x)", "x", "a, b", "a.b", "exp", "", "1", "a₁", "L: float", "L[0]"]
ASSIGN = [" = ", "=", " += ", " == ", " := ", " = = "]
SEPS = ["\n", "; ", "\r\n", "\r", "\n\n", "\n  ", "\\\n", "\f", ";", "\n#c\n", "\t"]
OTHERS = ["pass", "import os", "# note", "del x", "def f(): return 1", "class A: pass", "for i in x: y = i",
          "with open('f') as g: pass", "exec('1')", "__import__('os').system('true')", "raise SystemExit",
          "assert x", "global x", "yield x", "async def f(): pass", "match x:\n case 1: pass"]
SEED_PROGRAMS = [lesson.program for lesson in LESSONS.values()] + [
    "a = σ(z)·w₁ − x²\nL = √a + |x − 2| + ln x + tanh²(x)", "L = max(0, z) ^ 2 · ½",
    "z1 = w1*x + b1\na1 = sigmoid(z1)\nL = (a1 - y)**2"]


def expr(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 4 or r < 0.3:
        return rng.choice(NAMES + NUMBERS)
    if r < 0.55:
        return expr(rng, depth + 1) + rng.choice(BINARY) + expr(rng, depth + 1)
    if r < 0.65:
        return rng.choice(UNARY) + expr(rng, depth + 1)
    if r < 0.8:
        args = ", ".join(expr(rng, depth + 1) for _ in range(rng.randint(0, 3)))
        return f"{rng.choice(FUNCS)}({args})"
    return rng.choice(WRAP).format(expr(rng, depth + 1))


def grammar(rng: random.Random) -> str:
    stmts = []
    for _ in range(rng.randint(1, 5)):
        r = rng.random()
        if r < 0.75:
            stmts.append(rng.choice(TARGETS) + rng.choice(ASSIGN) + expr(rng))
        elif r < 0.9:
            stmts.append(expr(rng))
        else:
            stmts.append(rng.choice(OTHERS))
    return rng.choice(SEPS).join(stmts)


def mutated(rng: random.Random) -> str:
    text = rng.choice(SEED_PROGRAMS)
    alphabet = "xyz01.+-*/()=\n;#,| ^²σ√−·'\"[]{}:\\_eE\t\r\0" + "".join(NAMES)
    for _ in range(rng.randint(1, 6)):
        pos = rng.randint(0, len(text))
        how = rng.random()
        piece = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        if how < 0.4:
            text = text[:pos] + piece + text[pos:]
        elif how < 0.7:
            text = text[:pos] + text[pos + rng.randint(1, 4):]
        elif how < 0.9:
            text = text[:pos] + piece + text[pos + len(piece):]
        else:
            text = text[:pos] + text[pos:pos + 40] * rng.randint(2, 5) + text[pos + 40:]
    return text


def raw_bytes(rng: random.Random) -> str:
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 120))).decode("utf-8", "surrogateescape")


def characters(rng: random.Random) -> str:
    def char():
        r = rng.random()
        if r < 0.5:
            return chr(rng.randrange(32, 127))
        if r < 0.8:
            return chr(rng.randrange(0x80, 0x3000))
        return chr(rng.randrange(0, 0x110000))
    return "".join(char() for _ in range(rng.randint(0, 80)))


def big(rng: random.Random) -> str:
    n = rng.choice([10, 200, 900, 2499, 2500, 2501, 3000, 5000, 9000])
    op = rng.choice(["+", "*", "-", "**", "^", "/", "·", "+\n"])
    atom = rng.choice(["x", "1", "(x)", "σ(x)", "√x", "|x|", "x²"])
    shapes = [
        lambda: "y = " + op.join([atom] * n),
        lambda: "y = " + "(" * min(n, 400) + "x" + ")" * min(n, 400),
        lambda: "y = " + rng.choice(["-", "−", "√", "ln ", "not ", "~", "σ "]) * n + "x",
        lambda: op.join([atom] * n),                              # a bare expression
        lambda: "y = (" + "+".join(["x"] * n) + ")(1)",           # a callee
        lambda: "y = " + rng.choice(["1", "0x", "9"]) + "0" * rng.choice([300, 4299, 4301, 5000, 9000]),
        lambda: "y = x" + rng.choice([".a", "[0]", "(x)", "²"]) * n,
        lambda: "\n".join(f"a{i} = x" for i in range(rng.choice([1999, 2000, 2001]))),
        lambda: "y = " + "exp(" * min(n, 300) + "x" + ")" * min(n, 300),
    ]
    return rng.choice(shapes)()[:lang.MAX_CHARS + 5]


GENERATORS = {"grammar": grammar, "mutated": mutated, "bytes": raw_bytes, "characters": characters, "big": big}


# --------------------------------------------------------------------------
# One input
# --------------------------------------------------------------------------

def handle(text: str) -> str | None:
    """None if the input ran or was refused cleanly, else why it is a crash."""
    try:
        program = lang.parse(text)
    except ProgramError as e:
        if not (isinstance(e.line, int) and isinstance(e.col, int) and e.line >= 1 and e.col >= 1):
            return f"ProgramError without a line and column: {e}"
        if "\n" in str(e) or "powc" in str(e):
            return f"message: {str(e)[:120]!r}"
        return None
    for value in (0.5, -1.5):
        try:
            run = program.run({n: value for n in program.inputs})
            run.grads()
            if len(run.values) <= 40:
                explain(run.trace()).to_text()
        except ProgramError as e:
            if e.line is None or e.col is None:
                return f"ProgramError without a line and column while running: {e}"
        except ChainruleError:
            pass
    return None


def run(n: int = 100_000, seed: int = 0, show: int = 3, out=sys.stdout) -> dict:
    rng = random.Random(seed)
    lang.parse("L = x")   # import everything before the audit hook is on
    r = lang.parse("a = sigmoid(w*x) + relu(x)\nL = (a - 1)**2").run({"w": 0.5, "x": 1.0})
    r.grads()
    explain(r.trace()).to_text()
    if not _INSTALLED:   # a hook cannot be removed: install it once per process
        sys.addaudithook(_audit)
        _INSTALLED.append(True)
    old = signal.signal(signal.SIGPROF, _alarm)
    found = {"crash": [], "hang": [], "execution": []}
    per_gen = {g: 0 for g in GENERATORS}
    slowest, slowest_cpu, start = (0.0, ""), (0.0, ""), time.perf_counter()
    small = [g for g in GENERATORS if g != "big"]
    try:
        for i in range(n):
            gen = "big" if i % 25 == 24 else small[i % len(small)]
            text = GENERATORS[gen](rng)
            per_gen[gen] += 1
            _SEEN.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    try:
                        _ON[0] = True
                        signal.setitimer(signal.ITIMER_PROF, HANG_SECONDS)
                        why = handle(text)
                    finally:
                        signal.setitimer(signal.ITIMER_PROF, 0)
                        _ON[0] = False
                except _Hang:
                    why = "hang"
                except Exception as e:  # noqa: BLE001 - this is what we count
                    why = f"{type(e).__name__}: {str(e)[:120]}"
            took, cpu = time.perf_counter() - t0, time.process_time() - c0
            slowest = max(slowest, (took, text[:60]))
            slowest_cpu = max(slowest_cpu, (cpu, text[:60]))
            if _SEEN:
                found["execution"].append((text, str(_SEEN[:2])))
            elif why == "hang":
                found["hang"].append((text, f"over {HANG_SECONDS} s of CPU time"))
            elif why is not None:
                found["crash"].append((text, why))
            elif caught:
                found["crash"].append((text, f"warning: {caught[0].category.__name__}: {caught[0].message}"))
    finally:
        signal.signal(signal.SIGPROF, old)
    elapsed = time.perf_counter() - start
    report = {"inputs": n, "seconds": elapsed, "per_generator": per_gen, "slowest_s": slowest[0],
              "slowest_cpu_s": slowest_cpu[0],
              **{k: len(v) for k, v in found.items()}}
    print(f"fuzz_lang: {n} inputs in {elapsed:.1f} s ({n / elapsed:.0f}/s), seed {seed}; generators: "
          + ", ".join(f"{g} {c}" for g, c in per_gen.items()), file=out)
    print(f"  crashes {report['crash']}, hangs over {HANG_SECONDS:g} s CPU {report['hang']}, executions "
          f"{report['execution']}   (targets 0, 0, 0)", file=out)
    print(f"  slowest input: {slowest_cpu[0] * 1000:.0f} ms CPU {slowest_cpu[1]!r}; "
          f"{slowest[0] * 1000:.0f} ms wall {slowest[1]!r}", file=out)
    for kind, items in found.items():
        for text, why in items[:show]:
            print(f"  {kind}: {why}\n    input {text[:200]!r}", file=out)
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="number of inputs (default 100000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=3, help="failing inputs to print per kind")
    a = ap.parse_args(argv)
    report = run(a.n, a.seed, a.show)
    return 1 if report["crash"] or report["hang"] or report["execution"] else 0


if __name__ == "__main__":
    sys.exit(main())
