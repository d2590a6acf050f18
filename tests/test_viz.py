"""Views of a trace: layout, SVG, DOT, PNG, the HTML page's data, notebook reprs, CLI."""
from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import Value, trace
from chainrule.cli import main
from chainrule.lang import evaluate
from chainrule.viz.dot import trace_to_dot
from chainrule.viz.html import default_wrt, guess_params, player_assets, player_data, trace_to_html
from chainrule.viz.layout import count_crossings, find_groups, layered, layout_trace
from chainrule.viz.svg import fmt, trace_to_svg

SIGMOID_NET = "z1 = w1*x + b1\na1 = sigmoid(z1)\nz2 = w2*a1 + b2\na2 = sigmoid(z2)\nL = (a2 - y)**2"
SIGMOID_AT = {"x": 1, "w1": 0.5, "w2": 0.8, "b1": 0, "b2": 0, "y": 1}
SVG_NS = "{http://www.w3.org/2000/svg}"


def sigmoid_trace(backward=True):
    return trace(evaluate(SIGMOID_NET, SIGMOID_AT).output, backward=backward)


def mlp_loss(sizes=(2, 16, 16, 1), seed=0):
    """micrograd's demo MLP (ReLU hidden layers, linear output), built from Values, with a squared loss."""
    rng = random.Random(seed)
    h = [Value(rng.uniform(-1, 1), name=f"x{i}") for i in range(sizes[0])]
    for li, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        out = []
        for j in range(n_out):
            act = Value(0.0, name=f"b{li}_{j}")
            for i in range(n_in):
                act = act + Value(rng.uniform(-1, 1), name=f"w{li}_{j}_{i}") * h[i]
            out.append(act.relu() if li < len(sizes) - 2 else act)
        h = out
    return (h[0] - 1.0) ** 2


def svg_text(svg: str) -> str:
    root = ET.fromstring(svg)
    return "\n".join("".join(t.itertext()) for t in root.iter(SVG_NS + "text"))


# --------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------

def _check_layout(lay, edges):
    assert lay.overlaps() == []
    for a, b, *_ in edges:
        assert lay.boxes[a].layer < lay.boxes[b].layer, (a, b)
        assert lay.boxes[a].x + lay.boxes[a].w < lay.boxes[b].x   # left to right, no overlap in x
    for layer in lay.layers:                                      # order within a layer is top to bottom
        ys = [lay.boxes[k].y for k in layer]
        assert ys == sorted(ys)
    for b in lay.boxes.values():
        assert 0 <= b.x and b.x + b.w <= lay.width and 0 <= b.y and b.y + b.h <= lay.height


def test_layout_of_a_trace_has_no_overlaps_and_respects_layers():
    t = sigmoid_trace()
    view = layout_trace(t)
    edges = [(i, n.id) for n in t.nodes for i in n.inputs]
    _check_layout(view.layout, edges)
    lay = view.layout
    # the output is alone in the last layer; a leaf sits just before the op that uses it
    assert lay.layers[-1] == [t.output]
    y = t.node("y")
    sub = next(n for n in t.nodes if n.op == "sub")
    assert lay.boxes[y.id].layer == lay.boxes[sub.id].layer - 1


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_layout_of_random_dags(data):
    n = data.draw(st.integers(2, 30))
    edges = []
    for j in range(1, n):
        k = data.draw(st.integers(1, min(2, j)))
        for i in data.draw(st.lists(st.integers(0, j - 1), min_size=k, max_size=k)):
            edges.append((i, j))
    sizes = {k: (data.draw(st.integers(40, 160)), data.draw(st.integers(20, 70))) for k in range(n)}
    lay = layered(range(n), edges, sizes)
    _check_layout(lay, edges)


def test_barycentre_ordering_cuts_crossings():
    # a reversed matching: in key order 8 pairs of edges cross; the best order has none
    keys = ["a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3"]
    edges = [("a0", "b3"), ("a1", "b2"), ("a2", "b1"), ("a3", "b0"), ("a0", "b2")]
    lay = layered(keys, edges, {k: (60, 30) for k in keys})
    naive = count_crossings([["a0", "a1", "a2", "a3"], ["b0", "b1", "b2", "b3"]], edges)
    assert naive == 8
    assert lay.crossings() < naive
    assert lay.crossings() == 0


