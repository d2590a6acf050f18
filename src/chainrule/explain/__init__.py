"""Every gradient told as the chain rule, with the recorded numbers.

>>> from chainrule import Value
>>> from chainrule.explain import explain
>>> a0, w1, w2, w3, y = (Value(v, name=n) for v, n in
...                      [(1, "a0"), (2, "w1"), (3, "w2"), (0.5, "w3"), (2, "y")])
>>> a1 = w1 * a0; a1.name = "a1"
>>> a2 = w2 * a1; a2.name = "a2"
>>> a3 = w3 * a2; a3.name = "a3"
>>> C = (a3 - y) ** 2; C.name = "C"
>>> print(explain(C).chain_line("w1"))
∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 0.5 · 3 · 1 = 3

An explanation is read off a :class:`~chainrule.trace.Trace` only: the
numbers are the recorded local derivatives and gradients, the formulas the op
table's, pasted together. The sum of the path products is *checked* against
the gradient the backward sweep recorded, and a mismatch is shown.

Tensors: :func:`explain_tensor` (``explain(loss, W1)`` hands a Tensor to it)
tells a gradient layer by layer with shapes, or for one weight as scalar
chains made of the same :class:`Factor` and :class:`Path` as a Value's.

Modules: ``formulas`` (pasting formula text), ``chains`` (links, paths,
counting, the sum check), ``build`` (:func:`explain`), ``model`` (the data
classes), ``render`` (text and Markdown), ``tensor`` (:func:`explain_tensor`).
"""
from __future__ import annotations

from .build import explain
from .model import ChainSet, ElementFactor, Explanation, Factor, Path, Shared, Summary
from .tensor import ElementChain, LayerLine, TensorExplanation, TensorStep, explain_tensor

__all__ = ["explain", "Explanation", "ChainSet", "Path", "Factor", "Shared", "Summary",
           "render_text", "render_markdown",
           "explain_tensor", "TensorExplanation", "TensorStep", "LayerLine", "ElementChain", "ElementFactor"]


def render_text(trace, wrt=None, ops: bool = False, max_paths: int = 64, width: int | None = None) -> str:
    """The whole forward and backward pass of ``trace`` (or a Value) as a plain-text lesson,
    fitted to ``width`` columns (default: the terminal's, else 80)."""
    return explain(trace, wrt, ops=ops, max_paths=max_paths).to_text(width)


def render_markdown(trace, wrt=None, ops: bool = False, max_paths: int = 64) -> str:
    """The same lesson as :func:`render_text`, in Markdown with tables."""
    return explain(trace, wrt, ops=ops, max_paths=max_paths).to_markdown()
