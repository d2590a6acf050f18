"""Each kind of ``chainrule`` block as HTML, from the engine's numbers (:class:`~.format.Model`).

Every block is a ``<section class="cr-block">`` with a heading, works without JavaScript as
far as it can (tables, text, ``<details>``), and has a text alternative for every picture
(the chain as text). Interactive parts (player, practice, flashcards, chapter player) carry
their data as JSON and are started by ``book.js``.
"""
from __future__ import annotations

import ast
import re
from html import escape

from .format import KINDS, Block, LessonError, _REF, resolve_reference

__all__ = ["render_block", "RENDERERS", "script_json", "torch_code", "chainrule_code"]


def script_json(data) -> str:
    from ..viz.html import _script_json
    return _script_json(data)


def _text(block: Block, key: str, models, md, inline=True) -> str:
    """A block's text field as HTML (Markdown, raw HTML off), with its {{ references }} filled in."""
    value = block.get(key)
    if value is None:
        return ""
    line = block.line_of(key)
    text = _REF.sub(lambda m: resolve_reference(m.group(1), models, block.path, line), str(value))
    return md.renderInline(text) if inline and "\n\n" not in text else md.render(text)


def _head(block: Block, default: str, models, md) -> str:
    title = _text(block, "title", models, md) or escape(default)
    caption = _text(block, "caption", models, md, inline=False)
    return f'<h3 class="cr-block-title" id="{escape(block.id)}-title">{title}</h3>' + (
        f'<div class="cr-caption">{caption}</div>' if caption else "")


def _wrap(block: Block, inner: str, default_title: str, models, md, extra: str = "") -> str:
    return (f'<section class="cr-block cr-{block.kind}" id="{escape(block.id)}" data-block="{escape(block.id)}" '
            f'data-kind="{block.kind}" aria-labelledby="{escape(block.id)}-title"{extra}>'
            f'{_head(block, default_title, models, md)}{inner}</section>')


def _program_pre(model) -> str:
    return f'<pre class="cr-code" tabindex="0" aria-label="program"><code>{escape(model.text)}</code></pre>'


def _fmt(v) -> str:
    from ..numfmt import fmt
    return fmt(v)


def _pretty(name: str) -> str:
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    m = re.match(r"^(.*?[^\d_])_?(\d+)$", name)
    return m.group(1) + m.group(2).translate(sub) if m else name


def _d(out, name) -> str:
    return f"∂{_pretty(out)}/∂{_pretty(name)}"


def chain_text(model, names=None) -> list[str]:
    """The chains as text (the graph's text alternative): one line per path, with numbers."""
    from ..explain.render import chain_lines
    expl = model.explanation
    lines = []
    for cs in expl.chains:
        if names and cs.wrt not in names:
            continue
        lines.extend(chain_lines(expl, cs))
    return lines


def _alt(model, names=None, summary="The chain as text") -> str:
    forward = [f"{s.target} = {s.text} = {_fmt(model.value(s.target))}" for s in model.program.statements]
    text = "\n".join(["Forward pass:", *("  " + f for f in forward), "Chains (backward pass):",
                      *("  " + c for c in chain_text(model, names))])
    return (f'<details class="cr-alt"><summary>{escape(summary)}</summary>'
            f'<pre class="cr-alt-text" tabindex="0">{escape(text)}</pre></details>')