def test_crossings_reduced_on_a_real_graph():
    t = trace(mlp_loss((3, 4, 4, 1)))
    view = layout_trace(t, collapse=False)
    lay = view.layout
    order = {n.id: n.id for n in t.nodes}
    naive_layers = [sorted(layer, key=lambda k: (isinstance(k, tuple), order.get(k, 0) if not isinstance(k, tuple)
                                                   else k[1:])) for layer in lay.layers]
    from chainrule.viz.layout import _layer_edges
    naive = count_crossings(naive_layers, _layer_edges(lay.routes))
    assert lay.crossings() < naive


def test_count_crossings_by_hand():
    layers = [["a", "b"], ["c", "d"]]
    assert count_crossings(layers, [("a", "d"), ("b", "c")]) == 1
    assert count_crossings(layers, [("a", "c"), ("b", "d")]) == 0
    assert count_crossings(layers, [("a", "c"), ("a", "d"), ("b", "c")]) == 1


def test_cycle_refused():
    with pytest.raises(ValueError, match="cycle"):
        layered("ab", [("a", "b"), ("b", "a")], {"a": (10, 10), "b": (10, 10)})


def test_large_graph_collapses_by_neuron():
    t = trace(mlp_loss())
    assert 900 <= len(t.nodes) <= 1100
    groups = find_groups(t)
    view = layout_trace(t)
    items = [k for k, b in view.layout.boxes.items() if not b.dummy]
    assert len(items) < 60                               # 2 inputs + 16 + 16 neurons + the output's group
    assert sum(len(g.members) for g in groups.values()) + len(items) - len(groups) == len(t.nodes)
    # a hidden neuron's group: its relu, 16 products and 16 sums, 16 weights and a bias
    sizes = sorted(len(g.members) for g in groups.values())
    assert sizes.count(50) == 16 and sizes.count(8) == 16
    _check_layout(view.layout, [])
    for g in view.groups.values():
        assert g.layout.overlaps() == []
    svg = trace_to_svg(t, view=view)
    ET.fromstring(svg)
    assert "(+49 nodes)" in svg_text(svg)


# --------------------------------------------------------------------------
# SVG
# --------------------------------------------------------------------------

def test_svg_is_xml_with_every_label_value_and_gradient():
    t = sigmoid_trace()
    svg = trace_to_svg(t)
    text = svg_text(svg)
    for n in t.nodes:
        assert (n.label if n.name else n.expr) in text   # unnamed steps by their expression (w1 · x)
        assert fmt(n.value) in text
        if n.kind != "const":
            assert f"grad {fmt(n.grad)}" in text
    # local derivatives on the edges: ∂a1/∂z1 = σ'(z1) = 0.235
    assert "×0.235" in text and "×0.8" in text
    # gradient size is drawn as width: edges have different stroke widths
    widths = {float(w) for w in re.findall(r'<path [^>]*stroke-width="([\d.]+)"', svg)}
    assert len(widths) > 2
    # and readable without colour: a legend in words
    assert "Line width" in text


def test_drawings_write_the_learners_expressions_not_generated_names(tmp_path):
    """Unnamed steps were drawn as mul6, sub12 (and L = sub12^2): now as w1 · x, a2 − y, and
    L = (a2 − y)^2, in the SVG, the DOT export, the PNG's text and the player's data."""
    from chainrule.viz.dot import trace_to_dot
    from chainrule.viz.html import player_data
    from chainrule.viz.svg import node_lines
    t = sigmoid_trace()
    generated = [n.label for n in t.nodes if n.op and not n.name]
    assert generated == ["mul6", "mul9", "sub12"]
    svg, dot = svg_text(trace_to_svg(t)), trace_to_dot(t)
    for text in (svg, dot):
        for label in generated:
            assert not re.search(rf"\b{label}\b", text), label
        for shown in ("w1 · x", "z1 = w1 · x + b1", "w2 · a1", "a2 − y", "L = (a2 − y)^2"):
            assert shown in text, shown
    lines = [node_lines(t, n)[0] for n in t.nodes]
    assert "a2 − y" in lines and "L = (a2 − y)^2" in lines
    data = player_data(t)
    assert data["exprs"]["12"] == "a2 − y" and data["exprs"]["13"] == "(a2 − y)^2"
    # a Python expression with no names at all: (3x + 1)² reads as written
    x = Value(2.0, name="x")
    u = trace((3 * x + 1) ** 2)
    assert [node_lines(u, n)[0] for n in u.nodes if n.op] == ["3 · x", "3 · x + 1", "(3 · x + 1)^2"]
    assert player_data(u)["local_formulas"] == {"5": ["2·(3 · x + 1)"]}      # was 2·add4
    assert player_data(u)["title"] == "Backpropagation through (3 · x + 1)^2"   # was "... powc5"


