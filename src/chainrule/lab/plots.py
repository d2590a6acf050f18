"""The lab's plots (matplotlib, imported only when a plot is drawn; PNG or SVG by the file name).

Figures are built with ``matplotlib.figure.Figure`` on the Agg canvas: no pyplot, no GUI
backend, nothing left open. Without matplotlib a plot is refused with one line saying how to
install it (``pip install matplotlib``, or the ``[plot]`` extra).
"""
from __future__ import annotations

import math
import os

import numpy as np

from ..errors import ChainruleError, InputError
from ..files import atomic_write
from ..numfmt import fmt

__all__ = ["PLOT_FORMATS", "plot_format", "plot_vanish", "plot_modes", "plot_slope", "plot_landscape"]

PLOT_FORMATS = ("png", "svg")
HINT = "pip install matplotlib (or pip install 'chainrule[plot]')"


def plot_format(path: str) -> str:
    """``png`` or ``svg`` from the file name; a clear error for anything else."""
    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    if ext not in PLOT_FORMATS:
        raise InputError(f"-o {path}: a plot is written as .png or .svg (the name says which)")
    return ext


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ChainruleError(f"matplotlib is needed to draw the plot: {HINT}") from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str) -> str:
    fmt = plot_format(path)
    try:
        return atomic_write(path, lambda f: fig.savefig(f, format=fmt), suffix="." + fmt)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None


def _positive(values):
    """Values for a log axis: zeros and non-finite numbers become gaps (nan)."""
    a = np.asarray(values, dtype=float)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def plot_vanish(nets: list[dict], chains: list[dict], path: str) -> str:
    """Left: ‖∂L/∂Wₗ‖ per layer, one line per configuration (log scale). Right: the scalar chain's
    running product of factors per activation, with the slope bound."""
    fig = _figure(11, 4.2)
    left, right = fig.subplots(1, 2, width_ratios=[1.4, 1])
    for i, net in enumerate(nets):
        layers = np.arange(1, len(net["grad_norms"]) + 1)
        extra = (" + residual" if net["residual"] else "") + (" + norm" if net["norm"] else "")
        left.plot(layers, _positive(net["grad_norms"]), marker="o", ms=3, color=f"C{i % 10}",
                  label=f"{net['act']}, {net['init']}{extra} ({net['verdict']})")
    left.set(yscale="log", xlabel="layer (1 = nearest the input)", ylabel="‖∂L/∂W‖ (Frobenius)",
             title=f"Gradient norm per layer at initialisation (depth {nets[0]['depth']}, width {nets[0]['width']})")
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=8)
    for i, ch in enumerate(chains):
        running = np.cumprod(np.abs(ch["factors"]))
        layers = np.arange(1, len(running) + 1)
        right.plot(layers, _positive(running), marker="o", ms=3, color=f"C{i % 10}",
                   label=f"{ch['act']}: |product| = {fmt(running[-1], 3)}")
        if ch["slope_max"] < 1:
            right.plot(layers, ch["slope_max"] ** layers, ls="--", color=f"C{i % 10}", lw=1,
                       label=f"{ch['act']}′ ≤ {fmt(ch['slope_max'])}: {fmt(ch['slope_max'])}ⁿ")
    right.set(yscale="log", xlabel="factors multiplied", ylabel="|running product|",
              title="One neuron per layer: the chain's product")
    right.grid(alpha=0.3, which="both")
    right.legend(fontsize=8)
    return _save(fig, path)


def plot_modes(result: dict, path: str) -> str:
    """Time and passes against n, forward vs reverse, for the two functions."""
    fig = _figure(11, 4.2)
    axes = fig.subplots(1, 2)
    for ax, key, title in ((axes[0], "rows", "n inputs → 1 output (a loss of n weights)"),
                           (axes[1], "one_to_many", "1 input → n outputs")):
        rows = result[key]
        ns = [r["n"] for r in rows]
        ax.plot(ns, [r["forward_seconds"] for r in rows], marker="o", label="forward mode (time)")
        ax.plot(ns, [r["reverse_seconds"] for r in rows], marker="s", label="reverse mode (time)")
        ax.set(xscale="log", yscale="log", xlabel="n", ylabel="seconds", title=title)
        ax.grid(alpha=0.3, which="both")
        twin = ax.twinx()
        twin.plot(ns, [r["forward_passes"] for r in rows], ls=":", color="C0", label="forward passes")
        twin.plot(ns, [r["reverse_passes"] for r in rows], ls=":", color="C1", label="reverse passes")
        twin.set(yscale="log", ylabel="passes (dotted)")
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    return _save(fig, path)


