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
# hostile requests: every one a 4xx with a JSON message, never a 5xx
# --------------------------------------------------------------------------

def _raw(client, method, path, raw=b"", content_type="application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return client.request(method, path, content=raw, headers=headers)


SURROGATE_BODIES = [   # "\ud800" (and friends) as JSON escapes: valid JSON, no UTF-8 form
    b'{"program": "L = x", "at": {"\\ud800": 1}}',
    b'{"program": "L = \\ud800", "at": {"x": 1}}',
    b'{"program": "L = x", "at": {"x": 1}, "wrt": ["\\udfff"]}',
    b'{"program": "L = x", "at": {"x": 1}, "lesson": "\\ud800"}',
    b'{"program": "L = x", "at": {"x": "\\ud800"}}',
    b'{"\\ud800": 1, "program": "L = x"}',
    b'{"program": "L = x", "at": {"x": 1}, "lr": "\\ud800", "params": ["\\ud83d"]}',
]


@pytest.mark.parametrize("path", ["/api/explain", "/api/step", "/api/parse"])
@pytest.mark.parametrize("raw", SURROGATE_BODIES, ids=[f"surrogate{i}" for i in range(len(SURROGATE_BODIES))])
def test_lone_surrogates_are_400_with_a_message(client, path, raw):
    r = _raw(client, "POST", path, raw)
    assert r.status_code == 400, r.text
    assert "lone surrogate" in r.json()["error"] and "\\u" in r.json()["error"]


def test_surrogate_pair_is_one_character_and_fine(client):
    # "\ud83d\ude00" is one emoji: a program comment may hold it
    r = _raw(client, "POST", "/api/parse", b'{"program": "L = x  # \\ud83d\\ude00"}')
    assert r.status_code == 200 and r.json()["inputs"] == ["x"]


def test_reply_that_quotes_a_surrogate_is_still_json():
    from chainrule.web.app import to_json
    data = json.loads(to_json({"error": "no variable named '\ud800'"}))
    assert data == {"error": "no variable named '\ud800'"}


HOSTILE = [   # (method, path, raw body, content type) -> a 4xx with {"error": ...}
    ("POST", "/api/explain", b"{", "application/json"),
    ("POST", "/api/explain", b'{"program": "L = x", "at": {"x": 1}}', "text/plain"),
    ("POST", "/api/explain", b"program=L+%3D+x", "application/x-www-form-urlencoded"),
    ("POST", "/api/step", b'{"program": "L = x"}', "multipart/form-data; boundary=x"),
    ("POST", "/api/explain", b'{"program": "L = x", "at": {"x": 1e999}}', "application/json"),
    ("POST", "/api/explain", b'{"program": "L = x", "at": {"x": -1e999}}', "application/json"),
    ("POST", "/api/explain", b'{"program": "L = x", "at": {"x": ' + b"7" * 4000 + b"}}", "application/json"),
    ("POST", "/api/step", b'{"program": "L = x**2", "at": {"x": 1}, "lr": ' + b"9" * 400 + b"}", "application/json"),
    ("POST", "/api/explain", b'{"program": "L = ' + b"9" * 5000 + b'*x", "at": {"x": 1}}', "application/json"),
    ("POST", "/api/explain", b'{"program": "L = x", "at": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, "application/json"),
    ("POST", "/api/explain", b"[" * 500 + b"]" * 500, "application/json"),
    ("POST", "/api/explain", b'{"program": "L = x", "at": {"x": 1}, "wrt": ' + b"[" * 100 + b"]" * 100 + b"}",
     "application/json"),
    ("POST", "/api/explain", b'{"program": {"program": "L = x"}, "at": {"x": 1}}', "application/json"),
    ("POST", "/api/explain", b'{"program": "L = x", "at": {"x": [1, 2]}}', "application/json"),
    ("POST", "/api/step", b'{"program": "L = x", "at": {"x": 1}, "lr": [0.1]}', "application/json"),
    ("POST", "/api/step", b'{"program": "L = x", "at": {"x": 1}, "params": {"x": 1}}', "application/json"),
    ("POST", "/api/explain", b'{"program": "L = x", "at": {"x": 1}}' + b" " * (70 * 1024), "application/json"),
    ("POST", "/api/explain", b"\xef\xbb\xbf\xff", "application/json"),
    ("PUT", "/api/explain", b"{}", "application/json"),
    ("DELETE", "/api/step", b"", None),
    ("PATCH", "/api/lessons", b"", None),
    ("GET", "/api/parse", b"", None),
    ("POST", "/api/lessons/chain", b"{}", "application/json"),
    ("GET", "/api/lessons/%ED%A0%80", b"", None),
    ("GET", "/api/lessons/" + "x" * 3000, b"", None),
    ("GET", "/../../etc/passwd", b"", None),
]


@pytest.mark.parametrize("method, path, raw, ctype", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_requests_get_a_4xx_and_a_message(client, method, path, raw, ctype):
    r = _raw(client, method, path, raw, ctype)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    message = r.json()["error"]
    assert isinstance(message, str) and 10 < len(message) < 600


def test_wrong_content_type_is_415_naming_it(client):
    r = _raw(client, "POST", "/api/explain", b'{"program": "L = x", "at": {"x": 1}}', "text/plain")
    assert r.status_code == 415 and "application/json" in r.json()["error"] and "text/plain" in r.json()["error"]
    ok = _raw(client, "POST", "/api/explain", b'{"program": "L = x", "at": {"x": 1}}', "application/json; charset=utf-8")
    assert ok.status_code == 200


def test_deep_nesting_is_refused_before_any_work(client):
    r = _raw(client, "POST", "/api/explain", b'{"program": "L = x", "at": {"x": 1}, "lesson": ' + b"[" * 200 + b"]" * 200
             + b"}")
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]


def _guarded_client(monkeypatch, exc):
    def broken(body):
        raise exc
    monkeypatch.setattr(api, "explain_payload", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TestClient(create_app(cache_entries=0))   # raise_server_exceptions: a 500 would raise here


@pytest.mark.parametrize("exc, words", [
    (RecursionError("maximum recursion depth exceeded"), ["nested too deeply"]),
    (MemoryError(), ["more memory"]),
    (OverflowError("intermediate overflow in fsum"), ["overflowed", "fsum"]),
])
def test_resource_errors_from_a_program_are_422_and_one_log_line(monkeypatch, caplog, exc, words):
    c = _guarded_client(monkeypatch, exc)
    with caplog.at_level("WARNING", logger="chainrule.web"):
        r = explain(c, SQUARE, {"x": 2})
    assert r.status_code == 422 and all(w in r.json()["error"] for w in words), r.text
    assert len(caplog.records) == 1 and "\n" not in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info is None                # a line, not a traceback


def test_a_real_bug_is_one_json_500_logged_once(monkeypatch, caplog):
    c = _guarded_client(monkeypatch, KeyError("oops"))
    with caplog.at_level("WARNING"):
        r = explain(c, SQUARE, {"x": 2})      # TestClient re-raises anything that reaches Starlette's handler
        again = explain(c, SQUARE, {"x": 3})
    assert r.status_code == 500 and "KeyError" in r.json()["error"] and "bug" in r.json()["error"]
    assert again.status_code == 500
    records = [rec for rec in caplog.records if rec.levelname in ("ERROR", "WARNING")]
    assert len(records) == 2 and all(rec.name == "chainrule.web" for rec in records)


def test_client_disconnect_is_not_an_internal_error(caplog):
    app = create_app(cache_entries=0)
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/explain", "raw_path": b"/api/explain",
             "query_string": b"", "root_path": "", "scheme": "http", "server": ("127.0.0.1", 8000),
             "client": ("127.0.0.1", 5000), "http_version": "1.1", "asgi": {"version": "3.0"},
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                         (b"content-length", b"40")]}
    with caplog.at_level("DEBUG"):
        asyncio.run(app(scope, receive, send))
    assert not [r for r in caplog.records if r.levelno >= 30], [r.getMessage() for r in caplog.records]
    assert not any(m.get("status", 0) >= 500 for m in sent)


# --------------------------------------------------------------------------
# the Host header: DNS-rebinding protection
# --------------------------------------------------------------------------

@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1:8000", True), ("localhost", True), ("LOCALHOST:1", True), ("[::1]:8000", True),
    ("evil.example", False), ("evil.example:8000", False), ("127.0.0.1.evil.example", False),
    ("", False), ("[::1", False), ("localhost:abc", False), ("::1", False),
])
def test_host_header_must_name_this_server(host, ok):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = TestClient(create_app(cache_entries=0, allowed_hosts=["localhost", "127.0.0.1", "::1"]))
    r = c.get("/api/lessons", headers={"Host": host})
    if ok:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 400 and "--allow-host" in r.json()["error"], r.text


