"""The resident dialog, the same on every channel: the turn runner and the menu.

A turn loads the conversation row for (channel, user), runs the handler of its step and
saves the row, all in one transaction with whatever the turn did to appeals. Options the
turn offered are stored with the step, so a button or a typed number is checked against
what was actually offered and grants nothing by itself.

Each feature owns its steps (typed values) and their questions, and registers them here:
the form (handlers.form), filing it (handlers.filing), a resident's cases (handlers.cases)
and the rating (handlers.rating); staff buttons and steps go to the staff desk
(handlers.staff).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from handlers.cases import Cases, typed_number
from handlers.desk import IDLE, Desk
from handlers.filing import Filing, FilingStep
from handlers.form import AppealForm, FormStep
from handlers.limits import Limits
from handlers.rating import RATE_PREFIX, Rating
from handlers.staff import StaffDesk
from handlers.turn import Turn
from messages.about import about
from messages.catalog import t
from messages.types import Inbound, Kind, Option, Outbound
from storage import conversations, deliveries, replies
from storage.conversations import Saved
from storage.db import again_if_dropped, transaction
from storage.files import FileStore
from storage.roles import Role
from storage.types import utcnow
from workflow import service
from workflow.followup import Policy
from workflow.service import Classifier

log = logging.getLogger(__name__)

MENU = ("new", "my", "supplement", "withdraw", "help")
COMMAND_WORDS = {
    "取消": "cancel",
    "我要反映": "new",
    "查询进度": "my",
    "补充材料": "supplement",
    "撤回": "withdraw",
    "帮助": "help",
}
# The steps of an appeal being filled in: a command mid-way keeps the draft, and an idle one
# expires.
DRAFT_STEPS = frozenset({*FormStep, *FilingStep})


class Feature(Protocol):
    """A part of the dialog: the steps it owns, and how to ask each one's question."""

    steps: dict[str, Callable[[Turn], None]]

    def prompt(self, turn: Turn) -> None: ...


