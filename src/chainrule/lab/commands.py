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
    p.add_argument("--html", metavar="FILE", help="write the interactive page component (FILE.html): the same "
                                                 "network and chain, with controls; depth at most 60")
    p.set_defaults(func=cmd_vanish)

    p = subparsers.add_parser(
        "modes", help="forward vs reverse mode, measured: passes, evaluations and time against n",
        description="Compute a many-inputs-one-output function's full gradient (a loss of n weights) and a "
                    "one-input-many-outputs function's derivative both ways, with chainrule.jacobian, counting "
                    "passes and primitive evaluations and timing each: the crossover, measured.")
    p.add_argument("--inputs", default="1,10,100,1000", metavar="LIST",
                   help="the sizes n, comma-separated (default 1,10,100,1000; each at most 10,000)")
    p.add_argument("--repeat", default="3", metavar="N", help="time quick runs N times and keep the best (default 3)")
    p.add_argument("--json", action="store_true",
                   help='one JSON object: {"rows": [{"n", "forward_passes", "reverse_passes", "forward_seconds", '
                        '"reverse_seconds", …}, …] (n inputs → 1 output), "one_to_many": [...], "crossover": {…}}')
    p.add_argument("-o", "--output", metavar="FILE", help="draw the plot: FILE.png or FILE.svg (needs matplotlib)")
    p.add_argument("--html", metavar="FILE", help="write the page component (FILE.html): these measurements, and "
                                                 "seed 001's chain differentiated both ways in the page")
    p.set_defaults(func=cmd_modes)

    from ..cli import EXIT_STATUSES, add_program_arguments
    p = subparsers.add_parser(
        "slope", help="a derivative as the slope of the tangent line: value, slope, prediction vs true value",
        epilog=EXIT_STATUSES,
        description="Run PROGRAM at the given inputs and report its value, its derivative in one input (--x), "
                    "the tangent line's prediction f(x + dx) ≈ f(x) + f′(x)·dx and the true value there.")
    add_program_arguments(p)
    p.add_argument("--x", metavar="NAME", help="the input to vary (default: x, or the only input)")
    p.add_argument("--dx", default="0.1", metavar="STEP", help="the step of the prediction (default 0.1)")
    p.add_argument("--range", metavar="LOW,HIGH", help="the curve's extent in the plot and page (default x ± 2)")
    p.add_argument("--json", action="store_true", help="one JSON object: value, derivative, prediction, "
                                                       "true_value, error, curve")
    p.add_argument("-o", "--output", metavar="FILE", help="draw the plot: FILE.png or FILE.svg (needs matplotlib)")
    p.add_argument("--html", metavar="FILE", help="write the interactive page component (FILE.html): drag x")
    p.set_defaults(func=cmd_slope)

    p = subparsers.add_parser(
        "landscape", help="a function of two inputs as a heat map: slices, partial derivatives, descent",
        epilog=EXIT_STATUSES,
        description="The output of PROGRAM over two inputs (--x, --y) around the point: a heat map, the two "
                    "slices through the point with their slopes (the partial derivatives), gradient arrows, "
                    "and the path of gradient descent from the point.")
    add_program_arguments(p)
    p.add_argument("--x", metavar="NAME", help="the input along the horizontal axis (default x)")
    p.add_argument("--y", metavar="NAME", help="the input along the vertical axis (default y)")
    p.add_argument("--steps", default="20", metavar="N", help="gradient-descent steps (default 20)")
    p.add_argument("--lr", default="0.1", metavar="RATE", help="learning rate of the descent (default 0.1)")
    p.add_argument("--grid", default="41", metavar="N", help="heat-map points per side (default 41)")
    p.add_argument("--xrange", metavar="LOW,HIGH", help="the horizontal extent (default: around the path)")
    p.add_argument("--yrange", metavar="LOW,HIGH", help="the vertical extent (default: around the path)")
    p.add_argument("--json", action="store_true", help="one JSON object: value, partials, slices, grid, "
                                                       "arrows, trajectory")
    p.add_argument("-o", "--output", metavar="FILE", help="draw the plot: FILE.png or FILE.svg (needs matplotlib)")
    p.add_argument("--html", metavar="FILE", help="write the interactive page component (FILE.html): "
                                                 "click the heat map")
    p.set_defaults(func=cmd_landscape)


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


def depth_over_page(depth: int) -> bool:
    from .pages import PAGE_MAX_DEPTH
    return depth > PAGE_MAX_DEPTH


