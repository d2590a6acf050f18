"""Every worked example of the seed lessons, as data that chainrule can check.

Each :class:`Lesson` holds a program in chainrule's little language
(:mod:`chainrule.lang`), the lesson's own input numbers, and the values and
gradients *the lesson text states* — written here by hand from that text, not
computed by chainrule. ``chainrule lesson check`` (and :func:`check_all`) runs
every program and compares. Two lessons state no numbers of their own (the
sigmoid network of seed 003 and the cross-entropy neuron of seed 002); their
numbers are PyTorch's, copied from ``shared/reference/seed_examples.json``.

Seeds (the lesson pages these come from):

* ``000`` Backpropagation and the chain rule (lesson 9)
* ``001`` Practice: Backpropagation and the chain rule
* ``002`` The Chain Rule, Refreshed (one sigmoid neuron, cross-entropy)
* ``003`` Numerical Notebooks No. 03: The Chain Rule, unfolded (13-step player)
* ``004`` Ch 5: Chain Rule & Backpropagation (the blame chain)
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from functools import cached_property

from ..errors import InputError
from ..lang import Program, Run, StepResult, evaluate, gradient_step, parse
from ..numfmt import fmt

__all__ = ["Lesson", "Point", "PlayerStep", "CheckResult", "LESSONS", "SEEDS", "get_lesson", "check", "identity_value",
           "check_all", "naive_recursive_grads", "REL_TOL"]

REL_TOL = 1e-9

SEEDS = {
    "000": "Backpropagation and the chain rule (lesson 9)",
    "001": "Practice: Backpropagation and the chain rule",
    "002": "The Chain Rule, Refreshed",
    "003": "Numerical Notebooks No. 03: The Chain Rule, unfolded",
    "004": "Ch 5: Chain Rule & Backpropagation (the blame chain)",
}


@dataclass(frozen=True)
class Point:
    """Another set of inputs at which the lesson's numbers are checked."""

    inputs: dict[str, float]
    expected: dict[str, float] = field(default_factory=dict)
    grads: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PlayerStep:
    """One step of a step-by-step player (seed 003 has 13: setup, forward, backward)."""

    phase: str            # "setup", "forward", "backward" or "result"
    title: str
    shows: str            # what the step shows, in words and symbols
    value: float | None = None


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    seed: str | None                  # key of SEEDS; None for chainrule's own lesson
    program: str
    inputs: dict[str, float]
    expected: dict[str, float]        # variable -> value, as the lesson states it
    lr: float | None = None           # learning rate of the lesson's gradient-descent step
    grads: dict[str, float] = field(default_factory=dict)    # name -> ∂output/∂name
    params: tuple[str, ...] | None = None                    # what the step updates (None: every input)
    expected_step: dict[str, float] = field(default_factory=dict)   # params after the step
    wrt: tuple[str, ...] = ()         # chains to show (default: every input)
    chains: dict[str, tuple[float, ...]] = field(default_factory=dict)  # wrt -> the lesson's factors
    intro: str = ""                   # what the lesson shows, in a few lines
    note: str = ""                    # a remark shown after the numbers
    points: tuple[Point, ...] = ()    # more input sets checked the same way
    identities: dict[str, str] = field(default_factory=dict)  # name -> expression its gradient equals
    steps: tuple[PlayerStep, ...] = ()
    wrong_grads: dict[str, float] = field(default_factory=dict)  # what naive recursion gives (reuse)
    reference: str | None = None      # its entry in shared/reference/seed_examples.json
    # comparisons over the lesson's numbers that its words rely on ("after_C > C"): see lab.claims
    claims: tuple[str, ...] = ()
    # intro and note as written, with their {expr} fields; intro and note hold them filled in
    sources: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        from .claims import lesson_numbers, render

        self.sources.update(intro=self.intro, note=self.note)
        if "{" not in self.intro + self.note:
            return
        try:
            numbers = lesson_numbers(self)
            object.__setattr__(self, "intro", render(self.intro, numbers))
            object.__setattr__(self, "note", render(self.note, numbers))
        except Exception as e:  # noqa: BLE001 - shown by check(), which fails this lesson with the reason
            self.sources["error"] = f"{type(e).__name__}: {e}"

    def prose(self) -> dict[str, str]:
        """Every text of the lesson as written (``{expr}`` fields unfilled): intro, note, player steps."""
        texts = {"intro": self.sources["intro"], "note": self.sources["note"]}
        texts.update({f"step {i}": f"{st.title}: {st.shows}" for i, st in enumerate(self.steps, 1)})
        return {k: v for k, v in texts.items() if v}

    @cached_property
    def parsed(self) -> Program:
        return parse(self.program)

    @property
    def output(self) -> str:
        return self.parsed.output

    def run(self, inputs: dict[str, float] | None = None) -> Run:
        return self.parsed.run(self.inputs if inputs is None else inputs)

    def step(self) -> StepResult | None:
        """The lesson's gradient-descent step, if it has one."""
        if self.lr is None:
            return None
        return gradient_step(self.parsed, self.inputs, self.lr, self.params)

    @property
    def seed_title(self) -> str:
        return SEEDS.get(self.seed, "chainrule's own lesson") if self.seed else "chainrule's own lesson"


