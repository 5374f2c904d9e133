"""Delivers outbox rows through the channel senders; a failed send is retried with backoff.

Each row is claimed (its next attempt pushed `LEASE` ahead) in its own short transaction just
before it is sent, with no transaction open during the send — a slow or rate-limited channel
never holds a database lock, and a claim covers one send, not a whole batch. The row is then
marked sent or failed; that mark is retried once on a fresh connection (a failover), and a
row whose mark fails costs the others nothing. A process that dies mid-send leaves the claim
to expire and the row is sent again: delivery is at least once. A failed row is retried with
backoff (up to BACKOFF_MAX apart, for about a day) until it goes or its chat is unreachable;
the later rows of the same chat wait for it, so a chat's messages keep their order. Different
chats are sent to at once (see `drain`): a chat its channel holds back holds back no other.

A dialog turn's replies are rows too (storage.replies): the channel sends them at once and
`settle`s them; the drain sends those it could not.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy
from sqlalchemy import func, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from messages.about import about
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
WORKERS = 8  # chats sent to at once; the channel's limiter still paces them all
BUDGET = 10.0  # seconds: a drain starts no chat's second row after this
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
    """(id, channel, chat) of up to `limit` rows due, read only (claims come one by one):
    each chat's oldest first, then each chat's second oldest…, so that a chat with a long
    queue does not crowd the others out of the drain. Read once more on a fresh connection
    if the database dropped this one."""
    oldest_first = (col(Outbox.next_attempt_at), col(Outbox.id))
    chat = (col(Outbox.channel), col(Outbox.chat_id))
    place = func.row_number().over(partition_by=chat, order_by=oldest_first).label("place")
    due = (
        sqlalchemy.select(*oldest_first, *chat, place)
        .where(
            col(Outbox.sent_at).is_(None),
            col(Outbox.next_attempt_at) <= utcnow(),
            col(Outbox.attempts) < MAX_ATTEMPTS,
            col(Outbox.channel).in_(channels),
        )
        .subquery()
    )
    query = (
        select(due.c.id, due.c.channel, due.c.chat_id)
        .order_by(due.c.place, due.c.next_attempt_at, due.c.id)
        .limit(limit)
    )

    def read() -> list[tuple[int, str, str]]:
        with sessions() as session:
            return [(row_id, channel, chat) for row_id, channel, chat in session.execute(query)]

    return again_if_dropped(read, "the outbox's due rows")


def _claim(sessions: sessionmaker[Session], row_id: int) -> Outbox | None:
    """The row, its next attempt pushed LEASE ahead; None if it is no longer due (sent, or
    claimed by another drain meanwhile). Once more on a fresh connection if the database
    dropped this one."""

    def claim() -> Outbox | None:
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

    return again_if_dropped(claim, f"the claim of outbox {row_id}")


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
    sessions: sessionmaker[Session],
    senders: Mapping[str, Sender],
    *,
    limit: int = 100,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Send what is due on the channels we have senders for; returns how many were sent.

    Each chat's rows go in order in a worker of their own, up to WORKERS chats at once, so a
    group held back by its channel's limits holds back no one else. Rows queued meanwhile
    wait for the next drain; so that it comes soon, no chat starts another row once the drain
    has run BUDGET seconds (by `clock`), but each still sends its first.
    """
    chats: dict[tuple[str, str], list[int]] = {}
    for row_id, channel, chat_id in _due(sessions, set(senders), limit):
        chats.setdefault((channel, chat_id), []).append(row_id)
    if not chats:
        return 0
    until = clock() + BUDGET
    with ThreadPoolExecutor(min(WORKERS, len(chats)), thread_name_prefix="outbox") as pool:
        done = [
            pool.submit(_send_chat, sessions, senders[channel], chat_id, rows, until, clock)
            for (channel, chat_id), rows in chats.items()
        ]
    return sum(future.result() for future in done)


def _number(sessions: sessionmaker[Session], appeal_id: int | None) -> str | None:
    """The number of the case an outbox row is about, if any (for the log)."""
    if appeal_id is None:
        return None
    with sessions() as session:
        appeal = session.get(Appeal, appeal_id)
        return None if appeal is None else appeal.number


def _send_chat(
    sessions: sessionmaker[Session],
    send: Sender,
    chat_id: str,
    row_ids: list[int],
    until: float,
    clock: Callable[[], float],
) -> int:
    """Send one chat's rows in order until one fails (the later ones wait for it) or the
    drain's budget is spent; returns how many were sent."""
    sent = 0
    for position, row_id in enumerate(row_ids):
        if position and clock() >= until:
            break
        row = _claim(sessions, row_id)
        if row is None:
            continue
        try:
            send(chat_id, render(row))
        except Exception as exc:  # a channel failure must not stop the others
            with about(channel=row.channel, case=_number(sessions, row.appeal_id)):
                log.warning("outbox %s failed: %s", row_id, type(exc).__name__)
                _finish(sessions, row_id, exc)
            break
        _finish(sessions, row_id, None)
        sent += 1
    return sent
