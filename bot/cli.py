"""The `appealbot` command line: the bot, its database, staff invites, reports and the
classifier's tools (every command is listed below; `appealbot COMMAND --help` for one)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.logs import configure_logging
from bot.settings import ConfigError, Settings, load_settings
from scheduler import PERIODS
from storage.roles import Role

if TYPE_CHECKING:
    from nlp.classifier import Classifier

PROG = "appealbot"
NO_INVITE = (Role.RESIDENT, Role.SYSTEM)
log = logging.getLogger(__name__)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# `nlp train --labels FIELD`: the learned table of that field of the labels, and its setting.
LABEL_TABLES = {"urgency": "urgency_table", "disposition": "disposition_table"}


Group = argparse._SubParsersAction  # the subcommands of a command


class _Commands:
    """The subcommands, each with its own --help (its one-line summary, then what more there
    is to say), and the list of them all that the top-level help ends with."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.top = self._subcommands(parser, "command")
        self.listed: list[tuple[str, str]] = []

    @staticmethod
    def _subcommands(parser: argparse.ArgumentParser, dest: str) -> Group[argparse.ArgumentParser]:
        return parser.add_subparsers(
            dest=dest, required=True, metavar="COMMAND", help="`COMMAND --help` for its options"
        )

    def group(self, name: str, summary: str) -> Group[argparse.ArgumentParser]:
        """A command of subcommands (`db upgrade`): they are listed, not the group."""
        return self._subcommands(self.top.add_parser(name, description=summary), f"{name}_command")

    def add(
        self,
        name: str,
        summary: str,
        details: str = "",
        *,
        within: Group[argparse.ArgumentParser] | None = None,
    ) -> argparse.ArgumentParser:
        """A command, or a subcommand `within` a group (also listed in the group's help)."""
        description = f"{summary[:1].upper()}{summary[1:]}. {details}".strip()
        parser = (
            within.add_parser(name, help=summary, description=description)
            if within is not None
            else self.top.add_parser(name, description=description)
        )
        self.listed.append((parser.prog.removeprefix(f"{PROG} "), summary))
        return parser

    def epilog(self) -> str:
        width = max(len(name) for name, _ in self.listed) + 2
        return "commands:\n" + "\n".join(
            f"  {name:<{width}}{summary}" for name, summary in self.listed
        )


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    commands = _Commands(parser)

    run = commands.add(
        "run",
        "start the enabled channels and the clock",
        "With no channel credentials, the console: a resident's dialog in this terminal.",
    )
    run.add_argument("--user", default="local", help="console: the resident's user id")
    run.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="text lines, or JSON lines for a log collector",
    )

    # Groups of one subcommand, without options of their own.
    for group, about, name, summary, details in (
        (
            "db",
            "The database schema.",
            "upgrade",
            "apply the database migrations",
            "`run` creates an empty database by itself and refuses an outdated one.",
        ),
        (
            "wechat",
            "The WeChat official account.",
            "menu",
            "create the WeChat official account's menu",
            "Needs WECHAT_APPID and WECHAT_APPSECRET.",
        ),
    ):
        commands.add(name, summary, details, within=commands.group(group, about))

    qr = commands.add(
        "qr",
        "make the printable QR poster (码上办) of a grid",
        "An A4 page: the center's name, a call to action, the grid, and the QR code of the "
        "mobile page with the grid's code (server.public_url/m/CODE). The grids are those "
        "of config.yaml (grids:). PDF and PNG need a Chinese font (fonts-noto-cjk).",
    )
    which = qr.add_mutually_exclusive_group(required=True)
    which.add_argument("--grid", help="the grid's name or code, e.g. 东湖3网格")
    which.add_argument("--all", action="store_true", help="one poster per grid of the config")
    qr.add_argument(
        "--out",
        help="the poster's file, .pdf, .png or .svg (default poster-CODE.pdf); with --all "
        "the folder (default .)",
    )
    qr.add_argument("--format", default="pdf", choices=("pdf", "png", "svg"), help="with --all")

    classify = commands.add(
        "classify",
        "classify texts (one per line, or JSONL)",
        'Prints one JSON line per input line, in order (an empty line: {"error": "empty"});'
        " the input's `id` is kept.",
    )
    classify.add_argument("file", nargs="?", type=Path, help="input file (default: stdin)")
    classify.add_argument("--types", help="comma-separated candidate appeal types")
    classify.add_argument(
        "--explain", action="store_true", help="add candidates, topic, intent and hazard"
    )

    invite = commands.add(
        "invite",
        "one-time codes that bind staff to roles",
        "Prints a new code; the person sends `/join CODE 姓名` to the bot.",
    )
    invite.add_argument("--role", choices=[r.value for r in Role if r not in NO_INVITE])
    invite.add_argument("--department", help="the department (staff, or a department group)")
    invite.add_argument("--grid", help="the grid code (grid workers)")
    invite.add_argument("--list", action="store_true", help="list the codes and their use")
    invite.add_argument("--revoke", metavar="CODE", help="revoke an unused code")

    web_login = commands.add(
        "web-login",
        "print a one-time sign-in link to the web console",
        "For a bound staff member by name (their /join name), or the console's own admin.",
    )
    web_login.add_argument("--name", help="the staff member (default: the console's admin)")
    backup = commands.add(
        "backup",
        "copy the database to a file while the bot runs",
        "SQLite: its online backup API; PostgreSQL: pg_dump's custom format (or, without "
        "pg_dump, the recipe). Photos are files under the data folder: copy them too.",
    )
    backup.add_argument("--out", type=Path, required=True, help="the new file")
    purge = commands.add(
        "purge",
        "anonymise finished cases past retention",
        "Their phone, place and photos go; the cases, their ledger and the figures stay.",
    )
    purge.add_argument(
        "--older-than", metavar="SPAN", help="e.g. 3y, 18m, 400d (default: privacy.retention)"
    )
    people = commands.group("person", "A resident's request for their data.")
    for name, summary in (
        ("export", "print everything held about the person with this phone, as JSON"),
        ("erase", "anonymise every case of the person with this phone and forget them"),
    ):
        request = commands.add(name, summary, within=people)
        request.add_argument("--phone", required=True, help="their phone, in any spelling")
        if name == "export":
            request.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")

    report = commands.add(
        "report",
        "print a day/week/month report, or write it as an Excel workbook",
        "By default today so far, the last complete week or the last complete month.",
    )
    report.add_argument("--period", choices=PERIODS, default="day")
    report.add_argument(
        "--date",
        type=_day,
        metavar="YYYY-MM-DD",
        help="the day, week or month that contains this day (today's: the current one so far)",
    )
    report.add_argument(
        "--from",
        dest="first",
        type=_day,
        metavar="YYYY-MM-DD",
        help="with --to: the days from this one to --to's, instead of a period",
    )
    report.add_argument("--to", dest="last", type=_day, metavar="YYYY-MM-DD")
    report.add_argument("--department", help="only this department's cases")
    report.add_argument("--format", choices=["text", "json", "xlsx"], default="text")
    report.add_argument("--out", type=Path, metavar="FILE", help="the workbook (--format xlsx)")

    nlp = commands.group("nlp", "The classifier's learned tables and its measures.")
    train = commands.add(
        "train",
        "rebuild a learned table from labeled data",
        "Writes --out PATH; only --in-place overwrites the table the config names.",
        within=nlp,
    )
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
    target = train.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, metavar="PATH", help="the table to write")
    target.add_argument(
        "--in-place",
        action="store_true",
        help="overwrite the table the config names (by default the packaged one)",
    )
    evaluate = commands.add(
        "eval",
        "measure what ships on our labelled test part, or the topics on a labeled file",
        within=nlp,
    )
    evaluate.add_argument("file", type=Path, nargs="?", help="topics: labeled CSV or JSONL")
    evaluate.add_argument(
        "--table",
        type=Path,
        metavar="PATH",
        help="a learned type, urgency or disposition table (e.g. from nlp train --out) "
        "in place of the configured one",
    )
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
    calibrate = commands.add(
        "calibrate",
        "choose nlp.calibration by cross-validation on the labelled training part",
        within=nlp,
    )
    calibrate.add_argument(
        "--errors", action="store_true", help="also list the misrouted training messages"
    )
    calibrate.add_argument(
        "--only",
        metavar="NAMES",
        help="search only these settings (comma-separated, e.g. life_sure,life_alone)",
    )
    parser.epilog = commands.epilog()
    return parser


