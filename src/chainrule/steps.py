"""What one gradient-descent step really did, told with the engine's own numbers.

:func:`review_step` looks at a :class:`~chainrule.lang.StepResult` and works out

* the first-order prediction ``ΔC ≈ −lr·|∇C|²`` (the sum over the updated parameters),
* the real change, and whether the step raised the output (or left the program's domain),
* why, when it did: the slope along the step's line, downhill where the step started, is
  uphill where it ended — the step went past the lowest point on that line (it overshot);
* a learning rate that does lower the output: ``lr`` halved until a step lowers it.

``chainrule step``, the lessons and ``lesson check`` use it, so a lesson can never say a
step lowered the cost when the numbers say otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .lang import StepResult, gradient_step
from .numfmt import fmt, signed

__all__ = ["StepReview", "review_step", "MAX_HALVINGS"]

MAX_HALVINGS = 40    # lr / 2⁴⁰ ≈ lr · 1e−12: below that a step changes nothing a float can show


@dataclass(frozen=True)
class StepReview:
    """The step's numbers: before, after, the first-order prediction, and a learning rate that lowers the output."""

    output: str
    lr: float
    before: float
    after: float | None            # None: the step left the program's domain
    grad_sq: float                 # |∇output|² over the updated parameters
    slope_after: float | None      # slope along the step's direction (−∇) at the new point
    lower_lr: float | None         # when the step did not lower the output: the largest lr / 2ᵏ that does
    lower_after: float | None      # the output after a step at lower_lr

    @property
    def change(self) -> float | None:
        return None if self.after is None else self.after - self.before

    @property
    def predicted_change(self) -> float:
        """To first order a step changes the output by ∇C · (−lr·∇C) = −lr·|∇C|²."""
        return -self.lr * self.grad_sq

    @property
    def raised(self) -> bool:
        return self.after is not None and self.after > self.before

    @property
    def lowered(self) -> bool:
        return self.after is not None and self.after < self.before

    @property
    def overshot(self) -> bool:
        """The slope along the step was downhill at the start and is uphill at the end."""
        return self.grad_sq > 0 and self.slope_after is not None and self.slope_after > 0

    @property
    def failed(self) -> bool:
        """The step did not lower the output though its gradient was not zero."""
        return self.grad_sq > 0 and not self.lowered

    def prediction(self) -> str:
        """``ΔC ≈ −lr·|∇C|² = −0.1 · 64 = −6.4``: to first order, what a step changes the output by."""
        return (f"Δ{self.output} ≈ −lr·|∇{self.output}|² = −{fmt(self.lr)} · {fmt(self.grad_sq)} = "
                f"{fmt(self.predicted_change)}")

    def sentences(self) -> list[str]:
        """What happened, in words with numbers: empty when the step lowered the output as it should."""
        out = self.output
        if not self.failed:
            return []
        if self.after is None:
            said = [f"the step left the domain of the program: {out} has no value at the new point"]
        else:
            said = [f"the step {'raised' if self.raised else 'did not lower'} {out} from {fmt(self.before)} to "
                    f"{fmt(self.after)} ({signed(self.change)}), against the first-order prediction "
                    f"{fmt(self.predicted_change)}"]
        if self.overshot:
            said.append(f"lr {fmt(self.lr)} is too large: along the step the slope went from "
                        f"{fmt(-self.grad_sq)} (downhill) to {signed(self.slope_after)} (uphill), so the step "
                        f"went past the lowest point on its way (it overshot)")
        elif self.after is not None:
            said.append(f"lr {fmt(self.lr)} is too large for the first-order picture: the slope changes "
                        "too much over the length of the step")
        if self.lower_lr is not None:
            said.append(f"lr {fmt(self.lower_lr)} lowers {out} to {fmt(self.lower_after)}")
        else:
            said.append(f"no learning rate down to lr/2^{MAX_HALVINGS} lowers {out} from here")
        return said

    def warning(self) -> str | None:
        """One line for a terminal or a JSON ``warnings`` list, or None when the step lowered the output."""
        said = self.sentences()
        return "; ".join(said) if said else None

    def to_dict(self) -> dict:
        return {"raised": self.raised, "lowered": self.lowered, "change": self.change,
                "predicted_change": self.predicted_change, "overshot": self.overshot,
                "lower_lr": self.lower_lr, "value_after_lower_lr": self.lower_after}


def _slope_along(step: StepResult, direction: dict[str, float]) -> float | None:
    """d/dt output(new + t·direction) at t = 0: the slope along ``direction`` at the new point."""
    if step.after is None:
        return None
    grads = step.after.grads()
    return sum(grads[p] * direction[p] for p in step.params)


def review_step(step: StepResult) -> StepReview:
    """The numbers of ``step``, and — when it did not lower the output — a learning rate that does."""
    program = step.before.program
    g2 = sum(step.grads[p] ** 2 for p in step.params)
    before = step.before.value
    after = None if step.after is None else step.after.value
    slope = _slope_along(step, {p: -step.grads[p] for p in step.params})
    lower_lr = lower_after = None
    if g2 > 0 and not (after is not None and after < before):
        lr = step.lr
        inputs = {n: v.data for n, v in step.before.inputs.items()}
        for _ in range(MAX_HALVINGS):
            lr /= 2
            s = gradient_step(program, inputs, lr, step.params)
            if s.after is not None and math.isfinite(s.after.value) and s.after.value < before:
                lower_lr, lower_after = lr, s.after.value
                break
    return StepReview(program.output, step.lr, before, after, g2, slope, lower_lr, lower_after)
