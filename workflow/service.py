"""What residents do with appeals: submit, list, read the timeline, supplement, withdraw.

Functions take the caller's session so that a dialog turn (conversation state + appeal) is
one transaction. Every status change goes through workflow.lifecycle.
"""

from __future__ import annotations

import datetime as dt
import hmac
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import ColumnElement, bindparam, or_
from sqlmodel import Session, col, func, select

from nlp.rules import is_confidential
from nlp.types import AppealType, Classification, Disposition, Urgency
from storage.files import StoredFile
from storage.models import Appeal, AppealEvent, Attachment, Department, Follower, Person
from storage.types import utcnow
from workflow.cards import text
from workflow.duplicates import Duplicate, Probe, likely_duplicates
from workflow.duty import alert
from workflow.followup import Policy, set_deadlines, transition
from workflow.lifecycle import OPEN, SYSTEM, Action, Actor, LifecycleError, Status, apply, record
from workflow.numbering import next_number
from workflow.staff import tell_center


class Classifier(Protocol):
    @property
    def types(self) -> Sequence[AppealType]: ...

    def classify(self, text: str, *, grid: str | None = None) -> Classification: ...

    def department(self, spec: AppealType, *, grid: str | None, text: str = "") -> str: ...

    def township(self, *, grid: str | None, text: str) -> str | None: ...


@dataclass
class Draft:
    """What the resident has told us so far; kept in the conversation between turns."""

    text: str = ""
    photos: list[StoredFile] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    phone: str | None = None
    grid: str | None = None
    resident_name: str | None = None  # a grid worker's report on behalf of a resident
    confidential: bool = False  # the resident chose 保密: never named to the department
    answer_declined: bool = False  # the FAQ's answer did not help: staff must take it


@dataclass(frozen=True)
class OnSpot:
    """A grid worker's 已现场处置: what was done, and photos of the result."""

    result: str
    photos: list[StoredFile]


@dataclass(frozen=True)
class Submitted:
    appeal: Appeal
    classification: Classification
    department: str | None
    reply_due_at: dt.datetime | None


class DailyLimitReached(Exception):
    pass


# The statements of every turn or appeal are built once: constructing one on each call cost
# more than running it.
_PERSON_BY_KEY = select(Person).where(
    Person.channel == bindparam("channel"), Person.external_id == bindparam("external_id")
)
_DEPARTMENT_BY_NAME = select(Department).where(Department.name == bindparam("name"))
_SUBMITTED_SINCE = select(func.count()).where(
    Appeal.resident_id == bindparam("resident"), col(Appeal.created_at) >= bindparam("since")
)


def person_for(
    session: Session, *, channel: str, external_id: str, chat_id: str | None = None
) -> Person:
    person = session.exec(
        _PERSON_BY_KEY, params={"channel": channel, "external_id": external_id}
    ).first()
    if person is None:
        person = Person(channel=channel, external_id=external_id, chat_id=chat_id)
        session.add(person)
        session.flush()
        return person
    if person.unreachable or (chat_id is not None and person.chat_id != chat_id):
        # Writing to us again means we can reach them again (e.g. they unblocked the bot).
        person.unreachable = False
        person.chat_id = chat_id or person.chat_id
        session.add(person)
    return person


def set_reachable(session: Session, *, channel: str, chat_id: str, reachable: bool) -> int:
    """Whether messages reach the people of a chat on a channel (the person it is, or whose
    private chat it is): a blocked bot or an unsubscribed account makes them unreachable (to
    be phoned), following again reachable. How many person rows that concerned."""
    people = session.exec(
        select(Person).where(
            Person.channel == channel,
            or_(col(Person.external_id) == chat_id, col(Person.chat_id) == chat_id),
        )
    ).all()
    for person in people:
        person.unreachable = not reachable
        session.add(person)
    return len(people)


def ensure_departments(session: Session, departments: Sequence[tuple[str, str]]) -> None:
    """Create the configured departments (name, kind) that the database does not have yet."""
    known = {d.name: d for d in session.exec(select(Department))}
    for name, kind in departments:
        department = known.get(name) or Department(name=name)
        department.kind = kind
        session.add(department)


