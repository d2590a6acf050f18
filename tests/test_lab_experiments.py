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
    for W, b in zip(n["W"], n["b"]):
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