def cmd_vanish(args) -> int:
    from . import vanish as V
    acts, configs = _vanish_configs(args)
    weight = _number(args.weight, "--weight")
    start = _number(args.start, "--start")
    _check_output(args.output)
    _check_html(args.html)
    if args.html and depth_over_page(configs[0].depth):
        raise InputError(f"--html: the page's depth slider goes to 60 layers; --depth {configs[0].depth} is too deep")
    nets = [V.run_network(c) for c in configs]
    depth = configs[0].depth
    chains = [V.run_chain(a, depth, weight, 0.0, start) for a in acts]
    if args.output:
        from .plots import plot_vanish
        plot_vanish([n.to_dict() for n in nets], [c.to_dict() for c in chains], args.output)
        _wrote(args.output, "the vanishing-gradient plot")
    if args.html:
        from .pages import vanish_page
        _write_html(args.html, vanish_page(configs[0], weight=weight, start=start), "the vanishing-gradient page")
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


# --------------------------------------------------------------------------
# modes
# --------------------------------------------------------------------------

def _seconds(t: float) -> str:
    from ..numfmt import fmt
    return f"{fmt(t * 1e3, 3)} ms" if t < 1 else f"{fmt(t, 3)} s"


def modes_text(result: dict) -> list[str]:
    from ..cli import _table
    from ..numfmt import fmt
    lines = ["forward vs reverse mode, measured with chainrule.jacobian (the same op table both ways; "
             "times on this machine)"]
    cases = (("rows", f"n inputs → 1 output: {result['functions']['rows']}, the gradient of a loss of n weights",
              "reverse"),
             ("one_to_many", f"1 input → n outputs: {result['functions']['one_to_many']}, the derivative of n "
                             "outputs of one number", "forward"))
    for key, title, winner in cases:
        rows = result[key]
        lines += ["", title,
                  _table(["n", "forward passes", "reverse passes", "forward evals", "reverse evals",
                          "forward time", "reverse time"],
                         [[str(r["n"]), str(r["forward_passes"]), str(r["reverse_passes"]),
                           str(r["forward_evaluations"]), str(r["reverse_evaluations"]),
                           _seconds(r["forward_seconds"]), _seconds(r["reverse_seconds"])] for r in rows])]
        last = rows[-1]
        loser = "forward" if winner == "reverse" else "reverse"
        ratio = last[f"{loser}_seconds"] / last[f"{winner}_seconds"] if last[f"{winner}_seconds"] else float("inf")
        cross = result["crossover"][key]
        where = (f"{winner} mode is faster from n = {cross} on" if cross is not None
                 else f"{winner} mode is not faster at any n measured (try larger n)")
        lines.append(f"  {where}; at n = {last['n']}: {last[f'{loser}_passes']} {loser} "
                     f"{'passes' if loser == 'forward' else 'sweeps'} against {last[f'{winner}_passes']}, "
                     f"{fmt(ratio, 3)}× the time")
    lines += ["", f"both modes give the same numbers (largest difference {fmt(result['max_difference'])})"
              if result["agree"] else f"warning: the modes disagree by up to {fmt(result['max_difference'])}"]
    return lines


def cmd_modes(args) -> int:
    from . import modes as M
    from .vanish import _whole
    ns = M.parse_inputs(args.inputs)
    repeat = _whole(args.repeat, "--repeat", 1, 20)
    _check_output(args.output)
    _check_html(args.html)
    result = M.run_modes(ns, repeat)
    if args.html:
        from .pages import modes_page
        _write_html(args.html, modes_page(ns, measured=result), "the forward-vs-reverse page")
    if args.output:
        from .plots import plot_modes
        plot_modes(result, args.output)
        _wrote(args.output, "the forward-vs-reverse plot")
    if args.json:
        _print_json(result)
    else:
        from ..cli import _print_lines
        _print_lines(modes_text(result))
    return 0 if result["agree"] else 1


# --------------------------------------------------------------------------
# slope, landscape
# --------------------------------------------------------------------------

def _program_at(args):
    from ..cli import program_values, read_program
    from ..lang import parse
    program = parse(read_program(args.program))
    return program, program_values(program, args.at)


def slope_text(r: dict) -> list[str]:
    from ..numfmt import factor, fmt
    f, x = r["output"], r["x"]
    others = {k: v for k, v in r["inputs"].items() if k != x}
    held = f" ({', '.join(f'{k} = {fmt(v)}' for k, v in others.items())} held)" if others else ""
    lines = [f"{f} at {x} = {fmt(r['at'])}{held}: {fmt(r['value'])}",
             f"d{f}/d{x} = {fmt(r['derivative'])}: the slope of the tangent line there"]
    if r["true_value"] is None:
        lines.append(f"tangent-line prediction: {f}({fmt(r['at_next'])}) ≈ {fmt(r['value'])} + "
                     f"{factor(r['derivative'])}·{factor(r['dx'])} = {fmt(r['prediction'])}; the program has no value "
                     f"at {x} = {fmt(r['at_next'])}")
        return lines
    lines += [f"tangent-line prediction: {f}({fmt(r['at_next'])}) ≈ {fmt(r['value'])} + {factor(r['derivative'])}·"
              f"{factor(r['dx'])} = {fmt(r['prediction'])}",
              f"true value:              {f}({fmt(r['at_next'])}) = {fmt(r['true_value'])}"]
    if r["error"] is not None:
        if r["error"] == 0:
            lines.append("the prediction is exact: the curve is a straight line here")
        else:
            lines.append(f"the prediction is off by {fmt(r['error'])}: the curve bends away from its tangent "
                         f"(the error shrinks like dx²; halve --dx and it drops about four times)")
    return lines