def _values_table(model) -> str:
    out = model.output
    rows = []
    for name, v in model.run.values.items():
        g = v.grad
        kind = "input" if name in model.inputs else "computed"
        rows.append(f"<tr><th scope=\"row\">{escape(name)}</th><td>{kind}</td><td>{escape(_fmt(v.data))}</td>"
                    f"<td>{escape(_fmt(g)) if g is not None else '—'}</td></tr>")
    return (f'<div class="cr-scroll" tabindex="0" role="region" aria-label="values and gradients of {escape(model.block.id)}">'
            f'<table class="cr-table"><caption class="cr-sr">values and gradients</caption>'
            f'<thead><tr><th scope="col">variable</th><th scope="col">kind</th><th scope="col">value</th>'
            f'<th scope="col">gradient {escape(_d(out, "(variable)"))}</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


# ----------------------------------------------------------------------------- kinds

def r_program(block, model, models, md, ctx) -> str:
    return _wrap(block, _program_pre(model) + _values_table(model), "The program and its numbers", models, md)


def r_graph(block, model, models, md, ctx) -> str:
    from ..viz.svg import trace_to_svg
    svg = trace_to_svg(model.trace)
    svg = svg.replace('aria-label="computational graph"',
                      f'aria-label="computational graph of {escape(model.output)}; its chain as text follows"', 1)
    names = [model.wrt] if model.wrt else None
    return _wrap(block, f'<div class="cr-graph-static" tabindex="0" role="region" aria-label="graph of {escape(block.id)} '
                        f'(scrolls sideways on a narrow screen)">{svg}</div>' + _alt(model, names, "The graph as text"),
                 f"The graph of {model.output}", models, md)


def r_player(block, model, models, md, ctx) -> str:
    from ..viz.html import player_data
    params = model.params
    data = player_data(model.trace, title=str(block.get("title") or f"Step through {model.output}"),
                       program=model.text, wrt=model.wrt, params=list(params) if params else None,
                       lr=model.lr)
    ctx["needs_player"] = True
    host = (f'<div class="cr-player-host" tabindex="0" role="region" aria-label="step-through player, '
            f'{escape(str(block.get("title") or block.id), True)}: Space or the arrow keys step"></div>'
            f'<script type="application/json" class="cr-data">{script_json(data)}</script>'
            f'<noscript><p>The player needs JavaScript; the chain as text is below.</p></noscript>')
    return _wrap(block, _program_pre(model) + host + _alt(model, [model.wrt] if model.wrt else None),
                 "Step through it", models, md)


def _chain_boxes(model, name) -> str:
    cs = model.chain(name)
    if not cs.paths:
        return f"<p>{escape(cs.label)} = 0: no path leads from {escape(model.output)} to {escape(name)}.</p>"
    rows = []
    for p in cs.paths[:4]:
        boxes = "".join(f'<li class="cr-factor"><span class="cr-f-label">{escape(f.label)}</span>'
                        + (f'<span class="cr-f-formula">{escape(str(f.formula))}</span>'
                           if str(f.formula) != _fmt(f.value) else "") +
                        f'<span class="cr-f-value">{escape(_fmt(f.value))}</span></li>' for f in p.factors)
        rows.append(f'<ol class="cr-factors" aria-label="factors of one path">{boxes}</ol>'
                    f'<p class="cr-product">product: <strong>{escape(_fmt(p.product))}</strong></p>')
    more = f"<p>… and {cs.path_count - 4} more paths.</p>" if cs.path_count > 4 else ""
    return (f'<p class="cr-chain-head">{escape(cs.label)} =</p>' + '<p class="cr-plus">+</p>'.join(rows) + more +
            f'<p class="cr-chain-total">{escape(cs.label)} = <strong>{escape(_fmt(cs.total))}</strong> '
            f'(the backward pass: {escape(_fmt(model.grad(name)))})</p>')


def r_chain(block, model, models, md, ctx) -> str:
    name = model.wrt or _deepest(model)
    return _wrap(block, _chain_boxes(model, name) + _alt(model, [name]),
                 f"The chain for {name}", models, md)


def _deepest(model) -> str:
    from ..viz.html import default_wrt
    return default_wrt(model.trace, model.params) or next(iter(model.inputs))


def r_step(block, model, models, md, ctx) -> str:
    from ..steps import review_step
    if model.lr is None:
        raise block.error("a 'step' block needs 'lr:' (the learning rate)")
    st = model.step
    rows = "".join(
        f"<tr><th scope=\"row\">{escape(p)}</th><td>{escape(_fmt(st.before.inputs[p].data))}</td>"
        f"<td>{escape(_fmt(st.grads[p]))}</td>"
        f"<td>{escape(_fmt(st.before.inputs[p].data))} − {escape(_fmt(st.lr))} · ({escape(_fmt(st.grads[p]))})"
        f" = <strong>{escape(_fmt(st.new_values[p]))}</strong></td></tr>" for p in st.params)
    out = model.output
    review = review_step(st)
    after = "no value (the step left the program's domain)" if review.after is None else _fmt(review.after)
    verdict = ("lowered" if review.lowered else "raised" if review.raised else "did not change")
    words = [f"{escape(out)} goes from <strong>{escape(_fmt(review.before))}</strong> to <strong>{escape(after)}</strong>: "
             f"the step {verdict} it."]
    words.append(f"To first order a step changes {escape(out)} by −η·|∇{escape(out)}|² = "
                 f"{escape(_fmt(review.predicted_change))}.")
    if review.overshot:
        words.append("Along the step the slope turned uphill: the step overshot the bottom.")
    if review.lower_lr is not None and not review.lowered:
        words.append(f"A smaller learning rate, η = {escape(_fmt(review.lower_lr))}, lowers it to "
                     f"{escape(_fmt(review.lower_after))}.")
    table = (f'<div class="cr-scroll" tabindex="0" role="region" aria-label="one gradient-descent step of {escape(block.id)}">'
             f'<table class="cr-table"><caption class="cr-sr">one gradient-descent step</caption>'
             f'<thead><tr><th scope="col">parameter</th><th scope="col">before</th>'
             f'<th scope="col">{escape(_d(out, "p"))}</th><th scope="col">p − η · {escape(_d(out, "p"))}</th></tr></thead>'
             f'<tbody>{rows}</tbody></table></div>')
    return _wrap(block, f'<p>Learning rate η = {escape(_fmt(st.lr))}.</p>{table}<p class="cr-verdict">{" ".join(words)}</p>',
                 "One gradient-descent step", models, md)


def r_practice(block, model, models, md, ctx) -> str:
    from .format import evaluate_target
    answer = str(block.get("answer") or "").strip()
    if not answer:
        raise block.error("a practice block needs 'answer: WHAT' (∂L/∂w1, L, step w1): the engine computes it")
    what = answer
    pairs = evaluate_target(answer, model, block.path, block.line_of("answer"))
    if len(pairs) != 1:
        raise block.error(f"answer: {answer} names {len(pairs)} numbers; a practice answer is one number", "answer")
    value = pairs[0][1]
    question = _text(block, "question", models, md, inline=False) or f"<p>Compute {escape(what)}.</p>"
    hint = _text(block, "hint", models, md)
    uid = escape(block.id)
    data = {"answer": value, "what": what, "shown": _fmt(value)}
    worked = ""
    m = re.match(r"^(?:∂|d)\s*\w+\s*/\s*(?:∂|d)\s*(\w+)$", what)
    if m:
        worked = _alt(model, [m.group(1)], "Show the worked chain")
    inner = (f'<div class="cr-question">{question}</div>'
             f'<form class="cr-practice-form" novalidate><label for="{uid}-in">Your answer for {escape(what)}</label> '
             f'<input id="{uid}-in" class="cr-answer" type="text" inputmode="decimal" autocomplete="off"> '
             f'<button type="submit" class="cr-button">Check</button></form>'
             f'<p class="cr-feedback" role="status" aria-live="polite"></p>'
             + (f'<details class="cr-hint"><summary>Hint</summary><p>{hint}</p></details>' if hint else "")
             + worked + f'<script type="application/json" class="cr-data">{script_json(data)}</script>')
    return _wrap(block, inner, "Practice", models, md)


def r_flashcards(block, model, models, md, ctx) -> str:
    qs, as_ = block.all("q"), block.all("a")
    cards = []
    for i, ((q, ql), (a, al)) in enumerate(zip(qs, as_)):
        fill = lambda t, ln: _REF.sub(lambda m: resolve_reference(m.group(1), models, block.path, ln), str(t))
        cards.append(f'<li class="cr-card"><p class="cr-card-q"><span class="cr-sr">Question {i + 1}: </span>'
                     f'{md.renderInline(fill(q, ql))}</p>'
                     f'<button type="button" class="cr-button cr-flip" aria-expanded="false" '
                     f'aria-controls="{escape(block.id)}-a{i}">Show answer</button>'
                     f'<p class="cr-card-a" id="{escape(block.id)}-a{i}" hidden>{md.renderInline(fill(a, al))}</p></li>')
    tools = (f'<p class="cr-deck-tools"><button type="button" class="cr-button" data-deck="all">Show all answers</button> '
             f'<button type="button" class="cr-button" data-deck="print">Print the cards</button> '
             f'<span class="cr-deck-count" aria-live="polite">{len(cards)} cards</span></p>')
    return _wrap(block, tools + f'<ol class="cr-deck">{"".join(cards)}</ol>', "Flashcards", models, md)


def r_selfcheck(block, model, models, md, ctx) -> str:
    """The question is the block's heading (unless it has a title); the answer waits behind a summary."""
    a = _text(block, "answer", models, md, inline=False)
    q = _text(block, "question", models, md)
    if block.get("title") is None and "<p>" not in q:
        body = f'<details class="cr-answer-box"><summary>Show answer</summary>{a}</details>'
        return (f'<section class="cr-block cr-selfcheck" id="{escape(block.id)}" data-block="{escape(block.id)}" '
                f'data-kind="selfcheck" aria-labelledby="{escape(block.id)}-title">'
                f'<h3 class="cr-block-title" id="{escape(block.id)}-title"><span class="cr-q-mark">Question.</span> {q}</h3>'
                f'{body}</section>')
    q = _text(block, "question", models, md, inline=False)
    return _wrap(block, f'<div class="cr-question">{q}</div>'
                        f'<details class="cr-answer-box"><summary>Show answer</summary>{a}</details>',
                 "Check yourself", models, md)


def r_chapters(block, model, models, md, ctx) -> str:
    interval = block.get("interval", 8)
    try:
        seconds = float(interval)
        if not 0.5 <= seconds <= 600:
            raise ValueError
    except ValueError:
        raise block.error(f"interval: {interval!r} must be a number of seconds from 0.5 to 600", "interval") from None
    ctx["chapters"] = block.id
    # the list of chapters is filled in by the page, which knows the ## sections after this block
    inner = (f'<div class="cr-chapter-bar" role="toolbar" aria-label="chapter player">'
             f'<button type="button" class="cr-button cr-primary" data-ch="play" aria-pressed="false">Play</button>'
             f'<button type="button" class="cr-button" data-ch="prev" aria-label="Back: the previous chapter">◂ Back</button>'
             f'<button type="button" class="cr-button" data-ch="next" aria-label="Next: the next chapter">Next ▸</button>'
             f'<span class="cr-ch-counter" aria-live="polite">Chapter – / <span class="cr-ch-total">?</span></span></div>'
             f'<p class="cr-ch-status">Press Play or Space to begin; ← and → step, Space pauses.</p>'
             f'<!--CHAPTER-LIST-->'
             f'<script type="application/json" class="cr-data">{script_json({"interval": seconds})}</script>')
    return _wrap(block, inner, "Chapters", models, md)


def _code_lines(model, lib: str) -> list[str]:
    class Qualify(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if isinstance(node.func, ast.Name):
                name = node.func.id
                if lib == "torch":
                    name = {"max": "maximum", "min": "minimum", "abs": "abs"}.get(name, name)
                    base = "torch.nn.functional" if name == "leaky_relu" else "torch"
                else:
                    base = "cr"
                node.func = ast.Attribute(value=ast.Name(id=base, ctx=ast.Load()), attr=name, ctx=ast.Load())
            return node

    import copy   # the program's own trees stay as they are
    return [f"{s.target} = {ast.unparse(Qualify().visit(copy.deepcopy(s.expr)))}" for s in model.program.statements]


def torch_code(model) -> str:
    params = model.params or tuple(model.inputs)
    lines = ["import torch", "torch.set_default_dtype(torch.float64)   # chainrule computes in float64 too", ""]
    for n, v in model.inputs.items():
        req = ", requires_grad=True" if n in params or model.params is None else ""
        lines.append(f"{n} = torch.tensor({float(v)!r}{req})")
    lines += ["", *_code_lines(model, "torch"), f"{model.output}.backward()", ""]
    for n in (params if model.params else model.inputs):
        lines.append(f"print({n}.grad)   # tensor({_ascii(model.grad(n))})")
    return "\n".join(lines)


def chainrule_code(model) -> str:
    params = model.params or tuple(model.inputs)
    lines = ["import chainrule as cr", "from chainrule import Value", "from chainrule.explain import explain", ""]
    for n, v in model.inputs.items():
        lines.append(f"{n} = Value({float(v)!r}, name={n!r})")
    body = _code_lines(model, "cr")
    lines += ["", *body, f"{model.output}.backward()", ""]
    for n in (params if model.params else model.inputs):
        lines.append(f"print({n}.grad)   # {_ascii(model.grad(n))}")
    lines.append(f"print(explain({model.output}).to_text())   # and every chain, with its numbers")
    return "\n".join(lines)


def _ascii(v) -> str:
    from ..numfmt import fmt
    return fmt(v, 4, ascii=True)


def r_compare(block, model, models, md, ctx) -> str:
    left = f'<div class="cr-col"><h4>PyTorch</h4><pre class="cr-code" tabindex="0" aria-label="PyTorch code"><code>{escape(torch_code(model))}</code></pre></div>'
    right = (f'<div class="cr-col"><h4>chainrule</h4><pre class="cr-code" tabindex="0" aria-label="chainrule code"><code>{escape(chainrule_code(model))}</code>'
             f'</pre></div>')
    note = ("<p class=\"cr-muted\">Both columns are written from the same program; the numbers in the comments are "
            "the engine's, computed when this page was built (the tests run both columns and compare).</p>")
    return _wrap(block, f'<div class="cr-two">{left}{right}</div>{note}', "The same network in PyTorch", models, md)


def r_unbuilt(block, model, models, md, ctx) -> str:
    """Kinds whose components are built elsewhere in chainrule: say so, and show the real numbers."""
    what = KINDS[block.kind]["what"]
    body = (f'<p class="cr-unbuilt" role="note"><strong>Not built yet:</strong> the interactive {escape(what)} '
            f'comes with chainrule\'s lab components. Until then this block shows the engine\'s numbers.</p>')
    if model is not None:
        body += _program_pre(model) + _values_table(model)
    return _wrap(block, body, what[0].upper() + what[1:], models, md)


def r_digits(block, model, models, md, ctx) -> str:
    from .digits_block import render_digits
    return _wrap(block, render_digits(block), "From a handwritten digit to a trained network", models, md)


RENDERERS = {
    "program": r_program, "graph": r_graph, "player": r_player, "chain": r_chain, "step": r_step,
    "practice": r_practice, "flashcards": r_flashcards, "selfcheck": r_selfcheck, "chapters": r_chapters,
    "compare": r_compare, "digits": r_digits,
    "tangent": r_unbuilt, "heatmap": r_unbuilt, "vanishing": r_unbuilt, "modes": r_unbuilt,
}


def render_block(block: Block, models: dict, md, ctx: dict) -> str:
    model = models.get(block.id)
    try:
        return RENDERERS[block.kind](block, model, models, md, ctx)
    except LessonError:
        raise
    except Exception as e:  # noqa: BLE001 - a block the engine cannot draw names its place
        from ..errors import ChainruleError
        if isinstance(e, (ChainruleError, KeyError, ValueError)):
            raise block.error(f"cannot draw this '{block.kind}' block: {e}") from None
        raise
