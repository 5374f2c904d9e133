"""What every channel adapter shares beyond translation: cutting a long text into messages."""

from __future__ import annotations

from collections.abc import Callable


def split_text(text: str, limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Messages of at most `limit` as `size` measures it (characters, or UTF-8 bytes), cut at
    line ends where the lines fit, inside a line where one does not."""
    if size(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while size(line) > limit:
            cut = _fitting(line, limit, size)
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:]
        if size(current + line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current:
        parts.append(current)
    return [part.rstrip("\n") for part in parts if part.strip()]


def _fitting(line: str, limit: int, size: Callable[[str], int]) -> int:
    """How many characters from the start of `line` fit in `limit`."""
    cut = min(len(line), limit)
    while size(line[:cut]) > limit:
        cut -= 1
    return cut
