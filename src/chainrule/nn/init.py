"""Weight initialisation, as in ``torch.nn.init`` (same formulas, NumPy random numbers).

Every function fills a tensor in place and returns it. ``generator`` is a
``numpy.random.Generator`` or an int seed; without one, the module-level
generator (:func:`manual_seed`) is used, so ``manual_seed(0)`` makes a whole
model reproducible.

Why the scale matters: each layer's output variance is ``fan_in · Var(w) ·
Var(input)``. Too large and activations (and gradients) grow layer after
layer; too small and they shrink toward zero, the vanishing-gradient story
told one factor per layer.
"""
from __future__ import annotations

import math

import numpy as np

from ..autodiff import mark_changed
from ..errors import InputError

__all__ = ["manual_seed", "get_generator", "calculate_gain", "uniform_", "normal_", "constant_",
           "zeros_", "ones_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
           "xavier_normal_"]

_default = {"rng": np.random.default_rng()}


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator used when no ``generator=`` is given."""
    _default["rng"] = np.random.default_rng(seed)
    return _default["rng"]


def get_generator(generator=None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``None`` (the default one), an int seed, or a Generator."""
    if generator is None:
        return _default["rng"]
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise InputError(f"generator must be a numpy.random.Generator or an int seed, got {generator!r}")


def _array(t) -> np.ndarray:
    """The NumPy array inside a Tensor/Parameter (or the array itself)."""
    a = t if isinstance(t, np.ndarray) else t.data
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected a Tensor or ndarray, got {type(t).__name__}")
    return a


def _fill(t, values):
    a = _array(t)
    a[...] = values  # in place: keeps dtype and identity (optimizers hold references)
    if a is not t:
        mark_changed(t)   # a graph computed before this is out of date
    return t


def _fans(t) -> tuple[int, int]:
    shape = _array(t).shape
    if len(shape) < 2:
        raise InputError(f"fan in/out need a tensor with at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor that keeps activations' variance steady through this nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise InputError(f"unknown nonlinearity {nonlinearity!r} for calculate_gain")


def uniform_(t, a: float = 0.0, b: float = 1.0, generator=None):
    a_ = _array(t)
    return _fill(t, get_generator(generator).uniform(a, b, size=a_.shape))


def normal_(t, mean: float = 0.0, std: float = 1.0, generator=None):
    a_ = _array(t)
    return _fill(t, get_generator(generator).normal(mean, std, size=a_.shape))


def constant_(t, val: float):
    return _fill(t, val)


def zeros_(t):
    return _fill(t, 0.0)


def ones_(t):
    return _fill(t, 1.0)


def kaiming_uniform_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator=None):
    """U(−bound, bound) with bound = gain·√(3 / fan). ``nn.Linear``'s default is ``a=√5``: bound = 1/√fan_in."""
    fan = _fans(t)[0 if mode == "fan_in" else 1]
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(t, -bound, bound, generator)


def kaiming_normal_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator=None):
    fan = _fans(t)[0 if mode == "fan_in" else 1]
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def xavier_uniform_(t, gain: float = 1.0, generator=None):
    """U(−bound, bound) with bound = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _fans(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, generator)


def xavier_normal_(t, gain: float = 1.0, generator=None):
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)
