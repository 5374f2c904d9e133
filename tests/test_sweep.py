"""The clock under a controlled time: reminders, 督办, escalation, callbacks, reopen, downtime."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import col, select

from bot.app import App
from messages.catalog import STAGE
from messages.types import Kind
from scheduler.outbox import render
from scheduler.sweep import Sweeper
from storage.db import transaction
from storage.models import Appeal, AppealEvent, Outbox, Person, Timer
from storage.roles import Role
from tests.dialog_helpers import Resident, bound, file_referral
from workflow import staff
from workflow.cards import local_deadline
from workflow.followup import transition
from workflow.lifecycle import Action, Actor, Status

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(MONDAY_10AM, tick=False) as traveller:
        yield traveller


def _file(app: App, resident: Resident) -> str:
    """A referral to 住建局 (its chat bound), with the center, a leader and a staff member."""
    with transaction(app.sessions) as session:
        department = bound(session, "住建局")
        bound(session, "综治中心", "center")
        leader = Person(channel="console", external_id="leader", chat_id="leader", role="leader")
        staff = Person(channel="console", external_id="staff", role="staff")
        staff.department_id = department.id
        session.add_all([leader, staff])
    return file_referral(app, resident, chat="dept-chat")


def _events(app: App, action: str) -> list[AppealEvent]:
    with app.sessions() as session:
        return list(session.exec(select(AppealEvent).where(AppealEvent.action == action)))


def _messages(app: App, chat_id: str) -> list[str]:
    with app.sessions() as session:
        rows = session.exec(
            select(Outbox).where(Outbox.chat_id == chat_id).order_by(col(Outbox.id))
        )
        return [render(row).text for row in rows]


def _act(app: App, action: Action, note: str | None = None) -> None:
    with transaction(app.sessions) as session:
        appeal = session.exec(select(Appeal)).one()
        staff = session.exec(select(Person).where(Person.role == Role.STAFF.value)).one()
        transition(session, appeal, action, Actor.of(staff), note, policy=app.dialog.policy)


def _at(clock: time_machine.Coordinates, day: int, hour: int, minute: int = 0) -> None:
    clock.move_to(dt.datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI))


def test_reminder_督办_and_escalation_of_an_unsigned_referral(
    app: App, clock: time_machine.Coordinates
) -> None:
    _file(app, Resident(app.dialog))
    sweeper = Sweeper(app.sessions, app.dialog.policy)
    assert sweeper.sweep() == 0
    _at(clock, 24, 15)  # past 75 % of "sign within 1 working day" (Tuesday midnight)
    assert sweeper.sweep() == 1
    assert "签收期限为" in _messages(app, "dept-chat")[-1]
    _at(clock, 25, 0, 1)  # the sign deadline has passed
    sweeper.sweep()
    assert "督办" in _messages(app, "dept-chat")[-1] and "签收" in _messages(app, "dept-chat")[-1]
    assert "督办" in _messages(app, "center")[-1]
    _at(clock, 27, 12)  # finish deadline (Wed midnight) + 24 h escalation threshold passed
    sweeper.sweep()
    assert "升级督办" in _messages(app, "leader")[-1]
    assert [e.action for e in _events(app, "escalate")] == ["escalate"]
    assert len(_events(app, "supervise")) == 2  # sign and finish deadlines
    _at(clock, 30, 12)
    assert sweeper.sweep() == 0  # nothing fires twice


def test_signed_in_time_means_no_督办_for_signing(
    app: App, clock: time_machine.Coordinates
) -> None:
    _file(app, Resident(app.dialog))
    _act(app, Action.SIGN)
    _at(clock, 25, 1)
    Sweeper(app.sessions, app.dialog.policy).sweep()
    assert [e.note for e in _events(app, "supervise")] == []
    assert "签收" in _messages(app, "u1")[-1]  # the resident was told it was signed


def test_callback_waits_for_the_morning_and_a_rating_counts_once(
    app: App, clock: time_machine.Coordinates
) -> None:
    resident = Resident(app.dialog)
    number = _file(app, resident)
    _act(app, Action.SIGN)
    _at(clock, 23, 22)  # resolved at 22:00: the callback is due at 22:00 next day...
    _act(app, Action.RESOLVE, "已疏通污水井并消毒")
    assert "已疏通污水井并消毒" in _messages(app, "u1")[-1]
    sweeper = Sweeper(app.sessions, app.dialog.policy)
    _at(clock, 24, 22, 30)
    sweeper.sweep()  # ...which is in the quiet hours: postponed to 08:00
    assert "评价" not in _messages(app, "u1")[-1]
    _at(clock, 25, 8, 1)
    sweeper.sweep()
    assert "请对办理结果进行评价" in _messages(app, "u1")[-1]
    resident.transcript([("1", "感谢您的评价！"), ("处理得很及时", "已办结归档")])
    button = resident.inbound(Kind.BUTTON, text=f"rate:{number}:不满意")
    assert "已经评价过了" in resident.send(button)
    with app.sessions() as session:
        appeal = session.exec(select(Appeal)).one()
        assert (appeal.status, appeal.rating) == ("rated", "满意")
    assert [e.note for e in _events(app, "comment")] == ["处理得很及时"]


def test_dissatisfied_reopens_to_the_same_department_with_a_new_deadline(
    app: App, clock: time_machine.Coordinates
) -> None:
    resident = Resident(app.dialog)
    number = _file(app, resident)
    _act(app, Action.SIGN)
    _act(app, Action.RESOLVE, "已疏通")
    button = resident.inbound(Kind.BUTTON, text=f"rate:{number}:不满意")
    assert "不满意的原因" in resident.send(button)
    assert "重新办理" in resident.say("第二天又堵了，根本没修好")
    with app.sessions() as session:
        appeal = session.exec(select(Appeal)).one()
        assert (appeal.status, appeal.reopen_count, appeal.rating) == ("reopened", 1, "不满意")
        assert appeal.finish_due_at is not None
        assert appeal.finish_due_at.astimezone(SHANGHAI).date() == dt.date(2026, 11, 26)
    assert "群众不满意，重办：第二天又堵了" in _messages(app, "dept-chat")[-1]
    # The reopened case has its own reminders, on the new deadlines.
    _at(clock, 26, 0, 1)
    Sweeper(app.sessions, app.dialog.policy).sweep()
    assert "督办" in _messages(app, "dept-chat")[-1]


def test_no_answer_is_asked_again_then_closed_as_未评价(
    app: App, clock: time_machine.Coordinates
) -> None:
    _file(app, Resident(app.dialog))
    _act(app, Action.SIGN)
    _act(app, Action.RESOLVE, "已疏通")
    sweeper = Sweeper(app.sessions, app.dialog.policy)
    for day in (24, 25, 26, 27):
        _at(clock, day, 10, 5)
        sweeper.sweep()
    assert len(_events(app, "callback")) == 3  # the first call and two retries
    with app.sessions() as session:
        appeal = session.exec(select(Appeal)).one()
        assert appeal.status == Status.CLOSED
    assert [e.note for e in _events(app, "close")] == ["未评价"]


def test_after_downtime_each_missed_timer_fires_once(
    app: App, clock: time_machine.Coordinates
) -> None:
    _file(app, Resident(app.dialog))
    _at(clock, 30, 9)  # a week of downtime
    sweeper = Sweeper(app.sessions, app.dialog.policy)
    done = sweeper.sweep()
    assert done == 5  # two reminders, two deadlines, one escalation
    assert sweeper.sweep() == 0
    assert len(_events(app, "remind")) == 2
    with app.sessions() as session:
        assert session.exec(select(Timer).where(col(Timer.done_at).is_(None))).all() == []


def test_two_sweepers_never_act_twice(any_app: App, clock: time_machine.Coordinates) -> None:
    resident = Resident(any_app.dialog)
    for _ in range(3):
        file_referral(any_app, resident)
    _at(clock, 30, 9)
    sweepers = [Sweeper(any_app.sessions, any_app.dialog.policy) for _ in range(2)]
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def run(sweeper: Sweeper) -> None:
        barrier.wait()
        counts.append(sweeper.sweep())

    threads = [threading.Thread(target=run, args=(s,)) for s in sweepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with any_app.sessions() as session:
        timers = session.exec(select(Timer)).all()
        reminders = session.exec(select(AppealEvent).where(AppealEvent.action == "remind")).all()
    assert sum(counts) == len(timers) == 15
    assert len(reminders) == 6


def test_an_extended_case_is_reminded_and_escalated_against_its_new_deadline(
    app: App, clock: time_machine.Coordinates
) -> None:
    _file(app, Resident(app.dialog))
    _act(app, Action.SIGN)
    policy = app.dialog.policy
    with transaction(app.sessions) as session:
        appeal = session.exec(select(Appeal)).one()
        member = session.exec(select(Person).where(Person.role == Role.STAFF.value)).one()
        dispatcher = Person(channel="console", external_id="d", role=Role.DISPATCHER.value)
        session.add(dispatcher)
        session.flush()
        old_due = appeal.finish_due_at
        staff.request_extension(
            session, appeal=appeal, actor=Actor.of(member), days=3, reason="待材料", note="3天"
        )
        staff.decide_extension(
            session, appeal=appeal, actor=Actor.of(dispatcher), approve=True, policy=policy
        )
        due = appeal.finish_due_at
    assert old_due is not None and due is not None and due > old_due
    sweeper = Sweeper(app.sessions, policy)
    escalate_after = dt.timedelta(hours=policy.follow_up.escalate_after_hours)
    clock.move_to(old_due + escalate_after + dt.timedelta(hours=1))  # the old escalation time
    sweeper.sweep()
    assert _events(app, "escalate") == []
    clock.move_to(due - dt.timedelta(hours=1))  # the new deadline is close: reminded of it
    sweeper.sweep()
    reminded = f"{STAGE['finish']}期限 {local_deadline(due, policy.calendar)}"
    assert [e.note for e in _events(app, "remind")][-1] == reminded
    clock.move_to(due + escalate_after + dt.timedelta(hours=1))  # long past the new deadline
    sweeper.sweep()
    assert "严重超期" in _messages(app, "leader")[-1]
    assert len(_events(app, "escalate")) == 1
