"""The graph walk shared by :class:`Value` and :class:`Tensor`.

Why a topological order and not plain recursion: a node's gradient is the sum
of what *all* of its consumers send back, so it may only be passed on once
every consumer has contributed. Naive recursion ("call backward on each
input as soon as you see it") passes partial sums on, and gets ``b = a + a;
c = b + b`` wrong (``chainrule lesson show reuse`` shows the numbers). It
also overflows Python's recursion limit on long chains.

Every node is created after its inputs, so sorting the reachable nodes by
creation number (newest first) is a valid reverse topological order: no
recursion, no per-node bookkeeping beyond one integer.

A node taking part in the walk has:

* ``_seq``  creation number (from :func:`next_seq`)
* ``requires_grad``
* ``_parents()``  the nodes it was computed from
* ``_g``  this sweep's gradient buffer, and ``grad``, where sweeps accumulate
* ``_backprop(record)``  sends ``_g`` to its parents via the op table

Two hooks let the layers above watch a sweep without the engine importing
them: the *recorder* (:func:`active_record`: a ``Tracer`` of
:mod:`chainrule.trace` pushes a list with :func:`start_recording`, and every
``backward()`` run meanwhile in that thread appends its steps to it) and the
*anomaly check* (:data:`anomaly_backward`, installed by
:mod:`chainrule.anomaly`; ``detect_anomaly()`` switches it on).
"""
from __future__ import annotations

import bisect
import gc
import itertools
import threading
from operator import attrgetter

__all__ = ["sweep_lock", "recorded_sweep", "no_grad", "enable_grad", "is_grad_enabled", "reverse_topological", "ancestors", "run_backward",
           "mark_changed", "changed_after_use", "active_record", "start_recording", "stop_recording",
           "anomaly_backward", "graph_backward"]


class _GradState(threading.local):
    """Grad mode is per thread, as in PyTorch: a no_grad() block in one thread
    (a web request, say) must not switch recording off in another.
    ``anomaly`` counts the open ``detect_anomaly()`` blocks of this thread."""
    enabled = True
    anomaly = 0


_state = _GradState()
next_seq = itertools.count().__next__
_by_seq = attrgetter("_seq")


# -- the recorder hook ------------------------------------------------------

class _Recorders(threading.local):
    def __init__(self):
        self.stack = []   # active Tracer records, per thread


_records = _Recorders()


def active_record():
    """The list the current backward sweep should append to, or None."""
    stack = _records.stack
    return stack[-1] if stack else None


def start_recording(record: list) -> None:
    """Every sweep run in this thread until :func:`stop_recording` appends its steps to ``record``."""
    _records.stack.append(record)


def stop_recording(record: list) -> None:
    _records.stack.remove(record)


# -- the anomaly hook -------------------------------------------------------
#: ``anomaly_backward(root, seed)``: the checked sweep a ``backward()`` runs inside
#: ``detect_anomaly()``. chainrule.anomaly installs it when imported, and only that module's
#: ``detect_anomaly`` switches the check on, so it is set whenever it is needed.
anomaly_backward = None

#: ``graph_backward(root, seed)``: a ``backward(create_graph=True)``, whose gradients are built from
#: engine ops so they can be differentiated again. chainrule.higher installs it when imported (the
#: package imports it), so the engine never imports the module above it.
graph_backward = None


def is_grad_enabled() -> bool:
    return _state.enabled


