"""The lesson file format: front matter, Markdown, fenced ``chainrule`` blocks, computed references.

A lesson file (documented in ``docs/lesson-format.md``)::

    ---
    title: The smallest chain
    order: 1
    goals:
      - state the chain rule in one line
    ---
    Prose in Markdown. The gradient is {{ grad("chain", "w1") }}.

    ```chainrule
    id: chain
    show: player
    program: |
      a1 = w1*a0
      C = (a1 - y)**2
    at: a0=1 w1=2 y=1
    expect: ∂C/∂w1 = 6
    ```

Nothing in a lesson is executed as Python: front matter is read with PyYAML's *safe*
loader (or, without PyYAML, a small ``key: value`` reader), block bodies with the small
reader below, programs with :mod:`chainrule.lang`, and a ``{{ ... }}`` reference is
checked to be one call of a known function with literal arguments before it is looked up.
Every error is a :class:`LessonError` naming the file, the line and what was wrong.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..errors import ChainruleError, InputError

__all__ = ["LessonError", "Block", "Lesson", "Model", "read_lesson", "parse_lesson", "parse_inputs",
           "parse_number", "check_stated", "parse_fragment", "read_meta", "evaluate_target", "check_expect", "KINDS", "REFERENCE_FUNCTIONS", "split_front_matter",
           "parse_simple_mapping"]


class LessonError(InputError):
    """A lesson file was refused: ``path``, ``line`` (1-based) and the reason."""

    def __init__(self, path, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


# what each kind of block needs and allows (beyond the keys every block may have)
COMMON = {"id", "show", "title", "caption"}
PROGRAM_KEYS = {"program", "use", "at", "wrt", "lr", "params", "expect"}
KINDS: dict[str, dict] = {
    "program": {"keys": PROGRAM_KEYS, "needs_program": True,
                "what": "the program, its inputs and every value it computes (a table)"},
    "graph": {"keys": PROGRAM_KEYS, "needs_program": True,
              "what": "the computational graph as a drawing, with the chain as text under it"},
    "player": {"keys": PROGRAM_KEYS | {"notes"}, "needs_program": True,
               "what": "the step-through player: forward pass, backward pass, the chain lighting up"},
    "chain": {"keys": PROGRAM_KEYS, "needs_program": True,
              "what": "the chain rule for one input (wrt), factor by factor, with its product"},
    "step": {"keys": PROGRAM_KEYS, "needs_program": True,
             "what": "one gradient-descent step (lr, params): before, gradient, after, and whether it helped"},
    "tangent": {"keys": PROGRAM_KEYS | {"range"}, "needs_program": True,
                "what": "a tangent-line slider over a program of one input"},
    "heatmap": {"keys": PROGRAM_KEYS | {"range"}, "needs_program": True,
                "what": "a heat map of a program of two inputs, with the two slices through a point"},
    "vanishing": {"keys": PROGRAM_KEYS | {"factor", "depth", "activation"},
                  "what": "the vanishing-gradient explorer: the gradient reaching each layer of a deep chain"},
    "modes": {"keys": PROGRAM_KEYS | {"inputs", "outputs"}, "what": "forward mode against reverse mode: passes needed"},
    "practice": {"keys": PROGRAM_KEYS | {"question", "answer", "hint"}, "needs_program": True,
                 "what": "a practice problem: the reader types a number, the page checks it against the engine"},
    "flashcards": {"keys": {"q", "a"}, "what": "a deck of flashcards (q: and a: lines, in pairs)"},
    "selfcheck": {"keys": {"question", "answer"}, "what": "a self-check question with a hidden answer"},
    "chapters": {"keys": {"interval"},
                 "what": "a chapter player over the lesson's ## sections that follow it (Space plays)"},
    "compare": {"keys": PROGRAM_KEYS, "needs_program": True,
                "what": "the program written for PyTorch next to chainrule, with the engine's gradients"},
    "digits": {"keys": {"hidden", "epochs", "index", "seed"},
               "what": "the capstone: train the digits network, then explain one digit's gradient"},
}
REPEATABLE = {"expect", "q", "a"}
MULTILINE_OK = {"program", "question", "answer", "hint", "caption", "notes", "a", "q"}


# --------------------------------------------------------------------------- small readers

def split_front_matter(text: str) -> tuple[str | None, int, str, int]:
    """(front matter text or None, its first line, body, the body's first line)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, 0, text, 1
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "".join(lines[1:i]), 2, "".join(lines[i + 1:]), i + 2
    return "", -1, "", len(lines) + 1   # unterminated (line -1): reported by the caller


def _scalar(text: str):
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    if re.fullmatch(r"[+-]?\d+", s):
        return int(s)
    if s.startswith("[") and s.endswith("]"):
        return [_scalar(p) for p in s[1:-1].split(",") if p.strip()]
    return s


def parse_simple_mapping(text: str, path, first_line: int, *, repeatable=frozenset(),
                         multiline=None) -> list[tuple[str, object, int]]:
    """``key: value`` lines, ``key: |`` followed by indented lines, ``key:`` followed by ``- item``
    lines; ``# comment`` lines. Returns (key, value, line) in order (a key may repeat only if
    it is in ``repeatable``). Nothing is evaluated."""
    items: list[tuple[str, object, int]] = []
    seen: dict[str, int] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        ln = first_line + i
        i += 1
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if raw[:1] in " \t":
            raise LessonError(path, ln, f"unexpected indented line {raw.strip()[:40]!r}: indent only the lines "
                                        "of a 'key: |' text or the '- item' lines of a list")
        m = re.match(r"([A-Za-z_][\w-]*)\s*:(.*)$", raw)
        if not m:
            raise LessonError(path, ln, f"expected 'key: value', got {raw.strip()[:60]!r}")
        key, rest = m.group(1), m.group(2).strip()
        if key in seen and key not in repeatable:
            raise LessonError(path, ln, f"'{key}' is given twice (first on line {seen[key]})")
        seen.setdefault(key, ln)
        if rest in ("|", "|-", "|+", ">"):
            body = []
            while i < len(lines) and (not lines[i].strip() or lines[i][:1] in " \t"):
                body.append(lines[i])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            indent = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
            value: object = "\n".join(b[indent:] for b in body)
            if rest == ">":
                value = " ".join(str(value).split())
            if multiline is not None and key not in multiline:
                raise LessonError(path, ln, f"'{key}' takes one line, not a '|' text")
        elif rest == "":
            lst = []
            while i < len(lines) and re.match(r"\s+-\s", lines[i] + " "):
                lst.append(_scalar(lines[i].strip()[1:]))
                i += 1
            value = lst
        else:
            value = _scalar(rest)
        items.append((key, value, ln))
    return items


def _read_front_matter(text: str, path, first_line: int) -> dict:
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        try:
            data = yaml.safe_load(text) if text.strip() else {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = first_line + mark.line if mark is not None else first_line
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise LessonError(path, line, f"the front matter is not valid YAML: {problem}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise LessonError(path, first_line, "the front matter must be 'key: value' lines")
        lines = {}
        for k in data:
            m = re.search(rf"^{re.escape(str(k))}\s*:", text, re.M)
            lines[k] = first_line + text[:m.start()].count("\n") if m else first_line
        return {"values": data, "lines": lines}
    items = parse_simple_mapping(text, path, first_line)
    return {"values": {k: v for k, v, _ in items}, "lines": {k: ln for k, _, ln in items}}


META_KEYS = {"title": str, "order": int, "prerequisites": list, "goals": list, "reading_time": (str, int),
             "summary": str, "slug": str, "practice_time": (str, int), "difficulty": str}


def _meta(front: dict | None, path, default_slug: str) -> dict:
    values = dict(front["values"]) if front else {}
    lines = front["lines"] if front else {}
    for k, v in values.items():
        line = lines.get(k, 1)
        if k not in META_KEYS:
            raise LessonError(path, line, f"unknown front matter key '{k}': known keys are "
                                          f"{', '.join(sorted(META_KEYS))}")
        want = META_KEYS[k]
        if want is list and isinstance(v, str):
            v = values[k] = [v]
        if isinstance(v, bool) or not isinstance(v, want):
            names = " or ".join(t.__name__ for t in (want if isinstance(want, tuple) else (want,)))
            shown = {"str": "text", "int": "whole number", "list": "list"}
            raise LessonError(path, line, f"'{k}' must be a {' or '.join(shown.get(n, n) for n in names.split(' or '))}, "
                                          f"got {v!r}")
        if want is list:
            values[k] = [str(x) for x in v]
    if not str(values.get("title", "")).strip():
        raise LessonError(path, 1, "the lesson has no title: start the file with front matter "
                                   "('---', 'title: ...', '---')")
    slug = str(values.get("slug") or default_slug)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", slug):
        raise LessonError(path, lines.get("slug", 1), f"the page name {slug!r} must be lower-case letters, digits, "
                                                      "'-' and '_'")
    values["slug"] = slug
    values.setdefault("order", 1000)
    for k in ("prerequisites", "goals"):
        values.setdefault(k, [])
    return values


# --------------------------------------------------------------------------- numbers

_NUMBER = re.compile(r"[+\-−]?(\d+(\.\d*)?|\.\d+)([eE][+\-−]?\d+)?")


def parse_number(text: str) -> tuple[float, int]:
    """A number as a teacher types it (``−0.3``, ``1.56``, ``2e-3``) and how many decimals it states."""
    s = text.strip().replace("−", "-").replace("\u2009", "").replace(",", "")
    if not _NUMBER.fullmatch(s):
        raise ValueError(f"{text.strip()!r} is not a number")
    mantissa, _, exp = s.lower().partition("e")
    decimals = len(mantissa.partition(".")[2]) - (int(exp) if exp else 0)
    return float(s), decimals


def check_stated(stated: str, got: float, approx: bool = False) -> bool:
    """True if the engine's ``got`` is the number as stated.

    ``=`` (``approx`` False): ``got`` rounds to the digits typed *and* agrees to 1 part in 20,000
    (``1.56`` holds 1.5600000000000003, ``3`` holds 3.0000001 but not 3.2).
    ``≈`` (``approx`` True): only the rounding (``≈ 0.03`` holds 0.03125)."""
    want, decimals = parse_number(stated)
    if not math.isfinite(got):
        return False
    tol = 0.5 * 10.0 ** (-decimals) * (1 + 1e-9) if decimals > -300 else math.inf
    if not approx:
        tol = min(tol, 5e-5 * abs(want))
    return abs(got - want) <= tol + 1e-12 * max(1.0, abs(want))


def parse_inputs(text, path, line) -> dict[str, float]:
    """``x=2 y=1`` or ``x = 2, y = 1`` (or a YAML-ish mapping) -> {name: number}."""
    if isinstance(text, dict):
        pairs = [(str(k), str(v)) for k, v in text.items()]
    else:
        s = re.sub(r"\s*=\s*", "=", str(text))
        pairs = []
        for part in re.split(r"[\s,;]+", s.strip()):
            if not part:
                continue
            name, eq, value = part.partition("=")
            if not eq or not name:
                raise LessonError(path, line, f"'at:' wants name=number pairs (x=2 y=1), got {part!r}")
            pairs.append((name, value))
    out = {}
    for name, value in pairs:
        if not name.isidentifier():
            raise LessonError(path, line, f"{name!r} is not an input name")
        try:
            v, _ = parse_number(value)
        except ValueError:
            raise LessonError(path, line, f"input {name} = {value!r} is not a number") from None
        out[name] = v
    return out


# --------------------------------------------------------------------------- blocks

@dataclass
class Block:
    kind: str
    line: int                          # the line of the opening ``` fence
    items: list                        # (key, value, line)
    path: str
    index: int = 0                     # its place among the lesson's blocks

    def get(self, key, default=None):
        for k, v, _ in self.items:
            if k == key:
                return v
        return default

    def all(self, key) -> list[tuple[object, int]]:
        return [(v, ln) for k, v, ln in self.items if k == key]

    def line_of(self, key) -> int:
        for k, _, ln in self.items:
            if k == key:
                return ln
        return self.line

    @property
    def id(self) -> str:
        return str(self.get("id") or f"block{self.index + 1}")

    def error(self, message, key=None) -> LessonError:
        return LessonError(self.path, self.line_of(key) if key else self.line, message)


def parse_block(text: str, path, fence_line: int, index: int = 0) -> Block:
    items = parse_simple_mapping(text, path, fence_line + 1, repeatable=REPEATABLE, multiline=MULTILINE_OK)
    keys = {k for k, _, _ in items}
    show = next((v for k, v, _ in items if k == "show"), None)
    if show is None:
        raise LessonError(path, fence_line, "a chainrule block needs 'show: KIND' (one of "
                                            f"{', '.join(KINDS)})")
    show = str(show).strip()
    if show not in KINDS:
        import difflib
        close = difflib.get_close_matches(show, KINDS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise LessonError(path, next(ln for k, _, ln in items if k == "show"),
                          f"unknown block kind 'show: {show}'{hint}; kinds: {', '.join(KINDS)}")
    allowed = KINDS[show]["keys"] | COMMON
    for k, _, ln in items:
        if k not in allowed:
            raise LessonError(path, ln, f"'{k}' is not a key of a '{show}' block; it takes "
                                        f"{', '.join(sorted(allowed))}")
    block = Block(show, fence_line, items, str(path), index)
    ident = block.get("id")
    if ident is not None and not re.fullmatch(r"[A-Za-z_][\w-]*", str(ident)):
        raise block.error(f"the block id {ident!r} must be a name (letters, digits, _ and -)", "id")
    if KINDS[show].get("needs_program") and not keys & {"program", "use"}:
        raise block.error(f"a '{show}' block needs 'program: |' (or 'use: ID' of another block's program)")
    if show == "flashcards":
        qs, as_ = block.all("q"), block.all("a")
        if not qs or len(qs) != len(as_):
            raise block.error(f"a flashcards block needs q: and a: lines in pairs (got {len(qs)} q and {len(as_)} a)")
    if show == "selfcheck" and not (block.get("question") and block.get("answer")):
        raise block.error("a selfcheck block needs 'question:' and 'answer:'")
    return block


# --------------------------------------------------------------------------- the engine's numbers

class Model:
    """A block's program run at its inputs: values, gradients, the step, the explanation."""

    def __init__(self, block: Block, program_text: str, program_line: int, inputs: dict, base: "Model | None" = None):
        from ..lang import parse
        from ..errors import ProgramError

        self.block, self.path = block, block.path
        self.text = program_text.strip("\n")
        try:
            self.program = parse(self.text)
        except ProgramError as e:
            line = program_line + (e.line - 1 if e.line else 0)
            raise LessonError(self.path, line, f"the program is refused: {e.message}") from None
        except ChainruleError as e:
            raise LessonError(self.path, program_line, f"the program is refused: {e}") from None
        missing = [n for n in self.program.inputs if n not in inputs]
        if missing:
            raise block.error(f"the program needs a value for {', '.join(missing)}: add it to 'at:' "
                              f"(e.g. at: {' '.join(f'{n}=1' for n in self.program.inputs)})", "at" if block.get("at") else None)
        extra = [n for n in inputs if n not in self.program.inputs]
        if extra:
            raise block.error(f"'at:' gives {', '.join(extra)}, which the program does not use as inputs "
                              f"(its inputs: {', '.join(self.program.inputs)})", "at")
        self.inputs = {n: inputs[n] for n in self.program.inputs}
        try:
            self.run = self.program.run(self.inputs)
            self.grads = self.run.grads()
        except ChainruleError as e:
            raise block.error(f"the program cannot be run at these inputs: {e}", "at") from None
        self.output = self.program.output
        lr = block.get("lr", base.lr if base else None)
        self.lr = None
        if lr is not None:
            try:
                self.lr, _ = parse_number(str(lr))
            except ValueError:
                raise block.error(f"lr: {lr!r} is not a number", "lr") from None
        params = block.get("params")
        self.params = tuple(str(params).replace(",", " ").split()) if params else (base.params if base else None)
        wrt = block.get("wrt")
        self.wrt = str(wrt).strip() if wrt else None
        if self.wrt and self.wrt not in self.run.values:
            raise block.error(f"wrt: {self.wrt!r} is not a variable of the program "
                              f"({', '.join(self.run.values)})", "wrt")

    @cached_property
    def step(self):
        from ..lang import gradient_step
        if self.lr is None:
            return None
        try:
            return gradient_step(self.program, self.inputs, self.lr, self.params)
        except ChainruleError as e:
            raise self.block.error(f"the gradient-descent step fails: {e}", "lr") from None

    @cached_property
    def trace(self):
        return self.run.trace()

    @cached_property
    def explanation(self):
        from ..explain import explain
        wanted = [n for n in self.run.values if n != self.output]
        return explain(self.trace, wanted or None)

    def chain(self, name: str):
        for cs in self.explanation.chains:
            if cs.wrt == name:
                return cs
        raise KeyError(name)

    # -- what a reference or an expect line may ask for
    def value(self, name: str) -> float:
        if name not in self.run.values:
            raise KeyError(name)
        return float(self.run.values[name].data)

    def grad(self, name: str) -> float:
        if name not in self.run.values:
            raise KeyError(name)
        self.run.grads()
        g = self.run.values[name].grad
        return float(g)

    def after(self, name: str) -> float:
        st = self.step
        if st is None:
            raise ValueError("the block has no gradient-descent step: give it 'lr:'")
        if name in st.new_values:
            return float(st.new_values[name])
        if st.after is None:
            raise ValueError(f"after the step the program has no value: {st.after_error}")
        if name not in st.after.values:
            raise KeyError(name)
        return float(st.after.values[name].data)

    def factors(self, name: str) -> list[float]:
        cs = self.chain(name)
        if cs.path_count != 1:
            raise ValueError(f"the chain for {name} has {cs.path_count} paths, not one product")
        return [float(f.value) for f in cs.paths[0].factors]


# --------------------------------------------------------------------------- references

REFERENCE_FUNCTIONS = {
    "value": "the value of a variable: value(\"id\", \"L\")",
    "grad": "∂output/∂name: grad(\"id\", \"w1\")",
    "after": "a value after the block's gradient-descent step: after(\"id\", \"w1\") (or the output's)",
    "chain": "the chain for one input as factors and product: chain(\"id\", \"w1\") → 2 · 0.5 · 3 · 1 = 3",
    "output": "the program's output name: output(\"id\")",
}
_REF = re.compile(r"\{\{(.*?)\}\}")


def _parse_reference(src: str, path, line):
    try:
        node = ast.parse(src.strip(), mode="eval").body
    except SyntaxError:
        node = None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise LessonError(path, line, f"{{{{{src}}}}} is not a reference: write one of "
                                      + "; ".join(REFERENCE_FUNCTIONS.values()))
    fn = node.func.id
    if fn not in REFERENCE_FUNCTIONS:
        raise LessonError(path, line, f"unknown reference function '{fn}': known are {', '.join(REFERENCE_FUNCTIONS)}")
    args = []
    for a in node.args:
        if not isinstance(a, ast.Constant) or not isinstance(a.value, str):
            raise LessonError(path, line, f"the arguments of {fn}(...) must be quoted names, as in "
                                          f"{REFERENCE_FUNCTIONS[fn]}")
        args.append(a.value)
    kw = {}
    for k in node.keywords:
        if k.arg != "digits" or not isinstance(k.value, ast.Constant) or type(k.value.value) is not int \
                or not 1 <= k.value.value <= 17:
            raise LessonError(path, line, f"{fn}(...) takes only digits=N (1 to 17) besides its names")
        kw["digits"] = k.value.value
    want = 1 if fn == "output" else 2
    if len(args) != want:
        raise LessonError(path, line, f"{fn}(...) takes {want} name{'s' if want > 1 else ''}: {REFERENCE_FUNCTIONS[fn]}")
    return fn, args, kw


def resolve_reference(src: str, models: dict, path, line) -> str:
    from ..numfmt import fmt, product
    fn, args, kw = _parse_reference(src, path, line)
    model = models.get(args[0])
    if model is None:
        raise LessonError(path, line, f"{fn}(\"{args[0]}\", ...): no block with id '{args[0]}' in this lesson "
                                      f"(ids: {', '.join(models) or 'none'})")
    if fn == "output":
        return model.output
    name = args[1]
    digits = kw.get("digits")
    try:
        if fn == "chain":
            fs = model.factors(name)
            return f"{product(fs, digits=digits)} = {fmt(model.grad(name), digits)}"
        return fmt(getattr(model, fn)(name), digits)
    except KeyError:
        raise LessonError(path, line, f"{fn}(\"{args[0]}\", \"{name}\"): the program of '{args[0]}' has no "
                                      f"variable '{name}' ({', '.join(model.run.values)})") from None
    except (ValueError, ChainruleError) as e:
        raise LessonError(path, line, f"{fn}(\"{args[0]}\", \"{name}\"): {e}") from None


# --------------------------------------------------------------------------- expect lines

_GRAD = re.compile(r"^(?:∂|d)\s*(\w+)\s*/\s*(?:∂|d)\s*(\w+)$")


def _split_expect(text: str, path, line) -> tuple[str, str, bool]:
    parts = re.split(r"\s*(=|≈)\s*", str(text).strip(), maxsplit=1)
    if len(parts) != 3 or not parts[0].strip() or not parts[2].strip():
        raise LessonError(path, line, f"expect: {text!r} wants 'WHAT = NUMBER' (L = 1.69, ∂L/∂w1 = 1.56, "
                                      "step w1 = 0.344, chain w1 = 2 · 0.5 · 3 · 1; ≈ for a rounded number)")
    return parts[0].strip(), parts[2].strip(), parts[1] == "≈"


def evaluate_target(what: str, model: Model, path, line) -> list[tuple[str, float]]:
    """What an expect line (or a practice answer) names, as (label, the engine's number) pairs:
    ``L``, ``∂L/∂w1`` (or ``dL/dw1``), ``step w1`` (after one step), ``chain w1`` (every factor)."""
    from ..numfmt import fmt
    what = what.strip()
    try:
        m = _GRAD.match(what)
        if m:
            num, name = m.groups()
            if num != model.output:
                raise LessonError(path, line, f"{what}: the program's output is {model.output}, not {num}")
            return [(f"∂{num}/∂{name}", model.grad(name))]
        if what.startswith("step "):
            name = what[5:].strip()
            return [(f"{name} after one step (lr {fmt(model.lr) if model.lr else '?'})", model.after(name))]
        if what.startswith("chain "):
            name = what[6:].strip()
            return [(f"factor {i + 1} of the chain for {name}", g) for i, g in enumerate(model.factors(name))]
        if what.isidentifier():
            return [(what, model.value(what))]
    except KeyError as e:
        raise LessonError(path, line, f"{what}: the program has no variable {e.args[0]!r} "
                                      f"({', '.join(model.run.values)})") from None
    except ValueError as e:
        raise LessonError(path, line, f"{what}: {e}") from None
    raise LessonError(path, line, f"cannot read {what!r}: write a variable (L), a gradient "
                                  "(∂L/∂w1 or dL/dw1), 'step w1' or 'chain w1'")


def check_expect(text: str, model: Model, path, line) -> tuple[str, float]:
    """Check one ``expect:`` line; return (what, the engine's number). Raises LessonError on a mismatch."""
    from ..numfmt import fmt
    what, stated, approx = _split_expect(text, path, line)
    pairs = evaluate_target(what, model, path, line)
    typed = [s for s in re.split(r"\s*[·×*]\s*", stated) if s] if what.startswith("chain ") else [stated]
    if len(typed) != len(pairs):
        raise LessonError(path, line, f"expect: {what} states {len(typed)} factors ({stated}) but chainrule's "
                                      f"chain has {len(pairs)}: {' · '.join(fmt(g) for _, g in pairs)}")
    for (label, got), t in zip(pairs, typed):
        try:
            ok = check_stated(t, got, approx)
        except ValueError:
            raise LessonError(path, line, f"expect: {t!r} is not a number") from None
        if not ok:
            raise LessonError(path, line, f"the lesson states {label} {'≈' if approx else '='} {t}, but chainrule computes "
                                          f"{fmt(got, 12)} (block '{model.block.id}')")
    return what, pairs[-1][1]


# --------------------------------------------------------------------------- the lesson

@dataclass
class Lesson:
    path: Path
    meta: dict
    source: str                        # the whole file
    body: str                          # Markdown after the front matter, references filled in
    body_line: int
    blocks: list[Block] = field(default_factory=list)
    models: dict = field(default_factory=dict)      # block id -> Model
    checked: int = 0                   # expect lines checked
    fences: list = field(default_factory=list)      # (first, last) line index in body of each block

    @property
    def slug(self) -> str:
        return self.meta["slug"]

    @property
    def title(self) -> str:
        return self.meta["title"]


_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)")


def _fences(body: str, first_line: int):
    """(start line, end line, info, inner text) of every fenced code block, by CommonMark's rules."""
    lines = body.splitlines()
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        mark, info = m.group(2), m.group(3)
        j = i + 1
        while j < len(lines) and not re.match(rf"^ {{0,3}}{mark[0]}{{{len(mark)},}}\s*$", lines[j]):
            j += 1
        out.append((first_line + i, first_line + j, info, "\n".join(lines[i + 1:j]), i, j))
        i = j + 1
    return out


def _fill_references(body: str, first_line: int, fences, models, path) -> str:
    lines = body.splitlines(keepends=True)
    inside = set()
    for *_, i, j in fences:
        inside.update(range(i, j + 1))
    for k, line in enumerate(lines):
        if k in inside or "{{" not in line:
            continue
        # leave `code spans` alone: a lesson may show the syntax itself
        parts = re.split(r"(`+[^`]*`+)", line)
        for p, part in enumerate(parts):
            if p % 2 == 0:
                parts[p] = _REF.sub(lambda m: resolve_reference(m.group(1), models, path, first_line + k), part)
        lines[k] = "".join(parts)
    return "".join(lines)


def parse_lesson(text: str, path="lesson.md") -> Lesson:
    """Read and check one lesson: every block parsed, every program run, every expect line and
    every reference checked against the engine. Raises :class:`LessonError`."""
    path = Path(path)
    if "\x00" in text:
        raise LessonError(path, None, "the file holds a NUL byte: it is not a text file")
    meta, body, body_line = read_meta(text, path)
    return _read_body(Lesson(path, meta, text, body, body_line))


def read_meta(text: str, path) -> tuple[dict, str, int]:
    """The front matter, checked, with defaults (slug from the file name); the body and its first line."""
    path = Path(path)
    front, front_line, body, body_line = split_front_matter(text)
    if front_line == -1:
        raise LessonError(path, 1, "the front matter that starts on line 1 never ends: close it with a '---' line")
    meta = _meta(_read_front_matter(front, path, front_line) if front is not None else None, path,
                 re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-") or "lesson")
    return meta, body, body_line


def parse_fragment(text: str, path="page.md", first_line: int = 1) -> Lesson:
    """Markdown without front matter (a MkDocs page: MkDocs has taken its front matter off):
    its blocks parsed and checked, its references filled in. ``first_line``: where ``text``
    starts in the file, so that errors name the file's own lines."""
    path = Path(path)
    meta = {"title": "", "slug": re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-") or "page",
            "order": 0, "goals": [], "prerequisites": []}
    return _read_body(Lesson(path, meta, text, text, first_line))


def _read_body(lesson: Lesson) -> Lesson:
    path, body, body_line = lesson.path, lesson.body, lesson.body_line
    fences = _fences(body, body_line)
    ids: dict[str, int] = {}
    for start, end, info, inner, i, j in fences:
        if info != "chainrule":
            continue
        if j >= len(body.splitlines()):
            raise LessonError(path, start, "this ```chainrule block is never closed")
        block = parse_block(inner, path, start, len(lesson.blocks))
        if block.id in ids:
            raise block.error(f"the block id '{block.id}' is used twice (first on line {ids[block.id]})", "id")
        ids[block.id] = start
        lesson.blocks.append(block)
        _attach_model(lesson, block)
    lesson.body = _fill_references(body, body_line, fences, lesson.models, path)
    lesson.fences = [(f[4], f[5]) for f in fences if f[2] == "chainrule"]
    return lesson


def _attach_model(lesson: Lesson, block: Block) -> None:
    if block.get("program") is None and block.get("use") is None:
        return
    base = None
    use = block.get("use")
    if use is not None:
        base = lesson.models.get(str(use))
        if base is None:
            raise block.error(f"use: {use}: no block with that id before this one "
                              f"(ids so far: {', '.join(lesson.models) or 'none'})", "use")
        if block.get("program") is not None:
            raise block.error("give 'program:' or 'use:', not both", "use")
    if base is not None:
        text, line = base.text, base.block.line_of("program")
        inputs = dict(base.inputs)
    else:
        text, line = str(block.get("program")), block.line_of("program") + 1
        inputs = {}
    if block.get("at") is not None:
        inputs.update(parse_inputs(block.get("at"), block.path, block.line_of("at")))
    model = Model(block, text, line, inputs, base)
    for stated, ln in block.all("expect"):
        check_expect(str(stated), model, block.path, ln)
        lesson.checked += 1
    lesson.models[block.id] = model


def read_lesson(path) -> Lesson:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise LessonError(path, None, f"not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise LessonError(path, None, f"cannot read the file: {e.strerror or e}") from None
    return parse_lesson(text, path)
