"""The web app's JSON API and pages, through Starlette's TestClient (no server, no browser).

Expected numbers are the seed lessons' own (``L = (3x + 1)²`` at x = 2 is 49
with slope 42; the chain lesson's step gives w1 = 1.7, ...), or worked out
by hand in the comments: never computed by chainrule in the test.

TestClient re-raises any exception that reaches Starlette's 500 handler, so
every bad input below that got a 500 would fail its test loudly.
"""
import asyncio
import importlib.util
import json
import math
import sys
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason='starlette not installed: pip install "chainrule[web]"')
pytest.importorskip("httpx", reason="httpx not installed (Starlette's TestClient needs it): pip install httpx")

warnings.filterwarnings("ignore", message=".*httpx.*")   # Starlette's note about its test client
from starlette.testclient import TestClient  # noqa: E402

from chainrule.errors import ChainruleError, InputError  # noqa: E402
from chainrule.lab.lessons import LESSONS  # noqa: E402
from chainrule.trace import Trace  # noqa: E402
from chainrule.web import create_app  # noqa: E402
from chainrule.web import api, commands  # noqa: E402
from chainrule.web.app import Compute  # noqa: E402

SQUARE = "u = 3*x + 1\nL = u**2"


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(create_app(cache_entries=0)) as c:
            yield c


def explain(client, program, at, **extra):
    return client.post("/api/explain", json={"program": program, "at": at, **extra})


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


# --------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------