def test_allow_host_widens_the_names():
    assert commands.allowed_hosts("127.0.0.1", []) == ["localhost", "127.0.0.1", "::1"]
    assert commands.allowed_hosts("0.0.0.0", ["Box.Example.org", "*.lab.org"])[-2:] == ["box.example.org",
                                                                                         "*.lab.org"]
    assert "10.1.2.3" in commands.allowed_hosts("10.1.2.3", [])
    for bad in ("*evil", "a*b", "", "host:port", "x.*.org"):
        with pytest.raises(InputError, match="--allow-host"):
            commands.allowed_hosts("127.0.0.1", [bad])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = TestClient(create_app(cache_entries=0, allowed_hosts=commands.allowed_hosts("127.0.0.1", ["*.lab.org"])))
    assert c.get("/api/lessons", headers={"Host": "pc7.lab.org:8000"}).status_code == 200
    assert c.get("/api/lessons", headers={"Host": "lab.org.evil"}).status_code == 400
    anyone = TestClient(create_app(cache_entries=0, allowed_hosts=["*"]))
    assert anyone.get("/api/lessons", headers={"Host": "whatever"}).status_code == 200


# --------------------------------------------------------------------------
# work and answer size follow the request
# --------------------------------------------------------------------------

def _wide_program(inputs=199, statements=300):
    lines = ["a0 = x0"] + [f"a{i} = a{i - 1}*x{i % inputs} + x{(i * 7) % inputs}" for i in range(1, statements)]
    return "\n".join(lines + [f"L = a{statements - 1}"]), {f"x{i}": 0.5 for i in range(inputs)}


