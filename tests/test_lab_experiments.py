"""Issue 12 items 1-3: ``chainrule vanish``, ``modes``, ``slope`` and ``landscape`` — the seeds' numbers
exactly, the JSON shapes, the plots, and every bad input as one line with exit status 2."""
import json
import math
import sys

import numpy as np
import pytest

from chainrule.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def bad(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("chainrule")
    return lines[0]


# --------------------------------------------------------------------------
# vanish
# --------------------------------------------------------------------------

def test_vanish_chain_of_halves_is_seed_001s_numbers(capsys, seed_reference):
    halves = seed_reference["powers_of_half"]["values"]
    got = run_json(capsys, "vanish", "--act", "linear", "--weight", "0.5", "--depth", "5")
    chain = got["chain"]
    assert chain["factors"] == [0.5] * 5
    assert chain["product"] == halves["0.5**5"] == 0.03125
    assert chain["backward"] == 0.03125          # what backward() says, not the product re-multiplied
    got10 = run_json(capsys, "vanish", "--act", "linear", "--weight", "0.5", "--depth", "10")["chain"]
    assert got10["product"] == halves["0.5**10"] == 0.0009765625
    code, out, _ = run(capsys, "vanish", "--act", "linear", "--weight", "0.5", "--depth", "5")
    assert "0.5 · 0.5 · 0.5 · 0.5 · 0.5 = 0.5⁵ = 0.03125" in out


def test_vanish_sigmoid_slope_is_at_most_a_quarter(capsys):
    got = run_json(capsys, "vanish", "--act", "sigmoid", "--depth", "10")
    chain = got["chain"]
    assert chain["slope_max"] == 0.25 and chain["slope_max_at"] == 0.0
    assert chain["bound"] == 0.25 ** 10
    assert all(0 < s <= 0.25 for s in chain["slopes"])
    assert math.isclose(chain["product"], chain["backward"], rel_tol=1e-12)
    assert math.prod(chain["factors"]) == pytest.approx(chain["backward"], rel=1e-12)
    assert chain["product"] < chain["bound"]       # the weights are 1: only the slopes shrink it
    assert chain["shrinking"] == list(range(1, 11))
    code, out, _ = run(capsys, "vanish", "--act", "sigmoid", "--depth", "10")
    assert "sigmoid′(z) ≤ 0.25" in out and "0.25¹⁰ = 9.53674e−7" in out


def test_vanish_json_shape_one_configuration(capsys):
    got = run_json(capsys, "vanish", "--act", "sigmoid", "--depth", "10")
    assert got["act"] == "sigmoid" and got["depth"] == 10
    assert len(got["grad_norms"]) == 10 and all(isinstance(v, float) and v > 0 for v in got["grad_norms"])
    assert {"init", "width", "residual", "norm", "activation_rms", "mean_slope", "verdict", "chain"} <= set(got)
    # sigmoid at PyTorch's default init: the front layers get far less than the back ones
    assert got["verdict"] == "vanishing"
    assert got["grad_norms"][0] < 1e-6 * got["grad_norms"][-1]
    assert all(0 < s <= 0.25 for s in got["mean_slope"])


def test_vanish_grad_norms_are_the_tensor_engines_gradients():
    """The norms are ‖∂L/∂W‖ of the network described in vanish.run_network, checked against a
    direct NumPy backward pass of the same numbers (no chainrule autodiff)."""
    from chainrule.lab import vanish as V
    cfg = V.Config(act="tanh", init="xavier", depth=6, width=5, batch=3, seed=7)
    got = V.run_network(cfg)
    n = V.network_numbers(cfg)
    h, hs, zs = n["x"], [n["x"]], []
    for W, b in zip(n["W"], n["b"], strict=True):
        z = h @ W.T + b
        zs.append(z)
        h = np.tanh(z)
        hs.append(h)
    g = np.broadcast_to(n["r"] / cfg.batch, h.shape)      # L = mean over the batch of h·r
    want = []
    for i in reversed(range(cfg.depth)):
        gz = g * (1 - np.tanh(zs[i]) ** 2)
        want.append(np.linalg.norm(gz.T @ hs[i]))
        g = gz @ n["W"][i]
    assert got.grad_norms == pytest.approx(want[::-1], rel=1e-12)


def test_vanish_large_init_explodes_and_residual_norm_help(capsys):
    got = run_json(capsys, "vanish", "--act", "tanh", "--init", "default,large", "--depth", "20")
    assert [c["init"] for c in got["configurations"]] == ["default", "large"]
    default, large = got["configurations"]
    assert default["verdict"] == "vanishing" and large["verdict"] == "exploding"
    assert large["grad_norms"][0] > 100 * large["grad_norms"][-1]
    assert len(got["chains"]) == 1 and got["chains"][0]["act"] == "tanh"
    fixed = run_json(capsys, "vanish", "--act", "sigmoid", "--depth", "20", "--residual", "--norm")
    assert fixed["residual"] and fixed["norm"] and fixed["verdict"] == "healthy"


def test_vanish_several_configurations_one_line_each(capsys):
    code, out, err = run(capsys, "vanish", "--act", "sigmoid,relu", "--init", "default,kaiming", "--depth", "8")
    assert code == 0, err
    for label in ("sigmoid, default init:", "sigmoid, kaiming init:", "relu, default init:", "relu, kaiming init:"):
        assert sum(label in line for line in out.splitlines()) == 1, label


def test_uniform_stream_is_reproducible_and_in_range():
    from chainrule.lab.vanish import uniforms
    a = uniforms(3, 0, 1000)
    assert np.array_equal(a[10:20], uniforms(3, 10, 10))     # counter-based: any slice on its own
    assert 0 < a.min() and a.max() < 1 and abs(a.mean() - 0.5) < 0.03
    assert not np.array_equal(a, uniforms(4, 0, 1000))


@pytest.mark.parametrize("argv, words", [
    (["--depth", "0"], "--depth 0"),
    (["--depth", "ten"], "--depth 'ten'"),
    (["--act", "sigmod"], "did you mean sigmoid"),
    (["--act", ","], "--act"),
    (["--init", "he"], "--init he"),
    (["--width", "0"], "--width 0"),
    (["--weight", "x"], "--weight"),
    (["--weight", "inf"], "--weight"),
    (["-o", "plot.jpg"], ".png or .svg"),
    (["--depth", "500", "--width", "512"], "too many"),
])
def test_vanish_bad_input_is_one_line(capsys, argv, words):
    assert words in bad(capsys, "vanish", *argv)


def test_vanish_plots_png_and_svg(capsys, tmp_path):
    png, svg = tmp_path / "v.png", tmp_path / "v.svg"
    code, _, err = run(capsys, "vanish", "--act", "sigmoid,relu", "--depth", "6", "-o", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run(capsys, "vanish", "--depth", "6", "-o", str(svg))
    assert code == 0, err
    assert b"<svg" in svg.read_bytes()[:2000]


def test_a_plot_without_matplotlib_is_a_clear_error(tmp_path):
    import subprocess
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from chainrule.cli import main; sys.exit(main(sys.argv[1:]))")
    p = subprocess.run([sys.executable, "-c", code, "vanish", "--depth", "3", "-o", str(tmp_path / "v.png")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [
        "chainrule: error: matplotlib is needed to draw the plot: pip install matplotlib "
        "(or pip install 'chainrule[plot]')"]
    assert not (tmp_path / "v.png").exists()


# --------------------------------------------------------------------------
# jacobian, modes
# --------------------------------------------------------------------------

def test_jacobian_scalars_both_modes():
    import chainrule
    f = lambda x, y: x * y + x.sin()          # noqa: E731
    for mode in ("forward", "reverse"):
        dx, dy = chainrule.jacobian(f, [2.0, 3.0], mode=mode)
        assert float(dx) == pytest.approx(3.0 + math.cos(2.0), rel=1e-15)
        assert float(dy) == 2.0
        assert float(chainrule.jacobian(lambda x: (3 * x + 1) ** 2, 2.0, mode)) == 42.0   # seed 003's worked example
        J = chainrule.jacobian(lambda t: [t * 2, t.exp(), 3.0], 1.0, mode)
        assert J.shape == (3,) and J.tolist() == [2.0, math.e, 0.0]


def test_jacobian_tensors_forward_equals_reverse_and_torch():
    torch = pytest.importorskip("torch")
    import chainrule
    rng = np.random.default_rng(1)
    W, x = rng.normal(size=(4, 3)), rng.normal(size=(2, 3))

    def f(x):
        return ((x @ W.T).tanh() * 2).sum(1)           # (2, 3) -> (2,)

    Jf = chainrule.jacobian(f, x, mode="forward")
    Jr = chainrule.jacobian(f, x, mode="reverse")
    Wt = torch.tensor(W)
    Jt = torch.autograd.functional.jacobian(lambda t: ((t @ Wt.T).tanh() * 2).sum(1), torch.tensor(x)).numpy()
    assert Jf.shape == Jr.shape == (2, 2, 3)
    np.testing.assert_allclose(Jf, Jt, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Jr, Jt, rtol=1e-12, atol=1e-14)

    def g(A, v):                                        # two tensor inputs, a scalar out
        return (A @ v).sigmoid().mean() + (A * A).sum() / 7
    A, v = rng.normal(size=(3, 4)), rng.normal(size=4)
    gf, gr = chainrule.jacobian(g, [A, v], "forward"), chainrule.jacobian(g, [A, v], "reverse")
    At, vt = torch.tensor(A), torch.tensor(v)
    gt = torch.autograd.functional.jacobian(lambda a, b: (a @ b).sigmoid().mean() + (a * a).sum() / 7, (At, vt))
    for got in (gf, gr):
        for a, b in zip(got, gt, strict=True):
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-15)


def test_jacobian_cost_counts_passes_and_evaluations():
    from chainrule.jacobians import jacobian_cost
    f = lambda w: (w * w).sum()               # noqa: E731  2 primitives
    J, fwd = jacobian_cost(f, np.arange(5.0), "forward")
    J2, rev = jacobian_cost(f, np.arange(5.0), "reverse")
    assert J.tolist() == J2.tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert (fwd.passes, fwd.evaluations) == (5, 10)     # one pass per input, 2 primitives each
    assert (rev.passes, rev.evaluations) == (1, 4)      # one sweep: 2 forward + 2 backward


@pytest.mark.parametrize("args, words", [
    ((lambda x: x, 1.0, "sideways"), "mode must be 'forward' or 'reverse'"),
    ((lambda x: x, "abc"), "must be a number or an array"),
    ((lambda x: x, [float("nan")]), "finite"),
    ((lambda x: "no", 1.0), "f returned str"),
    ((3, 1.0), "f must be a function"),
])
def test_jacobian_bad_arguments(args, words):
    import chainrule
    from chainrule.errors import InputError
    with pytest.raises(InputError, match=words):
        chainrule.jacobian(*args)


def test_modes_json_shape_and_counts(capsys):
    got = run_json(capsys, "modes", "--inputs", "1,10,100", "--repeat", "1")
    assert [r["n"] for r in got["rows"]] == [1, 10, 100]
    for r in got["rows"]:
        assert {"n", "forward_passes", "reverse_passes", "forward_seconds", "reverse_seconds"} <= set(r)
        assert r["forward_passes"] == r["n"] and r["reverse_passes"] == 1     # a million questions vs one
        assert r["forward_evaluations"] == 4 * r["n"] and r["reverse_evaluations"] == 8
        assert r["forward_seconds"] > 0 and r["reverse_seconds"] > 0 and r["agree"]
    for r in got["one_to_many"]:
        assert r["forward_passes"] == 1 and r["reverse_passes"] == r["n"]
    assert got["agree"] and got["max_difference"] < 1e-12
    assert set(got["crossover"]) == {"rows", "one_to_many"}


def test_modes_text_and_errors(capsys, tmp_path):
    code, out, err = run(capsys, "modes", "--inputs", "1,5", "--repeat", "1", "-o", str(tmp_path / "m.svg"))
    assert code == 0, err
    assert "n inputs → 1 output" in out and "1 input → n outputs" in out and "same numbers" in out
    assert (tmp_path / "m.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert "--inputs 0" in bad(capsys, "modes", "--inputs", "0")
    assert "--inputs 'ten'" in bad(capsys, "modes", "--inputs", "ten")
    assert "--inputs 20000" in bad(capsys, "modes", "--inputs", "20000")


# --------------------------------------------------------------------------
# slope, landscape
# --------------------------------------------------------------------------

SEED_003_CURVE = "f = ½*x² − x + 1.5"
SEED_003_BOWL = "f = x² + 2*y²"


def test_slope_is_seed_003s_slider(capsys):
    got = run_json(capsys, "slope", SEED_003_CURVE, "--at", "x=2", "--dx", "0.1")
    assert (got["value"], got["derivative"], got["dx"]) == (1.5, 1.0, 0.1)
    assert got["prediction"] == 1.6 == 1.5 + 1.0 * 0.1     # 1.500 + 1.000·0.10 = 1.600
    assert got["true_value"] == pytest.approx(1.605, abs=1e-15)   # ½·2.1² − 2.1 + 1.5
    assert got["error"] == pytest.approx(0.005, abs=1e-15)
    assert len(got["curve"]["xs"]) == len(got["curve"]["values"]) == 201
    code, out, _ = run(capsys, "slope", SEED_003_CURVE, "--at", "x=2")
    assert "f(2.1) ≈ 1.5 + 1·0.1 = 1.6" in out and "f(2.1) = 1.605" in out


def test_slope_halving_dx_quarters_the_error(capsys):
    a = run_json(capsys, "slope", "f = exp(x) * sin(x)", "--at", "x=0.3", "--dx", "0.01")
    b = run_json(capsys, "slope", "f = exp(x) * sin(x)", "--at", "x=0.3", "--dx", "0.005")
    assert a["error"] / b["error"] == pytest.approx(4, rel=0.02)


def test_slope_gaps_outside_the_domain(capsys):
    got = run_json(capsys, "slope", "f = log(x)", "--at", "x=0.5", "--range=-1,2")
    assert got["curve"]["values"][0] is None and got["curve"]["values"][-1] == pytest.approx(math.log(2))
    assert got["derivative"] == 2.0


def test_landscape_is_seed_003s_heat_map(capsys, seed_reference):
    ref = seed_reference["quadratic_2d"]
    got = run_json(capsys, "landscape", SEED_003_BOWL, "--at", "x=0.5", "y=0.3", "--x", "x", "--y", "y",
                   "--steps", "20", "--lr", "0.1")
    assert got["value"] == pytest.approx(ref["values"]["f"], abs=1e-15)
    assert got["partials"] == {"x": ref["gradients"]["df/dx"], "y": ref["gradients"]["df/dy"]} == {"x": 1.0, "y": 1.2}
    assert got["slices"]["x"]["held"] == {"y": 0.3} and got["slices"]["x"]["slope"] == 1.0
    assert got["slices"]["y"]["held"] == {"x": 0.5} and got["slices"]["y"]["slope"] == 1.2
    path = got["trajectory"]
    assert len(path) == 21 and path[0] == {"x": 0.5, "y": 0.3, "value": got["value"]}
    assert path[1]["x"] == pytest.approx(0.5 - 0.1 * 1.0) and path[1]["y"] == pytest.approx(0.3 - 0.1 * 1.2)
    assert all(b["value"] < a["value"] for a, b in zip(path, path[1:], strict=False))      # downhill every step
    g = got["grid"]
    assert len(g["values"]) == len(g["ys"]) == 41 and all(len(row) == 41 for row in g["values"])
    i, j = g["xs"].index(0.0), g["ys"].index(0.0)
    assert g["values"][j][i] == 0.0 == g["min"]
    for a in got["arrows"]:
        u, v = a["at"]
        assert a["grad"] == pytest.approx([2 * u, 4 * v], abs=1e-12)


def test_landscape_text_and_plot(capsys, tmp_path):
    code, out, err = run(capsys, "landscape", SEED_003_BOWL, "--at", "x=0.5", "y=0.3", "-o", str(tmp_path / "l.png"))
    assert code == 0, err
    assert "∂f/∂x = 1: the slope of slice 1" in out and "∂f/∂y = 1.2: the slope of slice 2" in out
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, words", [
    (["slope", "f = x +", "--at", "x=1"], "line 1"),
    (["slope", "f = x*y", "--at", "x=1", "y=2", "--x", "z"], "--x z: not an input"),
    (["slope", "f = a*b", "--at", "a=1", "b=2"], "say which one to vary with --x"),
    (["slope", "f = x*x", "--at", "x=1", "--dx", "0"], "--dx 0"),
    (["slope", "f = x*x", "--at", "x=1", "--range", "3,1"], "LOW < HIGH"),
    (["slope", "f = log(x)", "--at", "x=-1"], "log(-1) is undefined"),
    (["slope", "f = x*x"], "missing value for input 'x'"),
    (["slope", "f = x*x", "--at", "x=1", "-o", "p.gif"], ".png or .svg"),
    (["landscape", "f = x*y", "--at", "x=1", "y=2", "--x", "w"], "--x w: not an input"),
    (["landscape", "f = x*y", "--at", "x=1", "y=2", "--y", "x"], "both x"),
    (["landscape", "f = x*y + z", "--at", "x=1", "y=2", "z=0", "--x", "f"], "computed by the program"),
    (["landscape", "f = x*y", "--at", "x=1", "y=2", "--steps", "-1"], "--steps -1"),
    (["landscape", "f = x*y", "--at", "x=1", "y=2", "--lr", "0"], "--lr 0"),
    (["landscape", "f = x*y", "--at", "x=1", "y=2", "--grid", "2"], "--grid 2"),
    (["landscape", "f = x*y", "--at", "x=1", "y=2", "--html", "a.txt"], ".html"),
])
def test_slope_landscape_bad_input_is_one_line(capsys, argv, words):
    assert words in bad(capsys, *argv)


def test_slope_far_out_is_a_gap_not_an_error(capsys):
    got = run_json(capsys, "slope", "f = x / 2", "--at", "x=1e308", "--dx", "1e308")
    assert got["true_value"] is None and got["error"] is None     # x + dx is inf: no value there, said plainly


def test_landscape_stops_where_the_program_is_undefined(capsys):
    got = run_json(capsys, "landscape", "f = log(x) + y*y", "--at", "x=0.5", "y=1", "--lr", "1", "--steps", "5")
    assert got["stopped"] and "domain" in got["stopped"]
    assert len(got["trajectory"]) == 1


# --------------------------------------------------------------------------
# pages (--html) and the benchmark's references
# --------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["slope", "f = ½*x² − x + 1.5", "--at", "x=2"],
    ["landscape", "f = x² + 2*y²", "--at", "x=0.5", "y=0.3"],
    ["vanish", "--depth", "12", "--act", "relu"],
    ["modes", "--inputs", "1,5", "--repeat", "1"],
])
def test_html_pages_are_one_offline_file(capsys, tmp_path, argv):
    import re
    out = tmp_path / "page.html"
    code, _, err = run(capsys, *argv, "--html", str(out))
    assert code == 0, err
    html = out.read_text(encoding="utf-8")
    assert f'data-chainrule-lab="{argv[0]}"' in html
    assert "const OPS = {" in html and "ChainrulePlayer" in html and "ChainruleLab" in html  # the op table's JS
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)                       # nothing to fetch
    assert '<meta name="viewport" content="width=device-width' in html


