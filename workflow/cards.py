"""What departments and dispatchers see of a case: the card, with the resident's privacy kept.

Departments see the phone masked (138****1234); a whistle-blowing report (举报) never shows
who made it. The card carries the classifier's keywords (why it was sorted this way), the
deadline and likely duplicates; its texts are the message catalog's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from storage.models import Appeal, Attachment
from storage.types import utcnow
from workflow.calendar import WorkCalendar
from workflow.duplicates import likely_duplicates

STAFF_ACTIONS = ("sign", "return", "extend", "resolve")
_PHOTOS = (  # built once, as each new appeal's card reads it
    select(Attachment.path)
    .where(Attachment.appeal_id == bindparam("appeal"))
    .order_by(col(Attachment.id))
)

# A text of the message catalog (messages/catalog.py), stored in an outbox row's params or
# option labels and rendered when the row is sent: workflow/ never imports handlers/.
Text = dict[str, Any]


def text(key: str, **params: Any) -> Text:
    return {"key": key, **params}


def mask_phone(phone: str | None) -> str:
    if not phone:
        return "—"
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def deadline_shown(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A deadline at local midnight as the last minute of the day it belongs to, local."""
    return (moment - dt.timedelta(minutes=1)).astimezone(zone)


def local_deadline(
    moment: dt.datetime | None, calendar: WorkCalendar, pattern: str = "%m-%d %H:%M"
) -> str:
    if moment is None:
        return "—"
    return deadline_shown(moment, calendar.zone).strftime(pattern)


def case_card(
    session: Session, appeal: Appeal, calendar: WorkCalendar, *, duplicate_days: int
) -> dict[str, Any]:
    """The card's fields (rendered by the message catalog's `card.*` texts)."""
    photos = session.exec(_PHOTOS, params={"appeal": appeal.id}).all()
    place = appeal.address or (
        f"{appeal.latitude:.5f},{appeal.longitude:.5f}" if appeal.latitude is not None else "—"
    )
    duplicates = likely_duplicates(session, appeal, now=utcnow(), days=duplicate_days)
    return {
        "number": appeal.number,
        "category": appeal.category,
        "type": appeal.appeal_type or "—",
        "confidence": f"{appeal.confidence:.0%}",
        "urgency": text(f"card.urgency.{appeal.urgency}"),
        "text": appeal.text,
        "place": place,
        "grid": appeal.grid or "—",
        "phone": text("card.phone_secret") if appeal.whistleblowing else mask_phone(appeal.phone),
        "deadline": local_deadline(appeal.finish_due_at, calendar),
        "keywords": "、".join(appeal.keywords) or "—",
        "duplicates": "、".join(d.number for d in duplicates),
        "photos": list(photos),
    }


def buttons(appeal: Appeal, actions: Sequence[str]) -> list[list[Any]]:
    """Buttons pressing `action:number` on the case, labelled by the catalog's `button.*`."""
    return [[text(f"button.{action}"), f"{action}:{appeal.number}"] for action in actions]


def staff_options(appeal: Appeal) -> list[list[Any]]:
    return buttons(appeal, STAFF_ACTIONS)
