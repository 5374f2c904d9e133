"""The one clock process: an APScheduler BackgroundScheduler running the periodic jobs."""

from __future__ import annotations

from collections.abc import Mapping

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from scheduler.outbox import Sender, drain
from scheduler.sweep import Sweeper
from workflow.followup import Policy


def start_clock(
    sessions: sessionmaker[Session],
    policy: Policy,
    senders: Mapping[str, Sender],
    *,
    sweep_seconds: float,
) -> BackgroundScheduler:
    """Start the timer sweep and the outbox sender; each job never overlaps itself."""
    clock = BackgroundScheduler(timezone=policy.calendar.zone)
    common = {
        "trigger": "interval",
        "seconds": sweep_seconds,
        "max_instances": 1,
        "coalesce": True,
    }
    clock.add_job(Sweeper(sessions, policy).sweep, id="timers", **common)
    clock.add_job(drain, args=[sessions, senders], id="outbox", **common)
    clock.start()
    return clock
