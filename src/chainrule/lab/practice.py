"""Checked practice: fresh problems with friendly numbers, answers checked, slips explained.

A problem is a :class:`Template` (a program in chainrule's little language, the
friendly numbers each input may take, and the questions asked about it) plus a
seed. :func:`generate` draws the numbers with a small seeded generator
(:class:`Rng`, mulberry32: the page component runs the same one in JavaScript),
runs the program with the engine and explains it, so every answer and every
worked line comes from chainrule itself::

    chainrule practice --kind chain --seed 7         # asks in the terminal
    chainrule practice --kind step --seed 7 --json   # the problem, answers and solution
    chainrule practice sheet --count 10 --seed 1 -o sheet.html
    chainrule practice page -o practice.html          # the in-browser version (offline)

Answers are read by :func:`parse_answer` (a tiny number parser, never ``eval``):
``-0.5``, ``−0.5``, ``.25``, ``2.5e-1`` and fractions like ``1/4``. They are
checked by :func:`check_answer`: within half a percent, or the true value
rounded to the decimals the learner typed (``0.001`` for 0.0009765625).
"""
from __future__ import annotations

import json
import math
import re
import secrets
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape

from ..errors import InputError
from ..numfmt import factor, fmt

__all__ = ["Template", "Ask", "Rng", "KINDS", "templates", "generate", "at", "parse_answer", "check_answer",
           "Verdict", "AnswerError", "sheet_html", "practice_data", "practice_page", "practice_fragment", "practice_assets", "study_page", "fragment", "register", "REL_TOL"]

REL_TOL = 0.005        # half a percent: an answer to three significant digits passes
ROUNDED_REL = 0.025    # an answer rounded to the decimals typed passes if it is within 2.5 %
CLOSE_REL = 0.1        # within 10 %: "close" (say so, and ask for more digits)
MAX_TRIES = 64         # draws before a template gives up on finding numbers it keeps
MAX_ANSWER = 1e4       # friendly numbers stay small


# --------------------------------------------------------------------------
# Templates (data: the page component gets exactly these)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Ask:
    """One question: a variable's value, a gradient of the output, or a gradient-descent step."""

    key: str              # "a3", "dC/dw1", "w1_new"
    what: str             # "value" | "grad" | "step"
    of: str               # the variable (value), the variable differentiated for (grad), the stepped input
    prompt: str           # the question, in words
    slip: str             # why a wrong answer here is a common slip (the project's own words)


@dataclass(frozen=True)
class Template:
    kind: str
    name: str
    title: str
    story: str                            # the setting, in words
    program: str                          # chainrule's little language; the last line is the output
    choices: dict                         # input -> friendly values it may take (drawn in this order)
    asks: tuple
    lr: tuple = ()                        # learning rates to draw from (kind "step")
    nonzero: tuple = ()                   # answer keys that must not be 0 (else draw again)
    hint: str = ""                        # shown with the worked chain (e.g. the op table's formula)


def _chain_asks():
    return (
        Ask("a1", "value", "a1", "forward pass: a1 = ?", "Each layer multiplies what the layer before it "
            "made: a1 is w1 times the input a0."),
        Ask("a2", "value", "a2", "a2 = ?", "A slip in a1 is carried into every later value; recompute "
            "from the input if a2 looks odd."),
        Ask("a3", "value", "a3", "a3 (the output) = ?", "The output is the last product in the line: "
            "w3 times a2."),
        Ask("C", "value", "C", "the cost C = ?", "Subtract first, then square: (a3 − y)², which is not "
            "a3² − y²."),
        Ask("dC/da3", "grad", "a3", "the first factor ∂C/∂a3 = ?", "The square brings down a 2 that is "
            "easy to drop, and the order matters: it is 2(a3 − y), output minus target, so its sign says "
            "which way the output should move."),
        Ask("dC/dw1", "grad", "w1", "∂C/∂w1 (four factors) = ?", "The last factor is the input that w1 "
            "multiplies (a0), not w1 itself: ∂(w1·a0)/∂w1 = a0. The middle factors are the weights the "
            "signal passes back through."),
        Ask("dC/dw3", "grad", "w3", "∂C/∂w3 (two factors) = ?", "Only two factors, and the first is the "
            "same ∂C/∂a3 as in the long chain; ∂a3/∂w3 is a2, the activation feeding w3."),
    )


CHAIN = "a1 = w1*a0\na2 = w2*a1\na3 = w3*a2\nC = (a3 - y)**2"
_CHAIN_CHOICES = {"a0": (1, 2), "w1": (0.5, 1, 2, 3), "w2": (-1, 0.5, 1, 2, 3), "w3": (0.5, 1, 2, 3),
                  "y": (0, 1, 2, 3, 4)}
_STORY_CHAIN = ("One neuron per layer and no activation: each layer multiplies by its weight, and the cost is "
                "the squared distance between the output and the target y.")

