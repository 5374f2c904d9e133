"""What a transition sets in motion: deadline timers, callbacks and notifications.

`transition` is how the service moves an appeal: it applies the lifecycle transition and, in
the same transaction, writes the timer and outbox rows that follow from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import insert
from sqlmodel import Session, col, select

from storage.models import Appeal, AppealEvent, Department, Follower, Outbox, Person, Timer
from storage.roles import Role
from storage.types import utcnow
from workflow.calendar import WorkCalendar
from workflow.cards import Text, case_card, staff_options, text
from workflow.lifecycle import OPEN, SYSTEM, Action, Actor, Status, apply, record
from workflow.policy import Duty, FollowUp, SlaConfig, SlaRule, Triage

RATINGS = ("满意", "基本满意", "不满意")
INBOX = "inbox"  # the web console's inbox of a department: a channel read, never sent


def sla_rule(sla: SlaConfig, *, appeal_type: str, category: str, disposition: str) -> SlaRule:
    """The rule of the appeal's type, else of its category, else of its disposition."""
    rule = sla.categories.get(appeal_type) or sla.categories.get(category)
    if rule is not None:
        return rule
    rules: dict[str, SlaRule] = {
        "consultation": sla.consultation,
        "immediate": sla.immediate,
        "referral": sla.referral,
    }
    return rules[disposition]


def set_deadlines(
    appeal: Appeal, *, sla: SlaConfig, calendar: WorkCalendar, start: dt.datetime
) -> None:
    rule = sla_rule(
        sla,
        appeal_type=appeal.appeal_type,
        category=appeal.category,
        disposition=appeal.disposition,
    )
    appeal.accept_due_at = calendar.deadline(start, rule.accept)
    appeal.finish_due_at = calendar.deadline(start, rule.finish)
    appeal.reply_due_at = calendar.deadline(start, rule.reply)


@dataclass(frozen=True)
class Due:
    """A timer to set: what it is for, when, and (for kinds that repeat) which attempt."""

    kind: str
    at: dt.datetime
    step: int = 0


def add_timers(session: Session, appeal: Appeal, dues: Sequence[Due], *, cause: str) -> None:
    """Timers caused by an event or another timer, in one statement; (cause, kind) is each
    one's idempotency key."""
    assert appeal.id is not None  # noqa: S101 - flushed before timers are written
    rows = [
        {
            "appeal_id": appeal.id,
            "kind": due.kind,
            "key": f"{cause}:{due.kind}",
            "step": due.step,
            "due_at": due.at,
            "done_at": None,
            "attempts": 0,
        }
        for due in dues
    ]
    if rows:
        session.execute(insert(Timer), rows)


def schedule_deadline_timers(
    session: Session,
    appeal: Appeal,
    follow_up: FollowUp,
    now: dt.datetime,
    *,
    cause: str,
    stages: Sequence[str] = ("accept", "finish"),
) -> None:
    """A reminder at `remind_at` of each stage's span, 督办 at its deadline, and escalation
    after the finish deadline."""
    dues = {"accept": appeal.accept_due_at, "finish": appeal.finish_due_at}
    timers: list[Due] = []
    for stage in stages:
        due = dues[stage]
        if due is None:
            continue
        remind = now + (due - now) * follow_up.remind_at
        timers += [Due(f"remind_{stage}", remind), Due(f"overdue_{stage}", due)]
        if stage == "finish":
            escalate = due + dt.timedelta(hours=follow_up.escalate_after_hours)
            timers.append(Due("escalate", escalate))
    add_timers(session, appeal, timers, cause=cause)


class Deadlined(Protocol):
    """What deadline_flag reads of an appeal (an Appeal, or a report's row of one)."""

    @property
    def status(self) -> str: ...
    @property
    def finish_due_at(self) -> dt.datetime | None: ...
    @property
    def created_at(self) -> dt.datetime: ...


def deadline_flag(appeal: Deadlined, now: dt.datetime, remind_at: float) -> str:
    """'red' for an open appeal past its finish deadline, 'yellow' past the reminder point."""
    if Status(appeal.status) not in OPEN:
        return ""
    return deadline_level(appeal.created_at, appeal.finish_due_at, now, remind_at)


def deadline_level(
    created_at: dt.datetime, due: dt.datetime | None, now: dt.datetime, remind_at: float
) -> str:
    """'red' past the finish deadline `due`, 'yellow' past the reminder point of the span
    from `created_at` to it, else '' (also with no deadline)."""
    if due is None:
        return ""
    if now > due:
        return "red"
    return "yellow" if now >= created_at + (due - created_at) * remind_at else ""


def outside_quiet_hours(
    moment: dt.datetime, follow_up: FollowUp, calendar: WorkCalendar
) -> dt.datetime:
    """The moment itself, or the end of the quiet hours it falls in (local time)."""
    local = moment.astimezone(calendar.zone)
    start, end = follow_up.quiet_start, follow_up.quiet_end
    clock = local.time()
    quiet = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not quiet:
        return moment
    day = local.date() if clock < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=calendar.zone).astimezone(dt.UTC)