def test_many_inputs_get_a_few_chains_and_no_drawing():
    # the request: 300 statements, 199 inputs (it returned 30 MB and took seconds of CPU).
    # What is checked is the answer's shape and size; the budget is wide so a loaded machine cannot matter.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = TestClient(create_app(cache_entries=0, budget=300))
    program, at = _wide_program()
    r = explain(client, program, at)
    assert r.status_code == 200, r.text[:300]
    d = r.json()
    assert len(d["grads"]) == 199                                       # every gradient: cheap and small
    chains = d["explanation"]["chains"]
    assert len(chains) == api.DEFAULT_CHAINS and len(d["chains"]) == api.DEFAULT_CHAINS
    assert any("12 of the 199 inputs" in n and "wrt" in n for n in d["explanation"]["notes"])
    assert all(len(c["paths"]) <= api.MAX_PATHS for c in chains)
    assert d["player"] is None and "too many to draw" in d["player_note"]
    assert len(r.content) < 4_000_000
    one = explain(client, program, at, wrt=["x5"]).json()               # what was asked, and only that
    assert [c["wrt"] for c in one["explanation"]["chains"]] == ["x5"] and list(one["chains"]) == ["x5"]


def test_answer_over_the_size_cap_is_a_clear_422():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = TestClient(create_app(cache_entries=0, max_response=20_000, budget=300))
    program, at = _wide_program(30, 60)
    r = explain(c, program, at)
    assert r.status_code == 422 and "MB" in r.json()["error"] and "wrt" in r.json()["error"], r.text[:300]