class _GradMode:
    """Context manager and decorator that switches graph recording on or off."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._saved: list[bool] = []

    def __enter__(self):
        self._saved.append(_state.enabled)
        _state.enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _state.enabled = self._saved.pop()
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradMode(self.enabled):
                return fn(*args, **kwargs)
        return wrapper


def no_grad() -> _GradMode:
    """``with no_grad(): ...`` builds no graph (e.g. for parameter updates)."""
    return _GradMode(False)


def enable_grad() -> _GradMode:
    return _GradMode(True)


def mark_changed(node) -> None:
    """Note that ``node``'s numbers were just changed in place (outside the graph).

    ``_version`` counts the changes (as PyTorch's version counter does) and
    ``_changed`` is a creation number taken now: every node computed from
    ``node`` before this moment has ``_seq < node._changed`` and used the old
    numbers. Neither attribute exists until the first change (no cost per op).
    """
    node._nver = getattr(node, "_nver", 0) + 1
    node._changed = stamp = next_seq()
    if stamp > _changes.last:
        _changes.last = stamp


class _Changes:
    last = 0    # creation number of the latest in-place change anywhere (0: none yet)


_changes = _Changes()


#: ``_version`` of a Value or Tensor: how many times its numbers were changed in place (0 at first).
version = property(lambda node: getattr(node, "_nver", 0), doc="in-place changes so far, as in PyTorch")


def changed_after_use(nodes) -> list[tuple]:
    """``(changed, user)`` pairs that make a graph out of date; ``nodes`` in creation order
    (as :func:`ancestors` gives them).

    ``changed`` had its numbers changed in place after ``user`` was computed
    from them; ``user`` is ``changed`` itself when a computed node was
    overwritten after it was made (its value no longer follows from its inputs).
    Each changed node is listed once, with the first such user.

    Only nodes made before the latest change anywhere can be out of date, so a
    graph computed after the last optimizer step costs a look at its old
    leaves only, and one that nothing touched costs nothing.
    """
    found, seen = [], set()
    last = _changes.last
    if not last:
        return found
    for n in itertools.islice(nodes, bisect.bisect_left(nodes, last, key=_by_seq)):
        c = getattr(n, "_changed", 0)
        if c and n._parents() and c > n._seq and n not in seen:
            seen.add(n)
            found.append((n, n))
        for p in n._parents():
            c = getattr(p, "_changed", 0)
            if c and c > n._seq and p not in seen:
                seen.add(p)
                found.append((p, n))
    return found


def reverse_topological(root) -> list:
    """Nodes that ``root`` depends on and that require grad, ``root`` first.

    Iterative (a 10⁶-node chain needs no recursion) and each node appears once,
    however many paths lead to it.
    """
    seen = {root}
    stack = [root]
    found = []
    push, mark, keep = stack.append, seen.add, found.append
    while stack:
        node = stack.pop()
        keep(node)
        for p in node._parents():
            if p.requires_grad and p not in seen:
                mark(p)
                push(p)
    found.sort(key=_by_seq, reverse=True)
    return found


def ancestors(root) -> list:
    """Every node ``root`` was computed from (constants too) and ``root``, in evaluation order."""
    seen, stack, nodes = {root}, [root], []
    while stack:
        node = stack.pop()
        nodes.append(node)
        for p in node._parents():
            if p not in seen:
                seen.add(p)
                stack.append(p)
    nodes.sort(key=_by_seq)
    return nodes


# One sweep at a time, process-wide. Sweeps from several threads may share nodes (the
# parameters of one model, say): each node's ``_g`` buffer belongs to the sweep running, and a
# shared leaf's ``.grad += g`` is a read-modify-write. Taking turns makes every sweep's result
# exactly what it would be alone, and the shared ``.grad`` the sum of them all, as in PyTorch.
# The cost is one uncontended lock per backward() call; the sweeps are pure Python (or NumPy
# on small arrays), so the GIL serialised most of their work anyway. Reentrant, so a sweep
# inside a sweep's bookkeeping (``recorded_sweep``) in the same thread does not deadlock.
sweep_lock = threading.RLock()


def run_backward(root, seed, record=None) -> list:
    """One backward sweep from ``root`` with gradient ``seed``.

    Each node's buffer ``_g`` collects what its consumers send during this
    sweep only; when the node's turn comes (all consumers done) it is added to
    ``.grad`` (so repeated sweeps accumulate, as in PyTorch) and passed on.
    ``record``, if a list, receives one entry per node for the trace.
    Returns the order used. Safe to call from several threads at once
    (see ``sweep_lock``).
    """
    with sweep_lock:
        return _sweep(root, seed, record)


def _sweep(root, seed, record) -> list:
    # The sweep makes no reference cycles, so the cyclic collector has nothing
    # to find here; left on, it would re-scan the whole graph many times over.
    paused = gc.isenabled()
    gc.disable()
    try:
        order = reverse_topological(root)
        for node in order:
            node._g = None
        root._g = seed
        for node in order:
            node._backprop(record)
    finally:
        if paused:
            gc.enable()
    return order


def recorded_sweep(root, seed) -> tuple[list, list]:
    """A sweep for the record only: ``(record, [(node, its .grad before)])``, every ``.grad``
    put back as it was. Atomic with respect to other threads' sweeps, so none of their
    contributions to a shared ``.grad`` is lost when this one's is undone."""
    with sweep_lock:
        order = reverse_topological(root)
        saved = [(n, n.grad) for n in order]
        record: list = []
        try:
            _sweep(root, seed, record)
        finally:
            for n, g in saved:
                n.grad = g
    return record, saved
