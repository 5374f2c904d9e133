"""The admin commands: `db upgrade`, `invite`, `report`, `wechat menu`, `web-login`,
`backup`, `purge`, `person export|erase`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import Session, select

from bot.app import build, database_url
from bot.channels.wechat import build_api, create_menu
from bot.channels.wechat_api import WechatApiError
from bot.settings import Settings, load_secrets
from handlers.form import callable_number
from messages.catalog import ROLE, t
from nlp.columns import columns
from scheduler.reports import RANGE, Report, build_report, department_scope, format_text
from storage.db import make_engine, transaction, upgrade
from storage.models import Appeal, Department
from storage.roles import Role
from storage.tokens import DatabaseTokenStore
from storage.types import utcnow
from workflow import privacy, signin, staff
from workflow.cards import mask_phone
from workflow.lifecycle import LifecycleError

log = logging.getLogger(__name__)
PG_DUMP_RECIPE = """\
pg_dump is not on PATH. Back up PostgreSQL with its own tools:
  pg_dump --format=custom --file appealbot.dump "$DATABASE_URL"
and restore into a fresh database:
  createdb appealbot_restored
  pg_restore --no-owner --dbname appealbot_restored appealbot.dump"""


def db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    upgrade(make_engine(database_url(settings, load_secrets(settings))))
    print("database schema is up to date")
    return 0


def invite(settings: Settings, args: argparse.Namespace) -> int:
    app = build(settings, load_secrets(settings))
    with transaction(app.sessions) as session:
        if args.list:
            names = {d.id: d.name for d in session.exec(select(Department))}
            rows = [
                [
                    row.code,
                    row.role,
                    names.get(row.department_id, "") or row.grid or "",
                    "revoked"
                    if row.revoked
                    else f"used by {row.used_by}"
                    if row.used_at
                    else "unused",
                ]
                for row in staff.invites(session)
            ]
            for line in columns(rows, "<<<<"):
                print(line)
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
    print(
        f"The person sends, in a private chat with the bot: /join {code} 姓名"
        + (
            f"\n(or, to bind a department's group: /bind {code} in that group)"
            if args.department
            else ""
        ),
        file=sys.stderr,
    )
    return 0


def report(settings: Settings, args: argparse.Namespace) -> int:
    if (args.first is None) != (args.last is None) or (args.first and args.date):
        print("appealbot: --from and --to go together, instead of --date", file=sys.stderr)
        return 2
    if args.first is not None and args.last < args.first:
        print("appealbot: --to is before --from", file=sys.stderr)
        return 2
    if (args.format == "xlsx") != (args.out is not None):
        print("appealbot: --out FILE goes with --format xlsx", file=sys.stderr)
        return 2
    app = build(settings, load_secrets(settings))
    now = utcnow()
    with app.sessions() as session:
        scope = None
        if args.department is not None:
            scope = department_scope(session, args.department)
            if scope is None:
                print(f"appealbot: no department named {args.department}", file=sys.stderr)
                return 2
        if session.exec(select(Appeal.id).limit(1)).first() is None:
            # Said apart from the report (JSON stays JSON): a report of nothing at all is
            # often a report of the wrong database.
            print(f"appealbot: 数据库中还没有诉求（{app.engine.url!r}）", file=sys.stderr)

        def make(scope: ColumnElement[bool] | None) -> Report:
            return build_report(
                session,
                period=args.period if args.first is None else RANGE,
                now=now,
                calendar=app.dialog.policy.calendar,
                remind_at=settings.follow_up.remind_at,
                day=args.first or args.date,
                last=args.last,
                scope=scope,
            )

        if args.format == "xlsx":
            from web.period_book import period_book
            from web.sheets import content

            book, _ = period_book(session, make, scope)
            args.out.write_bytes(content(book))
            return 0
        report = make(scope)
    if args.format == "json":
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        print(format_text(report))
    return 0


def wechat_menu(settings: Settings, args: argparse.Namespace) -> int:
    secrets = load_secrets(settings)
    store = DatabaseTokenStore(build(settings, secrets).sessions)
    try:
        menu = create_menu(build_api(settings.channels.wechat, secrets, store=store))
    except WechatApiError as exc:
        print(f"appealbot: WeChat refused the menu: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(menu, ensure_ascii=False, indent=2))
    return 0


def train_types(settings: Settings, args: argparse.Namespace) -> int:
    """`nlp train --types [--from-ledger]`: the type table from our labels and the ledger."""
    from bot.classifier import build_classifier
    from nlp.commands import corrections_as_examples, train_types_command
    from workflow.corrections import routing_corrections

    classifier = build_classifier(settings)
    corrections = []
    if args.from_ledger:
        app = build(settings, load_secrets(settings), classifier)
        with app.sessions() as session:
            corrections = corrections_as_examples(classifier, routing_corrections(session))
    train_types_command(args.out or settings.nlp.type_table, sys.stdout, corrections=corrections)
    return 0


def web_login(settings: Settings, args: argparse.Namespace) -> int:
    app = build(settings, load_secrets(settings))
    with transaction(app.sessions) as session:
        if args.name is None:
            people = [signin.console_admin(session, ROLE[Role.ADMIN])]
        else:
            people = signin.staff_named(session, args.name)
        if len(people) != 1:
            problem = "no bound staff member" if not people else f"{len(people)} staff members"
            print(f"appealbot: {problem} named {args.name}", file=sys.stderr)
            return 1
        token = signin.create_link(session, people[0])
    print(f"{settings.server.url}/signin/{token}")
    print(f"One use, within {signin.LINK_MINUTES} minutes.", file=sys.stderr)
    return 0


def backup(settings: Settings, args: argparse.Namespace) -> int:
    """A consistent copy of the database while the bot runs: SQLite's online backup, or
    pg_dump (its custom format, for pg_restore) when PostgreSQL's tools are installed."""
    out: Path = args.out
    if out.exists():
        print(f"appealbot: {out} exists; give a new file", file=sys.stderr)
        return 2
    engine = make_engine(database_url(settings, load_secrets(settings)))
    url = engine.url
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
        target = sqlite3.connect(out)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        print(f"backed up {url.database} to {out}")
        return 0
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        print(PG_DUMP_RECIPE, file=sys.stderr)
        return 1
    # The connection goes in libpq's variables, so that no password shows in `ps`.
    connection = {
        "PGHOST": url.host,
        "PGPORT": url.port,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    env = {**os.environ, **{name: str(value) for name, value in connection.items() if value}}
    done = subprocess.run(  # noqa: S603 - our own arguments
        [pg_dump, "--format=custom", "--file", str(out)], env=env, check=False
    )
    if done.returncode == 0:
        print(f"backed up {url.render_as_string(hide_password=True)} to {out}")
    return done.returncode


def purge(settings: Settings, args: argparse.Namespace) -> int:
    """Anonymise the finished cases past retention (`--older-than`, else the config's)."""
    span = args.older_than or settings.privacy.retention
    try:
        before = privacy.span_start(span, utcnow())
    except ValueError as exc:
        print(f"appealbot: --older-than: {exc}", file=sys.stderr)
        return 2
    app = build(settings, load_secrets(settings))
    with transaction(app.sessions) as session:
        removed = privacy.purge(session, before=before, reason=t("note.retention", span=span))
        files = _removed(session, "purge", removed, older_than=span, before=before.isoformat())
    print(
        f"{len(removed.numbers)} case(s) unchanged since {before:%Y-%m-%d} anonymised, "
        f"{files} photo file(s) deleted"
    )
    return 0


def _removed(session: Session, action: str, removed: privacy.Removed, **detail: Any) -> int:
    """Record the run (audit row and log line) and delete the photo files no case needs;
    how many were deleted. Called inside the run's transaction: a file is deleted only if
    the rows are gone (a failure to commit after it leaves a row without its photo)."""
    files = privacy.unused_files(session, removed.files)
    privacy.audit(session, action, cases=removed.numbers, files=len(files), **detail)
    session.flush()
    for path in files:
        Path(path).unlink(missing_ok=True)
    log.info(
        "%s: %d case(s) anonymised %s, %d photo file(s) deleted",
        action,
        len(removed.numbers),
        removed.numbers,
        len(files),
    )
    return len(files)


def person(settings: Settings, args: argparse.Namespace) -> int:
    """`person export|erase --phone P`: a resident's request for the data held about them."""
    phone = callable_number(args.phone)
    if phone is None:
        print(
            f"appealbot: --phone: not a mobile or landline number: {args.phone!r}", file=sys.stderr
        )
        return 2
    app = build(settings, load_secrets(settings))
    shown = mask_phone(phone)
    if args.person_command == "erase":
        with transaction(app.sessions) as session:
            removed = privacy.erase(session, phone, reason=t("note.erased"))
            files = _removed(session, "person_erase", removed, phone=shown)
        print(
            f"{shown}: {len(removed.numbers)} case(s) anonymised, {files} photo file(s) "
            "deleted, the person forgotten on every channel"
        )
        return 0
    with transaction(app.sessions) as session:
        held = privacy.held_about(session, phone)
        numbers = [appeal["number"] for appeal in held["appeals"]]
        privacy.audit(session, "person_export", phone=shown, cases=numbers)
        log.info("person_export: %s, %d case(s) %s", shown, len(numbers), numbers)
    text = json.dumps(held, ensure_ascii=False, indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"{shown}: written to {args.out}", file=sys.stderr)
    return 0