def schedule_callback(
    session: Session,
    appeal: Appeal,
    follow_up: FollowUp,
    calendar: WorkCalendar,
    *,
    after: dt.datetime,
    step: int,
    cause: str,
) -> None:
    due = outside_quiet_hours(after, follow_up, calendar)
    add_timers(session, appeal, [Due("callback", due, step)], cause=cause)


def notify(
    session: Session,
    *,
    appeal: Appeal,
    to: Person | Department | None,
    message: str,
    params: dict[str, Any] | None = None,
    options: list[list[Any]] | None = None,
    cause: str,
) -> bool:
    """Queue a message about the appeal for a person or a department; False if it reaches
    nobody. A department nobody of which can be reached is noted in the ledger, and the
    center is told instead (see `send`).

    `cause` names what caused it (an event or a timer), so (cause, recipient) is unique and
    a cause that is handled again cannot send twice.
    """
    params = {"number": appeal.number, "category": appeal.category, **(params or {})}
    if send(
        session,
        to=to,
        message=message,
        params=params,
        options=options,
        cause=cause,
        appeal_id=appeal.id,
    ):
        return True
    if isinstance(to, Department):
        record(session, appeal, "unreached", SYSTEM, to.name)
        center = center_of(session)
        if center is not None and center.id != to.id:
            notice = {"key": message, **params}
            send(
                session,
                to=center,
                message="notify.unreached",
                params={**params, "department": to.name, "notice": notice},
                cause=f"{cause}:unreached",
                appeal_id=appeal.id,
            )
    return False


def send(
    session: Session,
    *,
    to: Person | Department | None,
    message: str,
    params: dict[str, Any],
    options: list[list[Any]] | None = None,
    cause: str,
    appeal_id: int | None = None,
) -> bool:
    """Queue a message for a person's chat or a department's; False if it reaches nobody.

    A department's messages are also kept in its inbox on the web console. One without a
    chat of its own (on WeChat, every one) is reached through each of its members who can
    be: their private chats, where the channel's sender picks the way (on WeChat the
    customer-service message within 48 hours, else the template). The inbox alone does not
    count as reaching it: nobody may be looking.
    """
    if to is None:
        return False
    fields: dict[str, Any] = {
        "message": message,
        "params": params,
        "options": options or [],
        "appeal_id": appeal_id,
    }
    channel: str | None
    if isinstance(to, Department):
        channel, chat_id, recipient = to.chat_channel, to.chat_id, inbox_of(to)
        key = f"{cause}:{recipient}:{INBOX}"  # delivered at once: the console reads it
        session.add(Outbox(key=key, channel=INBOX, chat_id=recipient, sent_at=utcnow(), **fields))
    else:
        channel, chat_id, recipient = to.channel, to.chat_id, f"p{to.id}"
    if channel is None or chat_id is None:
        if not isinstance(to, Department):
            return False
        # The one place that decides who stands for a department without a chat.
        reached = [
            send(
                session,
                to=member,
                message=message,
                params=params,
                options=options,
                cause=f"{cause}:{recipient}",
                appeal_id=appeal_id,
            )
            for member in members(session, to)
        ]
        return any(reached)
    session.add(Outbox(key=f"{cause}:{recipient}", channel=channel, chat_id=chat_id, **fields))
    return True


def inbox_of(department: Department) -> str:
    """The chat id of a department's inbox on the web console."""
    return f"d{department.id}"


def inbox(session: Session, actor: Actor, limit: int = 100) -> list[tuple[Outbox, str | None]]:
    """The latest messages to the department `actor` works in (the center's, for the center's
    dispatchers, leaders and admins), newest first, each with its case's number."""
    if actor.role is Role.STAFF:
        department = session.get(Department, actor.department_id or 0)
    elif actor.role in (Role.DISPATCHER, Role.LEADER, Role.ADMIN):
        department = center_of(session)
    else:
        return []
    if department is None:
        return []
    query = (
        select(Outbox, Appeal.number)
        .outerjoin(Appeal, col(Appeal.id) == col(Outbox.appeal_id))
        .where(Outbox.channel == INBOX, Outbox.chat_id == inbox_of(department))
        .order_by(col(Outbox.id).desc())
        .limit(limit)
    )
    return [(row, number) for row, number in session.exec(query)]


def members(session: Session, department: Department) -> list[Person]:
    """The department's bound people who can be messaged: its staff, and for the center its
    dispatchers."""
    if department.kind == "center":
        belongs = col(Person.role) == Role.DISPATCHER.value
    else:
        belongs = (col(Person.role) == Role.STAFF.value) & (
            col(Person.department_id) == department.id
        )
    query = (
        select(Person)
        .where(belongs, col(Person.chat_id).is_not(None), col(Person.unreachable).is_(False))
        .order_by(col(Person.id))
    )
    return list(session.exec(query))


def department_of(session: Session, appeal: Appeal) -> Department | None:
    return session.get(Department, appeal.department_id) if appeal.department_id else None


