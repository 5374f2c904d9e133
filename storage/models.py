"""The tables. Times are aware UTC; JSON-ish fields are stored as JSON columns."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.roles import Role
from storage.types import UTCDateTime, utcnow


def _time(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class Department(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    kind: str = Field(default="department", max_length=20)
    chat_channel: str | None = Field(default=None, max_length=20)
    chat_id: str | None = Field(default=None, max_length=100)


class Person(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    external_id: str = Field(max_length=100)
    chat_id: str | None = Field(default=None, max_length=100)
    role: str = Field(default=Role.RESIDENT.value, max_length=20)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    grid: str | None = Field(default=None, max_length=50)
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=20)
    unreachable: bool = False
    created_at: dt.datetime = _time(default_factory=utcnow)


LEDGER_COLUMNS = (
    "created_at",
    "category",
    "appeal_type",
    "grid",
    "channel",
    "disposition",
    "urgency",
    "reopen_count",
    "whistleblowing",
)
LEDGER_INDEXES = {
    "created_at": ("created_at",),
    # Covering: a filtered view's counts read these instead of the table (10x faster).
    "ledger_center": ("status", "finish_due_at", "department_id", *LEDGER_COLUMNS),
    "ledger_department": ("department_id", "status", "finish_due_at", *LEDGER_COLUMNS),
    "finish_due_at": ("finish_due_at",),
    "category": ("category",),
    "appeal_type": ("appeal_type",),
    "grid": ("grid",),
    "channel": ("channel",),
    "disposition": ("disposition",),
    "urgency": ("urgency",),
    "reopen_count": ("reopen_count",),
    "whistleblowing": ("whistleblowing",),
}


class Appeal(SQLModel, table=True):
    __table_args__ = (
        Index("ix_appeal_resident_created", "resident_id", "created_at"),
        Index("ix_appeal_department_status", "department_id", "status"),
        # The 台账 (workflow/ledger.py): its sort orders, 临期/超期, and each counted filter.
        *(Index(f"ix_appeal_{name}", *columns) for name, columns in LEDGER_INDEXES.items()),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=20)
    status: str = Field(max_length=20, index=True)
    channel: str = Field(max_length=20)
    resident_id: int = Field(foreign_key="person.id")
    reporter_id: int | None = Field(default=None, foreign_key="person.id")
    text: str
    appeal_type: str = Field(default="", max_length=50)  # the type it was routed by
    category: str = Field(max_length=50)
    disposition: str = Field(max_length=20)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    urgency: str = Field(default="normal", max_length=10)
    confidence: float = 0.0
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    needs_triage: bool = False
    # Departments the classifier's runner-up categories point to, for the dispatcher.
    suggestions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = Field(default=None, max_length=20)
    grid: str | None = Field(default=None, max_length=50)
    merged_into_id: int | None = Field(default=None, foreign_key="appeal.id")
    reopen_count: int = 0
    rating: str | None = Field(default=None, max_length=10)
    whistleblowing: bool = False  # 举报: the resident's identity is never shown to departments
    extension_days: int | None = None  # a department's pending request for more time
    accept_due_at: dt.datetime | None = _time(default=None)
    finish_due_at: dt.datetime | None = _time(default=None)
    reply_due_at: dt.datetime | None = _time(default=None)
    created_at: dt.datetime = _time(default_factory=utcnow)
    updated_at: dt.datetime = _time(default_factory=utcnow)
    # When its personal data (phone, place, photos) was removed: past retention, or erased.
    anonymised_at: dt.datetime | None = _time(default=None)


class Attachment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    appeal_id: int = Field(foreign_key="appeal.id", index=True)
    kind: str = Field(default="photo", max_length=20)
    path: str
    sha256: str = Field(max_length=64)
    size: int
    mime: str = Field(max_length=100)
    created_at: dt.datetime = _time(default_factory=utcnow)


class AppealEvent(SQLModel, table=True):
    """One line of the ledger (台账). Rows are only ever inserted."""

    __tablename__ = "appeal_event"

    id: int | None = Field(default=None, primary_key=True)
    appeal_id: int = Field(foreign_key="appeal.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    actor_role: str = Field(max_length=20)
    action: str = Field(max_length=30)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    note: str | None = None
    created_at: dt.datetime = _time(default_factory=utcnow)


class Timer(SQLModel, table=True):
    __table_args__ = (Index("ix_timer_pending_due", "done_at", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    appeal_id: int = Field(foreign_key="appeal.id", index=True)
    kind: str = Field(max_length=30)
    key: str = Field(unique=True, max_length=100)
    step: int = 0  # which callback attempt, for kinds that repeat
    due_at: dt.datetime = _time()
    done_at: dt.datetime | None = _time(default=None)
    attempts: int = 0


class Outbox(SQLModel, table=True):
    __table_args__ = (
        Index("ix_outbox_pending", "sent_at", "next_attempt_at"),
        # A chat's messages, latest first: the mobile page shows its chat from the outbox.
        Index("ix_outbox_chat", "channel", "chat_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=120)
    channel: str = Field(max_length=20)
    chat_id: str = Field(max_length=100)
    message: str = Field(max_length=60)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # [label, value]: a label is a name or a catalog text (workflow.cards.text)
    options: list[list[Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    appeal_id: int | None = Field(default=None, foreign_key="appeal.id")
    created_at: dt.datetime = _time(default_factory=utcnow)
    next_attempt_at: dt.datetime = _time(default_factory=utcnow)
    sent_at: dt.datetime | None = _time(default=None)
    attempts: int = 0
    error: str | None = None


class Conversation(SQLModel, table=True):
    """Where a person stands in the dialog of one chat: a resident's private chat and a
    department group they press a card in are two conversations."""

    channel: str = Field(primary_key=True, max_length=20)
    external_id: str = Field(primary_key=True, max_length=100)
    chat_id: str = Field(primary_key=True, max_length=100)
    step: str = Field(max_length=30)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: dt.datetime = _time(default_factory=utcnow)


class InboxUpdate(SQLModel, table=True):
    """An update a messenger handed over that is not finished with yet: written before the
    messenger is told it arrived (the getUpdates offset moves past it, the webhook answers
    200) and deleted once its turn's replies are kept, so a crash in between loses nothing."""

    __tablename__ = "inbox_update"
    __table_args__ = (UniqueConstraint("channel", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=20)
    key: str = Field(max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: dt.datetime = _time(default_factory=utcnow)


class ProcessedUpdate(SQLModel, table=True):
    __tablename__ = "processed_update"

    channel: str = Field(primary_key=True, max_length=20)
    key: str = Field(primary_key=True, max_length=100)
    created_at: dt.datetime = _time(default_factory=utcnow)


class Follower(SQLModel, table=True):
    """A resident who chose to follow an existing case instead of filing a duplicate."""

    appeal_id: int = Field(foreign_key="appeal.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    created_at: dt.datetime = _time(default_factory=utcnow)


class Invite(SQLModel, table=True):
    """A one-time code that binds a person (or a department's group chat) to a role."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=20)
    role: str = Field(max_length=20)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    grid: str | None = Field(default=None, max_length=50)
    created_at: dt.datetime = _time(default_factory=utcnow)
    used_at: dt.datetime | None = _time(default=None)
    used_by: str | None = Field(default=None, max_length=130)  # channel:external id or chat
    revoked: bool = False


class AppealSequence(SQLModel, table=True):
    __tablename__ = "appeal_sequence"

    day: str = Field(primary_key=True, max_length=8)
    last: int = 0


class ApiToken(SQLModel, table=True):
    """A messenger API credential shared by every worker (WeChat's access_token)."""

    __tablename__ = "api_token"

    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(max_length=1000)
    expires_at: dt.datetime = _time()


class WebLogin(SQLModel, table=True):
    """A one-time sign-in link to the web console: the hash of its token, whose it is, and
    until when it may be used (once)."""

    __tablename__ = "web_login"

    token_hash: str = Field(primary_key=True, max_length=64)
    person_id: int = Field(foreign_key="person.id")
    created_at: dt.datetime = _time(default_factory=utcnow)
    expires_at: dt.datetime = _time()
    used_at: dt.datetime | None = _time(default=None)


class WebSession(SQLModel, table=True):
    """A signed-in browser: the hash of its cookie's token, the form token (CSRF) of its
    pages, and its end (expiry, or sign-out)."""

    __tablename__ = "web_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    csrf: str = Field(max_length=64)
    created_at: dt.datetime = _time(default_factory=utcnow)
    expires_at: dt.datetime = _time()
    ended_at: dt.datetime | None = _time(default=None)


class ReportRun(SQLModel, table=True):
    """A scheduled report that was run (posted, and for a month 回头看), by the time it was
    due: the clock runs every one due since the latest, so none is lost while it was down."""

    __tablename__ = "report_run"

    period: str = Field(primary_key=True, max_length=10)
    due_at: dt.datetime = _time(primary_key=True)
    created_at: dt.datetime = _time(default_factory=utcnow)


class LastInbound(SQLModel, table=True):
    """When someone last wrote to us in a chat: WeChat lets the customer-service API answer
    for 48 hours after it, so every worker must know it."""

    __tablename__ = "last_inbound"

    channel: str = Field(primary_key=True, max_length=20)
    chat_id: str = Field(primary_key=True, max_length=100)
    at: dt.datetime = _time()


class AuditLog(SQLModel, table=True):
    """A command that read or removed personal data (purge, person export or erase): when,
    and what it concerned (case numbers, a masked phone, counts). Rows are only inserted."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    action: str = Field(max_length=30)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = _time(default_factory=utcnow)


class FailedOpen(SQLModel, table=True):
    """A wrong case number and phone on the mobile page (凭编号和电话查询), once by the browser
    and once by its address (hashed): every process counts them, so that the lock-out holds
    across a service's workers and restarts."""

    __tablename__ = "failed_open"
    __table_args__ = (Index("ix_failed_open_key_at", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64)
    at: dt.datetime = _time(default_factory=utcnow)


class ClockLease(SQLModel, table=True):
    """Which process runs the clock, on SQLite: the holder renews its lease every sweep, and
    another process may take it once it has expired. (PostgreSQL elects by an advisory lock
    instead; see scheduler/election.py.)"""

    __tablename__ = "clock_lease"

    name: str = Field(primary_key=True, max_length=20)
    holder: str = Field(max_length=200)  # host:pid
    expires_at: dt.datetime = _time()