def test_page_is_served_with_everything_local(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    for asset in ("app.js", "app.css", "player.js", "player.css"):
        assert f'"{asset}"' in html
        assert client.get("/" + asset).status_code == 200
    assert "http://" not in html and "https://" not in html        # no CDN, no network
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert 'id="program"' in html and 'id="lesson"' in html and 'id="step"' in html
    js = client.get("/app.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert "fetch(" in js.text and "https://" not in js.text


def test_player_assets_come_from_viz(client):
    from chainrule.viz import html as viz
    js, css = viz.player_assets()
    assert client.get("/player.js").text == js and "ChainrulePlayer" in js
    assert client.get("/player.css").text == css


# --------------------------------------------------------------------------
# happy paths, with the lessons' numbers
# --------------------------------------------------------------------------

def test_parse_lists_inputs_in_first_use_order(client):
    r = client.post("/api/parse", json={"program": "z = w*x + b\nL = (z - y)**2"})
    assert r.status_code == 200
    assert r.json() == {"inputs": ["w", "x", "b", "y"], "output": "L", "assigned": ["z", "L"]}


def test_explain_square_3x_plus_1(client):
    # seed 003: y = (3x + 1)² at x = 2 is 49, dy/dx = 2u · 3 = 6 · 7 = 42, dy/du = 14
    r = explain(client, "L = (3*x + 1)**2", {"x": 2})
    assert r.status_code == 200
    d = r.json()
    assert d["output"] == "L" and d["value"] == 49 and d["grads"] == {"x": 42}
    d = explain(client, SQUARE, {"x": 2}).json()
    assert d["values"] == {"x": 2, "u": 7, "L": 49}
    assert d["all_grads"] == {"x": 42, "u": 14, "L": 1}
    assert d["chains"]["x"].endswith("= 14 · 3 = 42")
    assert "42" in d["text"] and "Forward" in d["text"]
    t = Trace.from_dict(d["trace"])                      # the trace survives the trip
    assert t.node("x").grad == 42 and t.nodes[t.output].value == 49
    assert [c["wrt"] for c in d["explanation"]["chains"]] == ["x"]


def test_explain_chain_lesson_tells_the_chain(client):
    # seed 000: ∂C/∂w₁ = 2 · 0.5 · 3 · 1 = 3
    d = explain(client, LESSONS["chain"].program, {"a0": 1, "w1": 2, "w2": 3, "w3": 0.5, "y": 2},
                wrt=["w1"]).json()
    assert d["chains"] == {"w1": "∂C/∂w₁ = ∂C/∂a₃ · ∂a₃/∂a₂ · ∂a₂/∂a₁ · ∂a₁/∂w₁ = 2 · 0.5 · 3 · 1 = 3"}
    (chain,) = d["explanation"]["chains"]
    assert [f["value"] for f in chain["paths"][0]["factors"]] == [2, 0.5, 3, 1]
    assert d["grads"] == {"a0": 6, "w1": 3, "w2": 2, "w3": 12, "y": -2}   # reference: torch, seed_examples


@pytest.mark.parametrize("name", sorted(LESSONS))
def test_every_lesson_explains_to_its_stated_numbers(client, name):
    lesson = LESSONS[name]
    r = client.get(f"/api/lessons/{name}")
    assert r.status_code == 200
    got = r.json()
    assert got["program"] == lesson.program and got["title"] == lesson.title
    d = explain(client, got["program"], got["inputs"], lesson=name).json()
    for var, want in lesson.expected.items():       # numbers typed in from the lesson text
        assert close(d["values"][var], want), (var, d["values"][var], want)
    for var, want in lesson.grads.items():
        assert close(d["all_grads"][var], want), (var, d["all_grads"][var], want)
    # chainrule.viz is part of the package, so every lesson comes with the player's data
    assert d["player"] is not None and "layout" in d["player"] and "trace" not in d["player"]


def test_lessons_list_has_every_lesson(client):
    r = client.get("/api/lessons")
    assert r.status_code == 200
    names = [l["name"] for l in r.json()["lessons"]]
    assert names == list(LESSONS)
    assert all(l["title"] for l in r.json()["lessons"])


def test_step_square_lowers_the_loss(client):
    # x ← 2 − 0.01 · 42 = 1.58; L = (3 · 1.58 + 1)² = 5.74² = 32.9476
    r = client.post("/api/step", json={"program": "L = (3*x + 1)**2", "at": {"x": 2}, "lr": 0.01})
    assert r.status_code == 200
    d = r.json()
    assert d["grads"] == {"x": 42} and d["before"]["value"] == 49
    assert close(d["after"]["at"]["x"], 1.58) and close(d["after"]["value"], 32.9476)
    assert d["after"]["value"] < d["before"]["value"]


def test_step_chain_lesson_matches_the_seed(client):
    # seed 000 / PyTorch reference: one SGD step at lr 0.1 gives w1 = 1.7, w2 = 2.8, w3 = −0.7; a0, y stay
    body = {"program": LESSONS["chain"].program, "at": {"a0": 1, "w1": 2, "w2": 3, "w3": 0.5, "y": 2},
            "lr": 0.1, "params": ["w1", "w2", "w3"]}
    d = client.post("/api/step", json=body).json()
    after = d["after"]["at"]
    assert close(after["w1"], 1.7) and close(after["w2"], 2.8) and close(after["w3"], -0.7)
    assert after["a0"] == 1 and after["y"] == 2 and d["params"] == ["w1", "w2", "w3"]


def test_step_that_leaves_the_domain_reports_it(client):
    # x ← 2 − 10 · ½ = −3, and log(−3) has no value: the step is shown, the error said
    d = client.post("/api/step", json={"program": "L = log(x)", "at": {"x": 2}, "lr": 10}).json()
    assert d["after"]["at"] == {"x": -3} and d["after"]["value"] is None
    assert "log(-3)" in d["after"]["error"] and "line 1" in d["after"]["error"]


def test_infinite_gradient_is_sent_as_a_string(client):
    # sqrt'(0) = 1/(2·√0) = inf: JSON has no infinity, so the API says "inf"
    r = explain(client, "L = sqrt(x)", {"x": 0})
    assert r.status_code == 200 and r.json()["grads"] == {"x": "inf"}
    json.loads(r.text)   # strictly valid JSON


def test_unused_input_has_zero_gradient(client):
    d = explain(client, "a = 2*x\nL = 3*y", {"x": 1, "y": 1}).json()
    assert d["grads"] == {"x": 0, "y": 3} and d["value"] == 3


def test_cache_returns_the_same_answer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app = create_app(cache_entries=4)
        c = TestClient(app)
    first = explain(c, SQUARE, {"x": 2})
    again = c.post("/api/explain", json={"at": {"x": 2}, "program": SQUARE})   # key order differs
    assert first.content == again.content and app.state.cache.hits == 1
    for x in range(10):   # bounded
        explain(c, SQUARE, {"x": x})
    assert len(app.state.cache.data) == 4


# --------------------------------------------------------------------------
# bad input: always a 4xx naming what was wrong, never a 500
# --------------------------------------------------------------------------

def test_syntax_error_has_line_and_column(client):
    r = client.post("/api/parse", json={"program": "u = 3*x + 1\nL = (u +* 2)**2"})
    assert r.status_code == 400
    d = r.json()
    assert (d["line"], d["column"]) == (2, 9)   # the second '*': L=1 ' '=2 '='=3 ' '=4 (=5 u=6 ' '=7 +=8 *=9
    assert "syntax" in d["error"] and d["error"].startswith("line 2, column 9")


@pytest.mark.parametrize("program, at, words, line, column", [
    ("L = foo(x)", {"x": 1}, ["unknown function", "foo"], 1, 5),
    ("L = log(x)", {"x": -1}, ["log(-1)", "positive"], 1, 5),
    ("a = x + 1\nL = 1/(x - x)", {"x": 2}, ["div", "0"], 2, 5),
    ("L = exp(x)", {"x": 1000}, ["exp", "overflow"], 1, 5),
    ("L = x**2", {"x": 1e300}, ["too large"], 1, 5),
    ("L = x = 2", {"x": 1}, ["chained"], 1, 5),
    ("import os", {}, ["import"], 1, 1),
    ("L = x.real", {"x": 1}, ["attribute"], 1, 5),
])
def test_program_errors_are_400_with_place(client, program, at, words, line, column):
    r = explain(client, program, at)
    assert r.status_code == 400, r.text
    d = r.json()
    assert all(w in d["error"] for w in words), d
    assert (d["line"], d["column"]) == (line, column)


@pytest.mark.parametrize("body, status, words", [
    ({"program": "L = x*y", "at": {"x": 1}}, 400, ["missing input y"]),
    ({"program": "L = x", "at": {}}, 400, ["missing input x"]),
    ({"program": "L = x", "at": {"x": 1, "z": 2}}, 400, ["'z'"]),
    ({"program": "L = x", "at": {"X": 1}}, 400, ["'X'", "inputs are: x"]),
    ({"program": "L = 2*x", "at": {"x": 1}, "wrt": ["q"]}, 400, ["wrt", "q"]),
    ({"at": {"x": 1}}, 422, ['missing field "program"']),
    ({"program": 42}, 422, ['"program" must be a string', "a number"]),
    ({"program": ["L = x"]}, 422, ['"program" must be a string', "an array"]),
    ({"program": "L = x", "at": [1]}, 422, ['"at" must be an object']),
    ({"program": "L = x", "at": "x=1"}, 422, ['"at" must be an object']),
    ({"program": "L = x", "at": {"x": "2"}}, 422, ["at.x must be a number", "a string"]),
    ({"program": "L = x", "at": {"x": True}}, 422, ["at.x must be a number", "a boolean"]),
    ({"program": "L = x", "at": {"x": None}}, 422, ["at.x must be a number", "null"]),
    ({"program": "L = x", "at": {"x": {"v": 1}}}, 422, ["at.x must be a number"]),
    ({"program": "L = x", "at": {"x": 10 ** 400}}, 422, ["at.x must be a finite number"]),
    ({"program": "L = x", "at": {"x": 1}, "wrt": 5}, 422, ['"wrt" must be a list of names']),
    ({"program": "L = x", "at": {"x": 1}, "wrt": [1]}, 422, ['"wrt" must be a list of names']),
    ({"program": "L = x", "at": {"x": 1}, "lesson": 3}, 422, ['"lesson" must be a lesson name']),
    ({"program": "L = x", "at": {"x": 1}, "lesson": "nope"}, 404, ["no lesson named 'nope'", "chain"]),
    ({"program": "x" * (api.MAX_PROGRAM_CHARS + 1), "at": {}}, 422, ["characters long", "limit"]),
    ({"program": "", "at": {}}, 400, ["empty"]),
    ({"program": "L = 3", "at": {}, "wrt": ["x"]}, 400, ["no variable named 'x'"]),
    ({"program": "a = 2*x\nL = 3*y", "at": {"x": 1, "y": 1}, "wrt": ["x"]}, 400, ["L does not depend on 'x'"]),
])
def test_bad_explain_bodies(client, body, status, words):
    r = client.post("/api/explain", json=body)
    assert r.status_code == status, r.text
    assert all(w in r.json()["error"] for w in words), r.json()


@pytest.mark.parametrize("body, status, words", [
    ({"program": "L = x**2", "at": {"x": 1}, "lr": "fast"}, 422, ["lr must be a number"]),
    ({"program": "L = x**2", "at": {"x": 1}, "lr": -0.1}, 422, ["lr must be positive"]),
    ({"program": "L = x**2", "at": {"x": 1}, "lr": 0}, 422, ["lr must be positive"]),
    ({"program": "L = x**2", "at": {"x": 1}, "params": ["y"]}, 400, ["'y'", "inputs"]),
    ({"program": "L = x**2", "at": {"x": 1}, "params": [1]}, 422, ['"params" must be a list of names']),
    ({"program": "L = 3", "at": {}}, 400, ["nothing to step"]),
    # x ← 1e150 − 1e200 · 2e150 overflows to −inf
    ({"program": "L = x**2", "at": {"x": 1e150}, "lr": 1e200}, 400, ["smaller learning rate"]),
])
def test_bad_step_bodies(client, body, status, words):
    r = client.post("/api/step", json=body)
    assert r.status_code == status, r.text
    assert all(w in r.json()["error"] for w in words), r.json()


MALFORMED = [
    (b"{not json", ["not valid JSON", "line 1, column 2"]),
    (b"", ["empty"]),
    (b"   ", ["empty"]),
    (b'{"program": "L = x", "at": {"x": NaN}}', ["NaN is not valid JSON"]),
    (b'{"program": "L = x", "at": {"x": Infinity}}', ["Infinity is not valid JSON"]),
    (b"\xff\xfe\xfa", ["not valid JSON"]),
    (b'{"program": "L = x", "at": {"x": ' + b"9" * 5000 + b"}}", ["not valid JSON"]),
    (b"[" * 100_000 + b"]" * 100_000, ["200000 bytes", "limit"]),  # refused for its size first
    (b"[" * 30_000 + b"]" * 30_000, ["nested too deeply"]),
]


@pytest.mark.parametrize("raw, words", MALFORMED, ids=[f"malformed{i}" for i in range(len(MALFORMED))])
def test_malformed_bodies_are_400(client, raw, words):
    r = client.post("/api/explain", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 413), r.text
    assert all(w in r.json()["error"] for w in words), r.json()


def test_json_array_or_scalar_body_is_422(client):
    for raw in (b"[1, 2]", b'"L = x"', b"3", b"null"):
        r = client.post("/api/explain", content=raw)
        assert r.status_code == 422 and r.json()["field"] == "body", r.text
        assert "must be a JSON object" in r.json()["error"]


def test_huge_body_is_413_before_it_is_read(client):
    r = client.post("/api/explain", content=b"x" * (70 * 1024))
    assert r.status_code == 413 and "limit" in r.json()["error"]


def test_huge_streamed_body_is_cut_off():
    # no Content-Length (chunked): the cap applies while reading, and reading stops there
    from chainrule.web.app import read_json
    taken = []

    class Streamed:
        headers = {}

        async def stream(self):
            for _ in range(1000):
                taken.append(1)
                yield b" " * 1024

    with pytest.raises(api.ApiError) as e:
        asyncio.run(read_json(Streamed(), 64 * 1024))
    assert e.value.status == 413 and "limit" in e.value.message
    assert len(taken) == 65   # 65 kB read of the 1 MB offered


def test_graph_too_big_is_refused(client):
    # 30 statements of 100 multiplications each: about 3,000 nodes, in under 8,000 characters
    lines = ["a0 = x"] + [f"a{i} = a{i - 1}" + "*x" * 100 for i in range(1, 31)]
    program = "\n".join(lines)
    assert len(program) < api.MAX_PROGRAM_CHARS
    r = explain(client, program, {"x": 1})
    assert r.status_code == 422 and "nodes" in r.json()["error"]


def test_unknown_lesson_is_404(client):
    r = client.get("/api/lessons/not_a_lesson")
    assert r.status_code == 404
    assert "not_a_lesson" in r.json()["error"] and "chain" in r.json()["error"]


def test_unknown_route_and_method(client):
    assert client.get("/api/nothing").status_code == 404
    r = client.get("/api/explain")
    assert r.status_code == 405 and "Method Not Allowed" in r.json()["error"]


def test_bad_content_length_header(client):
    r = client.post("/api/explain", content=b"{}", headers={"Content-Length": "abc"})
    assert r.status_code == 400


# --------------------------------------------------------------------------
# no request hangs: the compute budget and the bounded queue
# --------------------------------------------------------------------------

def test_slow_compute_gets_a_422_and_frees_its_slot():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app = create_app(budget=0.002, cache_entries=0)
        c = TestClient(app)
    lines = ["a0 = x"] + [f"a{i} = sigmoid(a{i - 1}" + "*x" * 60 + ")" for i in range(1, 30)]
    r = explain(c, "\n".join(lines), {"x": 0.5})
    assert r.status_code == 422 and "took more than" in r.json()["error"]
    app.state.compute.budget = 10.0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:   # the abandoned run still holds its slot until it ends
        r = explain(c, SQUARE, {"x": 2})
        if r.status_code == 200:
            break
    assert r.status_code == 200 and r.json()["value"] == 49


def test_full_queue_answers_503_quickly():
    compute = Compute(slots=1, queue_wait=0.05, budget=5.0)

    async def scenario():
        slow = asyncio.ensure_future(compute(time.sleep, 0.5))
        await asyncio.sleep(0.01)
        t0 = time.perf_counter()
        with pytest.raises(api.ApiError) as e:
            await compute(lambda: 1)
        waited = time.perf_counter() - t0
        await slow
        return e.value, waited, await compute(lambda: 2)

    err, waited, after = asyncio.run(scenario())
    compute.close()
    assert err.status == 503 and "busy" in err.message
    assert waited < 0.4 and after == 2


# --------------------------------------------------------------------------
# fuzz: random JSON and random program text never reach the 500 handler
# --------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis not installed: pip install hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
bodies = st.fixed_dictionaries({}, optional={
    "program": st.text(max_size=60) | st.sampled_from([SQUARE, "L = log(x)", "L = x/y", "L = (3*x"]) | json_values,
    "at": st.dictionaries(st.sampled_from(["x", "y", "u", "L", "z"]), json_values, max_size=3) | json_values,
    "wrt": json_values, "lr": json_values, "params": json_values, "lesson": json_values,
}) | json_values


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(["/api/explain", "/api/step", "/api/parse"]), body=bodies)
def test_fuzzed_bodies_never_500(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code in (200, 400, 404, 413, 422), (r.status_code, r.text)
    if r.status_code != 200:
        assert r.json()["error"]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(program=st.text(alphabet=st.sampled_from(list("xyLu=+-*/().,;:[]{}'\"0123456789 \n\teglosqrtinh_#@!^%&|~<>\\")),
                       max_size=40))
def test_fuzzed_programs_never_500(client, program):
    r = explain(client, program, {"x": 0.5})
    assert r.status_code in (200, 400, 422), (r.status_code, r.text)
    if r.status_code == 400 and r.json().get("line") is not None:
        assert r.json()["line"] >= 1 and r.json()["column"] >= 1


# --------------------------------------------------------------------------
# the serve command
# --------------------------------------------------------------------------

def _parse(argv):
    import argparse
    p = argparse.ArgumentParser(prog="chainrule")
    commands.register(p.add_subparsers())
    return p.parse_args(argv)


def test_serve_defaults_to_loopback():
    args = _parse(["serve"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8000, 1) and args.func is commands.serve


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                        ("0.0.0.0", False), ("192.168.1.5", False)])
def test_is_loopback(host, loop):
    assert commands.is_loopback(host) is loop


def test_serve_warns_on_public_address_and_runs_uvicorn(monkeypatch, capsys):
    import uvicorn
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    assert commands.serve(_parse(["serve", "--host", "0.0.0.0", "--port", "0"])) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "0.0.0.0" in err and "127.0.0.1" in err
    assert seen["app"] == "chainrule.web.app:create_app" and seen["factory"] is True
    assert seen["port"] > 0 and seen["host"] == "0.0.0.0"   # port 0: a free one, picked and printed
    assert f":{seen['port']}/" in err
    commands.serve(_parse(["serve", "--port", "0"]))
    assert "warning" not in capsys.readouterr().err


def test_serve_refuses_a_busy_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(InputError, match="already in use"):
            commands.serve(_parse(["serve", "--port", str(s.getsockname()[1])]))


def test_serve_bad_numbers():
    with pytest.raises(InputError, match="--port"):
        commands.serve(_parse(["serve", "--port", "70000"]))
    with pytest.raises(InputError, match="--workers"):
        commands.serve(_parse(["serve", "--workers", "0"]))


def test_serve_refuses_a_bad_cache_setting_before_saying_serving(monkeypatch, capsys):
    import uvicorn
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("uvicorn started"))
    monkeypatch.setenv("CHAINRULE_WEB_CACHE", "abc")
    with pytest.raises(InputError, match="CHAINRULE_WEB_CACHE"):
        commands.serve(_parse(["serve", "--port", "0"]))
    assert "serving on" not in capsys.readouterr().err


def test_missing_web_extras_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)   # import uvicorn -> ImportError
    with pytest.raises(ChainruleError, match=r'pip install "chainrule\[web\]"'):
        commands.serve(_parse(["serve"]))
    for name in [m for m in sys.modules if m == "starlette" or m.startswith("starlette.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "chainrule.web.app", raising=False)
    with pytest.raises(ChainruleError, match=r'pip install "chainrule\[web\]"'):
        create_app()


def test_cli_knows_serve(capsys):
    from chainrule import cli
    try:
        code = cli.main(["serve", "--help"])
    except SystemExit as e:
        code = e.code
    assert code in (0, None) and "--host" in capsys.readouterr().out


# --------------------------------------------------------------------------
# the load benchmark runs (a tiny, short load: correctness, not speed)
# --------------------------------------------------------------------------

def test_serve_load_benchmark_smoke(capsys):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_load.py"
    spec = importlib.util.spec_from_file_location("serve_load", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--seconds", "1", "--clients", "4", "--workers", "1"])
    out = capsys.readouterr().out
    assert "req/s" in out and "p99" in out
    assert "[PASS] zero 5xx" in out and "[PASS] right answers for every lesson" in out
    assert "[PASS] no transport errors" in out
