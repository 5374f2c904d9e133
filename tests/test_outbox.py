"""The outbox drain: sends what is due once, retries failures later, never loses a row."""

from __future__ import annotations

import datetime as dt

import time_machine
from sqlmodel import select

from bot.app import App
from handlers.types import Outbound
from scheduler.outbox import LEASE, _lease, drain
from storage.db import transaction
from storage.models import Outbox


def _queue(app: App, key: str) -> None:
    with transaction(app.sessions) as session:
        session.add(
            Outbox(
                key=key,
                channel="console",
                chat_id="dept-1",
                message="notify.dispatched",
                params={"number": "SQ20261123-0001", "department": "住建局"},
            )
        )


def test_due_rows_are_sent_once(any_app: App) -> None:
    sent: list[tuple[str, str]] = []
    _queue(any_app, "a")
    assert (
        drain(any_app.sessions, {"console": lambda chat, reply: sent.append((chat, reply.text))})
        == 1
    )
    assert (
        drain(any_app.sessions, {"console": lambda chat, reply: sent.append((chat, reply.text))})
        == 0
    )
    assert sent == [("dept-1", "您的诉求 SQ20261123-0001 已转交 住建局 办理。")]


def test_a_failed_send_is_retried_after_backoff(any_app: App) -> None:
    _queue(any_app, "b")

    def broken(chat: str, reply: Outbound) -> None:
        raise ConnectionError("down")

    assert drain(any_app.sessions, {"console": broken}) == 0
    with any_app.sessions() as session:
        row = session.exec(select(Outbox)).one()
        assert (row.attempts, row.error, row.sent_at) == (1, "ConnectionError", None)
    sent: list[str] = []
    assert drain(any_app.sessions, {"console": lambda chat, reply: sent.append(reply.text)}) == 0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    with time_machine.travel(later, tick=False):
        assert (
            drain(any_app.sessions, {"console": lambda chat, reply: sent.append(reply.text)}) == 1
        )
    assert len(sent) == 1


def test_a_row_leased_by_a_sender_that_died_is_sent_after_the_lease(any_app: App) -> None:
    _queue(any_app, "c")
    leased = _lease(any_app.sessions, {"console"}, 10)  # a drain that died before sending
    assert [row.key for row in leased] == ["c"]
    sent: list[str] = []
    assert drain(any_app.sessions, {"console": lambda chat, reply: sent.append(reply.text)}) == 0
    later = dt.datetime.now(dt.UTC) + LEASE + dt.timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        assert (
            drain(any_app.sessions, {"console": lambda chat, reply: sent.append(reply.text)}) == 1
        )
    assert len(sent) == 1


def test_rows_for_a_channel_without_a_sender_wait(app: App) -> None:
    _queue(app, "d")
    assert drain(app.sessions, {}) == 0
    with app.sessions() as session:
        row = session.exec(select(Outbox)).one()
        assert (row.attempts, row.sent_at) == (0, None)
