"""The Telegram channel end to end: the real PTB Application against a fake Bot API server.

Nothing here reaches api.telegram.org: the bot's base URLs point at tests/fakebotapi.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select
from telegram import KeyboardButton, ReplyKeyboardMarkup

from bot.app import App, build
from bot.channels.journal import SentJournal
from bot.channels.sender import RateLimitedSender, Unreachable
from bot.channels.telegram import TelegramChannel, merge_album_replies
from bot.channels.telegram_reading import parse_command
from bot.channels.telegram_sending import render
from bot.channels.workers import dialog_processes
from bot.settings import (
    ConfigError,
    Secrets,
    SendLimits,
    Settings,
    TelegramSettings,
    load_settings,
)
from bot.web import build_web_app
from messages.catalog import t
from messages.types import Inbound, Kind, Option, Outbound
from nlp.classifier import Classifier
from scheduler.outbox import drain
from storage import inbox, replies
from storage.db import transaction
from storage.models import Appeal, Attachment, Conversation, InboxUpdate, Outbox, Person
from storage.roles import Role
from tests.conftest import ROOT
from tests.dialog_helpers import image_bytes
from tests.fakebotapi import TOKEN, FakeBotApi, Updates
from tests.telegram_helpers import deliver, invite

JPEG = image_bytes("JPEG", (10, 120, 200))
PNG = image_bytes("PNG", (30, 200, 30))
FAST = SendLimits(
    private_per_second=200, private_burst=20, overall_per_second=1000, overall_burst=100,
    backoff_base=0.01,
)  # fmt: skip
DESCRIPTION = "小区门口占道经营，乱摆摊严重，影响通行，已经持续一个月了"


@pytest.fixture
def sessions(app: App) -> sessionmaker[Session]:
    return app.sessions


def rebuilt(app: App, classifier: Classifier) -> App:
    """A second app on the same database, as after a restart."""
    return build(app.settings, Secrets(database_url=str(app.engine.url)), classifier)


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    api = FakeBotApi(max_poll_wait=0.05).start()
    yield api
    api.stop()


Factory = Callable[..., TelegramChannel]


@pytest.fixture
async def make_channel(fake: FakeBotApi, app: App) -> AsyncIterator[Factory]:
    """Builds channels on the fake server and the test database; stops them at the end."""
    channels: list[TelegramChannel] = []

    def make(
        *,
        handle: Callable[[Inbound], list[Outbound]] | None = None,
        core: App = app,
        **options: Any,
    ) -> TelegramChannel:
        options.setdefault("album_delay", 0.15)
        options.setdefault("poll_timeout", 1)
        channel = TelegramChannel(
            handle=handle or core.dialog.handle,
            sessions=core.sessions,
            token=TOKEN,
            telegram=TelegramSettings(
                base_url=fake.base_url,
                base_file_url=fake.base_file_url,
                limits=options.pop("send_limits", FAST),
            ),
            limits=core.settings.limits,
            **options,
        )
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        await channel.stop()


@pytest.fixture
async def channel(make_channel: Factory) -> TelegramChannel:
    channel = make_channel()
    await channel.start()
    return channel


def appeals(sessions: sessionmaker[Session]) -> list[Appeal]:
    with sessions() as session:
        return list(session.exec(select(Appeal)))


def last_sent(fake: FakeBotApi, chat_id: int) -> dict[str, Any]:
    return dict(fake.sent(chat_id)[-1]["_message"])


async def file_until_confirm(fake: FakeBotApi, you: Updates) -> dict[str, Any]:
    """Walk a resident to the confirmation; returns the summary message (with its buttons)."""
    chat = you.user["id"]
    count = len(fake.sent(chat))
    # Built one at a time: update ids must grow in the order the updates are sent.
    steps: list[Callable[[], dict[str, Any]]] = [
        lambda: you.text("/new"),
        lambda: you.text(DESCRIPTION),
        lambda: you.press(last_sent(fake, chat), "skip"),
        lambda: you.location(28.19, 112.97),
        lambda: you.contact("13800138000"),
    ]
    for step in steps:
        fake.push(step())
        count += 1
        await fake.wait_sent(chat, count)
    return last_sent(fake, chat)


# -- the whole dialog ----------------------------------------------------------------------


async def test_whole_dialog(
    fake: FakeBotApi,
    channel: TelegramChannel,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    you = Updates(fake, 5001)
    fake.files.update({"p1": JPEG, "p2": PNG})

    fake.push(you.text("/start"))
    texts = await fake.wait_sent(5001, 2)  # help, then the menu
    assert texts == [t("help"), t("welcome", center="示范区综治中心")]
    menu = last_sent(fake, 5001)["reply_markup"]["inline_keyboard"]
    assert {b["callback_data"] for row in menu for b in row} >= {"new", "my", "help"}

    fake.push(you.press(last_sent(fake, 5001), "new"))
    texts = await fake.wait_sent(5001, 3)
    assert texts[-1].startswith("请用文字描述")

    fake.push(you.text(DESCRIPTION))
    texts = await fake.wait_sent(5001, 4)
    assert texts[-1].startswith("如有现场照片")

    fake.push(you.photo("p1", media_group_id="album1"), you.photo("p2", media_group_id="album1"))
    texts = await fake.wait_sent(5001, 5)
    await channel.idle()  # both photos answered: no second answer comes
    texts = fake.texts(5001)
    assert texts[-1] == t("photo.received", count=2)
    assert len(texts) == 5
    assert len(fake.requests("download")) == 2

    fake.push(you.press(last_sent(fake, 5001), "done"))
    texts = await fake.wait_sent(5001, 6)
    assert texts[-1] == t("ask.location")
    keyboard = fake.sent(5001)[-1]["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_location"] is True
    assert ["跳过"] in [[b["text"] for b in row] for row in keyboard]

    fake.push(you.venue(28.19, 112.97, "幸福小区", "城关街道幸福路8号"))
    texts = await fake.wait_sent(5001, 7)
    assert texts[-1].startswith(t("ask.phone"))
    assert fake.sent(5001)[-1]["reply_markup"]["keyboard"][0][0]["request_contact"] is True

    fake.push(you.contact("+86 138-0013-8000"))
    texts = await fake.wait_sent(5001, 8)
    assert "138****8000" in texts[-1]
    assert "幸福小区 城关街道幸福路8号" in texts[-1]
    assert "照片：2张" in texts[-1]

    fake.push(you.press(last_sent(fake, 5001), "confirm"))
    texts = await fake.wait_sent(5001, 9)
    assert "SQ" in texts[-1]

    [appeal] = appeals(sessions)
    assert appeal.number in texts[-1]
    assert appeal.phone == "13800138000"
    assert appeal.address == "幸福小区 城关街道幸福路8号"
    with sessions() as session:
        assert len(session.exec(select(Attachment)).all()) == 2
    # Each press was answered and its keyboard taken away.
    assert len(fake.requests("answerCallbackQuery")) == 3
    assert len(fake.requests("editMessageReplyMarkup")) == 3
    [commands] = fake.requests("setMyCommands")
    names = [c["command"] for c in commands.params["commands"]]
    assert names == ["start", "new", "my", "cancel", "help"]
    assert commands.params["commands"][1]["description"] == "我要反映"
    assert TOKEN not in caplog.text


async def test_deep_link_and_commands_map_to_inbound(
    fake: FakeBotApi, make_channel: Factory
) -> None:
    seen: list[Inbound] = []

    def handle(inbound: Inbound, *, wait: bool = True) -> list[Outbound]:
        seen.append(inbound)
        return [Outbound("ok")]

    channel = make_channel(handle=handle)
    await channel.start()
    you = Updates(fake, 5002)
    fake.push(you.text("/start grid_0042"), you.text("/my@appeal_bot"), you.text("你好"))
    await fake.wait_sent(5002, 3)
    assert [(i.kind, i.text, i.args) for i in seen] == [
        (Kind.COMMAND, "start", "grid_0042"),
        (Kind.COMMAND, "my", ""),
        (Kind.TEXT, "你好", ""),
    ]
    assert seen[0].user_id == seen[0].chat_id == "5002"
    assert seen[0].message_id is not None and seen[0].message_id.isdigit()


# -- files -----------------------------------------------------------------------------------


async def test_refused_files(
    fake: FakeBotApi, channel: TelegramChannel, sessions: sessionmaker[Session]
) -> None:
    you = Updates(fake, 5003)
    fake.push(you.text("/new"), you.text(DESCRIPTION))
    await fake.wait_sent(5003, 2)

    fake.push(you.photo("huge", size=11 * 1024 * 1024))
    texts = await fake.wait_sent(5003, 3)
    assert texts[-1] == t("bad.photo_size", max_mb=10)
    assert fake.requests("getFile") == []
    assert fake.requests("download") == []

    fake.push(you.document("pdf", "application/pdf", 2000))
    texts = await fake.wait_sent(5003, 5)
    assert texts[-2] == t("bad.not_photo")
    fake.push(you.sticker())
    await fake.wait_sent(5003, 7)
    assert fake.requests("download") == []

    # A document that is an image counts as a photo.
    fake.files["scan"] = PNG
    fake.push(you.document("scan", "image/png", len(PNG)))
    texts = await fake.wait_sent(5003, 8)
    assert texts[-1] == t("photo.received", count=1)
    with sessions() as session:
        row = session.get(Conversation, ("telegram", "5003", "5003"))
        assert row is not None and len(row.data["draft"]["photos"]) == 1


# -- delivery --------------------------------------------------------------------------------


async def test_blocked_user_is_marked_unreachable(
    fake: FakeBotApi, channel: TelegramChannel, sessions: sessionmaker[Session]
) -> None:
    fake.blocked.add("5004")
    fake.push(Updates(fake, 5004).text("/help"))

    def unreachable() -> bool:
        with sessions() as session:
            person = session.exec(select(Person).where(Person.external_id == "5004")).first()
            return person is not None and person.unreachable

    await fake.wait_for(unreachable)
    # The bot carries on for everybody else.
    fake.push(Updates(fake, 5005).text("/help"))
    await fake.wait_sent(5005, 2)
    assert fake.sent(5004) == []


async def test_flood_control_is_obeyed_and_everything_arrives(
    fake: FakeBotApi, channel: TelegramChannel
) -> None:
    fake.flood["sendMessage"] = [1, 1]
    residents = [Updates(fake, 6000 + i) for i in range(5)]
    fake.push(*(you.text("/help") for you in residents))
    for you in residents:
        await fake.wait_sent(you.user["id"], 2)
    calls = fake.requests("sendMessage")
    refused = [c for c in calls if not c.params.get("_ok")]
    assert len(refused) == 2
    for refusal in refused:
        # The refused message itself is sent again only after retry_after (requests already
        # in flight for other chats when the 429 came may land earlier).
        retry = min(
            c.at
            for c in calls
            if c.at > refusal.at
            and c.params["chat_id"] == refusal.params["chat_id"]
            and c.params["text"] == refusal.params["text"]
        )
        assert retry - refusal.at >= 0.9
    assert channel.sender.flood_waits == 2
    assert len(fake.sent()) == 10


async def test_server_error_is_retried(fake: FakeBotApi, channel: TelegramChannel) -> None:
    fake.failures["sendMessage"] = 2
    fake.push(Updates(fake, 5006).text("/help"))
    await fake.wait_sent(5006, 2)
    assert len(fake.requests("sendMessage")) == 4


async def test_press_is_answered_and_its_keyboard_removed_before_the_reply(
    fake: FakeBotApi, channel: TelegramChannel
) -> None:
    # The answer and the keyboard removal go out while the dialog takes the turn.
    you = Updates(fake, 5014)
    summary = await file_until_confirm(fake, you)
    fake.push(you.press(summary, "confirm"))
    texts = await fake.wait_sent(5014, 6)
    assert "SQ" in texts[-1]
    calls = fake.requests()
    reply = next(i for i, c in enumerate(calls) if c.params.get("text") == texts[-1])
    last_answer = max(i for i, c in enumerate(calls) if c.method == "answerCallbackQuery")
    last_edit = max(i for i, c in enumerate(calls) if c.method == "editMessageReplyMarkup")
    assert last_answer < reply and last_edit < reply
    assert str(calls[last_edit].params["message_id"]) == str(summary["message_id"])


async def test_keyboard_that_cannot_be_removed_does_not_hold_up_the_turn(
    fake: FakeBotApi, channel: TelegramChannel
) -> None:
    you = Updates(fake, 5015)
    fake.push(you.text("/new"), you.text(DESCRIPTION))
    await fake.wait_sent(5015, 2)
    fake.failures["editMessageReplyMarkup"] = 10  # more than the sender retries
    fake.push(you.press(last_sent(fake, 5015), "skip"))
    texts = await fake.wait_sent(5015, 3)
    assert texts[-1] == t("ask.location")
    assert len(fake.requests("editMessageReplyMarkup")) == FAST.max_attempts


async def test_sender_caps_the_requests_in_flight() -> None:
    sender = RateLimitedSender(limits=FAST, max_in_flight=3)
    in_flight = peak = 0

    async def request() -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1

    calls = [sender.call(str(7000 + i % 4), request) for i in range(12)]
    await asyncio.gather(*calls, sender.unpaced(request), sender.unpaced(request))
    assert peak == 3


async def test_idle_waits_until_every_update_taken_is_answered(
    fake: FakeBotApi, make_channel: Factory
) -> None:
    """A turn answers with three messages, paced 5 a second: `idle` returns once all three
    are sent, and at once when nothing is taken."""

    def handle(inbound: Inbound, *, wait: bool = True) -> list[Outbound]:
        return [Outbound("一"), Outbound("二"), Outbound("三")]

    paced = SendLimits(private_per_second=5, private_burst=1)
    channel = make_channel(handle=handle, send_limits=paced)
    await channel.start()
    await asyncio.wait_for(channel.idle(), 1)
    fake.push(Updates(fake, 5016).text("你好"))
    await fake.wait_sent(5016, 1)
    assert len(fake.sent(5016)) < 3
    await asyncio.wait_for(channel.idle(), 5)
    assert fake.texts(5016) == ["一", "二", "三"]


@dataclass(frozen=True)
class ThreeReplies:
    """A composition root whose every turn answers with three messages."""

    settings: Settings
    sessions: sessionmaker[Session]

    @property
    def dialog(self) -> ThreeReplies:
        return self

    def handle(self, inbound: Inbound, *, wait: bool = True) -> list[Outbound]:
        return [Outbound("一"), Outbound("二"), Outbound("三")]


async def test_the_configured_send_limits_pace_the_channel(
    fake: FakeBotApi, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`channels.telegram.limits` (here from the environment) reaches the channel: 5 a second
    to a private chat and no burst, where the default sends a turn's three replies at once."""
    for key, value in {
        "BASE_URL": fake.base_url,
        "BASE_FILE_URL": fake.base_file_url,
        "LIMITS__PRIVATE_PER_SECOND": "5",
        "LIMITS__PRIVATE_BURST": "1",
    }.items():
        monkeypatch.setenv(f"APPEALBOT_CHANNELS__TELEGRAM__{key}", value)
    core = ThreeReplies(load_settings(ROOT / "config.yaml"), app.sessions)
    channel = TelegramChannel.from_app(core, TOKEN, poll_timeout=1)
    await channel.start()
    try:
        fake.push(Updates(fake, 5017).text("你好"))
        await fake.wait_sent(5017, 3)
    finally:
        await channel.stop()
    sent = [
        call.at for call in fake.requests("sendMessage") if str(call.params["chat_id"]) == "5017"
    ]
    assert len(sent) == 3
    assert min(later - earlier for earlier, later in itertools.pairwise(sent)) > 0.15


