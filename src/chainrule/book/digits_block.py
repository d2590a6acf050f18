"""The capstone block: train the digits network with chainrule, then explain one digit's gradient.

Needs scikit-learn for the data set (``pip install "chainrule[digits]"``); without it the block
says so and the build goes on (a warning, not a made-up picture).
"""
from __future__ import annotations

from html import escape

__all__ = ["render_digits", "digit_numbers"]


def _int(block, key, default, lo, hi):
    v = block.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise block.error(f"{key}: {v!r} must be a whole number from {lo} to {hi}", key)
    return v


def digit_numbers(block) -> dict:
    """Train and explain, as plain numbers (the page and the tests read these)."""
    from ..nn import digits
    hidden = block.get("hidden", 32)
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    epochs = _int(block, "epochs", 8, 1, 60)
    seed = _int(block, "seed", 0, 0, 2**31 - 1)
    result = digits.train(hidden=hidden, epochs=epochs, seed=seed)
    _, _, _, y_te = digits.load_split(seed)
    index = block.get("index")
    if index is None:
        index = next(i for i, y in enumerate(y_te) if int(y) == 3)
    index = _int(block, "index", index, 0, len(y_te) - 1) if block.get("index") is not None else index
    e = digits.explain(result.model, seed, index)
    return {"hidden": list(result.hidden), "epochs": epochs, "accuracy": result.history["test_accuracy"],
            "loss": result.history["loss"], "index": index, "label": e.label, "prediction": e.prediction,
            "probabilities": [float(p) for p in e.probabilities], "image": e.image.tolist(),
            "grad": e.grad.tolist(), "digit_loss": e.loss, "seconds": result.seconds,
            "n_test": e.n_test}


def _grid(rows, cell, label) -> str:
    cells = []
    for r in rows:
        for v in r:
            cells.append(cell(v))
    return f'<div class="cr-pixels" role="img" aria-label="{escape(label)}">{"".join(cells)}</div>'


def render_digits(block) -> str:
    from ..numfmt import fmt, percent, signed
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return ('<p class="cr-unbuilt" role="note"><strong>Not built on this machine:</strong> training the digits '
                'network needs scikit-learn\'s digits data: <code>pip install "chainrule[digits]"</code>, then build '
                'again.</p>')
    d = digit_numbers(block)
    acc = d["accuracy"]
    W, H, L, B = 320, 140, 44, 26          # size, left and bottom margins (room for the axis labels)
    lo = min(0.5, min(acc))                 # the y axis runs from lo (at most 50 %) to 100 %
    y = lambda a: 10 + (H - B - 10) * (1 - (a - lo) / (1 - lo))
    x = lambda i: L + (W - L - 10) * i / max(1, len(acc) - 1)
    pts = " ".join(f"{round(x(i), 1)},{round(y(a), 1)}" for i, a in enumerate(acc))
    curve = (f'<svg class="cr-curve" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
             f'aria-label="test accuracy over {len(acc)} epochs, from {fmt(acc[0] * 100, 3)} % to {fmt(acc[-1] * 100, 3)} %">'
             f'<line x1="{L}" y1="{H - B}" x2="{W - 10}" y2="{H - B}" class="cr-axis"/>'
             f'<line x1="{L}" y1="10" x2="{L}" y2="{H - B}" class="cr-axis"/>'
             f'<text x="{L - 6}" y="{round(y(1) + 4, 1)}" text-anchor="end">100 %</text>'
             f'<text x="{L - 6}" y="{round(y(lo) + 4, 1)}" text-anchor="end">{percent(lo, 0, sep=" ")}</text>'
             f'<text x="{L}" y="{H - 8}">epoch 1</text><text x="{W - 10}" y="{H - 8}" text-anchor="end">epoch {len(acc)}</text>'
             + "".join(f'<circle cx="{round(x(i), 1)}" cy="{round(y(a), 1)}" r="2.5" class="cr-curve-dot"/>' for i, a in enumerate(acc))
             + f'<polyline points="{pts}" class="cr-curve-line" fill="none"/></svg>')
    rows = "".join(f"<tr><td>{i + 1}</td><td>{fmt(l, 4)}</td><td>{fmt(a * 100, 4)} %</td></tr>"
                   for i, (l, a) in enumerate(zip(d["loss"], acc)))
    table = (f'<details class="cr-alt"><summary>The training as a table</summary><div class="cr-scroll" tabindex="0" role="region" aria-label="training, epoch by epoch">'
             f'<table class="cr-table"><thead><tr><th scope="col">epoch</th><th scope="col">training loss</th>'
             f'<th scope="col">test accuracy</th></tr></thead><tbody>{rows}</tbody></table></div></details>')
    ink = _grid(d["image"], lambda v: f'<span style="--v:{round(v, 3)}"></span>',
                f"the handwritten digit, 8 by 8 pixels; its label is {d['label']}")
    top = max(abs(g) for r in d["grad"] for g in r) or 1.0

    def blame(g):
        level = abs(g) / top
        sign = "+" if g > 0 else "−" if g < 0 else ""
        cls = "pos" if g > 0 else "neg"
        return f'<span class="cr-{cls}" style="--a:{round(level, 3)}">{sign if level > 0.25 else ""}</span>'

    blame_grid = _grid(d["grad"], blame, "the gradient of the loss with respect to each pixel; "
                                          "+ marks pixels where more ink raises the loss, − where it lowers it")
    grad_rows = "\n".join(" ".join(signed(g, 3) for g in r) for r in d["grad"])
    def pct(p):
        return "< 0.01 %" if p < 1e-4 else percent(p, 2, sep=" ")

    probs = "".join(f'<li><span class="cr-digit">{k}</span><span class="cr-bar" style="--p:{round(p, 4)}"></span>'
                    f'<span>{pct(p)}</span></li>' for k, p in enumerate(d["probabilities"]))
    return (f'<p>chainrule trained a network with {len(d["hidden"])} hidden layer of {d["hidden"][0]} units '
            f'for {d["epochs"]} epochs on 8×8 handwritten digits (SGD with momentum, cross-entropy loss). '
            f'On the {d["n_test"]} test digits it ends at <strong>{fmt(acc[-1] * 100, 4)} %</strong> accuracy.</p>'
            f'<div class="cr-two"><div class="cr-col"><h4>Test accuracy per epoch</h4>{curve}{table}</div>'
            f'<div class="cr-col"><h4>Test digit {d["index"]}: a {d["label"]}</h4>{ink}'
            f'<p>The network says <strong>{d["prediction"]}</strong> (loss {fmt(d["digit_loss"], 4)}).</p></div></div>'
            f'<div class="cr-two"><div class="cr-col"><h4>∂loss/∂pixel: the blame of every pixel</h4>{blame_grid}'
            f'<p class="cr-muted">Orange with +: more ink here would raise the loss; blue with −: more ink would lower it. '
            f'One backward pass gives all 64 numbers, exactly as it gives every weight\'s.</p>'
            f'<details class="cr-alt"><summary>The 64 gradients as numbers</summary><pre class="cr-alt-text" tabindex="0">{escape(grad_rows)}</pre></details></div>'
            f'<div class="cr-col"><h4>What the network believes</h4><ol class="cr-probs" start="0">{probs}</ol></div></div>')
