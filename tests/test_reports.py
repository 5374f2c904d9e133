"""Reports: the rates are computed from the ledger, posted to the center, and 回头看 acts."""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import time_machine
from sqlmodel import Session, select

from bot.app import App
from scheduler.reports import build_report, format_text, look_back, period_bounds, run_reports
from storage.db import transaction
from storage.models import Appeal, Department, Outbox, Person
from storage.roles import Role
from storage.types import utcnow
from tests.dialog_helpers import bound
from workflow import service
from workflow.followup import INBOX, transition
from workflow.lifecycle import SYSTEM, Action, Actor, Status
from workflow.service import Draft

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=SHANGHAI)


def _referral(app: App, session: Session, category: str, department: Department) -> Appeal:
    resident = service.person_for(session, channel="console", external_id="r")
    submitted = service.submit(
        session,
        resident=resident,
        channel="console",
        draft=Draft(text="小区门口道路破损严重，坑洼不平，车辆通行困难", grid="东湖3网格"),
        classifier=app.dialog.classifier,
        policy=app.dialog.policy,
    )
    appeal = submitted.appeal
    appeal.category, appeal.disposition = category, "referral"
    if appeal.status != Status.DISPATCHED:
        appeal.status = Status.SUBMITTED.value
        appeal.department_id = department.id
        transition(
            session, appeal, Action.DISPATCH, SYSTEM, department.name, policy=app.dialog.policy
        )
    appeal.department_id = department.id
    return appeal


def _staff(session: Session, department: Department) -> Actor:
    person = Person(channel="console", external_id=f"staff{department.id}", role=Role.STAFF.value)
    person.department_id = department.id
    session.add(person)
    session.flush()
    return Actor.of(person)


def test_a_week_of_cases(app: App) -> None:
    policy = app.dialog.policy
    with time_machine.travel(_at(16), tick=False) as clock:
        assert run_reports(app.sessions, policy, "week") == []  # the first run owes none
        with transaction(app.sessions) as session:
            roads = bound(session, "住建局", "dept")
            bound(session, "综治中心", "center")
            staff = _staff(session, roads)
            on_time = _referral(app, session, "城乡建设", roads)
            late = _referral(app, session, "城乡建设", roads)
            dispute = _referral(app, session, "矛盾纠纷", roads)
            transition(session, on_time, Action.SIGN, staff, policy=policy)
            transition(session, on_time, Action.RESOLVE, staff, "已修复路面", policy=policy)
            on_time.rating = "满意"
            transition(
                session,
                on_time,
                Action.RATE,
                Actor(Role.RESIDENT, on_time.resident_id),
                "满意",
                policy=policy,
            )
        clock.move_to(_at(21))  # a Saturday
        with transaction(app.sessions) as session:
            roads = session.exec(select(Department).where(Department.name == "住建局")).one()
            weekend = _referral(app, session, "城乡建设", roads)
            weekend_number = weekend.number
            late = session.exec(select(Appeal).where(Appeal.id == late.id)).one()
            staff = Actor(Role.STAFF, None, roads.id)
            transition(session, late, Action.SIGN, staff, policy=policy)
            transition(session, late, Action.RESOLVE, staff, "已修复", policy=policy)
        clock.move_to(_at(23, 9))  # Monday: the report of last week
        with app.sessions() as session:
            report = build_report(
                session, period="week", now=utcnow(), calendar=policy.calendar, remind_at=0.75
            )
        assert (report.start, report.end) == ("2026-11-16", "2026-11-22")
        assert report.received == 4
        assert report.on_days_off == 1
        assert report.by_grid == [("东湖3网格", 4)]
        assert report.finish_rate == 0.5  # two of four resolved
        # on time: one of (two resolved + the open dispute past its deadline + the weekend case
        # whose deadline, Tuesday, has not come yet)
        assert report.on_time_rate == round(1 / 3, 4)
        # signed in time: one of (two signed + the dispute unsigned past its deadline; the
        # weekend case may still be signed on Monday)
        assert report.response_rate == round(1 / 3, 4)
        assert report.satisfaction_rate == 1.0
        assert report.dispute_resolution_rate == 0.0
        flags = {o["number"]: o["level"] for o in report.overdue}
        assert flags[dispute.number] == "red" and weekend_number not in flags
        text = format_text(report)
        assert "【周报】2026-11-16 至 2026-11-22" in text and "按期办结率 33.3%" in text
        assert json.loads(json.dumps(report.as_json(), ensure_ascii=False))["received"] == 4
        assert run_reports(app.sessions, policy, "week") == [report]
        assert run_reports(app.sessions, policy, "week") == []  # nothing twice
        with app.sessions() as session:
            posts = session.exec(select(Outbox).where(Outbox.chat_id == "center")).all()
        assert len([p for p in posts if p.message == "report.post"]) == 1


