"""What each endpoint computes, without any HTTP: plain dicts in, plain dicts out.

``app.py`` reads the request, hands the decoded JSON to one of the functions
here (in a worker thread, under a time budget) and turns the result, or the
:class:`ApiError` raised, into a response. Keeping the two apart means every
check below is ordinary Python that the tests can call directly.

Status codes: a program or input the engine refuses (a :class:`ChainruleError`)
is 400; a request whose JSON has the wrong shape (missing field, wrong type)
is 422, naming the field; an unknown lesson is 404.
"""
from __future__ import annotations

import math
from typing import Any

from ..autodiff import reverse_topological
from ..errors import ChainruleError, InputError, ProgramError
from ..numfmt import fmt
from .budget import limit

__all__ = ["ApiError", "explain_payload", "step_payload", "parse_payload", "lessons_payload",
           "lesson_payload", "error_payload", "MAX_PROGRAM_CHARS", "MAX_NODES"]

MAX_PROGRAM_CHARS = 8_000   # a lesson is a few hundred characters; the page shows every node
MAX_NODES = 2_000           # nodes in the graph we trace and send back (the page draws them all)
MAX_NAMES = 200             # entries in "at", "wrt" or "params"
# What one explain answer holds, so that its size follows what was asked, not what was sent:
DEFAULT_CHAINS = 12         # without "wrt": chains for this many inputs (the rest: ask with "wrt")
MAX_PATHS = 8               # paths listed per chain; beyond that the chain is summarised (counted, summed)
PLAYER_MAX_NODES = 400      # graphs bigger than this are not drawn (the page shows tables)
PLAYER_SECONDS = 1.0        # the drawing's own share of the time budget; past it, tables instead
DEFAULT_LR = 0.1


