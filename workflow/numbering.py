"""Case numbers SQyyyymmdd-NNNN: local date, a daily sequence, unique under concurrency."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlmodel import Session

# One atomic statement on both SQLite (>= 3.35) and PostgreSQL: concurrent submits each get
# their own value because the row lock (or SQLite's write lock) serialises the increment.
_NEXT = text(
    "INSERT INTO appeal_sequence (day, last) VALUES (:day, 1) "
    "ON CONFLICT (day) DO UPDATE SET last = appeal_sequence.last + 1 "
    "RETURNING last"
)


def next_number(session: Session, day: dt.date) -> str:
    key = day.strftime("%Y%m%d")
    value = session.execute(_NEXT, {"day": key}).scalar_one()
    return f"SQ{key}-{value:04d}"
