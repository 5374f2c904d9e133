"""A fake Telegram Bot API server for tests and benchmarks; nothing here reaches Telegram.

It serves getUpdates from a queue (long polling), answers the methods the bot calls, records
every request, serves files for download, and can be told to fail: 429 with retry_after, 403
for a blocked chat, 500 for the next N calls of a method.

In tests it runs in a thread (`FakeBotApi().start()`); for benchmarks it runs as its own
process (`python -m tests.fakebotapi --port 8081`) and drives simulated residents itself
(`POST /_ctl/bench`), so the bot's process carries nothing but the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.threaded_server import ThreadedServer

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "诉求助手", "username": "appeal_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


def _decode(value: str) -> Any:
    if value[:1] in "{[":
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """The fields of a multipart form; an uploaded file's value is its bytes."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    form = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in form.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = bytes(part.get_payload(decode=True))
        fields[str(name)] = data if part.get_filename() else _decode(data.decode())
    return fields


def _error(code: int, description: str, **parameters: Any) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


class FakeBotApi:
    def __init__(self, token: str = TOKEN, *, max_poll_wait: float = 60.0) -> None:
        self.token = token
        self.max_poll_wait = max_poll_wait  # short in tests, so a stopping bot is not held up
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        self._pending: deque[dict[str, Any]] = deque()
        self._arrived: asyncio.Event | None = None
        self._message_ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self.flood: dict[str, list[float]] = {}  # method -> retry_after of each 429 to give
        self.blocked: set[str] = set()
        self.failures: dict[str, int] = {}  # method -> 500s still to give
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self._watchers: dict[str, list[asyncio.Future[None]]] = {}  # bench: chat -> waiters
        self._last_message: dict[str, dict[str, Any]] = {}  # bench: chat -> last message sent
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
                Route("/_ctl/updates", self._ctl_updates, methods=["POST"]),
                Route("/_ctl/file/{file_id}", self._ctl_file, methods=["PUT"]),
                Route("/_ctl/bench", self._ctl_bench, methods=["POST"]),
                Route("/_ctl/reset", self._ctl_reset, methods=["POST"]),
            ]
        )
        self._server = ThreadedServer(self.app, "fakebotapi")

    # -- running --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def start(self) -> FakeBotApi:
        """Serve on a free port of 127.0.0.1 from a background thread."""
        self.port = self._server.start(self._attach)
        return self

    def stop(self) -> None:
        self._server.stop()

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the event loop that serves the app (updates are queued on it)."""
        self.loop = loop
        self._arrived = asyncio.Event()

    # -- what tests do --------------------------------------------------------------------

    def push(self, *updates: dict[str, Any]) -> None:
        """Queue updates for getUpdates (thread-safe)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._push, list(updates))

    def _push(self, updates: list[dict[str, Any]]) -> None:
        self._pending.extend(updates)
        if self._arrived is not None:
            self._arrived.set()

    def requests(self, method: str | None = None) -> list[Call]:
        return [c for c in list(self.calls) if method is None or c.method == method]

    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """The params of every sendMessage that succeeded, optionally to one chat."""
        return [
            c.params
            for c in self.requests("sendMessage")
            if c.params.get("_ok")
            and (chat_id is None or str(c.params["chat_id"]) == str(chat_id))
        ]

    def texts(self, chat_id: int | str) -> list[str]:
        return [str(p["text"]) for p in self.sent(chat_id)]

    async def wait_sent(self, chat_id: int | str, count: int, within: float = 10.0) -> list[str]:
        """Wait until `count` messages went to the chat; returns all texts sent to it."""
        deadline = time.monotonic() + within
        while len(self.sent(chat_id)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} messages to {chat_id}, got {self.texts(chat_id)}"
                )
            await asyncio.sleep(0.005)
        return self.texts(chat_id)

    async def wait_for(self, predicate: Any, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.005)

    def next_update_id(self) -> int:
        return next(self._update_ids)

    # -- the Bot API ----------------------------------------------------------------------

    async def _params(self, request: Request) -> dict[str, Any]:
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            data = json.loads(body or b"{}")
            return dict(data)
        if content_type.startswith("multipart/form-data"):
            return _multipart(content_type, body)
        return {k: _decode(v) for k, v in parse_qsl(body.decode())}

    async def _api(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        params = await self._params(request)
        call = Call(method, params)
        self.calls.append(call)
        chat_id = str(params.get("chat_id", ""))
        if self.flood.get(method):
            return _error(429, "Too Many Requests", retry_after=self.flood[method].pop(0))
        if self.failures.get(method):
            self.failures[method] -= 1
            return _error(500, "Internal Server Error")
        if chat_id and chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        result = await handler(params)
        params["_ok"] = True
        return JSONResponse({"ok": True, "result": result})

    async def _m_getMe(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return BOT_USER

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:  # noqa: N802
        # As Telegram does: updates stay until confirmed by a higher offset.
        assert self._arrived is not None
        timeout = min(self.max_poll_wait, float(params.get("timeout", 0) or 0))
        limit = int(params.get("limit", 100) or 100)
        offset = int(params.get("offset", 0) or 0)
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()
        if not self._pending and timeout > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
        return list(itertools.islice(self._pending, limit))

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": int(params.get("message_id") or next(self._message_ids)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": BOT_USER,
            **extra,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        return message

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:  # noqa: N802
        message = self._message(params, text=str(params.get("text", "")))
        params["_message"] = message
        self._notify(str(params["chat_id"]), message)
        return message

    async def _m_sendPhoto(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return self._message(params, photo=[])

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return self._message(params, text="")

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return self._message(params, text=str(params.get("text", "")))

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:  # noqa: N802
        return True

    async def _m_getFile(self, params: dict[str, Any]) -> Any:  # noqa: N802
        file_id = str(params["file_id"])
        data = self.files.get(file_id, b"")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(data),
            "file_path": f"photos/{file_id}.jpg",
        }

    async def _file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return Response(status_code=401)
        path = request.path_params["path"]
        self.calls.append(Call("download", {"path": path}))
        file_id = path.removeprefix("photos/").removesuffix(".jpg")
        if file_id not in self.files:
            return Response(status_code=404)
        return Response(self.files[file_id], media_type="application/octet-stream")

    # -- control (for a fake running in its own process) ----------------------------------

    async def _ctl_updates(self, request: Request) -> Response:
        self._push(list(await request.json()))
        return Response()

    async def _ctl_file(self, request: Request) -> Response:
        self.files[request.path_params["file_id"]] = await request.body()
        return Response()

    async def _ctl_reset(self, request: Request) -> Response:
        self.calls.clear()
        self._pending.clear()
        return Response()

    def _notify(self, chat_id: str, message: dict[str, Any]) -> None:
        self._last_message[chat_id] = message
        waiters = self._watchers.get(chat_id)
        if waiters:
            waiter = waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)

    async def _ctl_bench(self, request: Request) -> Response:
        spec = await request.json()
        result = await Bench(self, spec).run()
        return JSONResponse(result)


# -- the simulated residents of a benchmark ---------------------------------------------


class Updates:
    """Builds Bot API update objects for one resident in a private chat."""

    def __init__(self, api: FakeBotApi, user_id: int, first_name: str = "居民") -> None:
        self.api = api
        self.user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        self.chat = {"id": user_id, "type": "private", "first_name": first_name}
        self._message_ids = itertools.count(1)

    def _message(self, **content: Any) -> dict[str, Any]:
        return {
            "update_id": self.api.next_update_id(),
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": self.chat,
                "from": self.user,
                **content,
            },
        }

    def text(self, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._message(**content)

    def forwarded(self, text: str, sender_name: str) -> dict[str, Any]:
        """A text forwarded from someone who hides their account."""
        origin = {"type": "hidden_user", "date": 0, "sender_user_name": sender_name}
        return self._message(text=text, forward_origin=origin)

    def photo(
        self, file_id: str, size: int | None = None, media_group_id: str | None = None
    ) -> dict[str, Any]:
        data_size = len(self.api.files.get(file_id, b"")) if size is None else size
        sizes = [
            {"file_id": f"{file_id}_small", "file_unique_id": "s", "width": 90, "height": 90},
            {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "width": 1280,
                "height": 960,
                "file_size": data_size,
            },
        ]
        content: dict[str, Any] = {"photo": sizes}
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self._message(**content)

    def document(self, file_id: str, mime_type: str, size: int) -> dict[str, Any]:
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": "file",
            "mime_type": mime_type,
            "file_size": size,
        }
        return self._message(document=document)

    def sticker(self) -> dict[str, Any]:
        sticker = {
            "file_id": "st",
            "file_unique_id": "ust",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return self._message(sticker=sticker)

    def location(self, latitude: float, longitude: float) -> dict[str, Any]:
        return self._message(location={"latitude": latitude, "longitude": longitude})

    def venue(self, latitude: float, longitude: float, title: str, address: str) -> dict[str, Any]:
        location = {"latitude": latitude, "longitude": longitude}
        venue = {"location": location, "title": title, "address": address}
        return self._message(location=location, venue=venue)

    def contact(self, phone: str, *, own: bool = True) -> dict[str, Any]:
        contact: dict[str, Any] = {"phone_number": phone, "first_name": "居民"}
        contact["user_id"] = self.user["id"] if own else int(self.user["id"]) + 1
        return self._message(contact=contact)

    def press(self, message: dict[str, Any], data: str) -> dict[str, Any]:
        """A press of a button with `data` on `message` (a message the bot sent)."""
        return {
            "update_id": self.api.next_update_id(),
            "callback_query": {
                "id": f"cq{self.api.next_update_id()}",
                "from": self.user,
                "chat_instance": "ci",
                "message": message,
                "data": data,
            },
        }


RESIDENT_SCRIPT = (
    ("text", "/new"),
    ("text", "小区门口占道经营，乱摆摊严重，影响通行，已经持续一个月了"),
    ("press", "skip"),
    ("location", ""),
    ("contact", ""),
    ("press", "confirm"),
)
ECHO_SCRIPT = tuple(("text", f"你好 {i}") for i in range(6))


class Bench:
    """Simulated residents; each sends a turn, waits for the bot's reply, sends the next.

    Closed loop (no `rate`): the next turn goes as soon as the reply is in, so the figure is
    the most turns/s the bot sustains. Paced (`rate` turns/s in all): resident i's k-th turn
    is due at i/rate + k·users/rate seconds after the start, whatever the replies, so turns
    arrive at `rate` overall; a resident whose reply is late sends the next turn when the reply
    arrives. Latency is measured from when the turn was due (not when it could be sent), so a
    late reply also counts against the turns it held up.
    """

    def __init__(self, api: FakeBotApi, spec: dict[str, Any]) -> None:
        self.api = api
        self.users = int(spec["users"])
        self.rounds = int(spec.get("rounds", 1))
        self.script = RESIDENT_SCRIPT if spec["script"] == "resident" else ECHO_SCRIPT
        self.rate: float | None = float(spec["rate"]) if spec.get("rate") else None
        self.webhook_url: str | None = spec.get("webhook_url")
        self.secret: str = spec.get("secret", "")
        self.first_user = int(spec.get("first_user", 10_000_000))
        self.timeout = float(spec.get("timeout", 30))
        self.latencies: list[float] = []
        self.late = 0  # paced: turns sent after they were due (the previous reply was late)
        self.lost = 0  # turns whose reply never came within the timeout
        self.final_texts: list[str] = []
        self.client: httpx.AsyncClient | None = None

    async def _deliver(self, update: dict[str, Any]) -> None:
        if self.webhook_url is None:
            self.api._push([update])
            return
        assert self.client is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.secret}
        response = await self.client.post(self.webhook_url, json=update, headers=headers)
        response.raise_for_status()

    async def _resident(self, index: int, started: float) -> None:
        user_id = self.first_user + index
        updates = Updates(self.api, user_id)
        chat = str(user_id)
        loop = asyncio.get_running_loop()
        turn = 0
        for _ in range(self.rounds):
            for kind, value in self.script:
                due = None
                if self.rate is not None:
                    due = started + (index + turn * self.users) / self.rate
                    now = time.perf_counter()
                    if due > now:
                        await asyncio.sleep(due - now)
                    elif now - due > 0.001:
                        self.late += 1
                turn += 1
                last = self.api._last_message.get(chat, {})
                if kind == "text":
                    update = updates.text(value)
                elif kind == "press":
                    update = updates.press(last, value)
                elif kind == "location":
                    update = updates.location(28.19, 112.97)
                else:
                    update = updates.contact(f"138{user_id % 10**8:08d}")
                waiter: asyncio.Future[None] = loop.create_future()
                self.api._watchers.setdefault(chat, []).append(waiter)
                sent = time.perf_counter() if due is None else due
                await self._deliver(update)
                try:
                    await asyncio.wait_for(waiter, self.timeout)
                except TimeoutError:
                    self.lost += 1
                    return
                self.latencies.append(time.perf_counter() - sent)
            self.final_texts.append(str(self.api._last_message[chat].get("text", "")))

    async def run(self) -> dict[str, Any]:
        self.api._watchers.clear()
        async with httpx.AsyncClient() as self.client:
            started = time.perf_counter()
            await asyncio.gather(*(self._resident(i, started) for i in range(self.users)))
            elapsed = time.perf_counter() - started
        ordered = sorted(self.latencies) or [float("nan")]

        def pct(p: float) -> float:
            return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))]

        return {
            "turns": len(self.latencies),
            "seconds": elapsed,
            "turns_per_second": len(self.latencies) / elapsed,
            "rate": self.rate,
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "max_ms": 1000 * ordered[-1],
            "mean_ms": 1000 * statistics.fmean(ordered),
            "late": self.late,
            "lost": self.lost,
            "final_texts": self.final_texts[:3],
            "completed": sum("SQ" in text for text in self.final_texts),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=TOKEN)
    args = parser.parse_args()
    api = FakeBotApi(args.token)

    async def serve() -> None:
        api._attach(asyncio.get_running_loop())
        config = uvicorn.Config(
            api.app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False
        )
        await uvicorn.Server(config).serve()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
