"""Optimizers with PyTorch's names and PyTorch's exact update formulas.

An optimizer holds references to parameters, reads each ``.grad`` after
``loss.backward()``, and changes the parameter's numbers *in place*, outside
the graph: the update itself is not something to differentiate.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    for xb, yb in batches(X, y, 32):
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

Parameter groups work as in PyTorch: pass dicts ``{"params": [...], "lr": ...}``;
schedulers may change ``opt.param_groups[i]["lr"]`` between steps.
"""
from __future__ import annotations

import math

import numpy as np

from .autodiff import mark_changed, no_grad
from .errors import InputError

__all__ = ["Optimizer", "SGD", "Adam"]


def _array(x) -> np.ndarray:
    """The NumPy array behind a Tensor (or an ndarray itself)."""
    return x if isinstance(x, np.ndarray) else x.data


class Optimizer:
    """Base class: parameter groups, per-parameter ``state``, ``zero_grad``."""

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict[int, dict] = {}   # id(param) -> buffers
        self.param_groups: list[dict] = []
        if hasattr(params, "data") and hasattr(params, "grad"):
            raise InputError("params must be an iterable of parameters (e.g. model.parameters()), "
                             "not a single tensor: wrap it in a list")
        groups = list(params)
        if not groups:
            raise InputError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        params = [params] if hasattr(params, "grad") else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not (hasattr(p, "grad") and hasattr(p, "data")):
                raise InputError(f"parameter {i} is a {type(p).__name__}, not a Tensor")
            if id(p) in seen:
                raise InputError(f"parameter {i} appears more than once (in this or another parameter group): "
                                 "it would be updated twice per step")
            seen.add(id(p))
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check(group)
        self.param_groups.append(group)

    def _check(self, group: dict) -> None:
        # written as `not x >= 0` so that nan is refused too
        if not group["lr"] >= 0.0:
            raise InputError(f"invalid learning rate: {group['lr']} (must be >= 0)")
        if not group.get("weight_decay", 0.0) >= 0.0:
            raise InputError(f"invalid weight_decay value: {group['weight_decay']} (must be >= 0)")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the last gradients (else the next ``backward()`` adds to them)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    _array(p.grad)[...] = 0.0

    def _params_with_grad(self, group):
        """(param, its array, its gradient's array) for each param with a gradient; each is
        marked as changed in place, so a graph computed before this step is known to be out of date."""
        for p in group["params"]:
            if p.grad is not None:
                try:
                    mark_changed(p)
                except AttributeError:   # a parameter-like object without version bookkeeping
                    pass
                yield p, _array(p.data), _array(p.grad)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {g[k]}" for k in sorted(g) if k != "params"]   # sorted, as PyTorch prints
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (PyTorch's formulation).

    With g = ∇ + weight_decay·p:
      b ← g on the first step, else momentum·b + (1 − dampening)·g
      g ← g + momentum·b if nesterov, else b
      p ← p − lr·g
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        if not momentum >= 0.0:
            raise InputError(f"invalid momentum value: {momentum} (must be >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise InputError("nesterov momentum requires a momentum > 0 and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    @no_grad()
    def step(self, closure=None):
        loss = _closure(closure)
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov = group["weight_decay"], group["nesterov"]
            for p, data, grad in self._params_with_grad(group):
                buf, first = None, False
                if momentum != 0:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:      # the first step starts the buffer at the gradient itself
                        buf = state["momentum_buffer"] = np.empty(data.shape, data.dtype)
                        first = True
                for d, g, b in _blocks(data, grad, buf):
                    if wd != 0:
                        g = g + wd * d                    # new array: p.grad itself never changes
                    if b is not None:
                        if first:
                            b[...] = g
                        else:
                            b *= momentum
                            b += g if dampening == 0 else (1.0 - dampening) * g
                        g = g + momentum * b if nesterov else b
                    d -= lr * g                           # in place, in the parameter's dtype
        return loss


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias-corrected update.

    With g = ∇ + weight_decay·p and t the step number:
      m ← β₁·m + (1 − β₁)·g,   v ← β₂·v + (1 − β₂)·g²
      p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + eps)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        b1, b2 = betas
        for i, b in enumerate((b1, b2)):
            if not 0.0 <= b < 1.0:
                raise InputError(f"invalid beta parameter at index {i}: {b} (must be in [0, 1))")
        if not eps >= 0.0:
            raise InputError(f"invalid epsilon value: {eps} (must be >= 0)")
        super().__init__(params, dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay))

    @no_grad()
    def step(self, closure=None):
        loss = _closure(closure)
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p, data, grad in self._params_with_grad(group):
                state = self.state.setdefault(id(p), {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros(data.shape, data.dtype)
                    state["exp_avg_sq"] = np.zeros(data.shape, data.dtype)
                state["step"] += 1
                t = state["step"]
                step_size = lr / (1.0 - b1 ** t)
                root_bc2 = math.sqrt(1.0 - b2 ** t)
                for d, g, m, v in _blocks(data, grad, state["exp_avg"], state["exp_avg_sq"]):
                    if wd != 0:
                        g = g + wd * d
                    m *= b1
                    m += (1.0 - b1) * g
                    v *= b2
                    v += (1.0 - b2) * (g * g)
                    d -= step_size * (m / (np.sqrt(v) / root_bc2 + eps))
        return loss


def _closure(closure):
    """PyTorch's optional closure: re-evaluate the loss (with gradients on) before stepping."""
    if closure is None:
        return None
    from .autodiff import enable_grad
    with enable_grad():
        return closure()


_BLOCK = 1 << 16   # elements per chunk: 256 KB of float32, small enough to stay in cache


def _blocks(data, *others):
    """Matching chunks of ``data`` (writable views) and ``others`` (None stays None).

    NumPy makes one pass over memory per operation and an update takes
    several; on a large layer, doing them all on one cache-sized chunk at a
    time is about twice as fast, and the temporaries stay small.
    """
    arrays = [data, *(o for o in others if o is not None)]
    if data.size <= 2 * _BLOCK or not all(a.flags.c_contiguous and a.shape == data.shape for a in arrays):
        yield (data, *others)
        return
    flat = [None if o is None else o.reshape(-1) for o in (data, *others)]
    for start in range(0, data.size, _BLOCK):
        yield tuple(None if f is None else f[start:start + _BLOCK] for f in flat)
