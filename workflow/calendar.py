"""China's working calendar (statutory holidays and 调休) and deadline arithmetic."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import chinese_calendar

from workflow.policy import CalendarConfig, Span

log = logging.getLogger(__name__)


class WorkCalendar:
    def __init__(self, config: CalendarConfig, timezone: str) -> None:
        self._holidays = frozenset(config.holidays)
        self._workdays = frozenset(config.workdays)
        self.zone = ZoneInfo(timezone)
        self._warned_years: set[int] = set()

    def is_workday(self, day: dt.date) -> bool:
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned_years:
                self._warned_years.add(day.year)
                log.warning(
                    "chinese-calendar does not cover %s: using Mon-Fri plus config overrides",
                    day.year,
                )
            return day.weekday() < 5

    def next_workday(self, day: dt.date) -> dt.date:
        """The first working day strictly after `day`."""
        day += dt.timedelta(days=1)
        while not self.is_workday(day):
            day += dt.timedelta(days=1)
        return day

    def deadline(self, start: dt.datetime, span: Span) -> dt.datetime:
        """When a span counted from `start` runs out, as an aware UTC datetime.

        Working days end at midnight local time: 0 working days is the end of the day of
        receipt (or of the next working day if received on a day off); N is the end of the
        N-th working day after the day of receipt.
        """
        if span.hours is not None:
            return start + dt.timedelta(hours=span.hours)
        assert span.working_days is not None  # noqa: S101 - Span validates one of the two
        day = start.astimezone(self.zone).date()
        if span.working_days == 0 and not self.is_workday(day):
            day = self.next_workday(day)
        for _ in range(span.working_days):
            day = self.next_workday(day)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=self.zone)
        return end.astimezone(dt.UTC)

    def extend(self, deadline: dt.datetime, span: Span) -> dt.datetime:
        """A deadline moved on by `span`, counted from the day it falls at the end of."""
        return self.deadline(deadline - dt.timedelta(microseconds=1), span)

    def local_day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.zone).date()
