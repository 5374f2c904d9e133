"""Deadlines on China's working calendar: holidays, 调休 Saturdays, config overrides."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest

from workflow.calendar import WorkCalendar
from workflow.cards import local_deadline
from workflow.policy import CalendarConfig, Span

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, hour, tzinfo=SHANGHAI)


def _local_date(moment: dt.datetime) -> dt.date:
    # Deadlines fall at the midnight that ends the day they belong to.
    return (moment.astimezone(SHANGHAI) - dt.timedelta(seconds=1)).date()


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar(CalendarConfig(), "Asia/Shanghai")


@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        (_at(2026, 11, 23), 1, dt.date(2026, 11, 24)),  # Monday -> Tuesday
        (_at(2026, 11, 27), 1, dt.date(2026, 11, 30)),  # Friday -> Monday
        (_at(2026, 11, 28), 1, dt.date(2026, 11, 30)),  # Saturday -> Monday
        (_at(2026, 11, 28), 0, dt.date(2026, 11, 30)),  # same day on a day off -> Monday
        (_at(2026, 9, 30), 1, dt.date(2026, 10, 8)),  # across Golden Week
        (_at(2026, 9, 30), 3, dt.date(2026, 10, 10)),  # the adjusted working Saturday counts
        (_at(2026, 9, 30), 2, dt.date(2026, 10, 9)),
    ],
)
def test_working_day_deadlines(
    calendar: WorkCalendar, received: dt.datetime, days: int, due: dt.date
) -> None:
    deadline = calendar.deadline(received, Span(working_days=days))
    assert deadline.tzinfo is not None
    assert _local_date(deadline) == due


def test_hours_are_plain_hours(calendar: WorkCalendar) -> None:
    start = _at(2026, 10, 1)
    assert calendar.deadline(start, Span(hours=4)) == start + dt.timedelta(hours=4)


def test_config_overrides_win() -> None:
    local = WorkCalendar(
        CalendarConfig(holidays=[dt.date(2026, 11, 24)], workdays=[dt.date(2026, 11, 29)]),
        "Asia/Shanghai",
    )
    assert not local.is_workday(dt.date(2026, 11, 24))
    assert local.is_workday(dt.date(2026, 11, 29))
    assert _local_date(local.deadline(_at(2026, 11, 23), Span(working_days=1))) == dt.date(
        2026, 11, 25
    )


def test_an_uncovered_year_falls_back_to_weekdays_with_one_warning(
    calendar: WorkCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert calendar.is_workday(dt.date(2099, 1, 5))  # a Monday
        assert not calendar.is_workday(dt.date(2099, 1, 4))  # a Sunday
    assert len([r for r in caplog.records if "2099" in r.getMessage()]) == 1


def test_a_span_needs_exactly_one_unit() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Span(working_days=1, hours=2)
    with pytest.raises(ValueError, match="exactly one"):
        Span()


def test_a_deadline_at_midnight_shows_as_the_end_of_its_day(calendar: WorkCalendar) -> None:
    midnight = dt.datetime(2026, 11, 27, tzinfo=SHANGHAI)  # ends Thursday 26 November
    assert local_deadline(midnight, calendar) == "11-26 23:59"  # staff cards and reminders
    assert local_deadline(midnight, calendar, "%Y-%m-%d %H:%M") == "2026-11-26 23:59"  # residents
    assert local_deadline(None, calendar) == "—"