# --------------------------------------------------------------------------
# The lessons.  Every number below is copied from the lesson text (or, where
# a lesson gives none, from the PyTorch reference), never computed here.
# --------------------------------------------------------------------------

_CHAIN = "a1 = w1*a0\na2 = w2*a1\na3 = w3*a2\nC = (a3 - y)**2"

_LESSONS = [
    Lesson(
        "chain", "The smallest chain: one neuron per layer", "000", _CHAIN,
        {"a0": 1, "w1": 2, "w2": 3, "w3": 0.5, "y": 2},
        # a1 = 2·1, a2 = 3·2, a3 = 0.5·6, C = (3 − 2)²
        {"a1": 2, "a2": 6, "a3": 3, "C": 1},
        lr=0.1,
        # ∂C/∂w1 = 2·0.5·3·1 = 3 (the lesson); ∂C/∂w2 = 2·0.5·a1, ∂C/∂w3 = 2·a2
        grads={"w1": 3, "w2": 2, "w3": 12, "a3": 2, "a2": 1, "a1": 3},
        params=("w1", "w2", "w3"),
        expected_step={"w1": 1.7, "w2": 2.8, "w3": -0.7},   # w − 0.1·grad
        wrt=("w1", "w3"),
        chains={"w1": (2, 0.5, 3, 1), "w3": (2, 6)},
        intro="No squish: a1 = w1·a0, a2 = w2·a1, a3 = w3·a2, cost C = (a3 − y)². "
              "∂C/∂w1 is a product of four factors: ∂C/∂a3 = 2(a3 − y) = 2 (the output's desire), "
              "∂a3/∂a2 = w3 = 0.5, ∂a2/∂a1 = w2 = 3 and ∂a1/∂w1 = a0 = 1: 2 · 0.5 · 3 · 1 = 3.",
        note="Every weight's chain starts with the same factor ∂C/∂a3 = 2: running backward computes it once. "
             "Stepping all three weights at lr {lr} overshoots, though: C goes from {C} to {after_C} "
             "(to first order the step would change it by {predicted_change}); at lr {lower_lr} "
             "the same step lowers C to {lower_after}.",
        claims=("after_C > C", "predicted_change < 0", "lower_after < C"),
        reference="chain_1neuron_per_layer_A",
    ),
    Lesson(
        "chain_practice", "Practice: work a chain, then take a step", "001", _CHAIN,
        {"a0": 1, "w1": 1, "w2": 2, "w3": 2, "y": 3},
        {"a1": 1, "a2": 2, "a3": 4, "C": 1},
        lr=0.1,
        grads={"w1": 8, "w3": 4, "a3": 2},
        params=("w1",),
        expected_step={"w1": 0.2},          # 1 − 0.1·8
        wrt=("w1", "w3"),
        chains={"w1": (2, 2, 2, 1), "w3": (2, 2)},
        intro="Same network, new numbers. Forward: a1 = 1, a2 = 2, a3 = 4, C = (4 − 3)² = 1. "
              "∂C/∂w1 = 2 · 2 · 2 · 1 = 8; ∂C/∂w3 = 2 · a2 = 4 shares the first factor 2. "
              "One gradient-descent step on w1 at learning rate 0.1: 1 − 0.1·8 = 0.2.",
        note="The slope ∂C/∂w1 = 8 was positive, so the step lowered w1 (from {w1} to {new_w1}). But it "
             "does not lower the cost: C goes from {C} to {after_C}. To first order a step changes C by "
             "−lr·|∇C|², here −{lr} · {grad_sq} = {predicted_change}, a fall larger than C itself: "
             "lr {lr} is far too large for that straight-line picture. The step moves a3 from {a3} to "
             "{after_a3}, past the target y = 3: it overshoots (along the step the slope turns from "
             "{-grad_sq} to {slope_after}). A smaller step works: at lr {lower_lr}, C falls to "
             "{lower_after}. (The seed's answer says this step nudges the cost down; its own numbers "
             "say otherwise.)",
        claims=("new_w1 < w1", "after_C > C", "predicted_change < -C", "a3 > y", "after_a3 < y",
                "slope_after > 0", "lower_after < C"),
        reference="chain_1neuron_per_layer_B",
    ),
    Lesson(
        "vanishing", "Watch a gradient vanish: a chain of factors 0.5", "001",
        "\n".join(["h1 = 0.5*x"] + [f"h{i} = 0.5*h{i - 1}" for i in range(2, 11)]),
        {"x": 1},
        {"h5": 0.03125, "h10": 0.0009765625},
        # ∂h10/∂h5 is a 5-factor chain: 0.5⁵ = 1/32; ∂h10/∂x a 10-factor one: 0.5¹⁰ ≈ 0.001
        grads={"h5": 0.03125, "x": 0.0009765625, "h9": 0.5},
        wrt=("x", "h5"),
        chains={"h5": (0.5,) * 5, "x": (0.5,) * 10},
        intro="Along one backward chain every factor is 0.5. Five factors: 0.5⁵ = 1/32 = 0.03125, about "
              "0.03 of the output's own signal, and {d_h9 / d_h5} times weaker than a weight one factor "
              "from the output (0.5¹ = 0.5). Ten factors: 0.5¹⁰ ≈ 0.001. Front layers of a deep network "
              "receive almost no signal.",
        note="That is the vanishing gradient problem: many small rates multiplied along a long chain. "
             "(The seed says thirty times weaker than a weight one factor away; that ratio is "
             "{d_h9 / d_h5}: 32 is the ratio to the output's own signal, 1.)",
        claims=("d_h9 / d_h5 == 16", "d_h10 / d_h5 == 32", "d_h5 ≈ 0.03"),
        reference="powers_of_half",
    ),
    Lesson(
        "square_3x_plus_1", "A tiny worked example: y = (3x + 1)² at x = 2", "003",
        "u = 3*x + 1\ny = u**2",
        {"x": 2},
        {"u": 7, "y": 49},
        grads={"x": 42, "u": 14},
        chains={"x": (14, 3)},
        intro="Name the inner piece u = 3x + 1, so y = u². dy/du = 2u, du/dx = 3, "
              "dy/dx = 2u · 3 = 6(3x + 1) = 6 · 7 = 42 at x = 2.",
        note="Sanity check: y(2.01) = 7.03² = 49.4209, a change of 0.4209 ≈ 42 · 0.01.",
        points=(Point({"x": 2.01}, {"u": 7.03, "y": 49.4209}),),
        reference="square_3x_plus_1",
    ),
    Lesson(
        "square_3x_plus_2", "The chain rule: f(x) = (3x + 2)² at x = 1", "004",
        "u = 3*x + 2\nf = u**2",
        {"x": 1},
        {"u": 5, "f": 25},
        grads={"x": 30, "u": 10},
        chains={"x": (10, 3)},
        intro="Let u = 3x + 2, then f = u². df/du = 2u, du/dx = 3, df/dx = 2u × 3 = 6(3x + 2); "
              "at x = 1, u = 5 and df/dx = 6 × 5 = 30.",
        reference="square_3x_plus_2",
    ),
    Lesson(
        "linear_squared", "The blame chain: L = (w·x + b)²", "004",
        "z = w*x\nh = z + b\nL = h**2",
        {"w": 2, "x": 3, "b": 1},
        {"z": 6, "h": 7, "L": 49},
        grads={"h": 14, "z": 14, "b": 14, "w": 42, "x": 28},
        chains={"w": (14, 1, 3), "b": (14, 1)},
        intro="Forward: z = w×x = 6, h = z + b = 7, L = h² = 49 (every intermediate saved). "
              "Backward: dL/dh = 2h = 14; dL/dz = dL/db = 14 × 1 = 14; dL/dw = 14 × 3 = 42; "
              "dL/dx = 14 × 2 = 28.",
        note="w gets 3× more blame than b.",
        claims=("d_w == 3 * d_b",),
        reference="linear_squared",
    ),
    Lesson(
        "two_layer_relu", "Backprop through a 2-layer ReLU network", "004",
        "z1 = w1*x\na1 = relu(z1)\nz2 = w2*a1\nL = (z2 - y)**2",
        {"x": 2, "y": 1, "w1": 0.5, "w2": -0.3},
        {"z1": 1, "a1": 1, "z2": -0.3, "L": 1.69},
        lr=0.1,
        grads={"z2": -2.6, "w2": -2.6, "a1": 0.78, "z1": 0.78, "w1": 1.56},
        params=("w1", "w2"),
        expected_step={"w1": 0.344, "w2": -0.04},
        wrt=("w1", "w2"),
        chains={"w1": (-2.6, -0.3, 1, 2), "w2": (-2.6, 1)},
        intro="x = 2, target y = 1. Forward: z1 = 0.5 × 2 = 1, a1 = ReLU(1) = 1, z2 = −0.3 × 1 = −0.3, "
              "L = (−0.3 − 1)² = 1.69. Backward: dL/dz2 = 2(−1.3) = −2.6, dL/dw2 = −2.6 × 1 = −2.6, "
              "dL/da1 = −2.6 × −0.3 = 0.78, ReLU passes it (grad 1), dL/dw1 = 0.78 × 2 = 1.56.",
        note="w2's gradient is negative, so the step raises it (−0.3 → −0.04), moving the output toward y = 1: "
             "z2 goes from {z2} to {after_z2} and the loss falls from {L} to {after_L}.",
        claims=("d_w2 < 0", "new_w2 > w2", "abs(after_z2 - y) < abs(z2 - y)", "after_L < L"),
        reference="two_layer_relu",
    ),
    Lesson(
        "sigmoid_net", "The chain rule, unfolded: a 2-weight sigmoid network in 13 steps", "003",
        "z1 = w1*x + b1\na1 = sigmoid(z1)\nz2 = w2*a1 + b2\na2 = sigmoid(z2)\nL = (a2 - y)**2",
        {"x": 1, "w1": 0.5, "w2": 0.8, "b1": 0, "b2": 0, "y": 1},
        # the lesson shows these only in its player: PyTorch's numbers
        {"z1": 0.5, "a1": 0.622459331202, "z2": 0.497967464961, "a2": 0.621981559168,
         "L": 0.142897941609},
        grads={"w1": -0.033419364485, "w2": -0.110648226956, "b1": -0.033419364485,
               "b2": -0.177759769048, "z2": -0.177759769048, "a1": -0.142207815238,
               "z1": -0.033419364485, "a2": -0.756036881663},
        wrt=("w1",),
        chains={"w1": (-0.756036881663, 0.235120499223, 0.8, 0.235003712202, 1.0)},
        intro="One hidden unit, one output unit, sigmoid activations, squared loss. "
              "∂L/∂w₁ = ∂L/∂a₂ · ∂a₂/∂z₂ · ∂z₂/∂a₁ · ∂a₁/∂z₁ · ∂z₁/∂w₁: once ∂L/∂z₂ is known it is "
              "reused for ∂L/∂a₁, which is reused for ∂L/∂z₁ — one right-to-left sweep.",
        note="The sigmoid's slope σ(z)(1 − σ(z)) comes from the value already computed in the forward pass.",
        steps=(
            PlayerStep("setup", "Setup", "x = 1, w₁ = 0.5, w₂ = 0.8, b₁ = b₂ = 0, target y = 1"),
            PlayerStep("forward", "z₁ = w₁·x + b₁", "the hidden unit's weighted sum", 0.5),
            PlayerStep("forward", "a₁ = σ(z₁)", "the hidden unit's activation", 0.622459331202),
            PlayerStep("forward", "z₂ = w₂·a₁ + b₂", "the output unit's weighted sum", 0.497967464961),
            PlayerStep("forward", "a₂ = σ(z₂)", "the prediction", 0.621981559168),
            PlayerStep("forward", "L = (a₂ − y)²", "how wrong the prediction is", 0.142897941609),
            PlayerStep("backward", "∂L/∂a₂ = 2(a₂ − y)", "first box of the chain: the loss's slope",
                       -0.756036881663),
            PlayerStep("backward", "∂a₂/∂z₂ = σ(z₂)(1 − σ(z₂))", "second box: the output sigmoid's slope",
                       0.235120499223),
            PlayerStep("backward", "∂z₂/∂a₁ = w₂", "third box: the connection back to the hidden unit", 0.8),
            PlayerStep("backward", "∂a₁/∂z₁ = σ(z₁)(1 − σ(z₁))", "fourth box: the hidden sigmoid's slope",
                       0.235003712202),
            PlayerStep("backward", "∂z₁/∂w₁ = x", "last box: the input feeding w₁", 1.0),
            PlayerStep("result", "∂L/∂w₁ = product of the five boxes",
                       "the gradient of the deepest weight", -0.033419364485),
            PlayerStep("result", "One sweep, every gradient: ∂L/∂w₂ = ∂L/∂z₂ · a₁",
                       "∂L/∂z₂ is reused rather than recomputed (likewise ∂L/∂b₂ = ∂L/∂z₂ and "
                       "∂L/∂b₁ = ∂L/∂z₁); then every weight steps w ← w − η·∂L/∂w", -0.110648226956),
        ),
        reference="sigmoid_net_squared",
    ),
    Lesson(
        "sigmoid_bce", "One neuron with cross-entropy: the gradient simplifies to (a − y)·x", "002",
        "z = w*x + b\na = sigmoid(z)\nL = -(y*log(a) + (1 - y)*log(1 - a))",
        {"w": 0.5, "b": 0.0, "x": 1.0, "y": 1.0},
        # the lesson derives the formula without numbers: PyTorch's numbers at five points
        {"a": 0.622459331202, "L": 0.47407698418},
        grads={"w": -0.377540668798, "b": -0.377540668798},
        wrt=("w", "b"),
        identities={"w": "(a - y)*x", "b": "a - y"},
        intro="z = wx + b, a = σ(z), L = −(y·log a + (1 − y)·log(1 − a)). Three factors: "
              "∂L/∂a = −y/a + (1 − y)/(1 − a), ∂a/∂z = a(1 − a), ∂z/∂w = x. Multiplied, the sigmoid's "
              "derivative cancels the log's: ∂L/∂w = (a − y)·x and ∂L/∂b = a − y.",
        note="Checked at five points: the engine's gradient equals (a − y)·x and a − y at each.",
        points=(
            Point({"w": -1.2, "b": 0.3, "x": 2.0, "y": 0.0}, {"a": 0.109096821196, "L": 0.11551952318},
                  {"w": 0.218193642391, "b": 0.109096821196}),
            Point({"w": 2.0, "b": -1.0, "x": -1.5, "y": 1.0}, {"a": 0.017986209962, "L": 4.018149927918},
                  {"w": 1.473020685057, "b": -0.982013790038}),
            Point({"w": 0.1, "b": 0.1, "x": 3.0, "y": 0.0}, {"a": 0.598687660112, "L": 0.9130152524},
                  {"w": 1.796062980337, "b": 0.598687660112}),
            Point({"w": 1.0, "b": 1.0, "x": 1.0, "y": 0.0}, {"a": 0.880797077978, "L": 2.126928011043},
                  {"w": 0.880797077978, "b": 0.880797077978}),
        ),
        reference="sigmoid_bce",
    ),
    Lesson(
        "quadratic_2d", "Partial derivatives: f(x, y) = x² + 2y² at (0.5, 0.3)", "003",
        "f = x**2 + 2*y**2",
        {"x": 0.5, "y": 0.3},
        {"f": 0.43},
        grads={"x": 1.0, "y": 1.2},
        intro="∂f/∂x = 2x (2y² is a constant when only x moves) and ∂f/∂y = 4y (x² is the constant now). "
              "At (0.5, 0.3): f = 0.43, ∂f/∂x = 2 · 0.5 = 1.0, ∂f/∂y = 4 · 0.3 = 1.2.",
        note="Each partial derivative is the slope of one cross-section of the surface.",
        reference="quadratic_2d",
    ),
    Lesson(
        "reuse", "Why backward walks a topological order: b = a + a; c = b + b", None,
        "b = a + a\nc = b + b",
        {"a": 1},
        {"b": 2, "c": 4},
        grads={"b": 2, "a": 4},          # c = 4a
        wrong_grads={"a": 6},            # 1+1 from b's partial sum 1, then 2+2 from its full sum
        intro="c = b + b = 4a, so ∂c/∂a = 4. b is used twice, so its gradient is the sum of what "
              "both uses send back: ∂c/∂b = 1 + 1 = 2, and only then may b pass it on: ∂c/∂a = 2 + 2 = 4.",
        note="Naive recursion calls backward on each input as soon as it sees it, so it passes b's "
             "gradient on before both consumers have contributed: first b's partial sum 1 (a gets 1 + 1), "
             "then, visiting b again, its sum 2 (a gets 2 + 2 more): 6, wrong. Shared nodes are visited once "
             "per path and push partial sums each time. chainrule sorts the graph so that each node runs "
             "once, after every consumer has added its share.",
    ),
]

LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in _LESSONS}


def get_lesson(name: str) -> Lesson:
    try:
        return LESSONS[name]
    except KeyError:
        close = difflib.get_close_matches(name, LESSONS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(f"no lesson named '{name}'{hint}; lessons: {', '.join(LESSONS)}") from None


# --------------------------------------------------------------------------
# The wrong method, on purpose
# --------------------------------------------------------------------------

def naive_recursive_grads(output, max_visits: int = 10_000) -> dict:
    """WRONG ON PURPOSE: backprop by plain recursion, to show why chainrule does not use it.

    Each node adds ``its gradient so far × local derivative`` to each input and
    immediately recurses into that input. A node used twice is visited once per
    path and passes on a *partial* sum each time, so shared nodes are counted
    too often (``b = a + a; c = b + b`` gives ∂c/∂a = 6, not 4). The local
    derivatives come from the op table, as in the real engine; only the order
    is wrong. Returns ``{node: gradient}`` and leaves every ``.grad`` alone.
    """
    grads = {output: 1.0}
    visits = 0

    def visit(node):
        nonlocal visits
        visits += 1
        if visits > max_visits:
            raise InputError(f"naive recursion visited more than {max_visits} nodes: the number of paths "
                             "grows exponentially with sharing; try a smaller graph")
        if node._op is None:
            return
        parents = node._parents()
        y = parents[1].data if len(parents) > 1 else None
        locals_ = [d(parents[0].data, y, node._k, node.data) for d in node._op.d]
        for p, local in zip(parents, locals_):
            if p.requires_grad:
                grads[p] = grads.get(p, 0.0) + grads[node] * local   # a partial sum...
                visit(p)                                               # ...passed on at once

    visit(output)
    return grads


# --------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------

@dataclass
class CheckResult:
    name: str
    ok: bool
    checked: int                      # how many numbers were compared
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.name:<18} {self.checked} numbers match the lesson"
        return f"FAIL  {self.name:<18} " + "; ".join(self.problems)


