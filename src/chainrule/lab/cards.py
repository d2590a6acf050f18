"""Flashcards with spaced repetition: the lessons' cards, and one card per row of the op table.

::

    chainrule cards                      # quiz the cards that are due (and a few new ones)
    chainrule cards --stats              # due now, due today, retention
    chainrule cards --print -o cards.html   # one card per printed page, front and back
    chainrule cards --page -o review.html    # the in-browser quiz (progress kept in the browser)

The deck (:func:`deck`) is the practice lesson's flashcards and self-check
questions, written here in the project's own words, plus a card for every
row of :data:`chainrule.ops.OPS` whose back is the row's own formula
("local gradient of σ(z)?" → σ(z)·(1−σ(z))), so the cards can never disagree
with the engine.

Reviews are scheduled by FSRS (the ``fsrs`` package, MIT, ``pip install
'chainrule[lab]'``). Progress lives in one SQLite file (:class:`CardStore`;
by default in the user's data folder, from ``platformdirs``; ``--db PATH``
picks another). Every answer is its own committed transaction, so a process
killed between two answers keeps every answer already given. A file that is
not a chainrule card store (corrupted, truncated, someone else's database) is
refused with an error naming it, and is never written to.
"""
from __future__ import annotations

import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from html import escape

from ..errors import InputError
from ..numfmt import percent

__all__ = ["Card", "deck", "SEED_CARDS", "op_cards", "CardStore", "StoreError", "default_db_path", "stats",
           "cards_print_html", "cards_page", "cards_fragment", "cards_data", "register", "RATINGS"]

APP_ID = 0x63724344          # "crCD" in the SQLite header: this file is a chainrule card store
SCHEMA = 1
RATINGS = {1: "again", 2: "hard", 3: "good", 4: "easy"}


@dataclass(frozen=True)
class Card:
    key: str        # stable: progress is stored under it ("lesson:chain-rule", "op:sigmoid")
    front: str
    back: str
    source: str     # where it comes from, in words


