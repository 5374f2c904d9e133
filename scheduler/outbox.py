"""Delivers outbox rows through the channel senders; a failed send is retried with backoff.

Each row is claimed (its next attempt pushed `LEASE` ahead) in its own short transaction just
before it is sent, with no transaction open during the send — a slow or rate-limited channel
never holds a database lock, and a claim covers one send, not a whole batch. The row is then
marked sent or failed; that mark is retried once on a fresh connection (a failover), and a
row whose mark fails costs the others nothing. A process that dies mid-send leaves the claim
to expire and the row is sent again: delivery is at least once. A failed row is retried with
backoff (up to BACKOFF_MAX apart, for about a day) until it goes or its chat is unreachable;
the later rows of the same chat wait for it, so a chat's messages keep their order.

A dialog turn's replies are rows too (storage.replies): the channel sends them at once and
`settle`s them; the drain sends those it could not.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from messages.catalog import shown, t
from messages.types import Option, Outbound, Undeliverable
from storage.db import again_if_dropped, transaction
from storage.models import Appeal, Outbox
from storage.replies import REPLY
from storage.types import utcnow
from workflow import service
from workflow.lifecycle import SYSTEM, record

log = logging.getLogger(__name__)

Sender = Callable[[str, Outbound], None]
LEASE = dt.timedelta(seconds=30)  # a channel's send gives up well within it
BACKOFF_MAX = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 150  # 2, 4, … 512 s, then every 10 minutes: about a day


def render(row: Outbox) -> Outbound:
    if row.message == REPLY:
        return Outbound.from_json(row.params, key=row.key)
    options = tuple(Option(shown(label), value) for label, value in row.options)
    photos = tuple(str(path) for path in row.params.get("photos", ()))
    return Outbound(t(row.message, **row.params), options, photos)


def backoff(attempts: int) -> dt.timedelta:
    """How long after its `attempts`-th failure a row is tried again."""
    return min(BACKOFF_MAX, dt.timedelta(seconds=2 ** min(attempts, 16)))


def _due(
    sessions: sessionmaker[Session], channels: set[str], limit: int
) -> list[tuple[int, str, str]]:
    """(id, channel, chat) of rows due, oldest first; read only (claims come one by one)."""
    query = (
        select(Outbox.id, Outbox.channel, Outbox.chat_id)
        .where(
            col(Outbox.sent_at).is_(None),
            Outbox.next_attempt_at <= utcnow(),
            Outbox.attempts < MAX_ATTEMPTS,
            col(Outbox.channel).in_(channels),
        )
        .order_by(col(Outbox.next_attempt_at), col(Outbox.id))
        .limit(limit)
    )
    with sessions() as session:
        return [(row_id, channel, chat) for row_id, channel, chat in session.exec(query) if row_id]


def _claim(sessions: sessionmaker[Session], row_id: int) -> Outbox | None:
    """The row, its next attempt pushed LEASE ahead; None if it is no longer due (sent, or
    claimed by another drain meanwhile)."""
    with transaction(sessions) as session:
        now = utcnow()
        query = (
            select(Outbox)
            .where(
                Outbox.id == row_id,
                col(Outbox.sent_at).is_(None),
                Outbox.next_attempt_at <= now,
            )
            .with_for_update(skip_locked=True)
        )
        row = session.exec(query).first()
        if row is not None:
            row.next_attempt_at = now + LEASE
            session.add(row)
        return row


def _mark(session: Session, row: Outbox, error: Exception | None) -> None:
    now = utcnow()
    if error is None:
        row.sent_at = now
    elif isinstance(error, Undeliverable):
        row.attempts, row.error = MAX_ATTEMPTS, f"Undeliverable: {error.reason}"
        _record_unreachable(session, row, error)
    else:
        row.attempts += 1
        row.error = type(error).__name__
        row.next_attempt_at = now + backoff(row.attempts)
        # The chat's later messages wait for this one: they keep their order.
        session.connection().execute(
            update(Outbox)
            .where(
                col(Outbox.channel) == row.channel,
                col(Outbox.chat_id) == row.chat_id,
                col(Outbox.id) > row.id,
                col(Outbox.sent_at).is_(None),
                col(Outbox.next_attempt_at) < row.next_attempt_at,
            )
            .values(next_attempt_at=row.next_attempt_at)
        )
    session.add(row)


def _finish(sessions: sessionmaker[Session], row_id: int, error: Exception | None) -> None:
    """Mark the row sent or failed; once more on a fresh connection if the database dropped
    this one. If even that fails the row is sent again after its claim: logged, not raised."""

    def mark() -> None:
        with transaction(sessions) as session:
            row = session.get(Outbox, row_id)
            if row is not None:
                _mark(session, row, error)

    try:
        again_if_dropped(mark, f"the mark of outbox {row_id}")
    except DBAPIError:
        log.exception("outbox %s: could not record the send", row_id)


def settle(
    session: Session,
    sent: Sequence[str],
    failed: Sequence[str] = (),
    error: Exception | None = None,
) -> None:
    """In the caller's transaction: replies a channel sent itself (`sent`, by key) are done;
    those it could not send (`failed`, after `error`) are left to the drain, as after a
    failed attempt."""
    if sent:
        session.connection().execute(
            update(Outbox)
            .where(col(Outbox.key).in_(sent), col(Outbox.sent_at).is_(None))
            .values(sent_at=utcnow())
        )
    if failed:
        for row in session.exec(select(Outbox).where(col(Outbox.key).in_(failed))):
            _mark(session, row, error or RuntimeError("not sent"))


def release(sessions: sessionmaker[Session], channel: str) -> int:
    """Make the channel's unsent replies due now: at start-up, when no other process can be
    sending them (Telegram lets one poller only). Returns how many."""
    with transaction(sessions) as session:
        now = utcnow()
        result = session.connection().execute(
            update(Outbox)
            .where(
                col(Outbox.channel) == channel,
                col(Outbox.message) == REPLY,
                col(Outbox.sent_at).is_(None),
                col(Outbox.next_attempt_at) > now,
            )
            .values(next_attempt_at=now)
        )
        return result.rowcount


def _record_unreachable(session: Session, row: Outbox, error: Undeliverable) -> None:
    """Mark who can't be reached and put the case on the phone-call list (the ledger)."""
    if error.unsubscribed:
        service.set_reachable(session, channel=row.channel, chat_id=row.chat_id, reachable=False)
    appeal = session.get(Appeal, row.appeal_id) if row.appeal_id is not None else None
    if appeal is not None:
        record(session, appeal, "unreachable", SYSTEM, t("outbox.undeliverable"))


def drain(
    sessions: sessionmaker[Session], senders: Mapping[str, Sender], *, limit: int = 100
) -> int:
    """Send what is due on the channels we have senders for; returns how many were sent."""
    sent = 0
    held: set[tuple[str, str]] = set()  # chats whose earlier row failed in this drain
    for row_id, channel, chat_id in _due(sessions, set(senders), limit):
        if (channel, chat_id) in held:
            continue
        row = _claim(sessions, row_id)
        if row is None:
            continue
        try:
            senders[channel](chat_id, render(row))
        except Exception as exc:  # a channel failure must not stop the others
            log.warning("outbox %s to %s failed: %s", row_id, channel, type(exc).__name__)
            held.add((channel, chat_id))
            _finish(sessions, row_id, exc)
        else:
            _finish(sessions, row_id, None)
            sent += 1
    return sent
