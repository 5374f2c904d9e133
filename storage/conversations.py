"""Where each person stands in the dialog of each chat: one row per (channel, user, chat),
read and written on every turn.

Core statements built once, on the session's connection: the ORM's get and unit of work cost
about a third of a dialog turn for this one small row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, inspect, select, update
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import Session

from storage.models import Conversation

_TABLE = cast(Table, inspect(Conversation).local_table)
_KEY = (
    (_TABLE.c.channel == bindparam("chan"))
    & (_TABLE.c.external_id == bindparam("user"))
    & (_TABLE.c.chat_id == bindparam("chat"))
)
_LOAD = select(_TABLE.c.step, _TABLE.c.data, _TABLE.c.updated_at).where(_KEY)
_VALUES: dict[str, BindParameter[Any]] = {
    "step": bindparam("new_step"),
    "data": bindparam("new_data"),
    "updated_at": bindparam("at"),
}
_UPDATE = update(_TABLE).where(_KEY).values(_VALUES)
_INSERT = insert(_TABLE).values(
    channel=bindparam("chan"), external_id=bindparam("user"), chat_id=bindparam("chat"), **_VALUES
)
_DELETE = delete(_TABLE).where(_KEY)


@dataclass(frozen=True)
class Saved:
    """A conversation as the last turn left it."""

    step: str
    data: dict[str, Any]
    updated_at: dt.datetime


def load(session: Session, channel: str, user: str, chat: str) -> Saved | None:
    values = {"chan": channel, "user": user, "chat": chat}
    row = session.connection().execute(_LOAD, values).first()
    return None if row is None else Saved(row.step, row.data, row.updated_at)


def save(
    session: Session,
    channel: str,
    user: str,
    chat: str,
    *,
    step: str,
    data: dict[str, Any],
    at: dt.datetime,
    new: bool,
) -> None:
    """Write the row: `new` if `load` found none in this transaction."""
    values = {
        "chan": channel,
        "user": user,
        "chat": chat,
        "new_step": step,
        "new_data": data,
        "at": at,
    }
    session.connection().execute(_INSERT if new else _UPDATE, values)


def forget(session: Session, channel: str, user: str, chat: str) -> None:
    session.connection().execute(_DELETE, {"chan": channel, "user": user, "chat": chat})
