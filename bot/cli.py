"""The `appealbot` command line: run, db upgrade, report, classify, nlp train|eval|calibrate."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.logs import configure_logging
from bot.settings import ConfigError, Settings, load_settings
from scheduler import PERIODS
from storage.roles import Role

NO_INVITE = (Role.RESIDENT, Role.SYSTEM)
log = logging.getLogger(__name__)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# `nlp train --labels FIELD`: the learned table of that field of the labels, and its setting.
LABEL_TABLES = {"urgency": "urgency_table", "disposition": "disposition_table"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appealbot", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="config file (default: $APPEALBOT_CONFIG or ./config.yaml)"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LOG_LEVELS,
        help="how much to log (any case): %(choices)s",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the enabled channels and the clock")
    run.add_argument("--user", default="local", help="console user id")

    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])

    classify = commands.add_parser("classify", help="classify texts (one per line, or JSONL)")
    classify.add_argument("file", nargs="?", type=Path, help="input file (default: stdin)")
    classify.add_argument("--types", help="comma-separated candidate appeal types")
    classify.add_argument(
        "--explain", action="store_true", help="add candidates, topic, intent and hazard"
    )

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

    nlp = commands.add_parser("nlp", help="the classifier's learned tables")
    nlp_commands = nlp.add_subparsers(dest="nlp_command", required=True)
    train = nlp_commands.add_parser("train", help="rebuild a learned table from labeled data")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="topics: labeled CSV (label,tokens)")
    source.add_argument(
        "--types", action="store_true", help="appeal types: nlp/data/labels (training part)"
    )
    source.add_argument(
        "--labels",
        choices=LABEL_TABLES,
        help="the urgency or disposition table: nlp/data/labels (training part)",
    )
    train.add_argument(
        "--from-ledger", action="store_true", help="with --types: add the center's corrections"
    )
    train.add_argument("--out", type=Path, help="table to write (default: the packaged one)")
    evaluate = nlp_commands.add_parser(
        "eval", help="what ships on our labelled test part, or the topics on a labeled file"
    )
    evaluate.add_argument("file", type=Path, nargs="?", help="topics: labeled CSV or JSONL")
    evaluate.add_argument(
        "--topics-file",
        type=Path,
        help="without FILE: also the topics' macro-F1 on this file's raw text",
    )
    evaluate.add_argument("--topics", help="with FILE: comma-separated candidate topics")
    evaluate.add_argument(
        "--resegment",
        action="store_true",
        help="join pre-segmented tokens and segment them again with our tokenizer (raw text)",
    )
    evaluate.add_argument(
        "--learning-curve",
        action="store_true",
        help="department accuracy as the type table learns from more routed cases",
    )
    calibrate = nlp_commands.add_parser(
        "calibrate",
        help="choose nlp.calibration by cross-validation on the labelled training part",
    )
    calibrate.add_argument(
        "--errors", action="store_true", help="also list the misrouted training messages"
    )
    calibrate.add_argument(
        "--only",
        metavar="NAMES",
        help="search only these settings (comma-separated, e.g. life_sure,life_alone)",
    )
    return parser


def _names(raw: str | None) -> list[str] | None:
    return [name.strip() for name in raw.split(",") if name.strip()] if raw else None


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    # Each command imports what it needs when it runs: `classify` and `nlp` start without
    # loading the database layer, the channels and the scheduler.
    if args.command == "run":
        from bot import serve

        return serve.run(settings, args)
    if args.command in ("db", "invite", "report", "wechat") or (
        args.command == "nlp" and args.nlp_command == "train" and args.types
    ):
        from bot import admin

        if args.command == "nlp":
            return admin.train_types(settings, args)

        command = {
            "db": admin.db_upgrade,
            "invite": admin.invite,
            "report": admin.report,
            "wechat": admin.wechat_menu,
        }
        return command[args.command](settings, args)
    from bot.classifier import build_classifier
    from nlp import commands as nlp_commands

    if args.command == "classify":
        lines = args.file.open(encoding="utf-8") if args.file else sys.stdin
        with lines:
            nlp_commands.classify_stream(
                build_classifier(settings),
                lines,
                sys.stdout,
                _names(args.types),
                explain=args.explain,
            )
        return 0
    if args.nlp_command == "train" and args.labels:
        table = getattr(settings.nlp, LABEL_TABLES[args.labels])
        nlp_commands.train_label_command(args.labels, args.out or table, sys.stdout)
        return 0
    if args.nlp_command == "train":
        nlp_commands.train_command(args.data, args.out or settings.nlp.keyword_table, sys.stdout)
        return 0
    classifier = build_classifier(settings)
    if args.nlp_command == "calibrate":
        only = [name.strip() for name in (args.only or "").split(",") if name.strip()]
        nlp_commands.calibrate(classifier, sys.stdout, errors=args.errors, only=only)
    elif args.file is not None:
        nlp_commands.eval_command(
            classifier,
            args.file,
            sys.stdout,
            topics=_names(args.topics),
            resegment=args.resegment,
        )
    elif args.learning_curve:
        nlp_commands.learning_curve_command(classifier, sys.stdout)
    else:
        nlp_commands.routing_command(classifier, sys.stdout, topic_file=args.topics_file)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        configure_logging(args.log_level, settings.center.timezone)
        return _dispatch(settings, args)
    except ConfigError as exc:
        return _failed(str(exc), 2)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        problem = _problem(exc)
        if problem is None:
            raise
        log.debug("the failure in full", exc_info=True)
        return _failed(*problem)


def _problem(exc: Exception) -> tuple[str, int] | None:
    """What to say of a failure the user can mend, and the exit code; None for a bug (shown
    with its traceback). Checked here, on failure only: a command loads what it needs."""
    if isinstance(exc, OSError):  # a file, or a server out of reach
        return (f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)), 1
    if isinstance(exc, UnicodeDecodeError):
        return f"the input is not UTF-8 text ({exc.reason})", 1
    from nlp.dataset import BadInput
    from storage.db import SchemaOutdated

    if isinstance(exc, BadInput):
        return str(exc), 1
    if isinstance(exc, SchemaOutdated):
        return str(exc), 2
    return None


def _failed(problem: str, code: int) -> int:
    """Print each line of `problem` as the command's own, on stderr; return `code`."""
    for line in problem.splitlines():
        print(f"appealbot: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
