"""The resident dialog, the same on every channel: file an appeal, follow it, add to it.

A turn loads the conversation row for (channel, user), runs the handler of its step and
saves the row, all in one transaction with whatever the turn did to appeals. Options the
turn offered are stored with the step, so a button or a typed number is checked against
what was actually offered and grants nothing by itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Callable

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from handlers.limits import Limits
from handlers.messages import ACTION, DISPOSITION, DISPOSITION_MEANS, PUBLIC_NOTES, STATUS, t
from handlers.staff import StaffDesk, is_group
from handlers.turn import Turn
from handlers.types import Inbound, Kind, Option, Outbound
from nlp.rules import has_content, is_confidential
from nlp.types import Disposition, Urgency
from storage import conversations, deliveries, replies
from storage.conversations import Saved
from storage.db import again_if_dropped, transaction
from storage.files import FileRejected, FileStore, StoredFile
from storage.models import Appeal, Person
from storage.roles import Role
from storage.types import utcnow
from workflow import service
from workflow.cards import local_deadline, mask_phone
from workflow.followup import RATINGS, Policy, rating_options, transition
from workflow.lifecycle import OPEN, Action, Actor, LifecycleError, Status, record
from workflow.service import Classifier, DailyLimitReached, Draft

log = logging.getLogger(__name__)

# The kinds of number a resident can be called back on.
CHINA = 86
CALLABLE = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
NAME_MAX = 20
IDLE = "idle"
DONE, SKIP, CONFIRM, CANCEL, SECRET = "done", "skip", "confirm", "cancel", "confirm_secret"
MENU = ("new", "my", "supplement", "withdraw", "help")
COMMAND_WORDS = {
    "取消": "cancel",
    "我要反映": "new",
    "查询进度": "my",
    "补充材料": "supplement",
    "撤回": "withdraw",
    "帮助": "help",
}
RATE_PREFIX = "rate:"
MINUTE = "%Y-%m-%d %H:%M"  # times and deadlines as residents see them
CASES_PER_PAGE = 8
CASE_NUMBER = re.compile(r"SQ\d{8}-\d{4,}")
DRAFT_STEPS = frozenset(
    {"describe", "answered", "photos", "location", "phone", "name", "confirm", "onsite"}
)
ONSITE, SAVED, SOLVED, FILE_ANYWAY = "onsite", "saved", "solved", "file_anyway"


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
    ) -> None:
        self.sessions = sessions
        self.classifier = classifier
        self.policy = policy
        self.limits = limits
        self.files = files
        self.center = center
        self.steps: dict[str, Callable[[Turn], None]] = {
            IDLE: self._idle,
            "describe": self._describe,
            "answered": self._answered,
            "photos": self._photos,
            "location": self._location,
            "phone": self._phone,
            "confirm": self._confirm,
            "pick": self._pick,
            "supplement": self._supplement,
            "withdraw_reason": self._withdraw_reason,
            "withdraw_confirm": self._withdraw_confirm,
            "rate": self._rate,
            "rate_reason": self._rate_reason,
            "rate_comment": self._rate_comment,
            "name": self._name,
            "onsite": self._onsite,
        }
        self.staff = StaffDesk(policy=policy, files=files, text_max_chars=limits.text_max_chars)

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
            with transaction(self.sessions, wait=wait) as session:
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
            if turn.step in DRAFT_STEPS:
                self._prompt(turn)
            else:
                turn.say(t("resume.options"), *turn.offered())
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
        if saved is None:
            return turn, saved
        idle = dt.timedelta(minutes=self.limits.draft_idle_minutes)
        if utcnow() - saved.updated_at > idle:
            if saved.step in DRAFT_STEPS:
                turn.say(t("draft_expired"))
            return turn, saved
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
        if inbound.kind is Kind.BUTTON and inbound.text.startswith(RATE_PREFIX):
            # A rating button from a callback message: valid from any step, checked below.
            self._rate(turn, inbound.text)
        elif command == "cancel" and not (is_group(turn) and turn.step == IDLE):
            self._cancel(turn)
        elif self.staff.takes(turn):
            self.staff.handle(turn)
        elif inbound.kind is Kind.BUTTON and command is None and turn.choice() is None:
            # A stale or forged button: it grants nothing; say so and ask again.
            turn.say(t("option_expired"))
            self._prompt(turn)
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

    def _cancel(self, turn: Turn) -> None:
        had_something = turn.step != IDLE
        turn.goto(IDLE)
        turn.say(t("cancelled") if had_something else t("nothing_to_cancel"))

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
        self._prompt(turn)

    def _start(self, turn: Turn, command: str) -> None:
        starters: dict[str, Callable[[Turn], None]] = {
            "new": self._begin_appeal,
            "my": self._list_mine,
            "supplement": self._begin_supplement,
            "withdraw": self._begin_withdraw,
            "report": self._begin_report,
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
        calendar = self.policy.calendar
        if not calendar.is_workday(calendar.local_day(utcnow())):
            turn.say(t("weekend.greeting"))
        turn.say(
            t("welcome", center=self.center),
            *(Option(t(f"menu.{name}"), name) for name in MENU),
        )

    # -- idle ---------------------------------------------------------------------------

    def _idle(self, turn: Turn) -> None:
        picked = turn.choice()
        if picked in MENU:
            self._start(turn, picked)
            return
        inbound = turn.inbound
        number = _typed_number(inbound)
        if number is not None:
            self._show_case(turn, number)
            return
        if inbound.kind is Kind.TEXT and len(inbound.text.strip()) >= self.limits.text_min_chars:
            if inbound.forwarded and turn.person.role == Role.GRID_WORKER:
                self._begin_report(turn, prompt=False)
            else:
                turn.goto("describe")
            self._describe(turn)
            return
        if inbound.kind is Kind.PHOTO and not self._over_daily_limit(turn):
            # A photo first: kept, and the appeal it belongs to begins.
            turn.goto("describe")
            self._describe(turn)
            return
        self._menu(turn)

    # -- the appeal form ----------------------------------------------------------------

    def _begin_appeal(self, turn: Turn) -> None:
        if self._over_daily_limit(turn):
            return
        turn.goto("describe")
        self._prompt(turn)

    def _over_daily_limit(self, turn: Turn) -> bool:
        """Tell a resident who has filed the day's allowance so (before the form, not after)."""
        if not service.daily_limit_reached(turn.session, turn.person, self.policy):
            return False
        turn.goto(IDLE)
        turn.say(t("bad.daily_limit", limit=self.policy.appeals_per_day))
        return True

    def _begin_report(self, turn: Turn, *, prompt: bool = True) -> None:
        """A grid worker's field report: the same form, their grid, maybe for a resident."""
        if turn.person.role != Role.GRID_WORKER:
            turn.say(t("grid.only"))
            return
        turn.goto("describe", grid_report=True)
        turn.keep(Draft(grid=turn.person.grid))
        if prompt:
            self._prompt(turn)

    def _prompt(self, turn: Turn) -> None:
        """Ask for what the current step needs."""
        limits = self.limits
        step = turn.step
        if step == "describe":
            turn.say(t("ask.describe", min=limits.text_min_chars, max=limits.text_max_chars))
        elif step == "photos":
            turn.say(
                t("ask.photos", max=limits.photos_per_appeal),
                Option(t("option.done"), DONE),
                Option(t("option.skip"), SKIP),
            )
        elif step == "location":
            turn.say(t("ask.location"), Option(t("option.skip"), SKIP), request_location=True)
        elif step == "answered":
            turn.say(
                t("faq.answer", answer=turn.data.get("answer", "")),
                Option(t("option.solved"), SOLVED),
                Option(t("option.file_anyway"), FILE_ANYWAY),
            )
        elif step == "phone":
            self._ask_phone(turn)
        elif step == "name":
            turn.say(t("grid.ask_name"), Option(t("option.skip"), SKIP))
        elif step == "confirm":
            self._summary(turn)
        elif step == ONSITE:
            turn.say(t("grid.ask_onsite"), Option(t("option.cancel"), CANCEL))

    def _text_problem(self, inbound: Inbound, min_chars: int) -> str | None:
        if inbound.kind is Kind.PHOTO:
            return t("bad.photo_here")
        if inbound.kind not in (Kind.TEXT, Kind.BUTTON):
            return t("bad.not_text")
        text = inbound.text.strip()
        limits = self.limits
        if not text:
            return t("bad.empty")
        if len(text) < min_chars:
            return t("bad.too_short", min=min_chars)
        if len(text) > limits.text_max_chars:
            return t("bad.too_long", length=len(text), max=limits.text_max_chars)
        return None

    def _words_problem(self, inbound: Inbound) -> str | None:
        """What is wrong with a description or a supplement as words, if anything."""
        problem = self._text_problem(inbound, self.limits.text_min_chars)
        if problem is None and not has_content(inbound.text):
            return t("bad.no_content")
        return problem

    def _describe(self, turn: Turn) -> None:
        if turn.inbound.kind is Kind.PHOTO:
            count = self._add_photo(turn)
            if count is not None:
                turn.say(t("photo.before_text", count=count))
            return
        problem = self._words_problem(turn.inbound)
        if problem is not None:
            turn.say(problem)
            self._prompt(turn)
            return
        draft = turn.draft
        draft.text = turn.inbound.text.strip()
        turn.keep(draft)
        if self.classifier.danger(draft.text).urgency is Urgency.LIFE:
            # A danger to life is filed at once, with what is known: the advice comes first,
            # photos and the place may follow.
            draft.phone = draft.phone or turn.person.phone
            turn.keep(draft)
            self._submit(turn)
            return
        grid_report = turn.data.get("grid_report")
        if not grid_report and self._over_daily_limit(turn):
            return
        result = self.classifier.classify(draft.text, grid=draft.grid)
        if (
            not grid_report
            and result.disposition is Disposition.CONSULTATION
            and result.faq_answer
        ):
            # A question the FAQ answers: the answer now, the form only if still wanted.
            turn.data["answer"] = result.faq_answer
            self._advance(turn, "answered")
            return
        self._advance(turn, "photos" if self.limits.photos_per_appeal else "location")

    def _answered(self, turn: Turn) -> None:
        """After the FAQ's answer: solved (filed as answered, for the ledger) or filed for
        staff to take after all."""
        picked = turn.choice()
        if picked == SOLVED:
            self._submit(turn)
        elif picked == FILE_ANYWAY:
            turn.keep(dataclasses.replace(turn.draft, answer_declined=True))
            self._advance(turn, "photos" if self.limits.photos_per_appeal else "location")
        else:
            turn.say(t("bad.choice"))
            self._prompt(turn)

    def _advance(self, turn: Turn, step: str) -> None:
        turn.step = step
        turn.data.pop("offered", None)
        self._prompt(turn)

    def _store_photo(self, turn: Turn) -> StoredFile | None:
        """Save the inbound photo, or tell the resident why not."""
        try:
            return self.files.store_image(turn.inbound.data or b"")
        except FileRejected as rejected:
            if rejected.reason == "size":
                max_mb = self.limits.photo_max_bytes // (1024 * 1024)
                turn.say(t("bad.photo_size", max_mb=max_mb))
            else:
                turn.say(t("bad.photo_type"))
            return None

    def _add_photo(self, turn: Turn) -> int | None:
        """Keep the inbound photo with the draft: how many it now has, or None after telling
        the resident why this one was not kept (over the limit, not a photo, sent before)."""
        draft = turn.draft
        if len(draft.photos) >= self.limits.photos_per_appeal:
            turn.say(t("bad.too_many_photos", max=self.limits.photos_per_appeal))
            return None
        photo = self._store_photo(turn)
        if photo is None:
            return None
        if any(kept.sha256 == photo.sha256 for kept in draft.photos):
            turn.say(t("photo.again"))
            return None
        draft.photos.append(photo)
        turn.keep(draft)
        return len(draft.photos)

    def _photos(self, turn: Turn) -> None:
        inbound = turn.inbound
        if inbound.kind is Kind.PHOTO:
            count = self._add_photo(turn)
            if count is not None:
                full = count >= self.limits.photos_per_appeal
                received = "photo.received_last" if full else "photo.received"
                turn.say(t(received, count=count), Option(t("option.done"), DONE))
            return
        if turn.choice() in (DONE, SKIP):
            self._advance(turn, "location")
            return
        turn.say(t("bad.not_photo"))
        self._prompt(turn)

    def _location(self, turn: Turn) -> None:
        inbound = turn.inbound
        draft = turn.draft
        if inbound.kind is Kind.LOCATION:
            if not _in_china(inbound.latitude, inbound.longitude):
                turn.say(t("bad.location_far"))
                self._prompt(turn)
                return
            draft.latitude, draft.longitude = inbound.latitude, inbound.longitude
            draft.address = inbound.address
        elif turn.choice() == SKIP:
            pass
        elif inbound.kind is Kind.TEXT and _address_like(
            inbound.text.strip(), self.limits.address_max_chars
        ):
            draft.address = inbound.text.strip()
        else:
            turn.say(t("bad.location", max=self.limits.address_max_chars))
            self._prompt(turn)
            return
        turn.keep(draft)
        self._advance(turn, "phone")

    def _ask_phone(self, turn: Turn) -> None:
        if turn.data.get("grid_report"):
            turn.say(t("grid.ask_phone"), Option(t("option.skip"), SKIP))
            return
        saved = turn.person.phone
        text = t("ask.phone")
        options = [Option(t("option.cancel"), CANCEL)]
        if not self.limits.phone_required:
            text += t("ask.phone.optional")
            options.insert(0, Option(t("option.skip"), SKIP))
        if saved:
            text += t("ask.phone.saved", phone=mask_phone(saved))
            options.insert(0, Option(t("option.use_phone", phone=mask_phone(saved)), SAVED))
        turn.say(text, *options, request_contact=True)

    def _phone(self, turn: Turn) -> None:
        inbound = turn.inbound
        picked = turn.choice()
        grid_report = bool(turn.data.get("grid_report"))
        if picked == SKIP and (grid_report or not self.limits.phone_required):
            self._advance(turn, "confirm")
            return
        if picked == CANCEL:  # the step's own option, typed as its number
            self._cancel(turn)
            return
        phone: str | None
        if picked == SAVED and turn.person.phone and not grid_report:
            phone = turn.person.phone
        elif inbound.kind is Kind.CONTACT:
            if not inbound.own_contact:
                turn.say(t("bad.contact_not_own"))
                self._prompt(turn)
                return
            phone = callable_number(inbound.phone or "")
        elif inbound.kind is Kind.TEXT:
            phone = callable_number(inbound.text)
        else:
            turn.say(t("bad.not_text"))
            self._prompt(turn)
            return
        if phone is None:
            shown = inbound.phone if inbound.kind is Kind.CONTACT else inbound.text.strip()
            turn.say(t("bad.phone", value=(shown or "")[:20]))
            self._prompt(turn)
            return
        draft = turn.draft
        draft.phone = phone
        turn.keep(draft)
        self._advance(turn, "name" if grid_report else "confirm")

    def _name(self, turn: Turn) -> None:
        inbound = turn.inbound
        draft = turn.draft
        if turn.choice() != SKIP:
            name = inbound.text.strip() if inbound.kind is Kind.TEXT else ""
            if not name or len(name) > NAME_MAX:
                turn.say(t("grid.bad_name", max=NAME_MAX))
                self._prompt(turn)
                return
            draft.resident_name = name
            turn.keep(draft)
        self._advance(turn, "confirm")

    def _summary(self, turn: Turn) -> None:
        draft = turn.draft
        place = _place(draft.latitude, draft.longitude, draft.address) or t("place.none")
        text = t(
            "summary",
            text=draft.text,
            photos=len(draft.photos),
            place=place,
            phone=mask_phone(draft.phone),
        )
        options = [Option(t("option.confirm"), CONFIRM)]
        secret: list[Option] = []
        if draft.confidential or is_confidential(draft.text):
            text += "\n" + t("summary.secret")
        elif not turn.data.get("grid_report"):
            text += "\n" + t("summary.secret_hint")
            secret.append(Option(t("option.confirm_secret"), SECRET))
        if turn.data.get("grid_report"):
            text += "\n" + t("grid.summary", name=draft.resident_name or t("place.none"))
            options.append(Option(t("option.onsite"), ONSITE))
        else:
            for appeal in service.similar_open(
                turn.session,
                draft=draft,
                classifier=self.classifier,
                resident=turn.person,
                days=self.policy.triage.duplicate_days,
            ):
                # The resident's own case, to add to; someone else's here, to follow.
                found, option, value = (
                    ("similar.own", "option.add_to", "add")
                    if appeal.own
                    else ("similar.found", "option.follow", "follow")
                )
                status = STATUS[appeal.status]
                text += "\n" + t(found, number=appeal.number, status=status)
                options.append(Option(t(option, number=appeal.number), f"{value}:{appeal.number}"))
        options.append(Option(t("option.cancel"), CANCEL))
        turn.say(text, *options, *secret)

    def _confirm(self, turn: Turn) -> None:
        picked = turn.choice() or ""
        if picked == CANCEL:
            self._cancel(turn)
        elif picked == ONSITE:
            turn.step = ONSITE
            self._prompt(turn)
        elif picked.startswith("follow:"):
            self._follow(turn, picked.removeprefix("follow:"))
        elif picked.startswith("add:"):
            self._add_to(turn, picked.removeprefix("add:"))
        elif picked == SECRET:
            turn.keep(dataclasses.replace(turn.draft, confidential=True))
            self._submit(turn)
        elif picked == CONFIRM:
            self._submit(turn)
        else:
            turn.say(t("bad.choice"))
            self._prompt(turn)

    def _follow(self, turn: Turn, number: str) -> None:
        appeal = service.case_by_number(turn.session, number)
        if appeal is None or Status(appeal.status) not in OPEN:
            turn.say(t("case.gone"))
            self._prompt(turn)
            return
        service.follow(turn.session, resident=turn.person, appeal=appeal, note=t("note.follow"))
        turn.goto(IDLE)
        turn.say(t("similar.following", number=appeal.number))

    def _add_to(self, turn: Turn, number: str) -> None:
        """The draft (words, photos, place) added to the resident's own open case instead
        of filing it again."""
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        if appeal is None or Status(appeal.status) not in OPEN:
            turn.say(t("case.gone"))
            self._prompt(turn)
            return
        draft, session, person = turn.draft, turn.session, turn.person
        service.supplement(session, resident=person, appeal=appeal, note=draft.text)
        for photo in draft.photos:
            service.supplement(
                session, resident=person, appeal=appeal, note=t("note.photo"), photo=photo
            )
        if draft.latitude is not None and draft.longitude is not None:
            self._add_place(turn, appeal, draft.latitude, draft.longitude, draft.address)
        turn.goto(IDLE)
        turn.say(t("similar.added", number=appeal.number))

    def _add_place(
        self,
        turn: Turn,
        appeal: Appeal,
        latitude: float,
        longitude: float,
        address: str | None,
    ) -> None:
        point = (latitude, longitude, address)
        note = t("note.location", place=_place(latitude, longitude, address))
        service.supplement(
            turn.session, resident=turn.person, appeal=appeal, note=note, point=point
        )

    def _onsite(self, turn: Turn) -> None:
        """已现场处置: a photo of the result, then what was done; the case is filed resolved."""
        inbound = turn.inbound
        if inbound.kind is Kind.PHOTO:
            photo = self._store_photo(turn)
            if photo is not None:
                turn.data["onsite_photos"] = [
                    *turn.data.get("onsite_photos", []),
                    dataclasses.asdict(photo),
                ]
                turn.say(t("grid.onsite_photo"), Option(t("option.cancel"), CANCEL))
            return
        if not turn.data.get("onsite_photos"):
            turn.say(t("grid.onsite_needs_photo"))
            self._prompt(turn)
            return
        problem = self._text_problem(inbound, 1)
        if problem is not None:
            turn.say(problem)
            self._prompt(turn)
            return
        photos = [StoredFile(**photo) for photo in turn.data["onsite_photos"]]
        self._submit(turn, on_spot=service.OnSpot(inbound.text.strip(), photos))

    def _submit(self, turn: Turn, *, on_spot: service.OnSpot | None = None) -> None:
        draft = turn.draft
        grid_report = bool(turn.data.get("grid_report"))
        session = turn.session
        try:
            resident = (
                service.resident_for_report(session, reporter=turn.person, draft=draft)
                if grid_report
                else turn.person
            )
            submitted = service.submit(
                session,
                resident=resident,
                channel=turn.inbound.channel,
                draft=draft,
                classifier=self.classifier,
                policy=self.policy,
                reporter=turn.person if grid_report else None,
                on_spot=on_spot,
            )
        except DailyLimitReached:
            turn.say(t("bad.daily_limit", limit=self.policy.appeals_per_day))
            return
        answered_already = turn.step == "answered"
        turn.goto(IDLE)
        if answered_already:
            turn.say(t("faq.recorded", number=submitted.appeal.number))
        elif on_spot is None:
            self._tell_submitted(turn, submitted)
        else:  # handled already: no department, deadline or urgency to announce
            turn.say(t("grid.onsite_recorded", number=submitted.appeal.number))

    def _tell_submitted(self, turn: Turn, submitted: service.Submitted) -> None:
        appeal, result = submitted.appeal, submitted.classification
        if result.urgency is Urgency.LIFE:
            self._tell_emergency(turn, submitted)
            return
        if result.urgency is Urgency.URGENT:
            turn.say(t("urgent.safety"))
        lines = [t("submitted", number=appeal.number)]
        if not appeal.needs_triage:
            lines.append(
                t(
                    "submitted.sorted",
                    category=appeal.category,
                    disposition=DISPOSITION[appeal.disposition],
                    means=DISPOSITION_MEANS[appeal.disposition],
                )
            )
        if appeal.status == Status.ANSWERED:
            lines.append(t("submitted.answer", answer=result.faq_answer))
        elif submitted.department:
            lines.append(t("submitted.department", department=submitted.department))
        elif appeal.needs_triage:
            lines.append(t("submitted.triage"))
        if submitted.reply_due_at is not None:
            deadline = local_deadline(submitted.reply_due_at, self.policy.calendar, MINUTE)
            lines.append(t("submitted.deadline", deadline=deadline))
        lines.append(t("submitted.keep_number"))
        turn.say("\n".join(lines))

    def _tell_emergency(self, turn: Turn, submitted: service.Submitted) -> None:
        """Safety advice first; then the case number, and the case stays open for photos and
        the place (the supplement step)."""
        hazard = submitted.classification.hazard
        turn.say(t(f"emergency.{hazard.value}" if hazard else "emergency.other"))
        number = submitted.appeal.number
        turn.goto("supplement", number=number, count=0)
        turn.say(
            t("emergency.filed", number=number),
            Option(t("option.done"), DONE),
            request_location=True,
        )

    def _local(self, moment: dt.datetime) -> str:
        return moment.astimezone(self.policy.calendar.zone).strftime(MINUTE)

    # -- following appeals --------------------------------------------------------------

    def _list_mine(self, turn: Turn) -> None:
        self._offer_cases(turn, "timeline")

    def _begin_supplement(self, turn: Turn) -> None:
        self._offer_cases(turn, "supplement")

    def _begin_withdraw(self, turn: Turn) -> None:
        self._offer_cases(turn, "withdraw")

    def _offer_cases(self, turn: Turn, purpose: str, page: int = 0) -> None:
        """A page of the cases to pick from: all of the resident's and followed ones to
        look at ("timeline"), their open ones to add to or withdraw."""
        first = page * CASES_PER_PAGE
        if purpose == "timeline":
            appeals, total = service.appeals_of(
                turn.session, resident=turn.person, offset=first, limit=CASES_PER_PAGE
            )
        else:
            everything = service.open_appeals_of(turn.session, resident=turn.person)
            appeals, total = everything[first : first + CASES_PER_PAGE], len(everything)
        if not appeals:
            turn.goto(IDLE)
            turn.say(t(f"pick.{purpose}.none"))
            return
        turn.goto("pick", purpose=purpose)
        options = [
            Option(
                t(
                    "my.item",
                    number=appeal.number,
                    status=STATUS[appeal.status],
                    category=appeal.category,
                    date=self._local(appeal.created_at)[:10],
                ),
                f"case:{appeal.number}",
            )
            for appeal in appeals
        ]
        if first + len(appeals) < total:
            options.append(Option(t("option.more"), f"page:{page + 1}"))
        turn.say(t(f"pick.{purpose}", total=total), *options)

    def _pick(self, turn: Turn) -> None:
        purpose = str(turn.data.get("purpose", "timeline"))
        picked = turn.choice() or ""
        if picked.startswith("page:"):
            self._offer_cases(turn, purpose, int(picked.removeprefix("page:")))
            return
        number = picked.removeprefix("case:") if picked else _typed_number(turn.inbound)
        if purpose == "timeline" and number:
            self._show_case(turn, number)
            return
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number or "")
        if appeal is None:
            turn.say(t("bad.choice"))
            self._offer_cases(turn, purpose)
        elif Status(appeal.status) not in OPEN:
            turn.goto(IDLE)
            turn.say(t("case.gone"))
        elif purpose == "supplement":
            turn.goto("supplement", number=appeal.number, count=0)
            turn.say(t("supplement.ask"), Option(t("option.done"), DONE))
        else:
            turn.goto("withdraw_reason", number=appeal.number)
            turn.say(t("withdraw.ask_reason"), Option(t("option.cancel"), CANCEL))

    def _show_case(self, turn: Turn, number: str) -> None:
        """The case's record, if the resident filed or follows it; a resolved case of their
        own that waits for a rating may be rated at once."""
        turn.goto(IDLE)
        appeal = service.visible_appeal(turn.session, resident=turn.person, number=number)
        if appeal is None:
            turn.say(t("case.not_found", number=number))
            return
        timeline = self._timeline(turn.session, appeal)
        if appeal.status == Status.RESOLVED and appeal.resident_id == turn.person.id:
            turn.goto("rate")
            options = [Option(label, value) for label, value in rating_options(appeal)]
            turn.say(timeline + "\n" + t("rate.now"), *options)
            return
        turn.say(timeline)

    def _timeline(self, session: Session, appeal: Appeal) -> str:
        lines = [
            t(
                "timeline.head",
                number=appeal.number,
                status=STATUS[appeal.status],
                text=appeal.text,
            )
        ]
        for event in service.timeline(session, appeal=appeal):
            note = f"：{event.note}" if event.note and event.action in PUBLIC_NOTES else ""
            action = ACTION.get(event.action, event.action)
            lines.append(
                t("timeline.item", time=self._local(event.created_at), action=action, note=note)
            )
        return "\n".join(lines)

    def _appeal_in_step(self, turn: Turn) -> Appeal | None:
        """The appeal this step is about, if it is still open; otherwise end the step."""
        number = str(turn.data.get("number", ""))
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        if appeal is None or Status(appeal.status) not in OPEN:
            turn.goto(IDLE)
            turn.say(t("case.gone"))
            return None
        return appeal

    def _supplement(self, turn: Turn) -> None:
        if turn.choice() == DONE:
            count = int(turn.data.get("count", 0))
            turn.goto(IDLE)
            turn.say(t("supplement.done", count=count))
            return
        appeal = self._appeal_in_step(turn)
        if appeal is None:
            return
        inbound = turn.inbound
        done = Option(t("option.done"), DONE)
        if inbound.kind is Kind.PHOTO:
            limit = self.limits.photos_per_appeal
            if service.photo_count(turn.session, appeal) >= limit:
                turn.say(t("bad.too_many_photos", max=limit), done)
                return
            photo = self._store_photo(turn)
            if photo is None:
                return
            service.supplement(
                turn.session,
                resident=turn.person,
                appeal=appeal,
                note=t("note.photo"),
                photo=photo,
            )
        elif inbound.kind is Kind.LOCATION and inbound.latitude is not None:
            longitude = inbound.longitude or 0.0
            self._add_place(turn, appeal, inbound.latitude, longitude, inbound.address)
        else:
            problem = self._words_problem(inbound)
            if problem is not None:
                turn.say(problem, done)
                return
            text = inbound.text.strip()
            service.supplement(turn.session, resident=turn.person, appeal=appeal, note=text)
        turn.data["count"] = int(turn.data.get("count", 0)) + 1
        turn.say(t("supplement.added", number=appeal.number), done)

    def _withdraw_reason(self, turn: Turn) -> None:
        if turn.choice() == CANCEL:
            self._cancel(turn)
            return
        appeal = self._appeal_in_step(turn)
        if appeal is None:
            return
        inbound = turn.inbound
        reason = inbound.text.strip() if inbound.kind is Kind.TEXT else ""
        if not reason or len(reason) > self.limits.text_max_chars:
            turn.say(t("withdraw.ask_reason"), Option(t("option.cancel"), CANCEL))
            return
        turn.goto("withdraw_confirm", number=appeal.number, reason=reason)
        turn.say(
            t("withdraw.confirm", number=appeal.number, reason=reason),
            Option(t("option.withdraw"), CONFIRM),
            Option(t("option.cancel"), CANCEL),
        )

    def _withdraw_confirm(self, turn: Turn) -> None:
        picked = turn.choice()
        if picked == CANCEL:
            self._cancel(turn)
            return
        appeal = self._appeal_in_step(turn)
        if appeal is None:
            return
        if picked != CONFIRM:
            reason = str(turn.data.get("reason", ""))
            turn.say(t("bad.choice"))
            turn.say(t("withdraw.confirm", number=appeal.number, reason=reason), *turn.offered())
            return
        try:
            service.withdraw(
                turn.session,
                resident=turn.person,
                appeal=appeal,
                reason=str(turn.data.get("reason", "")),
                policy=self.policy,
            )
        except LifecycleError:
            turn.goto(IDLE)
            turn.say(t("case.gone"))
            return
        turn.goto(IDLE)
        turn.say(t("withdraw.done", number=appeal.number))

    # -- satisfaction -------------------------------------------------------------------

    def _rate(self, turn: Turn, value: str | None = None) -> None:
        picked = value or turn.choice() or ""
        number, _, rating = picked.removeprefix(RATE_PREFIX).partition(":")
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        if not picked.startswith(RATE_PREFIX) or appeal is None or rating not in RATINGS:
            if turn.step == "rate":
                self._idle(Turn(turn.session, turn.inbound, turn.person, IDLE, {}, turn.replies))
                turn.goto(IDLE)
            else:
                turn.say(t("option_expired"))
            return
        if appeal.status != Status.RESOLVED:
            if turn.step == "rate":
                turn.goto(IDLE)
            turn.say(t("rate.already", number=appeal.number))
            return
        if rating == RATINGS[-1]:
            turn.goto("rate_reason", number=appeal.number)
            turn.say(t("rate.ask_reason"), Option(t("option.cancel"), CANCEL))
            return
        appeal.rating = rating
        transition(
            turn.session, appeal, Action.RATE, Actor.of(turn.person), rating, policy=self.policy
        )
        turn.goto("rate_comment", number=appeal.number)
        turn.say(t("rate.ask_comment"), Option(t("option.skip"), SKIP))

    def _rate_reason(self, turn: Turn) -> None:
        if turn.choice() == CANCEL:
            self._cancel(turn)
            return
        number = str(turn.data.get("number", ""))
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        if appeal is None or appeal.status != Status.RESOLVED:
            turn.goto(IDLE)
            turn.say(t("rate.already", number=number))
            return
        problem = self._text_problem(turn.inbound, 1)
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
            policy=self.policy,
            tell_resident=False,
        )
        turn.goto(IDLE)
        deadline = local_deadline(appeal.reply_due_at, self.policy.calendar, MINUTE)
        turn.say(t("rate.reopened", number=appeal.number, deadline=deadline))

    def _rate_comment(self, turn: Turn) -> None:
        number = str(turn.data.get("number", ""))
        turn.goto(IDLE)
        appeal = service.own_appeal(turn.session, resident=turn.person, number=number)
        inbound = turn.inbound
        if appeal is not None and turn.choice() != SKIP and inbound.kind is Kind.TEXT:
            comment = inbound.text.strip()[: self.limits.text_max_chars]
            if comment:
                record(turn.session, appeal, "comment", Actor.of(turn.person), comment)
        turn.say(t("rate.thanks", number=number))


