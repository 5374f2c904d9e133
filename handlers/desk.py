"""What every part of the resident dialog shares: the center's rules and limits, the photo
store, the checks of typed words and photos, and the way to a step's question."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from handlers.limits import Limits
from handlers.turn import Turn
from messages.catalog import t
from messages.types import Inbound, Kind
from nlp.rules import has_content
from storage.files import FileRejected, FileStore, StoredFile
from storage.models import Appeal
from workflow import service
from workflow.followup import Policy
from workflow.service import Classifier

IDLE = "idle"  # no step: the menu
# The values of the options the steps offer.
DONE, SKIP, CONFIRM, CANCEL = "done", "skip", "confirm", "cancel"
MINUTE = "%Y-%m-%d %H:%M"  # times and deadlines as residents see them


@dataclass(frozen=True)
class Desk:
    """The parts of the dialog's features that are the same for each; `ask` asks the current
    step's question again (the dialog knows which feature owns the step)."""

    classifier: Classifier
    policy: Policy
    limits: Limits
    files: FileStore
    center: str
    ask: Callable[[Turn], None]

    def advance(self, turn: Turn, step: str) -> None:
        """Go to `step` and ask its question."""
        turn.step = step
        turn.data.pop("offered", None)
        self.ask(turn)

    def cancel(self, turn: Turn) -> None:
        had_something = turn.step != IDLE
        turn.goto(IDLE)
        turn.say(t("cancelled") if had_something else t("nothing_to_cancel"))

    def over_daily_limit(self, turn: Turn) -> bool:
        """Tell a resident who has filed the day's allowance so (before the form, not after)."""
        if not service.daily_limit_reached(turn.session, turn.person, self.policy):
            return False
        turn.goto(IDLE)
        turn.say(t("bad.daily_limit", limit=self.policy.appeals_per_day))
        return True

    def text_problem(self, inbound: Inbound, min_chars: int) -> str | None:
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

    def words_problem(self, inbound: Inbound) -> str | None:
        """What is wrong with a description or a supplement as words, if anything."""
        problem = self.text_problem(inbound, self.limits.text_min_chars)
        if problem is None and not has_content(inbound.text):
            return t("bad.no_content")
        return problem

    def store_photo(self, turn: Turn) -> StoredFile | None:
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

    def add_place(
        self,
        turn: Turn,
        appeal: Appeal,
        latitude: float,
        longitude: float,
        address: str | None,
    ) -> None:
        point = (latitude, longitude, address)
        note = t("note.location", place=place(latitude, longitude, address))
        service.supplement(
            turn.session, resident=turn.person, appeal=appeal, note=note, point=point
        )

    def local(self, moment: dt.datetime) -> str:
        return moment.astimezone(self.policy.calendar.zone).strftime(MINUTE)


def place(latitude: float | None, longitude: float | None, address: str | None) -> str | None:
    """A place as residents read it: the address, else the point."""
    if address or latitude is None or longitude is None:
        return address
    return f"{latitude:.5f}, {longitude:.5f}"