def test_lessons_open_one_box_per_line_as_the_seed_draws_them():
    """Seed 003 draws x, w1, b1 → z1 → a1 → z2 → a2 → L: the player opens with one box per
    line of the program (the unnamed w1·x inside z1's box), inputs as boxes of their own."""
    from chainrule.lab.lessons import LESSONS
    from chainrule.viz.commands import lesson_page
    t = trace(LESSONS["sigmoid_net"].run().output)
    data = player_data(t)
    groups = data["layout"]["groups"]
    assert sorted(g["title"] for g in groups.values()) == ["▸ L = (a2 − y)^2", "▸ z1 = w1 · x + b1",
                                                           "▸ z2 = w2 · a1 + b2"]
    top = [it["key"] for it in data["layout"]["items"] if not it.get("dummy")]
    by_label = {n.label: n.id for n in t.nodes}
    assert [k for k in top if isinstance(k, int)] == sorted(
        by_label[x] for x in ("w1", "x", "b1", "w2", "b2", "y", "a1", "a2"))
    assert '"line":1' in lesson_page(LESSONS["sigmoid_net"])
    # as the seed writes z1 = w1·x + b1: w1, x, b1 from top to bottom, each meeting z1's box at its own point
    ys = {it["key"]: it["y"] for it in data["layout"]["items"]}
    assert ys[by_label["w1"]] < ys[by_label["x"]] < ys[by_label["b1"]]
    into_z1 = [(r["port"], r["nports"]) for r in data["layout"]["routes"] if r["dst"] == f"g{by_label['z1']}"]
    assert sorted(into_z1) == [(0, 3), (1, 3), (2, 3)]
    # asked for: every step drawn (--expand), or a one-line program: no boxes of boxes
    assert player_data(t, collapse=False)["layout"]["groups"] == {}
    assert player_data(evaluate("L = log(q) * w", {"q": 2, "w": 3}).trace())["layout"]["groups"] == {}


def test_long_unnamed_expressions_are_abbreviated_inside():
    """A neuron summing many products (micrograd's act = act + w*x) stays short in its box."""
    from chainrule.viz.svg import SHOWN_UP_TO, expressions
    xs = [Value(0.5, name=f"x{i}") for i in range(12)]
    ws = [Value(0.1 * i, name=f"w{i}") for i in range(12)]
    act = Value(0.0, name="b")
    for w, xi in zip(ws, xs, strict=True):
        act = act + w * xi
    t = trace(act.relu() * 2)
    texts = expressions(t)
    assert max(len(s) for s in texts.values()) <= SHOWN_UP_TO
    assert texts[t.output].startswith("relu(") and texts[t.output].endswith(") · 2")
    assert any(s.endswith("+ w11 · x11") for s in texts.values())


def test_svg_before_backward_says_not_computed_yet():
    t = sigmoid_trace(backward=False)
    svg = trace_to_svg(t)
    text = svg_text(svg)
    assert "gradients not computed yet" in text
    assert "grad 0" not in text and "grad −" not in text
    for n in t.nodes:
        assert (n.label if n.name else n.expr) in text


def test_svg_escapes_and_shows_constants():
    x = Value(2.0, name="a<b&c")
    y = x * 3.0 + 1.0
    svg = trace_to_svg(trace(y))
    text = svg_text(svg)      # parses, so the name was escaped
    assert "a<b&c" in text
    assert 'stroke-dasharray="4 3"' in svg   # constants are dashed


def test_svg_of_a_tensor_trace_shows_shape_and_norm():
    import numpy as np
    from chainrule.tensor import Tensor
    W = Tensor(np.arange(12.0).reshape(3, 4) / 10, requires_grad=True)
    x = Tensor(np.ones(4))
    t = trace((W @ x).tanh().sum())
    text = svg_text(trace_to_svg(t))
    assert "[3×4]" in text and "‖value‖" in text and "‖grad‖" in text