def department_named(session: Session, name: str) -> Department:
    department = session.exec(_DEPARTMENT_BY_NAME, params={"name": name}).first()
    if department is None:
        department = Department(name=name)
        session.add(department)
        session.flush()
    return department


def daily_limit_reached(session: Session, resident: Person, policy: Policy) -> bool:
    """The resident has filed `policy.appeals_per_day` appeals today (the center's day)."""
    today = policy.calendar.local_day(utcnow())
    since = dt.datetime.combine(today, dt.time(), tzinfo=policy.calendar.zone)
    params = {"resident": resident.id, "since": since}
    return int(session.exec(_SUBMITTED_SINCE, params=params).one()) >= policy.appeals_per_day


def _departments(classifier: Classifier, result: Classification, draft: Draft) -> list[str]:
    """The departments of the classifier's candidate types, best first (a township only
    where it is known)."""
    by_name = {spec.name: spec for spec in classifier.types}
    names: list[str] = []
    for name, _ in result.candidates:
        spec = by_name.get(name)
        local = spec is not None and "{township}" in spec.department
        if spec is None or (local and not classifier.township(grid=draft.grid, text=draft.text)):
            continue
        department = classifier.department(spec, grid=draft.grid, text=draft.text)
        if department not in names:
            names.append(department)
    return names


def _route(
    session: Session, appeal: Appeal, result: Classification, policy: Policy, *, answer: bool
) -> Department | None:
    """Answer (where `answer` allows), assign or dispatch a new appeal; low confidence waits
    for the dispatcher."""
    if answer and result.disposition is Disposition.CONSULTATION and result.faq_answer:
        transition(session, appeal, Action.ANSWER, SYSTEM, result.faq_answer, policy=policy)
        return None
    if result.needs_triage:
        event = record(session, appeal, "triage", SYSTEM, policy.catalog("note.triage"))
        session.flush()
        tell_center(session, appeal, policy, text("card.headline.triage"), f"e{event.id}")
        return None
    if result.disposition is not Disposition.REFERRAL:
        transition(session, appeal, Action.ASSIGN, SYSTEM, policy=policy)
        return None
    department = department_named(session, result.department)
    appeal.department_id = department.id
    # The resident learns where it went from the answer to their confirmation.
    transition(
        session,
        appeal,
        Action.DISPATCH,
        SYSTEM,
        department.name,
        policy=policy,
        tell_resident=False,
    )
    return department


def submit(
    session: Session,
    *,
    resident: Person,
    channel: str,
    draft: Draft,
    classifier: Classifier,
    policy: Policy,
    reporter: Person | None = None,
    on_spot: OnSpot | None = None,
) -> Submitted:
    """File an appeal; a grid worker's (`reporter`) may already be handled on the spot."""
    now = utcnow()
    today = policy.calendar.local_day(now)
    result = classifier.classify(draft.text, grid=draft.grid)
    # Nobody in danger is turned away by the daily limit.
    if result.urgency is not Urgency.LIFE and daily_limit_reached(session, resident, policy):
        raise DailyLimitReached
    assert resident.id is not None  # noqa: S101 - persons are flushed on first contact
    appeal = Appeal(
        number=next_number(session, today),
        status=Status.SUBMITTED.value,
        channel=channel,
        resident_id=resident.id,
        reporter_id=reporter.id if reporter else None,
        text=draft.text,
        appeal_type=result.type,
        category=result.category,
        # Handled on the spot is handled at once (即办), whatever the classifier thought.
        disposition=(Disposition.IMMEDIATE if on_spot else result.disposition).value,
        urgency=result.urgency.value,
        confidence=result.confidence,
        keywords=list(result.keywords),
        needs_triage=result.needs_triage,
        suggestions=_departments(classifier, result, draft),
        whistleblowing=draft.confidential or is_confidential(draft.text),
        address=draft.address,
        latitude=draft.latitude,
        longitude=draft.longitude,
        phone=draft.phone,
        grid=draft.grid,
        created_at=now,
        updated_at=now,
    )
    set_deadlines(appeal, sla=policy.sla, calendar=policy.calendar, start=now)
    session.add(appeal)
    session.flush()
    submitter = Actor.of(reporter) if reporter else Actor.of(resident)
    record(session, appeal, "submit", submitter)
    for photo in draft.photos:
        attach(session, appeal, photo)
    if draft.phone and resident.phone != draft.phone:
        resident.phone = draft.phone
        session.add(resident)
    if on_spot is not None:
        assert reporter is not None  # noqa: S101 - only a grid worker handles on the spot
        for photo in on_spot.photos:
            attach(session, appeal, photo, kind="result")
        # Assigned and resolved in one moment: `apply` sets no deadline timers that could
        # never matter.
        apply(session, appeal, Action.ASSIGN, SYSTEM)
        transition(
            session, appeal, Action.RESOLVE, Actor.of(reporter), on_spot.result, policy=policy
        )
        department = None
    else:
        department = _route(session, appeal, result, policy, answer=not draft.answer_declined)
    if on_spot is None:  # handled on the spot already: no alarm to raise
        alert(session, appeal, policy, now=now, cause=f"submit{appeal.id}")
    reply_due = None if appeal.status == Status.ANSWERED else appeal.reply_due_at
    return Submitted(appeal, result, department.name if department else None, reply_due)