# The practice lesson's nine flashcards and six self-check questions, in chainrule's own words.
_LESSON = "the practice lesson"
SEED_CARDS = (
    Card("lesson:backprop-is", "Backpropagation, in calculus terms: what is it?",
         "The chain rule, applied layer by layer from the loss back to the weights. How much each weight should "
         "change is a product of the rates of change met on the way; nothing else is added on top.", _LESSON),
    Card("lesson:chain-rule", "Write the chain rule as a single formula.",
         "d f(g(x))/dx = f′(g(x)) · g′(x). When functions are stacked, their rates of change multiply: x moves "
         "g at rate g′, and g moves f at rate f′.", _LESSON),
    Card("lesson:cost-nested", "Why is the cost a nested function of a weight?",
         "The cost is computed from the output, the output from the last weighted sum, that sum from the "
         "activations one layer down, and so on until the weight: one level of nesting per layer. The weight's "
         "slope is the product of the rate at each level.", _LESSON),
    Card("lesson:four-factors", "dC/dw1 = (dC/da3)(da3/da2)(da2/da1)(da1/dw1): what does each factor mean?",
         "dC/da3 = 2(a3 − y): which way, and how hard, the cost pulls on the output. da3/da2 = w3 and da2/da1 = w2: that wish "
         "carried one layer further down by the weight it crosses. da1/dw1 = a0: the input the weight multiplies. With a0 = 1, w2 = 3, "
         "w3 = 0.5 and dC/da3 = 2: 2 · 0.5 · 3 · 1 = 3.", _LESSON),
    Card("lesson:why-backward", "Why run the chain rule from the output backward?",
         "Every weight's chain starts with the same output-side factors. Going backward computes each of them "
         "once and reuses it for all the weights behind it; going forward would redo them for every weight.",
         _LESSON),
    Card("lesson:one-sweep", "How can one backward sweep give the gradient of every weight?",
         "All chains begin with the same factors near the output, so one pass from the loss down (roughly as "
         "expensive as running the network once) leaves every weight's slope behind.", _LESSON),
    Card("lesson:activation", "What changes when an activation function is put back in?",
         "Each layer adds one factor to the chain: the activation's slope at the point it was evaluated "
         "(σ′ or relu′). The method is the same; there is one more number to multiply per layer.", _LESSON),
    Card("lesson:vanishing", "What is the vanishing gradient problem?",
         "A long chain of factors below 1 multiplies down toward 0 (0.5⁵ = 1/32, 0.5¹⁰ ≈ 0.001), so the front "
         "layers of a deep network receive almost no signal and barely learn.", _LESSON),
    Card("lesson:calculus-needed", "Do you need all of calculus to follow backpropagation?",
         "No: one idea carries it, that rates multiply along a chain. The rest is bookkeeping.", _LESSON),
    Card("check:chain-rule-words", "Self-check: say the chain rule in words, not symbols.",
         "When one function feeds another, the combined function's rate is the inner rate times the outer rate: "
         "a nudge to the input is scaled once by each.", _LESSON),
    Card("check:why-chain", "Self-check: where does a chain come from when the cost depends on a weight?",
         "From the layers in between: a change in an early weight has to pass through every later layer to reach "
         "the cost, and each layer it passes multiplies in its own rate.", _LESSON),
    Card("check:desires", "Self-check: how do the chain's factors match the idea of the output's 'desire'?",
         "They are the same story in numbers: the first factor is the output's pull from the cost, each "
         "weight factor carries that wish one layer back, and the last factor is the input feeding the weight, "
         "which is why a weight with a large input matters more.", _LESSON),
    Card("check:backward", "Self-check: why is backpropagation computed backward rather than forward?",
         "Because the output-side factors are shared: computed from the output down, each is found once and "
         "reused. The answers would be the same forward, at far more work.", _LESSON),
    Card("check:squish", "Self-check: what does the activation (the squish) change about the method?",
         "The method stays as it was; every layer simply multiplies in one more number, the activation's slope "
         "at that point.",
         _LESSON),
    Card("check:vanishing-where", "Self-check: what is the vanishing gradient, and where does it come from?",
         "Many factors below 1 multiplied together shrink toward 0, so the front weights of a deep network hardly "
         "move. It is the product of rates itself; much of modern architecture design (residual connections, "
         "normalisation, ReLU) keeps those products healthy.", _LESSON),
)

_OPERANDS = {1: ("z",), 2: ("x", "y")}


def op_cards() -> tuple[Card, ...]:
    """One card per scalar row of the op table, its back the row's own local-derivative formulas."""
    from ..ops import OPS

    out = []
    for name, op in OPS.items():
        names = _OPERANDS[op.arity]
        args = names + (("k",) if op.param else ())
        shown = op.describe(*args)
        subs = dict(zip(("x", "y"), names), k="k")
        if op.arity == 1:
            front = f"Local gradient of {shown} with respect to {names[0]}?"
            back = op.formula(0, **subs)
        else:
            front = f"Local gradients of {shown} with respect to {names[0]} and {names[1]}?"
            back = "; ".join(f"∂/∂{n}: {op.formula(i, **subs)}" for i, n in enumerate(names))
        if op.param:
            back += f" (k is a constant: {'the exponent' if name == 'powc' else 'the slope for negative input'})"
        if op.note:
            back += f". Convention: {op.note}"
        out.append(Card(f"op:{name}", front, back, "the op table"))
    return tuple(out)


@lru_cache(maxsize=1)
def deck() -> tuple[Card, ...]:
    """Every card: the lesson's, then the op table's."""
    return SEED_CARDS + op_cards()


# --------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------

class StoreError(InputError):
    """The progress file cannot be used (corrupted, not a card store, unreadable)."""


def default_db_path() -> str:
    try:
        import platformdirs
    except ImportError:
        raise InputError("chainrule cards keeps progress in your data folder, which needs the platformdirs "
                         "package: pip install 'chainrule[lab]' (or choose a file with --db PATH)") from None
    return os.path.join(platformdirs.user_data_dir("chainrule", appauthor=False), "cards.sqlite3")


