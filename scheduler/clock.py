"""The one clock process: an APScheduler BackgroundScheduler running the periodic jobs."""

from __future__ import annotations

from collections.abc import Mapping

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from scheduler.outbox import Sender, drain


def start_clock(
    sessions: sessionmaker[Session],
    senders: Mapping[str, Sender],
    *,
    sweep_seconds: float,
    timezone: str,
) -> BackgroundScheduler:
    clock = BackgroundScheduler(timezone=timezone)
    clock.add_job(
        drain,
        "interval",
        seconds=sweep_seconds,
        args=[sessions, senders],
        id="outbox",
        max_instances=1,
        coalesce=True,
    )
    clock.start()
    return clock