_STEP_ASKS = (
    Ask("C", "value", "C", "the cost C = ?", "Run the whole forward pass first (a1, a2, a3), then subtract "
        "the target and square."),
    Ask("dC/dw1", "grad", "w1", "∂C/∂w1 = ?", "Four factors multiply: 2(a3 − y), then w3 and w2 on the way "
        "back, then a0, the input w1 multiplies."),
    Ask("w1_new", "step", "w1", "after one gradient-descent step, w1 = ?", "Step against the slope: "
        "w1 − lr·∂C/∂w1. Adding the gradient walks uphill, and forgetting the learning rate jumps much too "
        "far."),
)

_VANISH_ASKS = (
    Ask("p", "value", "p", "the product of the n factors, p = f^n = ?", "Factors multiply: five factors of "
        "0.5 give 1/32, not 5 · 0.5. Each factor below 1 shrinks the signal further."),
    Ask("q", "value", "q", "a chain twice as long, q = f^(2n) = ?", "Doubling the depth squares the "
        "product (p · p), it does not halve or double it: that is why deep chains vanish so fast."),
)

_BCE_ASKS = (
    Ask("z", "value", "z", "the pre-activation z = ?", "z = w·x + b: the bias is added after the product, "
        "and a negative x or w flips the sign."),
    Ask("a", "value", "a", "the prediction a = σ(z) = ?", "σ(z) = 1/(1 + e^(−z)): the minus in the exponent "
        "is easy to lose; σ(0) = 0.5, and a positive z gives more than 0.5."),
    Ask("L", "value", "L", "the loss L = ?", "Only one log term is alive: y = 1 keeps −log(a), y = 0 keeps "
        "−log(1 − a). The minus in front makes the loss positive."),
    Ask("dL/dz", "grad", "z", "∂L/∂z = ?", "The sigmoid's slope a(1 − a) cancels the log's 1/a, leaving "
        "a − y: prediction minus label. Multiplying the three factors by hand is where the arithmetic slips."),
    Ask("dL/dw", "grad", "w", "∂L/∂w = ?", "One factor more than ∂L/∂z: ∂z/∂w = x, the input the weight "
        "multiplies, so ∂L/∂w = (a − y)·x."),
)

_RELU_ASKS = (
    Ask("z1", "value", "z1", "z1 = ?", "z1 = w1·x + b1: the bias is added after the product."),
    Ask("h", "value", "h", "h = relu(z1) = ?", "ReLU passes a positive input unchanged and turns a negative "
        "one (or 0) into 0."),
    Ask("z2", "value", "z2", "z2 = ?", "The second layer uses h, the ReLU's output, not z1."),
    Ask("L", "value", "L", "L = ?", "Subtract the target, then square."),
    Ask("dL/dw2", "grad", "w2", "∂L/∂w2 = ?", "Two factors: 2(z2 − y), then ∂z2/∂w2 = h (the ReLU's output, "
        "not z1)."),
    Ask("dL/dw1", "grad", "w1", "∂L/∂w1 = ?", "The ReLU's local gradient is 1 if z1 > 0 and 0 otherwise: "
        "a unit that is off passes nothing back (a dead ReLU), and when it is on the factor is 1, not h."),
)

_PARTIAL_ASKS = (
    Ask("f", "value", "f", "f at this point = ?", "Square before multiplying by the coefficient: c·x² with "
        "x = −2 is 4c, never negative."),
    Ask("df/dx", "grad", "x", "∂f/∂x = ?", "Hold y fixed: the e·y² term is a constant in x and drops out, "
        "c·x² gives 2c·x and d·x·y gives d·y."),
    Ask("df/dy", "grad", "y", "∂f/∂y = ?", "Hold x fixed: c·x² drops out, d·x·y gives d·x and e·y² gives "
        "2e·y."),
)

# The op table's rows as local-gradient drills: the program, the input asked about, friendly points,
# and why the slip is common. The formula shown is the op table's own (chainrule.ops).
_LOCAL = [
    # op row, program, wrt, choices, slip
    ("add", "out = x + y", "x", {"x": (1, 2, -3), "y": (-1, 2, 5)},
     "An addition passes the gradient through unchanged: the local gradient is 1 whatever the numbers."),
    ("sub", "out = x - y", "y", {"x": (1, 2, 5), "y": (-1, 2, 3)},
     "The second input of a subtraction gets −1: y's increase lowers the output."),
    ("mul", "out = x * y", "x", {"x": (-2, 3, 0.5), "y": (-1, 2, 4)},
     "A product's local gradient for one input is the other input: ∂(x·y)/∂x = y, not x."),
    ("div", "out = x / y", "y", {"x": (1, 2, 3), "y": (1, 2, 4)},
     "∂(x/y)/∂y = −x/y²: the minus and the square are both easy to lose."),
    ("powc", "out = z**2", "z", {"z": (-3, -1, 0.5, 2)},
     "Bring the exponent down and lower it by one: z² gives 2z (negative for negative z)."),
    ("sqrt", "out = sqrt(z)", "z", {"z": (1, 4, 9, 0.25)},
     "√z has slope 1/(2√z): it is largest near 0 and shrinks as z grows."),
    ("exp", "out = exp(z)", "z", {"z": (0, 1, -1, 2)},
     "exp is its own derivative: the slope equals the value e^z (1 at z = 0)."),
    ("log", "out = log(z)", "z", {"z": (1, 2, 4, 0.5)},
     "log z has slope 1/z: not log z again, and not 1/e."),
    ("tanh", "out = tanh(z)", "z", {"z": (0, 0.5, 1, -1)},
     "tanh' = 1 − tanh²(z): at most 1 (at z = 0), and it uses tanh(z), not z."),
    ("sigmoid", "out = sigmoid(z)", "z", {"z": (0, 1, -1, 2)},
     "σ' = σ(z)(1 − σ(z)): at most 0.25 (at z = 0). It uses σ(z), not z, which is why long sigmoid chains "
     "shrink."),
    ("relu", "out = relu(z)", "z", {"z": (-2, -0.5, 0.5, 3)},
     "ReLU's slope is 1 for positive z and 0 otherwise (0 at z = 0 too): never z itself."),
    ("leaky_relu", "out = leaky_relu(z, 0.1)", "z", {"z": (-2, -0.5, 1, 3)},
     "Leaky ReLU keeps a small slope (here 0.1) for negative z instead of 0."),
    ("abs", "out = abs(z)", "z", {"z": (-3, -0.5, 2)},
     "|z| has slope −1 for negative z and +1 for positive z: the sign, not the size."),
    ("maximum", "out = max(x, y)", "x", {"x": (1, 2, 3), "y": (1, 2, 3)},
     "max passes the whole gradient to the larger input and none to the other; on a tie chainrule splits it "
     "½ and ½, as PyTorch does."),
]