def test_slow_drawing_is_left_out_not_the_answer(monkeypatch):
    monkeypatch.setattr(api, "PLAYER_SECONDS", 0.05)
    import chainrule.viz.html as viz
    real = viz.player_data

    def slow(*a, **k):
        while True:   # a layout that never ends
            pass
    monkeypatch.setattr(viz, "player_data", slow)
    d = api.explain_payload({"program": SQUARE, "at": {"x": 2}})
    assert d["player"] is None and "to lay out" in d["player_note"] and d["value"] == 49
    monkeypatch.setattr(viz, "player_data", real)


def test_cache_is_bounded_in_bytes():
    from chainrule.web.app import ResponseCache
    cache = ResponseCache(max_bytes=100_000)
    for i in range(200):
        key = cache.key("/api/explain", {"program": "x" * 5000, "i": i})   # big requests: small keys
        assert len(key) == 32
        cache.put(key, b"y" * 5000)
    assert cache.size <= 100_000 and len(cache.data) == cache.size // cache.cost(key, b"y" * 5000)
    assert sum(len(k) + len(v) for k, v in cache.data.items()) <= 100_000
    cache.put(b"k" * 32, b"z" * 20_000)            # over an eighth of the cache: not kept
    assert b"k" * 32 not in cache.data
    assert not ResponseCache(max_bytes=0).enabled and not ResponseCache(entries=0).enabled


def test_cache_size_setting(monkeypatch):
    from chainrule.web.app import cache_bytes_from_env
    monkeypatch.setenv("CHAINRULE_WEB_CACHE_MB", "3")
    assert cache_bytes_from_env() == 3 * 1024 * 1024
    monkeypatch.setenv("CHAINRULE_WEB_CACHE_MB", "lots")
    with pytest.raises(InputError, match="CHAINRULE_WEB_CACHE_MB"):
        cache_bytes_from_env()


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
    assert r.status_code == 422 and "took more than" in r.json()["error"], r.text
    app.state.compute.budget = 10.0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:   # the abandoned run still holds its slot until it ends
        r = explain(c, SQUARE, {"x": 2})
        if r.status_code == 200:
            break
    assert r.status_code == 200 and r.json()["value"] == 49


def test_budget_stops_the_computation_itself():
    # The work never ends by itself: the old runner stopped waiting but kept the slot (and a core)
    # forever, so the next request waited for a slot until its 503. Now the worker is stopped.
    compute = Compute(slots=1, queue_wait=30.0, budget=0.2)
    spins = []

    def forever():
        while True:
            spins.append(1)
            del spins[:]
            try:
                sum(range(100))
            except Exception:   # the engine's own handlers cannot swallow the stop
                pass

    async def scenario():
        with pytest.raises(api.ApiError) as e:
            await compute(forever)
        return e.value, await compute(lambda: "next")

    err, after = asyncio.run(scenario())
    compute.close()
    assert err.status == 422 and "took more than 0.2 s" in err.message
    assert after == "next"


def test_budget_is_per_request_and_nests():
    from chainrule.web.budget import OverBudget, limit
    with limit(5.0) as outer:
        with limit(0.05) as inner:
            while True:
                pass
        x = sum(range(1000))          # the outer work goes on
    assert inner.expired and not outer.expired and x == 499500
    with limit(0.01) as quick:
        pass
    time.sleep(0.05)                  # an unexpired limit leaves nothing pending behind it
    assert not quick.expired
    assert issubclass(OverBudget, BaseException) and not issubclass(OverBudget, Exception)


