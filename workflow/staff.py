"""What staff, dispatchers and admins do: invites and bindings, and acting on cases.

Every operation checks the actor's role and department here (or in the lifecycle), never
trusting what a button said; a refusal raises LifecycleError and changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from storage.models import Appeal, Department, Invite, Person
from storage.roles import Role
from storage.types import utcnow
from workflow.cards import Text, buttons, staff_options, text
from workflow.followup import (
    Policy,
    announce,
    center_of,
    department_card,
    department_of,
    leaders,
    notify,
    schedule_deadline_timers,
    transition,
)
from workflow.lifecycle import OPEN, Action, Actor, LifecycleError, Status, check, record
from workflow.policy import Span

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CENTER_ROLES = frozenset({Role.DISPATCHER, Role.ADMIN})
SUPERVISORS = CENTER_ROLES | {Role.LEADER}  # see every open case and may send 督办
PHONE_READERS = SUPERVISORS  # may read a resident's full phone (each reading is recorded)
# A department holds the case in these states, so a 督办 has someone to reach.
SUPERVISABLE = frozenset({Status.DISPATCHED, Status.SIGNED, Status.REOPENED})
MAX_EXTENSION_DAYS = 30
TRIAGE_ACTIONS = ("route_other", "urgent", "merge")  # beside the suggested departments
DECISIONS = ("ext_ok", "ext_no")  # the dispatcher's buttons on an extension request


@dataclass(frozen=True)
class Binding:
    role: Role
    department: str | None
    grid: str | None


def _department(session: Session, name: str) -> Department:
    department = session.exec(select(Department).where(Department.name == name)).first()
    if department is None:
        known = "、".join(session.exec(select(Department.name).order_by(Department.name)))
        raise LifecycleError("unknown", f"no department named {name!r}; the departments: {known}")
    return department


def create_invite(
    session: Session, *, role: Role, department: str | None = None, grid: str | None = None
) -> str:
    if role in (Role.RESIDENT, Role.SYSTEM):
        raise LifecycleError("role", f"no invites for {role}")
    if role is Role.STAFF and department is None:
        raise LifecycleError("department", "staff invites need a department")
    if role is Role.GRID_WORKER and grid is None:
        raise LifecycleError("grid", "grid worker invites need a grid")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    department_id = _department(session, department).id if department else None
    session.add(Invite(code=code, role=role.value, department_id=department_id, grid=grid))
    return code


def invites(session: Session) -> list[Invite]:
    return list(session.exec(select(Invite).order_by(col(Invite.id))))


def revoke(session: Session, *, code: str) -> bool:
    invite = session.exec(select(Invite).where(Invite.code == code)).first()
    if invite is None or invite.used_at is not None:
        return False
    invite.revoked = True
    session.add(invite)
    return True


def _redeem(session: Session, code: str, used_by: str) -> Invite:
    invite = session.exec(select(Invite).where(Invite.code == code.strip().upper())).first()
    if invite is None or invite.revoked or invite.used_at is not None:
        raise LifecycleError("invite", "unknown, used or revoked code")
    invite.used_at, invite.used_by = utcnow(), used_by
    session.add(invite)
    return invite


def join(session: Session, *, person: Person, code: str, name: str | None = None) -> Binding:
    """Bind a person (in a private chat) to the invite's role, department and grid."""
    invite = _redeem(session, code, f"{person.channel}:{person.external_id}")
    person.role, person.department_id, person.grid = invite.role, invite.department_id, invite.grid
    person.name = name or person.name
    session.add(person)
    department = session.get(Department, invite.department_id) if invite.department_id else None
    return Binding(Role(invite.role), department.name if department else None, invite.grid)


def bind_group(session: Session, *, channel: str, chat_id: str, code: str) -> Department:
    """Make a group chat the department's (or, for a dispatcher code, the center's) chat."""
    invite = _redeem(session, code, f"{channel}:{chat_id}")
    if invite.department_id is not None:
        department = session.get(Department, invite.department_id)
    elif invite.role in (Role.DISPATCHER, Role.ADMIN):
        department = center_of(session)
    else:
        department = None
    if department is None:
        raise LifecycleError("invite", "this code is not for a department's group")
    department.chat_channel, department.chat_id = channel, chat_id
    session.add(department)
    return department


def case(session: Session, number: str) -> Appeal:
    appeal = session.exec(select(Appeal).where(Appeal.number == number)).first()
    if appeal is None:
        raise LifecycleError("unknown", f"no case {number}")
    return appeal


