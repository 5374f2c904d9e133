"""A turn's replies, kept in the outbox in the turn's own transaction until they are sent.

The channel that took the turn sends them at once and marks them sent; they are written with
their next attempt `LEASE` ahead, so the outbox's drain leaves them to it meanwhile. If that
process dies first, or its sends fail, the drain sends them later: a committed turn's answer
is never lost. (Outbox.message is REPLY; the rendered reply is in `params`.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, inspect
from sqlmodel import Session

from storage.models import Outbox
from storage.types import utcnow

REPLY = "reply"
LEASE = dt.timedelta(seconds=60)
_TABLE = cast(Table, inspect(Outbox).local_table)


def reply_key(channel: str, message_id: str, position: int) -> str:
    return f"{REPLY}:{channel}:{message_id}:{position}"


def keep(
    session: Session,
    *,
    channel: str,
    chat_id: str,
    message_id: str,
    payloads: Sequence[dict[str, Any]],
) -> list[str]:
    """Write the replies to the message `message_id`; their outbox keys, in order."""
    now = utcnow()
    keys = [reply_key(channel, message_id, position) for position in range(len(payloads))]
    rows = [
        {
            "key": key,
            "channel": channel,
            "chat_id": chat_id,
            "message": REPLY,
            "params": payload,
            "options": [],
            "created_at": now,
            "next_attempt_at": now + LEASE,
            "attempts": 0,
        }
        for key, payload in zip(keys, payloads, strict=True)
    ]
    if rows:
        session.connection().execute(insert(_TABLE), rows)
    return keys
