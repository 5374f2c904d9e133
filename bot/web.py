"""The one ASGI app: the web console, Telegram's webhook, WeChat's callback, /healthz.

Shaped after python-telegram-bot's examples/customwebhookbot/starlettebot.py: the Telegram
`Application` is built with `.updater(None)`, the route only checks the secret token and puts
the decoded `Update` on `application.update_queue`, and the application runs for as long as
the ASGI app does (entered in the lifespan). Run it with uvicorn, e.g. `serve(app, port=8080)`.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.telegram import TelegramChannel
from bot.settings import ConfigError

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


def telegram_route(channel: TelegramChannel, secret: str) -> Route:
    """POST /telegram: checks Telegram's secret token header, then queues the update."""
    expected = secret.encode()

    async def telegram_webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return Response(status_code=403)
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return Response(status_code=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return Response(status_code=400)
        await channel.feed(data)  # kept before the 200; a malformed update is logged, no 500
        return Response()

    return Route("/telegram", telegram_webhook, methods=["POST"])


def build_web_app(
    *,
    telegram: TelegramChannel | None = None,
    webhook_secret: str | None = None,
    webhook_url: str | None = None,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The ASGI app: `/healthz`, `/telegram` when a channel is given, plus `routes`.

    `telegram` must have been built with `webhook=True`. `webhook_url` (the public https URL
    of /telegram), if given, is registered with Telegram at start-up together with the secret.
    WeChat's callback is passed in `routes` (`Route("/wechat", ..., methods=["GET", "POST"])`).
    """
    all_routes: list[BaseRoute] = []

    async def healthz(request: Request) -> Response:
        status = {"status": "ok", "telegram": None if telegram is None else telegram.running}
        healthy = telegram is None or telegram.running
        return JSONResponse(status, status_code=200 if healthy else 503)

    all_routes.append(Route("/healthz", healthz, methods=["GET"]))
    if telegram is not None:
        if not telegram.webhook:
            raise ValueError("the Telegram channel must be built with webhook=True")
        if not webhook_secret:
            raise ConfigError("webhook mode needs TELEGRAM_WEBHOOK_SECRET")
        all_routes.append(telegram_route(telegram, webhook_secret))
    # /wechat: the WeChat adapter's route arrives here through `routes`.
    all_routes.extend(routes)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if telegram is None:
            yield
            return
        await telegram.start(webhook_url=webhook_url, secret=webhook_secret)
        try:
            yield
        finally:
            await telegram.stop()

    return Starlette(routes=all_routes, lifespan=lifespan)


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound now: a port already taken is a ConnectionError naming it
    (said in one line), not uvicorn's log line and exit."""
    try:
        return socket.create_server((host, port))
    except OSError as error:
        raise ConnectionError(
            f"cannot listen on {host}:{port} (server.host, server.port): "
            f"{os.strerror(error.errno or 0)}"
        ) from error


def _server(app: Starlette, **options: Any) -> uvicorn.Server:
    """uvicorn with our log format (its lines through the root logger) and no access log."""
    return uvicorn.Server(
        uvicorn.Config(app, log_level="warning", log_config=None, access_log=False, **options)
    )


async def serve(app: Starlette, sock: socket.socket) -> None:
    """Run the ASGI app with uvicorn on `sock` (see `listen`) in the current event loop
    until it is told to stop.

    The app's lifespan is entered here, around uvicorn, so that a failure to start (Telegram
    out of reach) reaches the caller, where uvicorn would log its traceback and exit."""
    async with app.router.lifespan_context(app):
        await _server(app, lifespan="off").serve(sockets=[sock])


@contextmanager
def serving_in_thread(app: Starlette, sock: socket.socket) -> Iterator[None]:
    """Serve the app on `sock` (see `listen`) from a thread of its own while the block runs
    (beside the console, which holds the main thread)."""
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.should_exit = True
        thread.join()
