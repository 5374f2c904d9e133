"""What every channel adapter shares beyond translation: a lane per chat, so that one
person's messages are answered in order, and cutting a long text into messages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field


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


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


class Lanes:
    """Per-key order on one event loop: what holds a key's lane runs alone and in the order
    it came (asyncio's lock is first come, first served), other keys' meanwhile. A lane
    lives while someone holds or waits for it."""

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lane = self._lanes.setdefault(key, _Lane())
        lane.users += 1
        try:
            async with lane.lock:
                yield
        finally:
            lane.users -= 1
            if lane.users == 0:
                del self._lanes[key]

    def waiting(self, key: str) -> int:
        """How many wait for the key's lane behind its holder."""
        lane = self._lanes.get(key)
        return max(lane.users - 1, 0) if lane is not None else 0
