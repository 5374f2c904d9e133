"""The outbox drain: sends what is due once, retries failures later, never loses a row."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import text
from sqlmodel import col, select

from bot.app import App, build
from bot.settings import Secrets, Settings
from messages.types import Outbound
from nlp.classifier import Classifier
from scheduler.outbox import BUDGET, LEASE, _claim, drain
from storage.db import again_if_dropped, make_engine, transaction
from storage.models import Outbox
from tests.virtual_time import LimitedSender, loop_in_thread

GROUP = "-1001"  # a department group: Telegram lets 20 messages a minute in


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
    with any_app.sessions() as session:
        row_id = session.exec(select(Outbox.id)).one()
    assert row_id is not None
    claimed = _claim(any_app.sessions, row_id)  # by a drain that died before sending
    assert claimed is not None and claimed.key == "c"
    assert _claim(any_app.sessions, row_id) is None  # nobody else takes it meanwhile
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


def _queue_to(app: App, key: str, chat_id: str) -> None:
    with transaction(app.sessions) as session:
        session.add(
            Outbox(
                key=key,
                channel="console",
                chat_id=chat_id,
                message="notify.dispatched",
                params={"number": key, "department": "住建局"},
            )
        )


def test_a_failed_row_holds_its_chat_only_and_order_is_kept(any_app: App) -> None:
    for key, chat in (("1", "a"), ("2", "a"), ("3", "b"), ("4", "a")):
        _queue_to(any_app, key, chat)
    sent: list[str] = []

    def flaky(chat: str, reply: Outbound) -> None:
        if "诉求 1 " in reply.text and len(sent) < 10 and "first" not in sent:
            sent.append("first")
            raise ConnectionError("down")
        sent.append(reply.text.split()[0] + chat)

    assert drain(any_app.sessions, {"console": flaky}) == 1  # chat b only
    assert sorted(sent) == ["first", "您的诉求b"]  # chats go at once: in either order
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    with time_machine.travel(later, tick=False):
        assert drain(any_app.sessions, {"console": flaky}) == 3
    assert sent[2:] == ["您的诉求a"] * 3
    with any_app.sessions() as session:
        order = [
            row.key
            for row in session.exec(select(Outbox).order_by(col(Outbox.sent_at), col(Outbox.id)))
        ]
    assert order.index("1") < order.index("2") < order.index("4")


def test_marks_survive_a_database_failover_without_doubles(
    settings: Settings, classifier: Classifier, postgres_schema_url: str
) -> None:
    """The connection drops right after each send (as in a failover): the mark is written on
    a fresh connection, nothing waits out a claim, nothing is sent twice."""
    app = build(settings, Secrets(database_url=postgres_schema_url), classifier)
    admin = make_engine(postgres_schema_url)
    for number in range(20):
        _queue_to(app, f"n{number}", f"chat{number % 4}")
    sent: list[str] = []

    def backend_pid() -> int:
        with app.engine.connect() as connection:  # a connection of the pool
            return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def send_then_fail_over(chat: str, reply: Outbound) -> None:
        sent.append(reply.text)
        # Chats are sent to at once: another's failover may have dropped this one already.
        backend = again_if_dropped(backend_pid, "the test's look-up")
        with admin.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})

    try:
        assert drain(app.sessions, {"console": send_then_fail_over}) == 20
        later = dt.datetime.now(dt.UTC) + LEASE + dt.timedelta(minutes=15)
        with time_machine.travel(later, tick=False):
            assert drain(app.sessions, {"console": send_then_fail_over}) == 0
        assert len(sent) == len(set(sent)) == 20
    finally:
        app.engine.dispose()
        admin.dispose()


def test_a_busy_group_does_not_hold_back_a_residents_notice(app: App) -> None:
    """Telegram's real limits on a fake clock: 40 cards wait for a department group (20 a
    minute), then a resident's notice; the notice goes at once, the cards at the group's
    pace, and the drain ends after its budget, leaving the rest to the next one."""
    for number in range(40):
        _queue_to(app, f"card{number}", GROUP)
    _queue_to(app, "notice", "5001")
    with loop_in_thread() as loop:
        send = LimitedSender(loop)
        assert drain(app.sessions, {"console": send}, clock=loop.time) == 8
    cards = send.times(GROUP)
    assert send.times("5001") == [pytest.approx(0.0)]  # before sequential sending: 111 s
    assert cards == pytest.approx([0.0, 0.0, 0.0, 3.0, 6.0, 9.0, 12.0])  # burst 3, then 20/min
    with app.sessions() as session:
        waiting = session.exec(select(Outbox).where(col(Outbox.sent_at).is_(None))).all()
    assert len(waiting) == 33 and all(row.attempts == 0 for row in waiting)


def test_a_drain_stops_taking_a_chats_rows_after_its_budget(app: App) -> None:
    for number in range(5):
        _queue_to(app, f"a{number}", "a")
    _queue_to(app, "b0", "b")
    now = 0.0
    sent: list[str] = []

    def slow_for_a(chat: str, reply: Outbound) -> None:
        nonlocal now
        if chat == "a":
            now += BUDGET * 0.4
        sent.append(reply.text.split()[1])

    assert drain(app.sessions, {"console": slow_for_a}, clock=lambda: now) == 4
    assert sorted(sent) == ["a0", "a1", "a2", "b0"]
    assert drain(app.sessions, {"console": slow_for_a}, clock=lambda: now) == 2
    assert sent[4:] == ["a3", "a4"]


def test_a_long_queue_does_not_crowd_other_chats_out_of_a_drain(any_app: App) -> None:
    for number in range(5):
        _queue_to(any_app, f"a{number}", "a")
    _queue_to(any_app, "b0", "b")
    sent: list[str] = []
    senders = {"console": lambda chat, reply: sent.append(chat)}
    assert drain(any_app.sessions, senders, limit=3) == 3
    assert sorted(sent) == ["a", "a", "b"]