def _shown_program(text: str) -> str:
    return text.replace("**", "^").replace("*", "·").replace(" - ", " − ").replace("-(", "−(")


def _local_templates() -> list[Template]:
    from ..ops import OPS

    out = []
    for row, program, wrt, choices, slip in _LOCAL:
        op = OPS[row]
        names = {"x": "x", "y": "y"} if op.arity == 2 else {"x": "z", "k": "0.1" if row == "leaky_relu" else "2"}
        port = 1 if (op.arity == 2 and wrt == "y") else 0
        formula = op.formula(port, **names)
        shown = _shown_program(program.split("=", 1)[1].strip())
        out.append(Template(
            "local-grad", f"local-grad:{row}", f"Local gradient of {shown}",
            f"A single node, out = {shown}. Its local gradient with respect to {wrt} comes straight from the op "
            "table, evaluated at the numbers below.",
            program, choices,
            (Ask(f"dout/d{wrt}", "grad", wrt, f"the local gradient ∂out/∂{wrt} = ?", slip),),
            hint=f"∂out/∂{wrt} = {formula}" + (f" ({op.note})" if op.note else "")))
    return out


@lru_cache(maxsize=1)
def _all_templates() -> tuple[Template, ...]:
    return (
        Template("chain", "chain", "Work a chain", _STORY_CHAIN, CHAIN, _CHAIN_CHOICES, _chain_asks(),
                 nonzero=("dC/da3",)),
        Template("step", "step", "Work a chain, then take a step", _STORY_CHAIN + " Then update w1 once "
                 "with the learning rate lr.", CHAIN, _CHAIN_CHOICES, _STEP_ASKS, lr=(0.1, 0.05, 0.01),
                 nonzero=("dC/dw1",)),
        Template("vanish", "vanish", "Watch a gradient vanish", "Along one backward chain every local factor "
                 "equals f. The slope that reaches a front-layer weight is the product of all n of them.",
                 "p = f**n\nq = p*p", {"f": (0.5, 0.25, 0.9, 0.1), "n": (2, 3, 4, 5)}, _VANISH_ASKS),
        Template("sigmoid-bce", "sigmoid-bce", "One sigmoid neuron, cross-entropy loss", "A neuron computes "
                 "z = w·x + b, predicts a = σ(z), and is scored by the binary cross-entropy with the label y.",
                 "z = w*x + b\na = sigmoid(z)\nL = -(y*log(a) + (1 - y)*log(1 - a))",
                 {"w": (-1, 0.5, 1, 2), "x": (-1, 1, 2), "b": (-1, 0, 0.5, 1), "y": (0, 1)}, _BCE_ASKS),
        Template("relu-net", "relu-net", "A two-layer ReLU network", "One hidden ReLU unit h between the "
                 "input x and the output z2, with a squared-error loss against the target y.",
                 "z1 = w1*x + b1\nh = relu(z1)\nz2 = w2*h + b2\nL = (z2 - y)**2",
                 {"x": (1, 2, -1), "w1": (-1, 0.5, 1, 2), "b1": (-1, 0, 1), "w2": (-2, -1, 1, 2, 3),
                  "b2": (0, 1), "y": (0, 1, 2, 4)}, _RELU_ASKS, nonzero=("dL/dw2",)),
        Template("partial", "partial", "Partial derivatives", "f depends on two inputs. A partial derivative "
                 "is the slope along one input with the other held fixed (c, d and e are fixed coefficients).",
                 "f = c*x**2 + d*x*y + e*y**2",
                 {"c": (1, 2, 3), "d": (0, 1, 2), "e": (1, 2), "x": (-2, -1, 0.5, 1, 2, 3),
                  "y": (-1, 0.3, 0.5, 1, 2)}, _PARTIAL_ASKS),
        *_local_templates(),
    )


KINDS = ("chain", "step", "vanish", "sigmoid-bce", "relu-net", "partial", "local-grad")


