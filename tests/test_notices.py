"""No notice goes nowhere: a department without a chat of its own is reached through its
people's private chats, and when nobody can be, the center hears of it and the ledger says so."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import time_machine
from sqlmodel import col, select

from bot.app import App
from scheduler.clock import start_clock
from scheduler.outbox import render
from scheduler.sweep import Sweeper
from storage.db import transaction
from storage.models import Appeal, AppealEvent, Follower, Outbox, Person, ReportRun
from storage.roles import Role
from tests.dialog_helpers import Resident, bound, file_referral
from workflow import staff
from workflow.lifecycle import Actor

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _person(
    app: App, name: str, role: Role, department: str | None = None, **fields: object
) -> None:
    with transaction(app.sessions) as session:
        person = Person(channel="console", external_id=name, chat_id=name, role=role.value)
        if department is not None:
            person.department_id = bound(session, department).id
        for field, value in fields.items():
            setattr(person, field, value)
        session.add(person)


def _sent(app: App, chat_id: str) -> list[Outbox]:
    with app.sessions() as session:
        query = select(Outbox).where(Outbox.chat_id == chat_id).order_by(col(Outbox.id))
        return list(session.exec(query))


def _ledger(app: App, action: str) -> list[AppealEvent]:
    with app.sessions() as session:
        return list(session.exec(select(AppealEvent).where(AppealEvent.action == action)))


def test_a_department_without_a_chat_gets_its_card_in_each_staff_members_chat(app: App) -> None:
    _person(app, "wang", Role.STAFF, "住建局")
    _person(app, "liu", Role.STAFF, "住建局")
    _person(app, "blocked", Role.STAFF, "住建局", unreachable=True)
    _person(app, "zhou", Role.STAFF, "城管局")  # another department's
    _person(app, "dispatcher", Role.DISPATCHER)
    number = file_referral(app, Resident(app.dialog))  # 住建局 has no chat bound
    for chat in ("wang", "liu"):
        (card,) = _sent(app, chat)
        assert card.message == "card.department" and number in render(card).text
        assert [o.label for o in render(card).options][:2] == ["签收", "退回"]
    assert _sent(app, "blocked") == [] and _sent(app, "zhou") == []
    assert _sent(app, "dispatcher") == []  # the department was reached: nothing to tell
    assert _ledger(app, "unreached") == []
    # Its staff act on it from there as from the group's card.
    with transaction(app.sessions) as session:
        appeal = session.exec(select(Appeal).where(Appeal.number == number)).one()
        wang = session.exec(select(Person).where(Person.external_id == "wang")).one()
        staff.sign(session, appeal=appeal, actor=Actor.of(wang), policy=app.dialog.policy)


def test_nobody_to_reach_tells_the_center_and_the_ledger(app: App) -> None:
    _person(app, "blocked", Role.STAFF, "住建局", unreachable=True)
    with transaction(app.sessions) as session:
        bound(session, "综治中心", "center-chat")
    resident = Resident(app.dialog)
    number = file_referral(app, resident)
    (notice,) = _sent(app, "center-chat")
    text = render(notice).text
    assert notice.message == "notify.unreached" and text.startswith("⚠️ 住建局 没有绑定工作群")
    assert "【新诉求】" + number in text  # the notice nobody got, in full
    (event,) = _ledger(app, "unreached")
    assert event.note == "住建局"
    assert number in resident.say("查询进度")
    timeline = resident.say("1")
    assert "转交：住建局" in timeline
    assert "未能送达" not in timeline  # the center's wiring, not the resident's case


def test_a_center_without_a_chat_is_its_dispatchers(app: App) -> None:
    _person(app, "dispatcher", Role.DISPATCHER)
    _person(app, "leader", Role.LEADER)
    number = file_referral(app, Resident(app.dialog))  # neither 住建局 nor the center bound
    (notice,) = _sent(app, "dispatcher")
    assert notice.message == "notify.unreached" and number in render(notice).text
    assert _sent(app, "leader") == []
    assert len(_ledger(app, "unreached")) == 1


def _run_clock(app: App) -> None:
    """Start the clock, and stop it once it has taken the clock (and so run the reports owed)."""
    clock = start_clock(app.engine, app.sessions, app.dialog.policy, {}, sweep_seconds=3600)
    deadline = time.monotonic() + 120  # sixteen reports to catch up on a busy machine
    try:
        while not clock.chair.held:
            assert time.monotonic() < deadline, "the clock was not taken"
            time.sleep(0.02)
    finally:
        clock.stop()


def test_reports_due_while_the_bot_was_down_are_posted_at_start(any_app: App) -> None:
    app = any_app
    with transaction(app.sessions) as session:
        bound(session, "综治中心", "center-chat")
    monday = dt.datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)
    with time_machine.travel(monday, tick=False):
        _run_clock(app)  # a new database: it owes no report before now
        file_referral(app, Resident(app.dialog), chat="dept-chat")
    assert [r for r in _sent(app, "center-chat") if r.message == "report.post"] == []
    # Down from then until Wednesday 2 December: 16 evenings, two Mondays, the 1st.
    with time_machine.travel(dt.datetime(2026, 12, 2, 8, 0, tzinfo=SHANGHAI), tick=False):
        _run_clock(app)
        _run_clock(app)  # a restart owes nothing more
    with app.sessions() as session:
        assert len(session.exec(select(ReportRun)).all()) == 3 + 16 + 2 + 1
    posts = [r for r in _sent(app, "center-chat") if r.message == "report.post"]
    assert len(posts) == 16 + 2 + 1
    # Each as it was due (a Monday's day report covers the weekend before it), in order.
    spans: dict[str, list[tuple[str, ...]]] = {}
    for post in posts:
        period, *span = post.key.split(":")[1:4]
        spans.setdefault(period, []).append(tuple(span))
    assert len(spans["day"]) == 16 and spans["day"][:2] == [
        ("2026-11-14", "2026-11-16"),
        ("2026-11-17", "2026-11-17"),
    ]
    assert spans["week"] == [("2026-11-16", "2026-11-22"), ("2026-11-23", "2026-11-29")]
    assert spans["month"] == [("2026-11-01", "2026-11-30")]
    (chased,) = [r for r in _sent(app, "dept-chat") if r.message == "notify.look_back"]
    assert "回头看" in render(chased).text  # November's open case, chased on the 1st


def test_followers_are_told_the_result_and_only_the_filer_is_asked_to_rate(app: App) -> None:
    """As at a 12345 center, the satisfaction call goes to whoever filed the case; a resident
    who only followed it hears of its progress and result but rates nothing."""
    monday = dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    policy = app.dialog.policy
    with time_machine.travel(monday, tick=False) as clock:
        number = file_referral(app, Resident(app.dialog, "filer"), chat="dept-chat")
        _person(app, "follower", Role.RESIDENT)
        with transaction(app.sessions) as session:
            appeal = session.exec(select(Appeal).where(Appeal.number == number)).one()
            follower = session.exec(select(Person).where(Person.external_id == "follower")).one()
            assert appeal.id is not None and follower.id is not None
            session.add(Follower(appeal_id=appeal.id, person_id=follower.id))
            actor = Actor(Role.STAFF, None, appeal.department_id)
            staff.sign(session, appeal=appeal, actor=actor, policy=policy)
            staff.resolve(session, appeal=appeal, actor=actor, result="已修复", policy=policy)
        clock.move_to(monday + dt.timedelta(days=2))
        assert Sweeper(app.sessions, policy).sweep() >= 1
    told = [row.message for row in _sent(app, "follower")]
    assert told == ["notify.signed", "notify.resolved"]
    assert "notify.rate_request" in [row.message for row in _sent(app, "filer")]
