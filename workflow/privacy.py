"""Personal data (个人信息保护法): retention, and a resident's requests for their data.

A case past retention, or of a resident who asked to be erased, is anonymised: its phone, its
address and point and its photos go (the photo files too, when no other case shares them),
and so do the messages sent about it (the cards and notices that showed them); the case
itself, its type, department, deadlines, rating and ledger stay, so the reports' figures do
not change. Past retention every message sent goes too (the outbox keeps what it sent, and a
resident's chat on the mobile page is read from it). The ledger says when (`anonymise`),
and every run leaves an `AuditLog` row naming what it concerned, never the phone in full.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from storage.models import (
    Appeal,
    AppealEvent,
    Attachment,
    AuditLog,
    Conversation,
    Follower,
    Outbox,
    Person,
)
from storage.roles import Role
from storage.types import utcnow
from workflow.lifecycle import OPEN, SYSTEM, Status, record

# Cases that are over: nothing more will happen to them (a resolved one still awaits its
# rating).
FINISHED = frozenset(Status) - OPEN - {Status.RESOLVED}
SPAN = re.compile(r"^\s*(\d+)\s*([ymd])\s*$")
PHONE_CHANNEL = "phone"  # persons known only by the phone a grid worker gave


def span_start(span: str, now: dt.datetime) -> dt.datetime:
    """The moment `span` ("3y", "18m", "400d": years, months, days) before `now`; ValueError
    for anything else."""
    match = SPAN.match(span)
    if match is None:
        raise ValueError(f"not a span like 3y, 18m or 400d: {span!r}")
    count, unit = int(match[1]), match[2]
    if unit == "d":
        return now - dt.timedelta(days=count)
    months = now.year * 12 + now.month - 1 - (count * 12 if unit == "y" else count)
    year, month = divmod(months, 12)
    last_day = calendar.monthrange(year, month + 1)[1]  # 29 February → the 28th
    return now.replace(year=year, month=month + 1, day=min(now.day, last_day))


@dataclass
class Removed:
    """What a run anonymised: the case numbers, and the photo files no case needs now."""

    numbers: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)


def anonymise(session: Session, appeal: Appeal, removed: Removed, reason: str) -> None:
    """Remove the case's phone, place and photos (recorded in its ledger with `reason`)."""
    photos = session.exec(select(Attachment).where(Attachment.appeal_id == appeal.id)).all()
    for photo in photos:
        removed.files.add(photo.path)
        session.delete(photo)
    # What was sent about the case showed its place and phone; what is still to be sent goes
    # out (an erased resident's open case is still handled).
    session.exec(
        delete(Outbox).where(col(Outbox.appeal_id) == appeal.id, col(Outbox.sent_at).is_not(None))
    )
    appeal.phone = appeal.address = appeal.latitude = appeal.longitude = None
    appeal.anonymised_at = utcnow()
    session.add(appeal)
    record(session, appeal, "anonymise", SYSTEM, reason)
    removed.numbers.append(appeal.number)


def unused_files(session: Session, paths: Iterable[str]) -> list[str]:
    """Those of `paths` no remaining attachment names (a photo is stored once by content,
    so two cases may share a file)."""
    wanted = set(paths)
    if not wanted:
        return []
    query = select(Attachment.path).where(col(Attachment.path).in_(wanted))
    named: set[str] = set(session.exec(query).all())
    return sorted(wanted - named)


def _forget_person(session: Session, person: Person) -> None:
    """A resident's name, phone, messenger identity and chat (what was sent to it, or is to
    be) removed; their cases stay theirs."""
    assert person.id is not None  # noqa: S101 - persons are stored
    session.exec(
        delete(Conversation).where(
            col(Conversation.channel) == person.channel,
            col(Conversation.external_id) == person.external_id,
        )
    )
    if person.chat_id is not None:
        session.exec(
            delete(Outbox).where(
                col(Outbox.channel) == person.channel,
                col(Outbox.chat_id) == person.chat_id,
            )
        )
    session.exec(delete(Follower).where(col(Follower.person_id) == person.id))
    person.name = person.phone = person.chat_id = None
    person.external_id = f"erased-{person.id}"
    person.unreachable = True
    session.add(person)


