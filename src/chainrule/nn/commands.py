"""``chainrule train digits`` and ``chainrule digits explain`` (registered by :mod:`chainrule.cli`).

Heavy imports (scikit-learn, matplotlib, rich) happen inside the handlers, so
``chainrule --help`` stays fast.
"""
from __future__ import annotations

import json
import os
import sys

from ..errors import InputError
from ..numfmt import fixed, fmt, percent

__all__ = ["register", "DEFAULT_OUT"]

DEFAULT_OUT = "chainrule-digits"
MODEL_FILE, CURVES_FILE, NORMS_FILE = "model.npz", "training.png", "gradient-norms.png"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a small network: train digits",
        description="Train a network with chainrule's own Tensor, nn and optim.")
    train_sub = p.add_subparsers(dest="train_what", metavar="DATASET")
    p.set_defaults(func=lambda args, p=p: _missing(p))
    q = train_sub.add_parser(
        "digits", help="an MLP on scikit-learn's 8×8 handwritten digits (no download)",
        description="Train an MLP (64 → hidden … → 10, ReLU, cross-entropy, SGD with momentum and a cosine "
                    "learning-rate schedule) on scikit-learn's bundled handwritten digits, with a stratified "
                    "80/20 train/test split fixed by --seed. Saves the model (.npz), the loss/accuracy curves "
                    "and each layer's gradient norm during training (PNG).")
    q.add_argument("--hidden", default="128,64", metavar="N,N,...",
                   help="hidden layer sizes, comma-separated (default: 128,64)")
    q.add_argument("--epochs", type=int, default=30, help="passes over the training set (default: 30)")
    q.add_argument("--lr", type=float, default=0.1, help="peak learning rate (default: 0.1)")
    q.add_argument("--batch-size", type=int, default=32, help="examples per step (default: 32)")
    q.add_argument("--seed", type=int, default=0, help="seed for the split, the init and the shuffling (default: 0)")
    q.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"directory for {MODEL_FILE}, {CURVES_FILE}, {NORMS_FILE} (default: {DEFAULT_OUT})")
    q.add_argument("--json", action="store_true",
                   help='print one JSON object {"test_accuracy": ..., "epochs": ..., "seconds": ..., ...} '
                        "and no progress bar")
    q.set_defaults(func=cmd_train_digits)

    p = subparsers.add_parser("digits", help="look inside the trained digits network: digits explain",
                              description="Look inside the digits network trained by 'chainrule train digits'.")
    digits_sub = p.add_subparsers(dest="digits_command", metavar="ACTION")
    p.set_defaults(func=lambda args, p=p: _missing(p))
    q = digits_sub.add_parser(
        "explain", help="one test digit: the network's probabilities and which pixels carry the blame",
        description="Show one test digit, the network's probability for each class, and the gradient of "
                    "the loss with respect to every input pixel (which pixels carry the blame), in the "
                    "terminal and as a PNG.")
    q.add_argument("--index", type=int, default=0, metavar="K", help="which test digit (default: 0)")
    q.add_argument("--model", metavar="PATH",
                   help=f"a model saved by 'chainrule train digits' (default: DIR/{MODEL_FILE} if present, "
                        "else a model is trained now with the defaults and saved there)")
    q.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"directory for digit-K.png (and the default model) (default: {DEFAULT_OUT})")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_digits_explain)


def _missing(p) -> int:
    p.print_help(sys.stderr)
    return 2


def _parse_hidden(text: str) -> tuple[int, ...]:
    parts = [s.strip() for s in str(text).split(",")]
    if not any(parts):
        raise InputError("--hidden needs at least one layer size, e.g. --hidden 128,64")
    if not all(parts):
        raise InputError(f"--hidden {text!r} has an empty layer size between commas (e.g. --hidden 128,64)")
    sizes = []
    for s in parts:
        try:
            sizes.append(int(s))
        except ValueError:
            raise InputError(f"--hidden {text!r}: {s!r} is not a whole number (e.g. --hidden 128,64)") from None
    return tuple(sizes)


def _preflight() -> list[str]:
    """Fail before training, not after it, if the data set is missing; the notes for what is skipped.

    scikit-learn (the data) is needed; matplotlib only draws the PNGs, so without it the
    command still trains and explains, skips the plots and says so (on stderr, and in
    ``--json`` as ``"notes"`` with the plot paths ``null``).
    """
    from .plots import missing, require
    require("sklearn")
    note = missing("matplotlib")
    if note:
        print(f"note: {note}", file=sys.stderr)
    return [note] if note else []


class _Progress:
    """A rich progress bar on a terminal; plain lines otherwise; nothing at all with --json."""

    def __init__(self, total_steps: int, epochs: int, quiet: bool):
        self.epochs, self.quiet = epochs, quiet
        self.bar = None
        if quiet:
            return
        try:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:
            return
        if not sys.stdout.isatty():
            return
        self.bar = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn())
        self.task = self.bar.add_task("train", total=total_steps, info="")

    def __enter__(self):
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False

    def step(self):
        if self.bar is not None:
            self.bar.advance(self.task)

    def epoch(self, epoch: int, s: dict):
        line = (f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}  loss {fmt(s['loss'])}  "
                f"train {percent(s['train_accuracy'])}  test {percent(s['test_accuracy'])}")
        if self.bar is not None:
            self.bar.update(self.task, info=line)
        elif not self.quiet:
            print(line, flush=True)


