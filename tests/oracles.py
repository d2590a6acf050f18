"""Every op row three ways, for tests that need an expected value from outside the op table.

* ``BUILD``: how a program calls the op on chainrule's own numbers (``Value``, forward mode's ``Dual``),
* ``TORCH``: the same op in PyTorch (float64 tensors; torch is the tests' oracle),
* ``FLOAT``: the same function in plain Python floats (``math``), for central differences.

Each takes ``(x, y, k)``: ``y`` is None for one-input rows, ``k`` the row's constant (a fixed exponent,
a leaky slope) or None.
"""
from __future__ import annotations

import math

BUILD = {
    "add": lambda x, y, k: x + y, "sub": lambda x, y, k: x - y, "mul": lambda x, y, k: x * y,
    "div": lambda x, y, k: x / y, "neg": lambda x, y, k: -x, "pow": lambda x, y, k: x ** y,
    "powc": lambda x, y, k: x ** k, "square": lambda x, y, k: x.square(), "sqrt": lambda x, y, k: x.sqrt(),
    "exp": lambda x, y, k: x.exp(), "log": lambda x, y, k: x.log(), "tanh": lambda x, y, k: x.tanh(),
    "sigmoid": lambda x, y, k: x.sigmoid(), "relu": lambda x, y, k: x.relu(),
    "leaky_relu": lambda x, y, k: x.leaky_relu(k), "abs": lambda x, y, k: abs(x),
    "sin": lambda x, y, k: x.sin(), "cos": lambda x, y, k: x.cos(),
    "maximum": lambda x, y, k: x.maximum(y), "minimum": lambda x, y, k: x.minimum(y),
    **{name: (lambda name: lambda x, y, k: getattr(x, name)())(name) for name in (
        "tan", "sinh", "cosh", "atan", "asinh", "log1p", "expm1", "log2", "log10", "softsign", "silu", "logsigmoid")},
}


def _torch():
    import torch
    return torch


TORCH = {
    **{name: BUILD[name] for name in ("add", "sub", "mul", "div", "neg", "pow", "powc", "square", "sqrt", "exp",
                                      "log", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "maximum", "minimum")},
    "leaky_relu": lambda x, y, k: _torch().nn.functional.leaky_relu(x, k),
    **{name: BUILD[name] for name in ("tan", "sinh", "cosh", "atan", "asinh", "log1p", "expm1", "log2", "log10")},
    "softsign": lambda x, y, k: _torch().nn.functional.softsign(x),
    "silu": lambda x, y, k: _torch().nn.functional.silu(x),
    "logsigmoid": lambda x, y, k: _torch().nn.functional.logsigmoid(x),
}


def _sigmoid(x):
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


FLOAT = {
    "add": lambda x, y, k: x + y, "sub": lambda x, y, k: x - y, "mul": lambda x, y, k: x * y,
    "div": lambda x, y, k: x / y, "neg": lambda x, y, k: -x, "pow": lambda x, y, k: x ** y,
    "powc": lambda x, y, k: x ** k, "square": lambda x, y, k: x * x, "sqrt": lambda x, y, k: math.sqrt(x),
    "exp": lambda x, y, k: math.exp(x), "log": lambda x, y, k: math.log(x), "tanh": lambda x, y, k: math.tanh(x),
    "sigmoid": lambda x, y, k: _sigmoid(x), "relu": lambda x, y, k: max(x, 0.0),
    "leaky_relu": lambda x, y, k: x if x > 0 else k * x, "abs": lambda x, y, k: abs(x),
    "sin": lambda x, y, k: math.sin(x), "cos": lambda x, y, k: math.cos(x),
    "maximum": lambda x, y, k: max(x, y), "minimum": lambda x, y, k: min(x, y),
    **{name: (lambda f: lambda x, y, k: f(x))(getattr(math, name)) for name in (
        "tan", "sinh", "cosh", "atan", "asinh", "log1p", "expm1", "log2", "log10")},
    "softsign": lambda x, y, k: x / (1 + abs(x)), "silu": lambda x, y, k: x * _sigmoid(x),
    "logsigmoid": lambda x, y, k: min(x, 0.0) - math.log1p(math.exp(-abs(x))),
}


def torch_local(name, x, y, k):
    """PyTorch's forward value and local derivatives of one op at one point (float64, reverse mode)."""
    torch = _torch()
    ins = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in ((x,) if y is None else (x, y))]
    out = TORCH[name](ins[0], ins[1] if y is not None else None, k)
    grads = torch.autograd.grad(out, ins, allow_unused=True)
    return out.item(), tuple(0.0 if g is None else g.item() for g in grads)