class Dialog:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        classifier: Classifier,
        policy: Policy,
        limits: Limits,
        files: FileStore,
        center: str,
        web_url: str | None = None,
        grids: Mapping[str, str] | None = None,
    ) -> None:
        self.sessions = sessions
        self.grids = dict(grids or {})  # a poster's or deep link's code → the grid's name
        self.desk = Desk(classifier, policy, limits, files, center, ask=self.prompt)
        self.filing = Filing(self.desk)
        self.form = AppealForm(self.desk, self.filing)
        self.cases = Cases(self.desk)
        self.rating = Rating(self.desk, otherwise=self._idle)
        features: tuple[Feature, ...] = (self.form, self.filing, self.cases, self.rating)
        self.owners = {step: feature for feature in features for step in feature.steps}
        self.steps: dict[str, Callable[[Turn], None]] = {IDLE: self._idle}
        for feature in features:
            self.steps.update(feature.steps)
        self.staff = StaffDesk(
            policy=policy, files=files, text_max_chars=limits.text_max_chars, web_url=web_url
        )

    @property
    def policy(self) -> Policy:
        return self.desk.policy

    @property
    def classifier(self) -> Classifier:
        return self.desk.classifier

    def prompt(self, turn: Turn) -> None:
        """Ask the question of the current step (its feature knows it)."""
        owner = self.owners.get(turn.step)
        if owner is not None:
            owner.prompt(turn)

    # -- the turn -----------------------------------------------------------------------

    def handle(self, inbound: Inbound, *, wait: bool = True) -> list[Outbound]:
        """Answer one inbound message; a redelivered message (same id) is answered with [].

        `wait=False`: raise `storage.db.Busy`, having done nothing, where SQLite's write lock
        is taken (the caller may then take the turn where waiting blocks nobody).

        A turn whose connection the database dropped is taken once more on a fresh one
        (`storage.db.again_if_dropped`).
        """
        return again_if_dropped(
            lambda: self._handle(inbound, wait), f"update {inbound.message_id}"
        )

    def _handle(self, inbound: Inbound, wait: bool) -> list[Outbound]:
        try:
            with about(channel=inbound.channel), transaction(self.sessions, wait=wait) as session:
                if not self._first_delivery(session, inbound):
                    return []
                turn, row = self._load(session, inbound)
                self._dispatch(turn)
                self._save(turn, row)
                return self._keep_replies(turn)
        except IntegrityError:
            if inbound.message_id is not None and self._seen(inbound):
                return []
            raise

    def pending(self, channel: str, user_id: str, chat_id: str) -> list[Outbound]:
        """The question a user was left at, asked again (the console, after a restart);
        nothing when they are not in the middle of something."""
        inbound = Inbound(channel, user_id, chat_id, Kind.COMMAND, text="pending")
        with transaction(self.sessions) as session:
            turn, _ = self._load(session, inbound)
            if turn.step == IDLE:
                return []
            turn.say(t("resume"))
            self.prompt(turn)
            return turn.replies

    def _keep_replies(self, turn: Turn) -> list[Outbound]:
        """The replies, kept in the outbox with the turn (when the message has an id to
        key them by) so that they are sent even if the process dies before it sends them."""
        inbound = turn.inbound
        if inbound.message_id is None or not turn.replies:
            return turn.replies
        keys = replies.keep(
            turn.session,
            channel=inbound.channel,
            chat_id=inbound.chat_id,
            message_id=inbound.message_id,
            payloads=[reply.to_json() for reply in turn.replies],
        )
        return [
            dataclasses.replace(reply, key=key)
            for reply, key in zip(turn.replies, keys, strict=True)
        ]

    def _first_delivery(self, session: Session, inbound: Inbound) -> bool:
        if inbound.message_id is None:
            return True
        return deliveries.first_delivery(session, inbound.channel, inbound.message_id)

    def _seen(self, inbound: Inbound) -> bool:
        assert inbound.message_id is not None  # noqa: S101 - checked by the caller
        with self.sessions() as session:
            return deliveries.delivered(session, inbound.channel, inbound.message_id)

    def _load(self, session: Session, inbound: Inbound) -> tuple[Turn, Saved | None]:
        """The turn, and the conversation as stored (for `_save`)."""
        person = service.person_for(
            session, channel=inbound.channel, external_id=inbound.user_id, chat_id=inbound.chat_id
        )
        saved = conversations.load(session, inbound.channel, inbound.user_id, inbound.chat_id)
        turn = Turn(session, inbound, person, IDLE, {})
        idle = dt.timedelta(minutes=self.desk.limits.draft_idle_minutes)
        if saved is None:
            self.rating.react(turn, since=None)
        elif utcnow() - saved.updated_at > idle:
            if saved.step in DRAFT_STEPS:
                turn.say(t("draft_expired"))
        elif saved.step == IDLE:
            turn.data = saved.data
            self.rating.react(turn, since=saved.updated_at)
        else:
            turn.step, turn.data = saved.step, saved.data
        return turn, saved

    def _save(self, turn: Turn, saved: Saved | None) -> None:
        inbound = turn.inbound
        channel, user, chat = inbound.channel, inbound.user_id, inbound.chat_id
        if turn.step == IDLE and not turn.data.get("offered"):
            if saved is not None:
                conversations.forget(turn.session, channel, user, chat)
            return
        conversations.save(
            turn.session,
            channel,
            user,
            chat,
            step=turn.step,
            data=turn.data,
            at=utcnow(),
            new=saved is None,
        )

    def _dispatch(self, turn: Turn) -> None:
        command = self._command(turn)
        inbound = turn.inbound
        if inbound.kind is Kind.COMMAND and inbound.text == "start":
            self._enter_grid(turn)
        if inbound.kind is Kind.BUTTON and inbound.text.startswith(RATE_PREFIX):
            # A rating button from a callback message: valid from any step, checked below.
            self.rating.rate(turn, inbound.text)
        elif command == "cancel" and not (turn.inbound.in_group and turn.step == IDLE):
            self.desk.cancel(turn)
        elif self.staff.takes(turn):
            self.staff.handle(turn)
        elif inbound.kind is Kind.BUTTON and command is None and turn.choice() is None:
            # A stale or forged button: it grants nothing; say so and ask again.
            turn.say(t("option_expired"))
            self.prompt(turn)
        elif command is not None and turn.step in DRAFT_STEPS:
            self._command_mid_draft(turn, command)
        elif command is not None:
            self._start(turn, command)
        else:
            self.steps.get(turn.step, self._idle)(turn)

    def _command(self, turn: Turn) -> str | None:
        inbound = turn.inbound
        if inbound.kind is Kind.COMMAND:
            return {"start": "help", "cancel": "cancel"}.get(inbound.text, inbound.text)
        if inbound.kind is Kind.TEXT:
            word = COMMAND_WORDS.get(inbound.text.strip())
            # Option labels win over command words inside a step (e.g. "撤回" as a button).
            if word is not None and (word == "cancel" or turn.choice() is None):
                return word
        if inbound.kind is Kind.BUTTON and inbound.text in MENU and turn.choice():
            return inbound.text
        return None

    def _enter_grid(self, turn: Turn) -> None:
        """A deep link or QR poster (`start grid_<code>`) places a resident in its grid: their
        appeals are filed there from now on (and a township's types go to its township)."""
        code = turn.inbound.args.strip().removeprefix("grid_")
        grid = self.grids.get(code)
        person = turn.person
        if grid is None or person.role != Role.RESIDENT.value:
            return
        person.grid = grid
        turn.session.add(person)
        draft = turn.draft
        if turn.step in DRAFT_STEPS and draft.grid != grid:
            draft.grid = grid
            turn.keep(draft)
        turn.say(t("grid.entered", grid=grid))

    def _command_mid_draft(self, turn: Turn, command: str) -> None:
        if command == "new":
            turn.say(t("restarted"))
            self._start(turn, "new")
            return
        if command in ("my", "help"):
            self._start(
                Turn(turn.session, turn.inbound, turn.person, IDLE, {}, turn.replies), command
            )
        else:
            turn.say(t("finish_current_first"))
        self.prompt(turn)

    def _start(self, turn: Turn, command: str) -> None:
        starters: dict[str, Callable[[Turn], None]] = {
            "new": self.form.begin_appeal,
            "my": self.cases.list_mine,
            "supplement": self.cases.begin_supplement,
            "withdraw": self.cases.begin_withdraw,
            "report": self.form.begin_report,
        }
        starter = starters.get(command)
        if starter is None:
            self._menu(turn, with_help=command == "help")
        else:
            starter(turn)

    def _menu(self, turn: Turn, *, with_help: bool = False) -> None:
        turn.goto(IDLE)
        if with_help:
            turn.say(t("help"))
        calendar = self.desk.policy.calendar
        if not calendar.is_workday(calendar.local_day(utcnow())):
            turn.say(t("weekend.greeting"))
        turn.say(
            t("welcome", center=self.desk.center),
            *(Option(t(f"menu.{name}"), name) for name in MENU),
        )

    def _idle(self, turn: Turn) -> None:
        picked = turn.choice()
        if picked in MENU:
            self._start(turn, picked)
            return
        inbound = turn.inbound
        number = typed_number(inbound)
        if number is not None:
            self.cases.show_case(turn, number)
            return
        if (
            inbound.kind is Kind.TEXT
            and len(inbound.text.strip()) >= self.desk.limits.text_min_chars
        ):
            if inbound.forwarded and turn.person.role == Role.GRID_WORKER:
                self.form.begin_report(turn, prompt=False)
            else:
                turn.goto(FormStep.DESCRIBE)
            self.form.describe(turn)
            return
        if inbound.kind is Kind.PHOTO and not self.desk.over_daily_limit(turn):
            # A photo first: kept, and the appeal it belongs to begins.
            turn.goto(FormStep.DESCRIBE)
            self.form.describe(turn)
            return
        self._menu(turn)