# --------------------------------------------------------------------------
# DOT and PNG
# --------------------------------------------------------------------------

def test_dot_export():
    t = sigmoid_trace()
    dot = trace_to_dot(t)
    assert dot.startswith('digraph "chainrule" {') and dot.rstrip().endswith("}")
    assert "rankdir=LR" in dot
    assert len(re.findall(r"^\s+n\d+ \[label=", dot, re.M)) == len(t.nodes)
    n_edges = sum(len(n.inputs) for n in t.nodes)
    assert len(re.findall(r"^\s+n\d+ -> n\d+", dot, re.M)) == n_edges
    assert 'label="×0.8"' in dot
    assert "gradients not computed yet" in trace_to_dot(sigmoid_trace(backward=False))


def png_pixels(data: bytes):
    """A PNG decoded to an (height, width, 3) array of 0-255 ints (matplotlib reads PNG)."""
    import io

    import matplotlib.image as mpimg
    import numpy as np
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return (mpimg.imread(io.BytesIO(data), format="png")[..., :3] * 255).round().astype(np.int64)


def colour_count(px, name: str) -> int:
    """How many pixels are exactly the palette colour ``name``."""
    from chainrule.viz.svg import PALETTE
    hexa = PALETTE[name]
    rgb = [int(hexa[i:i + 2], 16) for i in (1, 3, 5)]
    return int((px == rgb).all(-1).sum())


@pytest.mark.parametrize("backward", [True, False])
def test_png_export(backward):
    pytest.importorskip("matplotlib")
    from chainrule.viz.png import trace_to_png
    t = sigmoid_trace(backward=backward)
    px = png_pixels(trace_to_png(t))
    # the size is the layout's (at least 460 wide, a 34 px banner before backward), at 1.5 × 100 dpi
    lay = layout_trace(t).layout
    width, height = max(lay.width, 460) * 1.5, (lay.height + (0 if backward else 34) + 10) * 1.5
    assert abs(px.shape[1] - width) <= 1 and abs(px.shape[0] - height) <= 1, (px.shape, width, height)
    total = px.shape[0] * px.shape[1]
    assert 0.4 < colour_count(px, "paper") / total < 0.95          # a picture on paper, not a blank page
    assert colour_count(px, "op") > 0.02 * total and colour_count(px, "input") > 0.02 * total   # the boxes
    assert colour_count(px, "ink") > 1000                              # their text
    if backward:   # gradients drawn in their sign's colour: w1's chain is negative, some edges positive
        assert colour_count(px, "neg") > 1000 and colour_count(px, "pos") > 1000
        assert colour_count(px, "banner") == 0
    else:          # no gradient colours yet, and the "not computed yet" banner across the top
        assert colour_count(px, "neg") == colour_count(px, "pos") == 0
        assert colour_count(px[:40], "banner") > 0.3 * 40 * px.shape[1]


# --------------------------------------------------------------------------
# HTML page and its data
# --------------------------------------------------------------------------

def test_html_is_self_contained():
    page = trace_to_html(sigmoid_trace(), program=SIGMOID_NET)
    assert not re.search(r"https?://", page)
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert "const OPS = {" in page                      # generated from the op table
    js, css = player_assets()
    assert "OPS = {" not in js.split("const OPS = {", 1)[1]   # player.js defines no table of its own
    assert page.count("<script>") == 2


def test_player_js_has_no_derivatives_of_its_own():
    from importlib import resources
    js = resources.files("chainrule.viz").joinpath("player.js").read_text(encoding="utf-8")
    for derivative in ("1 - out * out", "out * (1 - out)", "Math.cos", "1 / x"):
        assert derivative not in js


