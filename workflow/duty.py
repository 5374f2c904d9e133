"""诉求直通车: on days off the duty roster takes immediate and urgent cases; urgent cases
alert the duty leaders at once on any day, and a danger to life also the roster of the day."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlmodel import Session, col, select

from nlp.types import Urgency
from storage.models import Appeal, Person
from storage.roles import Role
from workflow.cards import Text, text
from workflow.followup import Policy, department_card, leaders, notify
from workflow.lifecycle import Actor, Status


def people_named(session: Session, names: list[str]) -> list[Person]:
    if not names:
        return []
    return list(session.exec(select(Person).where(col(Person.name).in_(names))))


def duty_leaders(session: Session, policy: Policy) -> list[Person]:
    named = [p for p in people_named(session, policy.duty.leaders) if p.role == Role.LEADER]
    return named or leaders(session)


def on_duty(session: Session, policy: Policy, day: dt.date) -> list[Person]:
    return people_named(session, policy.duty.on(day))


def on_duty_today(policy: Policy, person: Person, now: dt.datetime) -> bool:
    """The person is on the roster of today, and today is a day off."""
    day = policy.calendar.local_day(now)
    return not policy.calendar.is_workday(day) and person.name in policy.duty.on(day)


def acting(policy: Policy, person: Person, appeal: Appeal, now: dt.datetime) -> Actor:
    """Who the person acts as on the appeal: on their duty days, a department's staff on the
    roster act for the center on the 即办 cases it handles itself (the cards they are sent)."""
    actor = Actor.of(person)
    if (
        actor.role is Role.STAFF
        and appeal.department_id is None
        and on_duty_today(policy, person, now)
    ):
        return dataclasses.replace(actor, department_id=None)
    return actor


def alert(
    session: Session, appeal: Appeal, policy: Policy, *, now: dt.datetime, cause: str
) -> None:
    """Tell whoever must act now: duty leaders for urgent cases, duty staff on days off, and
    both, whatever the day, when a life is in danger."""
    urgent = appeal.urgency != "normal"
    life = appeal.urgency == Urgency.LIFE
    day = policy.calendar.local_day(now)
    off_day = not policy.calendar.is_workday(day)
    recipients: dict[int | None, tuple[Person, Text]] = {}
    if life or (off_day and (urgent or appeal.status == Status.ASSIGNED)):
        headline = text("card.headline.emergency" if life else "card.headline.duty")
        for person in on_duty(session, policy, day):
            recipients[person.id] = (person, headline)
    if urgent:
        headline = text("card.headline.emergency" if life else "card.headline.duty_leader")
        for person in duty_leaders(session, policy):
            recipients[person.id] = (person, headline)
    for person, headline in recipients.values():
        params, options = department_card(session, appeal, policy, headline)
        notify(
            session,
            appeal=appeal,
            to=person,
            message="card.department",
            params=params,
            options=options if appeal.status == Status.ASSIGNED else [],
            cause=f"{cause}:duty",
        )