def test_a_short_limit_fires_while_the_watcher_sleeps_until_a_long_one():
    # The watcher sleeps until the earliest deadline and is woken only by an earlier one:
    # a short limit started in another thread while a long one is pending must still fire.
    import threading
    from chainrule.web.budget import limit
    results = {}
    with limit(30.0):
        def short():
            with limit(0.05) as lim:
                end = time.monotonic() + 5
                while time.monotonic() < end:
                    pass
            results["expired"] = lim.expired
        worker = threading.Thread(target=short)
        worker.start()
        worker.join(10)
    assert results == {"expired": True}


def test_a_big_program_does_not_hold_up_small_ones():
    # One compute slot for small programs, and a lane of its own for big ones: a small request
    # sent while a big one computes is answered first, not after it.
    import threading
    from chainrule.web.app import HEAVY_PROGRAM_CHARS
    # the 4.7 kB request: 300 statements over 199 inputs, seconds of work
    lines = ["a0 = x0"] + [f"a{i} = a{i - 1}*x{i % 199} + x{(i * 7) % 199}" for i in range(1, 300)]
    big = {"program": "\n".join(lines + ["L = a299"]), "at": {f"x{i}": 0.5 for i in range(199)}}
    assert len(big["program"]) > HEAVY_PROGRAM_CHARS
    done = []
    with TestClient(create_app(cache_entries=0, slots=1, budget=30)) as c:
        def send_big():
            c.post("/api/explain", json=big)
            done.append("big")
        worker = threading.Thread(target=send_big)
        worker.start()
        time.sleep(0.3)                               # the big one is computing
        r = c.post("/api/explain", json={"program": SQUARE, "at": {"x": 2}})
        done.append("small")
        worker.join(60)
    assert r.status_code == 200
    assert done == ["small", "big"]


def test_full_queue_answers_503_quickly():
    compute = Compute(slots=1, queue_wait=0.05, budget=5.0)

    async def scenario():
        slow = asyncio.ensure_future(compute(time.sleep, 1.0))
        await asyncio.sleep(0.01)
        with pytest.raises(api.ApiError) as e:
            await compute(lambda: 1)
        answered_before_the_slot_freed = not slow.done()   # it did not wait for the slow job
        await slow
        return e.value, answered_before_the_slot_freed, await compute(lambda: 2)

    err, early, after = asyncio.run(scenario())
    compute.close()
    assert err.status == 503 and "busy" in err.message
    assert early and after == 2


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
# a real server (uvicorn in a subprocess, real sockets): connections and time are bounded
# --------------------------------------------------------------------------

