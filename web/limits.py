"""The mobile page's limits (`channels.web` in config.yaml) and the sliding window that
counts turns against them, per browser and per IP address, in this process (the wrong
number-and-phone tries are counted in the database, web/mobile.py)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field


class WebSettings(BaseModel):
    """`channels.web`: the mobile page (码上办, /m) a resident opens from a QR poster."""

    model_config = ConfigDict(extra="forbid")

    browser_turns_per_minute: int = Field(default=30, ge=1)  # one browser's messages
    address_turns_per_minute: int = Field(default=120, ge=1)  # one IP address's messages
    address_browsers_per_hour: int = Field(default=30, ge=1)  # new browsers from one address
    open_attempts: int = Field(default=5, ge=1)  # wrong number + phone, then locked
    open_lock_minutes: int = Field(default=30, ge=1)


class Window:
    """At most `limit` events per key within any `seconds`."""

    def __init__(
        self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._added = 0

    def full(self, key: str) -> bool:
        return len(self._recent(key)) >= self.limit

    def add(self, key: str) -> None:
        self._recent(key).append(self.clock())
        self._added += 1
        if self._added % 1024 == 0:  # forget the keys gone quiet
            for quiet in [k for k, events in self._events.items() if not self._pruned(events)]:
                del self._events[quiet]

    def take(self, key: str) -> bool:
        """Count one event unless the window is full; whether it was counted."""
        if self.full(key):
            return False
        self.add(key)
        return True

    def _recent(self, key: str) -> deque[float]:
        return self._pruned(self._events.setdefault(key, deque()))

    def _pruned(self, events: deque[float]) -> deque[float]:
        since = self.clock() - self.seconds
        while events and events[0] <= since:
            events.popleft()
        return events
