"""The Telegram channel: python-telegram-bot v22 updates in, `Outbound` replies out.

The adapter wraps a PTB `Application` (it never subclasses SDK classes) and holds no business
rule: it turns an update into an `Inbound`, runs the synchronous dialog and renders the
replies. One catch-all handler puts each update in its chat's lane; a lane is worked by one
task, so one resident's updates are handled strictly in order while different residents are
served concurrently.

Nothing is lost to a crash (kill -9, a power cut). An update is kept in the inbox table
before Telegram is told it arrived (the next getUpdates' offset, or the webhook's 200), and
forgotten only after its turn; on start the kept ones are handled first. A turn's replies
are kept in the outbox in the turn's own transaction (storage.replies): the lane sends them
and marks them sent, and whatever it could not send (the process died, or Telegram kept
failing) the outbox sends later; on start a poller (Telegram allows one) makes the replies
left over due at once. A lane also gathers the photos of an album (one `media_group_id`,
delivered as separate updates) for a moment, so the resident gets one answer for the whole
album. Every message into a chat goes through the rate-limited sender, which also caps the
Bot API calls in flight (see `max_requests`).

Speed (benchmarks/bench_telegram.py): the Bot API calls cost about as much CPU as the dialog
itself, and all of it shares one GIL. So on SQLite a turn runs on the event loop whenever it
can begin at once (see `__init__`), and on PostgreSQL in worker processes
(bot/channels/workers.py); a press's answerCallbackQuery and keyboard removal go out beside
the turn (the replies still wait for them); and the lanes share a few HTTP connections
instead of opening one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType
from telegram.error import BadRequest, InvalidToken, TelegramError
from telegram.ext import Application, CallbackContext, TypeHandler

from bot.channels.core import Core, Handle
from bot.channels.journal import SentJournal
from bot.channels.sender import RateLimitedSender, SendLimits, Unreachable
from bot.channels.telegram_http import AiohttpRequest
from bot.channels.toolkit import split_text
from bot.channels.workers import DialogProcesses
from bot.settings import ConfigError, TelegramSettings
from handlers.limits import Limits
from messages.catalog import t
from messages.types import Inbound, Kind, Outbound
from scheduler import outbox
from scheduler.outbox import Sender
from storage import inbox
from storage.db import Busy, transaction
from storage.replies import LEASE
from workflow import service

log = logging.getLogger(__name__)

# Opt in to PTB's future behaviour: time periods (RetryAfter.retry_after...) as timedelta.
# Without it PTB itself emits a deprecation warning on every 429 it receives.
os.environ.setdefault("PTB_TIMEDELTA", "true")

CHANNEL = "telegram"
# A lane sends a turn's replies within this, else leaves them to the outbox: well inside the
# lease they were kept with, so the outbox never sends one the lane is still sending.
SEND_BUDGET = LEASE.total_seconds() / 2
SETTLE_DELAY = 0.2  # seconds: finished turns are recorded together this often
POLL_RETRY_MAX = 30.0  # seconds between getUpdates attempts while Telegram is unreachable
TEXT_MAX = 4096
CALLBACK_DATA_MAX = 64  # bytes
ALLOWED_UPDATES = ("message", "callback_query")
# Command name → catalog key of its description in the client's command menu.
COMMANDS = (
    ("start", "telegram.command.start"),
    ("new", "menu.new"),
    ("my", "menu.my"),
    ("cancel", "option.cancel"),
    ("help", "menu.help"),
)
COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@(\w+))?(?:\s+(.*))?$", re.DOTALL)

PtbApplication = Application[Any, Any, Any, Any, Any, Any]
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass
class _Unsettled:
    """Finished turns the database has not been told about yet (see `_settle`)."""

    sent: list[str] = field(default_factory=list)  # reply keys
    failed: list[tuple[list[str], Exception | None]] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # update ids

    def merge(self, other: _Unsettled) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.done += other.done


@dataclass
class _Lane:
    """The updates of one chat waiting to be handled, and the task working through them."""

    items: deque[Update] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


def parse_command(text: str) -> tuple[str, str] | None:
    """("start", "grid_0042") for "/start grid_0042"; None if the text is not a command."""
    match = COMMAND.match(text.strip())
    if match is None:
        return None
    return match.group(1).lower(), (match.group(3) or "").strip()


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


def merge_album_replies(turns: Sequence[list[Outbound]]) -> list[Outbound]:
    """One answer for several photos handled together.

    The last turn's replies stand; earlier turns contribute only plain notices (a photo
    refused, say), since their prompts and buttons are superseded by the last one.
    """
    answered = [replies for replies in turns if replies]
    if len(answered) <= 1:
        return answered[0] if answered else []
    merged: list[Outbound] = []
    for replies in answered[:-1]:
        merged.extend(
            r for r in replies if not (r.options or r.request_contact or r.request_location)
        )
    merged.extend(answered[-1])
    seen: set[str] = set()
    unique = []
    for reply in merged:
        if reply.text not in seen:
            seen.add(reply.text)
            unique.append(reply)
    return unique


class TelegramChannel:
    """Serves the resident dialog on Telegram, by long polling or behind `bot.web`'s webhook."""

    def __init__(
        self,
        *,
        handle: Handle,
        sessions: sessionmaker[Session],
        token: str,
        telegram: TelegramSettings,
        limits: Limits,
        webhook: bool = False,
        album_delay: float = 1.0,
        send_limits: SendLimits | None = None,
        poll_timeout: int = 10,
        workers: int | None = None,
        max_requests: int = 8,
        processes: DialogProcesses | None = None,
        journal: SentJournal | None = None,
    ) -> None:
        self.handle = handle
        self.journal = journal  # replies sent, until the database says so
        self.processes = processes  # PostgreSQL: turns run there (bot/channels/workers.py)
        # On SQLite a turn runs on the event loop itself when it can begin at once: it is
        # all CPU then, and a worker thread would fight the loop for the GIL (a turn in a
        # thread cost the process half as much CPU again, benchmarks/bench_telegram.py).
        # When another writer (the outbox, a sweep) holds the write lock, and for photos
        # (written to disk), the turn goes to a worker thread instead, so that waiting there
        # stalls neither polling nor sending. One thread: SQLite takes one writer at a time.
        # PostgreSQL turns wait on the network: in worker processes if given, else in 4
        # threads (more only fight over the GIL: 8 measured slower than 2–4).
        bind = sessions.kw.get("bind")
        self._inline = bind is not None and bind.dialect.name == "sqlite"
        if workers is None:
            workers = 1 if self._inline else 4
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="telegram-dialog")
        self.sessions = sessions
        self.limits = limits
        self.api_url = telegram.base_url  # for messages: the token is not in it
        self.webhook = webhook
        self.album_delay = album_delay
        self.poll_timeout = poll_timeout
        # Within the outbox's claim on a row, so that no other drain takes it meanwhile.
        self.outbox_timeout = outbox.LEASE.total_seconds() * 2 / 3
        # At most `max_requests` Bot API calls of the lanes are on the wire at once; the rest
        # wait in the sender. With PTB's default pool (256 connections) every busy lane opened
        # its own, and httpcore checks each open connection on every request (a syscall or
        # two each): with 50 residents that was about 40 % of the channel's CPU. 8 is plenty
        # for Telegram's 30 messages/s even at a few hundred ms a call; the pool keeps a few
        # spare connections for the calls that bypass the sender (files, commands).
        self.sender = RateLimitedSender(
            limits=send_limits, on_blocked=self._blocked, max_in_flight=max_requests
        )
        builder = (
            Application.builder()
            .token(token)
            .base_url(telegram.base_url)
            .base_file_url(telegram.base_file_url)
            .job_queue(None)
            .concurrent_updates(False)  # the handler only files updates into lanes
            .request(AiohttpRequest(connections=max_requests + 4))
            .get_updates_request(AiohttpRequest(connections=1))
            .updater(None)  # we poll ourselves: the inbox is written before the offset moves
        )
        self.application: PtbApplication = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self._lanes: dict[str, _Lane] = {}
        self._reply_keyboards: set[str] = set()  # chats that may still show a reply keyboard
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None
        self._unsettled = _Unsettled()
        self._settler: asyncio.Task[None] | None = None
        self._running = False
        self._open = 0  # updates taken whose turn is not over yet
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    def from_app(cls, app: Core, token: str, **options: Any) -> TelegramChannel:
        settings = app.settings
        return cls(
            handle=app.dialog.handle,
            sessions=app.sessions,
            token=token,
            telegram=settings.channels.telegram,
            limits=settings.limits,
            **options,
        )

    # -- life cycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    async def start(self, *, webhook_url: str | None = None, secret: str | None = None) -> None:
        """Connect, register the commands, and start taking updates."""
        application = self.application
        if self.processes is not None:
            await self.processes.start()
        await self._connect(webhook_url, secret)
        if not self.webhook:
            # The only poller: replies a predecessor kept but did not send are ours to send
            # (those its journal says it sent are marked so first).
            await asyncio.to_thread(self._recover_journal)
            released = await asyncio.to_thread(outbox.release, self.sessions, CHANNEL)
            if released:
                log.info("%d reply(s) left unsent by the last run are sent now", released)
        await application.start()
        self._loop = asyncio.get_running_loop()
        self._running = True
        kept = await asyncio.to_thread(inbox.pending, self.sessions, CHANNEL)
        if kept:
            log.info("%d update(s) received before a restart are handled now", len(kept))
        for payload in kept:
            await self._take(Update.de_json(payload, application.bot))
        if not self.webhook:
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")
        log.info("telegram channel running (%s)", "webhook" if self.webhook else "polling")

    async def _connect(self, webhook_url: str | None, secret: str | None) -> None:
        """Check the token, register the commands, set the webhook (or delete it, to poll).
        On failure the connections are closed and one line says why: a ConfigError for a
        token Telegram refused, else a ConnectionError (Telegram out of reach…)."""
        bot = self.application.bot
        try:
            await self.application.initialize()
            await self._set_commands()
            if self.webhook and webhook_url is not None:
                await bot.set_webhook(
                    webhook_url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
                )
            elif not self.webhook:
                await bot.delete_webhook()
        except TelegramError as error:
            await bot.shutdown()
            if self.processes is not None:
                await asyncio.to_thread(self.processes.close)
            if isinstance(error, InvalidToken):
                raise ConfigError("TELEGRAM_BOT_TOKEN: Telegram refused the token") from error
            raise ConnectionError(
                f"the Telegram channel cannot start ({self.api_url}): {error.message}"
            ) from error

    async def stop(self, *, drain_timeout: float = 30.0) -> None:
        """Stop taking updates, finish the ones taken, then disconnect."""
        if not self._running:
            return
        self._running = False
        application = self.application
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await application.stop()
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=drain_timeout)
            for task in pending:
                task.cancel()
        if self._settler is not None:
            self._settler.cancel()
        await self._write_settled()
        await application.shutdown()
        self._executor.shutdown(wait=False)
        if self.journal is not None:
            self.journal.close()
        if self.processes is not None:
            await asyncio.to_thread(self.processes.close)
        self._loop = None
        log.info("telegram channel stopped")

    async def idle(self) -> None:
        """Wait until every update taken is answered: its replies sent (or left to the
        outbox). For tests, which then know a turn is over instead of waiting for silence."""
        await self._idle.wait()

    async def _take(self, update: Update) -> None:
        self._open += 1
        self._idle.clear()
        await self.application.update_queue.put(update)

    async def run_polling(self, stop: asyncio.Event | None = None) -> None:
        """Poll until `stop` is set (or the task is cancelled, e.g. by Ctrl-C)."""
        await self.start()
        try:
            await (stop or asyncio.Event()).wait()
        finally:
            await self.stop()

    async def feed(self, data: dict[str, Any]) -> bool:
        """Keep and queue one update received by the webhook (the decoded JSON body); False
        if it is no update at all (logged: Telegram is answered 200 all the same, or it would
        send it again forever)."""
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception:  # PTB raises whatever the malformed part leads to
            log.warning("malformed update %s ignored", data.get("update_id"), exc_info=True)
            return False
        await self._write(inbox.keep, self.sessions, CHANNEL, [(str(update.update_id), data)])
        await self._take(update)
        return True

    async def _poll(self) -> None:
        """getUpdates until stopped. The updates received are kept in the inbox before the
        next call's offset tells Telegram they arrived; if they cannot be kept, they are
        asked for again."""
        bot = self.application.bot
        offset: int | None = None
        delay = 0.0
        while self._running:
            if delay:
                await asyncio.sleep(delay)
            try:
                updates = await bot.get_updates(
                    offset=offset,
                    timeout=self.poll_timeout,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
                payloads = [(str(u.update_id), u.to_dict()) for u in updates]
                await self._write(inbox.keep, self.sessions, CHANNEL, payloads)
            except InvalidToken:
                log.error("Telegram refused the bot token: polling stopped")
                return
            except Exception as error:  # network, Telegram or database: try again shortly
                delay = min(POLL_RETRY_MAX, max(1.0, delay * 2))
                log.warning("polling failed (%s), again in %.0f s", type(error).__name__, delay)
                continue
            delay = 0.0
            for update in updates:
                await self._take(update)
            if updates:
                offset = updates[-1].update_id + 1

    async def _set_commands(self) -> None:
        commands = [BotCommand(name, t(key)) for name, key in COMMANDS]
        try:
            await self.application.bot.set_my_commands(commands)
        except TelegramError as error:
            log.warning("could not register the commands: %s", type(error).__name__)

    async def _on_error(
        self, update: object, context: CallbackContext[Any, Any, Any, Any]
    ) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("telegram update %s failed", update_id, exc_info=context.error)

    # -- lanes --------------------------------------------------------------------------

    async def _on_update(
        self, update: Update, context: CallbackContext[Any, Any, Any, Any]
    ) -> None:
        chat = update.effective_chat
        ignored = update.message is None and update.callback_query is None  # edits, posts...
        if ignored or chat is None or chat.type == ChatType.CHANNEL or not update.effective_user:
            log.debug("ignoring update %s", update.update_id)
            self._settle([update], [], [], None)
            return
        key = str(chat.id)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.items.append(update)
        lane.arrived.set()
        if lane.task is None:
            lane.task = asyncio.create_task(self._work(key, lane), name=f"telegram-chat-{key}")

    async def _work(self, key: str, lane: _Lane) -> None:
        try:
            while lane.items:
                first = lane.items.popleft()
                batch = [first]
                group = _media_group(first)
                if group is not None:
                    await self._gather_album(lane, group, batch)
                await self._process(key, batch)
        finally:
            lane.task = None
            if not lane.items and self._lanes.get(key) is lane:
                del self._lanes[key]

    async def _gather_album(self, lane: _Lane, group: str, batch: list[Update]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.album_delay
        while True:
            while lane.items and _media_group(lane.items[0]) == group:
                batch.append(lane.items.popleft())
            remaining = deadline - loop.time()
            if lane.items or remaining <= 0:
                return
            lane.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lane.arrived.wait(), remaining)

    async def _process(self, chat_id: str, batch: list[Update]) -> None:
        turns = [await self._turn(update) for update in batch]
        replies = merge_album_replies(turns)
        shown = {id(reply) for reply in replies}
        # Replies an album's later turn superseded count as sent.
        sent = [r.key for turn in turns for r in turn if r.key and id(r) not in shown]
        failed: list[str] = []
        error: Exception | None = None
        deadline = asyncio.get_running_loop().time() + SEND_BUDGET
        for position, reply in enumerate(replies):
            try:
                left = deadline - asyncio.get_running_loop().time()
                await asyncio.wait_for(self._send(chat_id, reply), max(0.0, left))
            except Exception as exc:  # the outbox sends these later (or gives up: Unreachable)
                if not isinstance(exc, Unreachable):
                    log.warning(
                        "reply to update %s not sent (%s): left to the outbox",
                        batch[-1].update_id,
                        type(exc).__name__,
                    )
                failed = [r.key for r in replies[position:] if r.key]
                error = exc
                break
            if reply.key:
                sent.append(reply.key)
                if self.journal is not None:
                    self.journal.sent(reply.key)
        self._settle(batch, sent, failed, error)

    def _recover_journal(self) -> None:
        if self.journal is None:
            return
        keys = self.journal.recorded()
        if keys:
            with transaction(self.sessions) as session:
                outbox.settle(session, keys)
            log.info("%d reply(s) sent just before the last run ended: marked sent", len(keys))
        self.journal.clear()

    def _settle(
        self, batch: list[Update], sent: list[str], failed: list[str], error: Exception | None
    ) -> None:
        """Note that a batch is over: its replies sent (or left to the outbox), its updates
        done. The database is told for all lanes together, SETTLE_DELAY later, in one
        transaction (on SQLite one per turn took the write lock from the turns); the journal
        already has the sends, so a crash meanwhile sends nothing twice."""
        self._open -= len(batch)
        if not self._open:
            self._idle.set()
        pending = self._unsettled
        pending.sent += sent
        pending.done += [str(update.update_id) for update in batch]
        if failed:
            pending.failed.append((failed, error))
        self._settle_soon()

    def _settle_soon(self) -> None:
        """Record what is unsettled SETTLE_DELAY from now (unless that is already due)."""
        if self._settler is None:
            self._settler = asyncio.create_task(self._settle_later(), name="telegram-settle")

    async def _settle_later(self) -> None:
        await asyncio.sleep(SETTLE_DELAY)
        await self._write_settled()

    async def _write_settled(self) -> None:
        pending, self._unsettled = self._unsettled, _Unsettled()
        self._settler = None
        if not (pending.sent or pending.failed or pending.done):
            return
        try:
            await self._write(self._record, pending)
        except Exception:  # the database is away: try again with what comes next
            log.warning("could not record finished turns; retrying", exc_info=True)
            self._unsettled.merge(pending)
            self._settle_soon()

    async def _write(self, write: Callable[..., None], *args: Any) -> None:
        """Run a small write, `write(*args, wait=...)`: on the event loop when SQLite's
        write lock is free (a hop to a worker thread costs more than the write), else in a
        thread, where waiting for the lock (or PostgreSQL's network) holds nobody up."""
        if self._inline:
            with contextlib.suppress(Busy):
                write(*args, wait=False)
                return
        await asyncio.to_thread(functools.partial(write, *args, wait=True))

    def _record(self, pending: _Unsettled, *, wait: bool) -> None:
        with transaction(self.sessions, wait=wait) as session:
            outbox.settle(session, pending.sent)
            for keys, error in pending.failed:
                outbox.settle(session, [], keys, error)
            inbox.done(session, CHANNEL, pending.done)

    async def _turn(self, update: Update) -> list[Outbound]:
        chores: list[asyncio.Task[None]] = []  # Bot API calls that go along with the turn
        try:
            converted = await self._convert(update, chores)
            if converted is None:
                return []
            if isinstance(converted, list):
                return converted
            if self.processes is not None:
                return await self.processes.handle(converted)
            if self._inline and converted.kind is not Kind.PHOTO:
                with contextlib.suppress(Busy):
                    return self.handle(converted, wait=False)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.handle, converted)
        except Exception:
            log.exception("telegram update %s failed", update.update_id)
            return [Outbound(t("error.sorry"))]
        finally:
            if chores:  # done before the replies go out, so they keep their order
                await asyncio.wait(chores)

    # -- updates → Inbound --------------------------------------------------------------

    async def _convert(
        self, update: Update, chores: list[asyncio.Task[None]]
    ) -> Inbound | list[Outbound] | None:
        user, chat = update.effective_user, update.effective_chat
        assert user is not None and chat is not None  # checked in _on_update  # noqa: S101

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
            file = await self.sender.fetch(lambda: self.application.bot.get_file(file_id))
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

    # -- Outbound → messages ------------------------------------------------------------

    async def _send(self, chat_id: str, reply: Outbound) -> None:
        bot = self.application.bot
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
            loop = self._loop
            if loop is None or loop.is_closed():
                raise RuntimeError("the telegram channel is not running")
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                raise RuntimeError("outbox_sender must not be called on the bot's event loop")
            # Raises `Unreachable` if the chat blocked the bot.
            future = asyncio.run_coroutine_threadsafe(self._send(chat_id, reply), loop)
            try:
                future.result(timeout=self.outbox_timeout)
            except TimeoutError:
                future.cancel()  # not sent: the outbox tries again after its claim
                raise

        return send

    # -- blocked residents --------------------------------------------------------------

    async def _blocked(self, chat_id: str) -> None:
        self._reply_keyboards.discard(chat_id)
        await asyncio.to_thread(self._mark_unreachable, chat_id)

    def _mark_unreachable(self, chat_id: str) -> None:
        with transaction(self.sessions) as session:
            marked = service.set_reachable(
                session, channel=CHANNEL, chat_id=chat_id, reachable=False
            )
        log.info("marked %d person(s) of chat %s unreachable", marked, chat_id)


def _media_group(update: Update) -> str | None:
    message = update.message
    return message.media_group_id if message is not None else None
