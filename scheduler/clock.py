"""The one clock process: an APScheduler BackgroundScheduler running the periodic jobs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from scheduler.outbox import Sender, drain
from scheduler.reports import SCHEDULE, run_reports
from scheduler.sweep import Sweeper
from workflow.followup import Policy


def start_clock(
    sessions: sessionmaker[Session],
    policy: Policy,
    senders: Mapping[str, Sender],
    *,
    sweep_seconds: float,
) -> BackgroundScheduler:
    """Start the timer sweep, the outbox sender and the reports (at once, for any due while
    the clock was stopped, then on schedule); each job never overlaps itself."""
    clock = BackgroundScheduler(timezone=policy.calendar.zone)
    common = {
        "trigger": "interval",
        "seconds": sweep_seconds,
        "max_instances": 1,
        "coalesce": True,
    }
    clock.add_job(Sweeper(sessions, policy).sweep, id="timers", **common)
    clock.add_job(drain, args=[sessions, senders], id="outbox", **common)
    for period, cron in SCHEDULE.items():
        clock.add_job(
            run_reports,
            "cron",
            args=[sessions, policy, period],
            id=f"report-{period}",
            next_run_time=dt.datetime.now(policy.calendar.zone),
            misfire_grace_time=None,  # however late: run_reports knows what is owed
            coalesce=True,
            **cron,
        )
    clock.start()
    return clock
