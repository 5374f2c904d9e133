"""A fake WeChat official-account API for tests; nothing here reaches api.weixin.qq.com.

It hands out access tokens, serves media for download, records customer-service, template and
menu calls, and can be told to fail: invalidate the current token (the next call answers 40001,
a refreshed token is accepted), or answer the next calls of a path with given errcodes (45015,
45047, 43004...). It runs in a background thread (`FakeWechat().start()`).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.threaded_server import ThreadedServer

APPID = "wx0123456789abcdef"
SECRET = "fake-app-secret-0123456789abcdef"


@dataclass
class Call:
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None
    accepted: bool = False
    at: float = field(default_factory=time.monotonic)


class FakeWechat:
    def __init__(self, *, appid: str = APPID, secret: str = SECRET) -> None:
        self.appid = appid
        self.secret = secret
        self.calls: list[Call] = []
        self.media: dict[str, bytes] = {}
        self.valid_tokens: set[str] = set()
        self.token_requests = 0
        self._tokens = itertools.count(1)
        self.failures: dict[str, deque[int]] = {}  # path -> errcodes to answer, in order
        self._lock = threading.Lock()
        self.port = 0
        self.app = Starlette(
            routes=[
                Route("/cgi-bin/token", self._token, methods=["GET"]),
                Route("/cgi-bin/media/get", self._media, methods=["GET"]),
                Route("/cgi-bin/message/custom/send", self._post, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self._post, methods=["POST"]),
                Route("/cgi-bin/menu/create", self._post, methods=["POST"]),
            ]
        )
        self._server = ThreadedServer(self.app, "fakewechat")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeWechat:
        self.port = self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    # -- what tests do --------------------------------------------------------------------

    def fail(self, path: str, *codes: int) -> None:
        """Answer the next calls of `path` (e.g. "/cgi-bin/message/custom/send") with these
        errcodes, one each."""
        with self._lock:
            self.failures.setdefault(path, deque()).extend(codes)

    def invalidate_tokens(self) -> None:
        """Every token handed out so far is now rejected with 40001."""
        with self._lock:
            self.valid_tokens.clear()

    def sent(self, path: str) -> list[Call]:
        return [call for call in self.calls if call.path == path]

    @property
    def texts(self) -> list[tuple[str, str]]:
        """(openid, content) of each customer-service text accepted."""
        return [
            (call.body["touser"], call.body["text"]["content"])
            for call in self.sent("/cgi-bin/message/custom/send")
            if call.body is not None and call.accepted
        ]

    # -- the API --------------------------------------------------------------------------

    @staticmethod
    def _error(code: int, message: str = "error") -> JSONResponse:
        return JSONResponse({"errcode": code, "errmsg": message})

    async def _token(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.calls.append(Call("/cgi-bin/token", params, None))
        self.token_requests += 1
        if params.get("appid") != self.appid or params.get("secret") != self.secret:
            return self._error(40125, "invalid appsecret")
        token = f"TOKEN{next(self._tokens)}_{self.appid}"
        with self._lock:
            self.valid_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 7200})

    def _check(self, path: str, params: dict[str, str]) -> JSONResponse | None:
        with self._lock:
            if params.get("access_token") not in self.valid_tokens:
                return self._error(40001, "invalid credential")
            queue = self.failures.get(path)
            if queue:
                return self._error(queue.popleft())
        return None

    async def _media(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.calls.append(Call("/cgi-bin/media/get", params, None))
        refused = self._check("/cgi-bin/media/get", params)
        if refused is not None:
            return Response(refused.body, media_type="text/plain")  # as WeChat does
        data = self.media.get(params.get("media_id", ""))
        if data is None:
            return Response(
                b'{"errcode":40007,"errmsg":"invalid media_id"}', media_type="text/plain"
            )
        return Response(data, media_type="image/jpeg")

    async def _post(self, request: Request) -> Response:
        path = request.url.path
        params = dict(request.query_params)
        body = json.loads(await request.body())
        call = Call(path, params, body)
        self.calls.append(call)
        refused = self._check(path, params)
        if refused is not None:
            return refused
        call.accepted = True
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if path.endswith("template/send"):
            answer["msgid"] = len(self.calls)
        return JSONResponse(answer)
