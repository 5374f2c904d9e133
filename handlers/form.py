"""The appeal form: the description, photos, place and phone a resident (or a grid worker,
for a resident) gives before the summary; a question the FAQ answers is answered at once."""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from handlers.desk import CANCEL, DONE, SKIP, Desk
from handlers.filing import Filing, FilingStep
from handlers.turn import Turn
from messages.catalog import t
from messages.types import Kind, Option
from nlp.types import Disposition, Urgency
from storage.roles import Role
from workflow.cards import mask_phone

CHINA = 86
# The kinds of number a resident can be called back on.
CALLABLE = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
NAME_MAX = 20
SAVED, SOLVED, FILE_ANYWAY = "saved", "solved", "file_anyway"


class FormStep(StrEnum):
    DESCRIBE = "describe"
    ANSWERED = "answered"
    PHOTOS = "photos"
    LOCATION = "location"
    PHONE = "phone"
    NAME = "name"


class AppealForm:
    def __init__(self, desk: Desk, filing: Filing) -> None:
        self.desk = desk
        self.filing = filing
        self.steps: dict[str, Callable[[Turn], None]] = {
            FormStep.DESCRIBE: self.describe,
            FormStep.ANSWERED: self._answered,
            FormStep.PHOTOS: self._photos,
            FormStep.LOCATION: self._location,
            FormStep.PHONE: self._phone,
            FormStep.NAME: self._name,
        }

    def prompt(self, turn: Turn) -> None:
        """Ask for what the current step needs."""
        limits = self.desk.limits
        step = turn.step
        if step == FormStep.DESCRIBE:
            turn.say(t("ask.describe", min=limits.text_min_chars, max=limits.text_max_chars))
        elif step == FormStep.PHOTOS:
            turn.say(
                t("ask.photos", max=limits.photos_per_appeal),
                Option(t("option.done"), DONE),
                Option(t("option.skip"), SKIP),
            )
        elif step == FormStep.LOCATION:
            turn.say(t("ask.location"), Option(t("option.skip"), SKIP), request_location=True)
        elif step == FormStep.ANSWERED:
            turn.say(
                t("faq.answer", answer=turn.data.get("answer", "")),
                Option(t("option.solved"), SOLVED),
                Option(t("option.file_anyway"), FILE_ANYWAY),
            )
        elif step == FormStep.PHONE:
            self._ask_phone(turn)
        elif step == FormStep.NAME:
            turn.say(t("grid.ask_name"), Option(t("option.skip"), SKIP))

    def begin_appeal(self, turn: Turn) -> None:
        if self.desk.over_daily_limit(turn):
            return
        turn.goto(FormStep.DESCRIBE)
        self.desk.ask(turn)

    def begin_report(self, turn: Turn, *, prompt: bool = True) -> None:
        """A grid worker's field report: the same form, their grid, maybe for a resident."""
        if turn.person.role != Role.GRID_WORKER:
            turn.say(t("grid.only"))
            return
        turn.goto(FormStep.DESCRIBE, grid_report=True)
        if prompt:
            self.desk.ask(turn)

    def describe(self, turn: Turn) -> None:
        if turn.inbound.kind is Kind.PHOTO:
            count = self._add_photo(turn)
            if count is not None:
                turn.say(t("photo.before_text", count=count))
            return
        problem = self.desk.words_problem(turn.inbound)
        if problem is not None:
            turn.say(problem)
            self.desk.ask(turn)
            return
        draft = turn.draft
        draft.text = turn.inbound.text.strip()
        turn.keep(draft)
        # Classified once here: the danger decides first, then the FAQ (the grid changes the
        # department only, not the urgency or the disposition).
        result = self.desk.classifier.classify(draft.text, grid=draft.grid)
        if result.urgency is Urgency.LIFE:
            # A danger to life is filed at once, with what is known: the advice comes first,
            # photos and the place may follow.
            draft.phone = draft.phone or turn.person.phone
            turn.keep(draft)
            self.filing.submit(turn)
            return
        grid_report = turn.data.get("grid_report")
        if not grid_report and self.desk.over_daily_limit(turn):
            return
        if (
            not grid_report
            and result.disposition is Disposition.CONSULTATION
            and result.faq_answer
        ):
            # A question the FAQ answers: the answer now, the form only if still wanted.
            turn.data["answer"] = result.faq_answer
            self.desk.advance(turn, FormStep.ANSWERED)
            return
        self._after_words(turn)

    def _after_words(self, turn: Turn) -> None:
        """On to the photos (the place, where the center takes none)."""
        photos = self.desk.limits.photos_per_appeal
        self.desk.advance(turn, FormStep.PHOTOS if photos else FormStep.LOCATION)

    def _answered(self, turn: Turn) -> None:
        """After the FAQ's answer: solved (filed as answered, for the ledger) or filed for
        staff to take after all."""
        picked = turn.choice()
        if picked == SOLVED:
            self.filing.submit(turn, answered=True)
        elif picked == FILE_ANYWAY:
            turn.keep(dataclasses.replace(turn.draft, answer_declined=True))
            self._after_words(turn)
        else:
            turn.say(t("bad.choice"))
            self.desk.ask(turn)

    def _add_photo(self, turn: Turn) -> int | None:
        """Keep the inbound photo with the draft: how many it now has, or None after telling
        the resident why this one was not kept (over the limit, not a photo, sent before)."""
        draft = turn.draft
        if len(draft.photos) >= self.desk.limits.photos_per_appeal:
            turn.say(t("bad.too_many_photos", max=self.desk.limits.photos_per_appeal))
            return None
        photo = self.desk.store_photo(turn)
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
                full = count >= self.desk.limits.photos_per_appeal
                received = "photo.received_last" if full else "photo.received"
                turn.say(t(received, count=count), Option(t("option.done"), DONE))
            return
        if turn.choice() in (DONE, SKIP):
            self.desk.advance(turn, FormStep.LOCATION)
            return
        turn.say(t("bad.not_photo"))
        self.desk.ask(turn)

    def _location(self, turn: Turn) -> None:
        inbound = turn.inbound
        draft = turn.draft
        if inbound.kind is Kind.LOCATION:
            if not _in_china(inbound.latitude, inbound.longitude):
                turn.say(t("bad.location_far"))
                self.desk.ask(turn)
                return
            draft.latitude, draft.longitude = inbound.latitude, inbound.longitude
            draft.address = inbound.address
        elif turn.choice() == SKIP:
            pass
        elif inbound.kind is Kind.TEXT and _address_like(
            inbound.text.strip(), self.desk.limits.address_max_chars
        ):
            draft.address = inbound.text.strip()
        else:
            turn.say(t("bad.location", max=self.desk.limits.address_max_chars))
            self.desk.ask(turn)
            return
        turn.keep(draft)
        self.desk.advance(turn, FormStep.PHONE)

    def _ask_phone(self, turn: Turn) -> None:
        if turn.data.get("grid_report"):
            turn.say(t("grid.ask_phone"), Option(t("option.skip"), SKIP))
            return
        saved = turn.person.phone
        text = t("ask.phone")
        options = [Option(t("option.cancel"), CANCEL)]
        if not self.desk.limits.phone_required:
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
        if picked == SKIP and (grid_report or not self.desk.limits.phone_required):
            self.desk.advance(turn, "confirm")
            return
        if picked == CANCEL:  # the step's own option, typed as its number
            self.desk.cancel(turn)
            return
        phone: str | None
        if picked == SAVED and turn.person.phone and not grid_report:
            phone = turn.person.phone
        elif inbound.kind is Kind.CONTACT:
            if not inbound.own_contact:
                turn.say(t("bad.contact_not_own"))
                self.desk.ask(turn)
                return
            phone = callable_number(inbound.phone or "")
        elif inbound.kind is Kind.TEXT:
            phone = callable_number(inbound.text)
        else:
            turn.say(t("bad.not_text"))
            self.desk.ask(turn)
            return
        if phone is None:
            shown = inbound.phone if inbound.kind is Kind.CONTACT else inbound.text.strip()
            turn.say(t("bad.phone", value=(shown or "")[:20]))
            self.desk.ask(turn)
            return
        draft = turn.draft
        draft.phone = phone
        turn.keep(draft)
        self.desk.advance(turn, FormStep.NAME if grid_report else FilingStep.CONFIRM)

    def _name(self, turn: Turn) -> None:
        inbound = turn.inbound
        draft = turn.draft
        if turn.choice() != SKIP:
            name = inbound.text.strip() if inbound.kind is Kind.TEXT else ""
            if not name or len(name) > NAME_MAX:
                turn.say(t("grid.bad_name", max=NAME_MAX))
                self.desk.ask(turn)
                return
            draft.resident_name = name
            turn.keep(draft)
        self.desk.advance(turn, "confirm")


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
