"""Flashcards: the deck, the FSRS-scheduled store (surviving a real kill, refusing a damaged file),
--stats and --print (chainrule.lab.cards)."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("fsrs", reason="the fsrs package is not installed (pip install 'chainrule[lab]')")

from chainrule.cli import main
from chainrule.lab import cards
from chainrule.lab.cards import CardStore, StoreError, deck, op_cards, parse_rating
from chainrule.ops import OPS


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------
# The deck
# --------------------------------------------------------------------------

def test_every_op_row_has_a_card_whose_back_is_the_tables_formula():
    by_key = {c.key: c for c in op_cards()}
    assert set(by_key) == {f"op:{name}" for name in OPS}
    assert by_key["op:sigmoid"].back == "σ(z)·(1−σ(z))"
    assert by_key["op:sigmoid"].front == "Local gradient of σ(z) with respect to z?"
    assert by_key["op:mul"].back == "∂/∂x: y; ∂/∂y: x"
    assert by_key["op:add"].back == "∂/∂x: 1; ∂/∂y: 1"
    assert by_key["op:relu"].back.startswith("1 if z > 0 else 0") and "relu'(0) = 0" in by_key["op:relu"].back
    for name in ("tanh", "exp", "log"):
        assert by_key[f"op:{name}"].back.startswith(OPS[name].formula(0, x="z"))


def test_the_lessons_cards_are_all_there_in_our_own_words(shared_dir):
    lesson = [c for c in deck() if c.source == "the practice lesson"]
    assert len([c for c in lesson if c.key.startswith("lesson:")]) == 9       # the nine flashcards
    assert len([c for c in lesson if c.key.startswith("check:")]) == 6        # the six self-check questions
    assert len({c.key for c in deck()}) == len(deck())
    seed = next(shared_dir.joinpath("seeds").glob("001_*.txt")).read_text(encoding="utf-8")

    def runs(text, n=6):   # runs of prose words (formulas like dC/da3 are shared notation, not sentences)
        words = re.findall(r"[a-z]{3,}", text.lower())
        return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}

    copied = runs(seed)
    for c in lesson:
        same = runs(c.front + " " + c.back) & copied
        assert not same, f"{c.key} repeats the lesson word for word: {sorted(same)[:2]}"


@pytest.mark.parametrize("text, rating", [("1", 1), ("again", 1), (" G ", 3), ("easy", 4), ("h", 2), ("q", None)])
def test_parse_rating(text, rating):
    assert parse_rating(text) == rating


def test_parse_rating_refuses_with_a_message():
    with pytest.raises(ValueError, match="not a rating: type 1 \\(again\\)"):
        parse_rating("5")


# --------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------

def test_a_review_is_stored_and_scheduled(tmp_path):
    path = tmp_path / "p.sqlite3"
    t0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    with CardStore(path) as s:
        card = s.record("op:sigmoid", 3, when=t0)
        assert card.due > t0
        s.record("op:relu", 1, when=t0)
    with CardStore(path) as s:       # reopened: all there
        assert [(k, r) for k, r, _ in s.reviews()] == [("op:sigmoid", 3), ("op:relu", 1)]
        assert set(s.states()) == {"op:sigmoid", "op:relu"}
        later = s.record("op:sigmoid", 3, when=t0 + timedelta(days=1))
        assert later.due - (t0 + timedelta(days=1)) > timedelta(days=1)   # remembered twice: a longer wait
        st = cards.stats(s, deck(), now=t0 + timedelta(days=1))
    assert st["reviews"] == 3 and st["seen"] == 2 and st["new"] == len(deck()) - 2
    assert st["retention"] == pytest.approx(2 / 3)
    assert 0 < st["expected_recall"] <= 1


def test_a_rating_outside_1_to_4_is_refused(tmp_path):
    with CardStore(tmp_path / "p.sqlite3") as s:
        with pytest.raises(cards.InputError, match="expected 1"):
            s.record("op:add", 5)
        assert s.reviews() == []


def test_the_quiz_survives_a_real_kill_between_answers(tmp_path):
    """SIGKILL after N answers: reopened, exactly those N reviews are there."""
    db = tmp_path / "progress.sqlite3"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "cards", "--db", str(db), "--new", "10"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    answered = 3
    try:
        out = ""
        deadline = time.monotonic() + 120
        for i in range(answered):
            proc.stdin.write("\n3\n" if i % 2 == 0 else "\n1\n")
            proc.stdin.flush()
            while out.count("saved (") < i + 1 and time.monotonic() < deadline:
                out += proc.stdout.read(1)
        proc.stdin.write("\n")          # the next card's answer is shown, but not rated: then the kill
        proc.stdin.flush()
        while not out.rstrip().endswith("4 easy:") and time.monotonic() < deadline:
            out += proc.stdout.read(1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert out.count("saved (") == answered
    with CardStore(db) as s:
        reviews = s.reviews()
        assert [r for _, r, _ in reviews] == [3, 1, 3]
        assert len(s.states()) == answered
    # and the next session goes on from there: the unseen cards come next
    r = subprocess.run([sys.executable, "-m", "chainrule", "cards", "--db", str(db), "--stats", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reviews"] == answered


def test_end_of_input_stops_the_quiz_cleanly(tmp_path, capsys, monkeypatch):
    import io
    db = tmp_path / "p.sqlite3"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ngood\n\nnonsense\n4\n"))
    code, out, err = run(capsys, "cards", "--db", str(db), "--new", "5")
    assert code == 0 and err == ""
    assert "'nonsense' is not a rating" in out and "2 answers saved" in out
    with CardStore(db) as s:
        assert [r for _, r, _ in s.reviews()] == [3, 4]


def _bytes(path):
    return path.read_bytes()


def test_a_corrupted_file_is_a_clear_error_and_is_never_overwritten(tmp_path, capsys):
    bad = tmp_path / "cards.sqlite3"
    bad.write_bytes(os.urandom(4096))
    before = _bytes(bad)
    for argv in (["--stats"], []):
        code, out, err = run(capsys, "cards", "--db", str(bad), *argv)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert str(bad) in err and "not a chainrule card file" in err and "left as it is" in err
    assert _bytes(bad) == before


def test_a_damaged_card_store_is_refused_and_kept(tmp_path, capsys):
    good = tmp_path / "good.sqlite3"
    with CardStore(good) as s:
        for i in range(40):
            s.record(f"op:{list(OPS)[i % len(OPS)]}", 3)
    data = _bytes(good)
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(data[:100] + b"\xff" * (len(data) - 100))      # header kept, pages destroyed
    before = _bytes(damaged)
    code, out, err = run(capsys, "cards", "--db", str(damaged), "--stats")
    assert code == 2 and str(damaged) in err and "damaged" in err and "Traceback" not in err
    assert _bytes(damaged) == before
    truncated = tmp_path / "truncated.sqlite3"
    truncated.write_bytes(data[:len(data) // 2])
    before = _bytes(truncated)
    code, out, err = run(capsys, "cards", "--db", str(truncated), "--stats")
    assert code == 2 and str(truncated) in err and _bytes(truncated) == before


def test_someone_elses_database_is_refused(tmp_path, capsys):
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = _bytes(other)
    code, out, err = run(capsys, "cards", "--db", str(other), "--stats")
    assert code == 2 and "not a chainrule card file" in err and _bytes(other) == before


def test_an_empty_file_becomes_a_store(tmp_path, capsys):
    empty = tmp_path / "empty.sqlite3"
    empty.write_bytes(b"")
    code, out, err = run(capsys, "cards", "--db", str(empty), "--stats", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert s["cards"] == len(deck()) and s["reviews"] == 0 and s["retention"] is None and s["due_now"] == 0


def test_stats_text(tmp_path, capsys):
    db = tmp_path / "p.sqlite3"
    with CardStore(db) as s:
        s.record("op:exp", 3)
        s.record("op:log", 1)
    code, out, err = run(capsys, "cards", "--db", str(db), "--stats")
    assert code == 0
    n = len(deck())                  # one card per op row and more: it grows with the table
    assert f"cards: {n} (2 seen, {n - 2} new)" in out
    assert "due today: 2" in out and "retention (answers not rated 'again'): 50 %" in out


def test_default_db_is_in_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert cards.default_db_path() == str(tmp_path / "chainrule" / "cards.sqlite3")


def test_missing_fsrs_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "fsrs", None)
    code, out, err = run(capsys, "cards", "--db", str(tmp_path / "p.sqlite3"), "--stats")
    assert code == 2 and "pip install 'chainrule[lab]'" in err


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------

def test_print_one_card_per_page(tmp_path, capsys):
    path = tmp_path / "cards.html"
    code, out, err = run(capsys, "cards", "--print", "-o", str(path))
    assert code == 0
    html = path.read_text(encoding="utf-8")
    assert html.count('<section class="card"') == len(deck())
    assert "break-after: page" in html and "<script" not in html and "http" not in html
    assert "σ(z)·(1−σ(z))" in html
    code, out, err = run(capsys, "cards", "--print")
    assert code == 2 and "-o FILE" in err


def test_json_alone_is_the_deck(capsys):
    code, out, err = run(capsys, "cards", "--json", "--deck", "ops")
    d = json.loads(out)
    assert code == 0 and [c["key"] for c in d["cards"]] == [f"op:{n}" for n in OPS]
    assert set(d["cards"][0]) == {"key", "front", "back", "source"}