def await_rating(session: Session, person: Person, options: list[list[str]]) -> None:
    """Let a numbered reply answer a callback, unless the resident is busy with something else."""
    channel, user = person.channel, person.external_id
    chat = person.chat_id or user  # the private chat the callback goes to
    saved = conversations.load(session, channel, user, chat)
    if saved is not None and saved.step != IDLE:
        return
    offered = {"offered": options}
    conversations.save(
        session, channel, user, chat, step="rate", data=offered, at=utcnow(), new=saved is None
    )


def _in_china(latitude: float | None, longitude: float | None) -> bool:
    """Within China's bounding box (a generous one: the center serves a county in it)."""
    if latitude is None or longitude is None:
        return False
    return 3.8 <= latitude <= 53.6 and 73.5 <= longitude <= 135.1


def _address_like(text: str, max_chars: int) -> bool:
    """Two characters or more, not only digits or punctuation (an option number that was
    not offered, "2", is no address)."""
    return 2 <= len(text) <= max_chars and any(char.isalpha() for char in text)


def callable_number(raw: str) -> str | None:
    """A mainland mobile (13900139000) or landline (0731-88888888) however it was typed:
    full-width digits (input methods type them), spaces, dashes, +86; None if it is none."""
    text = unicodedata.normalize("NFKC", raw).strip()
    try:
        number = phonenumbers.parse(text, "CN")
    except NumberParseException:
        return None
    if (
        number.country_code != CHINA
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) not in CALLABLE
    ):
        return None
    digits = str(number.national_number)
    area = phonenumbers.length_of_geographical_area_code(number)
    return f"0{digits[:area]}-{digits[area:]}" if area else digits


def _typed_number(inbound: Inbound) -> str | None:
    """A case number typed as the whole message (any case, full-width too)."""
    if inbound.kind is not Kind.TEXT:
        return None
    text = unicodedata.normalize("NFKC", inbound.text).strip().upper()
    return text if CASE_NUMBER.fullmatch(text) else None


def _place(latitude: float | None, longitude: float | None, address: str | None) -> str | None:
    """A place as residents read it: the address, else the point."""
    if address or latitude is None or longitude is None:
        return address
    return f"{latitude:.5f}, {longitude:.5f}"
