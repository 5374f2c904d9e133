"""The HTTP transport under python-telegram-bot: aiohttp in place of PTB's default httpx.

PTB lets an application bring its own `telegram.request.BaseRequest`; everything above the
wire stays PTB's (encoding the parameters, reading the answer, turning 429/403/400 into
`RetryAfter`/`Forbidden`/`BadRequest`): this class only moves the bytes. Why: the Bot API
calls are most of the Telegram channel's CPU, and aiohttp's compiled HTTP parser and pool
make a call cost less than half of httpx's (benchmarks/bench_telegram.py, BENCHMARKS.md).
httpx stays for the WeChat API client, which is synchronous (and PTB itself depends on it).

aiohttp logs no request URLs (which carry the bot token), and no error message here shows
one.
"""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

MEDIA_WRITE_TIMEOUT = 20.0  # seconds; PTB's default for calls that upload files
JSON = {"Content-Type": "application/json"}
Timeout = ODVInput[float]  # a number of seconds, None for no limit, or PTB's default


class AiohttpRequest(BaseRequest):
    """A pool of at most `connections` keep-alive connections to the Bot API.

    Timeouts as in PTB (seconds, None for none): `read` for each read of the answer,
    `connect` to open a connection, `pool` to wait for a free one (aiohttp bounds the wait and
    the connecting together, by their sum). aiohttp has no write timeout: `write` (by default
    MEDIA_WRITE_TIMEOUT for uploads, as in PTB) bounds a call that sends a body together with
    the other steps; a download is bounded per read only, however long the file.
    """

    def __init__(
        self,
        *,
        connections: int,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._connections = connections
        self._defaults = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str] = {}
        self._proxy_of: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._defaults[0]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": self.USER_AGENT},
            )
            # HTTPS_PROXY/HTTP_PROXY/NO_PROXY, as PTB's httpx client honours them. Read here,
            # once: aiohttp's own `trust_env` reads the environment on every request, which
            # tripled the CPU of a call.
            self._proxies = urllib.request.getproxies_environment()
            self._proxy_of.clear()

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        write_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        connect_timeout: Timeout = BaseRequest.DEFAULT_NONE,
        pool_timeout: Timeout = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("this AiohttpRequest is not initialized")
        given = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        read, write, connect, pool = (
            default if isinstance(value, DefaultValue) else value
            for value, default in zip(given, self._defaults, strict=True)
        )
        body = _body(request_data)
        uploads = isinstance(body, aiohttp.FormData)
        if isinstance(write_timeout, DefaultValue) and uploads:
            write = MEDIA_WRITE_TIMEOUT
        timeout = aiohttp.ClientTimeout(
            total=_sum(read, write, connect, pool) if body is not None else None,
            connect=_sum(connect, pool),
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method,
                url,
                data=body,
                headers=None if uploads or body is None else JSON,
                timeout=timeout,
                proxy=self._proxy(url),
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's timeouts (and asyncio's, 3.11+) are these
            raise TimedOut from error
        except aiohttp.ClientError as error:
            # The class name only: some aiohttp messages quote the URL, and so the token.
            raise NetworkError(f"aiohttp.{type(error).__name__}") from error

    def _proxy(self, url: str) -> str | None:
        """The proxy for the URL's scheme and host, unless NO_PROXY exempts the host."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxy_of:
            proxy = self._proxies.get(parts.scheme)
            if proxy and urllib.request.proxy_bypass(key[1], self._proxies):
                proxy = None
            self._proxy_of[key] = proxy
        return self._proxy_of[key]


def _sum(*timeouts: float | None) -> float | None:
    """Seconds for several steps together; None (no limit) if any step has none."""
    return None if None in timeouts else sum(t for t in timeouts if t is not None)


def _body(request_data: RequestData | None) -> bytes | aiohttp.FormData | None:
    """The parameters as a JSON object, as the Bot API accepts them; with files, the form PTB
    would post (its parameters, and the files, as a multipart form).

    JSON rather than PTB's URL-encoded form: `urlencode` quotes a Chinese text byte by byte
    in Python, which made encoding a reply cost more than sending it.
    """
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return json.dumps(request_data.parameters, ensure_ascii=False).encode()
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
