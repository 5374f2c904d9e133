"""Benchmark: one sweep over 1k due timers among 100k pending ones, on SQLite and PostgreSQL.

    python -m benchmarks.bench_sweep [--pending 100000] [--due 1000] [--postgres URL]

Prints the time of the sweep that handles the due timers, and of a sweep with nothing due
(the cost of looking), so that the figures show whether cost depends on the pending count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from messages.catalog import t
from scheduler.sweep import Sweeper
from storage.db import make_engine, session_factory, upgrade
from storage.models import Appeal, Department, Person, Timer
from storage.types import utcnow
from tests.postgres import scratch_schema
from workflow.calendar import WorkCalendar
from workflow.followup import Policy
from workflow.policy import CalendarConfig, Duty, FollowUp, SlaConfig, Triage

APPEALS = 1000


def _fill(url: str, pending: int, due: int) -> Sweeper:
    engine = make_engine(url)
    upgrade(engine)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            insert(Department),
            [
                {
                    "name": "住建局",
                    "kind": "department",
                    "chat_channel": "console",
                    "chat_id": "dept",
                }
            ],
        )
        connection.execute(
            insert(Person),
            [
                {
                    "channel": "console",
                    "external_id": "r",
                    "chat_id": "r",
                    "role": "resident",
                    "unreachable": False,
                    "created_at": now,
                }
            ],
        )
        connection.execute(
            insert(Appeal),
            [
                {
                    "number": f"SQ20261123-{i:05d}",
                    "status": "dispatched",
                    "channel": "console",
                    "resident_id": 1,
                    "text": "路灯不亮",
                    "category": "城乡建设",
                    "disposition": "referral",
                    "department_id": 1,
                    "urgency": "normal",
                    "confidence": 1.0,
                    "keywords": [],
                    "needs_triage": False,
                    "reopen_count": 0,
                    "accept_due_at": now - dt.timedelta(hours=1),
                    "finish_due_at": now + dt.timedelta(days=2),
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(1, APPEALS + 1)
            ],
        )
        rows = [
            {
                "appeal_id": i % APPEALS + 1,
                "kind": "remind_finish",
                "key": f"p{i}",
                "step": 0,
                "due_at": now + dt.timedelta(days=1 + i % 30),
                "attempts": 0,
            }
            for i in range(pending)
        ] + [
            {
                "appeal_id": i % APPEALS + 1,
                "kind": "overdue_accept",
                "key": f"d{i}",
                "step": 0,
                "due_at": now - dt.timedelta(minutes=1 + i % 50),
                "attempts": 0,
            }
            for i in range(due)
        ]
        for start in range(0, len(rows), 10_000):
            connection.execute(insert(Timer), rows[start : start + 10_000])
    policy = Policy(
        sla=SlaConfig(),
        calendar=WorkCalendar(CalendarConfig(), "Asia/Shanghai"),
        follow_up=FollowUp(),
        appeals_per_day=10,
        duty=Duty(),
        triage=Triage(),
        catalog=t,
    )
    return Sweeper(session_factory(engine), policy)


def _measure(label: str, url: str, pending: int, due: int) -> None:
    sweeper = _fill(url, pending, due)
    started = time.perf_counter()
    done = sweeper.sweep(limit=due)
    busy = time.perf_counter() - started
    started = time.perf_counter()
    idle_done = sweeper.sweep(limit=due)
    idle = time.perf_counter() - started
    print(
        f"{label:10} pending={pending:>7} due={due:>5} handled={done:>5} in {busy:6.3f} s "
        f"({done / busy:7.0f}/s); empty sweep {idle * 1000:6.1f} ms (handled {idle_done})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument(
        "--postgres", help="PostgreSQL URL, e.g. postgresql://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for pending in (0, args.pending):
            _measure("sqlite", f"sqlite:///{Path(tmp) / f'bench{pending}.db'}", pending, args.due)
    if args.postgres:
        for pending in (0, args.pending):
            with scratch_schema(args.postgres, "bench") as url:
                _measure("postgresql", url, pending, args.due)


if __name__ == "__main__":
    main()