def test_page_functions_for_a_course_builder():
    from chainrule.errors import InputError
    from chainrule.lab import pages
    frag = pages.slope_fragment("f = x**3", at={"x": 1}, element_id="cube")
    assert frag.startswith('<div class="crl-host" data-chainrule-lab="slope" id="cube">') and "<script>" not in frag
    data = pages.slope_data("f = x**3", at={"x": 1})
    assert data["engine"]["derivative"] == 3.0 and data["x"] == "x"
    two = pages.page([frag, pages.landscape_fragment("f = x*y", at={"x": 1, "y": 2})], "two experiments")
    assert two.count("<div class=\"crl-host\" data-chainrule-lab=") == 2 and two.count("const OPS = {") == 1
    with pytest.raises(InputError, match="not an input"):
        pages.slope_page("f = x*y", at={"x": 1, "y": 2}, x="z")
    with pytest.raises(InputError, match="depth 61"):
        pages.vanish_page(depth=61)


def test_vanish_html_deeper_than_the_page_is_refused(capsys):
    assert "60 layers" in bad(capsys, "vanish", "--depth", "80", "--html", "v.html")


def test_benchmark_references_compute_the_same_numbers():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "lab.py"
    spec = importlib.util.spec_from_file_location("lab_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.numpy_modes(50)
    bench.numpy_vanish(depth=5, width=8)
    rows = bench.commands(1)
    assert [r[0] for r in rows] == ["modes --inputs 1000", "vanish --depth 50"]
    assert all(t > 0 and ref > 0 for _, t, ref, _ in rows)
