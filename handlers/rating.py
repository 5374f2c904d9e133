"""Satisfaction: 满意 / 基本满意 / 不满意 from a callback's buttons or a typed number, the
reason of a 不满意 (the case is reopened), then an optional comment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum

from handlers.desk import CANCEL, IDLE, MINUTE, SKIP, Desk
from handlers.turn import Turn
from messages.catalog import t
from messages.types import Kind, Option
from workflow import service
from workflow.cards import local_deadline
from workflow.followup import RATINGS, rating_options, transition
from workflow.lifecycle import Action, Actor, Status, record

RATE_PREFIX = "rate:"


class RateStep(StrEnum):
    RATE = "rate"
    RATE_REASON = "rate_reason"
    RATE_COMMENT = "rate_comment"


class Rating:
    """`otherwise` takes a message that is no rating at the callback's step (it may be a new
    appeal, or a command)."""

    def __init__(self, desk: Desk, otherwise: Callable[[Turn], None]) -> None:
        self.desk = desk
        self.otherwise = otherwise
        self.steps: dict[str, Callable[[Turn], None]] = {
            RateStep.RATE: self.rate,
            RateStep.RATE_REASON: self._rate_reason,
            RateStep.RATE_COMMENT: self._rate_comment,
        }

    def react(self, turn: Turn, *, since: dt.datetime | None) -> None:
        """A callback asked the resident to rate a case after they last heard from us
        (`since`): their next message answers it, a number or a label of its options."""
        appeal = service.rating_asked(turn.session, resident=turn.person, since=since)
        if appeal is not None:
            turn.goto(RateStep.RATE, offered=rating_options(appeal))

    def prompt(self, turn: Turn) -> None:
        turn.say(t("resume.options"), *turn.offered())

    def rate(self, turn: Turn, value: str | None = None) -> None:
        picked = value or turn.choice() or ""
        number, _, rating = picked.removeprefix(RATE_PREFIX).partition(":")
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        if not picked.startswith(RATE_PREFIX) or appeal is None or rating not in RATINGS:
            if turn.step == RateStep.RATE:
                self.otherwise(
                    Turn(turn.session, turn.inbound, turn.person, IDLE, {}, turn.replies)
                )
                turn.goto(IDLE)
            else:
                turn.say(t("option_expired"))
            return
        if appeal.status != Status.RESOLVED:
            if turn.step == RateStep.RATE:
                turn.goto(IDLE)
            turn.say(t("rate.already", number=appeal.number))
            return
        if rating == RATINGS[-1]:
            turn.goto(RateStep.RATE_REASON, number=appeal.number)
            turn.say(t("rate.ask_reason"), Option(t("option.cancel"), CANCEL))
            return
        appeal.rating = rating
        transition(
            turn.session,
            appeal,
            Action.RATE,
            Actor.of(turn.person),
            rating,
            policy=self.desk.policy,
        )
        turn.goto(RateStep.RATE_COMMENT, number=appeal.number)
        turn.say(t("rate.ask_comment"), Option(t("option.skip"), SKIP))

    def _rate_reason(self, turn: Turn) -> None:
        if turn.choice() == CANCEL:
            self.desk.cancel(turn)
            return
        number = str(turn.data.get("number", ""))
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        if appeal is None or appeal.status != Status.RESOLVED:
            turn.goto(IDLE)
            turn.say(t("rate.already", number=number))
            return
        problem = self.desk.text_problem(turn.inbound, 1)
        if problem is not None:
            turn.say(problem)
            turn.say(t("rate.ask_reason"), Option(t("option.cancel"), CANCEL))
            return
        appeal.rating = RATINGS[-1]
        reason = turn.inbound.text.strip()
        actor = Actor.of(turn.person)
        transition(
            turn.session,
            appeal,
            Action.REOPEN,
            actor,
            reason,
            policy=self.desk.policy,
            tell_resident=False,
        )
        turn.goto(IDLE)
        deadline = local_deadline(appeal.reply_due_at, self.desk.policy.calendar, MINUTE)
        turn.say(t("rate.reopened", number=appeal.number, deadline=deadline))

    def _rate_comment(self, turn: Turn) -> None:
        number = str(turn.data.get("number", ""))
        turn.goto(IDLE)
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        inbound = turn.inbound
        if appeal is not None and turn.choice() != SKIP and inbound.kind is Kind.TEXT:
            comment = inbound.text.strip()[: self.desk.limits.text_max_chars]
            if comment:
                record(turn.session, appeal, "comment", Actor.of(turn.person), comment)
        turn.say(t("rate.thanks", number=number))
