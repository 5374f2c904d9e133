"""Text in columns that line up on a terminal, Chinese included: a Chinese character takes
two columns there (wcwidth tells each character's width), so `str.ljust` misaligns it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import wcwidth

GAP = "  "


def columns(rows: Iterable[Sequence[str]], align: str) -> list[str]:
    """Each row as a line, each cell padded to the widest cell of its column on a terminal.

    `align` has one character per column: "<" (left) or ">" (right).
    """
    table = [list(row) for row in rows]
    widths = [max((wcwidth.width(row[i]) for row in table), default=0) for i in range(len(align))]
    pad = {"<": wcwidth.ljust, ">": wcwidth.rjust}
    return [
        GAP.join(
            pad[side](cell, width) for cell, width, side in zip(row, widths, align, strict=True)
        ).rstrip()
        for row in table
    ]