def _train_and_save(hidden, epochs, lr, batch_size, seed, out, quiet, plot=True):
    from . import digits, plots

    with _writing(out):
        os.makedirs(out, exist_ok=True)          # fail now, not after training
    n_train = len(digits.load_split(seed)[0])
    steps = epochs * -(-n_train // batch_size) if batch_size > 0 and epochs > 0 else 0
    with _Progress(steps, epochs, quiet) as progress:
        result = digits.train(hidden=hidden, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                              on_step=progress.step, on_epoch=progress.epoch)
    with _writing(out):
        files = {"model": digits.save_model(result, os.path.join(out, MODEL_FILE)),
                 "curves": None, "gradient_norms": None}
        if plot:
            files["curves"] = plots.plot_training(result.history, os.path.join(out, CURVES_FILE))
            files["gradient_norms"] = plots.plot_grad_norms(result.grad_norms, result.steps_per_epoch,
                                                            os.path.join(out, NORMS_FILE))
    return result, files


class _writing:
    """Turn a failure to write into --out (permissions, a file in the way, a full disk) into a user error."""

    def __init__(self, out: str):
        self.out = out

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        if kind is not None and issubclass(kind, OSError):
            where = f" ({e.filename})" if getattr(e, "filename", None) else ""
            reason = e.strerror or str(e)
            if isinstance(e, (FileExistsError, NotADirectoryError)):   # makedirs' "File exists" says little
                reason = "a file is in the way: --out names a folder"
            raise InputError(f"cannot write into --out {self.out!r}{where}: {reason}") from None
        return False


def cmd_train_digits(args) -> int:
    notes = _preflight()
    hidden = _parse_hidden(args.hidden)
    result, files = _train_and_save(hidden, args.epochs, args.lr, args.batch_size, args.seed, args.out,
                                    quiet=args.json, plot=not notes)
    if args.json:
        print(json.dumps({"test_accuracy": round(result.test_accuracy, 6), "epochs": result.epochs,
                          "seconds": round(result.seconds, 3), "train_accuracy": round(result.train_accuracy, 6),
                          "hidden": list(result.hidden), "seed": result.seed, **files, "notes": notes}))
        return 0
    acc = result.test_accuracy
    target = "" if acc >= 0.97 else "  (below the 97% the defaults reach: try more --epochs)"
    print(f"test accuracy: {percent(acc, 2)} after {result.epochs} epochs in {fixed(result.seconds)} s{target}")
    print(f"train accuracy: {percent(result.train_accuracy, 2)}")
    print(f"model:          {files['model']}")
    skipped = "skipped (matplotlib is not installed)"
    print(f"curves:         {files['curves'] or skipped}")
    print(f"gradient norms: {files['gradient_norms'] or skipped}")
    print(f"next: chainrule digits explain --index 0 --model {files['model']}")
    return 0


def cmd_digits_explain(args) -> int:
    notes = _preflight()
    from . import digits, plots

    trained_now = False
    path = args.model
    if path is None:
        path = os.path.join(args.out, MODEL_FILE)
        if not os.path.exists(path):
            d = digits.DEFAULTS
            print(f"no --model given and no {path}: training the default network now "
                  f"({d['epochs']} epochs, a few seconds) and saving it there", file=sys.stderr)
            _train_and_save(d["hidden"], d["epochs"], d["lr"], d["batch_size"], d["seed"], args.out, quiet=True,
                            plot=not notes)
            trained_now = True
        elif not args.json:
            print(f"using the model at {path} (pass --model to choose another)", file=sys.stderr)
    model, meta = digits.load_model(path)
    e = digits.explain(model, int(meta.get("seed", 0)), args.index)
    wrong = e.misclassified
    png = None
    if not notes:
        with _writing(args.out):
            png = plots.plot_explanation(e.image, e.grad, e.probabilities, e.label, e.prediction, e.index,
                                         os.path.join(args.out, f"digit-{e.index}.png"))
    if args.json:
        print(json.dumps({"index": e.index, "label": e.label, "prediction": e.prediction,
                          "probabilities": [round(float(p), 6) for p in e.probabilities],
                          "loss": e.loss, "grad": e.grad.tolist(), "image": e.image.tolist(),
                          "model": path, "trained_now": trained_now, "png": png,
                          "misclassified": wrong, "notes": notes}))
        return 0
    verdict = "correct" if e.prediction == e.label else "WRONG"
    print(f"test digit #{e.index} (split seed {meta.get('seed', 0)}): label {e.label}, "
          f"network says {e.prediction} ({percent(e.probabilities[e.prediction])}): {verdict}")
    print(f"loss = −log p({e.label}) = {fmt(e.loss)}")
    print()
    print(f"  {'the digit':<18}  ∂loss/∂pixel (largest |grad| = {fmt(abs(e.grad).max())})")
    for left, right in zip(digits.ascii_digit(e.image), digits.ascii_gradient(e.grad)):
        print(f"  |{left}|  |{right}|")
    print()
    print(f"  +: more ink on this pixel would raise the loss (look less like a {e.label}); "
          f"−: more ink would lower it (look more like a {e.label}).")
    print("  The same backward pass that assigns each weight its blame assigns each pixel its blame.")
    print()
    print("probabilities:")
    for c, p in enumerate(e.probabilities):
        mark = "  ← label" if c == e.label else ""
        if c == e.prediction:
            mark += "  ← prediction" if c != e.label else ", prediction"
        print(f"  {c}  {percent(p, 2):>7}  {'█' * int(round(30 * p))}{mark}")
    print()
    print(f"picture: {png or 'skipped (matplotlib is not installed)'}")
    if wrong:
        shown = ", ".join(str(i) for i in wrong[:12]) + (", …" if len(wrong) > 12 else "")
        print(f"test digits this network gets wrong ({len(wrong)} of {e.n_test}): {shown}")
    return 0
