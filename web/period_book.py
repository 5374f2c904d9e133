"""The period report as an Excel workbook: 总体 (the figures), a sheet per department (the
same figures, of its cases alone) and 超期临期 (the overdue and nearly overdue cases).
`appealbot report --format xlsx` and the dashboard's download write this one workbook."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from openpyxl import Workbook
from sqlalchemy import ColumnElement, and_, true
from sqlmodel import Session

from messages.catalog import FLAG
from scheduler.reports import Report, department_scope
from web.sheets import DATE, DATETIME, PERCENT, Column, table, workbook

Build = Callable[[ColumnElement[bool] | None], Report]  # the report of the appeals a scope admits
FIGURES = (Column("指标", 16), Column("数值", 14))
OVERDUE = (
    Column("编号", 18),
    Column("部门", 14),
    Column("类型", 16),
    Column("状态", 12),
    Column("标记", 8),
    Column("受理时间", 18, DATETIME),
    Column("办结时限", 18, DATETIME),
)
# Excel refuses these in a sheet's title, and titles longer than 31 characters.
_NOT_IN_TITLES = str.maketrans(dict.fromkeys("[]:*?/\\", "_"))


def period_book(
    session: Session, build: Build, scope: ColumnElement[bool] | None
) -> tuple[Workbook, Report]:
    """The workbook of the report `build` makes of `scope` (every appeal when None), and
    that report."""
    report = build(scope)
    book = workbook()
    table(book, "总体", FIGURES, figures(report))
    for row in report.departments:
        part = department_scope(session, row.department)
        assert part is not None  # noqa: S101 - a row names a department, or is UNASSIGNED
        own = build(and_(true() if scope is None else scope, part))
        table(book, row.department.translate(_NOT_IN_TITLES)[:31], FIGURES, figures(own))
    table(book, "超期临期", OVERDUE, [_overdue_row(line) for line in report.overdue])
    return book, report


def figures(report: Report) -> list[tuple[str, Any]]:
    """The report's figures as (name, value) rows: dates as dates, rates as shares."""
    rows = report.departments

    def share(value: float | None) -> tuple[float | None, str]:
        return value, PERCENT

    return [
        ("统计起始", (dt.date.fromisoformat(report.start), DATE)),
        ("统计截止", (dt.date.fromisoformat(report.end), DATE)),
        ("受理", report.received),
        ("周末及节假日受理", report.on_days_off),
        ("周末及节假日占比", share(report.days_off_share)),
        ("办结", sum(r.finished for r in rows)),
        ("按期办结", sum(r.on_time for r in rows)),
        ("超期未办结", sum(r.overdue for r in rows)),
        ("重办", sum(r.reopened for r in rows)),
        ("办结率", share(report.finish_rate)),
        ("按期办结率", share(report.on_time_rate)),
        ("响应率", share(report.response_rate)),
        ("满意率", share(report.satisfaction_rate)),
        ("矛盾纠纷化解率", share(report.dispute_resolution_rate)),
        ("超期及临期", len(report.overdue)),
    ]


def _overdue_row(line: dict[str, str]) -> list[Any]:
    def moment(text: str) -> dt.datetime | None:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M") if text else None  # noqa: DTZ007 - local wall-clock time, as Excel keeps it

    return [
        line["number"],
        line["department"],
        line["type"],
        line["status"],
        FLAG[line["level"]].lstrip("🔴🟡"),
        moment(line["received_at"]),
        moment(line["finish_due_at"]),
    ]
