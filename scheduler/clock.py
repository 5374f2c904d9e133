"""The clock: an APScheduler BackgroundScheduler running the periodic jobs, in the one
process the election chose (see election.py); every process stands, each sweep interval."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from scheduler.election import Chair, election, this_process
from scheduler.outbox import Sender, drain
from scheduler.reports import run_report
from scheduler.sweep import Sweeper
from storage.types import utcnow
from workflow.followup import Policy

# Daily at 18:00, weekly on Monday 09:00, monthly on the 1st (with 回头看), local time.
REPORTS: dict[str, dict[str, Any]] = {
    "day": {"hour": 18, "minute": 0},
    "week": {"day_of_week": "mon", "hour": 9, "minute": 0},
    "month": {"day": 1, "hour": 9, "minute": 30},
}


class Clock:
    """The scheduler and the chair that says whether this process runs its jobs."""

    def __init__(self, scheduler: BackgroundScheduler, chair: Chair) -> None:
        self.scheduler = scheduler
        self.chair = chair

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        self.chair.stop()


def start_clock(
    engine: Engine,
    sessions: sessionmaker[Session],
    policy: Policy,
    senders: Mapping[str, Sender],
    *,
    sweep_seconds: float,
) -> Clock:
    """Stand for the clock every sweep interval (at once the first time); while this process
    holds it, sweep the timers, send the outbox and post the reports. Each job never
    overlaps itself."""
    holder = this_process()
    chair = Chair(election(engine, sessions, holder=holder, sweep_seconds=sweep_seconds), holder)

    def held(job: Callable[..., object]) -> Callable[..., None]:
        def run(*args: Any) -> None:
            if chair.held:
                job(*args)

        return run

    scheduler = BackgroundScheduler(timezone=policy.calendar.zone)
    common = {
        "trigger": "interval",
        "seconds": sweep_seconds,
        "max_instances": 1,
        "coalesce": True,
    }
    scheduler.add_job(chair.elect, id="election", next_run_time=utcnow(), **common)
    scheduler.add_job(held(Sweeper(sessions, policy).sweep), id="timers", **common)
    scheduler.add_job(held(drain), args=[sessions, senders], id="outbox", **common)
    for period, cron in REPORTS.items():
        scheduler.add_job(
            held(run_report),
            "cron",
            args=[sessions, policy, period],
            id=f"report-{period}",
            **cron,
        )
    scheduler.start()
    return Clock(scheduler, chair)