def announce(
    session: Session,
    appeal: Appeal,
    action: str,
    actor: Actor,
    note: str | None,
    *,
    to: Sequence[Person | Department | None],
    message: str,
    params: dict[str, Any] | None = None,
    options: list[list[Any]] | None = None,
) -> AppealEvent:
    """Record an event that changes no status and tell `to` about it."""
    event = record(session, appeal, action, actor, note)
    session.flush()
    for recipient in to:
        notify(
            session,
            appeal=appeal,
            to=recipient,
            message=message,
            params=params,
            options=options,
            cause=f"e{event.id}",
        )
    return event


def center_of(session: Session) -> Department | None:
    return session.exec(select(Department).where(Department.kind == "center")).first()


def leaders(session: Session) -> list[Person]:
    return list(session.exec(select(Person).where(Person.role == Role.LEADER.value)))


def rating_options(appeal: Appeal) -> list[list[str]]:
    return [[label, f"rate:{appeal.number}:{label}"] for label in RATINGS]


@dataclass(frozen=True)
class Policy:
    """The center's rules a transition needs: deadlines, calendar, follow-ups, limits."""

    sla: SlaConfig
    calendar: WorkCalendar
    follow_up: FollowUp
    appeals_per_day: int
    duty: Duty
    triage: Triage
    # The message catalog's `t` (messages/catalog.py), for the ledger notes workflow writes:
    # given by the composition root, as workflow/ never imports handlers/.
    catalog: Callable[..., str]


def transition(
    session: Session,
    appeal: Appeal,
    action: Action,
    actor: Actor,
    note: str | None = None,
    *,
    policy: Policy,
    tell_resident: bool = True,
) -> AppealEvent:
    """Apply a lifecycle transition and write the timers and notifications it causes."""
    event = apply(session, appeal, action, actor, note)
    session.flush()  # the event's id names the cause of the timers and notifications below
    cause = f"e{event.id}"
    now = utcnow()
    # Nobody is told of their own step or asked to rate their own work: a grid worker's
    # on-the-spot report that names no resident has the worker as its resident.
    own = actor.person_id == appeal.resident_id
    if action is Action.REOPEN:
        set_deadlines(appeal, sla=policy.sla, calendar=policy.calendar, start=now)
    if action in (Action.DISPATCH, Action.ASSIGN, Action.REOPEN):
        schedule_deadline_timers(session, appeal, policy.follow_up, now, cause=cause)
    if action is Action.RESOLVE:
        if not _rated_by_a_resident(session, appeal):
            # A grid worker's own patrol report: nobody to call back, done with the result.
            apply(session, appeal, Action.CLOSE, SYSTEM, policy.catalog("note.no_callback"))
        else:
            after = now + dt.timedelta(hours=policy.follow_up.callback_delay_hours)
            schedule_callback(
                session,
                appeal,
                policy.follow_up,
                policy.calendar,
                after=after,
                step=1,
                cause=cause,
            )
    _tell_department(session, appeal, action, event, policy)
    if tell_resident and not own:
        _tell_resident(session, appeal, action, event, note)
    return event


def _rated_by_a_resident(session: Session, appeal: Appeal) -> bool:
    """Satisfaction is asked of the public: not of staff or a grid worker filing for nobody."""
    person = session.get(Person, appeal.resident_id)
    return person is not None and person.role == Role.RESIDENT.value


def department_card(
    session: Session, appeal: Appeal, policy: Policy, headline: Text
) -> tuple[dict[str, Any], list[list[Any]]]:
    """The card a department receives, with its 签收/退回/申请延期/办结 buttons."""
    params = case_card(
        session, appeal, policy.calendar, duplicate_days=policy.triage.duplicate_days
    )
    return {**params, "headline": headline}, staff_options(appeal)


def _tell_department(
    session: Session, appeal: Appeal, action: Action, event: AppealEvent, policy: Policy
) -> None:
    headlines = {
        Action.DISPATCH: text("card.headline.new"),
        Action.REOPEN: text("card.headline.reopened", reason=event.note),
    }
    if action not in headlines or appeal.department_id is None:
        return
    department = session.get(Department, appeal.department_id)
    params, options = department_card(session, appeal, policy, headlines[action])
    notify(
        session,
        appeal=appeal,
        to=department,
        message="card.department",
        params=params,
        options=options,
        cause=f"e{event.id}",
    )


RESIDENT_MESSAGES = {
    Action.DISPATCH: "notify.dispatched",
    Action.SIGN: "notify.signed",
    Action.RESOLVE: "notify.resolved",
    Action.MERGE: "notify.merged",
    Action.REOPEN: "notify.reopened",
}


def _tell_resident(
    session: Session, appeal: Appeal, action: Action, event: AppealEvent, note: str | None
) -> None:
    """The resident, and whoever follows the case, hear of what matters to them."""
    message = RESIDENT_MESSAGES.get(action)
    if message is None:
        return
    department = department_of(session, appeal)
    params = {"note": note or "", "department": department.name if department else ""}
    followers = session.exec(select(Follower.person_id).where(Follower.appeal_id == appeal.id))
    for person_id in [appeal.resident_id, *followers]:
        person = session.get(Person, person_id)
        notify(
            session, appeal=appeal, to=person, message=message, params=params, cause=f"e{event.id}"
        )