def _fsrs():
    try:
        import fsrs
    except ImportError:
        raise InputError("chainrule cards schedules reviews with FSRS, which needs the fsrs package: "
                         "pip install 'chainrule[lab]'") from None
    return fsrs


def _scheduler():
    return _fsrs().Scheduler(enable_fuzzing=False)   # the same answers give the same schedule


def _now() -> datetime:
    return datetime.now(timezone.utc)


class CardStore:
    """Progress in SQLite: each card's FSRS state, and every review. One transaction per answer."""

    def __init__(self, path: str):
        self.path = os.fspath(path)
        self.db = self._open()

    def _refuse(self, why: str) -> StoreError:
        return StoreError(f"{self.path}: {why}; the file was left as it is (move it away, or choose another "
                          "file with --db PATH)")

    def _open(self) -> sqlite3.Connection:
        path = self.path
        if os.path.isdir(path):
            raise self._refuse("is a folder, not a card file")
        fresh = not os.path.exists(path) or os.path.getsize(path) == 0
        if fresh:
            folder = os.path.dirname(os.path.abspath(path))
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as e:
                raise InputError(f"{path}: cannot create the folder {folder}: {e.strerror or e}") from None
        else:
            with open(path, "rb") as f:   # never let SQLite touch a file that is not a database
                head = f.read(16)
            if head != b"SQLite format 3\x00":
                raise self._refuse("is not a chainrule card file (not an SQLite database: corrupted, or "
                                   "another kind of file)")
        try:
            db = sqlite3.connect(path if fresh else f"file:{_uri_path(path)}?mode=rw", uri=not fresh,
                                 isolation_level=None, timeout=10)
        except sqlite3.Error as e:
            raise self._refuse(f"cannot be opened ({e})") from None
        try:
            if fresh:
                self._create(db)
            else:
                self._check(db)
            db.execute("PRAGMA synchronous = FULL")
        except StoreError:
            db.close()
            raise
        except sqlite3.DatabaseError as e:
            db.close()
            raise self._refuse(f"is damaged (SQLite says: {e})") from None
        return db

    def _create(self, db) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute(f"PRAGMA application_id = {APP_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA}")
        db.execute("CREATE TABLE cards (key TEXT PRIMARY KEY, state TEXT NOT NULL, due TEXT NOT NULL)")
        db.execute("CREATE TABLE reviews (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
                   "rating INTEGER NOT NULL, reviewed_at TEXT NOT NULL, due TEXT NOT NULL)")
        db.execute("COMMIT")

    def _check(self, db) -> None:
        app = db.execute("PRAGMA application_id").fetchone()[0]
        if app != APP_ID:
            raise self._refuse("is an SQLite database, but not a chainrule card file")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA:
            raise self._refuse(f"was written by a newer chainrule (format {version}; this one reads {SCHEMA})")
        result = db.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise self._refuse(f"is damaged (SQLite's check says: {result})")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"cards", "reviews"} <= tables:
            raise self._refuse("is missing its tables (damaged)")

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _query(self, sql: str, args=()):
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise self._refuse(f"is damaged (SQLite says: {e})") from None

    # -- reading -------------------------------------------------------------
    def states(self) -> dict:
        """key -> fsrs.Card for every card reviewed at least once."""
        fsrs = _fsrs()
        out = {}
        for key, state in self._query("SELECT key, state FROM cards"):
            try:
                out[key] = fsrs.Card.from_json(state)
            except (ValueError, KeyError, TypeError) as e:
                raise self._refuse(f"holds a card state that cannot be read ({key}: {e})") from None
        return out

    def reviews(self) -> list[tuple[str, int, str]]:
        return [tuple(r) for r in self._query("SELECT key, rating, reviewed_at FROM reviews ORDER BY id")]

    # -- writing: one answer, one transaction ----------------------------------
    def record(self, key: str, rating: int, when: datetime | None = None, scheduler=None):
        """Review ``key`` with ``rating`` (1 again … 4 easy): the new FSRS state and the review are
        committed together before this returns. Returns the card's new fsrs.Card."""
        fsrs = _fsrs()
        if rating not in RATINGS:
            raise InputError(f"rating {rating!r}: expected 1 (again), 2 (hard), 3 (good) or 4 (easy)")
        when = when or _now()
        scheduler = scheduler or _scheduler()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT state FROM cards WHERE key = ?", (key,)).fetchone()
            card = fsrs.Card.from_json(row[0]) if row else fsrs.Card(due=when)
            card, _ = scheduler.review_card(card, fsrs.Rating(rating), review_datetime=when)
            due = card.due.astimezone(timezone.utc).isoformat()
            self.db.execute("INSERT INTO cards (key, state, due) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE "
                            "SET state = excluded.state, due = excluded.due", (key, card.to_json(), due))
            self.db.execute("INSERT INTO reviews (key, rating, reviewed_at, due) VALUES (?, ?, ?, ?)",
                            (key, rating, when.astimezone(timezone.utc).isoformat(), due))
            self.db.execute("COMMIT")
        except BaseException as e:
            if self.db.in_transaction:
                self.db.rollback()
            if isinstance(e, sqlite3.DatabaseError):
                raise self._refuse(f"could not be written (SQLite says: {e})") from None
            raise
        return card


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path))


