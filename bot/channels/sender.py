"""Rate-limited delivery of Bot API calls that post into a chat.

Telegram's limits (`SendLimits`, `channels.telegram.limits` in config.yaml): by default about
30 messages/s overall, about 1 message/s to one private chat (short bursts are tolerated), 20
messages/min to one group. Each chat has a token bucket and all chats share one; a 429
(`RetryAfter`) pauses every send for the time Telegram asks; 5xx and network errors are
retried with exponential backoff; a chat that blocked the bot (403) is reported through
`on_blocked` and raises `Unreachable` instead of being retried.

At most `max_in_flight` requests are on the wire at once (the others wait here, cheaply, and
not in the HTTP client's connection pool, whose bookkeeping grows with every queued request
and open connection). The cap is held only for the request itself, never during a wait.

Everything here runs on the bot's event loop; callers in other threads go through
`asyncio.run_coroutine_threadsafe` (see `TelegramChannel.outbox_sender`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot import metrics
from bot.settings import SendLimits
from messages.types import Undeliverable

log = logging.getLogger(__name__)

T = TypeVar("T")
CHANNEL = "telegram"  # the channel whose limits these are


class Unreachable(Undeliverable):
    """The chat blocked the bot, deleted its account, or removed the bot from the group.

    For the outbox this is final: the row is given up and the ledger says to phone them.
    """

    def __init__(self, chat_id: str) -> None:
        super().__init__(chat_id, "blocked the bot", unsubscribed=True)


class TokenBucket:
    """A token bucket that hands out reservations: `reserve()` says how long to wait.

    Tokens may go negative; each caller waits until its own token has been refilled, so
    concurrent callers are served in the order they asked.
    """

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = burst
        self.updated = clock()

    def reserve(self) -> float:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        return max(0.0, -self.tokens / self.rate)

    def idle(self) -> bool:
        """Full again, so forgetting it changes nothing."""
        elapsed = self.clock() - self.updated
        return self.tokens + elapsed * self.rate >= self.burst


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, read without PTB's int-or-timedelta deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def group_chat_id(chat_id: str) -> bool:
    """Telegram's ids: groups, supergroups and channels negative, private chats positive
    (the limits differ: 20 messages a minute in a group, 1 a second in a private chat)."""
    return chat_id.startswith("-")


BlockedHook = Callable[[str], Awaitable[None]]


class RateLimitedSender:
    def __init__(
        self,
        *,
        limits: SendLimits | None = None,
        on_blocked: BlockedHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_in_flight: int = 8,
    ) -> None:
        self.limits = limits or SendLimits()
        self.on_blocked = on_blocked
        self.clock = clock
        self.max_in_flight = max_in_flight
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._overall = TokenBucket(
            self.limits.overall_per_second, self.limits.overall_burst, clock
        )
        self._chats: dict[str, TokenBucket] = {}
        self._paused_until = 0.0
        self.flood_waits = 0  # how many 429s were obeyed (for tests and metrics)

    def _bucket(self, chat_id: str) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) > 10_000:
                self._chats = {key: b for key, b in self._chats.items() if not b.idle()}
            limits = self.limits
            if group_chat_id(chat_id):
                bucket = TokenBucket(limits.group_per_minute / 60, limits.group_burst, self.clock)
            else:
                bucket = TokenBucket(limits.private_per_second, limits.private_burst, self.clock)
            self._chats[chat_id] = bucket
        return bucket

    async def _wait_turn(self, chat_id: str) -> None:
        await _sleep(self._bucket(chat_id).reserve())
        await self._pause_over()
        await _sleep(self._overall.reserve())

    async def _pause_over(self) -> None:
        """Until the flood-control pause (a 429's retry_after) is over."""
        for _ in range(self.limits.max_flood_waits + 1):  # a pause may be extended meanwhile
            pause = self._paused_until - self.clock()
            if pause <= 0:
                break
            await asyncio.sleep(pause)

    async def unpaced(self, request: Callable[[], Awaitable[T]]) -> T:
        """Run `request` (a Bot API call that posts nothing into a chat) within the in-flight
        cap only, once: answering a button press, say."""
        async with self._in_flight:
            return await request()

    async def call(self, chat_id: str, request: Callable[[], Awaitable[T]]) -> T:
        """Run `request` (one Bot API call into `chat_id`) within the limits, retrying."""
        return await self._retrying(request, chat_id)

    async def fetch(self, request: Callable[[], Awaitable[T]]) -> T:
        """Run `request` (getFile, a download: nothing posted into a chat) within the
        in-flight cap, retried like a send."""
        return await self._retrying(request, None)

    async def _retrying(self, request: Callable[[], Awaitable[T]], chat_id: str | None) -> T:
        attempts = 0
        flood_waits = 0
        while True:
            await (self._pause_over() if chat_id is None else self._wait_turn(chat_id))
            try:
                async with self._in_flight:
                    answer = await request()
            except RetryAfter as error:
                _failed(chat_id, "429")
                flood_waits += 1
                self.flood_waits += 1
                if flood_waits > self.limits.max_flood_waits:
                    raise
                wait = retry_after_seconds(error)
                log.warning("flood control: pausing sends for %.1f s", wait)
                self._paused_until = max(self._paused_until, self.clock() + wait)
            except Forbidden as error:
                if chat_id is None:
                    raise
                _failed(chat_id, "other")
                log.info("chat %s is unreachable: %s", chat_id, error.message)
                if self.on_blocked is not None:
                    try:
                        await self.on_blocked(chat_id)
                    except Exception:
                        log.exception("could not record that chat %s is unreachable", chat_id)
                raise Unreachable(chat_id) from error
            except BadRequest:
                _failed(chat_id, "other")
                raise  # our request is wrong; sending it again will not help
            except NetworkError as error:  # 5xx, timeouts, connection errors
                _failed(chat_id, "5xx")
                attempts += 1
                if attempts >= self.limits.max_attempts:
                    raise
                delay = min(
                    self.limits.backoff_max, self.limits.backoff_base * 2 ** (attempts - 1)
                )
                log.warning(
                    "request to chat %s failed (%s), retry %d in %.1f s",
                    chat_id or "-",
                    type(error).__name__,
                    attempts,
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                if chat_id is not None:
                    metrics.sent(CHANNEL)
                return answer


def _failed(chat_id: str | None, reason: str) -> None:
    """Count a send into a chat that failed (a download, `chat_id` None, is no send)."""
    if chat_id is not None:
        metrics.send_failed(CHANNEL, reason)


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