def plot_slope(result: dict, path: str) -> str:
    """The curve, the tangent line at the point, and the prediction against the true value."""
    fig = _figure(6.5, 4.2)
    ax = fig.subplots()
    xs, ys = np.asarray(result["curve"]["xs"]), np.asarray(result["curve"]["values"], dtype=float)
    x0, f0, d = result["at"], result["value"], result["derivative"]
    ax.plot(xs, ys, color="C0", label=f"{result['output']}({result['x']})")
    ax.plot(xs, f0 + d * (xs - x0), color="C3", ls="--", label=f"tangent, slope {fmt(d, 4)}")
    ax.plot([x0], [f0], "o", color="C3")
    x1 = x0 + result["dx"]
    ax.plot([x1], [result["prediction"]], "^", color="C3", label=f"prediction {fmt(result['prediction'], 4)}")
    if result["true_value"] is not None:
        ax.plot([x1], [result["true_value"]], "s", color="C2", label=f"true value {fmt(result['true_value'], 4)}")
    finite = ys[np.isfinite(ys)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        pad = 0.1 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set(xlabel=result["x"], ylabel=result["output"],
           title=f"slope of {result['output']} at {result['x']} = {fmt(x0)}: {fmt(d, 4)}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_landscape(result: dict, path: str) -> str:
    """Heat map with gradient arrows and the descent path; the two slices through the point."""
    fig = _figure(11, 4.6)
    heat, sx, sy = fig.subplots(1, 3, width_ratios=[1.4, 1, 1])
    g = result["grid"]
    xs, ys = np.asarray(g["xs"]), np.asarray(g["ys"])
    values = np.asarray([[math.nan if v is None else v for v in row] for row in g["values"]], dtype=float)
    im = heat.imshow(values, origin="lower", extent=(xs[0], xs[-1], ys[0], ys[-1]), aspect="auto",
                     cmap="viridis")
    fig.colorbar(im, ax=heat, shrink=0.85, label=result["output"])
    arrows = result["arrows"]
    if arrows:
        ax_, ay_ = np.array([a["at"][0] for a in arrows]), np.array([a["at"][1] for a in arrows])
        gx, gy = np.array([a["grad"][0] for a in arrows]), np.array([a["grad"][1] for a in arrows])
        heat.quiver(ax_, ay_, -gx, -gy, color="white", alpha=0.7, angles="xy")
    path_x = [p[result["x"]] for p in result["trajectory"]]
    path_y = [p[result["y"]] for p in result["trajectory"]]
    heat.plot(path_x, path_y, "-o", color="C3", ms=3, label=f"gradient descent (lr {fmt(result['lr'])})")
    heat.plot([result["at"][result["x"]]], [result["at"][result["y"]]], "*", color="white", ms=12)
    heat.set(xlabel=result["x"], ylabel=result["y"], xlim=(xs[0], xs[-1]), ylim=(ys[0], ys[-1]),
             title=f"{result['output']}({result['x']}, {result['y']}), arrows: −gradient")
    heat.legend(fontsize=8, loc="upper right")
    for ax, name in ((sx, result["x"]), (sy, result["y"])):
        s = result["slices"][name]
        u = np.asarray(s["xs"])
        v = np.asarray([math.nan if t is None else t for t in s["values"]], dtype=float)
        u0, v0 = result["at"][name], result["value"]
        ax.plot(u, v, color="C0")
        ax.plot(u, v0 + s["slope"] * (u - u0), "--", color="C3", label=f"slope ∂{result['output']}/∂{name} = {fmt(s['slope'], 4)}")
        ax.plot([u0], [v0], "o", color="C3")
        held = ", ".join(f"{k} = {fmt(w)}" for k, w in s["held"].items())
        ax.set(xlabel=name, ylabel=result["output"], title=f"slice: vary {name}, {held}")
        finite = v[np.isfinite(v)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            pad = 0.1 * (hi - lo or 1.0)
            ax.set_ylim(lo - pad, hi + pad)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)