def _close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=1e-12)


class _Checker:
    def __init__(self, name: str):
        self.result = CheckResult(name, True, 0)

    def compare(self, what: str, got: float, want: float) -> None:
        self.result.checked += 1
        if not _close(got, want):
            self.result.ok = False
            self.result.problems.append(f"{what}: the lesson says {want!r}, chainrule got {got!r}")

    def fail(self, message: str) -> None:
        self.result.ok = False
        self.result.problems.append(message)


def _check_run(c: _Checker, lesson: Lesson, run: Run, expected, grads, where: str = "") -> None:
    out = lesson.output
    run.grads()   # one backward pass: every named variable gets its .grad
    for name, want in expected.items():
        c.compare(f"{name}{where}", run.values[name].data, want)
    for name, want in grads.items():
        c.compare(f"∂{out}/∂{name}{where}", run.values[name].grad, want)
    for name, expr in lesson.identities.items():
        c.compare(f"∂{out}/∂{name} = {expr}{where}", run.values[name].grad, identity_value(expr, run))


def identity_value(expr: str, run: Run) -> float:
    """The value of a lesson's closed-form gradient ``expr`` (e.g. ``"(a - y)*x"``) at ``run``'s values."""
    needed = {n: run.values[n].data for n in parse(f"g = {expr}").inputs}
    return evaluate(f"g = {expr}", needed).value


