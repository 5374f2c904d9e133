"""What a channel adapter hands to the dialog (Inbound) and renders from it (Outbound)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Control characters (NUL breaks PostgreSQL text; others garble cards and logs) and
# zero-width or directional marks; line breaks and tabs stay.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
)


def clean_text(text: str) -> str:
    """Text as every channel hands it on: no control or invisible characters, "\n" lines."""
    return _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


class Kind(StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    LOCATION = "location"
    CONTACT = "contact"
    COMMAND = "command"
    BUTTON = "button"
    UNSUPPORTED = "unsupported"  # sticker, voice, video, file...


@dataclass(frozen=True)
class Inbound:
    channel: str
    user_id: str
    chat_id: str
    kind: Kind
    text: str = ""  # text, command name (without "/"), or button value
    args: str = ""  # what follows a command
    data: bytes | None = None  # photo bytes
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None  # venue/label that came with a location
    phone: str | None = None  # shared contact
    own_contact: bool = True  # the shared contact is the sender's own
    forwarded: bool = False  # forwarded from someone else (a grid worker passing a message on)
    message_id: str | None = None

    @property
    def in_group(self) -> bool:
        """Said in a group chat (a department's), not in the person's private chat."""
        return self.chat_id != self.user_id

    def __post_init__(self) -> None:
        # The one boundary every channel passes: what it received, made safe to store.
        for name in ("text", "args", "address", "phone"):
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, clean_text(value))


@dataclass(frozen=True)
class Option:
    label: str
    value: str


@dataclass(frozen=True)
class Outbound:
    text: str
    options: tuple[Option, ...] = ()
    photos: tuple[str, ...] = ()
    request_contact: bool = False
    request_location: bool = False
    # The outbox row that keeps this reply until it is sent (None: not kept, e.g. a refusal
    # the adapter made up, or a channel whose messages have no id).
    key: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The reply as stored (without its key)."""
        return {
            "text": self.text,
            "options": [[option.label, option.value] for option in self.options],
            "photos": list(self.photos),
            "request_contact": self.request_contact,
            "request_location": self.request_location,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], key: str | None = None) -> Outbound:
        return cls(
            data["text"],
            tuple(Option(label, value) for label, value in data.get("options", ())),
            tuple(data.get("photos", ())),
            request_contact=bool(data.get("request_contact")),
            request_location=bool(data.get("request_location")),
            key=key,
        )


class Undeliverable(Exception):
    """The channel will not take a message to this person now; someone has to phone them.

    Retrying does not help (the resident blocked the bot, unsubscribed, or is outside the
    channel's messaging window with no fallback), so the row is given up and the ledger says
    the resident must be phoned.
    """

    def __init__(self, chat_id: str, reason: str, *, unsubscribed: bool = False) -> None:
        super().__init__(f"cannot reach {chat_id}: {reason}")
        self.chat_id = chat_id
        self.reason = reason
        self.unsubscribed = unsubscribed
