"""The dashboard: the report's figures and charts for today, this week, this month or a
chosen range of days, and its Excel workbook. It shows the cases the viewer may see (a
department's staff: their department's; the center: all), through the report's one
computation (scheduler.reports.build_report) narrowed to them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler import PERIODS
from scheduler.reports import RANGE, Report, build_report, percent
from storage.types import utcnow
from web import charts
from web.layer import Site, Visit, page
from web.period_book import Build, period_book
from web.sheets import download
from workflow import ledger

OVERDUE_SHOWN = 200  # the rest are in the workbook
TOP = 12  # types and grids shown by name; the others are summed
NAMES = {"day": "今日", "week": "本周", "month": "本月", RANGE: "自选时段"}
SERIES = ("受理", "按期办结", "超期", "重办")


def routes(site: Site) -> list[BaseRoute]:
    return [
        Route("/dashboard", page(site, _dashboard)),
        Route("/dashboard.xlsx", page(site, _workbook)),
    ]


def _chosen(visit: Visit) -> tuple[str, dt.date | None, dt.date | None, bool]:
    """The period asked for: (period, its day or first day, its last day, whether a range
    given was refused and the month shown instead)."""
    query = visit.request.query_params
    period = query.get("period", "month")
    if period == RANGE:
        try:
            first, last = (dt.date.fromisoformat(query.get(k, "")) for k in ("from", "to"))
            if first <= last:
                return RANGE, first, last, False
        except ValueError:
            pass
    today = visit.site.policy.calendar.local_day(utcnow())
    return (period, today, None, False) if period in PERIODS else ("month", today, None, True)


def _builder(visit: Visit, period: str, day: dt.date | None, last: dt.date | None) -> Build:
    policy, now = visit.site.policy, utcnow()

    def build(scope: ColumnElement[bool] | None) -> Report:
        return build_report(
            visit.db,
            period=period,
            now=now,
            calendar=policy.calendar,
            remind_at=policy.follow_up.remind_at,
            day=day,
            last=last,
            scope=scope,
        )

    return build


def _dashboard(visit: Visit) -> Response:
    period, day, last, refused = _chosen(visit)
    report = _builder(visit, period, day, last)(ledger.visible(visit.viewer.actor))
    return visit.render(
        "dashboard.html",
        report=report,
        period=period,
        names=NAMES,
        refused=refused,
        percent=percent,
        query=visit.request.url.query,
        overdue=report.overdue[:OVERDUE_SHOWN],
        charts=_charts(report),
    )


def _workbook(visit: Visit) -> Response:
    period, day, last, _ = _chosen(visit)
    build = _builder(visit, period, day, last)
    book, report = period_book(visit.db, build, ledger.visible(visit.viewer.actor))
    return download(book, f"报表_{report.start}_{report.end}.xlsx")


def _top(items: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The TOP largest by name and the rest summed as 其他."""
    rest = sum(value for _, value in items[TOP:])
    return items[:TOP] + ([("其他", rest)] if rest else [])


def _charts(report: Report) -> dict[str, object]:
    return {
        "daily": charts.columns("chart-daily", "每日受理", report.daily),
        "departments": charts.grouped(
            "chart-departments",
            "各部门受理、按期办结、超期、重办",
            SERIES,
            [
                (r.department, (r.received, r.on_time, r.overdue, r.reopened))
                for r in report.departments
            ],
        ),
        "types": charts.bars("chart-types", "诉求类型", _top(list(report.by_type.items()))),
        "grids": charts.bars(
            "chart-grids", "网格", _top([(grid or "未指定网格", n) for grid, n in report.by_grid])
        ),
        "heat": charts.heat("chart-heat", "受理时段（星期 × 小时）", report.by_hour),
        "ratings": charts.bars("chart-ratings", "满意度评价", list(report.ratings.items())),
    }
