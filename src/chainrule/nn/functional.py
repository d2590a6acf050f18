"""Layers and losses as plain functions, with ``torch.nn.functional``'s names.

Every function here is a composition of op-table rows (:mod:`chainrule.ops`):
no derivative is written in this file. ``linear`` and the class-index
``cross_entropy`` use the table's fused rows (one graph node each instead of
four or five), which is most of the speed of a training step.

Losses take ``reduction='mean' | 'sum' | 'none'``, as in PyTorch.
"""
from __future__ import annotations

import math

import numpy as np

from .. import tensor as _t
from ..errors import InputError
from ..numfmt import fmt
from ..tensor import ShapeError, Tensor
from .init import get_generator

__all__ = ["linear", "relu", "sigmoid", "tanh", "leaky_relu", "softmax", "log_softmax", "dropout",
           "mse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
           "nll_loss"]

def _tensor(x, name: str, like: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    try:
        arr = np.asarray(x)
    except Exception:  # noqa: BLE001
        raise InputError(f"{name} must be a Tensor or an array of numbers, got {type(x).__name__}") from None
    if arr.dtype.kind not in "fiub":
        raise InputError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if like is not None and like.dtype.kind == "f":
        arr = arr.astype(like.dtype)   # 0/1 labels or float64 targets take the input's float dtype
    return Tensor(arr)


def _reduce(losses: Tensor, reduction: str, fn: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise InputError(f"{fn}: reduction must be one of 'mean', 'sum', 'none', got {reduction!r}")


def _same_shape(input: Tensor, target: Tensor, fn: str) -> None:  # noqa: A002
    if input.shape != target.shape:
        hint = ""
        if input.shape[:1] == target.shape[:1] and (input.shape[1:] == (1,) or target.shape[1:] == (1,)):
            hint = (" (a column (N, 1) against a vector (N,) would silently broadcast to (N, N): "
                    "reshape one of them, e.g. output.reshape(-1))")
        raise ShapeError(f"{fn}: input has shape {input.shape} but target has shape {target.shape}; "
                         f"they must match{hint}")


# -- layers ---------------------------------------------------------------------

def linear(input, weight, bias=None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias`` as one node (``weight`` is (out_features, in_features))."""
    return _t.linear(input, weight, bias)


def relu(input) -> Tensor:  # noqa: A002
    return input.relu()


def sigmoid(input) -> Tensor:  # noqa: A002
    return input.sigmoid()


def tanh(input) -> Tensor:  # noqa: A002
    return input.tanh()


def leaky_relu(input, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    return input.leaky_relu(negative_slope)


def softmax(input, dim: int = -1) -> Tensor:  # noqa: A002
    return input.softmax(dim)


def log_softmax(input, dim: int = -1) -> Tensor:  # noqa: A002
    return input.log_softmax(dim)


def dropout(input, p: float = 0.5, training: bool = True, generator=None) -> Tensor:  # noqa: A002
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1−p).

    The scaling keeps every unit's expected value the same, so nothing changes
    at evaluation time, where dropout is the identity.
    """
    if not 0.0 <= p <= 1.0:
        raise InputError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = get_generator(generator).random(input.shape) >= p
    return input * (keep * (1.0 / (1.0 - p))).astype(input.dtype)


# -- losses ---------------------------------------------------------------------

def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error ``mean((input − target)²)`` (PyTorch's signature)."""
    reduction = _t.legacy_reduction(size_average, reduce, reduction, "mse_loss")
    target = _tensor(target, "mse_loss target", input)
    _same_shape(input, target, "mse_loss")
    return _reduce((input - target).square(), reduction, "mse_loss")


# log(p) is clamped at −100 as in PyTorch, so a confident wrong answer costs 100, not inf.
_LOG_FLOOR = math.exp(-100.0)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """``−w·[y·log p + (1−y)·log(1−p)]`` for probabilities ``input`` in [0, 1] (PyTorch's signature;
    ``weight`` broadcasts against the input).

    Prefer :func:`binary_cross_entropy_with_logits` on raw scores: it never
    takes the log of a rounded-off 0.
    """
    reduction = _t.legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy")
    target = _tensor(target, "binary_cross_entropy target", input)
    _same_shape(input, target, "binary_cross_entropy")
    p = input.data
    if p.size and not (np.all(p >= 0) and np.all(p <= 1)):
        bad = p[~((p >= 0) & (p <= 1))].flat[0]
        raise InputError(f"binary_cross_entropy: input must be probabilities in [0, 1], found {fmt(bad, ascii=True)} "
                         "(pass raw scores to binary_cross_entropy_with_logits instead)")
    # clamping p (not log p) at e^-100 gives the same values and keeps the gradient finite at p = 0
    log_p = input.clamp(min=_LOG_FLOOR).log()
    log_1mp = (1.0 - input).clamp(min=_LOG_FLOOR).log()
    losses = -(target * log_p + (1.0 - target) * log_1mp)
    if weight is not None:
        losses = losses * _tensor(weight, "binary_cross_entropy weight", input)
    return _reduce(losses, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,  # noqa: A002
                                     reduction: str = "mean", pos_weight=None) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)``, computed without ever forming the sigmoid.

    ``max(z, 0) − z·y + log(1 + e^(−|z|))``: the exponent is never positive,
    so nothing overflows. ``maximum`` (not relu) because it splits the
    gradient ½/½ at z = 0, which gives exactly σ(0) − y there. PyTorch's
    signature: ``weight`` scales each element, ``pos_weight`` the positive
    term (``−pos_weight·y·log σ(z) − (1−y)·log(1−σ(z))``).
    """
    reduction = _t.legacy_reduction(size_average, reduce, reduction, "binary_cross_entropy_with_logits")
    target = _tensor(target, "binary_cross_entropy_with_logits target", input)
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    z = input
    softplus_neg = (-z).maximum(0.0) + (1.0 + (-z.abs()).exp()).log()      # −log σ(z)
    if pos_weight is None:
        losses = z.maximum(0.0) - z * target + (1.0 + (-z.abs()).exp()).log()
    else:
        pw = _tensor(pos_weight, "binary_cross_entropy_with_logits pos_weight", input)
        losses = (1.0 - target) * z + (1.0 + (pw - 1.0) * target) * softplus_neg
    if weight is not None:
        losses = losses * _tensor(weight, "binary_cross_entropy_with_logits weight", input)
    return _reduce(losses, reduction, "binary_cross_entropy_with_logits")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100,  # noqa: A002
                  reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``input`` (classes along dim 1) against ``target``: class indices
    ((N,) or (N, d1, …)) or class probabilities (``input``'s shape). PyTorch's signature and
    numbers, including ``weight``, ``ignore_index`` and ``label_smoothing``; see
    :func:`chainrule.tensor.cross_entropy`."""
    if not isinstance(input, Tensor):
        raise InputError(f"cross_entropy: input must be a Tensor of logits, got {type(input).__name__}")
    return _t.cross_entropy(input, target, weight, size_average, ignore_index, reduce, reduction,
                            label_smoothing)


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100,  # noqa: A002
             reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C[, d1, …]) at class indices ``target``,
    with PyTorch's signature (``weight`` third); see :func:`chainrule.tensor.nll_loss`."""
    if not isinstance(input, Tensor):
        raise InputError(f"nll_loss: input must be a Tensor of log-probabilities, got {type(input).__name__}")
    return _t.nll_loss(input, target, weight, size_average, ignore_index, reduce, reduction)