def center_only(actor: Actor) -> None:
    """Refuse anyone but the center's dispatchers (and admins)."""
    if actor.role not in CENTER_ROLES:
        raise LifecycleError("center_only", "only the center's dispatchers may do this")


def _own_department(appeal: Appeal, actor: Actor) -> None:
    if actor.role in CENTER_ROLES:
        return
    if actor.role is not Role.STAFF or actor.department_id != appeal.department_id:
        raise LifecycleError("forbidden", "only the case's department may do this")


def tell_center(
    session: Session, appeal: Appeal, policy: Policy, headline: Text, cause: str
) -> None:
    """Send the case to the dispatcher's chat with the suggested departments as buttons."""
    params, _ = department_card(session, appeal, policy, headline)
    options = triage_options(session, appeal)
    notify(
        session,
        appeal=appeal,
        to=center_of(session),
        message="card.triage",
        params=params,
        options=options,
        cause=cause,
    )


def triage_options(session: Session, appeal: Appeal) -> list[list[Any]]:
    """The dispatcher's buttons on a case to route: the suggested departments, then
    another department, 标记紧急 and 合并."""
    options: list[list[Any]] = [
        [name, f"route:{appeal.number}:{name}"] for name in suggested(session, appeal)
    ]
    return options + buttons(appeal, TRIAGE_ACTIONS)


def card_options(session: Session, appeal: Appeal, actor: Actor) -> list[list[Any]]:
    """The buttons a person may press on an open case: the department's 签收/退回/延期/办结,
    the center's routing while it waits for a department, and 督办 for supervisors."""
    options: list[list[Any]] = []
    status = Status(appeal.status)
    routing = status in (Status.SUBMITTED, Status.RETURNED)  # no department holds it
    center = actor.role in CENTER_ROLES
    if actor.role is Role.STAFF or (center and not routing):
        options += staff_options(appeal)
    if center and routing:
        options += triage_options(session, appeal)
    if actor.role in SUPERVISORS and status in SUPERVISABLE:
        options += buttons(appeal, ["supervise"])
    return options


def suggested(session: Session, appeal: Appeal) -> list[str]:
    """The departments the classifier's candidates point to (not the one that sent it back)."""
    return [name for name in appeal.suggestions if name and name != _name(session, appeal)][:3]


def _name(session: Session, appeal: Appeal) -> str | None:
    department = department_of(session, appeal)
    return department.name if department else None


def department_names(session: Session) -> list[str]:
    query = select(Department.name).where(Department.kind != "center").order_by(col(Department.id))
    return list(session.exec(query))


def sign(session: Session, *, appeal: Appeal, actor: Actor, policy: Policy) -> None:
    transition(session, appeal, Action.SIGN, actor, policy=policy)


def send_back(
    session: Session, *, appeal: Appeal, actor: Actor, reason: str, policy: Policy
) -> None:
    """退回: the department refuses the case; it goes to the dispatcher with the reason."""
    event = transition(session, appeal, Action.RETURN, actor, reason, policy=policy)
    tell_center(
        session, appeal, policy, text("card.headline.returned", reason=reason), f"e{event.id}"
    )


def resolve(
    session: Session, *, appeal: Appeal, actor: Actor, result: str, policy: Policy
) -> None:
    transition(session, appeal, Action.RESOLVE, actor, result, policy=policy)


def request_extension(
    session: Session, *, appeal: Appeal, actor: Actor, days: int, reason: str, note: str
) -> None:
    """The department asks for `days` more working days; `note` is the ledger's line."""
    _own_department(appeal, actor)
    if Status(appeal.status) not in OPEN:
        raise LifecycleError("state", "only an open case can be extended")
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise LifecycleError("days", f"1 to {MAX_EXTENSION_DAYS} working days")
    appeal.extension_days = days
    session.add(appeal)
    announce(
        session,
        appeal,
        "extension_request",
        actor,
        note,
        to=[center_of(session)],
        message="notify.extension_request",
        params={"days": days, "reason": reason},
        options=buttons(appeal, DECISIONS),
    )


def decide_extension(
    session: Session, *, appeal: Appeal, actor: Actor, approve: bool, policy: Policy
) -> int:
    """The dispatcher approves or refuses a pending extension; returns the days asked."""
    center_only(actor)
    days = appeal.extension_days
    if days is None:
        raise LifecycleError("state", "no extension is pending")
    appeal.extension_days = None
    if approve and appeal.finish_due_at is not None:
        span = Span(working_days=days)
        appeal.finish_due_at = policy.calendar.extend(appeal.finish_due_at, span)
        if appeal.reply_due_at is not None:
            appeal.reply_due_at = policy.calendar.extend(appeal.reply_due_at, span)
    session.add(appeal)
    action = "extension_approved" if approve else "extension_refused"
    event = announce(
        session,
        appeal,
        action,
        actor,
        None,  # the request's ledger line says how many days
        to=[department_of(session, appeal)],
        message=f"notify.{action}",
        params={"days": days},
    )
    if approve:  # reminder, 督办 and escalation for the new deadline
        schedule_deadline_timers(
            session, appeal, policy.follow_up, utcnow(), cause=f"e{event.id}", stages=("finish",)
        )
    return days


