"""The clock's election: of the processes on one database one runs the clock, and when it
dies another takes over; the timers fire once, never twice. On SQLite (a lease row) and on
PostgreSQL (an advisory lock)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from messages.catalog import t
from scheduler.election import LEASE_SWEEPS, AdvisoryLock, Chair, Lease
from storage.db import make_engine, session_factory, transaction, upgrade
from storage.models import Appeal, AppealEvent, ClockLease, Department, Person, Timer
from storage.types import utcnow
from tests.conftest import ROOT

SWEEP = 0.5  # seconds, the processes' sweep interval
WITHIN = 180.0  # seconds: three processes starting on two busy cores take a while
BANNER = t("console.banner")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    upgrade(built)
    yield built
    built.dispose()


def _until(condition: Callable[[], bool], within: float = WITHIN) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


class Process:
    """`appealbot run` on the console (its input a pipe left open), in a process of its own."""

    def __init__(self, folder: Path, database_url: str) -> None:
        folder.mkdir()
        self.out, self.err = folder / "out", folder / "err"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("APPEALBOT_")},
            "DATABASE_URL": database_url,
            "APPEALBOT_STORAGE__DATA_DIR": str(folder),
            "APPEALBOT_SCHEDULER__SWEEP_SECONDS": str(SWEEP),
        }
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), "run"],
                env=env,
                cwd=folder,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
            )

    def log(self) -> str:
        return self.err.read_text("utf-8")

    def took(self) -> bool:
        return "took the clock" in self.log()

    def notices(self) -> int:
        """The department's notices this process printed: it sent them."""
        return self.out.read_text("utf-8").count("[通知 → dept]")

    def stop(self) -> None:
        """Close its input: the console ends, the clock stops."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


def _seed(engine: Engine) -> int:
    """A case dispatched to 住建局, whose chat is a console chat; returns its id."""
    with transaction(session_factory(engine)) as session:
        department = Department(name="住建局", chat_channel="console", chat_id="dept")
        resident = Person(channel="console", external_id="r", chat_id="r")
        session.add_all([department, resident])
        session.flush()
        appeal = Appeal(
            number="SQ20261201-0001",
            status="dispatched",
            channel="console",
            resident_id=resident.id,
            text="电梯坏了两周",
            category="物业房产",
            disposition="referral",
            department_id=department.id,
            accept_due_at=utcnow() + dt.timedelta(days=1),
        )
        session.add(appeal)
        session.flush()
        assert appeal.id is not None
        return appeal.id


def _remind(engine: Engine, appeal_id: int, keys: range) -> None:
    """Reminders due now: each one a ledger line and a notice to the department's chat."""
    with transaction(session_factory(engine)) as session:
        for key in keys:
            session.add(
                Timer(appeal_id=appeal_id, kind="remind_accept", key=f"r{key}", due_at=utcnow())
            )


def _reminded(engine: Engine) -> int:
    with Session(engine) as session:
        query = select(func.count()).where(AppealEvent.action == "remind")
        return session.exec(query).one()


def test_one_of_three_processes_runs_the_clock_and_another_takes_over(
    engine: Engine, database_url: str, tmp_path: Path, record_property: Callable[..., None]
) -> None:
    appeal_id = _seed(engine)
    processes = [Process(tmp_path / f"p{i}", database_url) for i in range(3)]
    try:
        _until(lambda: all(BANNER in p.out.read_text("utf-8") for p in processes))  # all up
        _until(lambda: any(p.took() for p in processes))
        _remind(engine, appeal_id, range(3))
        _until(lambda: _reminded(engine) == 3 and sum(p.notices() for p in processes) == 3)
        [first] = [p for p in processes if p.took()]
        assert first.notices() == 3

        first.process.kill()  # SIGKILL: it gives nothing up
        first.process.wait()
        killed = time.monotonic()
        others = [p for p in processes if p is not first]
        _until(lambda: any(p.took() for p in others))
        taken = time.monotonic() - killed
        record_property("figure", f"clock taken over in {taken:.1f} s ({engine.dialect.name})")
        [second] = [p for p in others if p.took()]
        [third] = [p for p in others if p is not second]
        _remind(engine, appeal_id, range(3, 6))
        _until(lambda: _reminded(engine) == 6 and second.notices() == 3)
        time.sleep(4 * SWEEP)  # time enough to act twice, were anything to
        assert _reminded(engine) == 6
        assert (first.notices(), second.notices(), third.notices()) == (3, 3, 0)
        assert not third.took() and "lost the clock" not in second.log()

        second.stop()
        assert second.process.returncode == 0 and "gave the clock up" in second.log()
        # Taken over (that a lease given up is taken at once, not once it expires, is
        # test_a_lease_is_taken_once_it_expires_or_is_given_up's: a bound of a few seconds of
        # wall clock is no proof of it and too tight for a loaded machine).
        _until(third.took)
    finally:
        for process in processes:
            process.stop()


def test_a_lease_is_taken_once_it_expires_or_is_given_up(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'clock.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    lease = dt.timedelta(seconds=SWEEP * LEASE_SWEEPS)
    one, two = Lease(sessions, "one", lease), Lease(sessions, "two", lease)
    assert one.hold() and not two.hold() and one.hold()
    one.release()
    assert two.hold() and not one.hold()
    with transaction(sessions) as session:  # two stops renewing; its lease runs out
        row = session.get(ClockLease, "clock")
        assert row is not None and row.holder == "two"
        row.expires_at = utcnow()
        session.add(row)
    assert one.hold() and not two.hold()
    engine.dispose()


def test_an_advisory_lock_is_lost_with_its_connection(
    postgres_schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scheduler.election")
    engines = [make_engine(postgres_schema_url) for _ in range(2)]
    one, two = (Chair(AdvisoryLock(engine), f"p{i}") for i, engine in enumerate(engines))
    one.elect()
    two.elect()
    assert one.held and not two.held
    with engines[1].begin() as connection:  # the server drops the holder's connection
        connection.execute(
            # This schema's lock (its key's low 32 bits are pg_locks' objid), not another
            # test's; waiting up to 10 s for the backend to end.
            text(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks "
                "WHERE locktype = 'advisory' "
                "AND objid = (hashtext('appealbot.clock.' || current_schema())::bigint "
                "& 4294967295)::oid"
            )
        )
    two.elect()
    one.elect()
    assert two.held and not one.held
    assert "(p0) lost the clock" in caplog.text and "(p1) took the clock" in caplog.text
    two.stop()
    one.elect()
    assert one.held
    one.stop()
    for engine in engines:
        engine.dispose()
