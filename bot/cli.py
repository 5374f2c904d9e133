"""The `appealbot` command line: run, db upgrade, report, classify, nlp train|eval."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlmodel import select
from starlette.routing import BaseRoute

from bot.app import App, build, configure_logging, database_url
from bot.channels import console
from bot.channels.telegram import CHANNEL as TELEGRAM
from bot.channels.telegram import TelegramChannel, install_token_redaction
from bot.channels.wechat import CHANNEL as WECHAT
from bot.channels.wechat import build_api, create_menu, wechat_routes
from bot.channels.wechat_api import WechatApiError
from bot.classifier import build_classifier
from bot.settings import ConfigError, Secrets, Settings, load_secrets, load_settings
from bot.web import build_web_app, serve
from nlp import commands as nlp_commands
from scheduler.clock import start_clock
from scheduler.outbox import Sender
from scheduler.reports import PERIODS, build_report, format_text
from storage.db import SchemaOutdated, make_engine, transaction, upgrade
from storage.models import Department, Role
from storage.tokens import DatabaseTokenStore
from storage.types import utcnow
from workflow import staff
from workflow.lifecycle import LifecycleError

log = logging.getLogger(__name__)
NO_INVITE = (Role.RESIDENT, Role.SYSTEM)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appealbot", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="config file (default: $APPEALBOT_CONFIG or ./config.yaml)"
    )
    parser.add_argument("--log-level", default="INFO")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the enabled channels and the clock")
    run.add_argument("--user", default="local", help="console user id")

    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])

    classify = commands.add_parser("classify", help="classify texts (one per line, or JSONL)")
    classify.add_argument("file", nargs="?", type=Path, help="input file (default: stdin)")
    classify.add_argument("--categories", help="comma-separated candidate categories")

    invite = commands.add_parser("invite", help="one-time codes that bind staff to roles")
    invite.add_argument("--role", choices=[r.value for r in Role if r not in NO_INVITE])
    invite.add_argument("--department", help="the department (staff, or a department group)")
    invite.add_argument("--grid", help="the grid code (grid workers)")
    invite.add_argument("--list", action="store_true", help="list the codes and their use")
    invite.add_argument("--revoke", metavar="CODE", help="revoke an unused code")

    wechat = commands.add_parser("wechat", help="the WeChat official account")
    wechat.add_argument("action", choices=["menu"], help="create the account's menu")

    report = commands.add_parser("report", help="print a day/week/month report")
    report.add_argument("--period", choices=PERIODS, default="day")
    report.add_argument("--format", choices=["text", "json"], default="text")

    nlp = commands.add_parser("nlp", help="the classifier's keyword table")
    nlp_commands = nlp.add_subparsers(dest="nlp_command", required=True)
    train = nlp_commands.add_parser("train", help="rebuild the keyword table from labeled data")
    train.add_argument("--data", type=Path, required=True, help="labeled CSV (label,tokens)")
    train.add_argument("--out", type=Path, help="table to write (default: the packaged one)")
    evaluate = nlp_commands.add_parser("eval", help="accuracy and F1 on a labeled file")
    evaluate.add_argument("file", type=Path)
    evaluate.add_argument("--categories", help="comma-separated candidate categories")
    evaluate.add_argument(
        "--resegment",
        action="store_true",
        help="join pre-segmented tokens and segment them again with our tokenizer (raw text)",
    )
    return parser


def _run(settings: Settings, args: argparse.Namespace) -> int:
    secrets = load_secrets()
    app = build(settings, secrets)
    token = secrets.telegram_bot_token if settings.channels.telegram.enabled else None
    if token is None and not settings.channels.wechat.enabled:
        log.info("no messenger channel configured: starting the console channel")
        with _clock(app, {console.CHANNEL: console.notify(sys.stdout)}):
            interactive = sys.stdin.isatty()
            console.serve(
                app.dialog.handle, sys.stdin, sys.stdout, user_id=args.user, echo=not interactive
            )
        return 0
    asyncio.run(_serve_messengers(app, secrets, token))
    return 0


async def _serve_messengers(app: App, secrets: Secrets, token: str | None) -> None:
    """Telegram (polling or webhook) and WeChat, on one event loop and one web app."""
    settings = app.settings
    senders: dict[str, Sender] = {}
    telegram = None
    webhook_url = settings.channels.telegram.webhook_url
    if token is not None:
        install_token_redaction(token)
        telegram = TelegramChannel.from_app(app, token, webhook=webhook_url is not None)
        senders[TELEGRAM] = telegram.outbox_sender()
    routes: Sequence[BaseRoute] = ()
    wechat = None
    if settings.channels.wechat.enabled:
        wechat, routes = wechat_routes(app, settings.channels.wechat, secrets)
        senders[WECHAT] = wechat.outbox_sender()
    hooked = telegram if webhook_url is not None else None
    jobs: list[Coroutine[Any, Any, None]] = []
    if hooked is not None or wechat is not None:
        web = build_web_app(
            telegram=hooked,
            webhook_secret=secrets.telegram_webhook_secret,
            webhook_url=webhook_url,
            routes=routes,
        )
        jobs.append(serve(web, host=settings.server.host, port=settings.server.port))
    if telegram is not None and hooked is None:
        jobs.append(telegram.run_polling())
    with _clock(app, senders):
        try:
            await asyncio.gather(*jobs)
        finally:
            if wechat is not None:
                await wechat.aclose()


@contextmanager
def _clock(app: App, senders: Mapping[str, Sender]) -> Iterator[None]:
    """Run the clock (timer sweep, outbox, reports) while the channels serve."""
    clock = start_clock(
        app.sessions,
        app.dialog.policy,
        senders,
        sweep_seconds=app.settings.scheduler.sweep_seconds,
    )
    try:
        yield
    finally:
        clock.shutdown(wait=False)


def _invite(settings: Settings, args: argparse.Namespace) -> int:
    app = build(settings, load_secrets())
    with transaction(app.sessions) as session:
        if args.list:
            names = {d.id: d.name for d in session.exec(select(Department))}
            for row in staff.invites(session):
                state = (
                    "revoked"
                    if row.revoked
                    else f"used by {row.used_by}"
                    if row.used_at
                    else "unused"
                )
                where = names.get(row.department_id, "") or row.grid or ""
                print(f"{row.code}  {row.role:12} {where:12} {state}")
            return 0
        if args.revoke:
            if staff.revoke(session, code=args.revoke.strip().upper()):
                print(f"revoked {args.revoke}")
                return 0
            print(f"appealbot: no unused code {args.revoke}", file=sys.stderr)
            return 1
        if args.role is None:
            print("appealbot: invite needs --role, --list or --revoke", file=sys.stderr)
            return 2
        try:
            code = staff.create_invite(
                session, role=Role(args.role), department=args.department, grid=args.grid
            )
        except LifecycleError as exc:
            print(f"appealbot: {exc}", file=sys.stderr)
            return 2
    print(code)
    return 0


def _report(settings: Settings, args: argparse.Namespace) -> int:
    app = build(settings, load_secrets())
    with app.sessions() as session:
        report = build_report(
            session,
            period=args.period,
            now=utcnow(),
            calendar=app.dialog.policy.calendar,
            remind_at=settings.follow_up.remind_at,
        )
    if args.format == "json":
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        print(format_text(report))
    return 0


def _categories(raw: str | None) -> list[str] | None:
    return [name.strip() for name in raw.split(",") if name.strip()] if raw else None


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:

    if args.command == "run":
        return _run(settings, args)
    if args.command == "db":
        upgrade(make_engine(database_url(settings, load_secrets())))
        print("database schema is up to date")
        return 0
    if args.command == "report":
        return _report(settings, args)
    if args.command == "invite":
        return _invite(settings, args)
    if args.command == "wechat":
        secrets = load_secrets()
        store = DatabaseTokenStore(build(settings, secrets).sessions)
        try:
            menu = create_menu(build_api(settings.channels.wechat, secrets, store=store))
        except WechatApiError as exc:
            print(f"appealbot: WeChat refused the menu: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(menu, ensure_ascii=False, indent=2))
        return 0
    if args.command == "classify":
        lines = args.file.open(encoding="utf-8") if args.file else sys.stdin
        with lines:
            nlp_commands.classify_stream(
                build_classifier(settings), lines, sys.stdout, _categories(args.categories)
            )
        return 0
    if args.nlp_command == "train":
        nlp_commands.train_command(args.data, args.out or settings.nlp.keyword_table, sys.stdout)
        return 0
    nlp_commands.eval_command(
        build_classifier(settings),
        args.file,
        sys.stdout,
        categories=_categories(args.categories),
        resegment=args.resegment,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        settings = load_settings(args.config)
        return _dispatch(settings, args)
    except ConfigError as exc:
        print(f"appealbot: configuration error\n{exc}", file=sys.stderr)
        return 2
    except SchemaOutdated as exc:
        print(f"appealbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
