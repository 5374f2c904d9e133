"""Daily, weekly and monthly reports: intake, 办结率, 按期办结率, 响应率, 满意率, 化解率, overdue.

A report covers received appeals in a period of local time: `day` is today so far (on the
first working day after days off, those days too: the weekend ledger), `week` the last
complete Monday-Sunday week, `month` the last complete calendar month; or, given a day, the
day, week or month that contains it (so far, when that is the current one); or `range`, the
days from one date to another, both included. A scope (a department's cases, those a
viewer may see) narrows it to fewer appeals. Rates are None when their denominator is empty
(shown as "—"). The CLI's report, the center's chat, the web dashboard and the Excel period
report are all this one computation.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import ColumnElement, Select, func, true
from sqlalchemy import select as sa_select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from messages.catalog import CHANNEL, DISPOSITION, FLAG, STATUS, t
from scheduler import PERIODS
from storage.db import transaction
from storage.models import Appeal, AppealEvent, Department, ReportRun
from storage.types import utcnow
from workflow.calendar import WorkCalendar
from workflow.followup import (
    RATINGS,
    Policy,
    center_of,
    deadline_flag,
    notify,
    send,
    transition,
)
from workflow.lifecycle import FINISHED, OPEN, SYSTEM, Action, Status

NOT_COUNTED = frozenset({Status.WITHDRAWN, Status.MERGED})
DISPUTES = "矛盾纠纷"
# Daily at 18:00, weekly on Monday 09:00, monthly on the 1st (with 回头看), local time.
SCHEDULE: dict[str, dict[str, Any]] = {
    "day": {"hour": 18, "minute": 0},
    "week": {"day_of_week": "mon", "hour": 9, "minute": 0},
    "month": {"day": 1, "hour": 9, "minute": 30},
}

log = logging.getLogger(__name__)
RANGE = "range"  # a period from one day to another, both included
UNASSIGNED = "综治中心"  # the department row of the center's own and unrouted cases


def period_bounds(
    period: str,
    now: dt.datetime,
    calendar: WorkCalendar,
    *,
    day: dt.date | None = None,
    last: dt.date | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """The period of `day` (local); without one, the period a report covers by default:
    today so far, last week, last month. A range runs from `day` to `last`, both included."""
    today = calendar.local_day(now)
    if period == RANGE:
        if day is None or last is None or last < day:
            raise ValueError("a range needs its first day and a last day not before it")
        start, end = day, last + dt.timedelta(days=1)
    elif period == "day":
        # The first working day after days off also covers them (周末民情台账).
        day = day or today
        start, end = day, day + dt.timedelta(days=1)
        while calendar.is_workday(day) and not calendar.is_workday(start - dt.timedelta(days=1)):
            start -= dt.timedelta(days=1)
    elif period == "week":
        day = day or today - dt.timedelta(days=7)
        start = day - dt.timedelta(days=day.weekday())
        end = start + dt.timedelta(days=7)
    elif period == "month":
        start = (day or today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        end = (start + dt.timedelta(days=31)).replace(day=1)
    else:
        raise ValueError(
            f"unknown period {period!r}; choose one of {', '.join((*PERIODS, RANGE))}"
        )

    def local_midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tzinfo=calendar.zone).astimezone(dt.UTC)

    return local_midnight(start), local_midnight(end)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass
class DepartmentRow:
    department: str
    received: int = 0
    finished: int = 0
    on_time: int = 0
    overdue: int = 0
    reopened: int = 0


@dataclass
class Report:
    period: str
    start: str
    end: str
    received: int
    by_channel: dict[str, int]
    by_category: dict[str, int]
    by_disposition: dict[str, int]
    by_grid: list[tuple[str | None, int]]  # most first; None: no grid given
    on_days_off: int
    finish_rate: float | None  # 办结率
    on_time_rate: float | None  # 按期办结率
    response_rate: float | None  # 响应率
    satisfaction_rate: float | None  # 满意率
    dispute_resolution_rate: float | None  # 化解率
    days_off_share: float | None  # the share received on days off
    by_type: dict[str, int]  # the appeal type it was routed by (else its category)
    daily: list[tuple[str, int]]  # received per local day, from the first to the last or today
    by_hour: list[list[int]]  # received per local weekday (Monday first) and hour (0-23)
    ratings: dict[str, int]  # the residents' answers: 满意, 基本满意, 不满意
    overdue: list[dict[str, str]] = field(default_factory=list)
    departments: list[DepartmentRow] = field(default_factory=list)
    keywords: list[tuple[str, int]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Received(NamedTuple):
    """What a report reads of an appeal: rows of these columns, not whole appeals (no text,
    no ORM objects), so a busy month loads fast."""

    id: int
    number: str
    status: str
    channel: str
    category: str
    appeal_type: str
    disposition: str
    department_id: int | None
    grid: str | None
    reopen_count: int
    rating: str | None
    keywords: list[str]
    accept_due_at: dt.datetime | None
    finish_due_at: dt.datetime | None
    created_at: dt.datetime


_RECEIVED = [getattr(Appeal, name) for name in Received._fields]


def _first_times(session: Session, ids: Select[Any]) -> dict[tuple[int, str], dt.datetime]:
    """When each of the appeals `ids` selects was first signed / finished."""
    query = (
        select(AppealEvent.appeal_id, AppealEvent.action, func.min(AppealEvent.created_at))
        .where(
            col(AppealEvent.appeal_id).in_(ids),
            col(AppealEvent.action).in_(["sign", "resolve", "answer"]),
        )
        .group_by(col(AppealEvent.appeal_id), col(AppealEvent.action))
    )
    firsts: dict[tuple[int, str], dt.datetime] = {}
    for appeal_id, action, first in session.exec(query):
        key = (appeal_id, "finish" if action in ("resolve", "answer") else action)
        if key not in firsts or first < firsts[key]:
            firsts[key] = first
    return firsts


def department_scope(session: Session, name: str) -> ColumnElement[bool] | None:
    """The appeals of the department row `name` (UNASSIGNED: also the unrouted ones);
    None when no department has that name."""
    ids = list(session.exec(select(Department.id).where(Department.name == name)))
    if name == UNASSIGNED:
        return col(Appeal.department_id).in_(ids) | col(Appeal.department_id).is_(None)
    return col(Appeal.department_id).in_(ids) if ids else None


def build_report(
    session: Session,
    *,
    period: str,
    now: dt.datetime,
    calendar: WorkCalendar,
    remind_at: float,
    day: dt.date | None = None,
    last: dt.date | None = None,
    scope: ColumnElement[bool] | None = None,
) -> Report:
    """The report of `period` (of `day`'s, else the default one; a range from `day` to
    `last`: see period_bounds), of the appeals `scope` admits (all without one)."""
    start, end = period_bounds(period, now, calendar, day=day, last=last)
    received = (
        col(Appeal.created_at) >= start,
        col(Appeal.created_at) < end,
        true() if scope is None else scope,
    )
    appeals = [Received(*row) for row in session.execute(sa_select(*_RECEIVED).where(*received))]
    firsts = _first_times(session, select(Appeal.id).where(*received))
    names = {d.id: d.name for d in session.exec(select(Department))}
    counted = [a for a in appeals if Status(a.status) not in NOT_COUNTED]
    rows: dict[str, DepartmentRow] = {}
    on_time = late_or_open = signed_in_time = due_to_sign = 0
    overdue: list[dict[str, str]] = []
    for appeal in counted:
        name = names.get(appeal.department_id, UNASSIGNED)
        row = rows.setdefault(name, DepartmentRow(name))
        row.received += 1
        row.reopened += appeal.reopen_count
        finished_at = firsts.get((appeal.id, "finish"))
        if Status(appeal.status) in FINISHED:
            row.finished += 1
        if finished_at is not None:
            late_or_open += 1
            if appeal.finish_due_at is None or finished_at <= appeal.finish_due_at:
                on_time += 1
                row.on_time += 1
        level = deadline_flag(appeal, now, remind_at)
        if level == "red" and finished_at is None:
            late_or_open += 1
            row.overdue += 1
        if level:
            overdue.append(_overdue(appeal, name, level, calendar))
        # Like 按期办结率: a dispatched case counts once signed or past its sign deadline.
        signed_at = firsts.get((appeal.id, "sign"))
        due = appeal.accept_due_at
        if appeal.department_id is not None and (
            signed_at is not None or (due is not None and now > due)
        ):
            due_to_sign += 1
            if signed_at is not None and (due is None or signed_at <= due):
                signed_in_time += 1
    rated = [a for a in counted if a.rating]
    disputes = [a for a in counted if a.category == DISPUTES]
    keywords = Counter(k for a in counted for k in a.keywords)
    local = [a.created_at.astimezone(calendar.zone) for a in appeals]
    workday = functools.cache(calendar.is_workday)
    on_days_off = sum(1 for moment in local if not workday(moment.date()))
    by_hour = [[0] * 24 for _ in range(7)]
    for moment in local:
        by_hour[moment.weekday()][moment.hour] += 1
    first_day = start.astimezone(calendar.zone).date()
    last_day = end.astimezone(calendar.zone).date() - dt.timedelta(days=1)
    per_day = Counter(moment.date() for moment in local)
    shown_days = (min(last_day, calendar.local_day(now)) - first_day).days + 1
    return Report(
        period=period,
        start=first_day.isoformat(),
        end=last_day.isoformat(),
        received=len(appeals),
        by_channel=dict(Counter(a.channel for a in appeals)),
        by_category=dict(Counter(a.category for a in appeals)),
        by_disposition=dict(Counter(a.disposition for a in appeals)),
        by_grid=Counter(a.grid or None for a in appeals).most_common(),
        on_days_off=on_days_off,
        finish_rate=_rate(sum(1 for a in counted if Status(a.status) in FINISHED), len(counted)),
        on_time_rate=_rate(on_time, late_or_open),
        response_rate=_rate(signed_in_time, due_to_sign),
        satisfaction_rate=_rate(sum(1 for a in rated if a.rating != "不满意"), len(rated)),
        dispute_resolution_rate=_rate(
            sum(1 for a in disputes if Status(a.status) in FINISHED), len(disputes)
        ),
        days_off_share=_rate(on_days_off, len(appeals)),
        by_type=dict(Counter(a.appeal_type or a.category for a in appeals).most_common()),
        daily=[
            (
                (first_day + dt.timedelta(days=n)).isoformat(),
                per_day[first_day + dt.timedelta(days=n)],
            )
            for n in range(max(shown_days, 0))
        ],
        by_hour=by_hour,
        ratings={rating: sum(1 for a in rated if a.rating == rating) for rating in RATINGS},
        overdue=overdue,
        departments=sorted(rows.values(), key=lambda r: (-r.received, r.department)),
        keywords=keywords.most_common(10),
    )


def _overdue(
    appeal: Received, department: str, level: str, calendar: WorkCalendar
) -> dict[str, str]:
    """One line of the overdue list; times are local, to the minute."""

    def local(moment: dt.datetime | None) -> str:
        return (
            "" if moment is None else moment.astimezone(calendar.zone).strftime("%Y-%m-%d %H:%M")
        )

    return {
        "number": appeal.number,
        "department": department,
        "type": appeal.appeal_type or appeal.category,
        "status": STATUS[appeal.status],
        "level": level,
        "received_at": local(appeal.created_at),
        "finish_due_at": local(appeal.finish_due_at),
    }


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _counts(counts: Mapping[str, int], labels: Mapping[str, str] | None = None) -> str:
    """`counts` most first, each key as its label says (the key itself without one)."""
    labels = labels or {}
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    return "、".join(f"{labels.get(k, k)} {v}" for k, v in ranked) or "—"


def format_text(report: Report) -> str:
    lines = [
        t(
            "report.head",
            period=t(f"report.period.{report.period}"),
            start=report.start,
            end=report.end,
        ),
        t("report.received", count=report.received, off=report.on_days_off),
        t("report.by_channel", counts=_counts(report.by_channel, CHANNEL)),
        t("report.by_category", counts=_counts(report.by_category)),
        t("report.by_disposition", counts=_counts(report.by_disposition, DISPOSITION)),
        t(
            "report.by_grid",
            counts=_counts({grid or t("report.no_grid"): n for grid, n in report.by_grid}),
        ),
        t(
            "report.rates",
            finish=percent(report.finish_rate),
            on_time=percent(report.on_time_rate),
            response=percent(report.response_rate),
            satisfaction=percent(report.satisfaction_rate),
            disputes=percent(report.dispute_resolution_rate),
        ),
        t("report.departments"),
    ]
    lines.extend(t("report.department_row", **asdict(row)) for row in report.departments)
    lines.append(t("report.overdue", count=len(report.overdue)))
    lines.extend(
        f"  {FLAG[o['level']]} {o['number']} {o['department']} {o['status']}"
        for o in report.overdue
    )
    lines.append(
        t("report.keywords", words="、".join(f"{w}({n})" for w, n in report.keywords) or "—")
    )
    return "\n".join(lines)


def post(session: Session, report: Report) -> bool:
    """Queue the report for the center's chat (its dispatchers' without one); False when
    nobody can be reached."""
    reached = send(
        session,
        to=center_of(session),
        message="report.post",
        params={"text": format_text(report)},
        cause=f"report:{report.period}:{report.start}:{report.end}",
    )
    if not reached:
        log.warning("the %s report from %s reached nobody", report.period, report.start)
    return reached


def look_back(session: Session, *, policy: Policy, start: dt.datetime, end: dt.datetime) -> int:
    """回头看: last period's unresolved cases are chased, dissatisfied ones sent back."""
    appeals = session.exec(
        select(Appeal).where(Appeal.created_at >= start, Appeal.created_at < end)
    )
    chased = 0
    for appeal in appeals:
        status = Status(appeal.status)
        if status in OPEN and appeal.department_id is not None:
            department = session.get(Department, appeal.department_id)
            cause = f"look_back:{start.date()}:{appeal.id}"
            notify(session, appeal=appeal, to=department, message="notify.look_back", cause=cause)
        elif appeal.rating == RATINGS[-1] and status in (Status.RATED, Status.CLOSED):
            note = t("note.look_back_unsatisfied")
            transition(session, appeal, Action.REOPEN, SYSTEM, note, policy=policy)
        else:
            continue
        chased += 1
    return chased


