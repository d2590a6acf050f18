"""``chainrule vanish``, ``modes``, ``slope`` and ``landscape``: the lab's experiments (registered by
:mod:`chainrule.cli` through :data:`chainrule.cli.PLUGINS`).

::

    chainrule vanish --depth 30 --act sigmoid,relu --init default,kaiming -o vanish.png
    chainrule vanish --act linear --weight 0.5 --depth 5          # the chain: 0.5⁵ = 0.03125
    chainrule modes --inputs 1,10,100,1000 -o modes.svg
    chainrule slope "f = ½x² − x + 1.5" --at x=2 --dx 0.1
    chainrule landscape "f = x² + 2y²" --at x=0.5 y=0.3 --x x --y y --steps 20 --lr 0.1 -o land.png

Each prints text for people, ``--json`` for programs, and ``-o FILE.png|.svg`` draws the plot
(matplotlib); ``--html FILE.html`` writes the experiment's self-contained page component.
"""
from __future__ import annotations

import json
import math
import sys

from ..errors import InputError

__all__ = ["register", "cmd_vanish"]

_SUPER = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _power(base: str, n: int) -> str:
    return base + str(n).translate(_SUPER)


def _number(text: str, option: str) -> float:
    from ..lang import parse_number
    try:
        v = parse_number(text)
    except ValueError:
        raise InputError(f"{option} {text!r}: not a number") from None
    if not math.isfinite(v):
        raise InputError(f"{option} {text}: expected a finite number")
    return v


def _print_json(obj) -> None:
    from ..cli import _jsonable
    print(json.dumps(_jsonable(obj), ensure_ascii=False, allow_nan=False))


def _wrote(path: str, what: str) -> None:
    print(f"chainrule: wrote {what} to {path}", file=sys.stderr)


def _check_output(path: str | None) -> None:
    if path:
        from .plots import plot_format
        plot_format(path)


def _check_html(path: str | None) -> None:
    import os
    if path and path != "-" and os.path.splitext(path)[1].lower() not in (".html", ".htm"):
        raise InputError(f"--html {path}: a page needs a name ending in .html (or - for stdout)")


def _write_html(path: str, page: str, what: str) -> None:
    from ..viz.commands import _write
    _write(path, page, what)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "vanish", help="vanishing and exploding gradients: ‖∂L/∂W‖ per layer of a deep MLP, and a chain of factors",
        description="Build a deep MLP with the tensor engine and report ‖∂L/∂Wₗ‖ for every layer at "
                    "initialisation (one line per configuration: each activation × each init), then the "
                    "scalar view: one neuron per layer, the chain's factors act′(z)·w as the backward pass "
                    "met them, multiplied.")
    p.add_argument("--depth", default="30", metavar="N", help="layers (default 30)")
    p.add_argument("--act", default="sigmoid", metavar="LIST",
                   help="activations, comma-separated: sigmoid,tanh,relu,leaky_relu,linear (default sigmoid)")
    p.add_argument("--init", default="default", metavar="LIST",
                   help="initialisations, comma-separated: default (PyTorch's nn.Linear), xavier, kaiming, "
                        "large (variance 1: the opposite failure) (default: default)")
    p.add_argument("--residual", action="store_true", help="residual connections: hₗ = hₗ₋₁ + act(zₗ)")
    p.add_argument("--norm", action="store_true", help="layer normalisation of each zₗ before the activation")
    p.add_argument("--width", default="32", metavar="N", help="units per layer (default 32)")
    p.add_argument("--batch", default="16", metavar="N", help="inputs in the batch (default 16)")
    p.add_argument("--seed", default="0", metavar="N", help="seed of the starting numbers (default 0)")
    p.add_argument("--weight", default="1", metavar="W",
                   help="the chain's weight w in every layer (default 1; --act linear --weight 0.5 --depth 5 "
                        "is seed 001's 0.5⁵)")
    p.add_argument("--start", default="1", metavar="A0", help="the chain's input a₀ (default 1)")
    p.add_argument("--json", action="store_true",
                   help='one JSON object: {"act", "depth", "grad_norms": [layer 1 first, …], "chain": {…}, …} '
                        'for one configuration, {"configurations": [...], "chains": [...]} for several')
    p.add_argument("-o", "--output", metavar="FILE", help="draw the plot: FILE.png or FILE.svg (needs matplotlib)")
    p.set_defaults(func=cmd_vanish)


# --------------------------------------------------------------------------
# vanish
# --------------------------------------------------------------------------

def _vanish_configs(args):
    from . import vanish as V
    acts = V.parse_choices(args.act, V.ACTS, "--act")
    inits = V.parse_choices(args.init, V.INITS, "--init")
    depth = V._whole(args.depth, "--depth", 1, V.MAX_DEPTH)
    width = V._whole(args.width, "--width", 1, V.MAX_WIDTH)
    batch = V._whole(args.batch, "--batch", 1, V.MAX_BATCH)
    seed = V._whole(args.seed, "--seed", 0, 2 ** 32 - 1)
    if depth * width * width > 5_000_000:
        raise InputError(f"--depth {depth} --width {width}: {depth * width * width:,} weights is too many for "
                         "the lab (at most 5,000,000)")
    return acts, [V.Config(a, i, depth, width, args.residual, args.norm, batch, seed)
                  for a in acts for i in inits]


