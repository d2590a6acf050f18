"""``detect_anomaly()``: stop at the first value or gradient that is not a finite number.

As ``torch.autograd.detect_anomaly``: inside the block, every ``backward()``
(of a Value or a Tensor) records its sweep and checks it; the first node, in
forward order, whose value or gradient is inf or nan raises
:class:`AnomalyError`, which names that node, says why (from the op table:
``x**y`` with a negative base has no real derivative in y, √x has an infinite
slope at 0) and gives its chain of nodes to the loss::

    with chainrule.detect_anomaly():
        loss.backward()      # AnomalyError: ∂L/∂x is inf: it first appears at √x … chain: x → √x → z → L

The gradients are filled in as usual before the error is raised. Outside the
block ``backward()`` does no checking and costs nothing extra.
"""
from __future__ import annotations

import math

import numpy as np

from . import autodiff
from .errors import ChainruleError
from .trace import build

__all__ = ["detect_anomaly", "AnomalyError", "checked_backward"]


class AnomalyError(ChainruleError, RuntimeError):
    """A backward pass inside ``detect_anomaly()`` met a value or gradient that is inf or nan.

    ``node`` is the trace label of the first such node (forward order),
    ``chain`` the labels from it up to the output, ``trace`` the sweep's trace.
    """

    def __init__(self, message: str, node: str, chain: list[str], trace):
        super().__init__(message)
        self.node, self.chain, self.trace = node, chain, trace


class detect_anomaly:
    """Context manager (and decorator) that checks every ``backward()`` run inside it, in this thread."""

    def __enter__(self):
        autodiff._state.anomaly += 1
        return self

    def __exit__(self, *exc):
        autodiff._state.anomaly -= 1
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly():
                return fn(*args, **kwargs)
        return wrapper


def _finite(v) -> bool:
    if isinstance(v, np.ndarray):
        return v.dtype.kind not in "fc" or bool(np.isfinite(v).all())
    return v is None or math.isfinite(v)


def checked_backward(root, seed) -> None:
    """``run_backward`` with a record, then the check; raise :class:`AnomalyError` on the first
    non-finite value or gradient. A surrounding ``Tracer`` still gets the sweep."""
    record: list = []
    outer = autodiff.active_record()
    autodiff.run_backward(root, seed, record)
    if outer is not None:
        outer.extend(record)
    if all(_finite(g) for _, g, _ in record) and all(_finite(n.data) for n in autodiff.ancestors(root)):
        return
    t = build(root, record)
    if not t.nonfinite:   # the raw check saw something the trace did not place: name it plainly
        return
    node_id, message = min(t.nonfinite)
    chain = _chain(t, node_id)
    raise AnomalyError(f"detect_anomaly: {message}; its chain to the output: {' → '.join(chain)}",
                       t.nodes[node_id].label, chain, t)


autodiff.anomaly_backward = checked_backward     # the engine's hook: see chainrule.autodiff


def _chain(t, start: int) -> list[str]:
    """Labels of one path of nodes from ``start`` up to the trace's output (shortest, by BFS)."""
    users: dict[int, list[int]] = {}
    for n in t.nodes:
        for i in n.inputs:
            users.setdefault(i, []).append(n.id)
    came = {start: None}
    queue = [start]
    for i in queue:
        if i == t.output:
            break
        for u in users.get(i, []):
            if u not in came:
                came[u] = i
                queue.append(u)
    if t.output not in came:
        return [t.nodes[start].label]
    path, i = [], t.output
    while i is not None:
        path.append(t.nodes[i].label)
        i = came[i]
    return path[::-1]
