"""Forward vs reverse mode, measured: ``chainrule modes``.

Two functions, each differentiated completely both ways with :func:`chainrule.jacobian`:

* **n inputs → 1 output**, a loss of n weights: ``L(w) = mean((w ⊙ x − y)²)``. Forward mode
  needs one pass per weight (n passes); reverse mode one backward sweep, whatever n.
* **1 input → n outputs**: ``y(t) = sin(t · c)`` for n constants c. Forward mode needs one
  pass; reverse mode one sweep per output (n sweeps).

Each row counts passes and primitive evaluations (as they happen, see
:class:`chainrule.jacobians.JacobianCost`) and times both (the best of a few runs), and checks
that the two modes agree. The data ``x``, ``y``, ``c`` come from the lab's reproducible stream.
"""
from __future__ import annotations

import time

import numpy as np

from ..errors import InputError

__all__ = ["DEFAULT_INPUTS", "MAX_N", "parse_inputs", "loss_data", "many_to_one", "one_to_many", "measure", "run_modes"]

DEFAULT_INPUTS = (1, 10, 100, 1000)
MAX_N = 10_000
MANY_TO_ONE = "L(w) = mean((w ⊙ x − y)²)"
ONE_TO_MANY = "y(t) = sin(t · c)"


def parse_inputs(text: str) -> list[int]:
    """``"1,10,100"`` -> ``[1, 10, 100]``: whole numbers from 1 to :data:`MAX_N`, sorted, each once."""
    out = []
    for part in str(text).replace(" ", ",").split(","):
        if not part.strip():
            continue
        try:
            n = int(part.replace("_", ""))
        except ValueError:
            raise InputError(f"--inputs {part!r}: expected whole numbers such as --inputs 1,10,100,1000") from None
        if not 1 <= n <= MAX_N:
            raise InputError(f"--inputs {n}: each n must be from 1 to {MAX_N:,}")
        out.append(n)
    if not out:
        raise InputError("--inputs: give at least one n, e.g. --inputs 1,10,100,1000")
    return sorted(set(out))


def loss_data(n: int, seed: int = 0):
    """(w, x, y) of :func:`many_to_one`: n numbers each, from the lab's reproducible stream, in (−1, 1)."""
    from .vanish import uniforms
    u = uniforms(seed + 1, 0, 3 * n)
    return 2 * u[:n] - 1, 2 * u[n:2 * n] - 1, 2 * u[2 * n:] - 1


def many_to_one(n: int, seed: int = 0):
    """(f, the point): ``f(w) = mean((w ⊙ x − y)²)`` at a w of n numbers."""
    w, x, y = loss_data(n, seed)

    def f(w):
        return ((w * x - y) ** 2).mean()
    return f, w


def one_to_many(n: int):
    """(f, the point): ``f(t) = sin(t · c)`` with c = n numbers from 0.5 to 2, at t = 0.7."""
    c = np.linspace(0.5, 2.0, n)

    def f(t):
        return (t * c).sin()
    return f, np.array([0.7])


def _timed(f, point, mode: str, repeat: int):
    from ..jacobians import jacobian_cost
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        J, cost = jacobian_cost(f, point, mode)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return J, cost, best


def measure(f, point, n: int, repeat: int = 3) -> dict:
    """Both modes on ``f`` at ``point``: passes, evaluations, seconds (best of ``repeat``), agreement."""
    Jf, cf, tf = _timed(f, point, "forward", 1)
    Jr, cr, tr = _timed(f, point, "reverse", 1)
    if repeat > 1 and tf + tr < 0.2:      # quick: take the best of a few runs (the first pays for warming up)
        tf = min(tf, _timed(f, point, "forward", repeat - 1)[2])
        tr = min(tr, _timed(f, point, "reverse", repeat - 1)[2])
    diff = float(np.max(np.abs(Jf - Jr))) if Jf.size else 0.0
    scale = float(np.max(np.abs(Jr))) if Jr.size else 0.0
    return {"n": n, "forward_passes": cf.passes, "reverse_passes": cr.passes,
            "forward_evaluations": cf.evaluations, "reverse_evaluations": cr.evaluations,
            "forward_seconds": tf, "reverse_seconds": tr, "max_difference": diff,
            "agree": bool(diff <= 1e-12 * max(scale, 1.0))}


def _crossover(rows, faster: str) -> int | None:
    """The smallest n from which ``faster`` mode is quicker at every n measured."""
    other = "forward" if faster == "reverse" else "reverse"
    found = None
    for r in reversed(rows):
        if r[f"{faster}_seconds"] < r[f"{other}_seconds"]:
            found = r["n"]
        else:
            break
    return found


def run_modes(ns=DEFAULT_INPUTS, repeat: int = 3) -> dict:
    rows = [measure(*many_to_one(n), n, repeat) for n in ns]
    other = [measure(*one_to_many(n), n, repeat) for n in ns]
    return {"rows": rows, "one_to_many": other,
            "functions": {"rows": MANY_TO_ONE, "one_to_many": ONE_TO_MANY},
            "crossover": {"rows": _crossover(rows, "reverse"), "one_to_many": _crossover(other, "forward")},
            "agree": all(r["agree"] for r in rows + other),
            "max_difference": max(r["max_difference"] for r in rows + other)}
