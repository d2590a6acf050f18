"""Time limits that really stop a computation running in a worker thread.

Why not just stop waiting: a request that explains a pathological program
keeps its thread busy long after the client was told "too slow", and the
next requests queue behind it. So when a limit expires, the thread itself is
interrupted: :data:`OverBudget` is raised inside it (CPython's
``PyThreadState_SetAsyncExc``) at its next bytecode, unwinding the engine's
``with`` and ``finally`` blocks as any exception would. It derives from
``BaseException`` so that the engine's ``except Exception`` cannot swallow it.

    with limit(2.0) as lim:      # in any thread
        work()
    if lim.expired: ...          # the work was cut short at 2 s

Limits nest (the whole request, and inside it an optional part such as the
drawing); the outermost expired one wins. A limit that expires while its
thread is inside a long C call (one big ``json.dumps``) takes effect when
the call returns, so callers keep a wall-clock wait on top.
"""
from __future__ import annotations

import ctypes
import sys
import threading
import time

__all__ = ["OverBudget", "limit"]

REFIRE = 0.1   # seconds before a fired limit whose thread has not unwound is fired again


class OverBudget(BaseException):
    """Raised inside a thread whose time limit expired."""


def _raise_in(thread_id: int, exc) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exc) if exc is not None else None)


class _Limit:
    __slots__ = ("owner", "seconds", "deadline", "thread", "depth", "fired", "expired")

    def __init__(self, owner: "_Deadlines", seconds: float):
        self.owner, self.seconds = owner, seconds
        self.deadline = self.fired = 0.0
        self.thread = self.depth = 0
        self.expired = False

    def __enter__(self) -> "_Limit":
        self.thread = threading.get_ident()
        self.deadline = time.monotonic() + self.seconds
        self.owner.push(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.owner.pop(self)
        if exc_type is not None and issubclass(exc_type, OverBudget) and self.fired:
            self.expired = True
            return True    # ours: the work stops here
        return False       # an outer limit's, or no limit at all: let it go on up


class _Deadlines:
    """The limits of every thread, and one daemon thread that fires them when they expire."""

    def __init__(self):
        self.cond = threading.Condition(threading.Lock())
        self.stacks: dict[int, list[_Limit]] = {}
        self.monitor: threading.Thread | None = None
        self.wake = float("inf")   # when the watcher next looks (it sleeps until the earliest deadline)

    def push(self, lim: _Limit) -> None:
        with self.cond:
            stack = self.stacks.setdefault(lim.thread, [])
            lim.depth = len(stack)
            stack.append(lim)
            if self.monitor is None or not self.monitor.is_alive():
                self.monitor = threading.Thread(target=self._watch, name="chainrule-deadlines", daemon=True)
                self.monitor.start()
            # Wake the watcher only if this deadline comes before the one it sleeps until: a request
            # pushes two limits, and waking a thread for each costs a GIL hand-over under load.
            if lim.deadline < self.wake:
                self.cond.notify()

    def pop(self, lim: _Limit) -> None:
        while True:   # an exception fired just before we took the lock surfaces inside it: then again
            try:
                with self.cond:
                    stack = self.stacks.get(lim.thread, [])
                    gone = stack[lim.depth:]
                    del stack[lim.depth:]       # inner limits that an exception skipped go too
                    if not stack:
                        self.stacks.pop(lim.thread, None)
                    if any(g.fired for g in gone):
                        # A fired exception may still be pending (not raised yet): cancel it under the
                        # lock, so it cannot surface after this block. An outer limit that fired is
                        # fired again by the watcher.
                        _raise_in(lim.thread, None)
                return
            except OverBudget:
                continue

    def _watch(self) -> None:
        with self.cond:
            while True:
                now = time.monotonic()
                wake = now + 60
                for thread, stack in list(self.stacks.items()):
                    for lim in stack:        # outermost first: when it has expired, it is the one to stop
                        if lim.fired:
                            due = lim.fired + REFIRE
                        else:
                            due = lim.deadline
                        if due <= now:
                            lim.fired = now
                            _raise_in(thread, OverBudget)
                            due = now + REFIRE
                        wake = min(wake, due)
                        if lim.fired:
                            break            # inner limits do not matter while this one unwinds
                self.wake = wake
                self.cond.wait(max(0.001, wake - time.monotonic()))


_DEADLINES = _Deadlines()


def _quiet_unraisable(hook):
    def unraisable(info):
        # A stop that lands in a __del__ run by the garbage collector is dropped there (and fired
        # again a moment later): not worth the "Exception ignored" report on stderr.
        if not isinstance(info.exc_value, OverBudget):
            hook(info)
    unraisable.chainrule_budget = True
    return unraisable


if not getattr(sys.unraisablehook, "chainrule_budget", False):
    sys.unraisablehook = _quiet_unraisable(sys.unraisablehook)


def limit(seconds: float) -> _Limit:
    """A context manager that raises :class:`OverBudget` in this thread after ``seconds`` and catches it."""
    return _Limit(_DEADLINES, float(seconds))
