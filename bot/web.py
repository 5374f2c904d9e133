"""The one ASGI app: the web console, Telegram's webhook, WeChat's callback, /healthz,
/readyz and /metrics.

Shaped after python-telegram-bot's examples/customwebhookbot/starlettebot.py: the Telegram
`Application` is built with `.updater(None)`, the route only checks the secret token and puts
the decoded `Update` on `application.update_queue`, and the application runs for as long as
the ASGI app does (entered in the lifespan). Run it with `serve(app, listen(host, port))`.
"""

from __future__ import annotations

import asyncio
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
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot import metrics
from bot.app import App
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
    app: App | None = None,
    telegram: TelegramChannel | None = None,
    webhook_secret: str | None = None,
    webhook_url: str | None = None,
    routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The ASGI app: `/healthz`, `/readyz`, `/metrics`, `/telegram` when a channel is given,
    plus `routes`. With `app`, `/readyz` asks its database and `/metrics` shows its figures.

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
    all_routes.extend(monitoring_routes(app))
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


def monitoring_routes(app: App | None) -> list[Route]:
    """`/readyz`: 200 when the database answers `SELECT 1` (503 when not), for a load
    balancer; `/metrics`: Prometheus's text, the database's figures read now (in a thread:
    the event loop goes on serving)."""
    database = (
        None
        if app is None
        else metrics.DatabaseCollector(
            app.sessions,
            remind_at=app.settings.follow_up.remind_at,
            sweep_seconds=app.settings.scheduler.sweep_seconds,
        )
    )
    shown = metrics.registry(database)

    def database_answers() -> bool:
        if app is None:
            return True
        try:
            with app.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except DBAPIError:
            log.warning("readiness: the database does not answer", exc_info=True)
            return False
        return True

    async def readyz(request: Request) -> Response:
        ready = await asyncio.to_thread(database_answers)
        status = {"status": "ok" if ready else "unavailable", "database": ready}
        return JSONResponse(status, status_code=200 if ready else 503)

    async def metrics_text(request: Request) -> Response:
        text = await asyncio.to_thread(generate_latest, shown)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
    ]


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
