"""The WeChat channel through the ASGI app, with callbacks built, signed and encrypted the way
WeChat's servers do it, and WeChat's API served by a fake server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, func, select
from starlette.applications import Starlette
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.parser import parse_message

from bot.app import App
from bot.channels.wechat import (
    CHANNEL,
    MENU_CONSULT,
    MENU_MY,
    MENU_NEW,
    WechatChannel,
    chunks,
    create_menu,
    passive_text,
    render,
    sign,
)
from bot.channels.wechat_api import WechatApi, WechatApiError
from bot.logs import install_redaction
from bot.settings import Secrets, Settings, WechatSettings
from messages.catalog import t
from messages.types import Inbound, Kind, Option, Outbound, Undeliverable
from scheduler.outbox import drain
from storage.db import transaction
from storage.models import Appeal, AppealEvent, Attachment, Outbox, Person, ProcessedUpdate
from storage.tokens import DatabaseTokenStore
from tests.dialog_helpers import PNG, Resident, bound, file_referral
from tests.fakewechat import APPID, SECRET, FakeWechat

TOKEN = "wx-callback-token-9f8e7d"
KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
OLD_KEY = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")
ACCOUNT = "gh_0123456789ab"
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"
DESCRIPTION = "小区门口的路灯坏了一个多月，晚上很黑，老人出门很不方便"


# -- the WeChat side ----------------------------------------------------------------------


def inner_xml(openid: str, msg_type: str, create_time: int, **fields: str | int | float) -> str:
    parts = [
        f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>",
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    for name, value in fields.items():
        if isinstance(value, str):
            parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
        else:
            parts.append(f"<{name}>{value}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


_msg_ids = itertools.count(24_000_000_000_000_000)
_nonces = itertools.count(1_000_000)


@dataclass
class WechatServer:
    """Delivers one resident's messages as WeChat does: signed query, encrypted envelope."""

    client: httpx.AsyncClient
    openid: str = OPENID
    safe: bool = True
    key: str = KEY
    clock: Callable[[], float] = time.time
    replies: list[str] = field(default_factory=list)

    def request(self, inner: str) -> tuple[dict[str, str], bytes]:
        timestamp, nonce = str(int(self.clock())), str(next(_nonces))
        params = {
            "signature": sign(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": self.openid,
        }
        if not self.safe:
            return params, inner.encode()
        raw = base64.b64decode(self.key + "=")
        encrypted = PrpCrypto(raw).encrypt(inner, APPID).decode()
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sign(TOKEN, timestamp, nonce, encrypted)
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        return params, body.encode()

    async def post(self, inner: str) -> httpx.Response:
        params, body = self.request(inner)
        return await self.client.post("/wechat", params=params, content=body)

    def read(self, response: httpx.Response) -> str:
        """The text WeChat would show the resident ("" for `success`)."""
        assert response.status_code == 200, response.status_code
        if response.text == "success":
            return ""
        xml = response.text
        if self.safe:
            envelope = ElementTree.fromstring(xml)  # noqa: S314 (our own reply)
            signature = envelope.findtext("MsgSignature") or ""
            timestamp = envelope.findtext("TimeStamp") or ""
            nonce = envelope.findtext("Nonce") or ""
            crypto = WeChatCrypto(TOKEN, self.key, APPID)
            xml = crypto.decrypt_message(xml, signature, timestamp, nonce)
        reply = parse_message(xml)
        assert reply.source == ACCOUNT and reply.target == self.openid
        return str(reply.content)

    def message(self, msg_type: str, msg_id: int | None = None, **fields: Any) -> str:
        msg_id = next(_msg_ids) if msg_id is None else msg_id
        return inner_xml(self.openid, msg_type, int(self.clock()), MsgId=msg_id, **fields)

    def event(self, event: str, create_time: int | None = None, **fields: Any) -> str:
        when = int(self.clock()) if create_time is None else create_time
        return inner_xml(self.openid, "event", when, Event=event, **fields)

    async def say(self, inner: str) -> str:
        answer = self.read(await self.post(inner))
        self.replies.append(answer)
        return answer

    async def text(self, content: str, msg_id: int | None = None) -> str:
        return await self.say(self.message("text", msg_id, Content=content))


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeWechat]:
    server = FakeWechat().start()
    yield server
    server.stop()