def check(lesson: Lesson) -> CheckResult:
    """Run the lesson's program and compare every number the lesson states."""
    c = _Checker(lesson.name)
    try:
        run = lesson.run()
        _check_run(c, lesson, run, lesson.expected, lesson.grads)
        for point in lesson.points:
            shown = ", ".join(f"{k}={fmt(v, ascii=True)}" for k, v in point.inputs.items())
            _check_run(c, lesson, lesson.run(point.inputs), point.expected, point.grads, f" at {shown}")
        if lesson.chains:
            _check_chains(c, lesson, run)
        if lesson.lr is not None:
            step = lesson.step()
            for name, want in lesson.expected_step.items():
                c.compare(f"{name} after one step (lr {fmt(lesson.lr)})", step.new_values[name], want)
            if step.after_error:
                c.fail(f"after the step: {step.after_error}")
        if lesson.wrong_grads:
            fresh = lesson.run()
            naive = naive_recursive_grads(fresh.output)
            for name, want in lesson.wrong_grads.items():
                c.compare(f"naive recursion's ∂{lesson.output}/∂{name}", naive[fresh.values[name]], want)
        _check_words(c, lesson)
    except Exception as e:  # a lesson that cannot even run is a failed check, with the reason
        c.fail(f"{type(e).__name__}: {e}")
    return c.result