# --------------------------------------------------------------------------
# What is due, and how it is going
# --------------------------------------------------------------------------

def due_cards(store: CardStore, cards, now: datetime, new: int) -> list[tuple[Card, str]]:
    """(card, "due" | "new"): the cards due now (earliest first), then up to ``new`` unseen cards."""
    states = store.states()
    due = sorted((states[c.key].due, i, c) for i, c in enumerate(cards) if c.key in states and
                 states[c.key].due <= now)
    unseen = [c for c in cards if c.key not in states][:max(new, 0)]
    return [(c, "due") for _, _, c in due] + [(c, "new") for c in unseen]


def stats(store: CardStore, cards, now: datetime | None = None) -> dict:
    """Counts for ``--stats``: due now, due by the end of today (local time), retention."""
    now = now or _now()
    states = store.states()
    keys = {c.key for c in cards}
    seen = {k: s for k, s in states.items() if k in keys}
    local = now.astimezone()
    end_of_day = (local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).astimezone(timezone.utc)
    reviews = [r for r in store.reviews() if r[0] in keys]
    recalled = sum(1 for r in reviews if r[1] > 1)
    scheduler = _scheduler()
    recall_now = [scheduler.get_card_retrievability(s, now) for s in seen.values()]
    return {
        "cards": len(cards), "seen": len(seen), "new": len(cards) - len(seen),
        "due_now": sum(1 for s in seen.values() if s.due <= now),
        "due_today": sum(1 for s in seen.values() if s.due < end_of_day),
        "reviews": len(reviews),
        "retention": (recalled / len(reviews)) if reviews else None,
        "expected_recall": (sum(recall_now) / len(recall_now)) if recall_now else None,
        "db": store.path,
    }


def _percent(x) -> str:
    return "—" if x is None else percent(x, 0, sep=" ")


def _stats_lines(s: dict) -> list[str]:
    return [f"cards: {s['cards']} ({s['seen']} seen, {s['new']} new)",
            f"due now: {s['due_now']}; due today: {s['due_today']}",
            f"reviews: {s['reviews']}; retention (answers not rated 'again'): {_percent(s['retention'])}",
            f"expected recall now (FSRS): {_percent(s['expected_recall'])}",
            f"progress file: {s['db']}"]


# --------------------------------------------------------------------------
# The terminal quiz
# --------------------------------------------------------------------------

_RATING_WORDS = {"1": 1, "2": 2, "3": 3, "4": 4, "a": 1, "again": 1, "h": 2, "hard": 2, "g": 3, "good": 3,
                 "e": 4, "easy": 4}


def parse_rating(text: str) -> int | None:
    """``3``, ``good``, ``g`` -> 3; None for 'stop' (``q``); raises ValueError with a message otherwise."""
    t = text.strip().lower()
    if t in ("q", "quit", "stop"):
        return None
    if t in _RATING_WORDS:
        return _RATING_WORDS[t]
    raise ValueError(f"{text.strip()!r} is not a rating: type 1 (again), 2 (hard), 3 (good) or 4 (easy), "
                     "or q to stop")