def purge(session: Session, *, before: dt.datetime, reason: str) -> Removed:
    """Anonymise the finished cases last changed before `before`; a resident (known by phone
    alone, or whose cases are now all anonymised) loses their name and phone too; the
    messages sent before `before` are deleted."""
    removed = Removed()
    session.exec(
        delete(Outbox).where(col(Outbox.created_at) < before, col(Outbox.sent_at).is_not(None))
    )
    query = select(Appeal).where(
        col(Appeal.status).in_([status.value for status in FINISHED]),
        col(Appeal.updated_at) < before,
        col(Appeal.anonymised_at).is_(None),
    )
    residents: set[int] = set()
    for appeal in session.exec(query).all():
        anonymise(session, appeal, removed, reason)
        residents.add(appeal.resident_id)
    session.flush()
    for person_id in sorted(residents):
        left = select(Appeal.id).where(
            Appeal.resident_id == person_id, col(Appeal.anonymised_at).is_(None)
        )
        person = session.get(Person, person_id)
        if person is not None and session.exec(left.limit(1)).first() is None:
            if person.channel == PHONE_CHANNEL:
                _forget_person(session, person)
            else:
                person.name = person.phone = None
                session.add(person)
    return removed


def _persons(session: Session, phone: str) -> list[Person]:
    """The residents known by `phone` (stored as `callable_number` writes it)."""
    query = select(Person).where(
        Person.role == Role.RESIDENT.value,
        or_(
            col(Person.phone) == phone,
            (col(Person.channel) == PHONE_CHANNEL) & (col(Person.external_id) == phone),
        ),
    )
    return list(session.exec(query))


def _appeals(session: Session, phone: str, persons: list[Person]) -> list[Appeal]:
    ids = [person.id for person in persons]
    query = (
        select(Appeal)
        .where(or_(col(Appeal.phone) == phone, col(Appeal.resident_id).in_(ids)))
        .order_by(col(Appeal.id))
    )
    return list(session.exec(query))


def held_about(session: Session, phone: str) -> dict[str, Any]:
    """Everything held about the person with `phone`: who they are on each channel, their
    cases (with the ledger and photos), the cases they follow, their open dialogs and their
    chats' messages (what was sent to them, and on the mobile page their own words)."""
    persons = _persons(session, phone)
    ids = [person.id for person in persons]
    conversations = [
        {"channel": c.channel, "step": c.step, "data": c.data, "updated_at": _time(c.updated_at)}
        for person in persons
        for c in session.exec(
            select(Conversation).where(
                Conversation.channel == person.channel,
                Conversation.external_id == person.external_id,
            )
        )
    ]
    messages = [
        {
            "channel": row.channel,
            "time": _time(row.created_at),
            "message": row.message,
            "params": row.params,
        }
        for person in persons
        if person.chat_id is not None
        for row in session.exec(
            select(Outbox)
            .where(Outbox.channel == person.channel, Outbox.chat_id == person.chat_id)
            .order_by(col(Outbox.id))
        )
    ]
    followed = session.exec(
        select(Appeal.number)
        .join(Follower, col(Follower.appeal_id) == col(Appeal.id))
        .where(col(Follower.person_id).in_(ids))
    ).all()
    return {
        "phone": phone,
        "persons": [
            {
                "channel": person.channel,
                "external_id": person.external_id,
                "name": person.name,
                "phone": person.phone,
                "since": _time(person.created_at),
            }
            for person in persons
        ],
        "appeals": [_appeal(session, appeal) for appeal in _appeals(session, phone, persons)],
        "following": list(followed),
        "conversations": conversations,
        "messages": messages,
    }


def _appeal(session: Session, appeal: Appeal) -> dict[str, Any]:
    events = session.exec(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id).order_by(col(AppealEvent.id))
    )
    photos = session.exec(select(Attachment).where(Attachment.appeal_id == appeal.id))
    return {
        "number": appeal.number,
        "status": appeal.status,
        "channel": appeal.channel,
        "received": _time(appeal.created_at),
        "text": appeal.text,
        "category": appeal.category,
        "address": appeal.address,
        "latitude": appeal.latitude,
        "longitude": appeal.longitude,
        "phone": appeal.phone,
        "rating": appeal.rating,
        "anonymised": _time(appeal.anonymised_at),
        "ledger": [
            {"time": _time(e.created_at), "action": e.action, "note": e.note} for e in events
        ],
        "photos": [{"file": Path(p.path).name, "type": p.mime, "size": p.size} for p in photos],
    }


def _time(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def erase(session: Session, phone: str, *, reason: str) -> Removed:
    """A resident's request to erase their data: each of their cases anonymised whatever its
    state, and their identity on every channel forgotten."""
    removed = Removed()
    persons = _persons(session, phone)
    for appeal in _appeals(session, phone, persons):
        if appeal.anonymised_at is None:
            anonymise(session, appeal, removed, reason)
    for person in persons:
        _forget_person(session, person)
    return removed


def audit(session: Session, action: str, **detail: Any) -> None:
    """The durable line of a run (the log gets one too)."""
    session.add(AuditLog(action=action, detail=detail))
