"""The fault suite: the real bot, a process of its own polling the fake Bot API, is killed
with SIGKILL at the worst moments and its Bot API fails in storms; no resident's message or
answer may be lost, and none may arrive twice.

Each scenario reports one line (under "figures" at the end of the run): tries (residents,
or messages), lost (never answered) and doubled (a reply the bot knew it had sent, sent
again). Both must be zero. A send that was on the wire when the process died (Telegram took
it, its answer never came back) cannot be known to have arrived: it is sent again, and
counted apart as "resent in flight".
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, col, create_engine, select

from bot.app import App
from bot.channels.wechat import WechatChannel
from bot.channels.wechat_api import WechatApi
from bot.settings import WechatSettings
from storage.models import Appeal, Outbox, Person
from tests.dialog_helpers import image_bytes
from tests.fakebotapi import TOKEN, FakeBotApi, Updates
from tests.fakewechat import APPID, SECRET, FakeWechat
from tests.test_wechat import WechatServer, client_for
from tests.test_wechat import secrets as wechat_secrets
from tests.threaded_server import free_port

ROOT = Path(__file__).resolve().parent.parent
NUMBER = re.compile(r"SQ\d{8}-\d{4}")
DESCRIPTION = "我们小区的物业不管电梯故障，老人上下楼很困难，已经两周了"
START_SECONDS = 60.0


class Bot:
    """`appealbot run` with a Telegram token, in a process of its own."""

    def __init__(self, fake: FakeBotApi, data_dir: Path) -> None:
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "APPEALBOT_CHANNELS__TELEGRAM__BASE_URL": fake.base_url,
            "APPEALBOT_CHANNELS__TELEGRAM__BASE_FILE_URL": fake.base_file_url,
            "APPEALBOT_STORAGE__DATA_DIR": str(data_dir),
            "APPEALBOT_SCHEDULER__SWEEP_SECONDS": "0.5",
            "APPEALBOT_SERVER__PORT": str(free_port()),  # `run` serves the web console
        }
        self.fake = fake
        self.log = data_dir / "bot.log"
        self.journal = data_dir / "telegram-sent.journal"
        self.process: subprocess.Popen[bytes] | None = None
        self.journaled: set[str] = set()  # reply keys the killed process knew it had sent

    def _spawn(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), "run"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self) -> None:
        """Start the bot and wait until it is up (it registers its commands first)."""
        commands = len(self.fake.requests("setMyCommands"))
        await asyncio.to_thread(self._spawn)
        await self.fake.wait_for(
            lambda: len(self.fake.requests("setMyCommands")) > commands, START_SECONDS
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no shutdown code runs
        self.process.wait()
        for path in (self.journal, self.journal.with_suffix(".journal.1")):
            if path.exists():
                self.journaled |= set(path.read_text("utf-8").split())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def fake() -> Iterator[FakeBotApi]:
    server = FakeBotApi(max_poll_wait=0.5).start()
    yield server
    server.stop()


@pytest.fixture
def bot(fake: FakeBotApi, tmp_path: Path) -> Iterator[Bot]:
    process = Bot(fake, tmp_path)
    yield process
    process.stop()


def _engine(bot: Bot) -> Session:
    """A session on the bot's database (the SQLite file in its data folder)."""
    database = Path(bot.env["APPEALBOT_STORAGE__DATA_DIR"]) / "appealbot.db"
    return Session(create_engine(f"sqlite:///{database}"))


def report(
    figure: Callable[[str, object], None],
    name: str,
    tries: int,
    lost: int,
    doubles: tuple[int, int] = (0, 0),
) -> None:
    """The scenario's line, printed under "figures" at the end of the run (tests/conftest.py);
    `doubles` is (doubled, resent in flight)."""
    doubled, in_flight = doubles
    figure(
        "figure",
        f"fault suite: {name}: tries {tries} / lost {lost} / doubled {doubled}"
        f" (resent in flight {in_flight})",
    )
    assert (lost, doubled) == (0, 0)