def attach(session: Session, appeal: Appeal, photo: StoredFile, *, kind: str = "photo") -> None:
    """Keep a photo with the case: of the problem ("photo") or of the result ("result")."""
    assert appeal.id is not None  # noqa: S101 - flushed by the caller
    session.add(
        Attachment(
            appeal_id=appeal.id,
            kind=kind,
            path=photo.path,
            sha256=photo.sha256,
            size=photo.size,
            mime=photo.mime,
        )
    )


def resident_for_report(session: Session, *, reporter: Person, draft: Draft) -> Person:
    """Whom a grid worker's report concerns: the resident known by phone, or themselves."""
    if not draft.phone:
        return reporter
    resident = person_for(session, channel="phone", external_id=draft.phone)
    resident.phone = draft.phone
    resident.name = draft.resident_name or resident.name
    session.add(resident)
    return resident


def similar_open(
    session: Session, *, draft: Draft, classifier: Classifier, resident: Person, days: int
) -> list[Duplicate]:
    """Open cases that look like the problem being filed (same resident, or nearby)."""
    result = classifier.classify(draft.text, grid=draft.grid)
    probe = Probe(
        resident_id=resident.id,
        keywords=list(result.keywords),
        latitude=draft.latitude,
        longitude=draft.longitude,
        address=draft.address,
        grid=draft.grid,
        text=draft.text,
    )
    found = likely_duplicates(session, probe, now=utcnow(), days=days)
    return [appeal for appeal in found if Status(appeal.status) in OPEN]


def follow(session: Session, *, resident: Person, appeal: Appeal, note: str) -> None:
    """Follow an existing case instead of filing the same problem again (`note`: the
    ledger's)."""
    assert resident.id is not None and appeal.id is not None  # noqa: S101 - stored rows
    if session.get(Follower, (appeal.id, resident.id)) is None:
        session.add(Follower(appeal_id=appeal.id, person_id=resident.id))
        record(session, appeal, "follow", Actor.of(resident), note)


def _followed_or_own(resident: Person) -> ColumnElement[bool]:
    followed = select(Follower.appeal_id).where(Follower.person_id == resident.id)
    return or_(col(Appeal.resident_id) == resident.id, col(Appeal.id).in_(followed))


def appeals_of(
    session: Session, *, resident: Person, offset: int, limit: int
) -> tuple[list[Appeal], int]:
    """A page of the resident's appeals and of those they follow, newest first; and how many
    there are in all."""
    mine = _followed_or_own(resident)
    query = (
        select(Appeal)
        .where(mine)
        .order_by(col(Appeal.created_at).desc(), col(Appeal.id).desc())
        .offset(offset)
        .limit(limit)
    )
    total = session.exec(select(func.count()).select_from(Appeal).where(mine)).one()
    return list(session.exec(query)), int(total)


