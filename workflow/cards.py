"""What departments and dispatchers see of a case: the card, with the resident's privacy kept.

Departments see the phone masked (138****1234); a whistle-blowing report (举报) never shows
who made it. The card carries the classifier's keywords (why it was sorted this way), the
deadline with its 🟡/🔴 flag, and likely duplicates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, col, select

from storage.models import Appeal, Attachment
from storage.types import utcnow
from workflow.calendar import WorkCalendar
from workflow.duplicates import likely_duplicates

FLAG = {"red": "🔴超期", "yellow": "🟡临期", "": ""}
URGENCY = {"normal": "", "urgent": "⚠️紧急", "life": "🚨危及生命"}
STAFF_ACTIONS = (("签收", "sign"), ("退回", "return"), ("申请延期", "extend"), ("办结", "resolve"))


def mask_phone(phone: str | None) -> str:
    if not phone:
        return "—"
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def local_deadline(moment: dt.datetime | None, calendar: WorkCalendar) -> str:
    """A deadline at local midnight, shown as the last minute of the day it belongs to."""
    if moment is None:
        return "—"
    return (moment - dt.timedelta(minutes=1)).astimezone(calendar.zone).strftime("%m-%d %H:%M")


def case_card(
    session: Session,
    appeal: Appeal,
    calendar: WorkCalendar,
    *,
    duplicate_days: int,
    flag: str = "",
) -> dict[str, Any]:
    """The card's fields (rendered by the message catalog's `card.*` texts)."""
    photos = session.exec(
        select(Attachment.path)
        .where(Attachment.appeal_id == appeal.id)
        .order_by(col(Attachment.id))
    ).all()
    place = appeal.address or (
        f"{appeal.latitude:.5f},{appeal.longitude:.5f}" if appeal.latitude is not None else "—"
    )
    duplicates = likely_duplicates(session, appeal, now=utcnow(), days=duplicate_days)
    return {
        "number": appeal.number,
        "category": appeal.category,
        "urgency": URGENCY.get(appeal.urgency, ""),
        "text": appeal.text,
        "place": place,
        "grid": appeal.grid or "—",
        "phone": "（举报人信息保密）" if appeal.whistleblowing else mask_phone(appeal.phone),
        "deadline": local_deadline(appeal.finish_due_at, calendar),
        "flag": FLAG.get(flag, ""),
        "keywords": "、".join(appeal.keywords) or "—",
        "duplicates": "、".join(d.number for d in duplicates),
        "photos": list(photos),
    }


def staff_options(appeal: Appeal) -> list[list[str]]:
    return [[label, f"{action}:{appeal.number}"] for label, action in STAFF_ACTIONS]