def cmd_slope(args) -> int:
    from ..cli import EXIT_NONFINITE, _print_lines, _warn_lines
    from .slope import parse_range, slope
    program, at = _program_at(args)
    dx = _number(args.dx, "--dx")
    span = parse_range(args.range, "--range")
    _check_output(args.output)
    _check_html(args.html)
    r = slope(program, at, args.x, dx, span)
    if args.output:
        from .plots import plot_slope
        plot_slope(r, args.output)
        _wrote(args.output, "the slope plot")
    if args.html:
        from .pages import slope_page
        _write_html(args.html, slope_page(program, at=at, x=r["x"], dx=dx, span=span), "the slope page")
    status = EXIT_NONFINITE if r["warnings"] else 0
    if args.json:
        _print_json(r if r["warnings"] else {k: v for k, v in r.items() if k != "warnings"})
        return status
    _warn_lines(r["warnings"])
    _print_lines(slope_text(r))
    return status


def landscape_text(r: dict) -> list[str]:
    from ..cli import _table
    from ..numfmt import fmt
    f, x, y = r["output"], r["x"], r["y"]
    gx, gy = r["partials"][x], r["partials"][y]
    lines = [f"{f}({x}, {y}) at {x} = {fmt(r['at'][x])}, {y} = {fmt(r['at'][y])}: {fmt(r['value'])}",
             f"∂{f}/∂{x} = {fmt(gx)}: the slope of slice 1 (vary {x}, {y} held at {fmt(r['at'][y])})",
             f"∂{f}/∂{y} = {fmt(gy)}: the slope of slice 2 (vary {y}, {x} held at {fmt(r['at'][x])})",
             f"gradient ({fmt(gx)}, {fmt(gy)}), length {fmt(r['gradient_norm'])}: the way uphill; "
             "gradient descent steps the other way", ""]
    path = r["trajectory"]
    shown = path if len(path) <= 12 else path[:6] + [None] + path[-5:]
    rows = [["…", "", "", ""] if p is None else [str(path.index(p)), fmt(p[x]), fmt(p[y]),
                                                  "—" if p["value"] is None else fmt(p["value"])] for p in shown]
    lines += [f"gradient descent from the point, lr {fmt(r['lr'])}, {len(path) - 1} steps:",
              _table(["step", x, y, f], rows)]
    if r["stopped"]:
        lines.append(f"  stopped early: {r['stopped']}")
    elif len(path) > 1 and path[-1]["value"] is not None and r["value"] is not None:
        change = path[-1]["value"] - r["value"]
        lines.append(f"  {f} went from {fmt(r['value'])} to {fmt(path[-1]['value'])} ({'+' if change > 0 else ''}"
                     f"{fmt(change)})" + (": this learning rate overshoots" if change > 0 else ""))
    g = r["grid"]
    lines += ["", f"heat map: {x} from {fmt(g['xs'][0])} to {fmt(g['xs'][-1])}, {y} from {fmt(g['ys'][0])} to "
                  f"{fmt(g['ys'][-1])} ({len(g['xs'])}×{len(g['ys'])} points), {f} from "
                  f"{fmt(g['min']) if g['min'] is not None else '—'} to {fmt(g['max']) if g['max'] is not None else '—'}"]
    return lines


def cmd_landscape(args) -> int:
    from ..cli import _parse_lr, _print_lines
    from .slope import landscape, parse_range
    from .vanish import _whole
    program, at = _program_at(args)
    steps = _whole(args.steps, "--steps", 0, 1000)
    grid = _whole(args.grid, "--grid", 3, 201)
    lr = _parse_lr(args.lr)
    xr, yr = parse_range(args.xrange, "--xrange"), parse_range(args.yrange, "--yrange")
    _check_output(args.output)
    _check_html(args.html)
    x = args.x if args.x is not None else "x"
    y = args.y if args.y is not None else "y"
    r = landscape(program, at, x, y, steps, lr, grid, xrange=xr, yrange=yr)
    if args.output:
        from .plots import plot_landscape
        plot_landscape(r, args.output)
        _wrote(args.output, "the landscape plot")
    if args.html:
        from .pages import landscape_page
        _write_html(args.html, landscape_page(program, at=at, x=r["x"], y=r["y"], steps=steps, lr=lr,
                                              xrange=(r["grid"]["xs"][0], r["grid"]["xs"][-1]),
                                              yrange=(r["grid"]["ys"][0], r["grid"]["ys"][-1])),
                    "the landscape page")
    if args.json:
        _print_json(r)
        return 0
    _print_lines(landscape_text(r))
    return 0
