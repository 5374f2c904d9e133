"""The Telegram channel: python-telegram-bot v22 updates in, `Outbound` replies out.

The adapter wraps a PTB `Application` (it never subclasses SDK classes) and holds no business
rule: it turns an update into an `Inbound`, runs the synchronous dialog and renders the
replies. One catch-all handler puts each update in its chat's lane (bot/channels/toolkit.py),
so one resident's updates are handled strictly in order while different residents are served
concurrently. Reading updates is bot/channels/telegram_reading.py, sending
telegram_sending.py, recording finished turns telegram_settling.py.

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
import logging
import os
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from telegram import Update
from telegram.constants import ChatType
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, CallbackContext, TypeHandler

from bot.channels.core import Core, Handle
from bot.channels.journal import SentJournal
from bot.channels.sender import Unreachable
from bot.channels.telegram_http import AiohttpRequest
from bot.channels.telegram_reading import CHANNEL as CHANNEL
from bot.channels.telegram_reading import UpdateReader
from bot.channels.telegram_sending import Outgoing
from bot.channels.telegram_settling import Settler
from bot.channels.telegram_turns import TurnRunner
from bot.channels.toolkit import Lanes
from bot.channels.workers import DialogProcesses
from bot.settings import ConfigError, TelegramSettings
from handlers.limits import Limits
from messages.catalog import t
from messages.types import Outbound
from scheduler import outbox
from scheduler.outbox import Sender
from storage import inbox
from storage.replies import LEASE

log = logging.getLogger(__name__)

# Opt in to PTB's future behaviour: time periods (RetryAfter.retry_after...) as timedelta.
# Without it PTB itself emits a deprecation warning on every 429 it receives.
os.environ.setdefault("PTB_TIMEDELTA", "true")

# A lane sends a turn's replies within this, else leaves them to the outbox: well inside the
# lease they were kept with, so the outbox never sends one the lane is still sending.
SEND_BUDGET = LEASE.total_seconds() / 2
POLL_RETRY_MAX = 30.0  # seconds between getUpdates attempts while Telegram is unreachable
ALLOWED_UPDATES = ("message", "callback_query")
PtbApplication = Application[Any, Any, Any, Any, Any, Any]


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
        poll_timeout: int = 10,
        workers: int | None = None,
        max_requests: int = 8,
        processes: DialogProcesses | None = None,
        journal: SentJournal | None = None,
    ) -> None:
        self.turns = TurnRunner(handle, sessions, processes, workers)
        self.sessions = sessions
        self.api_url = telegram.base_url  # for messages: the token is not in it
        self.webhook = webhook
        self.album_delay = album_delay
        self.poll_timeout = poll_timeout
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
        bot = self.application.bot
        self.outgoing = Outgoing(
            bot, sessions, send_limits=telegram.limits, max_requests=max_requests
        )
        self.sender = self.outgoing.sender
        self.reader = UpdateReader(bot, self.sender, limits)
        self.settler = Settler(sessions, journal, inline=self.turns.inline)
        self.lanes = Lanes()
        self._lane_tasks: set[asyncio.Task[None]] = set()
        self._albums: dict[str, list[Update]] = {}  # media group → its updates, gathering
        self._arrived: dict[str, asyncio.Event] = {}  # chat → an update came (for albums)
        self._poller: asyncio.Task[None] | None = None
        self._running = False

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
        await self.turns.start()
        await self._connect(webhook_url, secret)
        if not self.webhook:
            # The only poller: replies a predecessor kept but did not send are ours to send
            # (those its journal says it sent are marked so first).
            await asyncio.to_thread(self.settler.recover_journal)
            released = await asyncio.to_thread(outbox.release, self.sessions, CHANNEL)
            if released:
                log.info("%d reply(s) left unsent by the last run are sent now", released)
        await application.start()
        self.outgoing.loop = asyncio.get_running_loop()
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
            await self.outgoing.set_commands()
            if self.webhook and webhook_url is not None:
                await bot.set_webhook(
                    webhook_url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
                )
            elif not self.webhook:
                await bot.delete_webhook()
        except TelegramError as error:
            await bot.shutdown()
            await self.turns.close()
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
        if self._lane_tasks:
            _, pending = await asyncio.wait(self._lane_tasks, timeout=drain_timeout)
            for task in pending:
                task.cancel()
        await self.settler.close()
        await application.shutdown()
        await self.turns.close()
        self.outgoing.loop = None
        log.info("telegram channel stopped")

    async def idle(self) -> None:
        """Wait until every update taken is answered: its replies sent (or left to the
        outbox). For tests, which then know a turn is over instead of waiting for silence."""
        await self.settler.idle()

    async def _take(self, update: Update) -> None:
        self.settler.taken()
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
        await self.settler.write(
            inbox.keep, self.sessions, CHANNEL, [(str(update.update_id), data)]
        )
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
                await self.settler.write(inbox.keep, self.sessions, CHANNEL, payloads)
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
            self.settler.settle([str(update.update_id)], [], [], None)
            return
        key = str(chat.id)
        self._arrived.setdefault(key, asyncio.Event()).set()
        group = _media_group(update)
        if group is not None and group in self._albums:
            self._albums[group].append(update)  # a later photo of an album being gathered
            return
        if group is not None:
            self._albums[group] = [update]
        task = asyncio.create_task(self._in_lane(key, update, group), name=f"telegram-{key}")
        self._lane_tasks.add(task)
        task.add_done_callback(self._lane_tasks.discard)

    async def _in_lane(self, key: str, update: Update, group: str | None) -> None:
        """The chat's turns one after another; an album's photos as one batch."""
        async with self.lanes.hold(key):
            batch = [update] if group is None else await self._gather_album(key, group)
            await self._process(key, batch)
        if not self.lanes.waiting(key) and key in self._arrived:
            del self._arrived[key]

    async def _gather_album(self, key: str, group: str) -> list[Update]:
        """An album's photos, which come as separate updates: those that arrive within
        `album_delay`, or until another message of the chat waits behind the album."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.album_delay
        arrived = self._arrived.setdefault(key, asyncio.Event())
        while not self.lanes.waiting(key) and (remaining := deadline - loop.time()) > 0:
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), remaining)
        return self._albums.pop(group)

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
                await asyncio.wait_for(self.outgoing.send(chat_id, reply), max(0.0, left))
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
                self.settler.sent(reply.key)
        done = [str(update.update_id) for update in batch]
        self.settler.settle(done, sent, failed, error)

    async def _turn(self, update: Update) -> list[Outbound]:
        chores: list[asyncio.Task[None]] = []  # Bot API calls that go along with the turn
        try:
            converted = await self.reader.convert(update, chores)
            if converted is None:
                return []
            if isinstance(converted, list):
                return converted
            return await self.turns.run(converted)
        except Exception:
            log.exception("telegram update %s failed", update.update_id)
            return [Outbound(t("error.sorry"))]
        finally:
            if chores:  # done before the replies go out, so they keep their order
                await asyncio.wait(chores)

    def outbox_sender(self) -> Sender:
        """A synchronous sender for `scheduler.outbox.drain` (see `Outgoing.outbox_sender`)."""
        return self.outgoing.outbox_sender()


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


def _media_group(update: Update) -> str | None:
    message = update.message
    return message.media_group_id if message is not None else None