def _when(due: datetime, now: datetime) -> str:
    s = (due - now).total_seconds()
    if s < 90:
        return "in a minute"
    if s < 5400:
        return f"in {round(s / 60)} minutes"
    if s < 36 * 3600:
        return f"in {round(s / 3600)} hours"
    return f"in {round(s / 86400)} days"


def quiz(store: CardStore, cards, new: int, read=None, write=None) -> int:
    """Ask the due cards; each rating is saved before the next card is shown. Returns the answers saved."""
    read = read or sys.stdin.readline
    write = write or (lambda s: (sys.stdout.write(s), sys.stdout.flush()))
    queue = due_cards(store, cards, _now(), new)
    if not queue:
        s = stats(store, cards)
        write(f"Nothing is due now ({s['due_today']} more today). Progress: {store.path}\n")
        return 0
    write(f"{len(queue)} cards to review. Enter shows the answer; rate 1 again, 2 hard, 3 good, 4 easy; "
          "q (or Ctrl-D) stops. Each answer is saved at once.\n")
    saved = 0
    scheduler = _scheduler()
    for i, (card, why) in enumerate(queue, 1):
        write(f"\n[{i}/{len(queue)}, {why}, from {card.source}]\nQ. {card.front}\n   (Enter shows the answer) ")
        line = read()
        if line == "" or line.strip().lower() in ("q", "quit", "stop"):
            break
        write(f"A. {card.back}\n")
        rating = _read_rating(read, write)
        if rating is None:
            break
        state = store.record(card.key, rating, scheduler=scheduler)
        saved += 1
        write(f"   saved ({RATINGS[rating]}): next review {_when(state.due, _now())}\n")
    write(f"\n{saved} answer{'s' if saved != 1 else ''} saved in {store.path}\n")
    return saved


def _read_rating(read, write) -> int | None:
    while True:
        write("   How well did you recall it? 1 again, 2 hard, 3 good, 4 easy: ")
        line = read()
        if line == "":
            return None
        try:
            return parse_rating(line)
        except ValueError as e:
            write(f"   {e}\n")


# --------------------------------------------------------------------------
# Printing, and the page component
# --------------------------------------------------------------------------

_PRINT_CSS = """
body { font: 18px/1.5 system-ui, sans-serif; margin: 0; color: #111; }
.card { box-sizing: border-box; min-height: 100vh; padding: 2rem; display: flex; flex-direction: column;
        break-after: page; page-break-after: always; border-bottom: 1px dashed #999; }
.card:last-child { break-after: auto; page-break-after: auto; }
.side { flex: 1; display: flex; flex-direction: column; justify-content: center; }
.front { border-bottom: 1px dashed #777; } .back { padding-top: 1rem; }
.label { font-size: .8rem; text-transform: uppercase; letter-spacing: .08em; color: #555; }
.q { font-size: 1.4rem; font-weight: 600; } .src { font-size: .8rem; color: #555; }
@media print { .card { min-height: 0; height: 100vh; border: none; } }
"""


def cards_print_html(cards, title: str = "chainrule flashcards") -> str:
    """One card per printed page: the front above the fold, the back below. Offline, no script."""
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
             f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{_PRINT_CSS}</style>"
             "</head><body><main>"]
    for i, c in enumerate(cards, 1):
        parts.append(f"<section class=\"card\" aria-label=\"card {i} of {len(cards)}\">"
                     f"<div class=\"side front\"><p class=\"label\">Card {i} of {len(cards)} · front</p>"
                     f"<p class=\"q\">{escape(c.front)}</p></div>"
                     f"<div class=\"side back\"><p class=\"label\">back</p><p>{escape(c.back)}</p>"
                     f"<p class=\"src\">from {escape(c.source)}</p></div></section>")
    parts.append("</main></body></html>\n")
    return "".join(parts)


#: The page's Leitner boxes: minutes before a card in each box is due again (the page has no FSRS).
LEITNER_MINUTES = (1, 10, 1440, 3 * 1440, 7 * 1440, 16 * 1440, 35 * 1440)
STORAGE_KEY = "chainrule.cards.v1"


