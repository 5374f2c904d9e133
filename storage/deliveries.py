"""Which inbound messages were handled already: a messenger may deliver one twice."""

from __future__ import annotations

from sqlalchemy import bindparam, text
from sqlmodel import Session

from storage.models import ProcessedUpdate
from storage.types import UTCDateTime, utcnow

# One statement on SQLite and PostgreSQL; a concurrent first delivery of the same message
# makes it wait for that transaction, then insert nothing.
_RECORD = text(
    "INSERT INTO processed_update (channel, key, created_at) VALUES (:channel, :key, :at) "
    "ON CONFLICT DO NOTHING RETURNING key"
).bindparams(bindparam("at", type_=UTCDateTime()))


def first_delivery(session: Session, channel: str, key: str) -> bool:
    """Record the message; False when it was recorded before (a redelivery)."""
    values = {"channel": channel, "key": key, "at": utcnow()}
    return session.connection().execute(_RECORD, values).first() is not None


def delivered(session: Session, channel: str, key: str) -> bool:
    return session.get(ProcessedUpdate, (channel, key)) is not None
