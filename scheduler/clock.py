"""The one clock process: an APScheduler BackgroundScheduler running the periodic jobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from scheduler.outbox import Sender, drain
from scheduler.reports import run_report
from scheduler.sweep import Sweeper
from workflow.followup import Policy

# Daily at 18:00, weekly on Monday 09:00, monthly on the 1st (with 回头看), local time.
REPORTS: dict[str, dict[str, Any]] = {
    "day": {"hour": 18, "minute": 0},
    "week": {"day_of_week": "mon", "hour": 9, "minute": 0},
    "month": {"day": 1, "hour": 9, "minute": 30},
}


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
    for period, cron in REPORTS.items():
        clock.add_job(
            run_report, "cron", args=[sessions, policy, period], id=f"report-{period}", **cron
        )
    clock.start()
    return clock
