"""Slopes and landscapes: ``chainrule slope`` and ``chainrule landscape``.

* **slope** (seed 003's slider): a program's value and derivative in one input at a point, the
  tangent line's prediction ``f(x + dx) ≈ f(x) + f′(x)·dx`` against the true value, and the curve
  around the point;
* **landscape** (seed 003's heat map): the output over two inputs, the two slices through the
  point with their slopes (the partial derivatives), gradient arrows, and a gradient-descent path.

Every number is a run of the program with the scalar engine (values by the forward pass,
slopes by ``backward()``); a point outside the program's domain (``log`` of a negative) is a gap
(``None``), never an error.
"""
from __future__ import annotations

import math

from ..errors import InputError, ProgramError

__all__ = ["pick_input", "point_value", "slope", "landscape", "MAX_GRID", "MAX_STEPS", "parse_range"]

MAX_GRID = 201
MAX_STEPS = 1000
CURVE_SAMPLES = 201


def pick_input(program, name: str | None, option: str) -> str:
    """The input ``name`` of ``program`` (a clear error naming the inputs if it is not one)."""
    from ..lang import _close, plain_name
    inputs = program.inputs
    if name is None:
        if "x" in inputs or len(inputs) == 1:
            return "x" if "x" in inputs else inputs[0]
        if not inputs:
            raise InputError(f"the program has no inputs: {program.output} is a constant, so it has no slope")
        raise InputError(f"the program has inputs {', '.join(inputs)}: say which one to vary with {option} NAME")
    name = plain_name(name)
    if name not in inputs:
        if name in program.assigned:
            raise InputError(f"{option} {name}: '{name}' is computed by the program, not an input; its inputs: "
                             f"{', '.join(inputs) or '(none)'}")
        close = _close(name, inputs)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise InputError(f"{option} {name}: not an input of the program{hint}; its inputs: "
                         f"{', '.join(inputs) or '(none)'}")
    return name


def parse_range(text: str | None, option: str):
    """``"-1,3"`` -> ``(-1.0, 3.0)`` (None stays None)."""
    if text is None:
        return None
    from ..lang import parse_number
    parts = [p for p in str(text).replace(" ", ",").split(",") if p]
    try:
        lo, hi = (parse_number(p) for p in parts)
    except ValueError:
        raise InputError(f"{option} {text!r}: expected two numbers LOW,HIGH, e.g. {option} -1,3") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
        raise InputError(f"{option} {text}: expected LOW,HIGH with LOW < HIGH, both finite")
    return lo, hi


def _check_values(program, at: dict) -> dict:
    from ..lang import _check_values
    return _check_values(program, at, "ignore")


def point_value(program, values: dict, wrt=()):
    """(value, {name: ∂/∂name}) at ``values``; (None, None) where the program is undefined."""
    try:
        run = program.run(values, unused="ignore")
    except (ProgramError, InputError):   # undefined there, or a point that is not a finite number
        return None, None
    if not wrt:
        return run.value, {}
    grads = run.grads()
    return run.value, {n: grads[n] for n in wrt}


def _finite(v):
    return v if v is not None and math.isfinite(v) else None


def _samples(lo: float, hi: float, n: int) -> list[float]:
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _curve(program, at: dict, name: str, lo: float, hi: float, n: int = CURVE_SAMPLES):
    xs = _samples(lo, hi, n)
    values = [_finite(point_value(program, dict(at, **{name: u}))[0]) for u in xs]
    return xs, values


def slope(program, at: dict, x: str | None = None, dx: float = 0.1, span=None) -> dict:
    """Value, derivative and the tangent-line prediction of ``program`` in input ``x`` at ``at``."""
    name = pick_input(program, x, "--x")
    at = _check_values(program, at)
    if not math.isfinite(dx) or dx == 0:
        raise InputError(f"--dx {dx}: the step must be a finite number other than 0")
    run = program.run(at, unused="ignore")
    value = run.value
    d = run.grads()[name]
    x0 = at[name]
    x1 = x0 + dx
    prediction = value + d * dx if math.isfinite(d) else math.nan
    true1 = point_value(program, dict(at, **{name: x1}))[0]
    if span is None:
        half = max(2.0, 4 * abs(dx))
        span = (x0 - half, x0 + half)
    xs, values = _curve(program, at, name, *span)
    warnings = []
    if not math.isfinite(d):
        warnings += run.trace().warnings or [f"∂{program.output}/∂{name} is {d} at {name} = {x0}"]
    error = None if true1 is None or not math.isfinite(prediction) else true1 - prediction
    return {"output": program.output, "x": name, "at": x0, "inputs": dict(at), "dx": dx, "value": value,
            "derivative": d, "prediction": prediction, "at_next": x1, "true_value": true1, "error": error,
            "relative_error": (abs(error) / abs(true1 - value) if error is not None and true1 != value else None),
            "curve": {"xs": xs, "values": values}, "warnings": warnings}