def test_player_data_matches_the_explanation(seed_reference):
    from chainrule.explain import explain
    t = sigmoid_trace()
    data = player_data(t)
    assert data["wrt"] == "w1"                       # the deepest input (x ties, but w1 is a parameter)
    assert set(data["params"]) == {"w1", "b1", "w2", "b2"}
    assert data["mode"] == "names"
    chain = next(c for c in data["explanation"]["chains"] if c["wrt"] == "w1")
    labels = [f["label"] for f in chain["paths"][0]["factors"]]
    assert labels == ["∂L/∂a₂", "∂a₂/∂z₂", "∂z₂/∂a₁", "∂a₁/∂z₁", "∂z₁/∂w₁"]
    # every factor of every chain is one of the link values the page folds
    folds = {(int(top), b, s): v for top, rows in data["link_formulas"].items() for b, s, _, v in rows}
    for c in data["explanation"]["chains"]:
        for p in c["paths"]:
            for f in p["factors"]:
                assert folds[(f["node"], f["input"], f["slot"])] == f["value"]
    ex = seed_reference["sigmoid_net_squared"]
    assert chain["grad"] == pytest.approx(ex["gradients"]["dL/dw1"], rel=1e-9)
    assert explain(t).chain("w1").grad == chain["grad"]
    json.dumps(data)   # JSON-ready


def test_guess_params_and_default_wrt():
    t = trace(evaluate("L = (w*x - y)**2", {"w": 1, "x": 2, "y": 3}).output)
    assert guess_params(t) == ["w"]
    t2 = trace(evaluate("f = u**2 + 2*v**2", {"u": 0.5, "v": 0.3}).output)
    assert guess_params(t2) == ["u", "v"]            # nothing looks like a weight: every input
    assert default_wrt(t2) in ("u", "v")


def test_html_before_backward_and_bad_params():
    from chainrule.errors import InputError
    page = trace_to_html(sigmoid_trace(backward=False))
    data = player_data(sigmoid_trace(backward=False))
    assert data["explanation"] is None and "gradients not computed yet" in player_assets()[0]
    # the page carries exactly that data: no explanation, and no gradient on any node
    embedded = re.search(r"ChainrulePlayer\.mount\(document\.getElementById\(\"chainrule-player\"\), "
                         r"(\{.*\})\);</script>", page).group(1)
    assert json.loads(embedded) == json.loads(json.dumps(data))
    assert [n["grad"] for n in json.loads(embedded)["trace"]["nodes"]] == [None] * len(data["trace"]["nodes"])
    with pytest.raises(InputError, match="unknown parameter"):
        player_data(sigmoid_trace(), params=["nope"])


def test_large_html_embeds_one_chain():
    t = trace(mlp_loss())
    data = player_data(t)
    assert len(data["explanation"]["chains"]) == 1
    assert data["explanation"]["chains"][0]["wrt"] == data["wrt"]
    assert data["layout"]["groups"]
    assert len(json.dumps(data)) < 3_000_000


# --------------------------------------------------------------------------
# notebook reprs
# --------------------------------------------------------------------------

def test_jupyter_reprs_return_strings():
    x = Value(2.0, name="x")
    y = (3 * x + 1) ** 2
    y.name = "y"
    svg = y._repr_svg_()
    assert isinstance(svg, str) and "gradients not computed yet" in svg_text(svg)
    y.backward()
    svg = y._repr_svg_()
    assert "grad 42" in svg_text(svg)                 # dy/dx = 42 at x = 2
    assert "warning" not in svg_text(svg)              # after backward(), grads on leaves are expected
    html = y._repr_html_()
    assert isinstance(html, str) and "<svg" in html and "open the interactive player" in html
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html)
    t = trace(y)
    assert isinstance(t._repr_svg_(), str) and isinstance(t._repr_html_(), str)
    assert x.grad == 42.0                             # drawing changed no gradient


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

AT = ["--at", "x=1", "w1=0.5", "w2=0.8", "b1=0", "b2=0", "y=1"]


def test_cli_draw_svg_dot_png(tmp_path, capsys):
    out = tmp_path / "g.svg"
    assert main(["draw", SIGMOID_NET, *AT, "-o", str(out)]) == 0
    assert "a1" in svg_text(out.read_text())
    assert main(["draw", SIGMOID_NET, *AT, "-o", str(tmp_path / "g.dot")]) == 0
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert main(["draw", SIGMOID_NET, *AT, "--no-grad", "-o", "-"]) == 0
    assert "gradients not computed yet" in capsys.readouterr().out
    pytest.importorskip("matplotlib")
    assert main(["draw", SIGMOID_NET, *AT, "-o", str(tmp_path / "g.png")]) == 0
    from chainrule.viz.png import trace_to_png
    assert (png_pixels((tmp_path / "g.png").read_bytes()) == png_pixels(trace_to_png(sigmoid_trace()))).all()


