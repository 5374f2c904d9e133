"""One inbound message being handled: the person, their place in a dialog, the answers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from messages.types import Inbound, Kind, Option, Outbound
from storage.files import StoredFile
from storage.models import Person
from workflow.service import Draft


def _draft_to_json(draft: Draft) -> dict[str, Any]:
    return dataclasses.asdict(draft)


def _draft_from_json(data: dict[str, Any]) -> Draft:
    """The draft as saved by this or an earlier version: fields it no longer has are dropped,
    fields it did not have yet take their defaults."""
    known = {field.name for field in dataclasses.fields(Draft)}
    fields = {name: value for name, value in data.items() if name in known}
    photo_fields = {field.name for field in dataclasses.fields(StoredFile)}
    fields["photos"] = [
        StoredFile(**{name: value for name, value in photo.items() if name in photo_fields})
        for photo in fields.get("photos", [])
    ]
    return Draft(**fields)


@dataclass
class Turn:
    """One inbound message being handled: who, where in the dialog, and what we answer."""

    session: Session
    inbound: Inbound
    person: Person
    step: str
    data: dict[str, Any]
    replies: list[Outbound] = field(default_factory=list)

    def say(
        self,
        text: str,
        *options: Option,
        request_contact: bool = False,
        request_location: bool = False,
    ) -> None:
        reply = Outbound(
            text,
            tuple(options),
            request_contact=request_contact,
            request_location=request_location,
        )
        self.replies.append(reply)
        if options:
            self.data["offered"] = [[o.label, o.value] for o in options]

    def offered(self) -> list[Option]:
        """The options the last question offered (to ask it again)."""
        return [Option(label, value) for label, value in self.data.get("offered", [])]

    def goto(self, step: str, **data: Any) -> None:
        self.step = step
        self.data = dict(data)

    @property
    def draft(self) -> Draft:
        """The draft so far; a new one is in the person's grid (a grid worker's own, or the
        one whose poster a resident came from)."""
        saved = self.data.get("draft")
        return _draft_from_json(saved) if saved else Draft(grid=self.person.grid)

    def keep(self, draft: Draft) -> None:
        self.data["draft"] = _draft_to_json(draft)

    def choice(self) -> str | None:
        """The offered option this input picks (button, number or label), if any."""
        offered = self.data.get("offered", [])
        inbound = self.inbound
        if inbound.kind is Kind.BUTTON:
            return next((value for _, value in offered if value == inbound.text), None)
        if inbound.kind is not Kind.TEXT:
            return None
        text = inbound.text.strip()
        if text.isdigit() and 1 <= int(text) <= len(offered):
            return str(offered[int(text) - 1][1])
        return next((value for label, value in offered if label == text), None)