def _spark(values, lo: float, hi: float) -> str:
    """A log-scale sparkline: one block per layer, ▁ at ``lo`` … █ at ``hi`` (· for 0, ! for inf/nan)."""
    blocks = "▁▂▃▄▅▆▇█"
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append("!")
        elif v <= 0:
            out.append("·")
        else:
            t = 0.0 if hi <= lo else (math.log10(v) - lo) / (hi - lo)
            out.append(blocks[min(len(blocks) - 1, max(0, int(t * (len(blocks) - 1) + 0.5)))])
    return "".join(out)


def _slope_name(act: str) -> str:
    return {"sigmoid": "σ′", "linear": "1"}.get(act, act + "′")


def vanish_text(nets, chains) -> list[str]:
    from ..numfmt import fmt
    from ..cli import _table
    depth = nets[0].config.depth
    c0 = nets[0].config
    lines = [f"‖∂L/∂Wₗ‖ at initialisation: a {depth}-layer MLP, width {c0.width}, batch {c0.batch}, seed {c0.seed}"
             + (", residual" if c0.residual else "") + (", layer norm" if c0.norm else "")
             + " (layer 1 is nearest the input)", ""]
    header = ["layer"] + [n.config.label().replace(" init", "") for n in nets]
    rows = [[str(i + 1)] + [fmt(n.grad_norms[i]) for n in nets] for i in range(depth)]
    lines += [_table(header, rows), ""]
    finite = [math.log10(v) for n in nets for v in n.grad_norms if math.isfinite(v) and v > 0]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 0.0)
    lines.append(f"log scale, one line per configuration (▁ = {fmt(10 ** lo)}, █ = {fmt(10 ** hi)}):")
    for n in nets:
        d = n.to_dict()
        lines.append(f"  {_spark(n.grad_norms, lo, hi)}  {n.config.label()}: {d['verdict']}, "
                     f"layer 1 / layer {depth} = {fmt(d['first_over_last'])}")
    for ch in chains:
        name = _slope_name(ch.act)
        lines += ["", f"the chain, one neuron per layer: zₗ = {fmt(ch.weight)}·aₗ₋₁ + {fmt(ch.bias)}, "
                      f"aₗ = {ch.act}(zₗ), a₀ = {fmt(ch.start)}; "
                      f"∂a{_sub(ch.depth)}/∂a₀ = the product of {ch.depth} factors {name}(zₗ)·w"]
        shown = range(ch.depth) if ch.depth <= 12 else list(range(6)) + list(range(ch.depth - 6, ch.depth))
        rows = []
        for i in shown:
            if ch.depth > 12 and i == ch.depth - 6:
                rows.append(["…", "", "", "", "", ""])
            rows.append([str(i + 1), fmt(ch.z[i]), fmt(ch.slopes[i]), fmt(ch.weights[i]), fmt(ch.factors[i]),
                         "shrinks" if abs(ch.factors[i]) < 1 else ("grows" if abs(ch.factors[i]) > 1 else "")])
        lines.append(_table(["layer", "zₗ", f"{name}(zₗ)", "w", "factor", ""], rows))
        factors = ch.factors if ch.depth <= 8 else ch.factors[:3] + ["…"] + ch.factors[-2:]
        text = " · ".join("…" if f == "…" else (f"({fmt(f)})" if f < 0 else fmt(f)) for f in factors)
        if len(set(ch.factors)) == 1 and ch.depth > 1:
            text += " = " + _power(fmt(ch.factors[0]) if ch.factors[0] >= 0 else f"({fmt(ch.factors[0])})", ch.depth)
        lines.append(f"  product: {text} = {fmt(ch.product)}   (backward() gives ∂a{_sub(ch.depth)}/∂a₀ = "
                     f"{fmt(ch.backward)})")
        slopes, weights = math.prod(ch.slopes), math.prod(ch.weights)
        lines.append(f"  the {ch.depth} slopes multiply to {fmt(slopes)}, the {ch.depth} weights to {fmt(weights)}")
        if ch.slope_max < 1:
            lines.append(f"  {ch.act}′(z) ≤ {fmt(ch.slope_max)} (its largest slope, at z = {fmt(ch.slope_max_at)}), so "
                         f"{ch.depth} {ch.act} layers shrink a signal by at least {_power(fmt(ch.slope_max), ch.depth)} = "
                         f"{fmt(ch.slope_max ** ch.depth)} (times the weights)")
    return lines


_SUBS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _sub(n: int) -> str:
    return str(n).translate(_SUBS)


def cmd_vanish(args) -> int:
    from . import vanish as V
    acts, configs = _vanish_configs(args)
    weight = _number(args.weight, "--weight")
    start = _number(args.start, "--start")
    _check_output(args.output)
    nets = [V.run_network(c) for c in configs]
    depth = configs[0].depth
    chains = [V.run_chain(a, depth, weight, 0.0, start) for a in acts]
    if args.output:
        from .plots import plot_vanish
        plot_vanish([n.to_dict() for n in nets], [c.to_dict() for c in chains], args.output)
        _wrote(args.output, "the vanishing-gradient plot")
    if args.json:
        if len(nets) == 1:
            obj = dict(nets[0].to_dict(), chain=chains[0].to_dict())
        else:
            obj = {"depth": depth, "width": configs[0].width, "configurations": [n.to_dict() for n in nets],
                   "chains": [c.to_dict() for c in chains]}
        _print_json(obj)
        return 0
    from ..cli import _print_lines
    _print_lines(vanish_text(nets, chains))
    return 0