def test_cli_html_and_lesson_html(tmp_path):
    out = tmp_path / "p.html"
    assert main(["html", SIGMOID_NET, *AT, "--wrt", "w2", "-o", str(out)]) == 0
    page = out.read_text()
    assert '"wrt":"w2"' in page and "z1 = w1*x + b1" in page
    lesson = tmp_path / "l.html"
    assert main(["lesson", "html", "sigmoid_net", "-o", str(lesson)]) == 0
    assert "13 steps" in lesson.read_text()


@pytest.mark.parametrize("argv, message", [
    (["draw", "L = x**2", "--at", "x=1", "-o", "g.txt"], "cannot tell the format"),
    (["draw", "L = log(x)", "--at", "x=-1"], "line 1, column 5"),
    (["html", "L = x**2", "--at", "x=1", "--wrt", "q"], "--wrt q"),
    (["html", "L = x**2", "--at", "x=1", "--params", "q"], "--params q"),
    (["lesson", "html", "nope"], "no lesson named"),
    (["html", "L = x**2", "--at", "x=1", "-o", "g.svg"], "for a svg picture use 'chainrule draw'"),
    (["lesson", "html", "chain", "-o", "chain.txt"], "needs a name ending in .html"),
])
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_tensor_notebook_reprs_show_shapes_and_gradients_after_backward():
    import xml.etree.ElementTree as ET

    from chainrule.tensor import randn
    W = randn(3, 2, generator=0, requires_grad=True)
    x = randn(4, 2, generator=1)
    L = (x @ W.T).relu().sum()
    before = L._repr_svg_()
    assert "not computed" in before
    L.backward()
    after = L._repr_svg_()
    ET.fromstring(after)
    assert "not computed" not in after
    assert "[3×2]" in after and "‖grad‖" in after      # tensor nodes show shape and gradient norm
    assert "<svg" in L._repr_html_()


def test_notebook_outputs_carry_the_player_code_once_and_stay_light(monkeypatch):
    """A notebook output used to embed the whole player page (87-94 kB for one small Value).
    Now the first output of a session carries the player's code, as inert text, and every
    later one only its drawing and its data."""
    import numpy as np

    from chainrule.tensor import Tensor
    from chainrule.viz import html as viz_html
    monkeypatch.setitem(viz_html._notebook, "code_sent", False)
    x = Value(2.0, name="x")
    y = (3 * x + 1) ** 2
    y.backward()
    first, second = y._repr_html_(), y._repr_html_()
    W = Tensor(np.ones((2, 3)), requires_grad=True, name="W")
    out = (W @ Tensor(np.arange(3.0), name="v")).relu().sum()
    out.backward()
    sizes = {"first Value": len(first.encode()), "Value": len(second.encode()),
             "Trace": len(trace(y)._repr_html_().encode()), "Tensor": len(out._repr_html_().encode())}
    print("notebook output sizes (bytes):", sizes)
    code = '<script type="text/plain" data-chainrule-player-code="js">'
    assert first.count(code) == 1 and code not in second
    assert sizes["Value"] < 16_000 and sizes["Trace"] < 16_000 and sizes["Tensor"] < 16_000, sizes
    # the first output: its own drawing and data plus the player's code, once
    assert sizes["first Value"] < len(viz_html.player_code_html().encode()) + 16_000, sizes
    for html in (first, second):
        assert html.count("<svg") >= 1 and "ChainrulePlayer.mount" in html
        assert html.count("</script>") == html.count("<script")          # nothing ends a block early
    # asked for explicitly (a cleared output): load_player() puts the code on the page again
    assert code in viz_html.load_player()._repr_html_()
    assert code in viz_html.notebook_html(trace(y), code=True)


def test_inline_json_has_no_markup_the_html_parser_could_see():
    from chainrule.viz.html import _script_json
    data = {"title": "<!--<script></script>-->", "x": [1.5, "a<b"]}
    text = _script_json(data)
    assert "<" not in text
    assert json.loads(text) == data


def test_tooltips_name_ops_as_the_program_calls_them():
    # x**3 is the op table's variant row powc; a learner wrote pow (or **), never "powc"
    x = Value(2.0, name="x")
    y = x ** 3
    y.backward()
    svg = trace_to_svg(trace(y))
    assert "op pow: x^3" in svg and "powc" not in svg
