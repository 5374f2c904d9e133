"""Recording finished Telegram turns: their replies sent (or left to the outbox) and their
updates done, for all lanes together every SETTLE_DELAY in one transaction; the journal of
sends read back at start; and whether every update taken is answered (`idle`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.channels.journal import SentJournal
from bot.channels.telegram_reading import CHANNEL
from scheduler import outbox
from storage import inbox
from storage.db import Busy, transaction

log = logging.getLogger(__name__)

SETTLE_DELAY = 0.2  # seconds: finished turns are recorded together this often


@dataclass
class _Unsettled:
    """Finished turns the database has not been told about yet (see `settle`)."""

    sent: list[str] = field(default_factory=list)  # reply keys
    failed: list[tuple[list[str], Exception | None]] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # update ids

    def merge(self, other: _Unsettled) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.done += other.done


class Settler:
    """`inline`: SQLite, where a small write runs on the event loop when the write lock is
    free (see `write`)."""

    def __init__(
        self, sessions: sessionmaker[Session], journal: SentJournal | None, *, inline: bool
    ) -> None:
        self.sessions = sessions
        self.journal = journal  # replies sent, until the database says so
        self.inline = inline
        self._unsettled = _Unsettled()
        self._settler: asyncio.Task[None] | None = None
        self._open = 0  # updates taken whose turn is not over yet
        self._idle = asyncio.Event()
        self._idle.set()

    def taken(self) -> None:
        """One more update whose turn is not over."""
        self._open += 1
        self._idle.clear()

    async def idle(self) -> None:
        await self._idle.wait()

    async def close(self) -> None:
        """Record what is left, and close the journal."""
        if self._settler is not None:
            self._settler.cancel()
        await self.flush()
        if self.journal is not None:
            self.journal.close()

    def sent(self, key: str) -> None:
        if self.journal is not None:
            self.journal.sent(key)

    def recover_journal(self) -> None:
        if self.journal is None:
            return
        keys = self.journal.recorded()
        if keys:
            with transaction(self.sessions) as session:
                outbox.settle(session, keys)
            log.info("%d reply(s) sent just before the last run ended: marked sent", len(keys))
        self.journal.clear()

    def settle(
        self, updates: list[str], sent: list[str], failed: list[str], error: Exception | None
    ) -> None:
        """Note that a batch is over: its replies sent (or left to the outbox), its updates
        done. The database is told for all lanes together, SETTLE_DELAY later, in one
        transaction (on SQLite one per turn took the write lock from the turns); the journal
        already has the sends, so a crash meanwhile sends nothing twice."""
        self._open -= len(updates)
        if not self._open:
            self._idle.set()
        pending = self._unsettled
        pending.sent += sent
        pending.done += updates
        if failed:
            pending.failed.append((failed, error))
        self._settle_soon()

    def _settle_soon(self) -> None:
        """Record what is unsettled SETTLE_DELAY from now (unless that is already due)."""
        if self._settler is None:
            self._settler = asyncio.create_task(self._settle_later(), name="telegram-settle")

    async def _settle_later(self) -> None:
        await asyncio.sleep(SETTLE_DELAY)
        await self.flush()

    async def flush(self) -> None:
        pending, self._unsettled = self._unsettled, _Unsettled()
        self._settler = None
        if not (pending.sent or pending.failed or pending.done):
            return
        try:
            await self.write(self._record, pending)
        except Exception:  # the database is away: try again with what comes next
            log.warning("could not record finished turns; retrying", exc_info=True)
            self._unsettled.merge(pending)
            self._settle_soon()

    async def write(self, write: Callable[..., None], *args: Any) -> None:
        """Run a small write, `write(*args, wait=...)`: on the event loop when SQLite's
        write lock is free (a hop to a worker thread costs more than the write), else in a
        thread, where waiting for the lock (or PostgreSQL's network) holds nobody up."""
        if self.inline:
            with contextlib.suppress(Busy):
                write(*args, wait=False)
                return
        await asyncio.to_thread(functools.partial(write, *args, wait=True))

    def _record(self, pending: _Unsettled, *, wait: bool) -> None:
        with transaction(self.sessions, wait=wait) as session:
            outbox.settle(session, pending.sent)
            for keys, error in pending.failed:
                outbox.settle(session, [], keys, error)
            inbox.done(session, CHANNEL, pending.done)