class ApiError(Exception):
    """A request we refuse, with its HTTP status and a message naming what was wrong."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra

    def payload(self) -> dict:
        return {"error": self.message, **self.extra}


def error_payload(exc: ChainruleError) -> dict:
    """The JSON body for a ChainruleError: the message, and the line/column if it has one."""
    if isinstance(exc, ProgramError):
        return {"error": str(exc), "detail": exc.message, "line": exc.line, "column": exc.col}
    return {"error": str(exc)}


def _short(x: Any, limit: int = 40) -> str:
    """User text echoed back in a message, cut short so we never reflect a whole body."""
    s = repr(x)
    return s if len(s) <= limit else s[:limit] + "…"


def _kind(x: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null", int: "a number", float: "a number"}.get(type(x), type(x).__name__)


# --------------------------------------------------------------------------
# Field checks: each names the field it refuses.
# --------------------------------------------------------------------------

def _body(body: Any, example: str) -> dict:
    if not isinstance(body, dict):
        raise ApiError(422, f"the request body must be a JSON object like {example}, not {_kind(body)}",
                       field="body")
    return body


def _program_text(body: dict) -> str:
    if "program" not in body:
        raise ApiError(422, 'missing field "program": the program text, e.g. "L = (3*x + 1)**2"',
                       field="program")
    text = body["program"]
    if not isinstance(text, str):
        raise ApiError(422, f'"program" must be a string, not {_kind(text)}', field="program")
    if len(text) > MAX_PROGRAM_CHARS:
        raise ApiError(422, f'"program" is {len(text)} characters long; the limit is {MAX_PROGRAM_CHARS}',
                       field="program")
    return text


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(422, f"{field} must be a number, not {_kind(value)} {_short(value)}", field=field)
    try:
        x = float(value)
    except OverflowError:  # a JSON integer with hundreds of digits
        x = math.inf
    if not math.isfinite(x):
        raise ApiError(422, f"{field} must be a finite number, got {_short(value)}", field=field)
    return x


def _numbers(body: dict, key: str) -> dict[str, float]:
    values = body.get(key, {})
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ApiError(422, f'"{key}" must be an object mapping input names to numbers, like {{"x": 2}}, '
                            f"not {_kind(values)}", field=key)
    if len(values) > MAX_NAMES:
        raise ApiError(422, f'"{key}" has {len(values)} entries; the limit is {MAX_NAMES}', field=key)
    return {name: _number(v, f"{key}.{name}") for name, v in values.items()}


def _names(body: dict, key: str) -> list[str] | None:
    names = body.get(key)
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ApiError(422, f'"{key}" must be a list of names, like ["x"]', field=key)
    if len(names) > MAX_NAMES:
        raise ApiError(422, f'"{key}" has {len(names)} entries; the limit is {MAX_NAMES}', field=key)
    return names


def _check_inputs(program, at: dict[str, float]) -> dict[str, float]:
    """``at``, after checking every input has a value (said the web's way: no --at flags here)."""
    missing = [n for n in program.inputs if n not in at]
    if missing and all(n in program.inputs for n in at):  # else lang names the stray one first
        raise InputError(f"missing input {', '.join(missing)}: give "
                         + ("it a value" if len(missing) == 1 else "each a value")
                         + f' in "at", e.g. {{"{missing[0]}": 1}}')
    return at  # lang refuses names that are not inputs, with a did-you-mean


def _check_size(output) -> None:
    n = len(reverse_topological(output)) if output.requires_grad else 1
    if n > MAX_NODES:
        raise ApiError(422, f"the program's graph has {n} nodes; the web app shows at most {MAX_NODES}",
                       field="program")


# --------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------

def parse_payload(body: Any) -> dict:
    """``{"program"}`` -> its inputs, output and assigned names (or a ProgramError)."""
    from ..lang import parse

    text = _program_text(_body(body, '{"program": "L = (3*x + 1)**2"}'))
    program = parse(text)
    return {"inputs": list(program.inputs), "output": program.output, "assigned": list(program.assigned)}


def _program_and_values(body: dict):
    from ..lang import parse

    program = parse(_program_text(body))
    return program, _check_inputs(program, _numbers(body, "at"))


def _run(body: dict):
    program, at = _program_and_values(body)
    run = program.run(at)
    _check_size(run.output)
    return program, run


def explain_payload(body: Any) -> dict:
    """Run the program, trace it and explain every gradient (or those in ``wrt``)."""
    from ..explain import explain
    from ..trace import trace

    body = _body(body, '{"program": "L = (3*x + 1)**2", "at": {"x": 2}}')
    program, run = _run(body)
    wrt = _names(body, "wrt")
    if wrt is not None:
        known = set(program.inputs) | set(program.assigned)
        for name in wrt:
            if name not in known:
                raise InputError(f"wrt: the program has no variable named {_short(name)} "
                                 f"(its inputs: {', '.join(program.inputs) or 'none'})")
    lesson = _lesson_for(body)
    t = trace(run.output)
    named = {n.name: n.grad for n in t.nodes if n.name}   # inputs and assigned variables
    for name in wrt or ():
        if name not in named:
            raise InputError(f"{program.output} does not depend on {_short(name)}: its gradient is 0 "
                             "and there is no chain to show")
    notes = []
    chosen = wrt
    if not wrt:   # every input's chain, unless there are many: then the first few, and a note
        with_grad = [n.label for n in t.inputs if n.grad is not None]
        if len(with_grad) > DEFAULT_CHAINS:
            chosen = with_grad[:DEFAULT_CHAINS]
            notes.append(f"chains shown for {DEFAULT_CHAINS} of the {len(with_grad)} inputs "
                         f"(every gradient is in the table); ask for others with \"wrt\"")
    explanation = explain(t, wrt=chosen or None, max_paths=MAX_PATHS)
    explanation.notes.extend(notes)
    player, player_note = None, None
    if len(t.nodes) > PLAYER_MAX_NODES:
        player_note = f"the graph has {len(t.nodes)} nodes, too many to draw here (at most {PLAYER_MAX_NODES})"
    else:
        drawing = limit(PLAYER_SECONDS)
        try:
            with drawing:
                player = _player(t, program, wrt, lesson, {n: v.data for n, v in run.inputs.items()},
                                 explanation, chosen)
        except Exception:
            if not drawing.fired:   # a stop inside C code may surface as another error: the same stop
                raise
            player = None
        if player is None and drawing.fired:
            player_note = f"the graph took more than {fmt(PLAYER_SECONDS)} s to lay out, so it is not drawn"
    # The player's data holds the trace and (without wrt) this very explanation as dicts:
    # reuse them rather than converting twice (the conversion is half the cost of a request).
    trace_dict = player.pop("trace") if player else t.to_dict()
    if player and chosen is None and player.get("explanation") is not None:
        expl = player["explanation"]
    else:
        expl = explanation.to_dict(include_trace=False)
    return {
        "player": player,
        **({"player_note": player_note} if player_note else {}),
        "output": program.output,
        "value": run.output.data,
        "values": {name: v.data for name, v in run.values.items()},
        # an input the output does not depend on has gradient 0 (PyTorch would say None)
        "grads": {name: named.get(name) or 0.0 for name in program.inputs},
        "all_grads": {name: named.get(name) or 0.0 for name in run.values},
        "chains": {c["wrt"]: "\n".join(c["lines"]) for c in expl["chains"]},
        "explanation": expl,
        "text": explanation.to_text(),
        "trace": trace_dict,
    }


def _lesson_for(body: dict):
    """The lesson named in the optional ``"lesson"`` field (its words go to the player)."""
    name = body.get("lesson")
    if name is None:
        return None
    if not isinstance(name, str):
        raise ApiError(422, f'"lesson" must be a lesson name, not {_kind(name)}', field="lesson")
    from ..lab.lessons import LESSONS

    if name not in LESSONS:
        raise ApiError(404, f"no lesson named {_short(name)}; lessons: {', '.join(LESSONS)}", field="lesson")
    return LESSONS[name]


def _player(t, program, wrt, lesson, at: dict, explanation, chosen=None) -> dict | None:
    """What chainrule.viz's player needs (the page adds the trace back: it is sent once).

    Without ``wrt`` the player shows our explanation (the inputs in ``chosen``,
    or every input); with one, it makes its own, so its chain menu still offers
    every input, not just ``wrt``.
    """
    try:
        from ..viz.html import player_data
    except ImportError:  # the page falls back to tables
        return None
    mine = lesson is not None and lesson.program == program.text
    # the lesson's step-by-step words quote its numbers: only at its own inputs
    notes = mine and lesson.steps and at == {k: float(v) for k, v in lesson.inputs.items()}
    first = (wrt or (list(lesson.wrt) if mine and lesson.wrt else None) or chosen or [None])[0]
    # The page shows the program and the lesson's words already: the player gets neither.
    data = player_data(
        t, wrt=first, title=lesson.title if mine else None,
        params=list(lesson.params) if mine and lesson.params else None,
        lr=lesson.lr if mine else None,
        step_notes=[f"{s.title}: {s.shows}" for s in lesson.steps] if notes else None,
        explanation=explanation if wrt is None else None)
    return data


def step_payload(body: Any) -> dict:
    """One gradient-descent step ``p ← p − lr·∂out/∂p`` on ``params``; the output before and after."""
    from ..lang import gradient_step

    body = _body(body, '{"program": "L = (3*x + 1)**2", "at": {"x": 2}, "lr": 0.01}')
    program, at = _program_and_values(body)
    lr = _number(body["lr"], "lr") if body.get("lr") is not None else DEFAULT_LR
    if lr <= 0:
        raise ApiError(422, f"lr must be positive (a step goes downhill), got {fmt(lr, ascii=True)}", field="lr")
    params = _names(body, "params")
    if not program.inputs:
        raise InputError(f"{program.output} does not depend on any input, so there is nothing to step")
    result = gradient_step(program, at, lr, params)
    return {
        "output": program.output,
        "lr": lr,
        "params": list(result.params),
        "grads": {name: result.grads[name] for name in result.params},
        "before": {"at": {n: v.data for n, v in result.before.inputs.items()}, "value": result.before.value},
        "after": {"at": result.new_values, "value": None if result.after is None else result.after.value,
                  **({"error": result.after_error} if result.after_error else {})},
    }


def _lesson_summary(lesson) -> dict:
    return {"name": lesson.name, "title": lesson.title, "seed": lesson.seed, "seed_title": lesson.seed_title}


def lessons_payload() -> dict:
    from ..lab.lessons import LESSONS

    return {"lessons": [_lesson_summary(lesson) for lesson in LESSONS.values()]}


def lesson_payload(name: str) -> dict:
    """Everything a lesson holds (program, inputs, the numbers it states, its player steps)."""
    from dataclasses import asdict

    from ..lab.lessons import LESSONS

    lesson = LESSONS.get(name)
    if lesson is None:
        raise ApiError(404, f"no lesson named {_short(name)}; lessons: {', '.join(LESSONS)}")
    return {**asdict(lesson), **_lesson_summary(lesson), "output": lesson.output}
