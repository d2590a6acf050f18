"""The tensor explainer's old address: it lives in :mod:`chainrule.explain.tensor`, and its names in
:mod:`chainrule.explain` (``from chainrule.explain import explain_tensor``). Kept so that
``from chainrule.explain_tensor import explain_tensor`` goes on working."""
from .explain.tensor import (ElementChain, ElementFactor, ElementPath, LayerLine, TensorExplanation, TensorStep,
                             explain_tensor)

__all__ = ["explain_tensor", "TensorExplanation", "TensorStep", "LayerLine", "ElementChain",
           "ElementPath", "ElementFactor"]
