"""The timer sweep: claims due timer rows and acts on them, each exactly once.

A timer is claimed with FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite serialises writers), acted
on and marked done in one transaction, so two sweepers never act twice and a sweep after
downtime fires each missed timer once. Every action re-checks the appeal's state first.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from messages.about import about
from messages.catalog import STAGE, t
from storage.db import transaction
from storage.models import Appeal, Department, Person, Timer
from storage.types import utcnow
from workflow.cards import local_deadline
from workflow.followup import (
    Due,
    Policy,
    add_timers,
    leaders,
    notify,
    outside_quiet_hours,
    rating_options,
    schedule_callback,
    transition,
)
from workflow.lifecycle import SYSTEM, Action, Status, record

log = logging.getLogger(__name__)

PENDING = {
    "accept": frozenset({Status.DISPATCHED, Status.ASSIGNED, Status.REOPENED}),
    "finish": frozenset(
        {Status.DISPATCHED, Status.ASSIGNED, Status.SIGNED, Status.REOPENED, Status.RETURNED}
    ),
}


def _claim(session: Session, now: dt.datetime, limit: int) -> list[Timer]:
    query = (
        select(Timer)
        .where(col(Timer.done_at).is_(None), Timer.due_at <= now)
        .order_by(col(Timer.due_at), col(Timer.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(query))


@dataclass(frozen=True)
class Round:
    """One sweep: its transaction, its time and the departments (read once per sweep)."""

    session: Session
    now: dt.datetime
    departments: dict[int | None, Department]

    def department_of(self, appeal: Appeal) -> Department | None:
        return self.departments.get(appeal.department_id)

    @property
    def center(self) -> Department | None:
        return next((d for d in self.departments.values() if d.kind == "center"), None)


class Sweeper:
    def __init__(self, sessions: sessionmaker[Session], policy: Policy) -> None:
        self.sessions = sessions
        self.policy = policy
        self.actions: dict[str, Callable[[Round, Timer, Appeal], bool]] = {
            "remind_accept": self._remind,
            "remind_finish": self._remind,
            "overdue_accept": self._overdue,
            "overdue_finish": self._overdue,
            "escalate": self._escalate,
            "callback": self._callback,
            "close_unrated": self._close_unrated,
        }

    def sweep(self, *, limit: int = 1000) -> int:
        """Act on due timers; returns how many were done."""
        done = 0
        with transaction(self.sessions) as session, session.no_autoflush:
            now = utcnow()
            timers = _claim(session, now, limit)
            ids = {timer.appeal_id for timer in timers}
            appeals = {
                a.id: a for a in session.exec(select(Appeal).where(col(Appeal.id).in_(ids)))
            }
            departments = {d.id: d for d in session.exec(select(Department))}
            sweep = Round(session, now, departments)
            for timer in timers:
                appeal = appeals.get(timer.appeal_id)
                action = self.actions.get(timer.kind)
                if appeal is None or action is None:
                    log.warning("timer %s of unknown kind %s or appeal", timer.id, timer.kind)
                else:
                    with about(case=appeal.number):
                        if not action(sweep, timer, appeal):
                            continue  # postponed: the timer stays pending with a new due time
                timer.done_at = now
                session.add(timer)
                done += 1
        return done

    def _due(self, appeal: Appeal, stage: str) -> dt.datetime | None:
        return appeal.accept_due_at if stage == "accept" else appeal.finish_due_at

    def _remind(self, sweep: Round, timer: Timer, appeal: Appeal) -> bool:
        session = sweep.session
        stage = timer.kind.removeprefix("remind_")
        if Status(appeal.status) not in PENDING[stage]:
            return True
        due = self._due(appeal, stage)
        params = {"stage": STAGE[stage], "due": local_deadline(due, self.policy.calendar)}
        department = sweep.department_of(appeal)
        notify(
            session,
            appeal=appeal,
            to=department,
            message="notify.remind",
            params=params,
            cause=f"t{timer.id}",
        )
        record(session, appeal, "remind", SYSTEM, t("note.remind", **params))
        return True

    def _overdue(self, sweep: Round, timer: Timer, appeal: Appeal) -> bool:
        session = sweep.session
        stage = timer.kind.removeprefix("overdue_")
        due = self._due(appeal, stage)
        if Status(appeal.status) not in PENDING[stage] or due is None or timer.due_at < due:
            return True  # handled in time, or the timer is of an earlier deadline (extended)
        params = {"stage": STAGE[stage], "due": local_deadline(due, self.policy.calendar)}
        for to in (sweep.department_of(appeal), sweep.center):
            cause = f"t{timer.id}"
            notify(
                session, appeal=appeal, to=to, message="notify.overdue", params=params, cause=cause
            )
        record(session, appeal, "supervise", SYSTEM, t("note.overdue", stage=STAGE[stage]))
        return True

    def _escalate(self, sweep: Round, timer: Timer, appeal: Appeal) -> bool:
        session = sweep.session
        due = appeal.finish_due_at
        after = dt.timedelta(hours=self.policy.follow_up.escalate_after_hours)
        if (
            Status(appeal.status) not in PENDING["finish"]
            or due is None
            or timer.due_at < due + after
        ):
            return True  # handled, or the timer is of an earlier deadline (extended)
        department = sweep.department_of(appeal)
        params = {
            "due": local_deadline(due, self.policy.calendar),
            "department": department.name if department else "—",
        }
        for leader in leaders(session):
            notify(
                session,
                appeal=appeal,
                to=leader,
                message="notify.escalate",
                params=params,
                cause=f"t{timer.id}",
            )
        record(session, appeal, "escalate", SYSTEM, t("note.escalate"))
        return True

    def _callback(self, sweep: Round, timer: Timer, appeal: Appeal) -> bool:
        session, now = sweep.session, sweep.now
        if appeal.status != Status.RESOLVED:
            return True
        follow_up = self.policy.follow_up
        allowed = outside_quiet_hours(now, follow_up, self.policy.calendar)
        if allowed > now:
            timer.due_at = allowed
            session.add(timer)
            return False
        resident = session.get(Person, appeal.resident_id)
        options = rating_options(appeal)
        reached = (
            resident is not None
            and not resident.unreachable
            and notify(
                session,
                appeal=appeal,
                to=resident,
                message="notify.rate_request",
                options=options,
                cause=f"t{timer.id}",
            )
        )
        record(
            session,
            appeal,
            "callback" if reached else "unreachable",
            SYSTEM,
            t("note.callback", step=timer.step),
        )
        later = now + dt.timedelta(hours=follow_up.callback_retry_hours)
        cause = f"t{timer.id}"
        if timer.step <= follow_up.callback_retries:
            schedule_callback(
                session,
                appeal,
                follow_up,
                self.policy.calendar,
                after=later,
                step=timer.step + 1,
                cause=cause,
            )
        else:
            add_timers(session, appeal, [Due("close_unrated", later)], cause=cause)
        return True

    def _close_unrated(self, sweep: Round, timer: Timer, appeal: Appeal) -> bool:
        session = sweep.session
        if appeal.status == Status.RESOLVED:
            transition(
                session, appeal, Action.CLOSE, SYSTEM, t("note.not_rated"), policy=self.policy
            )
        return True
