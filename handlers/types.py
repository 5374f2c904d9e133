"""What a channel adapter hands to the dialog (Inbound) and renders from it (Outbound)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
