"""`appealbot run`: the enabled channels (or the console) and the clock, until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from starlette.routing import BaseRoute

from bot.app import App, build, database_url, web_site
from bot.channels import console
from bot.channels.journal import SentJournal
from bot.channels.telegram import CHANNEL as TELEGRAM
from bot.channels.telegram import TelegramChannel
from bot.channels.web import WebChannel
from bot.channels.wechat import CHANNEL as WECHAT
from bot.channels.wechat import wechat_routes
from bot.channels.workers import dialog_processes
from bot.logs import install_redaction
from bot.settings import Secrets, Settings, load_secrets
from bot.web import build_web_app, listen, serve, serving_in_thread
from messages.catalog import ROLE, t
from scheduler.clock import start_clock
from scheduler.outbox import Sender, drain
from storage.db import transaction
from storage.roles import Role
from web import console as web_console
from workflow import signin, staff

log = logging.getLogger(__name__)


def run(settings: Settings, args: argparse.Namespace) -> int:
    secrets = load_secrets(settings)
    install_redaction(*secrets.credentials())
    app = build(settings, secrets)
    channels = choose_channels(settings, secrets)
    for name, (on, why) in channels.items():
        log.info("%s: %s (%s)", name, "on" if on else "off", why)
    if channels[console.CHANNEL][0]:
        senders = {console.CHANNEL: console.notify(sys.stdout)}
        with (
            _web_beside_the_console(app) as listening,
            _clock(app, senders),
        ):
            if listening:
                _announce_console(app)
            interactive = sys.stdin.isatty()
            console.Console(
                handle=app.dialog.handle,
                pending=lambda user: app.dialog.pending(console.CHANNEL, user, user),
                deliver=lambda: drain(app.sessions, senders),
                invite=_console_invite(app),
                out=sys.stdout,
                user_id=args.user,
            ).run(sys.stdin, echo=not interactive, prompt=interactive)
        return 0
    token = secrets.telegram_bot_token if channels[TELEGRAM][0] else None
    asyncio.run(_serve_messengers(app, secrets, token))
    return 0


@contextmanager
def _web_beside_the_console(app: App) -> Iterator[bool]:
    """The web console from a thread, while the terminal's console runs; where its port is
    taken (a second terminal, say), the terminal's console alone. Yields whether it serves."""
    server = app.settings.server
    try:
        sock = listen(server.host, server.port)
    except ConnectionError as error:
        log.warning("web console: off (%s)", error)
        yield False
        return
    with serving_in_thread(build_web_app(app=app, routes=web_routes(app)), sock):
        yield True


def web_routes(app: App) -> list[BaseRoute]:
    """The web pages every run serves: the center's console and the residents' mobile page."""
    return [*web_console.routes(web_site(app)), *WebChannel(app).routes()]


def _announce_console(app: App) -> None:
    """Where the web console is, and a link for its admin to sign in."""
    server = app.settings.server
    with transaction(app.sessions) as session:
        admin = signin.console_admin(session, ROLE[Role.ADMIN])
        token = signin.create_link(session, admin)
    log.info("web console: %s/signin/%s (the admin's one-time link)", server.url, token)


def choose_channels(settings: Settings, secrets: Secrets) -> dict[str, tuple[bool, str]]:
    """Each channel → whether it runs, and why: Telegram with a token (unless switched off in
    the config), WeChat when the config enables it, the console when neither runs (unless
    switched off: then the web pages alone, as a service with no terminal)."""
    configured = settings.channels
    if not configured.telegram.enabled:
        telegram = (False, "channels.telegram.enabled is false")
    elif secrets.telegram_bot_token is None:
        telegram = (False, "no TELEGRAM_BOT_TOKEN")
    else:
        origin = secrets.origin("telegram_bot_token")
        telegram = (True, f"TELEGRAM_BOT_TOKEN from {origin}")
    if configured.wechat.enabled:
        wechat = (True, "channels.wechat.enabled is true")
    else:
        wechat = (False, "channels.wechat.enabled is false")
    messenger = telegram[0] or wechat[0]
    if messenger:
        alone = (False, "a messenger channel is on")
    elif not configured.console.enabled:
        alone = (False, "channels.console.enabled is false: the web pages alone")
    else:
        alone = (True, "no other channel")
    return {TELEGRAM: telegram, WECHAT: wechat, console.CHANNEL: alone}


async def _serve_messengers(app: App, secrets: Secrets, token: str | None) -> None:
    """Telegram (polling or webhook) and WeChat (either, both or neither), on one event loop
    and one web app, until SIGTERM (a service manager's stop) or Ctrl-C: the updates taken
    are answered first."""
    settings = app.settings
    sock = listen(settings.server.host, settings.server.port)  # before anything starts
    stopping = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no such signal handling off POSIX
        # The web server takes SIGTERM itself while it runs and raises it again once stopped.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    senders: dict[str, Sender] = {}
    telegram = None
    webhook_url = settings.channels.telegram.webhook_url
    if token is not None:
        telegram = TelegramChannel.from_app(
            app,
            token,
            webhook=webhook_url is not None,
            processes=dialog_processes(settings, database_url(settings, secrets)),
            journal=SentJournal(settings.storage.data_dir / "telegram-sent.journal"),
        )
        senders[TELEGRAM] = telegram.outbox_sender()
    routes: Sequence[BaseRoute] = ()
    wechat = None
    if settings.channels.wechat.enabled:
        wechat, routes = wechat_routes(app, settings.channels.wechat, secrets)
        senders[WECHAT] = wechat.outbox_sender()
    hooked = telegram if webhook_url is not None else None
    web = build_web_app(
        app=app,
        telegram=hooked,
        webhook_secret=secrets.telegram_webhook_secret,
        webhook_url=webhook_url,
        routes=[*routes, *web_routes(app)],
    )
    log.info(
        "web console: %s (sign in: /web in a bound chat, or appealbot web-login)",
        settings.server.url,
    )
    jobs: list[Coroutine[Any, Any, None]] = [serve(web, sock)]
    if telegram is not None and hooked is None:
        jobs.append(telegram.run_polling(stopping))
    with _clock(app, senders):
        try:
            await asyncio.gather(*jobs)
        finally:
            if wechat is not None:
                await wechat.aclose()


def _console_invite(app: App) -> Callable[[str], str | None]:
    """Invite codes for the console's `/as NAME`: staff of a configured department, or the
    center's dispatcher (调度员); None for any other name."""
    departments = {spec.name for spec in app.settings.departments}

    def invite(name: str) -> str | None:
        if name == t("console.as_dispatcher"):
            role, department = Role.DISPATCHER, None
        elif name in departments:
            role, department = Role.STAFF, name
        else:
            return None
        with transaction(app.sessions) as session:
            return staff.create_invite(session, role=role, department=department)

    return invite


@contextmanager
def _clock(app: App, senders: Mapping[str, Sender]) -> Iterator[None]:
    """Stand for the clock (timer sweep, outbox, reports) while the channels serve."""
    clock = start_clock(
        app.engine,
        app.sessions,
        app.dialog.policy,
        senders,
        sweep_seconds=app.settings.scheduler.sweep_seconds,
    )
    try:
        yield
    finally:
        clock.stop()
