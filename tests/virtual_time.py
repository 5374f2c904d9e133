"""An event loop on a fake clock, for the send limits without real waiting.

Whenever the loop would wait for its next timer (an `asyncio.sleep`, a limiter's turn), its
clock jumps to that timer instead: minutes of Telegram's limits pass in milliseconds, and what
happens when is exactly what the real clock would give. Callers in other threads (the outbox
drain) get `grace` real seconds to hand in work before the clock jumps.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from bot.channels.sender import RateLimitedSender
from bot.settings import SendLimits
from messages.types import Outbound

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, grace: float) -> None:
        super().__init__()
        self.grace = grace
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if not timeout:  # None: no timer, wait for I/O; 0: something is ready
            return super().select(timeout)
        events = super().select(min(timeout, self.grace))
        if not events:
            self.now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, grace: float = 0.0) -> None:
        self._jumping = _JumpingSelector(grace)
        super().__init__(self._jumping)

    def time(self) -> float:
        return self._jumping.now


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


@contextmanager
def loop_in_thread(grace: float = 0.1) -> Iterator[VirtualTimeLoop]:
    """A virtual-time loop running in a thread of its own, as the bot's loop runs beside the
    outbox drain's threads."""
    loop = VirtualTimeLoop(grace)
    thread = threading.Thread(target=loop.run_forever, name="virtual-time", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


class LimitedSender:
    """An outbox sender (called in the drain's threads) whose sends go through the real
    `RateLimitedSender` on `loop`; `sent` records (chat, text, virtual time) of each."""

    def __init__(self, loop: VirtualTimeLoop, limits: SendLimits | None = None) -> None:
        self.loop = loop
        self.limiter = RateLimitedSender(limits=limits, clock=loop.time)
        self.sent: list[tuple[str, str, float]] = []

    def __call__(self, chat_id: str, reply: Outbound) -> None:
        async def post() -> None:
            self.sent.append((chat_id, reply.text, self.loop.time()))

        call = self.limiter.call(chat_id, post)
        asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=30)

    def times(self, chat_id: str) -> list[float]:
        return [at for chat, _, at in self.sent if chat == chat_id]
