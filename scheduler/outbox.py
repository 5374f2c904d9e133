"""Delivers outbox rows through the channel senders; a failed send is retried with backoff."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from handlers.messages import t
from handlers.types import Option, Outbound
from storage.db import transaction
from storage.models import Outbox
from storage.types import utcnow

log = logging.getLogger(__name__)

Sender = Callable[[str, Outbound], None]
MAX_ATTEMPTS = 8


def _claim(session: Session, now: dt.datetime, limit: int) -> list[Outbox]:
    query = (
        select(Outbox)
        .where(
            col(Outbox.sent_at).is_(None),
            Outbox.next_attempt_at <= now,
            Outbox.attempts < MAX_ATTEMPTS,
        )
        .order_by(col(Outbox.next_attempt_at), col(Outbox.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(query))


def render(row: Outbox) -> Outbound:
    options = tuple(Option(label, value) for label, value in row.options)
    return Outbound(t(row.message, **row.params), options)


def drain(
    sessions: sessionmaker[Session], senders: Mapping[str, Sender], *, limit: int = 100
) -> int:
    """Send what is due; returns how many rows were sent."""
    sent = 0
    with transaction(sessions) as session:
        now = utcnow()
        for row in _claim(session, now, limit):
            sender = senders.get(row.channel)
            if sender is None:
                continue
            try:
                sender(row.chat_id, render(row))
            except Exception as exc:  # a channel failure must not stop the others
                row.attempts += 1
                row.error = type(exc).__name__
                row.next_attempt_at = now + dt.timedelta(seconds=2**row.attempts)
                log.warning("outbox %s to %s failed: %s", row.id, row.channel, row.error)
            else:
                row.sent_at = now
                sent += 1
            session.add(row)
    return sent