@lru_cache(maxsize=1)
def templates() -> dict[str, list[Template]]:
    """kind -> its templates (local-grad has one per op row)."""
    out: dict[str, list[Template]] = {k: [] for k in KINDS}
    for t in _all_templates():
        out[t.kind].append(t)
    return out


# --------------------------------------------------------------------------
# The seeded generator (mulberry32, the same in practice.js)
# --------------------------------------------------------------------------

class Rng:
    """mulberry32: 32-bit state, floats in [0, 1). Written so JavaScript's version gives the same
    numbers (the tests compare them)."""

    def __init__(self, seed: int):
        self.state = int(seed) & 0xFFFFFFFF

    def random(self) -> float:
        self.state = (self.state + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t = (t ^ ((t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    def pick(self, items):
        return items[min(int(self.random() * len(items)), len(items) - 1)]


MAX_SEED = 2 ** 32 - 1


def _seed(seed) -> int:
    if seed is None:
        return secrets.randbelow(10 ** 6)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"--seed {seed!r}: expected a whole number from 0 to {MAX_SEED}")
    return seed


# --------------------------------------------------------------------------
# Generating a problem
# --------------------------------------------------------------------------

@dataclass
class Problem:
    template: Template
    seed: int
    inputs: dict
    lr: float | None
    run: object = field(repr=False)
    explanation: object = field(repr=False)
    answers: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.template.kind

    def worked(self, ask: Ask) -> list[str]:
        """The worked line(s) for one question, from the engine's explanation."""
        e = self.explanation
        if ask.what == "grad":
            cs = e.chain(ask.of)
            factors = {}
            for p in cs.paths:
                for f in p.factors:
                    factors.setdefault((f.node, f.input, f.slot), f)
            lines = [] if len(factors) == 1 else e.chain_line(ask.of).split("\n")
            for f in factors.values():
                filled = fill(marked(f.formula, self._names), self._value_of)
                plain = filled == f.formula or _WORD.fullmatch(f.formula)   # "w3 = 0.5", not "w3 = 0.5 = 0.5"
                line = f"{f.label} = {f.formula}" + ("" if plain else f" = {filled}")
                lines.append(("    " if lines else "") + f"{line} = {fmt(f.value)}")
            return lines
        if ask.what == "step":
            g = self.answers[_grad_key(self.template, ask.of)]
            return [f"{ask.of}_new = {ask.of} − lr · ∂{self.template_output}/∂{ask.of} = "
                    f"{fmt(self.inputs[ask.of])} − {fmt(self.lr)} · {factor(g)} = {fmt(self.answers[ask.key])}"]
        line = value_line(self, ask.of)
        return [f"{line} = {fill(marked(line.split(' = ', 1)[1], self._names, ask.of), self._value_of)} = "
                f"{fmt(self.answers[ask.key])}"]

    @property
    def _names(self) -> set:
        return set(self.run.values)

    @property
    def template_output(self) -> str:
        return self.run.program.output

    def _value_of(self, name: str) -> float:
        return self.run.values[name].data

    def to_dict(self) -> dict:
        t = self.template
        problem = {"title": t.title, "story": t.story, "program": t.program, "inputs": dict(self.inputs),
                   "questions": [{"key": a.key, "prompt": a.prompt} for a in t.asks]}
        if self.lr is not None:
            problem["lr"] = self.lr
        return {
            "kind": t.kind, "template": t.name, "seed": self.seed, "problem": problem,
            "answers": dict(self.answers),
            "solution": {a.key: {"worked": self.worked(a), "slip": a.slip, **({"hint": t.hint} if t.hint else {})}
                         for a in t.asks},
        }


def _grad_key(t: Template, of: str) -> str:
    for a in t.asks:
        if a.what == "grad" and a.of == of:
            return a.key
    raise KeyError(of)


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MARK = re.compile(r"(\()?\{([A-Za-z_][A-Za-z0-9_]*)\}(\))?")


def value_line(problem: Problem, name: str) -> str:
    """``a3 = w3 · a2``: the variable and its right-hand side as the explainer writes it."""
    node = next(n.id for n in problem.explanation.trace.nodes if n.name == name)
    return f"{name} = {problem.explanation.graph.rhs(node) or name}"


def marked(text: str, names, skip: str = "") -> str:
    """``text`` with every whole-word name in ``names`` (but ``skip``) written ``{name}``: the template
    that :func:`fill` (and practice.js's ``fill``) puts the numbers into."""
    return _WORD.sub(lambda m: "{" + m.group(0) + "}" if m.group(0) in names and m.group(0) != skip
                     else m.group(0), text)


def fill(template: str, value_of) -> str:
    """Numbers into a :func:`marked` template: a negative number in brackets (``w · (−1)``), except
    where brackets are there already (``σ(−1)``)."""
    def put(m):
        if m.group(1) and m.group(3):
            return f"({fmt(value_of(m.group(2)))})"
        return (m.group(1) or "") + factor(value_of(m.group(2))) + (m.group(3) or "")
    return _MARK.sub(put, template)


def _answers(t: Template, run, explanation, inputs, lr) -> dict:
    out = {}
    for a in t.asks:
        if a.what == "value":
            out[a.key] = float(run.values[a.of].data)
        elif a.what == "grad":
            out[a.key] = float(explanation.chain(a.of).grad)
        else:
            out[a.key] = float(inputs[a.of] - lr * out[_grad_key(t, a.of)])
    return out


def _acceptable(t: Template, answers: dict) -> bool:
    if not all(math.isfinite(v) and abs(v) <= MAX_ANSWER for v in answers.values()):
        return False
    return all(answers[k] != 0 for k in t.nonzero)


def template_for(kind: str | None, rng: Rng) -> Template:
    if kind is None:
        kind = rng.pick(KINDS)
    if kind not in KINDS:
        raise InputError(f"--kind {kind!r}: the kinds are {', '.join(KINDS)}")
    options = templates()[kind]
    return options[0] if len(options) == 1 else rng.pick(options)


def generate(kind: str | None = None, seed: int | None = None) -> Problem:
    """A fresh problem of ``kind`` (default: any) with friendly numbers; the same seed gives the same one."""
    seed = _seed(seed)
    rng = Rng(seed)
    return _draw(template_for(kind, rng), rng, seed)


def at(name: str, inputs: dict, lr: float | None = None) -> Problem:
    """The problem of template ``name`` (a kind, or ``local-grad:sigmoid``) at these inputs: e.g. the
    practice lesson's own numbers, to check them."""
    from ..explain import explain
    from ..lang import parse

    t = next((t for t in _all_templates() if t.name == name), None)
    if t is None:
        raise InputError(f"no practice template named {name!r}; templates: "
                         + ", ".join(t.name for t in _all_templates()))
    run = parse(t.program).run({k: float(v) for k, v in inputs.items()})
    wrt = list(dict.fromkeys(a.of for a in t.asks if a.what == "grad"))
    explanation = explain(run.trace(), wrt=wrt or None)
    values = {k: float(inputs[k]) for k in t.choices}
    return Problem(t, -1, values, lr, run, explanation, _answers(t, run, explanation, values, lr))


def _draw(t: Template, rng: Rng, seed: int) -> Problem:
    """Draw ``t``'s inputs (in its order, then lr) until every answer is finite, small and not a
    forbidden 0; practice.js draws the same way."""
    from ..errors import ChainruleError
    from ..explain import explain
    from ..lang import parse

    program = parse(t.program)
    wrt = list(dict.fromkeys(a.of for a in t.asks if a.what == "grad"))
    for _ in range(MAX_TRIES):
        inputs = {name: float(rng.pick(values)) for name, values in t.choices.items()}
        lr = float(rng.pick(t.lr)) if t.lr else None
        try:
            run = program.run(inputs)
        except ChainruleError:   # outside the program's domain: draw again
            continue
        explanation = explain(run.trace(), wrt=wrt or None)
        answers = _answers(t, run, explanation, inputs, lr)
        if _acceptable(t, answers):
            return Problem(t, seed, inputs, lr, run, explanation, answers)
    raise InputError(f"no friendly numbers found for {t.name} with seed {seed}; try another --seed")


# --------------------------------------------------------------------------
# Reading and checking answers
# --------------------------------------------------------------------------

class AnswerError(ValueError):
    """An answer that is not a number; the message says what to type instead."""


_DASHES = "\u2212\u2013\u2012\u2014\ufe63\uff0d"
_DECIMAL = re.compile(r"^[+-]?(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$", re.ASCII)
_EXAMPLES = "type a number such as 0.25, −1.5, 1/4 or 2.5e-1"
MAX_ANSWER_CHARS = 64


@dataclass(frozen=True)
class Parsed:
    value: float
    decimals: int | None      # decimals typed (None for a fraction: it is exact)


def _decimal(text: str) -> tuple[float, int]:
    m = _DECIMAL.match(text)
    if not m:
        raise AnswerError
    frac = m.group(2) if m.group(1) is not None else m.group(3)
    exp = max(-400, min(400, int(m.group(4) or 0)))   # 1e-999 is 0, 1e999 too large (said by the caller)
    return float(text), len(frac or "") - exp


def parse_answer(text: str) -> Parsed:
    """A number as a learner types it: ``-0.5``, ``−0.5``, ``.25``, ``2.5e-1``, ``1/4``, ``−3/8``.

    Never evaluates the text: only these forms are read. Raises :class:`AnswerError` with a message
    saying what was wrong and what to type.
    """
    raw = str(text)
    if len(raw) > MAX_ANSWER_CHARS:
        raise AnswerError(f"that answer is {len(raw)} characters long; {_EXAMPLES}")
    t = raw.strip()
    shown = f"'{t}'"     # quoted as typed (practice.js says the same)
    for c in _DASHES:
        t = t.replace(c, "-")
    if not t:
        raise AnswerError(f"no answer given; {_EXAMPLES}")
    if re.fullmatch(r"[+-]?\d+,\d+", t):
        raise AnswerError(f"{shown}: write a decimal with a point ({t.replace(',', '.')}), not a comma")
    if t.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        raise AnswerError(f"{shown}: every answer here is a finite number; {_EXAMPLES}")
    try:
        if "/" in t:
            top, _, bottom = t.partition("/")
            top, bottom = top.strip(), bottom.strip()
            if "/" in bottom:
                raise AnswerError
            p, _ = _decimal(top)
            q, _ = _decimal(bottom)
            if not (math.isfinite(p) and math.isfinite(q)):
                raise AnswerError(f"{shown} is too large; {_EXAMPLES}")
            if q == 0:
                raise AnswerError(f"{shown}: a fraction cannot divide by 0")
            value = p / q
            decimals = None
        else:
            value, decimals = _decimal(t)
    except AnswerError as e:
        if e.args:
            raise
        raise AnswerError(f"{shown} is not a number; {_EXAMPLES}") from None
    if not math.isfinite(value):
        raise AnswerError(f"{shown} is too large; {_EXAMPLES}")
    return Parsed(value, decimals)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    given: float
    truth: float
    note: str = ""     # "", "close", "sign", "rounded"


def check_answer(text: str, truth: float) -> Verdict:
    """Is ``text`` the answer ``truth``? Raises :class:`AnswerError` if it is not a number.

    Accepted: within :data:`REL_TOL` (half a percent) of the truth, or the truth rounded to the
    decimals typed when that is within :data:`ROUNDED_REL`; a fraction must be within half a percent.
    """
    p = parse_answer(text)
    a, t = p.value, float(truth)
    err = abs(a - t)
    if err <= 1e-9 * max(1.0, abs(t)) or (t != 0 and err <= REL_TOL * abs(t)):
        return Verdict(True, a, t)
    if p.decimals is not None and err <= 0.5 * 10.0 ** (-p.decimals) * (1 + 1e-9):
        if t == 0 or err <= ROUNDED_REL * abs(t):
            return Verdict(True, a, t, "rounded")
    if t != 0 and abs(a + t) <= REL_TOL * abs(t):
        return Verdict(False, a, t, "sign")
    if t != 0 and err <= CLOSE_REL * abs(t):
        return Verdict(False, a, t, "close")
    return Verdict(False, a, t)


_NOTES = {"sign": "the size is right but the sign is not",
          "close": "close, but not within half a percent: keep three significant digits (or give a fraction)"}


# --------------------------------------------------------------------------
# The terminal session
# --------------------------------------------------------------------------

def _header(problem: Problem) -> list[str]:
    t = problem.template
    lines = [f"Practice: {t.title} (kind {t.kind}, seed {problem.seed}; the same --seed gives the same problem)",
             "", t.story, ""]
    lines += ["  " + line for line in _shown_program(t.program).split("\n")]
    given = ", ".join(f"{k} = {fmt(v)}" for k, v in problem.inputs.items())
    lines += ["", f"  with {given}" + (f", learning rate lr = {fmt(problem.lr)}" if problem.lr is not None else ""),
              "", "Answers: a number (−0.5, .25, 2.5e-1) or a fraction (1/4). Ctrl-D stops."]
    return lines


def _ask(prompt: str, read, write) -> str:
    write(prompt)
    line = read()
    if line == "":
        raise EOFError
    return line.rstrip("\n")


def run_session(problem: Problem, read=None, write=None) -> tuple[int, int]:
    """Ask every question of ``problem``; returns (right, asked). EOF ends it early (EOFError is not raised)."""
    read = read or sys.stdin.readline
    write = write or (lambda s: (sys.stdout.write(s), sys.stdout.flush()))
    write("\n".join(_header(problem)) + "\n")
    right = asked = 0
    total = len(problem.template.asks)
    for i, ask in enumerate(problem.template.asks, 1):
        while True:
            text = _ask(f"\n{i}/{total}  {ask.prompt} ", read, write)
            try:
                verdict = check_answer(text, problem.answers[ask.key])
                break
            except AnswerError as e:
                write(f"  not read: {e}\n")
        asked += 1
        if verdict.ok:
            right += 1
            extra = f" (the exact value is {fmt(verdict.truth)})" if verdict.note == "rounded" else ""
            write(f"  ✓ right{extra}\n")
            continue
        note = _NOTES.get(verdict.note)
        write(f"  ✗ not {fmt(verdict.given)}" + (f": {note}" if note else "") + ". Worked:\n")
        if problem.template.hint:
            write(f"    {problem.template.hint}\n")
        for line in problem.worked(ask):
            write(f"    {line}\n")
        write(f"  Why this slip is common: {ask.slip}\n")
    return right, asked


# --------------------------------------------------------------------------
# The printable sheet
# --------------------------------------------------------------------------

_SHEET_CSS = """
body { font: 16px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; padding: 0 1rem; color: #111; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .3rem; }
pre { background: #f4f4f4; padding: .5rem .75rem; overflow-x: auto; }
ol.q li { margin: .35rem 0; } .blank { display: inline-block; min-width: 8rem; border-bottom: 1px solid #555; }
.key { break-before: page; page-break-before: always; }
.key pre { background: none; padding: 0; margin: .2rem 0 .2rem 1.2rem; white-space: pre-wrap; }
.muted { color: #555; } section.problem { break-inside: avoid; page-break-inside: avoid; }
@media print { body { margin: 0; max-width: none; } }
"""


def sheet_html(problems: list[Problem], title: str = "chainrule practice sheet") -> str:
    """A printable problem set: the problems, then the answer key on its own page. Offline."""
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
             f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{_SHEET_CSS}</style>"
             f"</head><body><main><h1>{escape(title)}</h1>",
             f"<p class=\"muted\">{len(problems)} problems. Every number was computed by chainrule; "
             "the answer key is on its own page.</p>"]
    for i, p in enumerate(problems, 1):
        given = ", ".join(f"{k} = {fmt(v)}" for k, v in p.inputs.items())
        if p.lr is not None:
            given += f", lr = {fmt(p.lr)}"
        qs = "".join(f"<li>{escape(a.prompt)} <span class=\"blank\" aria-hidden=\"true\"></span></li>"
                     for a in p.template.asks)
        parts.append(f"<section class=\"problem\"><h2>{i}. {escape(p.template.title)}</h2>"
                     f"<p>{escape(p.template.story)}</p><pre>{escape(_shown_program(p.template.program))}</pre>"
                     f"<p>with {escape(given)}</p><ol class=\"q\">{qs}</ol></section>")
    parts.append("<section class=\"key\"><h1>Answer key</h1>")
    for i, p in enumerate(problems, 1):
        parts.append(f"<h2>{i}. {escape(p.template.title)} <span class=\"muted\">(kind {p.kind}, seed "
                     f"{p.seed})</span></h2><ol>")
        for a in p.template.asks:
            worked = "\n".join(p.worked(a))
            parts.append(f"<li><strong>{escape(fmt(p.answers[a.key]))}</strong> <span class=\"muted\">"
                         f"{escape(a.prompt)}</span><pre>{escape(worked)}</pre></li>")
        parts.append("</ol>")
    parts.append("</section></main></body></html>\n")
    return "".join(parts)


def sheet(count: int, seed: int | None = None, kind: str | None = None) -> list[Problem]:
    """``count`` problems; kinds in turn (all of them, unless ``kind``); problem i has seed ``seed + i``."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 200:
        raise InputError(f"--count {count!r}: expected a whole number from 1 to 200")
    seed = _seed(seed)
    if seed + count - 1 > MAX_SEED:
        raise InputError(f"--seed {seed}: with --count {count} the seeds would pass {MAX_SEED}")
    return [generate(kind or KINDS[i % len(KINDS)], seed + i) for i in range(count)]


# --------------------------------------------------------------------------
# The page component (data for practice.js)
# --------------------------------------------------------------------------

def _template_data(t: Template) -> dict:
    """Everything the page needs to generate and check this template: its choices, its program's
    recorded structure (the page recomputes the numbers with the op table's JS), which chain factors
    each gradient multiplies, and each value's worked-line template."""
    problem = _draw(t, Rng(0), 0)
    trace = problem.explanation.trace
    e = problem.explanation
    asks = []
    for a in t.asks:
        d = {"key": a.key, "what": a.what, "of": a.of, "prompt": a.prompt, "slip": a.slip}
        if a.what == "value":
            line = value_line(problem, a.of)
            d["line"], d["numbers"] = line, marked(line.split(" = ", 1)[1], problem._names, a.of)
            d["node"] = next(n.id for n in trace.nodes if n.name == a.of)
        elif a.what == "grad":
            cs = e.chain(a.of)
            d["node"], d["label"] = cs.node, cs.label
            d["paths"] = [[{"label": f.label, "formula": f.formula, "numbers": marked(f.formula, problem._names),
                            "node": f.node, "input": f.input, "slot": f.slot} for f in p.factors] for p in cs.paths]
        else:
            d["grad"] = _grad_key(t, a.of)
        asks.append(d)
    return {"kind": t.kind, "name": t.name, "title": t.title, "story": t.story, "program": t.program,
            "shown": _shown_program(t.program), "choices": {k: list(map(float, v)) for k, v in t.choices.items()},
            "lr": list(map(float, t.lr)), "nonzero": list(t.nonzero), "hint": t.hint, "output": problem.template_output,
            "trace": trace.to_dict(), "links": sorted(e.graph.is_link), "asks": asks}


def _asset(name: str) -> str:
    from importlib import resources

    return resources.files("chainrule.lab").joinpath(name).read_text(encoding="utf-8")


def practice_assets() -> tuple[str, str]:
    """(JavaScript, CSS) of the practice and flashcard components: the op table's JS and the player's
    evaluator (:func:`chainrule.viz.html.player_assets`), practice.js and cards.js, which mount every
    component ``<div>`` on the page; practice.css."""
    from ..viz.html import player_assets

    return (player_assets()[0] + "\n" + _asset("practice.js") + "\n" + _asset("cards.js"), _asset("practice.css"))


def fragment(data: dict, element_id: str | None = None) -> str:
    """A component's ``<div data-chainrule-lab=KIND>`` holding its data as JSON: no code of its own, so
    a page with a strict Content-Security-Policy (``chainrule serve``) loads the assets from files."""
    from ..viz.html import _script_json

    ident = f' id="{escape(element_id, True)}"' if element_id else ""
    return (f'<div class="crq-host" data-chainrule-lab="{escape(data["kind"], True)}"{ident}>'
            f'<script type="application/json">{_script_json(data)}</script>'
            f'<noscript><p>This page computes its numbers with JavaScript. Without it: '
            f'<code>chainrule {escape(data["kind"])}</code> in a terminal.</p></noscript></div>')


def study_page(parts, title: str) -> str:
    """One offline page holding the assets once and the given fragments."""
    js, css = practice_assets()
    body = "\n".join([parts] if isinstance(parts, str) else parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="chainrule">\n<title>{escape(title)}</title>\n<style>\n{css}\n</style>\n'
            f'</head>\n<body class="crq-page">\n<main>\n{body}\n</main>\n<script>\n{js}\n</script>\n</body>\n</html>\n')


def practice_fragment(seed: int | None = None, kind: str | None = None, element_id: str | None = None) -> str:
    """The practice component's ``<div>`` (its data inside, no code): for a page that loads
    :func:`practice_assets` once."""
    if kind is not None and kind not in KINDS:
        raise InputError(f"kind {kind!r}: the kinds are {', '.join(KINDS)}")
    return fragment({"kind": "practice", "data": practice_data(), "seed": None if seed is None else _seed(seed),
                     "problem_kind": kind}, element_id)


def practice_page(title: str = "chainrule practice", seed: int | None = None, kind: str | None = None) -> str:
    """A self-contained offline page that generates and checks problems in the browser.

    The problems are the templates of ``chainrule practice``, drawn by the same seeded generator;
    the page recomputes every number with the JavaScript generated from the op table
    (:func:`chainrule.ops.js_runtime`, through the player's evaluator). ``seed``: the first
    problem's (default: random in the page); ``kind``: the kind selected first (default any).
    Keyboard-usable, phone width, fine in an iframe (even a sandboxed one).
    """
    return study_page(practice_fragment(seed, kind), title)


@lru_cache(maxsize=1)
def practice_data() -> dict:
    """The generator as data: kinds, templates, tolerances. practice.js generates from exactly this."""
    return {"kinds": list(KINDS), "templates": [_template_data(t) for t in _all_templates()],
            "tol": {"rel": REL_TOL, "rounded": ROUNDED_REL, "close": CLOSE_REL, "max_tries": MAX_TRIES,
                    "max_answer": MAX_ANSWER, "max_chars": MAX_ANSWER_CHARS}}


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------

def _write(path: str, text: str, what: str) -> None:
    from ..viz.commands import _write as write   # atomic; '-' is standard output

    write(path, text, what)


def cmd_practice(args) -> int:
    problem = generate(args.kind, args.seed)
    if args.json:
        print(json.dumps(problem.to_dict(), ensure_ascii=False, allow_nan=False))
        return 0
    try:
        right, asked = run_session(problem)
    except EOFError:
        print("\nstopped (end of input).")
        return 0
    except KeyboardInterrupt:
        print("\nstopped.")
        return 130
    print(f"\n{right} of {asked} right. Another one: chainrule practice --kind {problem.kind} "
          f"--seed {problem.seed + 1 if problem.seed < MAX_SEED else 0}")
    return 0


def cmd_sheet(args) -> int:
    problems = sheet(args.count, args.seed, args.kind)
    _write(args.output, sheet_html(problems, args.title),
           f"the practice sheet ({len(problems)} problems, seeds {problems[0].seed}–{problems[-1].seed}; "
           "the answer key on its own page)")
    return 0


def cmd_page(args) -> int:
    _write(args.output, practice_page(args.title, args.seed, args.kind), "the practice page (offline)")
    return 0


def whole_number(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high``, else a one-line usage error."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, got {text!r}")
        return value
    return parse


_seed_arg, _count_arg = whole_number(0, MAX_SEED), whole_number(1, 200)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "practice", help="a fresh problem with friendly numbers, answers checked (also: sheet, page)",
        description="Generate a problem in the style of the practice lesson, ask for each answer, check it, "
                    "and show the worked chain and why the slip is common when it is wrong.")
    p.add_argument("--kind", choices=KINDS, help="the kind of problem (default: any)")
    p.add_argument("--seed", type=_seed_arg, help="the same seed gives the same problem (default: random)")
    p.add_argument("--json", action="store_true",
                   help='print {"kind", "problem", "answers", "solution"} instead of asking')
    p.set_defaults(func=cmd_practice)
    sub = p.add_subparsers(dest="practice_command", metavar="ACTION")
    q = sub.add_parser("sheet", help="a printable problem set with the answer key on its own page")
    q.add_argument("--count", type=_count_arg, default=10, help="problems (default 10)")
    q.add_argument("--seed", type=_seed_arg, help="seed of the first problem (default: random)")
    q.add_argument("--kind", choices=KINDS, help="only this kind (default: every kind in turn)")
    q.add_argument("--title", default="chainrule practice sheet")
    q.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    q.set_defaults(func=cmd_sheet)
    q = sub.add_parser("page", help="the practice page: generates and checks problems in the browser, offline")
    q.add_argument("--seed", type=_seed_arg, help="seed of the first problem (default: random in the page)")
    q.add_argument("--kind", choices=KINDS, help="the kind selected first (default: any)")
    q.add_argument("--title", default="chainrule practice")
    q.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write (- for stdout)")
    q.set_defaults(func=cmd_page)