@pytest.fixture
def api(fake: FakeWechat) -> Iterator[WechatApi]:
    client = WechatApi(appid=APPID, secret=SECRET, base_url=fake.base_url)
    yield client
    client.close()


def secrets(**extra: Any) -> Secrets:
    return Secrets(
        wechat_token=TOKEN,
        wechat_appid=APPID,
        wechat_appsecret=SECRET,
        wechat_encoding_aes_key=KEY,
        **extra,
    )


Factory = Callable[..., WechatChannel]


@pytest.fixture
async def make_channel(app: App, api: WechatApi) -> AsyncIterator[Factory]:
    made: list[WechatChannel] = []

    def make(core: Any = app, **settings: Any) -> WechatChannel:
        previous = settings.pop("previous_aes_key", None)
        channel = WechatChannel(
            core, WechatSettings(**settings), secrets(), api=api, previous_aes_key=previous
        )
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.aclose()


def client_for(*channels: WechatChannel) -> httpx.AsyncClient:
    routes = [route for channel in channels for route in channel.routes()]
    web = Starlette(routes=routes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://test")


@pytest.fixture
async def channel(make_channel: Factory) -> WechatChannel:
    return make_channel()


@pytest.fixture
async def resident(channel: WechatChannel) -> AsyncIterator[WechatServer]:
    async with client_for(channel) as client:
        yield WechatServer(client)


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def appeals(sessions: sessionmaker[Session]) -> list[Appeal]:
    with sessions() as session:
        return list(session.exec(select(Appeal)).all())


@dataclass
class Core:
    """The app with its dialog wrapped (recording, or held at a gate)."""

    app: App
    dialog: Any

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.app.sessions


class RecordingDialog:
    def __init__(self, app: App) -> None:
        self.app = app
        self.seen: list[Inbound] = []

    def handle(self, inbound: Inbound) -> list[Outbound]:
        self.seen.append(inbound)
        return self.app.dialog.handle(inbound)


class GatedDialog:
    """Holds each turn until `release` is set; `entered` tells a turn is waiting there."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.entered = threading.Event()
        self.release = threading.Event()

    def handle(self, inbound: Inbound) -> list[Outbound]:
        self.entered.set()
        assert self.release.wait(10)
        return self.app.dialog.handle(inbound)


# -- verification and refusals ------------------------------------------------------------


async def test_get_verification_echoes_only_a_signed_request(resident: WechatServer) -> None:
    timestamp, nonce = str(int(time.time())), "12345"
    good = {"signature": sign(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    response = await resident.client.get("/wechat", params={**good, "echostr": "hello123"})
    assert response.status_code == 200 and response.text == "hello123"
    bad = {**good, "signature": "0" * 40, "echostr": "hello123"}
    assert (await resident.client.get("/wechat", params=bad)).status_code == 403
    stale = str(int(time.time()) - 3600)
    old = {"signature": sign(TOKEN, stale, nonce), "timestamp": stale, "nonce": nonce}
    assert (
        await resident.client.get("/wechat", params={**old, "echostr": "x"})
    ).status_code == 403


async def test_bad_signatures_are_refused_and_write_nothing(
    resident: WechatServer, app: App
) -> None:
    params, body = resident.request(resident.message("text", Content=DESCRIPTION))
    forged = {**params, "signature": sign("not-the-token", params["timestamp"], params["nonce"])}
    assert (await resident.client.post("/wechat", params=forged, content=body)).status_code == 403
    forged = {**params, "msg_signature": "f" * 40}
    assert (await resident.client.post("/wechat", params=forged, content=body)).status_code == 403
    assert count(app.sessions, Person) == 0
    assert count(app.sessions, ProcessedUpdate) == 0


async def test_malformed_or_oversized_callbacks_are_refused(make_channel: Factory) -> None:
    async with client_for(make_channel(compat_mode=True)) as client:
        resident = WechatServer(client, safe=False)
        for body in (b"<xml><MsgType>text", b"not xml at all", b"<other/>", b"<xml>text</xml>"):
            params, _ = resident.request("")
            response = await resident.client.post("/wechat", params=params, content=body)
            assert response.status_code == 400, body
        params, _ = resident.request("")
        huge = resident.message("text", Content="长" * 30_000).encode()
        response = await resident.client.post("/wechat", params=params, content=huge)
        assert response.status_code == 400
        resident.safe = True
        params, _ = resident.request("")
        broken = b"<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"
        params["msg_signature"] = sign(TOKEN, params["timestamp"], params["nonce"], "AAAA")
        response = await resident.client.post("/wechat", params=params, content=broken)
        assert response.status_code == 400


async def test_with_an_aes_key_plain_callbacks_are_refused_unless_in_compat_mode(
    resident: WechatServer, make_channel: Factory, app: App
) -> None:
    resident.safe = False
    assert (await resident.post(resident.message("text", Content=DESCRIPTION))).status_code == 403
    assert count(app.sessions, ProcessedUpdate) == 0
    async with client_for(make_channel(compat_mode=True)) as client:
        plain = WechatServer(client, safe=False)
        assert "照片" in await plain.text(DESCRIPTION)


async def test_a_signed_url_replayed_with_another_body_is_refused(
    make_channel: Factory, app: App
) -> None:
    """Plain mode signs only token, timestamp and nonce: one captured URL must not carry
    other bodies from other openids; WeChat's own retry (the same body) is answered."""
    async with client_for(make_channel(compat_mode=True)) as client:
        victim = WechatServer(client, safe=False)
        params, body = victim.request(victim.message("text", Content=DESCRIPTION))
        first = await client.post("/wechat", params=params, content=body)
        assert "照片" in victim.read(first)
        again = await client.post("/wechat", params=params, content=body)
        assert victim.read(again) == victim.read(first)
        for openid in ("attacker-1", "attacker-2"):
            other = WechatServer(client, openid=openid, safe=False)
            forged = other.message("text", Content="我要反映 查询进度")
            response = await client.post("/wechat", params=params, content=forged.encode())
            assert response.status_code == 403
    assert count(app.sessions, Person) == 1


async def test_a_msgid_sent_by_someone_else_never_gets_their_answer(
    resident: WechatServer, channel: WechatChannel, app: App
) -> None:
    msg_id = 24_999_000_000_000_001
    answer = await resident.text(DESCRIPTION, msg_id=msg_id)
    assert "照片" in answer
    intruder = WechatServer(resident.client, openid="o-intruder")
    theirs = await intruder.text("查询进度", msg_id=msg_id)
    assert theirs != answer and "照片" not in theirs
    assert "没有" in theirs or "诉求" in theirs  # the intruder's own (empty) case list
    assert count(app.sessions, Person) == 2


# -- the dialog ---------------------------------------------------------------------------


async def test_a_whole_appeal_in_safe_mode(
    resident: WechatServer, fake: FakeWechat, app: App
) -> None:
    fake.media["MEDIA_1"] = PNG
    assert "请用文字描述" in await resident.text("我要反映")
    answer = await resident.text(DESCRIPTION)
    assert "照片" in answer
    answer = await resident.say(
        resident.message("image", PicUrl="http://x/1.jpg", MediaId="MEDIA_1")
    )
    assert t("photo.received", count=1).split("。")[0] in answer
    assert "回复 1 完成" in answer
    answer = await resident.text("1")
    assert "位置" in answer and t("wechat.location_hint") in answer
    location = resident.message(
        "location", Location_X=28.19, Location_Y=112.97, Scale=15, Label="长沙市岳麓区某某小区"
    )
    assert "手机号" in await resident.say(location)
    summary = await resident.text("13800138000")
    assert "请确认您的诉求" in summary and "长沙市岳麓区某某小区" in summary
    assert "回复 1 确认提交，2 取消" in summary
    answer = await resident.text("1")
    assert "您的诉求已受理，编号 SQ" in answer
    (appeal,) = appeals(app.sessions)
    assert appeal.channel == "wechat" and appeal.address == "长沙市岳麓区某某小区"
    assert appeal.phone == "13800138000" and appeal.latitude == pytest.approx(28.19)
    assert count(app.sessions, Attachment) == 1
    media_calls = fake.sent("/cgi-bin/media/get")
    assert [call.params["media_id"] for call in media_calls] == ["MEDIA_1"]
    assert fake.token_requests == 1  # the token is cached


async def test_plain_mode_and_numbered_menu(make_channel: Factory) -> None:
    channel = make_channel(compat_mode=True)
    async with client_for(channel) as client:
        resident = WechatServer(client, safe=False)
        answer = await resident.text("你好")
        assert "回复 1 我要反映，2 查询进度，3 补充材料，4 撤回，5 帮助" in answer
        assert "请用文字描述" in await resident.text("1")
        assert t("cancelled") in await resident.text("取消")


async def test_a_retry_after_an_answer_gets_the_same_answer_and_no_second_turn(
    resident: WechatServer, app: App
) -> None:
    first = await resident.text(DESCRIPTION, msg_id=777)
    again = await resident.text(DESCRIPTION, msg_id=777)
    assert first and again == first
    assert count(app.sessions, ProcessedUpdate) == 1


async def test_voice_with_recognition_is_text_and_without_is_unsupported(
    make_channel: Factory, app: App
) -> None:
    dialog = RecordingDialog(app)
    channel = make_channel(Core(app, dialog))
    async with client_for(channel) as client:
        resident = WechatServer(client)
        voice = resident.message("voice", MediaId="V1", Format="amr", Recognition="路灯坏了很久了")
        await resident.say(voice)
        await resident.say(resident.message("voice", MediaId="V2", Format="amr"))
        link = resident.message("link", Title="路灯坏了", Description="d", Url="https://e.x/1")
        await resident.say(link)
        await resident.say(resident.message("video", MediaId="V3", ThumbMediaId="T"))
    kinds = [(i.kind, i.text) for i in dialog.seen]
    assert kinds == [
        (Kind.TEXT, "路灯坏了很久了"),
        (Kind.UNSUPPORTED, ""),
        (Kind.TEXT, "路灯坏了 https://e.x/1"),
        (Kind.UNSUPPORTED, ""),
    ]


# -- the five-second rule and duplicates --------------------------------------------------


async def _a_turn_too_slow_for_a_passive_answer(make_channel: Factory, app: App) -> WechatChannel:
    """ "你好" in a turn held past the reply deadline: answered `success`, then finished."""
    dialog = GatedDialog(app)
    channel = make_channel(Core(app, dialog), reply_deadline_seconds=0.05)
    async with client_for(channel) as client:
        resident = WechatServer(client)
        response = await resident.post(resident.message("text", Content="你好"))
        assert response.text == "success"
        dialog.release.set()
        await channel.idle()
    return channel


async def test_a_slow_turn_answers_success_then_sends_through_customer_service(
    make_channel: Factory, app: App, fake: FakeWechat
) -> None:
    await _a_turn_too_slow_for_a_passive_answer(make_channel, app)
    ((openid, content),) = fake.texts
    assert openid == OPENID and "回复 1 我要反映" in content


async def test_a_late_reply_wechat_refuses_is_sent_later_by_the_outbox(
    make_channel: Factory, app: App, fake: FakeWechat
) -> None:
    """Kept with the turn, a reply the customer-service API refused (WeChat busy) is not
    lost: the outbox sends it once WeChat takes it again."""
    fake.fail("/cgi-bin/message/custom/send", -1)
    channel = await _a_turn_too_slow_for_a_passive_answer(make_channel, app)
    assert fake.texts == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    with time_machine.travel(later, tick=False):
        sent = await asyncio.to_thread(drain, app.sessions, {CHANNEL: channel.outbox_sender()})
    assert sent == 1
    ((openid, content),) = fake.texts
    assert openid == OPENID and "回复 1 我要反映" in content


async def test_a_concurrent_duplicate_is_answered_once_and_files_one_appeal(
    make_channel: Factory, app: App, fake: FakeWechat
) -> None:
    quick = make_channel()
    gate = GatedDialog(app)
    gated = make_channel(Core(app, gate), path="/wechat")
    async with client_for(quick) as client:
        resident = WechatServer(client)
        await resident.text(DESCRIPTION)
        await resident.text("跳过")
        await resident.text("跳过")
        assert "请确认" in await resident.text("13800138000")
    confirm = resident.message("text", Content="1")
    async with client_for(gated) as client:
        resident.client = client
        first = asyncio.create_task(resident.post(confirm))
        assert await asyncio.to_thread(gate.entered.wait, 5)
        retry = await resident.post(confirm)
        assert retry.text == "success"
        gate.release.set()
        answer = resident.read(await first)
    assert "编号 SQ" in answer
    assert len(appeals(app.sessions)) == 1
    assert fake.texts == []


async def test_two_workers_receiving_the_same_message_file_one_appeal(
    make_channel: Factory, any_app: App
) -> None:
    one, two = make_channel(any_app), make_channel(any_app)
    async with client_for(one) as client:
        resident = WechatServer(client)
        for line in (DESCRIPTION, "跳过", "跳过", "13800138000"):
            await resident.text(line)
    confirm = resident.message("text", Content="1")
    async with client_for(one) as first, client_for(two) as second:
        a = WechatServer(first)
        b = WechatServer(second)
        answers = await asyncio.gather(a.post(confirm), b.post(confirm))
    texts = sorted(a.read(response) for response in answers)
    assert texts[0] == "" and "编号 SQ" in texts[1]
    assert len(appeals(any_app.sessions)) == 1


# -- events -------------------------------------------------------------------------------


async def test_subscribe_welcomes_and_unsubscribe_marks_unreachable(
    resident: WechatServer, app: App
) -> None:
    answer = await resident.say(resident.event("subscribe"))
    assert answer.startswith(t("wechat.subscribed"))
    assert "回复 1 我要反映" in answer
    await resident.say(resident.event("unsubscribe", create_time=int(time.time()) + 1))
    with app.sessions() as session:
        person = session.exec(select(Person).where(Person.external_id == OPENID)).one()
        assert person.channel == "wechat" and person.unreachable
    await resident.say(resident.event("subscribe", create_time=int(time.time()) + 2))
    with app.sessions() as session:
        person = session.exec(select(Person).where(Person.external_id == OPENID)).one()
        assert not person.unreachable


async def test_menu_clicks_and_grid_qr_codes(make_channel: Factory, app: App) -> None:
    dialog = RecordingDialog(app)
    channel = make_channel(Core(app, dialog))
    now = int(time.time())
    async with client_for(channel) as client:
        resident = WechatServer(client)
        answer = await resident.say(resident.event("CLICK", now, EventKey=MENU_MY))
        assert t("pick.timeline.none") in answer
        answer = await resident.say(resident.event("CLICK", now + 1, EventKey=MENU_NEW))
        assert "请用文字描述" in answer
        await resident.say(resident.event("CLICK", now + 2, EventKey=MENU_CONSULT))
        await resident.say(resident.event("CLICK", now + 3, EventKey="UNKNOWN"))
        await resident.say(resident.event("VIEW", now + 4, EventKey="https://e.x"))
        scan = resident.event("SCAN", now + 5, EventKey="grid_0042", Ticket="TICKET")
        await resident.say(scan)
        follow = resident.event("subscribe", now + 6, EventKey="qrscene_0077", Ticket="TICKET")
        assert (await resident.say(follow)).startswith(t("wechat.subscribed"))
    seen = [(i.kind, i.text, i.args) for i in dialog.seen]
    assert seen == [
        (Kind.COMMAND, "my", ""),
        (Kind.COMMAND, "new", ""),
        (Kind.COMMAND, "help", ""),
        (Kind.COMMAND, "start", "grid_0042"),
        (Kind.COMMAND, "start", "grid_0077"),
    ]
    assert {i.message_id for i in dialog.seen} == {f"{OPENID}:{now + n}" for n in (0, 1, 2, 5, 6)}


async def test_a_message_under_the_previous_aes_key_still_decrypts(
    make_channel: Factory,
) -> None:
    channel = make_channel(previous_aes_key=OLD_KEY)
    async with client_for(channel) as client:
        resident = WechatServer(client, key=OLD_KEY)
        assert "回复 1 我要反映" in await resident.text("你好")  # answered under the old key
        resident.key = KEY
        assert "请用文字描述" in await resident.text("1")


# -- notifications ------------------------------------------------------------------------


def notice() -> Outbound:
    return Outbound(
        t("notify.rate_request", number="SQ20250101-0001"),
        (
            Option("满意", "rate:SQ20250101-0001:good"),
            Option("不满意", "rate:SQ20250101-0001:bad"),
        ),
    )


async def test_notifications_inside_the_window_use_customer_service(
    make_channel: Factory, fake: FakeWechat
) -> None:
    channel = make_channel()
    channel.last_inbound.touch(OPENID)
    await asyncio.to_thread(channel.deliver, OPENID, notice())
    ((openid, content),) = fake.texts
    assert openid == OPENID and "回复 1 满意，2 不满意" in content
    assert fake.sent(TEMPLATE) == []


async def test_notifications_outside_the_window_use_the_template(
    make_channel: Factory, fake: FakeWechat
) -> None:
    channel = make_channel(template_id="TPL_1", template_url="https://e.x/case")
    channel.last_inbound.set(OPENID, time.time() - 49 * 3600)
    await asyncio.to_thread(channel.deliver, OPENID, notice())
    assert fake.sent(CUSTOM) == []
    (call,) = fake.sent(TEMPLATE)
    assert call.body is not None
    assert call.body["template_id"] == "TPL_1" and call.body["url"] == "https://e.x/case"
    data = call.body["data"]
    assert "SQ20250101-0001" in data["first"]["value"]
    assert data["remark"]["value"] == t("wechat.template_hint")
    # Unknown last message (a restart, another worker): WeChat's 45015 decides.
    fake.fail(CUSTOM, 45015)
    await asyncio.to_thread(channel.deliver, "oOTHER", notice())
    assert len(fake.sent(TEMPLATE)) == 2


def _queue_notice(app: App, appeal_id: int | None = None) -> None:
    with transaction(app.sessions) as session:
        session.add(
            Outbox(
                key="notice",
                channel="wechat",
                chat_id=OPENID,
                message="notify.signed",
                params={"number": "SQ20250101-0001", "department": "住建局"},
                appeal_id=appeal_id,
            )
        )


@pytest.mark.parametrize("code", [45015, 45047])
async def test_no_template_means_undeliverable_and_the_ledger_says_phone(
    make_channel: Factory, fake: FakeWechat, app: App, code: int
) -> None:
    channel = make_channel()
    fake.fail(CUSTOM, code)
    with pytest.raises(Undeliverable) as raised:
        await asyncio.to_thread(channel.deliver, OPENID, notice())
    assert not raised.value.unsubscribed
    _queue_notice(app, _an_appeal(app))
    fake.fail(CUSTOM, code)
    sender = {"wechat": channel.outbox_sender()}
    assert await asyncio.to_thread(drain, app.sessions, sender) == 0
    assert await asyncio.to_thread(drain, app.sessions, sender) == 0  # given up, not retried
    with app.sessions() as session:
        events = session.exec(select(AppealEvent).where(AppealEvent.action == "unreachable"))
        (event,) = events.all()
        assert event.note == t("outbox.undeliverable")
        row = session.exec(select(Outbox).where(Outbox.key == "notice")).one()
        assert row.sent_at is None and (row.error or "").startswith("Undeliverable")


async def test_an_unsubscribed_resident_is_marked_unreachable(
    make_channel: Factory, fake: FakeWechat, app: App
) -> None:
    channel = make_channel(template_id="TPL_1")
    _queue_notice(app, _an_appeal(app))
    fake.fail(CUSTOM, 43004)
    assert await asyncio.to_thread(drain, app.sessions, {"wechat": channel.outbox_sender()}) == 0
    with app.sessions() as session:
        person = session.exec(select(Person).where(Person.external_id == OPENID)).one()
        assert person.unreachable


async def test_the_outbox_drain_sends_through_the_channel(
    make_channel: Factory, fake: FakeWechat, app: App
) -> None:
    channel = make_channel()
    channel.last_inbound.touch(OPENID)
    _queue_notice(app)
    assert await asyncio.to_thread(drain, app.sessions, {"wechat": channel.outbox_sender()}) == 1
    ((_, content),) = fake.texts
    assert content == t("notify.signed", number="SQ20250101-0001", department="住建局")


def _an_appeal(app: App) -> int:
    """File one appeal for OPENID through the dialog; its id."""
    for line in (DESCRIPTION, "跳过", "跳过", "13800138000", "1"):
        app.dialog.handle(Inbound("wechat", OPENID, OPENID, Kind.TEXT, text=line))
    (appeal,) = appeals(app.sessions)
    assert appeal.id is not None
    return appeal.id


# -- the API client -----------------------------------------------------------------------


async def test_access_token_is_refreshed_once_on_40001(api: WechatApi, fake: FakeWechat) -> None:
    await asyncio.to_thread(api.send_text, OPENID, "一")
    fake.invalidate_tokens()
    await asyncio.to_thread(api.send_text, OPENID, "二")
    assert fake.token_requests == 2
    assert [content for _, content in fake.texts] == ["一", "二"]
    fake.fail(CUSTOM, 40001, 40001)  # still refused after the refresh: give up, once
    with pytest.raises(WechatApiError) as raised:
        await asyncio.to_thread(api.send_text, OPENID, "三")
    assert raised.value.code == 40001 and fake.token_requests == 3


async def test_errors_never_show_the_token_or_secret(fake: FakeWechat) -> None:
    client = WechatApi(appid=APPID, secret=SECRET, base_url="http://127.0.0.1:9")  # closed
    with pytest.raises(WechatApiError) as raised:
        await asyncio.to_thread(client.send_text, OPENID, "x")
    client.close()
    assert SECRET not in str(raised.value) and raised.value.__suppress_context__


async def test_create_menu_posts_the_three_buttons(api: WechatApi, fake: FakeWechat) -> None:
    posted = await asyncio.to_thread(create_menu, api)
    (call,) = fake.sent("/cgi-bin/menu/create")
    assert call.body == posted
    names = [(b["name"], b["key"]) for b in posted["button"]]
    assert names == [("我要反映", MENU_NEW), ("查询进度", MENU_MY), ("咨询", MENU_CONSULT)]


# -- rendering ----------------------------------------------------------------------------


def test_long_options_are_listed_one_per_line() -> None:
    reply = Outbound("您的诉求：", (Option("SQ20250101-0001 办理中", "case:1"),))
    assert render(reply) == "您的诉求：\n1. SQ20250101-0001 办理中\n" + t(
        "wechat.reply_with_number"
    )


def test_long_turns_are_not_answered_passively_and_are_split() -> None:
    long = Outbound("很长的一段话。\n" * 300)
    assert passive_text([long]) is None
    parts = chunks(render(long))
    assert len(parts) > 1 and all(len(p.encode()) <= 2000 for p in parts)
    assert "".join(p + "\n" for p in parts) == render(long)
    assert passive_text([Outbound("一"), Outbound("二")]) == "一\n\n二"


async def test_every_worker_knows_when_a_resident_last_wrote(
    make_channel: Factory, fake: FakeWechat
) -> None:
    """The 48-hour window is kept in the database: a worker that last saw the resident two
    days ago still sends a customer-service message when another worker heard from them an
    hour ago (a window it only knew of in its own memory would call for a phone call)."""
    first, second = make_channel(), make_channel()
    now = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
    for channel, before in ((first, dt.timedelta(hours=49)), (second, dt.timedelta(hours=1))):
        with time_machine.travel(now - before, tick=False):
            async with client_for(channel) as client:
                await WechatServer(client).text("你好")
            await channel.idle()
    with time_machine.travel(now, tick=False):
        await asyncio.to_thread(first.deliver, OPENID, notice())
    assert fake.texts[-1] == (OPENID, render(notice()))
    assert fake.sent(TEMPLATE) == []


async def test_a_wechat_only_department_gets_its_card_by_template_after_48_hours(
    make_channel: Factory, fake: FakeWechat, app: App
) -> None:
    """No department has a group on WeChat: the card goes to each of its staff, here by the
    template message, since the staff member last wrote more than 48 hours ago."""
    channel = make_channel(template_id="TPL_1")
    with transaction(app.sessions) as session:
        wang = Person(channel=CHANNEL, external_id="oStaffWang", chat_id="oStaffWang")
        wang.role, wang.department_id = "staff", bound(session, "住建局").id
        session.add(wang)
    channel.last_inbound.set("oStaffWang", time.time() - 49 * 3600)
    number = file_referral(app, Resident(app.dialog))
    assert await asyncio.to_thread(drain, app.sessions, {"wechat": channel.outbox_sender()}) == 1
    (call,) = fake.sent(TEMPLATE)
    assert call.body is not None and call.body["touser"] == "oStaffWang"
    assert number in call.body["data"]["first"]["value"]
    assert fake.sent(CUSTOM) == []


async def test_workers_share_the_token_through_the_database(
    fake: FakeWechat, any_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    install_redaction(SECRET)  # as `appealbot run` does with every credential
    shared = DatabaseTokenStore(any_app.sessions)
    one = WechatApi(appid=APPID, secret=SECRET, base_url=fake.base_url, store=shared)
    two = WechatApi(appid=APPID, secret=SECRET, base_url=fake.base_url, store=shared)
    try:
        await asyncio.to_thread(one.send_text, OPENID, "一")
        await asyncio.to_thread(two.send_text, OPENID, "二")
        fake.invalidate_tokens()
        await asyncio.to_thread(two.send_text, OPENID, "三")
        await asyncio.to_thread(one.send_text, OPENID, "四")
    finally:
        one.close()
        two.close()
    assert fake.token_requests == 2  # one fetch, one refresh, shared by both
    assert len(fake.texts) == 4
    logged = caplog.text
    assert "TOKEN" not in logged and SECRET not in logged


def test_the_stored_token_expires(any_app: App) -> None:
    now = [1_000_000.0]
    store = DatabaseTokenStore(any_app.sessions, clock=lambda: now[0])
    store.set("k", "first", ttl=60)
    store.set("k", "second", ttl=60)
    assert store.get("k") == "second"
    now[0] += 61
    assert store.get("k") is None and store.get("other") is None


# -- a danger to life ---------------------------------------------------------------------


async def test_a_fire_gets_advice_and_is_filed_and_alerted_in_the_first_message(
    make_channel: Factory, app: App, fake: FakeWechat
) -> None:
    """The emergency path through signed, encrypted callbacks, on a working day: the safety
    advice before the case number in the passive reply, no other step first, the roster and
    the duty leader alerted at once, and a location sent afterwards goes to the case."""
    app.settings.duty.rotation = [["李值班"]]
    app.settings.duty.leaders = ["赵领导"]
    duty = {"oLeaderZhao": ("leader", "赵领导"), "oDutyLi": ("dispatcher", "李值班")}
    duty["oLeaderQian"] = ("leader", "钱领导")  # a leader not on duty
    with transaction(app.sessions) as session:
        for openid, (role, name) in duty.items():
            session.add(
                Person(channel="wechat", external_id=openid, chat_id=openid, role=role, name=name)
            )
    channel = make_channel()
    wednesday = dt.datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with time_machine.travel(wednesday, tick=False):
        async with client_for(channel) as client:
            resident = WechatServer(client)
            answer = await resident.text("家里着火了，浓烟很大")
            await channel.idle()
            assert fake.texts == []  # all of it in the passive reply
            advice, filed = answer.split("\n\n", 1)
            assert advice == t("emergency.fire") and "119" in advice
            assert "编号 SQ" in filed and t("wechat.location_hint") in filed
            assert "照片" not in advice and "手机号" not in answer
            (appeal,) = appeals(app.sessions)
            assert appeal.number in filed
            assert (appeal.urgency, appeal.disposition) == ("life", "immediate")
            assert appeal.channel == "wechat" and appeal.latitude is None

            with app.sessions() as session:
                rows = session.exec(
                    select(Outbox).where(Outbox.appeal_id == appeal.id).order_by(col(Outbox.id))
                ).all()
                alerted = {row.chat_id for row in rows if row.message == "card.department"}
            assert alerted == {"oLeaderZhao", "oDutyLi"}  # not every leader: the one on duty
            for openid in duty:
                channel.last_inbound.touch(openid)
            sender = {"wechat": channel.outbox_sender()}
            assert await asyncio.to_thread(drain, app.sessions, sender) >= 2
            cards = dict(fake.texts)
            assert "危及生命" in cards["oLeaderZhao"] and appeal.number in cards["oLeaderZhao"]
            assert "危及生命" in cards["oDutyLi"]
            assert "oLeaderQian" not in cards

            location = resident.message(
                "location", Location_X=28.19, Location_Y=112.97, Scale=15, Label="幸福小区3栋"
            )
            answer = await resident.say(location)
    assert "已补充到诉求" in answer and appeal.number in answer
    (appeal,) = appeals(app.sessions)
    assert appeal.latitude == pytest.approx(28.19)
    assert appeal.longitude == pytest.approx(112.97)
