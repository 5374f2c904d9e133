"""The WeChat official-account channel: WeChat's callback in, `Outbound` replies out.

Shaped after wechatpy's examples/echo-encrypted/app.py: check the signature → decrypt (safe
mode) → `parse_message` → reply → encrypt. The adapter holds no business rule: it turns a
message or event into an `Inbound`, runs the synchronous dialog in a worker thread and renders
the replies as text, options as numbered lines ("回复 1 确认提交，2 取消").

The five-second rule: WeChat waits 5 s for an answer and then retries (three times, same
MsgId). A turn that finishes within `reply_deadline_seconds` is answered passively in the HTTP
response, its replies joined into one text when they fit; otherwise the response is `success`
and the replies go out through the customer-service API as soon as the turn ends. One
resident's turns run one after another (a lane per openid), so their answers keep their order.
A retry that arrives while its first delivery is still being handled is answered `success`
(the first one answers); across workers the dialog's processed_update rows stop a second
appeal. Every key is the sender's openid with the MsgId (or CreateTime): a MsgId sent by
someone else never reaches another resident's answer.

A turn's replies are kept in the outbox with the turn (storage.replies) and marked sent once
the passive answer has gone out or the customer-service API took them; what could not be
sent the outbox sends later.

Forged and replayed callbacks: with an EncodingAESKey configured only safe mode is accepted
(`compat_mode` also takes plain callbacks, for a migration), since plain mode signs only the
timestamp and nonce, not the body. A (timestamp, nonce) seen with another body within the
freshness window is refused; WeChat's own retries repeat the body and are answered.

Notifications (the outbox) go through the customer-service API within 48 h of the resident's
last message, later through a configured template message; when neither is possible the
sender raises `scheduler.outbox.Undeliverable` and the outbox notes in the ledger that the
resident must be phoned.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from xml.etree import ElementTree
from xml.parsers.expat import ExpatError
from zoneinfo import ZoneInfo

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import events, messages
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.parser import parse_message
from wechatpy.replies import TextReply

from bot import metrics
from bot.channels.core import Core
from bot.channels.toolkit import Lanes, split_text
from bot.channels.wechat_api import CHANNEL as CHANNEL
from bot.channels.wechat_api import (
    OUT_OF_WINDOW,
    TOO_MANY,
    UNSUBSCRIBED,
    TokenStore,
    WechatApi,
    WechatApiError,
)
from bot.settings import GRID_CODE, ConfigError, Secrets, WechatSettings
from messages.catalog import t
from messages.types import Inbound, Kind, Outbound, Undeliverable
from scheduler import outbox
from storage.db import transaction
from storage.seen import LastInboundStore
from storage.tokens import DatabaseTokenStore
from workflow import service

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # bytes of a callback request; WeChat's are a few hundred
TEXT_MAX_BYTES = 2000  # one text message (passive or customer-service), UTF-8
WINDOW = 48 * 3600  # seconds: the customer-service window after the resident's last message
RECENT_SECONDS = 60.0  # how long a passive answer is kept to answer a retry with again
INLINE_OPTIONS_MAX = 5  # more options, or long labels, are listed one per line
INLINE_LABEL_MAX = 8

# Keys of the official-account menu's CLICK buttons, and the dialog command each stands for.
MENU_NEW = "NEW"
MENU_MY = "MY"
MENU_CONSULT = "CONSULT"
CLICK_COMMANDS = {MENU_NEW: "new", MENU_MY: "my", MENU_CONSULT: "help"}

SUCCESS = "success"
# What parsing a malformed callback raises (from expat, ElementTree, wechatpy or our checks).
MALFORMED = (
    ExpatError,
    ElementTree.ParseError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
)


# -- signatures, decryption, parsing ------------------------------------------------------


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 over the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 (protocol)


def signature_ok(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def _aes_key(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 32:
        raise ConfigError("WECHAT_ENCODING_AES_KEY must be the 43-character EncodingAESKey")
    return key


@dataclass(frozen=True)
class Incoming:
    """One callback, understood: who sent it and what the adapter should do with it."""

    openid: str
    account: str  # our official account's id (ToUserName), the sender of replies
    key: str  # deduplication key: openid:MsgId, or openid:CreateTime for events
    inbound: Inbound | None  # what goes to the dialog; None: nothing
    media_id: str | None = None  # an image to download before the dialog sees it
    subscribe: bool = False
    unsubscribe: bool = False


def _grid_args(scene: str) -> str:
    code = scene.strip().removeprefix("grid_")
    return f"grid_{code}" if GRID_CODE.fullmatch(code) else ""


def understand(message: Any) -> Incoming:
    """The `Incoming` for a parsed wechatpy message or event (ValueError if unusable)."""
    openid = message.source
    account = message.target
    if not isinstance(openid, str) or not openid or len(openid) > 100:
        raise ValueError("FromUserName is missing")
    if not isinstance(account, str):
        raise ValueError("ToUserName is missing")
    is_event = isinstance(message, events.BaseEvent) or message._data.get("MsgType") == "event"
    msg_id = int(message.id or 0)
    key = f"{openid}:{int(message.time or 0) if is_event or not msg_id else msg_id}"
    message_id = key

    def inbound(kind: Kind, **fields: Any) -> Inbound:
        return Inbound(CHANNEL, openid, openid, kind, message_id=message_id, **fields)

    def incoming(item: Inbound | None, **flags: Any) -> Incoming:
        return Incoming(openid, account, key, item, **flags)

    if isinstance(message, messages.TextMessage):
        return incoming(inbound(Kind.TEXT, text=str(message.content or "")))
    if isinstance(message, messages.ImageMessage):
        media_id = str(message.media_id or "")
        if not media_id:
            raise ValueError("MediaId is missing")
        return incoming(inbound(Kind.PHOTO), media_id=media_id)
    if isinstance(message, messages.LocationMessage):
        latitude, longitude = float(message.location_x), float(message.location_y)
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ValueError("location out of range")
        label = str(message.label or "").strip() or None
        return incoming(
            inbound(Kind.LOCATION, latitude=latitude, longitude=longitude, address=label)
        )
    if isinstance(message, messages.VoiceMessage):
        recognised = str(message.recognition or "").strip()
        if recognised:
            return incoming(inbound(Kind.TEXT, text=recognised))
        return incoming(inbound(Kind.UNSUPPORTED))
    if isinstance(message, messages.LinkMessage):
        text = " ".join(part for part in (message.title, message.url) if part)
        return incoming(inbound(Kind.TEXT, text=text) if text else inbound(Kind.UNSUPPORTED))
    if isinstance(message, events.SubscribeScanEvent):
        args = _grid_args(str(message.scene_id or ""))
        return incoming(inbound(Kind.COMMAND, text="start", args=args), subscribe=True)
    if isinstance(message, events.SubscribeEvent):
        return incoming(inbound(Kind.COMMAND, text="start"), subscribe=True)
    if isinstance(message, events.ScanEvent):
        args = _grid_args(str(message.scene_id or ""))
        return incoming(inbound(Kind.COMMAND, text="start", args=args))
    if isinstance(message, events.UnsubscribeEvent):
        return incoming(None, unsubscribe=True)
    if isinstance(message, events.ClickEvent):
        command = CLICK_COMMANDS.get(str(message.key or ""))
        return incoming(None if command is None else inbound(Kind.COMMAND, text=command))
    if is_event:
        return incoming(None)  # VIEW, LOCATION reports, TEMPLATESENDJOBFINISH, ...
    return incoming(inbound(Kind.UNSUPPORTED))  # video, short video, file, mini program


# -- rendering ----------------------------------------------------------------------------


def render(reply: Outbound) -> str:
    """One reply as text: options numbered, a location request with a hint."""
    lines = [reply.text]
    if reply.request_location:
        lines.append(t("wechat.location_hint"))
    options = reply.options
    if options:
        inline = len(options) <= INLINE_OPTIONS_MAX and all(
            len(o.label) <= INLINE_LABEL_MAX for o in options
        )
        if inline:
            choices = t("wechat.choice_separator").join(
                t("wechat.choice", index=i, label=o.label) for i, o in enumerate(options, 1)
            )
            lines.append(t("wechat.reply_with", choices=choices))
        else:
            lines.extend(
                t("wechat.choice_line", index=i, label=o.label) for i, o in enumerate(options, 1)
            )
            lines.append(t("wechat.reply_with_number"))
    return "\n".join(lines)


def _size(text: str) -> int:
    return len(text.encode())


def passive_text(replies: list[Outbound]) -> str | None:
    """The replies of a turn as one passive text, or None if that would be too long."""
    text = "\n\n".join(render(reply) for reply in replies)
    return text if _size(text) <= TEXT_MAX_BYTES else None


def chunks(text: str) -> list[str]:
    """A text as messages WeChat takes (at most TEXT_MAX_BYTES of UTF-8 each)."""
    return split_text(text, TEXT_MAX_BYTES, _size)


# -- the official-account menu ------------------------------------------------------------


def menu_definition() -> dict[str, Any]:
    buttons = [
        (t("menu.new"), MENU_NEW),
        (t("menu.my"), MENU_MY),
        (t("wechat.menu.consult"), MENU_CONSULT),
    ]
    return {"button": [{"type": "click", "name": name, "key": key} for name, key in buttons]}


def create_menu(api: WechatApi) -> dict[str, Any]:
    """Post the official-account menu (我要反映 / 查询进度 / 咨询); returns what was posted."""
    menu = menu_definition()
    api.create_menu(menu)
    return menu


def build_api(settings: WechatSettings, secrets: Secrets, *, store: TokenStore) -> WechatApi:
    if not secrets.wechat_appid or not secrets.wechat_appsecret:
        raise ConfigError("WeChat needs WECHAT_APPID and WECHAT_APPSECRET")
    return WechatApi(
        appid=secrets.wechat_appid,
        secret=secrets.wechat_appsecret,
        base_url=settings.api_base_url,
        store=store,
    )


# -- the channel --------------------------------------------------------------------------


@dataclass
class _Pending:
    late: bool = False  # the HTTP answer has gone out: send the replies through the API


class WechatChannel:
    def __init__(
        self,
        core: Core,
        settings: WechatSettings,
        secrets: Secrets,
        *,
        api: WechatApi | None = None,
        previous_aes_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secrets.wechat_token:
            raise ConfigError("WeChat needs WECHAT_TOKEN")
        self.core = core
        self.settings = settings
        self._token = secrets.wechat_token
        self.appid = secrets.wechat_appid or ""
        previous = previous_aes_key or secrets.wechat_encoding_aes_key_previous
        self._keys: list[tuple[str, bytes]] = []
        for key in (secrets.wechat_encoding_aes_key, previous):
            if key:
                self._keys.append((key, _aes_key(key)))
        if self._keys and not self.appid:
            raise ConfigError("WeChat safe mode needs WECHAT_APPID")
        self._own_api = api is None
        self.api = api or build_api(settings, secrets, store=DatabaseTokenStore(core.sessions))
        # When each resident last wrote, in the database: any worker may send the notice.
        self.last_inbound = LastInboundStore(core.sessions, CHANNEL, clock)
        self.clock = clock
        self._inflight: dict[str, _Pending] = {}
        self._recent: OrderedDict[str, tuple[float, str]] = OrderedDict()
        # (timestamp, nonce) of signed callbacks → (forget after, SHA-256 of the body)
        self._nonces: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self.lanes = Lanes()
        self._tasks: set[asyncio.Task[Any]] = set()

    def routes(self) -> list[Route]:
        return [Route(self.settings.path, self.endpoint, methods=["GET", "POST"])]

    async def aclose(self) -> None:
        """Wait for turns still running (their replies go out), then close the client."""
        await self.idle()
        if self._own_api:
            self.api.close()

    async def idle(self) -> None:
        """Wait until no turn is running (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- HTTP -----------------------------------------------------------------------------

    async def endpoint(self, request: Request) -> Response:
        started = time.monotonic()
        params = request.query_params
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not self._fresh(timestamp) or not signature_ok(
            sign(self._token, timestamp, nonce), params.get("signature", "")
        ):
            return Response(status_code=403)
        if request.method == "GET":
            return PlainTextResponse(params.get("echostr", ""))
        return await self._post(request, started, timestamp, nonce)

    def _fresh(self, timestamp: str) -> bool:
        if not timestamp.isdigit():
            return False
        skew = self.settings.max_clock_skew_seconds
        return skew == 0 or abs(self.clock() - int(timestamp)) <= skew

    async def _post(
        self, request: Request, started: float, timestamp: str, nonce: str
    ) -> Response:
        body = await _read_limited(request, MAX_BODY)
        if body is None:
            return Response(status_code=400)
        params = request.query_params
        safe = params.get("encrypt_type", "raw").lower() == "aes"
        if not safe and self._keys and not self.settings.compat_mode:
            log.warning("plain-mode WeChat callback refused: safe mode is configured")
            return Response(status_code=403)
        if not self._first_use(timestamp, nonce, body):
            log.warning("WeChat callback refused: its signature was used for another body")
            return Response(status_code=403)
        key: str | None = None
        try:
            if safe:
                outer = ElementTree.fromstring(body)  # noqa: S314 (64 KB, no DTD use)
                encrypted = outer.findtext("Encrypt")
                if outer.tag != "xml" or not encrypted:
                    raise ValueError("Encrypt is missing")
                expected = sign(self._token, timestamp, nonce, encrypted)
                if not signature_ok(expected, params.get("msg_signature", "")):
                    return Response(status_code=403)
                xml, key = self._decrypt(encrypted)
            else:
                xml = body.decode("utf-8")
            incoming = understand(parse_message(xml))
        except MALFORMED:
            log.info("malformed WeChat callback refused")
            return Response(status_code=400)
        return await self._answer(incoming, key, nonce, started)

    def _first_use(self, timestamp: str, nonce: str, body: bytes) -> bool:
        """False if this (timestamp, nonce) came before with another body (a replay of a
        signed URL); the same body again is WeChat retrying, and welcome."""
        now = self.clock()
        _forget_expired(self._nonces, now, 100_000)
        digest = hashlib.sha256(body).hexdigest()
        seen = self._nonces.get((timestamp, nonce))
        if seen is not None:
            return seen[1] == digest
        window = 2 * (self.settings.max_clock_skew_seconds or 600)
        self._nonces[(timestamp, nonce)] = (now + window, digest)
        return True

    def _decrypt(self, encrypted: str) -> tuple[str, str]:
        """The inner XML and the key that opened it (the current one, else the previous)."""
        for key, raw in self._keys:
            try:
                return str(PrpCrypto(raw).decrypt(encrypted, self.appid)), key
            except (InvalidAppIdException, ValueError, struct.error, IndexError, TypeError):
                continue
        if not self._keys:
            raise ValueError("an encrypted callback, but no EncodingAESKey is configured")
        raise ValueError("cannot decrypt the callback with any configured EncodingAESKey")

    def _reply(
        self,
        incoming: Incoming,
        text: str,
        key: str | None,
        nonce: str,
        background: BackgroundTask | None = None,
    ) -> Response:
        xml = TextReply(source=incoming.account, target=incoming.openid, content=text).render()
        if key is not None:
            crypto = WeChatCrypto(self._token, key, self.appid)
            xml = crypto.encrypt_message(xml, nonce, str(int(self.clock())))
        return Response(xml, media_type="application/xml", background=background)

    async def _answer(
        self, incoming: Incoming, key: str | None, nonce: str, started: float
    ) -> Response:
        if incoming.key in self._inflight:
            return PlainTextResponse(SUCCESS)  # a retry while the first is being handled
        _forget_expired(self._recent, time.monotonic(), 10_000)
        recent = self._recent.get(incoming.key)
        if recent is not None:  # a retry after we answered: WeChat did not get that answer
            return self._reply(incoming, recent[1], key, nonce)
        pending = _Pending()
        self._inflight[incoming.key] = pending
        task = asyncio.create_task(self._work(incoming, pending))
        self._tasks.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            self._inflight.pop(incoming.key, None)

        task.add_done_callback(finished)
        left = self.settings.reply_deadline_seconds - (time.monotonic() - started)
        await asyncio.wait({task}, timeout=max(0.0, left))
        if not task.done():
            pending.late = True
            return PlainTextResponse(SUCCESS)
        answer = task.result()
        if answer is None:
            return PlainTextResponse(SUCCESS)
        text, replies = answer
        self._recent[incoming.key] = (time.monotonic() + RECENT_SECONDS, text)
        # Marked sent once the answer is out (if this process dies first, the outbox sends
        # them through the customer-service API instead).
        settle = BackgroundTask(asyncio.to_thread, self._settle, replies, len(replies), None)
        return self._reply(incoming, text, key, nonce, settle)

    async def _work(
        self, incoming: Incoming, pending: _Pending
    ) -> tuple[str, list[Outbound]] | None:
        """Run the turn in the resident's lane; the passive text and the replies it carries,
        or None if the replies were sent through the API (too late or too long) or there is
        nothing to say."""
        async with self.lanes.hold(incoming.openid):
            try:
                replies = await asyncio.to_thread(self._run, incoming)
            except Exception:
                log.exception("WeChat turn of %s failed", incoming.openid)
                replies = [Outbound(t("error.sorry"))]
            if not replies:
                return None
            text = passive_text(replies)
            if text is None or pending.late:
                await asyncio.to_thread(self._send_replies, incoming.openid, replies)
                return None
            return text, replies

    def _run(self, incoming: Incoming) -> list[Outbound]:
        """The synchronous part of a turn (a worker thread): media, dialog, subscriptions."""
        if incoming.unsubscribe:
            with transaction(self.core.sessions) as session:
                marked = service.set_reachable(
                    session, channel=CHANNEL, chat_id=incoming.openid, reachable=False
                )
            log.info(
                "%s unsubscribed (%d person rows marked unreachable)", incoming.openid, marked
            )
            return []
        self.last_inbound.touch(incoming.openid)  # opens the 48-hour window
        inbound = incoming.inbound
        if inbound is None:
            return []
        if incoming.media_id is not None:
            limit = self.core.settings.limits.photo_max_bytes
            data = self.api.download_media(incoming.media_id, max_bytes=limit)
            inbound = replace(inbound, data=data)
        with metrics.turn(CHANNEL):
            replies = self.core.dialog.handle(inbound)
        if incoming.subscribe:
            with transaction(self.core.sessions) as session:
                service.set_reachable(
                    session, channel=CHANNEL, chat_id=incoming.openid, reachable=True
                )
            if replies:
                replies = [Outbound(t("wechat.subscribed")), *replies]
        return replies

    def _send_replies(self, openid: str, replies: list[Outbound]) -> None:
        """Through the customer-service API; what WeChat refuses is left to the outbox."""
        for position, reply in enumerate(replies):
            try:
                for text in chunks(render(reply)):
                    self.api.send_text(openid, text)
            except WechatApiError as error:
                log.warning("customer-service message to %s failed: %s", openid, error)
                self._settle(replies, position, error)
                return
        self._settle(replies, len(replies), None)

    def _settle(self, replies: list[Outbound], sent: int, error: Exception | None) -> None:
        """The first `sent` replies went out; the others (after `error`) are the outbox's."""
        done = [reply.key for reply in replies[:sent] if reply.key]
        failed = [reply.key for reply in replies[sent:] if reply.key]
        if done or failed:
            with transaction(self.core.sessions) as session:
                outbox.settle(session, done, failed, error)

    # -- notifications (the outbox) -------------------------------------------------------

    def outbox_sender(self) -> Callable[[str, Outbound], None]:
        """The synchronous sender for `scheduler.outbox.drain` (channel "wechat")."""
        return self.deliver

    def deliver(self, openid: str, reply: Outbound) -> None:
        """Customer-service message within 48 h of the resident's last message, else the
        template message; `Undeliverable` when neither can go (the resident must be phoned).
        Other errors (network, WeChat busy) propagate so that the outbox retries later."""
        last = self.last_inbound.get(openid)
        reason = "48-hour window closed"
        # Unknown (no message kept since this table came): WeChat decides, 45015 if closed.
        if last is None or self.clock() - last < WINDOW:
            try:
                for text in chunks(render(reply)):
                    self.api.send_text(openid, text)
                return
            except WechatApiError as error:
                if error.code == UNSUBSCRIBED:
                    raise Undeliverable(openid, "unsubscribed", unsubscribed=True) from error
                if error.code not in (OUT_OF_WINDOW, TOO_MANY):
                    raise
                reason = f"customer-service message refused ({error.code})"
        template_id = self.settings.template_id
        if not template_id:
            raise Undeliverable(openid, f"{reason}, no template message configured")
        try:
            self.api.send_template(
                openid, template_id, self._template_data(reply), self.settings.template_url
            )
        except WechatApiError as error:
            if error.code == UNSUBSCRIBED:
                raise Undeliverable(openid, "unsubscribed", unsubscribed=True) from error
            if error.code == TOO_MANY or error.code >= 40000:
                raise Undeliverable(openid, f"template message refused ({error.code})") from error
            raise

    def _template_data(self, reply: Outbound) -> dict[str, str]:
        zone = ZoneInfo(self.core.settings.center.timezone)
        now = dt.datetime.fromtimestamp(self.clock(), tz=zone).strftime("%Y-%m-%d %H:%M")
        values = {"text": render(reply)[:200], "time": now, "hint": t("wechat.template_hint")}
        return {
            name: spec.format(**values) for name, spec in self.settings.template_fields.items()
        }


def _forget_expired(entries: OrderedDict[Any, tuple[float, str]], now: float, most: int) -> None:
    """Drop the oldest entries (value: forget after, …) that are due, and any beyond `most`."""
    while entries:
        until, _ = next(iter(entries.values()))
        if until > now and len(entries) < most:
            return
        entries.popitem(last=False)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None if it is larger than `limit` bytes."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        return None
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            return None
    return bytes(received)


def wechat_routes(
    app: Core,
    settings: WechatSettings,
    secrets: Secrets,
    *,
    api: WechatApi | None = None,
) -> tuple[WechatChannel, list[Route]]:
    """The channel and its route (`/wechat`, GET and POST) to mount on the ASGI app."""
    channel = WechatChannel(app, settings, secrets, api=api)
    return channel, channel.routes()
