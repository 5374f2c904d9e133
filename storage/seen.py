"""When each chat last wrote to us (table `last_inbound`), shared by every worker: WeChat's
customer-service API may answer for 48 hours after it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import bindparam, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from storage.db import transaction
from storage.types import UTCDateTime

# One statement on SQLite and PostgreSQL: two workers touching at once leave the later write.
_UPSERT = text(
    "INSERT INTO last_inbound (channel, chat_id, at) VALUES (:channel, :chat_id, :at) "
    "ON CONFLICT (channel, chat_id) DO UPDATE SET at = excluded.at"
).bindparams(bindparam("at", type_=UTCDateTime()))
_GET = text("SELECT at FROM last_inbound WHERE channel = :channel AND chat_id = :chat_id").columns(
    at=UTCDateTime()
)


class LastInboundStore:
    """When each chat of `channel` last wrote, as epoch seconds of `clock`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        channel: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.channel = channel
        self.clock = clock

    def touch(self, chat_id: str) -> None:
        self.set(chat_id, self.clock())

    def set(self, chat_id: str, at: float) -> None:
        moment = dt.datetime.fromtimestamp(at, tz=dt.UTC)
        with transaction(self.sessions) as session:
            session.execute(_UPSERT, {"channel": self.channel, "chat_id": chat_id, "at": moment})

    def get(self, chat_id: str) -> float | None:
        with self.sessions() as session:
            row = session.execute(_GET, {"channel": self.channel, "chat_id": chat_id}).first()
        return None if row is None else row.at.timestamp()
