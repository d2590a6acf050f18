"""``chainrule.torch``: a PyTorch computation explained as the chain rule, with PyTorch's numbers.

>>> import torch, chainrule.torch as crt                    # doctest: +SKIP
>>> w1 = torch.tensor(0.5, requires_grad=True); x = torch.tensor(2.0)
>>> L = (torch.relu(w1 * x) - 1) ** 2
>>> t = crt.trace(L)             # a chainrule Trace: every view works on it
>>> print(crt.explain(t, "w1").chain_line("w1"))

* :func:`trace` reads ``loss.grad_fn`` and its ``next_functions`` into chainrule's
  :class:`~chainrule.trace.Trace` (the same data chainrule's own engine records), running
  PyTorch's backward nodes one by one so that each step's incoming gradient, local derivative
  and contribution are PyTorch's.
* :func:`recording` keeps every op's output (and the backward PyTorch runs) while a forward is
  computed inside it, for values PyTorch does not save.
* :func:`explain`: the chain product in numbers for scalar weights, the layer-level chain with
  shapes for tensors.
* :func:`compare` runs one function in chainrule and in PyTorch and names the first node where
  they differ; :func:`first_nonfinite` names the first node, in forward order, whose value or
  gradient is not finite.

PyTorch is optional: nothing here imports it until a function is called, and without it the
error says ``pip install torch==2.13.0``. This is a front end of chainrule: it reads the trace,
explain and view layers; nothing in the engine imports it.
"""
from __future__ import annotations

from .api import compare, explain, first_nonfinite, recording, trace, Comparison, NonFinite
from .graph import INSTALL, TorchMissingError

__all__ = ["trace", "recording", "explain", "compare", "first_nonfinite", "Comparison", "NonFinite",
           "TorchMissingError", "INSTALL"]
