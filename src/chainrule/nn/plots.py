"""PNG plots for training runs (matplotlib, imported only when a plot is drawn).

Figures are built with ``matplotlib.figure.Figure`` directly rather than
``pyplot``: no global backend switch, no GUI window, nothing left open.
"""
from __future__ import annotations


import numpy as np

from ..errors import ChainruleError
from ..files import atomic_write
from ..numfmt import percent

__all__ = ["require", "missing", "plot_training", "plot_grad_norms", "plot_explanation"]

PIP_HINT = "pip install scikit-learn matplotlib"


def require(module: str):
    """Import an optional dependency, or raise a one-line error saying how to install it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        name = "scikit-learn" if top == "sklearn" else top
        raise ChainruleError(f"{name} is needed for this command: {PIP_HINT}") from None


def missing(module: str = "matplotlib") -> str | None:
    """None if ``module`` imports, else a one-line note saying what is skipped without it and how to install it."""
    import importlib
    try:
        importlib.import_module(module)
    except ImportError:
        return f"{module} is not installed, so no PNG plots were drawn (pip install {module} to get them)"
    return None


def _figure(*size):
    require("matplotlib")
    from matplotlib.figure import Figure
    return Figure(figsize=size, dpi=100, layout="constrained")


def _save(fig, path) -> str:
    """Save via a temporary file + os.replace, so a failed save leaves the old PNG intact."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png"), suffix=".png")


def plot_training(history: dict, path) -> str:
    """Loss per epoch (left) and train/test accuracy per epoch (right)."""
    fig = _figure(9, 3.6)
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax_loss.plot(epochs, history["loss"], marker="o", ms=3, label="training loss")
    if history.get("test_loss"):
        ax_loss.plot(epochs, history["test_loss"], marker="o", ms=3, label="test loss")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss", yscale="log")
    ax_loss.legend()
    ax_acc.plot(epochs, 100 * np.asarray(history["train_accuracy"]), marker="o", ms=3, label="train")
    ax_acc.plot(epochs, 100 * np.asarray(history["test_accuracy"]), marker="o", ms=3, label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    ax_acc.legend(loc="lower right")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_grad_norms(grad_norms: dict[str, list[float]], steps_per_epoch: int, path) -> str:
    """‖∂loss/∂W‖ for each layer's weight, every step: how much blame reaches each layer."""
    fig = _figure(7, 3.8)
    ax = fig.subplots()
    per = max(steps_per_epoch, 1)
    for i, (name, norms) in enumerate(grad_norms.items()):
        color = f"C{i}"
        norms = np.asarray(norms, dtype=float)
        ax.plot(np.arange(1, len(norms) + 1) / per, norms, lw=0.6, alpha=0.3, color=color)
        # the per-epoch mean, so the trend shows through the step-to-step noise
        n_epochs = len(norms) // per
        if n_epochs:
            means = norms[:n_epochs * per].reshape(n_epochs, per).mean(axis=1)
            ax.plot(np.arange(1, n_epochs + 1), means, lw=2, color=color, label=f"{name} (epoch mean)")
    ax.set(xlabel="epoch", ylabel="‖gradient‖ (Frobenius)", yscale="log",
           title="Gradient norm per layer during training")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def plot_explanation(image: np.ndarray, grad: np.ndarray, probs: np.ndarray, label: int, pred: int,
                     index: int, path) -> str:
    """The digit, ∂loss/∂pixel as a diverging heat map, and the class probabilities."""
    fig = _figure(11, 3.6)
    ax_img, ax_grad, ax_p = fig.subplots(1, 3, width_ratios=[1, 1.25, 1.3])
    ax_img.imshow(image, cmap="gray_r", vmin=0, vmax=1)
    ax_img.set_title(f"test digit #{index}: label {label}")
    lim = float(np.abs(grad).max()) or 1.0
    im = ax_grad.imshow(grad, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax_grad.set_title("∂loss/∂pixel (red: more ink → higher loss)")
    fig.colorbar(im, ax=ax_grad, shrink=0.85)
    for ax in (ax_img, ax_grad):
        ax.set_xticks([])
        ax.set_yticks([])
    colors = ["tab:green" if c == label else ("tab:red" if c == pred else "tab:gray") for c in range(len(probs))]
    ax_p.barh(np.arange(len(probs)), probs, color=colors)
    ax_p.set(yticks=np.arange(len(probs)), xlim=(0, 1), xlabel="probability",
             title=f"prediction: {pred} ({percent(probs[pred])})")
    ax_p.invert_yaxis()
    return _save(fig, path)
