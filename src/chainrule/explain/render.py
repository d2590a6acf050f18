"""The explanation as a lesson: plain text for terminals, Markdown with tables.

Sections: (1) the forward pass in evaluation order, (2) the backward steps
as recorded (incoming × local = contribution, accumulated gradient), (3) the
chain for each input with its product, (4) the factors chains share, (5) the
trace's warnings. Every number shown is a recorded one.
"""
from __future__ import annotations

import math

from ..numfmt import count as fmt_count, factor, fmt, product
from ..textfmt import fit_lines, text_table
from .chains import is_num, pretty

SHOW_WHEN_SUMMARISED = 3   # paths written out when there are too many to list
MAX_FACTORS_SHOWN = 10     # longer paths are shortened in the middle in lessons
MAX_FACTOR_ROWS = 12       # formula rows listed under a chain
MAX_SHARED_SHOWN = 8
MAX_ROWS = 400             # backward rows in a lesson; larger traces are cut with a note


# --------------------------------------------------------------------------
# Chain lines
# --------------------------------------------------------------------------

def _shorten(items: list[str], max_factors: int | None) -> list[str]:
    if max_factors is None or len(items) <= max_factors:
        return items
    keep = max(max_factors - 2, 1)
    return items[:keep] + [f"… {len(items) - keep - 1} more …", items[-1]]


def _with_gap(path, items: list[str]) -> list[str]:
    """A summarised path's factors with the left-out middle marked."""
    if not path.omitted:
        return items
    half = len(items) // 2
    return items[:half] + [f"… {path.omitted:,} more …"] + items[half:]


def path_factors(path, max_factors: int | None = None) -> tuple[str, str]:
    """A path's factors as ``∂C/∂a₃ · ∂a₃/∂w₃`` and their numbers as ``2 · (−0.5)``, shortened
    in the middle to ``max_factors``; the scalar and the tensor explainer write chains with it."""
    labels = " · ".join(_shorten(_with_gap(path, [f.label for f in path.factors]), max_factors))
    values = " · ".join(_shorten(_with_gap(path, [fmt(f.value) if i == 0 else factor(f.value)
                                                  for i, f in enumerate(path.factors)]), max_factors))
    return labels, values


def _path_text(path, max_factors, alone: bool) -> str:
    if not path.factors:
        return "1"
    labels, values = path_factors(path, max_factors)
    if len(path.factors) == 1 and not path.omitted:
        f = path.factors[0]
        if not alone:
            return f"{f.label} = {fmt(f.value)}"
        # the one factor is the whole derivative: say what it is
        return f"{_formula(f)} = {fmt(f.value)}" if _formula(f) else fmt(f.value)
    return f"{labels} = {values} = {fmt(path.product)}"


def _signed_sum(values) -> str:
    out = ""
    for i, v in enumerate(values):
        if is_num(v) and v < 0 and i:
            out += f" − {fmt(-v)}"
        else:
            out += (" + " if i else "") + fmt(v)
    return out


def chain_lines(expl, cs, max_factors: int | None = None, shown: int | None = None) -> list[str]:
    head = cs.label
    pad = " " * len(head)
    mismatch = "" if cs.matches is not False else f"   ✗ but the backward pass recorded {fmt(cs.grad)}" + (
        "" if cs.forward is None else f" and forward mode gives {fmt(cs.forward)}")
    if cs.path_count == 0:
        return [f"{head} = 0 (no path leads from the output to {cs.wrt})"]
    paths = cs.paths if shown is None else cs.paths[:shown]
    if cs.path_count == 1 and paths:
        return [f"{head} = {_path_text(paths[0], max_factors, True)}{mismatch}"]
    lines = []
    for i, p in enumerate(paths):
        lines.append(f"{head} = {_path_text(p, max_factors, False)}" if i == 0 else
                     f"{pad} + {_path_text(p, max_factors, False)}")
    rest = cs.path_count - len(paths)
    if rest:
        lines.append(f"{pad} + … {fmt_count(rest)} more path{'s' if rest != 1 else ''}")
    if cs.summarised or rest:
        lines.append(f"{pad} = sum over all {fmt_count(cs.path_count)} paths = {fmt(cs.total)}"
                     f"{mismatch}")
    else:
        lines.append(f"{pad} = {_signed_sum([p.product for p in paths])} = {fmt(cs.total)}{mismatch}")
    return lines