def route(
    session: Session, *, appeal: Appeal, actor: Actor, department: str, policy: Policy
) -> None:
    """The dispatcher sends a triaged or returned case to a department."""
    center_only(actor)
    check(appeal, Action.DISPATCH, actor)  # before anything changes: a refusal changes nothing
    target = _department(session, department)
    appeal.department_id = target.id
    appeal.needs_triage = False
    if appeal.disposition != "referral":
        appeal.disposition = "referral"
    transition(session, appeal, Action.DISPATCH, actor, target.name, policy=policy)


def mark_urgent(session: Session, *, appeal: Appeal, actor: Actor, note: str) -> None:
    """The dispatcher alerts the leaders; `note` is the ledger's line."""
    center_only(actor)
    if Status(appeal.status) not in OPEN:
        raise LifecycleError("state", "only an open case can be marked urgent")
    if appeal.urgency == "normal":
        appeal.urgency = "urgent"
        session.add(appeal)
    announce(
        session,
        appeal,
        "urgent",
        actor,
        note,
        to=leaders(session),
        message="notify.urgent",
        params={"text": appeal.text[:100]},
    )


def merge(session: Session, *, appeal: Appeal, into: Appeal, actor: Actor, policy: Policy) -> None:
    """A duplicate joins an earlier case; its resident is told which."""
    check(appeal, Action.MERGE, actor)  # before anything changes: a refusal changes nothing
    if into.id == appeal.id or into.merged_into_id is not None:
        raise LifecycleError("merge", "merge into another, unmerged case")
    appeal.merged_into_id = into.id
    transition(session, appeal, Action.MERGE, actor, into.number, policy=policy)


def supervise(session: Session, *, appeal: Appeal, actor: Actor, note: str) -> None:
    """督办: a reminder from the dispatcher (or a leader) to the department; `note` is the
    ledger's line."""
    if actor.role not in SUPERVISORS:
        raise LifecycleError("supervise", "only dispatchers and leaders may supervise")
    if appeal.status not in SUPERVISABLE:
        raise LifecycleError("state", "no department holds the case")
    announce(
        session,
        appeal,
        "supervise",
        actor,
        note,
        to=[department_of(session, appeal)],
        message="notify.supervise",
    )


def reveal_phone(session: Session, *, appeal: Appeal, actor: Actor) -> str | None:
    """The resident's full phone, for the center's people only; each reading is written to
    the ledger with who and when (个人信息保护法: a record of access to personal data)."""
    if actor.role not in PHONE_READERS:
        raise LifecycleError("phone", "only the center's people may read a full phone")
    record(session, appeal, "phone_viewed", actor)
    return appeal.phone


def triage_queue(session: Session, *, actor: Actor) -> list[Appeal]:
    """人工研判: the open cases waiting for a dispatcher (classified with low confidence, not
    routed yet, or sent back by a department), oldest first."""
    center_only(actor)
    waiting = [Status.SUBMITTED.value, Status.RETURNED.value]
    query = select(Appeal).where(
        col(Appeal.status).in_([s.value for s in OPEN]),
        or_(col(Appeal.needs_triage), col(Appeal.status).in_(waiting)),
    )
    return list(session.exec(query.order_by(col(Appeal.created_at), col(Appeal.id))))


def open_cases(session: Session, *, actor: Actor, on_duty: bool = False) -> list[Appeal]:
    """/todo: the department's open cases (all open ones for the center), by deadline; staff
    on the duty roster of a day off also get the 即办 cases the center handles itself."""
    query = select(Appeal).where(col(Appeal.status).in_([s.value for s in OPEN]))
    if actor.role is Role.STAFF:
        held = col(Appeal.department_id) == actor.department_id
        if on_duty:
            center_handles = and_(
                col(Appeal.department_id).is_(None), col(Appeal.status) != Status.SUBMITTED.value
            )
            held = or_(held, center_handles)
        query = query.where(held)
    elif actor.role not in SUPERVISORS:
        raise LifecycleError("forbidden", "residents have no to-do list")
    return list(session.exec(query.order_by(col(Appeal.finish_due_at), col(Appeal.id))))
