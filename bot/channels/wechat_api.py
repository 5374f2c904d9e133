"""A small synchronous client for the WeChat official-account HTTP API.

Only what the channel needs: the access_token, media download, customer-service and
template messages, and the custom menu. It is synchronous on purpose: the outbox drain calls
senders from a background thread, and the webhook runs its turns in worker threads anyway.

The access_token is cached in a `TokenStore` until shortly before it expires; the bot's
workers share it through the database (`storage.tokens.DatabaseTokenStore`), a single
process may use the in-memory store. A call answered with an invalid/expired-token error
refreshes the token once and is retried. Neither the token nor the AppSecret is ever logged,
and errors raised here never carry the request URL (which holds them).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from bot import metrics
from bot.settings import WECHAT_API_URL

log = logging.getLogger(__name__)

CHANNEL = "wechat"

TOKEN_KEY = "appealbot:wechat:access_token:{appid}"  # noqa: S105 (a cache key)
# 40001 invalid credential, 40014 invalid access_token, 42001 access_token expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
OUT_OF_WINDOW = 45015  # more than 48 h since the user last wrote to us
TOO_MANY = 45047  # too many customer-service messages without an answer from the user
RATE_LIMITED = frozenset({45009, 45011})  # over the daily, or the per-minute, API quota
UNSUBSCRIBED = 43004  # the user does not follow the account (any more)
TOKEN_MARGIN = 300  # seconds: renew the token this long before WeChat says it expires


class WechatApiError(Exception):
    """WeChat answered with a non-zero errcode (or could not be reached: code -1)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"WeChat API error {code}: {message}")
        self.code = code
        self.message = message


class TokenStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: float) -> None: ...


class MemoryTokenStore:
    """One process's token cache."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.clock = clock

    def get(self, key: str) -> str | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[1] <= self.clock():
                return None
            return item[0]

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            self._items[key] = (value, self.clock() + ttl)


class WechatApi:
    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        base_url: str = WECHAT_API_URL,
        store: TokenStore | None = None,
        client: httpx.Client | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.appid = appid
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.store: TokenStore = store or MemoryTokenStore()
        self._client = client or httpx.Client(timeout=timeout)
        self._lock = threading.Lock()
        self.token_fetches = 0  # how often /cgi-bin/token was asked (tests, metrics)

    def close(self) -> None:
        self._client.close()

    # -- transport ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {} if body is None else {"Content-Type": "application/json; charset=utf-8"}
        try:
            return self._client.request(
                method, self.base_url + path, params=params, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            # `from None`: httpx's exception may show the URL, which carries the token.
            raise WechatApiError(-1, f"{path}: {type(exc).__name__}") from None

    @staticmethod
    def _json(response: httpx.Response, path: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise WechatApiError(-1, f"{path}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise WechatApiError(-1, f"{path}: not JSON") from None
        if not isinstance(data, dict):
            raise WechatApiError(-1, f"{path}: unexpected answer")
        code = int(data.get("errcode", 0) or 0)
        if code != 0:
            raise WechatApiError(code, str(data.get("errmsg", "")))
        return data

    # -- access_token ---------------------------------------------------------------------

    @property
    def _token_key(self) -> str:
        return TOKEN_KEY.format(appid=self.appid)

    def access_token(self, *, stale: str | None = None) -> str:
        """The cached token; a new one if there is none or the cached one is `stale`."""
        token = self.store.get(self._token_key)
        if token is not None and token != stale:
            return token
        with self._lock:
            token = self.store.get(self._token_key)  # another thread may have renewed it
            if token is not None and token != stale:
                return token
            return self._fetch_token()

    def _fetch_token(self) -> str:
        path = "/cgi-bin/token"
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret}
        self.token_fetches += 1
        data = self._json(self._request("GET", path, params=params), path)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WechatApiError(-1, f"{path}: no access_token in the answer")
        expires_in = float(data.get("expires_in", 7200))
        self.store.set(self._token_key, token, max(1.0, expires_in - TOKEN_MARGIN))
        log.info("fetched a new WeChat access_token (valid %d s)", int(expires_in))
        return token

    def _with_token(self, call: Callable[[str], httpx.Response], path: str) -> httpx.Response:
        """Run `call(token)`; on a token error renew the token once and run it again."""
        token = self.access_token()
        response = call(token)
        code = _error_code(response)
        if code in TOKEN_ERRORS:
            log.info("WeChat rejected the access_token (%d); renewing it", code)
            response = call(self.access_token(stale=token))
        return response

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body to an API path that takes the access_token."""

        def post(token: str) -> httpx.Response:
            return self._request("POST", path, params={"access_token": token}, body=body)

        return self._json(self._with_token(post, path), path)

    # -- the methods ----------------------------------------------------------------------

    def download_media(self, media_id: str, *, max_bytes: int) -> bytes:
        """A temporary media file's bytes; at most `max_bytes + 1` are read (so that the
        caller's size check can tell it is too big without holding all of it)."""
        path = "/cgi-bin/media/get"

        def get(token: str) -> httpx.Response:
            params = {"access_token": token, "media_id": media_id}
            try:
                with self._client.stream("GET", self.base_url + path, params=params) as response:
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes():
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > max_bytes:
                            break
                    data = b"".join(chunks)[: max_bytes + 1]
                    return httpx.Response(
                        response.status_code, headers=response.headers, content=data
                    )
            except httpx.HTTPError as exc:
                raise WechatApiError(-1, f"{path}: {type(exc).__name__}") from None

        response = self._with_token(get, path)
        kind = response.headers.get("content-type", "")
        if response.status_code != 200 or "json" in kind or "text/plain" in kind:
            self._json(response, path)  # raises with WeChat's errcode
            raise WechatApiError(-1, f"{path}: no media in the answer")
        return response.content

    def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (within 48 h of the user's last message)."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        self._send("/cgi-bin/message/custom/send", body)

    def send_template(
        self, openid: str, template_id: str, data: dict[str, str], url: str | None = None
    ) -> None:
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
        }
        if url:
            body["url"] = url
        self._send("/cgi-bin/message/template/send", body)

    def _send(self, path: str, body: dict[str, Any]) -> None:
        """A message to a user, counted for /metrics: sent, or refused and why."""
        try:
            self.call(path, body)
        except WechatApiError as error:
            reason = "429" if error.code in RATE_LIMITED else "other"
            metrics.send_failed(CHANNEL, "5xx" if error.code == -1 else reason)
            raise
        metrics.sent(CHANNEL)

    def create_menu(self, menu: dict[str, Any]) -> None:
        self.call("/cgi-bin/menu/create", menu)


def _error_code(response: httpx.Response) -> int:
    """WeChat's errcode in a JSON answer, or 0 (binary media, success, unreadable).

    Media downloads answer errors as JSON with a text/plain content type, hence the sniffing.
    """
    body = response.content
    if body.lstrip()[:1] != b"{" or len(body) > 4096:
        return 0
    try:
        data = json.loads(body)
    except ValueError:
        return 0
    return int(data.get("errcode", 0) or 0) if isinstance(data, dict) else 0
