"""Telegram updates as `Inbound`s: text, commands, photos (downloaded within the size
limit), places, contacts and button presses (checked against the message's own keyboard,
answered, and taken away in private chats)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError

from bot.channels.sender import CHANNEL as CHANNEL
from bot.channels.sender import RateLimitedSender, Unreachable
from handlers.limits import Limits
from messages.catalog import t
from messages.types import Inbound, Kind, Outbound

log = logging.getLogger(__name__)

COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@(\w+))?(?:\s+(.*))?$", re.DOTALL)


def parse_command(text: str) -> tuple[str, str] | None:
    """("start", "grid_0042") for "/start grid_0042"; None if the text is not a command."""
    match = COMMAND.match(text.strip())
    if match is None:
        return None
    return match.group(1).lower(), (match.group(3) or "").strip()


class UpdateReader:
    """Reads updates for the channel; Bot API calls a press needs (its answer, the keyboard
    taken away) are started as `chores` that go along with the turn."""

    def __init__(self, bot: Bot, sender: RateLimitedSender, limits: Limits) -> None:
        self.bot = bot
        self.sender = sender
        self.limits = limits

    async def convert(
        self, update: Update, chores: list[asyncio.Task[None]]
    ) -> Inbound | list[Outbound] | None:
        user, chat = update.effective_user, update.effective_chat
        assert user is not None and chat is not None  # checked by the channel  # noqa: S101

        def inbound(kind: Kind, **fields: Any) -> Inbound:
            return Inbound(
                CHANNEL,
                str(user.id),
                str(chat.id),
                kind,
                message_id=str(update.update_id),
                **fields,
            )

        query = update.callback_query
        if query is not None:
            return await self._button(update, inbound, chores)
        message = update.message
        if message is None:
            return None
        if message.text is not None:
            command = parse_command(message.text)
            if command is not None:
                return inbound(Kind.COMMAND, text=command[0], args=command[1])
            forwarded = message.forward_origin is not None
            return inbound(Kind.TEXT, text=message.text, forwarded=forwarded)
        if message.photo:
            largest = message.photo[-1]
            return await self._photo(largest.file_id, largest.file_size, inbound)
        document = message.document
        if document is not None:
            if (document.mime_type or "").startswith("image/"):
                return await self._photo(document.file_id, document.file_size, inbound)
            return inbound(Kind.UNSUPPORTED)
        if message.venue is not None:
            venue = message.venue
            address = " ".join(part for part in (venue.title, venue.address) if part)
            return inbound(
                Kind.LOCATION,
                latitude=venue.location.latitude,
                longitude=venue.location.longitude,
                address=address or None,
            )
        if message.location is not None:
            location = message.location
            return inbound(Kind.LOCATION, latitude=location.latitude, longitude=location.longitude)
        if message.contact is not None:
            contact = message.contact
            return inbound(
                Kind.CONTACT,
                phone=contact.phone_number,
                own_contact=contact.user_id is not None and contact.user_id == user.id,
            )
        return inbound(Kind.UNSUPPORTED)

    def _too_big(self, size: int | None) -> list[Outbound] | None:
        if size is not None and size > self.limits.photo_max_bytes:
            max_mb = self.limits.photo_max_bytes // (1024 * 1024)
            return [Outbound(t("bad.photo_size", max_mb=max_mb))]
        return None

    async def _photo(
        self, file_id: str, size: int | None, inbound: Callable[..., Inbound]
    ) -> Inbound | list[Outbound]:
        """Download a photo, unless Telegram already says it is over the limit."""
        refusal = self._too_big(size)
        if refusal is not None:
            return refusal
        try:
            file = await self.sender.fetch(lambda: self.bot.get_file(file_id))
            refusal = self._too_big(file.file_size)
            if refusal is not None:
                return refusal
            data = bytes(await self.sender.fetch(file.download_as_bytearray))
        except TelegramError as error:
            log.warning("photo %s not received: %s", file_id, type(error).__name__)
            return [Outbound(t("error.photo_fetch"))]
        return self._too_big(len(data)) or inbound(Kind.PHOTO, data=data)

    async def _button(
        self,
        update: Update,
        inbound: Callable[..., Inbound],
        chores: list[asyncio.Task[None]],
    ) -> Inbound | list[Outbound]:
        query = update.callback_query
        assert query is not None  # noqa: S101
        value = query.data or ""
        message = query.message if isinstance(query.message, Message) else None
        if message is not None:
            markup = message.reply_markup
            shown = {
                button.callback_data
                for row in (markup.inline_keyboard if markup else ())
                for button in row
            }
            if value not in shown:
                # Not a button of that message (forged, or its keyboard is gone): no turn.
                await self._answer(lambda: query.answer(t("option_expired")))
                return []
        # Stop the client's spinner and take the keyboard away so it cannot be pressed twice
        # (the dialog still checks the value against what it offered). Both calls go while
        # the dialog takes its turn; the turn's replies wait for them.
        chores.append(asyncio.create_task(self._answer(query.answer)))
        # In a department's group a card stays pressable: a refused press by someone else
        # must not take the buttons away from the staff (the desk refuses double actions).
        if message is not None and message.chat.type == ChatType.PRIVATE:
            chores.append(asyncio.create_task(self._remove_keyboard(message)))
        return inbound(Kind.BUTTON, text=value)

    async def _answer(self, answer: Callable[[], Awaitable[Any]]) -> None:
        try:
            await self.sender.unpaced(answer)
        except TelegramError as error:  # an old query cannot be answered any more
            log.debug("callback query not answered: %s", type(error).__name__)
        except Exception:  # the turn goes on regardless
            log.warning("callback query not answered", exc_info=True)

    async def _remove_keyboard(self, message: Message) -> None:
        try:
            await self.sender.call(str(message.chat.id), lambda: message.edit_reply_markup(None))
        except (BadRequest, Unreachable) as error:
            log.debug("keyboard not removed: %s", type(error).__name__)
        except Exception:  # the turn goes on regardless
            log.warning("keyboard of message %s not removed", message.message_id, exc_info=True)