async def test_outbox_sender_from_another_thread(
    fake: FakeBotApi, channel: TelegramChannel, sessions: sessionmaker[Session]
) -> None:
    send = channel.outbox_sender()
    rating = Outbound("请评价", (Option("满意", "rate:SQ20261123-0001:满意"),))
    await asyncio.to_thread(send, "5007", rating)
    assert fake.texts(5007) == ["请评价"]
    markup = fake.requests("sendMessage")[-1].params["reply_markup"]
    assert "rate:SQ20261123-0001:满意" in str(markup)
    fake.blocked.add("5008")
    with pytest.raises(Unreachable):
        await asyncio.to_thread(send, "5008", Outbound("通知"))
    with pytest.raises(RuntimeError):
        send("5007", Outbound("on the loop itself"))


# -- robustness -------------------------------------------------------------------------------


async def test_duplicated_update_is_answered_once(
    fake: FakeBotApi, channel: TelegramChannel, sessions: sessionmaker[Session]
) -> None:
    you = Updates(fake, 5009)
    summary = await file_until_confirm(fake, you)
    press = you.press(summary, "confirm")
    fake.push(press, press)
    texts = await fake.wait_sent(5009, 6)
    await channel.idle()
    assert len(fake.texts(5009)) == 6
    assert "SQ" in texts[-1]
    assert len(appeals(sessions)) == 1