def _names(raw: str | None) -> list[str] | None:
    return [name.strip() for name in raw.split(",") if name.strip()] if raw else None


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    # Each command imports what it needs when it runs: `classify` and `nlp` start without
    # loading the database layer, the channels and the scheduler.
    if args.command == "run":
        from bot import serve

        return serve.run(settings, args)
    if args.command == "qr":
        from bot import posters

        try:
            return posters.command(settings, args)
        except posters.PosterError as problem:
            return _failed(str(problem), 1)
    if args.command in (
        "db",
        "invite",
        "report",
        "wechat",
        "web-login",
        "backup",
        "purge",
        "person",
    ) or (args.command == "nlp" and args.nlp_command == "train" and args.types):
        from bot import admin

        if args.command == "nlp":
            return admin.train_types(settings, args)

        command = {
            "db": admin.db_upgrade,
            "invite": admin.invite,
            "report": admin.report,
            "wechat": admin.wechat_menu,
            "web-login": admin.web_login,
            "backup": admin.backup,
            "purge": admin.purge,
            "person": admin.person,
        }
        return command[args.command](settings, args)
    from bot.classifier import build_classifier
    from nlp import commands as nlp_commands

    if args.command == "classify":
        classifier = build_classifier(settings)
        types = _names(args.types)
        refused = nlp_commands.unknown_names(types, classifier.names, "appeal types")
        if refused:
            return _failed(refused, 2)
        lines = args.file.open(encoding="utf-8") if args.file else sys.stdin
        with lines:
            nlp_commands.classify_stream(
                classifier, lines, sys.stdout, types, explain=args.explain
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
        return 0
    return _evaluate(classifier, args)


def _evaluate(classifier: Classifier, args: argparse.Namespace) -> int:
    """`nlp eval`: what ships, its learning curve, or the topics on a labeled file."""
    from nlp import commands as nlp_commands
    from nlp.classifier import with_table

    if args.table is not None:
        try:
            classifier = with_table(classifier, args.table)
        except (OSError, ValueError) as exc:
            return _failed(str(exc), 2)
    topics = _names(args.topics)
    refused = nlp_commands.unknown_names(topics, classifier.topics.labels, "topics")
    if refused:
        return _failed(refused, 2)
    if args.file is not None:
        nlp_commands.eval_command(
            classifier, args.file, sys.stdout, topics=topics, resegment=args.resegment
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
        json_lines = getattr(args, "log_format", "text") == "json"  # an option of `run`
        configure_logging(args.log_level, settings.center.timezone, json_lines=json_lines)
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
