"""Mini-batches: the smallest useful stand-in for ``torch.utils.data.DataLoader``."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..tensor import Tensor
from .init import get_generator

__all__ = ["batches"]


def _as_array(a, name: str) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.data
    try:
        return np.asarray(a)
    except Exception as e:  # noqa: BLE001 - shown to the user with the argument's name
        raise InputError(f"{name} must be an array or Tensor: {e}") from None


def batches(X, y=None, batch_size: int = 32, shuffle: bool = True, seed=None, drop_last: bool = False):
    """Yield ``(xb, yb)`` Tensors of ``batch_size`` rows (just ``xb`` if ``y`` is None).

    ``shuffle`` visits the rows in a random order; ``seed`` (an int or a
    ``numpy.random.Generator``) makes that order reproducible. Pass the same
    Generator every epoch to get a fresh, reproducible order each time.
    Integer labels stay integers (``cross_entropy`` needs class indices).
    """
    X = _as_array(X, "X")
    if X.ndim == 0:
        raise InputError("X must have at least one dimension (one row per example)")
    n = len(X)
    if y is not None:
        y = _as_array(y, "y")
        if len(y) != n:
            raise InputError(f"X and y have different lengths: {n} rows vs {len(y)} labels")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(f"batch_size must be a positive whole number, got {batch_size!r}")
    order = get_generator(seed if seed is not None else np.random.default_rng()).permutation(n) \
        if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        xb = Tensor(X[idx])
        yield xb if y is None else (xb, Tensor(y[idx]))