async def answered(
    fake: FakeBotApi, chats: list[int], pattern: re.Pattern[str], within: float
) -> None:
    """Until every chat got a message matching `pattern` (or time is up)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(any(pattern.search(t) for t in fake.texts(chat)) for chat in chats):
            return
        await asyncio.sleep(0.1)


def missing(fake: FakeBotApi, chats: list[int], pattern: re.Pattern[str]) -> int:
    """Chats without a message matching `pattern`."""
    return sum(not any(pattern.search(t) for t in fake.texts(chat)) for chat in chats)


def doubles(bot: Bot, fake: FakeBotApi, chats: list[int]) -> tuple[int, int]:
    """(doubled, resent in flight): chats that got more messages than replies were kept for
    them, because a send the killed process had recorded in its journal was repeated
    (doubled), or because one on the wire at the kill was (in flight)."""
    doubled = in_flight = 0
    for chat in chats:
        kept, _, _ = ledger(bot, chat)
        if len(fake.sent(chat)) > kept:
            known = any(chat_of(bot, key) == chat for key in bot.journaled)
            doubled += known
            in_flight += not known
    return doubled, in_flight


def chat_of(bot: Bot, key: str) -> int | None:
    """The chat a kept reply went to."""
    with _engine(bot) as session:
        chat = session.exec(select(Outbox.chat_id).where(Outbox.key == key)).first()
    return None if chat is None else int(chat)


async def to_summary(fake: FakeBotApi, residents: list[Updates]) -> None:
    """Each resident files up to the summary (all at once, step by step)."""
    steps = ["我要反映", DESCRIPTION, "完成", "幸福路12号", "13800138000"]
    for position, step in enumerate(steps, start=1):
        for resident in residents:
            fake.push(resident.text(step))
        for resident in residents:
            await fake.wait_sent(resident.chat["id"], position, within=30)


async def test_kill_at_confirm(
    fake: FakeBotApi, bot: Bot, record_property: Callable[[str, object], None]
) -> None:
    """Twelve residents press 确认提交 together; the bot is killed 0.03–0.9 s later."""
    random.seed(17)
    residents = [Updates(fake, 6100 + n) for n in range(12)]
    chats = [int(r.chat["id"]) for r in residents]
    await bot.start()
    await to_summary(fake, residents)
    for resident in residents:
        fake.push(resident.text("1"))
    await asyncio.sleep(random.uniform(0.03, 0.9))
    bot.kill()
    await bot.start()
    await answered(fake, chats, NUMBER, 30)
    with _engine(bot) as session:
        appeals = session.exec(select(func.count()).select_from(Appeal)).one()
    lost = missing(fake, chats, NUMBER) + abs(appeals - len(chats))
    report(record_property, "kill -9 at 确认提交", len(chats), lost, doubles(bot, fake, chats))


def ledger(bot: Bot, chat: int) -> tuple[int, int, set[str]]:
    """(reply rows kept for the chat, of them unsent, update ids processed)."""
    with _engine(bot) as session:
        rows = session.exec(
            select(Outbox.sent_at).where(Outbox.chat_id == str(chat), Outbox.message == "reply")
        ).all()
        processed = session.exec(
            text("SELECT key FROM processed_update WHERE channel = 'telegram'")
        ).all()
    return len(rows), sum(sent is None for sent in rows), {row[0] for row in processed}


async def test_kill_in_a_lane(
    fake: FakeBotApi, bot: Bot, record_property: Callable[[str, object], None]
) -> None:
    """Ten quick messages in one chat, killed while they wait in its lane: each is handled
    once after the restart, and each reply kept for them is sent exactly once."""
    chat = 6200
    resident = Updates(fake, chat)
    await bot.start()
    messages = ["我要反映", DESCRIPTION, "完成", "幸福路12号", "13800138000"]
    messages += ["2", "你好", "帮助", "查询进度", "你好"]
    ids = []
    for message in messages:
        update = resident.text(message)
        ids.append(str(update["update_id"]))
        fake.push(update)
    await asyncio.sleep(0.05)
    bot.kill()
    await bot.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kept, unsent, processed = ledger(bot, chat)
        if unsent == 0 and all(key in processed for key in ids):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # anything sent twice would be sent by now
    kept, unsent, processed = ledger(bot, chat)
    lost = sum(key not in processed for key in ids) + unsent
    report(record_property, "kill -9 in a lane", len(ids), lost, doubles(bot, fake, [chat]))


async def settle(bot: Bot, fake: FakeBotApi, chats: list[int], within: float) -> int:
    """Wait until no kept reply of these chats is unsent; how many chats are lost: no
    message at all, or a reply still unsent."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(ledger(bot, chat)[1] == 0 and fake.sent(chat) for chat in chats):
            break
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)  # anything sent twice would be sent by now
    return sum(ledger(bot, chat)[1] > 0 or not fake.sent(chat) for chat in chats)


async def test_kill_in_a_burst(
    fake: FakeBotApi, bot: Bot, record_property: Callable[[str, object], None]
) -> None:
    """Fifty residents write at once; the bot is killed while it answers them."""
    residents = [Updates(fake, 6300 + n) for n in range(50)]
    chats = [int(r.chat["id"]) for r in residents]
    await bot.start()
    for resident in residents:
        fake.push(resident.text(DESCRIPTION))
    await fake.wait_for(lambda: len(fake.sent()) >= 5, 30)
    bot.kill()
    await bot.start()
    lost = await settle(bot, fake, chats, 60)
    report(
        record_property, "kill -9 in a burst of 50", len(chats), lost, doubles(bot, fake, chats)
    )