def _check_words(c: _Checker, lesson: Lesson) -> None:
    """The lesson's words against its numbers: claims, equations in the prose, what the step did."""
    from ..steps import review_step
    from .claims import check_claim, check_prose, lesson_numbers, render, unbacked_step_sentences

    out = lesson.output
    if "error" in lesson.sources:
        c.fail(f"the lesson's text cannot be filled in: {lesson.sources['error']}")
    numbers = lesson_numbers(lesson)
    for claim in lesson.claims:
        c.result.checked += 1
        problem = check_claim(claim, numbers)
        if problem:
            c.fail(problem)
    for where, text in lesson.prose().items():
        try:
            render(text, numbers)
        except Exception as e:  # noqa: BLE001 - a field that cannot be computed is the lesson's fault
            c.fail(f"{where}: cannot fill in the text: {e}")
        checked, problems = check_prose(text, numbers, out)
        c.result.checked += checked
        for problem in problems:
            c.fail(f"{where}: {problem}")
        for sentence in unbacked_step_sentences(text, out, lesson.claims):
            c.fail(f"{where} says \"{sentence}\" but the lesson makes no claim about {out} after the step "
                   f"that chainrule can check (add one, e.g. 'after_{out} < {out}')")
    step = lesson.step()
    if step is not None:
        review = review_step(step)
        if review.failed and not any(f"after_{out}" in claim for claim in lesson.claims):
            after = "no value" if review.after is None else fmt(review.after)
            c.fail(f"the lesson's step does not lower {out} ({fmt(review.before)} → {after}) and the lesson "
                   f"does not say so: add the claim 'after_{out} > {out}' and words that explain it")


def _check_chains(c: _Checker, lesson: Lesson, run: Run) -> None:
    from ..explain import explain

    ex = explain(run.trace(), wrt=list(lesson.chains))
    by_wrt = {cs.wrt: cs for cs in ex.chains}
    for wrt, factors in lesson.chains.items():
        cs = by_wrt.get(wrt)
        if cs is None or not cs.paths:
            c.fail(f"no chain for {wrt} in the explanation")
            continue
        if cs.path_count != 1:
            c.fail(f"the chain for {wrt} has {cs.path_count} paths; the lesson has one")
            continue
        got = [f.value for f in cs.paths[0].factors]
        if len(got) != len(factors):
            c.fail(f"the chain for {wrt} has {len(got)} factors {got}; the lesson has {len(factors)} {list(factors)}")
            continue
        for i, (g, want) in enumerate(zip(got, factors)):
            c.compare(f"factor {i + 1} of the chain for {wrt} ({cs.paths[0].factors[i].label})", g, want)


def check_all() -> list[CheckResult]:
    return [check(lesson) for lesson in LESSONS.values()]
