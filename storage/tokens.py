"""Short-lived API credentials kept in the database, so that every worker shares them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import bindparam, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from storage.db import transaction
from storage.types import UTCDateTime

# One statement on SQLite and PostgreSQL: two workers renewing at once leave the later value.
# Times are bound as UTCDateTime, so they are stored exactly as the ORM stores them.
_UPSERT = text(
    "INSERT INTO api_token (key, value, expires_at) VALUES (:key, :value, :expires_at) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
).bindparams(bindparam("expires_at", type_=UTCDateTime()))
_CURRENT = text("SELECT value FROM api_token WHERE key = :key AND expires_at > :now").bindparams(
    bindparam("now", type_=UTCDateTime())
)


class DatabaseTokenStore:
    """A `TokenStore` (see bot/channels/wechat_api.py) in the table `api_token`."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], float] = time.time
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    def _at(self, seconds: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)

    def get(self, key: str) -> str | None:
        with transaction(self.sessions) as session:
            value = session.execute(_CURRENT, {"key": key, "now": self._at(self.clock())})
            return value.scalar_one_or_none()

    def set(self, key: str, value: str, ttl: float) -> None:
        expires_at = self._at(self.clock() + ttl)
        with transaction(self.sessions) as session:
            session.execute(_UPSERT, {"key": key, "value": value, "expires_at": expires_at})
