"""Plain-text tables for the terminal (the CLI, gradcheck and the explainer share this)."""
from __future__ import annotations

__all__ = ["text_table"]


def text_table(header, rows, indent: str = "", rule: bool = False) -> list[str]:
    """Left-aligned columns two spaces apart; ``rule`` draws a line under the header."""
    table = [[str(c) for c in header], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    if rule:
        lines.insert(1, indent + "  ".join("─" * w for w in widths))
    return lines
