"""What `/metrics` tells Prometheus: every instrument of the bot, defined here and nowhere else.

Two kinds. Counters and histograms of what this process did (turns and their time, sends and
their failures, dialog worker restarts) are updated where it happens, through the names
below. Figures of the database (the outbox, timers, open cases, the classifier's confidence)
are read when Prometheus scrapes (`DatabaseCollector`), with a few cheap indexed queries, so
every process behind a load balancer reports the same, true figures and none must run for
them to be right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from scheduler.outbox import MAX_ATTEMPTS
from storage.models import Appeal, Department, Outbox, Timer
from storage.types import utcnow
from workflow.followup import deadline_level
from workflow.lifecycle import OPEN

# This process's instruments (one registry per process; the web app adds the database's).
PROCESS = CollectorRegistry(auto_describe=True)
TURN_SECONDS = Histogram(
    "appealbot_turn_seconds",
    "Dialog turns (their count is _count) and how long each took, per channel",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=PROCESS,
)
SENDS = Counter(
    "appealbot_sends", "Messages a messenger accepted, per channel", ["channel"], registry=PROCESS
)
SEND_FAILURES = Counter(
    "appealbot_send_failures",
    "Sends a messenger refused, per channel and reason: 429 (rate limited, WeChat "
    "45009/45047 too), 5xx (server or network error), other",
    ["channel", "reason"],
    registry=PROCESS,
)
WORKER_RESTARTS = Counter(
    "appealbot_dialog_worker_restarts",
    "Times the dialog's worker processes were started again after one died",
    registry=PROCESS,
)

CONFIDENCE_BUCKETS = (0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1.0)
CONFIDENCE_WINDOW = dt.timedelta(hours=24)
OVERDUE_AFTER = dt.timedelta(minutes=1)  # a timer due this long ago and not done: late


@contextmanager
def turn(channel: str) -> Iterator[None]:
    """Count and time one dialog turn on `channel` (failed turns too)."""
    with TURN_SECONDS.labels(channel).time():
        yield


def sent(channel: str) -> None:
    SENDS.labels(channel).inc()


def send_failed(channel: str, reason: str) -> None:
    SEND_FAILURES.labels(channel, reason).inc()


class DatabaseCollector(Collector):
    """The database's figures, read at each scrape."""

    def __init__(
        self, sessions: sessionmaker[Session], *, remind_at: float, sweep_seconds: float
    ) -> None:
        self.sessions = sessions
        self.remind_at = remind_at
        # A timer is overdue when the clock should have taken it: a minute, or two sweeps.
        self.overdue_after = max(OVERDUE_AFTER, dt.timedelta(seconds=2 * sweep_seconds))

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self.sessions() as session:
            yield from self._outbox(session, now)
            yield from self._timers(session, now)
            yield self._cases(session, now)
            yield self._confidence(session, now)

    def _outbox(self, session: Session, now: dt.datetime) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "appealbot_outbox_depth",
            "Messages waiting to be sent, per channel",
            labels=["channel"],
        )
        age = GaugeMetricFamily(
            "appealbot_outbox_oldest_age_seconds",
            "Age of the oldest message waiting to be sent, per channel",
            labels=["channel"],
        )
        # Rows given up (attempts at the maximum) are not waiting: the ledger says to phone.
        query = (
            select(Outbox.channel, func.count(), func.min(Outbox.created_at))
            .where(col(Outbox.sent_at).is_(None), col(Outbox.attempts) < MAX_ATTEMPTS)
            .group_by(col(Outbox.channel))
        )
        for channel, count, oldest in session.exec(query):
            depth.add_metric([channel], count)
            age.add_metric([channel], (now - oldest).total_seconds())
        yield depth
        yield age

    def _timers(self, session: Session, now: dt.datetime) -> Iterator[Metric]:
        pending = col(Timer.done_at).is_(None)
        due = session.exec(select(func.count()).where(pending, Timer.due_at <= now)).one()
        late = now - self.overdue_after
        overdue = session.exec(select(func.count()).where(pending, Timer.due_at <= late)).one()
        yield GaugeMetricFamily(
            "appealbot_timers_due",
            "Timers (deadlines, reminders, callbacks) due and not done",
            due,
        )
        yield GaugeMetricFamily(
            "appealbot_timers_overdue",
            f"Timers due more than {int(self.overdue_after.total_seconds())} s ago and not done "
            "(the clock is not running)",
            overdue,
        )

    def _cases(self, session: Session, now: dt.datetime) -> Metric:
        cases = GaugeMetricFamily(
            "appealbot_open_cases",
            "Open cases per department and deadline state: ok, near (临期), overdue (超期)",
            labels=["department", "deadline"],
        )
        names = dict(session.exec(select(Department.id, Department.name)).all())
        counts: dict[tuple[str, str], int] = {}
        query = select(Appeal.department_id, Appeal.created_at, Appeal.finish_due_at).where(
            col(Appeal.status).in_([status.value for status in OPEN])
        )
        state = {"": "ok", "yellow": "near", "red": "overdue"}
        for department_id, created_at, due in session.exec(query):
            level = deadline_level(created_at, due, now, self.remind_at)
            key = (names.get(department_id, ""), state[level])
            counts[key] = counts.get(key, 0) + 1
        for (department, deadline), count in sorted(counts.items()):
            cases.add_metric([department, deadline], count)
        return cases

    def _confidence(self, session: Session, now: dt.datetime) -> Metric:
        query = select(Appeal.confidence).where(Appeal.created_at >= now - CONFIDENCE_WINDOW)
        values = list(session.exec(query))
        buckets = [
            (str(bound), sum(value <= bound for value in values)) for bound in CONFIDENCE_BUCKETS
        ]
        return GaugeHistogramMetricFamily(
            "appealbot_classifier_confidence",
            "The classifier's confidence in the appeals received in the last 24 hours",
            buckets=[*buckets, ("+Inf", len(values))],
            gsum_value=sum(values),
        )


class _Process(Collector):
    """This process's instruments, as one collector of a web app's registry."""

    def collect(self) -> Iterable[Metric]:
        return PROCESS.collect()


def registry(database: DatabaseCollector | None) -> CollectorRegistry:
    """What `/metrics` shows: this process's instruments, and the database's figures."""
    shown = CollectorRegistry(auto_describe=False)
    shown.register(_Process())
    if database is not None:
        shown.register(database)
    return shown
