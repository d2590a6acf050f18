"""Layers and loss modules with ``torch.nn``'s names and defaults."""
from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ..errors import InputError
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Linear", "Sequential", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Dropout", "Flatten",
           "Identity", "Softmax", "LogSoftmax", "MSELoss", "CrossEntropyLoss", "BCELoss",
           "BCEWithLogitsLoss", "NLLLoss"]


def _dtype(dtype):
    if dtype is None:
        return np.dtype(np.float64)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InputError(f"layer dtype must be float32 or float64, got {dt}")
    return dt


def _positive(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"{what} must be a positive whole number, got {n!r}")
    return int(n)


class Linear(Module):
    """``y = x Wᵀ + b`` with W of shape (out_features, in_features), as ``torch.nn.Linear``.

    ``init="kaiming"`` (the default) is PyTorch's: W and b ~ U(−1/√in, 1/√in)
    (Kaiming-uniform with a = √5). ``init="xavier"``: W ~ Glorot-uniform,
    b = 0. ``generator``: a ``numpy.random.Generator`` or int seed.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 init: str = "kaiming", generator=None, dtype=None):
        super().__init__()
        self.in_features = _positive(in_features, "in_features")
        self.out_features = _positive(out_features, "out_features")
        dt = _dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(init, generator)

    def reset_parameters(self, init_name: str = "kaiming", generator=None) -> None:
        rng = init.get_generator(generator)
        if init_name == "kaiming":
            init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=rng)
            if self.bias is not None:
                bound = 1.0 / math.sqrt(self.in_features)
                init.uniform_(self.bias, -bound, bound, generator=rng)
        elif init_name == "xavier":
            init.xavier_uniform_(self.weight, generator=rng)
            if self.bias is not None:
                init.zeros_(self.bias)
        else:
            raise InputError(f"Linear init must be 'kaiming' or 'xavier', got {init_name!r}")

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Modules applied one after another; children are named "0", "1", ... (or by an OrderedDict)."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise InputError(f"Sequential: item {name} is a {type(m).__name__}, not a Module")
            setattr(self, name, m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module: Module) -> "Sequential":
        if not isinstance(module, Module):
            raise InputError(f"Sequential.append needs a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        try:
            return mods[i]
        except (IndexError, TypeError):
            raise InputError(f"Sequential has {len(mods)} modules; index {i!r} is out of range") from None


class ReLU(Module):
    def forward(self, x):
        return x.relu()


class Sigmoid(Module):
    def forward(self, x):
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x):
        return x.tanh()


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return x.leaky_relu(self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.softmax(self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return x.log_softmax(self.dim)


class Dropout(Module):
    """Inverted dropout in training mode; the identity after ``model.eval()``."""

    def __init__(self, p: float = 0.5, generator=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise InputError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = float(p)
        self.generator = None if generator is None else init.get_generator(generator)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (default: everything but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


class Identity(Module):
    def forward(self, x):
        return x


class _Loss(Module):
    """A loss module: the functional loss with its options fixed at construction (PyTorch's signatures)."""

    _options: tuple = ()          # (name, default) of the options after the legacy flags, in order

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", **options):
        super().__init__()
        self.reduction = F._t.legacy_reduction(size_average, reduce, reduction, type(self).__name__)
        for n, default in self._options:
            setattr(self, n, options.get(n, default))

    def _opts(self) -> dict:
        return {n: getattr(self, n) for n, _ in self._options}

    def extra_repr(self) -> str:
        parts = [f"{n}={getattr(self, n)!r}" for n, d in self._options
                 if not (getattr(self, n) is d or (isinstance(d, (int, float)) and getattr(self, n) == d))]
        if self.reduction != "mean":
            parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)


class MSELoss(_Loss):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)

    def forward(self, input, target):  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    _options = (("weight", None), ("ignore_index", -100), ("label_smoothing", 0.0))

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
                         size_average=size_average, reduce=reduce, reduction=reduction)

    def forward(self, input, target):  # noqa: A002
        return F.cross_entropy(input, target, reduction=self.reduction, **self._opts())


class NLLLoss(_Loss):
    _options = (("weight", None), ("ignore_index", -100))

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight=weight, ignore_index=ignore_index, size_average=size_average,
                         reduce=reduce, reduction=reduction)

    def forward(self, input, target):  # noqa: A002
        return F.nll_loss(input, target, reduction=self.reduction, **self._opts())


class BCELoss(_Loss):
    _options = (("weight", None),)

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(weight=weight, size_average=size_average, reduce=reduce, reduction=reduction)

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy(input, target, reduction=self.reduction, **self._opts())


class BCEWithLogitsLoss(_Loss):
    _options = (("weight", None), ("pos_weight", None))

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(weight=weight, pos_weight=pos_weight, size_average=size_average, reduce=reduce,
                         reduction=reduction)

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction, **self._opts())