def _check(cs, out) -> str:
    if cs.matches is None:
        if is_num(cs.grad) and not math.isfinite(cs.grad):
            return f"! not checked: the backward pass's {cs.label} is {fmt(cs.grad)}, not a finite number"
        return "(not checked: the factors are not all numbers)"
    how = "sum of path products" if not cs.summarised else "sum over all paths"
    if cs.matches:
        by_forward = "" if cs.forward is None else f" = forward mode's {fmt(cs.forward)}"
        return f"✓ {how} {fmt(cs.total)} = the backward pass's {cs.label} = {fmt(cs.grad)}{by_forward}"
    if cs.forward is None:
        return f"✗ {how} {fmt(cs.total)} ≠ the backward pass's {cs.label} = {fmt(cs.grad)}"
    return (f"✗ {how} {fmt(cs.total)}, the backward pass's {cs.label} = {fmt(cs.grad)} and forward mode's "
            f"{fmt(cs.forward)} do not all agree")


def _formula(f) -> str:
    """A factor's formula, or nothing when it is just its own number (``1``)."""
    return "" if f.formula == fmt(f.value) else f.formula


def _unique_factors(cs, limit):
    seen, out = set(), []
    for p in cs.paths[:limit]:
        for f in p.factors:
            key = (f.label, f.formula, fmt(f.value))
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------

def _text_table(headers: list[str], rows: list[list[str]], indent: str = "  ",
                width: int | None = None) -> list[str]:
    return text_table(headers, rows, indent, rule=True, width=width)


def _md_cell(s) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return lines


# --------------------------------------------------------------------------
# The sections, as data
# --------------------------------------------------------------------------

def forward_rows(expl, limit: int | None = None) -> list[list[str]]:
    t, g = expl.trace, expl.graph
    rows = []
    # links, and named constants (a value made from constants only, or under no_grad)
    for i in sorted(g.is_link | {n.id for n in t.nodes if n.kind == "const" and n.name}):
        if limit is not None and len(rows) >= limit:
            break
        n = t.nodes[i]
        what = {"input": "input", "const": "constant"}.get(n.kind) or g.rhs(i) or n.op or ""
        val = fmt(n.value) if n.shape is None else f"{fmt(n.value)} shape {tuple(n.shape)}"
        rows.append([str(len(rows) + 1), n.label, what, val])
    return rows


def backward_rows(expl, limit: int = MAX_ROWS) -> tuple[list[list[str]], int]:
    t, g = expl.trace, expl.graph
    out = pretty(t.nodes[t.output].label)
    rows = []
    for k, step in enumerate(t.backward):
        if len(rows) >= limit:
            return rows, len(t.backward) - k
        name = g.text(step.node)
        first = [str(k + 1), name, fmt(step.incoming)]
        if not step.locals:
            kind = t.nodes[step.node].kind
            rows.append(first + ["", f"(leaf{'' if kind == 'input' else ', ' + kind}: "
                                 f"∂{out}/∂{pretty(t.nodes[step.node].label)} is complete)", "", ""])
            continue
        for j, ls in enumerate(step.locals):
            lead = first if j == 0 else ["", "", ""]
            formula = g.formula(ls.formula)
            local = formula if formula == fmt(ls.local) else f"{formula} = {fmt(ls.local)}"
            rows.append(lead + [g.text(ls.input), local,
                                f"{product([step.incoming, ls.local], ' × ')} = {fmt(ls.contribution)}",
                                fmt(ls.accumulated)])
    return rows, 0


_FWD_HEADERS = ["#", "node", "computed as", "value"]


def _bwd_headers(out: str) -> list[str]:
    return ["#", "node", f"incoming ∂{out}/∂node", "→ input", "local ∂node/∂input",
            "incoming × local = contribution", "input's gradient so far"]


def _intro(expl) -> list[str]:
    t = expl.trace
    n_ops = sum(1 for n in t.nodes if n.op)
    out = t.nodes[t.output]
    mode = ("links are the named variables; unnamed steps are folded into them"
            if expl.mode == "names" else "every primitive step is a link")
    return [f"Output {out.label} = {fmt(out.value)}: {n_ops} primitive steps forward, "
            f"{len(t.backward)} backward ({mode})."]


# --------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------

def _forward(expl) -> tuple[list[list[str]], str]:
    """The forward rows (all of them, or MAX_ROWS in a summary) and a note on what was cut."""
    if expl.summary is None:
        return forward_rows(expl), ""
    rows = forward_rows(expl, MAX_ROWS)
    return rows, (f"… the first {len(rows)} rows shown (a summary)" if len(rows) == MAX_ROWS else "")


def summary_rows(expl) -> list[list[str]]:
    out = pretty(expl.output)
    return [[label, f"∂{out}/∂{pretty(label)} = {fmt(g)}"] for label, g in expl.summary.largest]


def _summary_head(s) -> str:
    return (f"{s.rest:,} of {s.inputs:,} inputs have no chain here; the largest of their gradients "
            "(from the backward pass):")