def _window(values: list[float], lo_hi=None):
    if lo_hi is not None:
        return lo_hi
    lo, hi = min(values), max(values)
    pad = max(1.0, 0.25 * (hi - lo))
    lo, hi = lo - pad, hi + pad
    step = 10.0 ** math.floor(math.log10(hi - lo)) / 2     # round outward to a round number
    return math.floor(lo / step) * step, math.ceil(hi / step) * step


def landscape(program, at: dict, x: str, y: str, steps: int = 20, lr: float = 0.1, grid: int = 41,
              arrows: int = 9, xrange=None, yrange=None) -> dict:
    """The output over inputs ``x`` and ``y`` around ``at``: heat map, slices, arrows, descent path."""
    from ..lang import gradient_step
    nx, ny = pick_input(program, x, "--x"), pick_input(program, y, "--y")
    if nx == ny:
        raise InputError(f"--x and --y are both {nx}: a landscape needs two different inputs")
    at = _check_values(program, at)
    if not (isinstance(steps, int) and 0 <= steps <= MAX_STEPS):
        raise InputError(f"--steps {steps}: expected a whole number from 0 to {MAX_STEPS}")
    if not (math.isfinite(lr) and lr > 0):
        raise InputError(f"--lr {lr}: the learning rate must be a positive finite number, e.g. --lr 0.1")
    if not (isinstance(grid, int) and 3 <= grid <= MAX_GRID):
        raise InputError(f"--grid {grid}: expected a whole number from 3 to {MAX_GRID}")
    value, grads = point_value(program, at, (nx, ny))
    trajectory = [{nx: at[nx], ny: at[ny], "value": value}]
    stopped = None
    values = dict(at)
    for _ in range(steps):
        try:
            s = gradient_step(program, values, lr, (nx, ny), unused="ignore")
        except InputError as e:    # a slope that is not finite, or a step that overflows
            stopped = str(e)
            break
        if s.after is None:
            stopped = f"the step left the program's domain ({s.after_error})"
            break
        values = dict(values, **{nx: s.new_values[nx], ny: s.new_values[ny]})
        trajectory.append({nx: values[nx], ny: values[ny], "value": s.after.value})
    x_lo, x_hi = _window([p[nx] for p in trajectory], xrange)
    y_lo, y_hi = _window([p[ny] for p in trajectory], yrange)
    xs, ys = _samples(x_lo, x_hi, grid), _samples(y_lo, y_hi, grid)
    heat = [[_finite(point_value(program, dict(at, **{nx: u, ny: v}))[0]) for u in xs] for v in ys]
    marks = []
    for v in _samples(y_lo, y_hi, arrows + 2)[1:-1]:
        for u in _samples(x_lo, x_hi, arrows + 2)[1:-1]:
            f, g = point_value(program, dict(at, **{nx: u, ny: v}), (nx, ny))
            if f is not None and all(math.isfinite(g[k]) for k in (nx, ny)):
                marks.append({"at": [u, v], "grad": [g[nx], g[ny]]})
    sx = _curve(program, at, nx, x_lo, x_hi)
    sy = _curve(program, at, ny, y_lo, y_hi)
    finite = [v for row in heat for v in row if v is not None]
    return {"output": program.output, "x": nx, "y": ny, "at": dict(at), "value": value,
            "partials": {nx: grads[nx], ny: grads[ny]},
            "gradient_norm": math.hypot(grads[nx], grads[ny]),
            "slices": {nx: {"held": {ny: at[ny]}, "xs": sx[0], "values": sx[1], "slope": grads[nx]},
                       ny: {"held": {nx: at[nx]}, "xs": sy[0], "values": sy[1], "slope": grads[ny]}},
            "grid": {"xs": xs, "ys": ys, "values": heat,
                     "min": min(finite) if finite else None, "max": max(finite) if finite else None},
            "arrows": marks, "lr": lr, "steps": steps, "trajectory": trajectory, "stopped": stopped}
