"""The `appealbot` command line: run, db upgrade, report, classify, nlp train|eval."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.app import build, build_classifier, configure_logging, database_url
from bot.channels import console
from bot.settings import ConfigError, Settings, load_secrets, load_settings
from scheduler.clock import start_clock
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
    app = build(settings, load_secrets())
    senders = {console.CHANNEL: console.notify(sys.stdout)}
    clock = start_clock(
        app.sessions, app.dialog.policy, senders, sweep_seconds=settings.scheduler.sweep_seconds
    )
    try:
        console.serve(
            app.dialog.handle,
            sys.stdin,
            sys.stdout,
            user_id=args.user,
            echo=not sys.stdin.isatty(),
        )
    finally:
        clock.shutdown(wait=False)
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
