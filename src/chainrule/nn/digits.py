"""From a handwritten digit to a trained network (lesson 10), end to end.

The data is scikit-learn's bundled 8×8 handwritten digits (1,797 images, no
download). Pixels are scaled to [0, 1]; a fixed, stratified 80/20 split comes
from the seed, so a saved model can always find its own test set again.

* :func:`train` -- an MLP trained with SGD + momentum, returning the model,
  per-epoch loss/accuracy and per-step gradient norms of every layer;
* :func:`explain` -- one test digit: the network's probabilities and the
  gradient of the loss with respect to each input pixel ("which pixels carry
  the blame");
* :func:`save_model` / :func:`load_model` -- ``.npz`` with the architecture
  and seed alongside the weights.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..optim import SGD
from ..tensor import Tensor, no_grad
from . import functional as F
from .data import batches
from .layers import Linear, ReLU, Sequential
from .module import load_arrays
from .plots import require

__all__ = ["DEFAULTS", "load_split", "build_mlp", "train", "evaluate", "explain", "save_model",
           "load_model", "TrainResult", "Explanation", "ascii_digit", "ascii_gradient"]

DEFAULTS = dict(hidden=(128, 64), epochs=30, lr=0.1, batch_size=32, seed=0, momentum=0.9,
                weight_decay=5e-4, test_size=0.2)
N_PIXELS, N_CLASSES, SIDE = 64, 10, 8


def load_split(seed: int = 0, test_size: float = 0.2):
    """``(X_train, X_test, y_train, y_test)``: pixels/16 as float64, labels int64, stratified by class."""
    seed = _check_seed(seed)
    datasets = require("sklearn.datasets")
    model_selection = require("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    X = X.astype(np.float64) / 16.0
    y = y.astype(np.int64)
    return tuple(model_selection.train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed))


def build_mlp(hidden=(128, 64), seed: int = 0, dtype=None) -> Sequential:
    """64 → hidden… → 10, ReLU between layers, PyTorch's default init from ``seed``."""
    rng = np.random.default_rng(seed)
    sizes = [N_PIXELS, *hidden, N_CLASSES]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(n_in, n_out, generator=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(ReLU())
    return Sequential(*layers)


def _check_hidden(hidden) -> tuple[int, ...]:
    try:
        sizes = tuple(int(h) for h in hidden)
    except (TypeError, ValueError):
        raise InputError(f"hidden layer sizes must be whole numbers, got {hidden!r}") from None
    if any(h < 1 or h > 65536 for h in sizes):
        raise InputError(f"hidden layer sizes must be between 1 and 65536, got {list(sizes)}")
    return sizes


def _check_seed(seed) -> int:
    # scikit-learn's split and NumPy's generators take 0 .. 2**32 - 1
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InputError(f"--seed must be a whole number from 0 to {2**32 - 1}, got {seed!r}")
    return seed


@dataclass
class TrainResult:
    model: Sequential
    hidden: tuple
    seed: int
    epochs: int
    test_accuracy: float
    train_accuracy: float
    seconds: float
    history: dict = field(default_factory=dict)       # per epoch: loss, train/test accuracy, lr
    grad_norms: dict = field(default_factory=dict)    # per layer: ‖∂loss/∂W‖ at every step
    steps_per_epoch: int = 0
    settings: dict = field(default_factory=dict)


@no_grad()
def evaluate(model, X, y) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on ``X``, ``y``."""
    logits = model(Tensor(X))
    loss = F.cross_entropy(logits, y).item()
    acc = float(np.mean(np.argmax(logits.data, axis=1) == y))
    return loss, acc


@np.errstate(over="ignore", invalid="ignore", divide="ignore")   # divergence is reported below, once
def train(hidden=DEFAULTS["hidden"], epochs: int = DEFAULTS["epochs"], lr: float = DEFAULTS["lr"],
          batch_size: int = DEFAULTS["batch_size"], seed: int = DEFAULTS["seed"],
          momentum: float = DEFAULTS["momentum"], weight_decay: float = DEFAULTS["weight_decay"],
          on_step=None, on_epoch=None) -> TrainResult:
    """Train an MLP on the digits; ``on_step()`` / ``on_epoch(epoch, stats)`` report progress.

    SGD with momentum and a little weight decay; the learning rate follows a
    cosine curve from ``lr`` down toward 0 over the epochs (big steps while
    far from a minimum, small ones to settle in).
    """
    hidden = _check_hidden(hidden)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InputError(f"--epochs must be a positive whole number, got {epochs!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise InputError(f"--lr must be a positive number, got {lr!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"--batch-size must be a positive whole number, got {batch_size!r}")
    X_tr, X_te, y_tr, y_te = load_split(seed)
    model = build_mlp(hidden, seed)
    opt = SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    order = np.random.default_rng([seed, 1])       # its own stream: shuffling ≠ init
    weights = [(f"layer {i + 1} ({m.in_features}→{m.out_features})", m.weight)
               for i, m in enumerate(x for x in model if isinstance(x, Linear))]
    history = {"loss": [], "train_accuracy": [], "test_accuracy": [], "test_loss": [], "lr": []}
    norms = {name: [] for name, _ in weights}
    t0 = time.perf_counter()
    for epoch in range(epochs):
        rate = lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
        opt.param_groups[0]["lr"] = rate
        total, count = 0.0, 0
        model.train()
        for xb, yb in batches(X_tr, y_tr, batch_size, shuffle=True, seed=order):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            for name, w in weights:
                norms[name].append(float(np.sqrt(np.vdot(w.grad, w.grad))))
            opt.step()
            total += loss.item() * len(yb)
            count += len(yb)
            if on_step is not None:
                on_step()
        model.eval()
        _, train_acc = evaluate(model, X_tr, y_tr)
        test_loss, test_acc = evaluate(model, X_te, y_te)
        for key, value in (("loss", total / count), ("train_accuracy", train_acc),
                           ("test_accuracy", test_acc), ("test_loss", test_loss), ("lr", rate)):
            history[key].append(value)
        if not math.isfinite(total):
            raise InputError(f"training diverged at epoch {epoch + 1} (loss is {total}); "
                             f"try a smaller --lr than {lr}")
        if on_epoch is not None:
            on_epoch(epoch + 1, {k: v[-1] for k, v in history.items()})
    seconds = time.perf_counter() - t0
    return TrainResult(model=model, hidden=hidden, seed=seed, epochs=epochs,
                       test_accuracy=history["test_accuracy"][-1],
                       train_accuracy=history["train_accuracy"][-1], seconds=seconds, history=history,
                       grad_norms=norms, steps_per_epoch=math.ceil(len(X_tr) / batch_size),
                       settings=dict(lr=lr, batch_size=batch_size, momentum=momentum,
                                     weight_decay=weight_decay, schedule="cosine"))


def save_model(result: TrainResult, path) -> str:
    meta = {"kind": "digits-mlp", "hidden": list(result.hidden), "seed": result.seed,
            "epochs": result.epochs, "test_accuracy": result.test_accuracy, **result.settings}
    return result.model.save(path, meta=meta)


def load_model(path) -> tuple[Sequential, dict]:
    """A digits model saved by :func:`save_model`, and its metadata (hidden sizes, seed, ...)."""
    arrays, meta = load_arrays(path)
    if meta.get("kind") != "digits-mlp" or "hidden" not in meta:
        raise InputError(f"{path!s} is not a digits model saved by 'chainrule train digits'")
    try:
        meta["seed"] = _check_seed(meta.get("seed", 0))
    except InputError as e:
        raise InputError(f"{path!s}: {e} in its metadata") from None
    hidden = _check_hidden(meta["hidden"])
    # Compare with the arrays before building: metadata alone must not make us allocate
    # (hidden [65536, 65536] asks for 32 GiB), and the arrays have passed load_arrays' size cap.
    sizes = [N_PIXELS, *hidden, N_CLASSES]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for key, shape in ((f"{2 * i}.weight", (n_out, n_in)), (f"{2 * i}.bias", (n_out,))):
            got = arrays.get(key)
            if got is None or got.shape != shape:
                found = "missing" if got is None else f"shape {got.shape}"
                raise InputError(f"{path!s}: its metadata says hidden {list(hidden)}, so {key} should have "
                                 f"shape {shape}, but it is {found}")
    model = build_mlp(hidden, meta["seed"])
    model.load_state_dict(arrays)
    for name, p in model.named_parameters():
        if not np.all(np.isfinite(p.data)):
            raise InputError(f"{path!s}: parameter {name} holds nan or inf (a damaged or diverged model)")
    return model.eval(), meta


@dataclass
class Explanation:
    index: int
    image: np.ndarray        # (8, 8) in [0, 1]
    label: int
    prediction: int
    probabilities: np.ndarray
    loss: float
    grad: np.ndarray         # (8, 8): ∂loss/∂pixel
    n_test: int = 0
    misclassified: list = field(default_factory=list)   # test indices the model gets wrong


def explain(model, seed: int, index: int) -> Explanation:
    """Test digit ``index`` of the split made from ``seed``: probabilities and ∂loss/∂pixel.

    The pixels become a leaf that requires grad; one backward pass then gives
    the blame of every pixel, exactly as it gives the blame of every weight.
    """
    _, X_te, _, y_te = load_split(seed)
    n = len(X_te)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
        raise InputError(f"--index {index} is out of range: the test set has {n} digits (0..{n - 1})")
    model.eval()
    with no_grad():
        wrong = np.nonzero(np.argmax(model(Tensor(X_te)).data, axis=1) != y_te)[0].tolist()
    x = Tensor(X_te[index:index + 1], requires_grad=True)
    logits = model(x)
    label = int(y_te[index])
    loss = F.cross_entropy(logits, np.array([label]))
    loss.backward()
    probs = np.exp(logits.data[0] - logits.data[0].max())
    probs /= probs.sum()
    return Explanation(index=index, image=X_te[index].reshape(SIDE, SIDE), label=label,
                       prediction=int(np.argmax(probs)), probabilities=probs, loss=loss.item(),
                       grad=x.grad.reshape(SIDE, SIDE).copy(), n_test=n, misclassified=wrong)


# -- terminal pictures -------------------------------------------------------------

_INK = " .:-=+*#%@"
_SHADE = " ░▒▓█"


def ascii_digit(image: np.ndarray) -> list[str]:
    """One line per pixel row, two characters per pixel (terminal cells are tall)."""
    levels = np.clip((image * (len(_INK) - 1)).round().astype(int), 0, len(_INK) - 1)
    return ["".join(_INK[v] * 2 for v in row) for row in levels]


def ascii_gradient(grad: np.ndarray) -> list[str]:
    """Signed shading: ``+▓`` more ink here raises the loss, ``-▓`` more ink here lowers it."""
    top = float(np.abs(grad).max()) or 1.0
    lines = []
    for row in grad:
        cells = []
        for g in row:
            level = int(round(abs(g) / top * (len(_SHADE) - 1)))
            cells.append("  " if level == 0 else ("+" if g > 0 else "-") + _SHADE[level])
        lines.append("".join(cells))
    return lines
