"""Updates a messenger handed over and we have not finished with (see models.InboxUpdate)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, bindparam, delete, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from storage.db import transaction
from storage.models import InboxUpdate
from storage.types import UTCDateTime, utcnow

_KEEP = text(
    "INSERT INTO inbox_update (channel, key, payload, received_at) "
    "VALUES (:channel, :key, :payload, :at) ON CONFLICT DO NOTHING"
).bindparams(bindparam("at", type_=UTCDateTime()), bindparam("payload", type_=JSON()))


def keep(
    sessions: sessionmaker[Session],
    channel: str,
    updates: Sequence[tuple[str, Any]],
    *,
    wait: bool = True,
) -> None:
    """Write each (key, payload) once, in one transaction; one already kept is left as it is.
    `wait=False`: raise `storage.db.Busy` where SQLite's write lock is taken."""
    if not updates:
        return
    at = utcnow()
    rows = [
        {"channel": channel, "key": key, "payload": payload, "at": at} for key, payload in updates
    ]
    with transaction(sessions, wait=wait) as session:
        session.connection().execute(_KEEP, rows)


def pending(sessions: sessionmaker[Session], channel: str) -> list[dict[str, Any]]:
    """The payloads not finished with, in the order they arrived."""
    with sessions() as session:
        query = (
            select(InboxUpdate).where(InboxUpdate.channel == channel).order_by(col(InboxUpdate.id))
        )
        return [row.payload for row in session.exec(query)]


def done(session: Session, channel: str, keys: Sequence[str]) -> None:
    """Forget these updates (in the caller's transaction): their turns are over."""
    if keys:
        session.connection().execute(
            delete(InboxUpdate).where(
                col(InboxUpdate.channel) == channel, col(InboxUpdate.key).in_(keys)
            )
        )