def explanation_text(expl, width: int | None = None) -> str:
    """The explanation for a terminal ``width`` columns wide (default: the terminal's, else 80)."""
    t = expl.trace
    out = pretty(expl.output)
    lines = _intro(expl) + [n for n in expl.notes]
    lines += ["", "Forward pass (evaluation order)"]
    rows, cut = _forward(expl)
    lines += _text_table(_FWD_HEADERS, rows, width=width)
    if cut:
        lines.append("  " + cut)
    if t.backward:
        lines += ["", "Backward pass (reverse topological order: a node passes its gradient on "
                  "once every consumer has sent its part)"]
        rows, cut = backward_rows(expl)
        lines += _text_table(_bwd_headers(out), rows, width=width)
        if cut:
            lines.append(f"  … {cut} more steps not shown")
    if expl.chains:
        lines += ["", "Chains (each path multiplies local derivatives from the output down to the input; "
                  "paths add up)"]
        for cs in expl.chains:
            lines.append("")
            shown = SHOW_WHEN_SUMMARISED if cs.summarised else None
            lines += ["  " + s for s in chain_lines(expl, cs, MAX_FACTORS_SHOWN, shown)]
            factors = _unique_factors(cs, shown or len(cs.paths))
            if factors and not (cs.path_count == 1 and len(factors) == 1):
                lw = max(len(f.label) for f in factors)
                fw = max(len(_formula(f)) for f in factors)
                for f in factors[:MAX_FACTOR_ROWS]:
                    formula = f"{_formula(f).ljust(fw)} = " if _formula(f) else " " * (fw + 3) if fw else ""
                    lines.append(f"      {f.label.ljust(lw)} = {formula}{fmt(f.value)}")
                if len(factors) > MAX_FACTOR_ROWS:
                    lines.append(f"      … {len(factors) - MAX_FACTOR_ROWS} more factors")
            lines.append("    " + _check(cs, out))
            lines += ["    note: " + n for n in cs.notes]
    if expl.shared:
        lines += ["", "Shared factors (why one backward sweep is enough)"]
        for s in expl.shared[:MAX_SHARED_SHOWN]:
            lines.append("  " + s.message)
        if len(expl.shared) > MAX_SHARED_SHOWN:
            lines.append(f"  … and {len(expl.shared) - MAX_SHARED_SHOWN} more shared factors")
    if expl.summary is not None and expl.summary.rest:
        lines += ["", "Other inputs (summary)", "  " + _summary_head(expl.summary)]
        lines += _text_table(["input", "gradient"], summary_rows(expl), width=width)
    if t.warnings:
        lines += ["", "Warnings"] + ["  ! " + w for w in t.warnings]
    return "\n".join(fit_lines(lines, width)) + "\n"


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------

def explanation_markdown(expl) -> str:
    t = expl.trace
    out = pretty(expl.output)
    lines = [f"## How ∂{out} is computed", ""] + _intro(expl)
    lines += ["", *("> " + n for n in expl.notes)] if expl.notes else []
    rows, cut = _forward(expl)
    lines += ["", "### Forward pass", "", *_md_table(_FWD_HEADERS, rows)]
    if cut:
        lines += ["", cut]
    if t.backward:
        rows, cut = backward_rows(expl)
        lines += ["", "### Backward pass", "",
                  "Reverse topological order: a node passes its gradient on once every consumer has "
                  "sent its part.", "", *_md_table(_bwd_headers(out), rows)]
        if cut:
            lines += ["", f"… {cut} more steps not shown"]
    if expl.chains:
        lines += ["", "### Chains", ""]
        for cs in expl.chains:
            shown = SHOW_WHEN_SUMMARISED if cs.summarised else None
            lines += [f"#### {cs.label}", "", "```",
                      *chain_lines(expl, cs, MAX_FACTORS_SHOWN, shown), "```", ""]
            factors = _unique_factors(cs, shown or len(cs.paths))
            if factors:
                lines += _md_table(["factor", "formula", "value"],
                                   [[f.label, f.formula, fmt(f.value)] for f in factors])
                lines.append("")
            lines.append(_check(cs, out))
            lines += [""] + ["*" + n + "*" for n in cs.notes] if cs.notes else []
            lines.append("")
    if expl.shared:
        lines += ["### Shared factors", "", "Why one backward sweep is enough:", ""]
        lines += ["- " + s.message for s in expl.shared[:MAX_SHARED_SHOWN]]
        if len(expl.shared) > MAX_SHARED_SHOWN:
            lines.append(f"- … and {len(expl.shared) - MAX_SHARED_SHOWN} more shared factors")
    if expl.summary is not None and expl.summary.rest:
        lines += ["", "### Other inputs (summary)", "", _summary_head(expl.summary), "",
                  *_md_table(["input", "gradient"], summary_rows(expl))]
    if t.warnings:
        lines += ["", "### Warnings", ""] + ["- ⚠ " + w for w in t.warnings]
    return "\n".join(lines).rstrip() + "\n"