def test_monthly_look_back_chases_open_cases_and_reopens_dissatisfied_ones(app: App) -> None:
    policy = app.dialog.policy
    with time_machine.travel(_at(10), tick=False) as clock:
        with transaction(app.sessions) as session:
            roads = bound(session, "住建局", "dept")
            staff = _staff(session, roads)
            still_open = _referral(app, session, "城乡建设", roads)
            unhappy = _referral(app, session, "城乡建设", roads)
            transition(session, unhappy, Action.SIGN, staff, policy=policy)
            transition(session, unhappy, Action.RESOLVE, staff, "已处理", policy=policy)
            transition(session, unhappy, Action.CLOSE, SYSTEM, "未评价", policy=policy)
            unhappy.rating = "不满意"
        clock.move_to(dt.datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI))
        start, end = period_bounds("month", utcnow(), policy.calendar)
        with transaction(app.sessions) as session:
            assert look_back(session, policy=policy, start=start, end=end) == 2
        with app.sessions() as session:
            reopened = session.get(Appeal, unhappy.id)
            assert reopened is not None and reopened.status == Status.REOPENED
            looked = select(Outbox).where(Outbox.message == "notify.look_back")
            chased = session.exec(looked.where(Outbox.channel != INBOX)).all()
            assert [c.params["number"] for c in chased] == [still_open.number]


def test_the_text_report_speaks_chinese_and_the_json_keeps_codes_and_nulls(app: App) -> None:
    calendar = app.dialog.policy.calendar
    with time_machine.travel(_at(25), tick=False):  # a Wednesday morning
        with transaction(app.sessions) as session:
            roads = bound(session, "住建局", "dept")
            _referral(app, session, "城乡建设", roads).grid = None
        with app.sessions() as session:
            now = utcnow()
            report = build_report(session, period="day", now=now, calendar=calendar, remind_at=1)
    text = format_text(report)
    assert re.findall(r"[A-Za-z]{3,}", text) == []  # no console, referral, …
    assert "渠道：控制台 1" in text and "办理方式：转办 1" in text
    assert "网格：未指定网格 1" in text
    # Dispatched this morning, to be signed by tomorrow night: nothing to measure yet.
    assert report.response_rate is None and "响应率 —" in text
    data = json.loads(json.dumps(report.as_json(), ensure_ascii=False))
    assert data["by_grid"] == [[None, 1]] and data["response_rate"] is None
    assert data["by_channel"] == {"console": 1} and data["by_disposition"] == {"referral": 1}


def test_a_report_may_cover_the_period_of_a_given_day_so_far(app: App) -> None:
    calendar = app.dialog.policy.calendar
    now = _at(25).astimezone(dt.UTC)  # a Wednesday

    def local(period: str, day: dt.date | None = None) -> tuple[str, str]:
        start, end = period_bounds(period, now, calendar, day=day)
        return start.astimezone(SHANGHAI).isoformat(), end.astimezone(SHANGHAI).isoformat()

    midnight = "T00:00:00+08:00"
    wednesday = dt.date(2026, 11, 25)
    assert local("week") == (f"2026-11-16{midnight}", f"2026-11-23{midnight}")  # the last one
    assert local("week", wednesday) == (f"2026-11-23{midnight}", f"2026-11-30{midnight}")
    assert local("month") == (f"2026-10-01{midnight}", f"2026-11-01{midnight}")
    assert local("month", wednesday) == (f"2026-11-01{midnight}", f"2026-12-01{midnight}")
    assert local("day", wednesday) == (f"2026-11-25{midnight}", f"2026-11-26{midnight}")
    # A Monday's day still covers the weekend before it.
    monday = dt.date(2026, 11, 30)
    assert local("day", monday) == (f"2026-11-28{midnight}", f"2026-12-01{midnight}")