def due_times(
    period: str, after: dt.datetime, now: dt.datetime, zone: ZoneInfo
) -> list[dt.datetime]:
    """When the `period`'s report was due after `after`, up to `now`, oldest first."""
    trigger = CronTrigger(timezone=zone, **SCHEDULE[period])
    times: list[dt.datetime] = []
    moment = trigger.get_next_fire_time(None, after + dt.timedelta(microseconds=1))
    while moment is not None and moment <= now:
        times.append(moment)
        moment = trigger.get_next_fire_time(moment, moment + dt.timedelta(microseconds=1))
    return times


def run_reports(sessions: sessionmaker[Session], policy: Policy, period: str) -> list[Report]:
    """The scheduled job, and the clock's first act at start: every report of `period` due
    since the last one run (one missed while the bot was down too), each as it was due:
    built, posted to the center, and for a month 回头看. A database that has run none owes
    none before now."""
    with transaction(sessions) as session:
        now = utcnow()
        last = session.exec(
            select(func.max(ReportRun.due_at)).where(ReportRun.period == period)
        ).one()
        if last is None:
            session.add(ReportRun(period=period, due_at=now))
            return []
        reports = []
        for due in due_times(period, last, now, policy.calendar.zone):
            report = build_report(
                session,
                period=period,
                now=due,
                calendar=policy.calendar,
                remind_at=policy.follow_up.remind_at,
            )
            post(session, report)
            if period == "month":
                start, end = period_bounds(period, due, policy.calendar)
                look_back(session, policy=policy, start=start, end=end)
            session.add(ReportRun(period=period, due_at=due))
            reports.append(report)
    return reports