def rating_asked(
    session: Session, *, resident: Person, since: dt.datetime | None
) -> Appeal | None:
    """The resident's resolved case whose rating a callback asked for after `since` (the
    latest such callback), if any."""
    query = (
        select(Appeal)
        .join(AppealEvent, col(AppealEvent.appeal_id) == col(Appeal.id))
        .where(
            Appeal.resident_id == resident.id,
            Appeal.status == Status.RESOLVED.value,
            AppealEvent.action == "callback",
        )
    )
    if since is not None:
        query = query.where(col(AppealEvent.created_at) > since)
    return session.exec(query.order_by(col(AppealEvent.id).desc()).limit(1)).first()


def visible_appeal(session: Session, *, resident: Person, number: str) -> Appeal | None:
    """The appeal with that number if the resident filed or follows it."""
    query = select(Appeal).where(Appeal.number == number, _followed_or_own(resident))
    return session.exec(query).first()


def open_appeals_of(session: Session, *, resident: Person) -> list[Appeal]:
    query = (
        select(Appeal)
        .where(Appeal.resident_id == resident.id, col(Appeal.status).in_(list(OPEN)))
        .order_by(col(Appeal.created_at).desc(), col(Appeal.id).desc())
    )
    return list(session.exec(query))


def case_by_number(session: Session, number: str) -> Appeal | None:
    return session.exec(select(Appeal).where(Appeal.number == number)).first()


def case_with_phone(session: Session, *, number: str, phone: str) -> Appeal | None:
    """The case `number` if it was filed with `phone` (typed in any spelling: spaces,
    dashes, full-width digits, +86); None whichever of the two is wrong."""
    appeal = case_by_number(session, number)
    given = _digits(phone)
    if appeal is None or not appeal.phone or len(given) < 7:
        return None
    return appeal if hmac.compare_digest(_digits(appeal.phone), given) else None


def _digits(phone: str) -> str:
    digits = "".join(c for c in unicodedata.normalize("NFKC", phone) if c.isdigit())
    return digits.removeprefix("86") if len(digits) > 12 else digits


def own_appeal(session: Session, *, resident: Person, number: str) -> Appeal | None:
    """The resident's appeal with that number; someone else's is as good as missing."""
    return session.exec(
        select(Appeal).where(Appeal.number == number, Appeal.resident_id == resident.id)
    ).first()


def timeline(session: Session, *, appeal: Appeal) -> list[AppealEvent]:
    query = (
        select(AppealEvent)
        .where(AppealEvent.appeal_id == appeal.id)
        .order_by(col(AppealEvent.created_at), col(AppealEvent.id))
    )
    return list(session.exec(query))


def supplement(
    session: Session,
    *,
    resident: Person,
    appeal: Appeal,
    note: str,
    photo: StoredFile | None = None,
    point: tuple[float, float, str | None] | None = None,
) -> None:
    """Add material to an open appeal: `note` (the text, or what stands for a photo or a
    place) goes to the ledger, without a status change. A place (latitude, longitude,
    address) becomes the case's own where it had none."""
    if Status(appeal.status) not in OPEN:
        raise LifecycleError("state", "only an open appeal takes more material")
    if appeal.resident_id != resident.id:
        raise LifecycleError("forbidden", "a resident may add only to their own appeal")
    if photo is not None:
        attach(session, appeal, photo)
    if point is not None and appeal.latitude is None:
        appeal.latitude, appeal.longitude = point[0], point[1]
        appeal.address = appeal.address or point[2]
        session.add(appeal)
    record(session, appeal, "supplement", Actor.of(resident), note)


def photo_count(session: Session, appeal: Appeal) -> int:
    """The resident's photos of the problem kept with the case (not the result's)."""
    query = select(func.count()).where(
        Attachment.appeal_id == appeal.id, Attachment.kind == "photo"
    )
    return int(session.exec(query).one())


def withdraw(
    session: Session, *, resident: Person, appeal: Appeal, reason: str, policy: Policy
) -> None:
    transition(session, appeal, Action.WITHDRAW, Actor.of(resident), reason, policy=policy)
