"""Replies and notices into Telegram chats: an `Outbound` rendered as text and keyboard (long
texts cut), sent through the one rate-limited sender, from a lane or from the outbox's
thread; a chat that blocked the bot is marked unreachable."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.error import TelegramError

from bot.channels.sender import RateLimitedSender
from bot.channels.telegram_reading import CHANNEL
from bot.channels.toolkit import split_text
from bot.settings import SendLimits
from messages.catalog import t
from messages.types import Outbound
from scheduler import outbox
from scheduler.outbox import Sender
from storage.db import transaction
from workflow import service

log = logging.getLogger(__name__)

TEXT_MAX = 4096
CALLBACK_DATA_MAX = 64  # bytes
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove
# Command name → catalog key of its description in the client's command menu.
COMMANDS = (
    ("start", "telegram.command.start"),
    ("new", "menu.new"),
    ("my", "menu.my"),
    ("cancel", "option.cancel"),
    ("help", "menu.help"),
)


def _rows(buttons: list[Any], width: int) -> list[list[Any]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def render(reply: Outbound) -> tuple[str, Markup | None]:
    """The text and keyboard of one reply.

    Options become inline buttons carrying the option value. A request for the phone or the
    location becomes a one-time reply keyboard; options sent along with it become plain
    buttons of that keyboard (their label comes back as text, which the dialog accepts).
    """
    options = reply.options
    labels_short = all(len(o.label) <= 8 for o in options)
    if reply.request_contact or reply.request_location:
        rows: list[list[KeyboardButton]] = []
        if reply.request_contact:
            rows.append([KeyboardButton(t("option.share_phone"), request_contact=True)])
        if reply.request_location:
            rows.append([KeyboardButton(t("option.share_location"), request_location=True)])
        plain = [KeyboardButton(o.label) for o in options]
        rows.extend(_rows(plain, 2 if labels_short else 1))
        markup = ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
        return reply.text, markup
    if not options:
        return reply.text, None
    if any(len(o.value.encode()) > CALLBACK_DATA_MAX for o in options):
        # Too long for a button: fall back to numbered options, which the dialog also accepts.
        lines = [reply.text]
        lines.extend(f"{i}. {o.label}" for i, o in enumerate(options, start=1))
        return "\n".join(lines), None
    buttons = [InlineKeyboardButton(o.label, callback_data=o.value) for o in options]
    return reply.text, InlineKeyboardMarkup(_rows(buttons, 3 if labels_short else 1))


class Outgoing:
    """What goes into chats. Every message goes through `sender`, which keeps Telegram's
    limits and caps the Bot API calls in flight: with PTB's default pool (256 connections)
    every busy lane opened its own, and httpcore checks each open connection on every request
    (a syscall or two each): with 50 residents that was about 40 % of the channel's CPU. 8
    is plenty for Telegram's 30 messages/s even at a few hundred ms a call. `loop` is the
    channel's event loop while it runs (the outbox's thread schedules its sends onto it)."""

    def __init__(
        self,
        bot: Bot,
        sessions: sessionmaker[Session],
        *,
        send_limits: SendLimits,
        max_requests: int,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.sender = RateLimitedSender(
            limits=send_limits, on_blocked=self._blocked, max_in_flight=max_requests
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        # Within the outbox's claim on a row, so that no other drain takes it meanwhile.
        self.outbox_timeout = outbox.LEASE.total_seconds() * 2 / 3
        self._reply_keyboards: set[str] = set()  # chats that may still show a reply keyboard

    async def send(self, chat_id: str, reply: Outbound) -> None:
        bot = self.bot
        text, markup = render(reply)
        if isinstance(markup, ReplyKeyboardMarkup):
            self._reply_keyboards.add(chat_id)
        elif markup is None and chat_id in self._reply_keyboards:
            markup = ReplyKeyboardRemove()
            self._reply_keyboards.discard(chat_id)
        chunks = split_text(text, TEXT_MAX)
        for index, chunk in enumerate(chunks):
            keyboard = markup if index == len(chunks) - 1 else None

            async def send_chunk(chunk: str = chunk, keyboard: Markup | None = keyboard) -> None:
                await bot.send_message(chat_id, chunk, reply_markup=keyboard)

            await self.sender.call(chat_id, send_chunk)
        for path in reply.photos:
            data = await asyncio.to_thread(Path(path).read_bytes)

            async def send_photo(data: bytes = data) -> None:
                await bot.send_photo(chat_id, photo=data)

            await self.sender.call(chat_id, send_photo)

    def outbox_sender(self) -> Sender:
        """A synchronous sender for `scheduler.outbox.drain`, which runs in another thread.

        Each call is scheduled onto the bot's event loop, so notifications share the rate
        limiter (and the HTTP connection pool) with the replies, and blocks until sent.
        """

        def send(chat_id: str, reply: Outbound) -> None:
            loop = self.loop
            if loop is None or loop.is_closed():
                raise RuntimeError("the telegram channel is not running")
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                raise RuntimeError("outbox_sender must not be called on the bot's event loop")
            # Raises `Unreachable` if the chat blocked the bot.
            future = asyncio.run_coroutine_threadsafe(self.send(chat_id, reply), loop)
            try:
                future.result(timeout=self.outbox_timeout)
            except TimeoutError:
                future.cancel()  # not sent: the outbox tries again after its claim
                raise

        return send

    async def _blocked(self, chat_id: str) -> None:
        self._reply_keyboards.discard(chat_id)
        await asyncio.to_thread(self.mark_unreachable, chat_id)

    def mark_unreachable(self, chat_id: str) -> None:
        with transaction(self.sessions) as session:
            marked = service.set_reachable(
                session, channel=CHANNEL, chat_id=chat_id, reachable=False
            )
        log.info("marked %d person(s) of chat %s unreachable", marked, chat_id)

    async def set_commands(self) -> None:
        """The command menu of the client."""
        commands = [BotCommand(name, t(key)) for name, key in COMMANDS]
        try:
            await self.bot.set_my_commands(commands)
        except TelegramError as error:
            log.warning("could not register the commands: %s", type(error).__name__)
