"""Delivers outbox rows through the channel senders; a failed send is retried with backoff.

Rows are leased (their next attempt pushed past the lease) in one short transaction, sent with
no transaction open — a slow or rate-limited channel never holds a database lock — and marked
sent or failed afterwards. A process that dies mid-send leaves the lease to expire, and the
row is sent again: delivery is at least once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping

from sqlalchemy import or_
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from handlers.messages import shown, t
from handlers.types import Option, Outbound
from storage.db import transaction
from storage.models import Appeal, Outbox, Person
from storage.types import utcnow
from workflow.lifecycle import SYSTEM, record

log = logging.getLogger(__name__)

Sender = Callable[[str, Outbound], None]
MAX_ATTEMPTS = 8
LEASE = dt.timedelta(minutes=5)


class Undeliverable(Exception):
    """The channel will not take a message to this person now; someone has to phone them.

    Retrying does not help (the resident blocked the bot, unsubscribed, or is outside the
    channel's messaging window with no fallback), so the row is given up and the ledger says
    the resident must be phoned.
    """

    def __init__(self, chat_id: str, reason: str, *, unsubscribed: bool = False) -> None:
        super().__init__(f"cannot reach {chat_id}: {reason}")
        self.chat_id = chat_id
        self.reason = reason
        self.unsubscribed = unsubscribed


def render(row: Outbox) -> Outbound:
    options = tuple(Option(shown(label), value) for label, value in row.options)
    photos = tuple(str(path) for path in row.params.get("photos", ()))
    return Outbound(t(row.message, **row.params), options, photos)


def _lease(sessions: sessionmaker[Session], channels: set[str], limit: int) -> list[Outbox]:
    with transaction(sessions) as session:
        now = utcnow()
        query = (
            select(Outbox)
            .where(
                col(Outbox.sent_at).is_(None),
                Outbox.next_attempt_at <= now,
                Outbox.attempts < MAX_ATTEMPTS,
                col(Outbox.channel).in_(channels),
            )
            .order_by(col(Outbox.next_attempt_at), col(Outbox.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = list(session.exec(query))
        for row in rows:
            row.next_attempt_at = now + LEASE
            session.add(row)
        return rows


def _finish(sessions: sessionmaker[Session], row_id: int | None, error: Exception | None) -> None:
    with transaction(sessions) as session:
        row = session.get(Outbox, row_id)
        if row is None:
            return
        now = utcnow()
        if error is None:
            row.sent_at = now
        elif isinstance(error, Undeliverable):
            row.attempts, row.error = MAX_ATTEMPTS, f"Undeliverable: {error.reason}"
            _record_unreachable(session, row, error)
        else:
            row.attempts += 1
            row.error = type(error).__name__
            row.next_attempt_at = now + dt.timedelta(seconds=2**row.attempts)
        session.add(row)


def _record_unreachable(session: Session, row: Outbox, error: Undeliverable) -> None:
    """Mark who can't be reached and put the case on the phone-call list (the ledger)."""
    if error.unsubscribed:
        people = session.exec(
            select(Person).where(
                Person.channel == row.channel,
                or_(col(Person.external_id) == row.chat_id, col(Person.chat_id) == row.chat_id),
            )
        )
        for person in people:
            person.unreachable = True
            session.add(person)
    appeal = session.get(Appeal, row.appeal_id) if row.appeal_id is not None else None
    if appeal is not None:
        record(session, appeal, "unreachable", SYSTEM, t("outbox.undeliverable"))


def drain(
    sessions: sessionmaker[Session], senders: Mapping[str, Sender], *, limit: int = 100
) -> int:
    """Send what is due on the channels we have senders for; returns how many were sent."""
    sent = 0
    for row in _lease(sessions, set(senders), limit):
        try:
            senders[row.channel](row.chat_id, render(row))
        except Exception as exc:  # a channel failure must not stop the others
            log.warning("outbox %s to %s failed: %s", row.id, row.channel, type(exc).__name__)
            _finish(sessions, row.id, exc)
        else:
            _finish(sessions, row.id, None)
            sent += 1
    return sent
