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
from scheduler.reports import SCHEDULE, run_reports
from scheduler.sweep import Sweeper
from storage.types import utcnow
from workflow.followup import Policy


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
    holds it, sweep the timers, send the outbox and post the reports: on schedule, and on
    taking the clock any due while no process held it. Each job never overlaps itself."""

    def reports_owed() -> None:
        for period in SCHEDULE:
            run_reports(sessions, policy, period)

    holder = this_process()
    chair = Chair(
        election(engine, sessions, holder=holder, sweep_seconds=sweep_seconds),
        holder,
        on_take=reports_owed,
    )

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
    for period, cron in SCHEDULE.items():
        scheduler.add_job(
            held(run_reports),
            "cron",
            args=[sessions, policy, period],
            id=f"report-{period}",
            misfire_grace_time=None,  # however late: run_reports knows what is owed
            coalesce=True,
            **cron,
        )
    scheduler.start()
    return Clock(scheduler, chair)