REQUEST_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def live_server():
    """``chainrule serve`` started as a user would, with the common 1,024-descriptor soft limit."""
    import os
    import re
    import resource
    import signal
    import subprocess

    pytest.importorskip("uvicorn")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1400:
        pytest.skip(f"the hard limit on open files is {hard}: too low to hold 1,100 connections")
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < 4096:   # this test process holds the idle connections
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))

    def small_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

    env = dict(os.environ, CHAINRULE_WEB_REQUEST_TIMEOUT=str(REQUEST_TIMEOUT))
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "serve", "--port", "0"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=small_limit, start_new_session=True)
    first = proc.stderr.readline().decode()
    found = re.search(r":(\d+)/", first)
    if not found:
        proc.kill()
        pytest.fail(f"the server did not start: {first}{proc.stderr.read().decode()}")
    port = int(found.group(1))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if _http(port, _get("/api/lessons", port))[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    yield port, proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _get(path, port, host=None):
    return f"GET {path} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{port}'}\r\n\r\n".encode()


def _post(path, body: bytes, port, length=None):
    return (f"POST {path} HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n\r\n").encode() + body


def _http(port, raw: bytes, *, drip: float = 0.0, wait: float = 15.0):
    """Send ``raw`` (one byte per ``drip`` seconds if set); return (status, body, seconds until it ended)."""
    import socket
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        try:
            if drip:
                for b in raw:
                    s.sendall(bytes([b]))
                    time.sleep(drip)
            else:
                s.sendall(raw)
        except OSError:   # closed on us while sending: read what it said
            pass
        data = b""
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = [int(v) for k, _, v in (ln.partition(b":") for ln in head.split(b"\r\n")[1:])
                          if k.strip().lower() == b"content-length"]
                if length and len(body) >= length[0]:
                    break
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            data += chunk
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else None
    return status, data.partition(b"\r\n\r\n")[2], time.monotonic() - t0


VALID = json.dumps({"program": SQUARE, "at": {"x": 2}}).encode()


def test_live_valid_request(live_server):
    port, _ = live_server
    status, body, _ = _http(port, _post("/api/explain", VALID, port))
    assert status == 200 and json.loads(body)["value"] == 49


def test_live_request_line_with_no_end_is_cut_off(live_server):
    port, _ = live_server
    status, body, took = _http(port, b"GET /api/lessons HTTP/1.1\r\nHost: localhost")
    assert status == 408 and "not complete within" in json.loads(body)["error"]
    assert took < 10   # held open forever before


def test_live_body_shorter_than_its_length_is_cut_off(live_server):
    port, _ = live_server
    status, body, _ = _http(port, _post("/api/explain", VALID, port, length=len(VALID) + 50))
    assert status == 408 and "not complete" in json.loads(body)["error"]


def test_live_slow_drip_is_cut_off_at_the_timeout(live_server):
    port, _ = live_server
    # one byte every 0.2 s: each byte is "activity", but the whole request must come in time
    status, _, took = _http(port, _post("/api/explain", VALID, port), drip=0.2)
    assert status == 408 and took < 10


def test_live_idle_connection_is_closed(live_server):
    import socket
    port, _ = live_server
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        assert s.recv(100) == b""   # closed by the server, silently: it never asked anything


def test_live_bad_host_is_400(live_server):
    port, _ = live_server
    status, body, _ = _http(port, _get("/api/lessons", port, host="rebind.attacker.example"))
    assert status == 400 and "--allow-host" in json.loads(body)["error"]


def test_live_1100_idle_connections_then_a_valid_request(live_server):
    import socket
    port, proc = live_server
    idle = []
    try:
        for _ in range(1100):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=15))
        status, body, _ = _http(port, _post("/api/explain", VALID, port))
        assert status == 200 and json.loads(body)["value"] == 49
    finally:
        for s in idle:
            s.close()
    status, _, _ = _http(port, _get("/api/lessons", port))
    assert status == 200 and proc.poll() is None


def test_live_log_has_no_tracebacks(live_server):
    import os
    port, proc = live_server
    for raw in (b"{", b'{"program": "L = x", "at": {"\\ud800": 1}}', b"[" * 5000 + b"]" * 5000):
        assert _http(port, _post("/api/explain", raw, port))[0] in (400, 413)
    assert _http(port, b"NOT HTTP AT ALL\r\n\r\n")[0] == 400
    os.set_blocking(proc.stderr.fileno(), False)
    log = (proc.stderr.read() or b"").decode()
    assert "Traceback" not in log and "Too many open files" not in log, log[-2000:]
    assert len(log.splitlines()) < 20, log[-2000:]


# --------------------------------------------------------------------------
# the load benchmark runs (a tiny, short load: correctness, not speed)
# --------------------------------------------------------------------------

def test_serve_load_benchmark_smoke(capsys):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "serve_load.py"
    spec = importlib.util.spec_from_file_location("serve_load", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--seconds", "2", "--clients", "4", "--workers", "1", "--hostile", "0.3", "--slow", "2",
                "--idle", "50", "--request-timeout", "1"])
    out = capsys.readouterr().out
    assert "req/s" in out and "p99" in out and "server RSS:" in out and "hostile:" in out
    assert "[PASS] zero 5xx" in out and "[PASS] right answers for every lesson" in out
    assert "[PASS] no transport errors" in out and "[PASS] no server tracebacks" in out
    assert "[PASS] hostile requests refused with a 4xx" in out
    assert "[PASS] slow connections cut off" in out and "408" in out
    assert "[PASS] still answering with 50 idle connections open" in out