async def test_forged_callback_changes_nothing(
    fake: FakeBotApi, channel: TelegramChannel, sessions: sessionmaker[Session]
) -> None:
    you = Updates(fake, 5010)
    summary = await file_until_confirm(fake, you)
    fake.push(you.press(summary, "case:SQ20240101-0001"))
    await fake.wait_for(lambda: len(fake.requests("answerCallbackQuery")) == 2)
    answer = fake.requests("answerCallbackQuery")[-1]
    assert answer.params["text"] == t("option_expired")
    await channel.idle()
    assert len(fake.sent(5010)) == 5
    assert appeals(sessions) == []
    with sessions() as session:
        row = session.get(Conversation, ("telegram", "5010", "5010"))
        assert row is not None and row.step == "confirm"
    # The genuine button still works.
    fake.push(you.press(summary, "confirm"))
    texts = await fake.wait_sent(5010, 6)
    assert "SQ" in texts[-1]


async def test_failing_update_gets_an_apology_and_the_bot_carries_on(
    fake: FakeBotApi,
    make_channel: Factory,
    app: App,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dialog = app.dialog

    def handle(inbound: Inbound, *, wait: bool = True) -> list[Outbound]:
        if inbound.text == "boom":
            raise RuntimeError("kaput")
        return dialog.handle(inbound, wait=wait)

    channel = make_channel(handle=handle)
    await channel.start()
    you = Updates(fake, 5011)
    boom = you.text("boom")
    fake.push(boom, you.text("/help"))
    texts = await fake.wait_sent(5011, 3)
    assert texts[0] == t("error.sorry")
    assert f"telegram update {boom['update_id']} failed" in caplog.text
    assert TOKEN not in caplog.text


async def test_a_turn_waits_for_a_busy_database_in_a_thread_and_polling_goes_on(
    fake: FakeBotApi, make_channel: Factory, app: App
) -> None:
    """On SQLite a turn runs on the event loop when it can begin at once; while another
    writer holds the write lock, and for a photo, it runs in a worker thread."""
    taken: list[tuple[str, bool]] = []
    dialog = app.dialog
    locked, release = threading.Event(), threading.Event()

    def another_writer() -> None:  # as the outbox or a sweep: it holds the write lock
        with app.engine.begin():
            locked.set()
            release.wait(10)

    def handle(inbound: Inbound, *, wait: bool = True) -> list[Outbound]:
        taken.append((threading.current_thread().name, wait))
        if inbound.text == DESCRIPTION and not locked.is_set():
            threading.Thread(target=another_writer).start()
            locked.wait(5)
        return dialog.handle(inbound, wait=wait)

    channel = make_channel(handle=handle)
    await channel.start()
    loop = threading.current_thread().name
    you = Updates(fake, 5014)
    fake.files["p1"] = JPEG
    fake.push(you.text("/new"))
    await fake.wait_sent(5014, 1)
    assert taken == [(loop, False)]

    fake.push(you.text(DESCRIPTION))
    await fake.wait_for(lambda: len(taken) == 3)
    polls = len(fake.requests("getUpdates"))
    await asyncio.sleep(0.3)
    assert len(fake.requests("getUpdates")) >= polls + 2  # the loop is not held up
    assert len(fake.sent(5014)) == 1  # the turn waits for the lock in its thread
    release.set()
    texts = await fake.wait_sent(5014, 2)
    assert "照片" in texts[-1]
    fake.push(you.photo("p1"))
    await fake.wait_sent(5014, 3)
    assert [(name.startswith("telegram-dialog"), wait) for name, wait in taken[1:]] == [
        (False, False),  # tried on the loop: busy
        (True, True),  # taken in the thread once the lock was free
        (True, True),  # a photo is written to disk: straight to the thread
    ]
    assert taken[1][0] == loop


async def test_on_postgresql_turns_run_in_worker_processes(
    fake: FakeBotApi,
    make_channel: Factory,
    app: App,
    classifier: Classifier,
    postgres_schema_url: str,
) -> None:
    """A whole appeal through the workers; a worker that dies costs one turn an apology."""
    core = build(app.settings, Secrets(database_url=postgres_schema_url), classifier)
    processes = dialog_processes(core.settings, postgres_schema_url)
    assert processes is not None
    assert dialog_processes(core.settings, "sqlite:///x.db") is None

    def in_this_process(inbound: Inbound, *, wait: bool = True) -> list[Outbound]:
        raise AssertionError("a PostgreSQL turn ran in the bot's process")

    channel = make_channel(handle=in_this_process, core=core, processes=processes)
    await channel.start()
    assert len(processes.pids) == processes.processes
    you = Updates(fake, 5015)
    summary = await file_until_confirm(fake, you)
    fake.push(you.press(summary, "confirm"))
    texts = await fake.wait_sent(5015, 6)
    [appeal] = appeals(core.sessions)
    assert appeal.number in texts[-1]

    for pid in processes.pids:
        os.kill(pid, signal.SIGKILL)
    fake.push(you.text("/my"))
    texts = await fake.wait_sent(5015, 7)
    assert texts[-1] == t("error.sorry")
    fake.push(you.text("/my"))
    await fake.wait_sent(5015, 8)
    assert appeal.number in str(fake.sent(5015)[-1]["reply_markup"])  # new workers took it
    await channel.stop()
    core.engine.dispose()


async def test_restart_mid_dialog(
    fake: FakeBotApi, make_channel: Factory, app: App, classifier: Classifier
) -> None:
    you = Updates(fake, 5012)
    first = make_channel()
    await first.start()
    fake.push(you.text("/new"), you.text(DESCRIPTION))
    await fake.wait_sent(5012, 2)
    await first.stop()

    second = make_channel(core=rebuilt(app, classifier))  # new Application, Dialog, engine
    await second.start()
    fake.push(you.press(last_sent(fake, 5012), "skip"))
    await fake.wait_sent(5012, 3)
    fake.push(you.text("城关街道幸福小区3栋门口"))
    await fake.wait_sent(5012, 4)
    fake.push(you.text("13800138000"))
    await fake.wait_sent(5012, 5)
    fake.push(you.press(last_sent(fake, 5012), "confirm"))
    texts = await fake.wait_sent(5012, 6)
    assert "SQ" in texts[-1]
    [appeal] = appeals(app.sessions)
    assert appeal.text == DESCRIPTION


# -- webhook mode ------------------------------------------------------------------------------


async def test_webhook_through_the_asgi_app(
    fake: FakeBotApi, make_channel: Factory, sessions: sessionmaker[Session]
) -> None:
    channel = make_channel(webhook=True)
    app = build_web_app(
        telegram=channel, webhook_secret="s3cret-value", webhook_url="https://example.org/telegram"
    )
    you = Updates(fake, 5013)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bot") as client,
    ):
        [webhook] = fake.requests("setWebhook")
        assert webhook.params["secret_token"] == "s3cret-value"
        assert (await client.get("/healthz")).json()["telegram"] is True

        update = you.text("/help")
        bad = await client.post(
            "/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        )
        assert bad.status_code == 403
        assert (await client.post("/telegram", json=update)).status_code == 403
        await channel.idle()
        assert fake.sent(5013) == []

        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-value"}
        assert (await client.post("/telegram", json=update, headers=headers)).status_code == 200
        await fake.wait_sent(5013, 2)
        # A redelivery (same update_id) is not answered twice.
        assert (await client.post("/telegram", json=update, headers=headers)).status_code == 200
        garbage = await client.post("/telegram", content=b"{nope", headers=headers)
        assert garbage.status_code == 400
        # Valid JSON but no update: logged and acknowledged, never a 500 Telegram would
        # repeat forever; nothing is kept for it.
        for malformed in ({"update_id": 90, "message": "x"}, {"update_id": 91, "message": {}}):
            answer = await client.post("/telegram", json=malformed, headers=headers)
            assert answer.status_code == 200
        await channel.idle()
        assert len(fake.sent(5013)) == 2

        def handled() -> bool:  # every update handled, none of the malformed kept
            with sessions() as session:
                return not session.exec(select(InboxUpdate)).all()

        await fake.wait_for(handled)
    assert fake.requests("getUpdates") == []
    assert not channel.running


def test_webhook_needs_a_secret(make_channel: Factory) -> None:
    with pytest.raises(ConfigError, match="SECRET"):
        build_web_app(telegram=make_channel(webhook=True), webhook_secret=None)


# -- pieces ------------------------------------------------------------------------------------


def test_parse_command() -> None:
    assert parse_command("/start grid_0042") == ("start", "grid_0042")
    assert parse_command("/New") == ("new", "")
    assert parse_command("/my@appeal_bot  ") == ("my", "")
    assert parse_command("我要反映") is None
    assert parse_command("/ 空格") is None


def test_render_contact_request_keeps_the_options_as_buttons() -> None:
    reply = Outbound(
        "请留下手机号",
        (Option("使用 138****8000", "saved"), Option("取消", "cancel")),
        request_contact=True,
    )
    text, markup = render(reply)
    assert text == "请留下手机号"
    assert isinstance(markup, ReplyKeyboardMarkup)
    first: KeyboardButton = markup.keyboard[0][0]
    assert first.request_contact is True
    assert markup.one_time_keyboard is True
    assert [b.text for row in markup.keyboard[1:] for b in row] == ["使用 138****8000", "取消"]


def test_render_falls_back_to_numbers_for_long_values() -> None:
    text, markup = render(Outbound("选择", (Option("甲", "x" * 70),)))
    assert markup is None
    assert text == "选择\n1. 甲"


def test_album_replies_are_merged() -> None:
    done = Option("完成", "done")
    turns = [
        [Outbound("已收到第1张照片", (done,))],
        [Outbound("照片太大")],
        [Outbound("已收到第2张照片", (done,))],
    ]
    assert [r.text for r in merge_album_replies(turns)] == ["照片太大", "已收到第2张照片"]
    assert merge_album_replies([[], []]) == []


def test_outbox_sender_needs_a_running_channel(make_channel: Factory) -> None:
    with pytest.raises(RuntimeError, match="not running"):
        make_channel().outbox_sender()("1", Outbound("x"))


def test_unreachable_is_recorded_for_the_person(
    make_channel: Factory, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as session:
        session.add(Person(channel="telegram", external_id="77", chat_id="77"))
    make_channel().outgoing.mark_unreachable("77")
    with sessions() as session:
        person = session.exec(select(Person).where(Person.external_id == "77")).one()
        assert person.unreachable


async def test_the_channel_connects_to_the_fake_bot_api_only(
    fake: FakeBotApi, make_channel: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reaches Telegram: every connection a channel opens, to poll and to send alike,
    goes to the fake Bot API on the loopback."""
    peers: list[tuple[str, int]] = []
    connect = socket.socket.connect

    def recording(self: socket.socket, address: Any) -> None:
        peers.append(tuple(address[:2]))
        connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", recording)
    channel = make_channel()
    await channel.start()
    fake.push(Updates(fake, 5018).text("/help"))
    await fake.wait_sent(5018, 2)
    assert len(peers) >= 2  # the poller's connection and the sender's
    assert set(peers) == {("127.0.0.1", fake.port)}


# -- a danger to life --------------------------------------------------------------------------


async def test_a_gas_leak_gets_advice_and_is_filed_and_alerted_in_the_first_turn(
    fake: FakeBotApi, channel: TelegramChannel, app: App, sessions: sessionmaker[Session]
) -> None:
    """The emergency path through the real adapter, on a working day: the safety advice
    before the case number, no other step first, the roster and the duty leader alerted
    at once, and the place sent afterwards goes to the case."""
    app.settings.duty.rotation = [["李值班"]]
    app.settings.duty.leaders = ["赵领导"]
    wednesday = dt.datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with time_machine.travel(wednesday, tick=False):
        staff = {7400: (Role.LEADER, "赵领导"), 7401: (Role.DISPATCHER, "李值班")}
        staff[7402] = (Role.LEADER, "钱领导")  # a leader not on duty
        for chat, (role, name) in staff.items():
            fake.push(Updates(fake, chat).text(f"/join {invite(app, role)} {name}"))
            await fake.wait_sent(chat, 1)
        you = Updates(fake, 5301)
        fake.push(you.text("/new"))
        await fake.wait_sent(5301, 1)
        fake.push(you.text("楼道里有很浓的煤气味，好像漏气了"))
        await fake.wait_sent(5301, 3)
        await channel.idle()
        texts = fake.texts(5301)
        assert len(texts) == 3  # the prompt, then the advice and the case: nothing else
        advice, filed = texts[1:]
        assert advice == t("emergency.gas")
        assert "119" in advice and "不要开关电灯" in advice
        assert "编号 SQ" in filed
        [appeal] = appeals(sessions)
        assert appeal.number in filed
        assert (appeal.urgency, appeal.disposition) == ("life", "immediate")
        assert appeal.latitude is None
        # The place may be sent from the case message's keyboard.
        keyboard = fake.sent(5301)[-1]["reply_markup"]["keyboard"]
        assert keyboard[0][0]["request_location"] is True

        assert await deliver(app, channel) >= 2
        for chat in (7400, 7401):  # the duty leader and the roster of the day
            alerts = [text for text in fake.texts(chat)[1:] if appeal.number in text]
            assert alerts and "危及生命" in alerts[0], chat
        assert all(appeal.number not in text for text in fake.texts(7402))

        fake.push(you.location(28.19, 112.97))
        texts = await fake.wait_sent(5301, 4)
    assert "已补充到诉求" in texts[-1] and appeal.number in texts[-1]
    [appeal] = appeals(sessions)
    assert appeal.latitude == pytest.approx(28.19)
    assert appeal.longitude == pytest.approx(112.97)


async def test_updates_and_replies_kept_by_a_run_that_died_are_handled_at_start(
    fake: FakeBotApi, make_channel: Factory, app: App, tmp_path: Path
) -> None:
    """What a killed process left: an update received but not handled, a reply kept but not
    sent, and a reply sent whose mark never reached the database (it is in the journal)."""
    update = Updates(fake, 5021).text("/help")
    await asyncio.to_thread(
        inbox.keep, app.sessions, "telegram", [(str(update["update_id"]), update)]
    )
    with transaction(app.sessions) as session:
        for chat, message_id in ((5022, "900"), (5023, "901")):
            replies.keep(
                session,
                channel="telegram",
                chat_id=str(chat),
                message_id=message_id,
                payloads=[Outbound(f"答复 {chat}").to_json()],
            )
    journal = SentJournal(tmp_path / "sent.journal")
    journal.sent(replies.reply_key("telegram", "901", 0))
    channel = make_channel(journal=journal)
    await channel.start()
    await fake.wait_sent(5021, 1)

    def handled() -> bool:
        with app.sessions() as session:
            return not session.exec(select(InboxUpdate)).all()

    await fake.wait_for(handled)
    assert await asyncio.to_thread(drain, app.sessions, {"telegram": channel.outbox_sender()}) == 1
    assert fake.texts(5022) == ["答复 5022"]
    assert fake.texts(5023) == []  # it had gone out before the crash
    with app.sessions() as session:
        assert all(row.sent_at for row in session.exec(select(Outbox)))
    assert replies.reply_key("telegram", "901", 0) not in journal.recorded()  # settled, cleared