async def test_storms_of_5xx_and_429_and_failing_downloads(
    fake: FakeBotApi, bot: Bot, record_property: Callable[[str, object], None]
) -> None:
    """60 consecutive 5xx on sendMessage, then a 429 storm, and getFile failing 5 times in a
    row: every reply arrives once, every photo is received."""
    await bot.start()

    async def ten_write(first_chat: int, storm: str) -> None:
        chats = list(range(first_chat, first_chat + 10))
        for chat in chats:
            fake.push(Updates(fake, chat).text(DESCRIPTION))
        lost = await settle(bot, fake, chats, 60)
        report(record_property, storm, len(chats), lost, doubles(bot, fake, chats))

    fake.failures["sendMessage"] = 60
    await ten_write(6400, "60 × 5xx on sendMessage")
    fake.flood["sendMessage"] = [1.0] * 15
    await ten_write(6500, "429 storm on sendMessage")

    photographers = [Updates(fake, 6600 + n) for n in range(5)]
    for number, resident in enumerate(photographers):
        fake.files[f"f{number}"] = image_bytes("JPEG", (number * 40, 80, 120))
        fake.push(resident.text(DESCRIPTION))
    chats = [int(r.chat["id"]) for r in photographers]
    for chat in chats:
        await fake.wait_sent(chat, 1, within=30)
    fake.failures["getFile"] = 5
    for number, resident in enumerate(photographers):
        fake.push(resident.photo(f"f{number}"))
    received = re.compile("已收到第1张照片")
    await answered(fake, chats, received, 30)
    report(record_property, "5 × 5xx on getFile", len(chats), missing(fake, chats, received))


async def test_wechat_concurrent_duplicates_and_replays(
    app: App, record_property: Callable[[str, object], None]
) -> None:
    """Twenty residents' 确认提交, each delivered to three workers at once (WeChat's retries
    landing on different processes), and a signed plain-mode URL replayed with ten other
    bodies: one appeal each, and no replay gets in."""
    wechat = FakeWechat().start()
    api = WechatApi(appid=APPID, secret=SECRET, base_url=wechat.base_url)
    workers = [
        WechatChannel(app, WechatSettings(compat_mode=True), wechat_secrets(), api=api)
        for _ in range(3)
    ]
    try:
        residents = []
        async with client_for(workers[0]) as client:
            for number in range(20):
                resident = WechatServer(client, openid=f"o-fault-{number:02d}")
                for line in (DESCRIPTION, "跳过", "跳过", "13800138000"):
                    await resident.text(line)
                residents.append(resident)
        confirms = [resident.message("text", Content="1") for resident in residents]
        clients = [client_for(worker) for worker in workers]
        try:
            posts = []
            for resident, confirm in zip(residents, confirms, strict=True):
                params, body = resident.request(confirm)
                posts += [c.post("/wechat", params=params, content=body) for c in clients]
            await asyncio.gather(*posts)
            victim = WechatServer(clients[0], openid="o-victim", safe=False)
            params, body = victim.request(victim.message("text", Content=DESCRIPTION))
            assert (await clients[0].post("/wechat", params=params, content=body)).is_success
            replays = [
                WechatServer(clients[0], openid=f"o-replay-{n}", safe=False).message(
                    "text", Content="查询进度"
                )
                for n in range(10)
            ]
            answers = await asyncio.gather(
                *(clients[0].post("/wechat", params=params, content=r.encode()) for r in replays)
            )
        finally:
            for client in clients:
                await client.aclose()
        for worker in workers:
            await worker.idle()
        with app.sessions() as session:
            filed = Counter(
                person.external_id
                for appeal, person in session.exec(
                    select(Appeal, Person).where(Appeal.resident_id == Person.id)
                )
            )
            intruders = session.exec(
                select(func.count())
                .select_from(Person)
                .where(col(Person.external_id).startswith("o-replay"))
            ).one()
        lost = sum(filed[r.openid] == 0 for r in residents)
        doubled = sum(filed[r.openid] > 1 for r in residents)
        report(
            record_property,
            "WeChat: 20 confirms × 3 workers at once",
            len(residents),
            lost,
            (doubled, 0),
        )
        accepted = sum(answer.status_code != 403 for answer in answers)
        report(
            record_property,
            "WeChat: a signed URL replayed with 10 bodies",
            len(replays),
            0,
            (accepted + intruders, 0),
        )
    finally:
        for worker in workers:
            await worker.aclose()
        api.close()
        wechat.stop()
