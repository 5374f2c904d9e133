"""Which of the processes on one database runs the clock: every `appealbot run` stands, one
holds the clock, and when it dies another takes over.

On PostgreSQL the holder keeps a session-level advisory lock on a connection of its own: the
server lets go of it the moment the process dies (its connection closes), and another process
takes it at its next try, within a sweep interval. On SQLite the holder keeps a lease in the
row `clock_lease`, renewed every sweep; once it has gone unrenewed for LEASE_SWEEPS intervals
another process takes it over. A process that stalls past its lease (or loses its database
connection) may sweep once beside its successor before it sees it lost the clock: harmless,
since the timers and the outbox are claimed row by row (see sweep.py, outbox.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Connection, Engine, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from storage.db import transaction
from storage.models import ClockLease
from storage.types import utcnow

log = logging.getLogger(__name__)

LEASE_SWEEPS = 3  # a SQLite lease lasts this many sweep intervals
LEASE_NAME = "clock"
# One lock per schema, so deployments (and tests) in different schemas of a database each
# elect their own holder.
_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtext('appealbot.clock.' || current_schema()))")


class Election(Protocol):
    def hold(self) -> bool:
        """Take the clock, or keep it: True while this process holds it."""

    def release(self) -> None:
        """Give the clock up (at a clean stop), so that another process takes it at once."""


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Lease:
    """SQLite: the row `clock_lease`; SQLite's one writer at a time makes read-then-write
    safe."""

    def __init__(self, sessions: sessionmaker[Session], holder: str, lease: dt.timedelta) -> None:
        self.sessions = sessions
        self.holder = holder
        self.lease = lease

    def hold(self) -> bool:
        with transaction(self.sessions) as session:
            now = utcnow()
            row = session.get(ClockLease, LEASE_NAME)
            if row is None:
                row = ClockLease(name=LEASE_NAME, holder=self.holder, expires_at=now)
            elif row.holder != self.holder and row.expires_at > now:
                return False
            row.holder, row.expires_at = self.holder, now + self.lease
            session.add(row)
            return True

    def release(self) -> None:
        with transaction(self.sessions) as session:
            session.connection().execute(
                update(ClockLease)
                .where(col(ClockLease.name) == LEASE_NAME, col(ClockLease.holder) == self.holder)
                .values(expires_at=utcnow())
            )


class AdvisoryLock:
    """PostgreSQL: an advisory lock, held as long as the connection that took it is open."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    def hold(self) -> bool:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))  # still connected: still ours
            except SQLAlchemyError:
                self.release()
                raise
            return True
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if connection.execute(_TRY_LOCK).scalar_one():
            self._connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        if self._connection is not None:
            # Closed, not given back to the pool: the lock goes with the connection.
            self._connection.invalidate()
            self._connection.close()
            self._connection = None


def election(
    engine: Engine, sessions: sessionmaker[Session], *, holder: str, sweep_seconds: float
) -> Election:
    """The election for the engine's database."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    return Lease(sessions, holder, dt.timedelta(seconds=sweep_seconds * LEASE_SWEEPS))


class Chair:
    """Whether this process runs the clock now: `elect` every sweep interval; the clock's
    jobs run only while `held`. Taking, losing and giving up the clock are logged. Once
    stopped, an election still under way when the scheduler shut down changes nothing."""

    def __init__(
        self, election: Election, holder: str, on_take: Callable[[], None] = lambda: None
    ) -> None:
        self.election = election
        self.holder = holder
        self.on_take = on_take  # what fell due while no process held the clock
        self.held = False
        self._lock = threading.Lock()  # an election, or the stop
        self._stopped = False

    def elect(self) -> None:
        with self._lock:
            if self._stopped:
                return
            try:
                held = self.election.hold()
            except SQLAlchemyError as error:
                log.warning("the clock's election failed: %s", type(error).__name__)
                held = False
            if held and not self.held:
                log.info("this process (%s) took the clock", self.holder)
                self.on_take()  # done before the clock is seen held
            elif self.held and not held:
                log.warning("this process (%s) lost the clock", self.holder)
            self.held = held

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self.held:
                self.held = False
                self.election.release()
                log.info("this process (%s) gave the clock up", self.holder)
