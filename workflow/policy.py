"""Configurable policy of the center: deadlines (SLA) per disposition and category, calendar."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Span(BaseModel):
    """A deadline length: working days on China's calendar, or plain hours."""

    model_config = ConfigDict(extra="forbid")

    working_days: int | None = Field(default=None, ge=0)
    hours: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> Span:
        if (self.working_days is None) == (self.hours is None):
            raise ValueError("give exactly one of working_days or hours")
        return self


class SlaRule(BaseModel):
    """Sign (accept) within, finish within, reply to the resident within — counted from receipt."""

    model_config = ConfigDict(extra="forbid")

    accept: Span
    finish: Span
    reply: Span


def _days(n: int) -> Span:
    return Span(working_days=n)


class SlaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consultation: SlaRule = SlaRule(accept=_days(1), finish=_days(1), reply=_days(1))
    immediate: SlaRule = SlaRule(accept=_days(0), finish=_days(0), reply=_days(0))
    referral: SlaRule = SlaRule(accept=_days(1), finish=_days(2), reply=_days(3))
    categories: dict[str, SlaRule] = Field(default_factory=dict)  # by appeal type or category


class CalendarConfig(BaseModel):
    """Overrides of China's statutory calendar (e.g. a local holiday or an extra working day)."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[dt.date] = Field(default_factory=list)
    workdays: list[dt.date] = Field(default_factory=list)


class FollowUp(BaseModel):
    """Reminders before deadlines, supervision past them, and satisfaction callbacks."""

    model_config = ConfigDict(extra="forbid")

    remind_at: float = Field(default=0.75, gt=0, lt=1)  # share of a deadline's span
    escalate_after_hours: float = Field(default=24, ge=0)  # past the finish deadline
    callback_delay_hours: float = Field(default=24, ge=0)
    callback_retries: int = Field(default=2, ge=0)
    callback_retry_hours: float = Field(default=24, gt=0)
    quiet_start: dt.time = dt.time(21, 0)  # no calls to residents from here...
    quiet_end: dt.time = dt.time(8, 0)  # ...until here, local time


class Duty(BaseModel):
    """诉求直通车: who is on duty on weekends and holidays, by the names given at /join."""

    model_config = ConfigDict(extra="forbid")

    rotation: list[list[str]] = Field(default_factory=list)  # one group per day off, in turn
    dates: dict[dt.date, list[str]] = Field(default_factory=dict)  # fixed days win
    leaders: list[str] = Field(default_factory=list)  # alerted for urgent cases; none: all

    def on(self, day: dt.date) -> list[str]:
        if day in self.dates:
            return self.dates[day]
        if not self.rotation:
            return []
        return self.rotation[day.toordinal() % len(self.rotation)]


class Triage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duplicate_days: int = Field(default=7, ge=1)  # look this far back for likely duplicates
