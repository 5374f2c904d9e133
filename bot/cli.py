"""The `appealbot` command line: run, db upgrade, report, classify, nlp train|eval."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from bot.app import App, build, build_classifier, configure_logging, database_url
from bot.channels import console
from bot.channels.telegram import CHANNEL as TELEGRAM
from bot.channels.telegram import TelegramChannel, install_token_redaction
from bot.settings import ConfigError, Settings, load_secrets, load_settings
from bot.web import build_web_app, serve
from scheduler.clock import start_clock
from scheduler.outbox import Sender
from scheduler.reports import PERIODS, build_report, format_text
from storage.db import SchemaOutdated, make_engine, upgrade
from storage.types import utcnow

log = logging.getLogger(__name__)


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
    return parser


def _run(settings: Settings, args: argparse.Namespace) -> int:
    secrets = load_secrets()
    app = build(settings, secrets)
    token = secrets.telegram_bot_token if settings.channels.telegram.enabled else None
    if token is None:
        log.info("no channel credentials: starting the console channel")
        with _clock(app, {console.CHANNEL: console.notify(sys.stdout)}):
            interactive = sys.stdin.isatty()
            console.serve(
                app.dialog.handle, sys.stdin, sys.stdout, user_id=args.user, echo=not interactive
            )
        return 0
    install_token_redaction(token)
    webhook_url = settings.channels.telegram.webhook_url
    channel = TelegramChannel.from_app(app, token, webhook=webhook_url is not None)
    with _clock(app, {TELEGRAM: channel.outbox_sender()}):
        if webhook_url is None:
            asyncio.run(channel.run_polling())
        else:
            web = build_web_app(
                telegram=channel,
                webhook_secret=secrets.telegram_webhook_secret,
                webhook_url=webhook_url,
            )
            asyncio.run(serve(web, host=settings.server.host, port=settings.server.port))
    return 0


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
    from nlp import commands as nlp_commands

    if args.command == "run":
        return _run(settings, args)
    if args.command == "db":
        upgrade(make_engine(database_url(settings, load_secrets())))
        print("database schema is up to date")
        return 0
    if args.command == "report":
        return _report(settings, args)
    if args.command == "classify":
        lines = args.file.open(encoding="utf-8") if args.file else sys.stdin
        with lines:
            nlp_commands.classify_stream(
                build_classifier(settings), lines, sys.stdout, _categories(args.categories)
            )
        return 0
    if args.nlp_command == "train":
        nlp_commands.train_command(args.data, args.out, sys.stdout)
        return 0
    nlp_commands.eval_command(
        build_classifier(settings), args.file, sys.stdout, _categories(args.categories)
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
