"""The appeal state machine: every allowed transition, who may make it, and the ledger event.

Nothing changes an appeal's status except `apply`. Each call appends one immutable
AppealEvent, so the event list is the case's ledger (台账) and audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session

from messages.about import concerning
from storage.models import Appeal, AppealEvent, Person
from storage.roles import Role
from storage.types import utcnow


class Status(StrEnum):
    SUBMITTED = "submitted"  # received, awaiting routing or triage (人工研判)
    ANSWERED = "answered"  # consultation answered on the spot
    ASSIGNED = "assigned"  # immediate handling by the center (即办)
    DISPATCHED = "dispatched"  # referred to a department (流转)
    SIGNED = "signed"  # the department signed for it (签收)
    RETURNED = "returned"  # the department sent it back to the dispatcher (退回)
    RESOLVED = "resolved"  # handled and replied (办结)
    RATED = "rated"  # the resident rated it
    CLOSED = "closed"  # no rating came (未评价)
    REOPENED = "reopened"  # dissatisfied: back to the same department (重办)
    WITHDRAWN = "withdrawn"  # the resident withdrew it (撤回)
    MERGED = "merged"  # a duplicate merged into an earlier case
    ARCHIVED = "archived"  # filed in the ledger (归档)


class Action(StrEnum):
    ANSWER = "answer"
    ASSIGN = "assign"
    DISPATCH = "dispatch"
    SIGN = "sign"
    RETURN = "return"
    RESOLVE = "resolve"
    RATE = "rate"
    CLOSE = "close"
    REOPEN = "reopen"
    WITHDRAW = "withdraw"
    MERGE = "merge"
    ARCHIVE = "archive"


S = Status
R = Role
OPEN = frozenset({S.SUBMITTED, S.ASSIGNED, S.DISPATCHED, S.SIGNED, S.RETURNED, S.REOPENED})
FINISHED = frozenset({S.ANSWERED, S.RESOLVED, S.RATED, S.CLOSED, S.ARCHIVED})  # 已办结
CENTER = frozenset({R.SYSTEM, R.DISPATCHER, R.ADMIN})
HANDLERS = frozenset({R.STAFF, R.DISPATCHER, R.ADMIN})


@dataclass(frozen=True)
class Transition:
    sources: frozenset[Status]
    target: Status
    roles: frozenset[Role]
    needs_note: bool = False


TRANSITIONS: dict[Action, Transition] = {
    Action.ANSWER: Transition(frozenset({S.SUBMITTED}), S.ANSWERED, CENTER),
    Action.ASSIGN: Transition(frozenset({S.SUBMITTED, S.RETURNED}), S.ASSIGNED, CENTER),
    Action.DISPATCH: Transition(
        frozenset({S.SUBMITTED, S.RETURNED, S.ASSIGNED}), S.DISPATCHED, CENTER
    ),
    Action.SIGN: Transition(frozenset({S.DISPATCHED, S.ASSIGNED, S.REOPENED}), S.SIGNED, HANDLERS),
    Action.RETURN: Transition(
        frozenset({S.DISPATCHED, S.SIGNED, S.REOPENED}), S.RETURNED, frozenset({R.STAFF}), True
    ),
    Action.RESOLVE: Transition(
        frozenset({S.SIGNED, S.ASSIGNED}), S.RESOLVED, HANDLERS | {R.GRID_WORKER}, True
    ),
    Action.RATE: Transition(frozenset({S.RESOLVED}), S.RATED, frozenset({R.RESIDENT})),
    Action.CLOSE: Transition(frozenset({S.RESOLVED}), S.CLOSED, CENTER),
    Action.REOPEN: Transition(
        frozenset({S.RESOLVED, S.RATED, S.CLOSED}),
        S.REOPENED,
        frozenset({R.RESIDENT, R.DISPATCHER, R.LEADER, R.SYSTEM}),
        True,
    ),
    Action.WITHDRAW: Transition(OPEN, S.WITHDRAWN, frozenset({R.RESIDENT}), True),
    Action.MERGE: Transition(OPEN, S.MERGED, frozenset({R.DISPATCHER, R.ADMIN}), True),
    Action.ARCHIVE: Transition(
        frozenset({S.ANSWERED, S.RATED, S.CLOSED, S.WITHDRAWN, S.MERGED}), S.ARCHIVED, CENTER
    ),
}


class LifecycleError(Exception):
    """A transition that is not allowed: wrong state, wrong role, or missing note."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Actor:
    """Who acts: a person (with role and department) or the system itself."""

    role: Role
    person_id: int | None = None
    department_id: int | None = None
    # A department's staff on the duty roster of a day off (诉求直通车): they also see the 即办
    # cases the center handles itself, whose cards they are sent (see workflow.duty).
    on_duty: bool = False

    @classmethod
    def of(cls, person: Person) -> Actor:
        return cls(Role(person.role), person.id, person.department_id)


SYSTEM = Actor(Role.SYSTEM)


def _check_actor(appeal: Appeal, action: Action, actor: Actor) -> None:
    transition = TRANSITIONS[action]
    if actor.role not in transition.roles:
        raise LifecycleError("forbidden", f"{actor.role} may not {action}")
    if actor.role == Role.RESIDENT and actor.person_id != appeal.resident_id:
        raise LifecycleError("forbidden", "a resident may act only on their own appeal")
    if actor.role == Role.STAFF and actor.department_id != appeal.department_id:
        raise LifecycleError("forbidden", "staff may act only on their department's appeals")
    if actor.role == Role.GRID_WORKER and actor.person_id != appeal.reporter_id:
        raise LifecycleError("forbidden", "a grid worker may act only on their own reports")


def check(appeal: Appeal, action: Action, actor: Actor) -> None:
    """Raise LifecycleError unless `actor` may `action` the appeal in its current status."""
    current = Status(appeal.status)
    if current not in TRANSITIONS[action].sources:
        raise LifecycleError("state", f"cannot {action} an appeal that is {current}")
    _check_actor(appeal, action, actor)


def allowed(appeal: Appeal, action: Action, actor: Actor) -> bool:
    try:
        check(appeal, action, actor)
    except LifecycleError:
        return False
    return True


def apply(
    session: Session, appeal: Appeal, action: Action, actor: Actor, note: str | None = None
) -> AppealEvent:
    """Move the appeal along one declared transition and append its ledger event."""
    transition = TRANSITIONS[action]
    current = Status(appeal.status)
    check(appeal, action, actor)
    if transition.needs_note and not (note and note.strip()):
        raise LifecycleError("note", f"{action} needs a reason or result")
    if action is Action.REOPEN:
        appeal.reopen_count += 1
    appeal.status = transition.target.value
    appeal.updated_at = utcnow()
    session.add(appeal)
    return record(session, appeal, action.value, actor, note, from_status=current)


def record(
    session: Session,
    appeal: Appeal,
    action: str,
    actor: Actor,
    note: str | None = None,
    *,
    from_status: Status | None = None,
) -> AppealEvent:
    """Append a ledger event; without from_status it notes something that changes no status."""
    assert appeal.id is not None  # noqa: S101 - appeals are flushed before events
    concerning(appeal.number)
    event = AppealEvent(
        appeal_id=appeal.id,
        actor_id=actor.person_id,
        actor_role=actor.role.value,
        action=action,
        from_status=(from_status or Status(appeal.status)).value,
        to_status=appeal.status,
        note=note,
    )
    session.add(event)
    return event