def cards_data(cards=None, storage_key: str = STORAGE_KEY) -> dict:
    """The flashcard component's data: the cards, where the browser keeps progress, the boxes."""
    cards = deck() if cards is None else tuple(cards)
    return {"kind": "cards", "cards": [c.__dict__ for c in cards], "storage_key": storage_key,
            "boxes": list(LEITNER_MINUTES)}


def cards_fragment(cards=None, storage_key: str = STORAGE_KEY, element_id: str | None = None) -> str:
    """The flashcard component's ``<div>`` (data inside, no code): for a page that loads
    :func:`chainrule.lab.practice.practice_assets` once."""
    from .practice import fragment

    return fragment(cards_data(cards, storage_key), element_id)


def cards_page(title: str = "chainrule flashcards", cards=None, storage_key: str = STORAGE_KEY) -> str:
    """A self-contained offline page that quizzes the deck and keeps progress in the browser's
    localStorage (under ``storage_key``; where storage is blocked, e.g. a sandboxed iframe, for as
    long as the page is open, and it says so). Keyboard-usable, phone width, iframe-safe."""
    from .practice import study_page

    return study_page(cards_fragment(cards, storage_key), title)


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------

_DECKS = {"all": lambda: deck(), "lesson": lambda: SEED_CARDS, "ops": op_cards}


def cmd_cards(args) -> int:
    cards = _DECKS[args.deck]()
    if args.print and args.page:
        raise InputError("--print and --page each write a file: choose one")
    if args.print or args.page:
        if not args.output:
            raise InputError(f"{'--print' if args.print else '--page'} needs -o FILE.html (or -o - for standard output)")
        from ..viz.commands import _write
        if args.print:
            _write(args.output, cards_print_html(list(cards)), f"{len(cards)} cards, one per printed page")
        else:
            _write(args.output, cards_page(cards=cards), f"the flashcard page ({len(cards)} cards, offline)")
        return 0
    if args.output:
        raise InputError("-o goes with --print or --page (cards --print -o cards.html)")
    if args.json and not args.stats:     # the deck as data, for a course builder
        print(json.dumps({"cards": [c.__dict__ for c in cards]}, ensure_ascii=False))
        return 0
    _fsrs()
    path = args.db or default_db_path()
    with CardStore(path) as store:
        if args.stats:
            s = stats(store, cards)
            if args.json:
                print(json.dumps(s, ensure_ascii=False))
            else:
                print("\n".join(_stats_lines(s)))
            return 0
        try:
            quiz(store, cards, args.new)
        except KeyboardInterrupt:
            print(f"\nstopped; every answer given is saved in {store.path}")
            return 130
    return 0


def register(subparsers) -> None:
    from .practice import whole_number

    p = subparsers.add_parser(
        "cards", help="flashcards with spaced repetition (FSRS): quiz, --stats, --print",
        description="Review the lessons' flashcards and the op table's local gradients; FSRS schedules each "
                    "card. Progress is saved after every answer in an SQLite file in your data folder "
                    "(or --db PATH).")
    p.add_argument("--db", metavar="PATH", help="the progress file (default: cards.sqlite3 in your data folder)")
    p.add_argument("--deck", choices=sorted(_DECKS), default="all", help="which cards (default all)")
    p.add_argument("--new", type=whole_number(0, 1000), default=10, metavar="N",
                   help="new cards per session (default 10)")
    p.add_argument("--stats", action="store_true", help="due now, due today, retention")
    p.add_argument("--json", action="store_true",
                   help='with --stats: the counts as one JSON object; alone: the deck, {"cards": [{"key", "front", '
                        '"back", "source"}, ...]}')
    p.add_argument("--print", action="store_true", help="write the cards for printing, one per page (-o FILE)")
    p.add_argument("--page", action="store_true",
                   help="write the flashcard page (-o FILE): quizzes in the browser, progress kept there")
    p.add_argument("-o", "--output", metavar="FILE", help="with --print or --page: the HTML file to write")
    p.set_defaults(func=cmd_cards)
