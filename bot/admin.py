"""The admin commands: `db upgrade`, `invite`, `report`, `wechat menu`, `web-login`."""

from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy import ColumnElement
from sqlmodel import select

from bot.app import build, database_url
from bot.channels.wechat import build_api, create_menu
from bot.channels.wechat_api import WechatApiError
from bot.settings import Settings, load_secrets
from messages.catalog import ROLE
from nlp.columns import columns
from scheduler.reports import RANGE, Report, build_report, department_scope, format_text
from storage.db import make_engine, transaction, upgrade
from storage.models import Appeal, Department
from storage.roles import Role
from storage.tokens import DatabaseTokenStore
from storage.types import utcnow
from workflow import signin, staff
from workflow.lifecycle import LifecycleError


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
    minutes = int(signin.LINK_TTL.total_seconds() // 60)
    print(f"One use, within {minutes} minutes.", file=sys.stderr)
    return 0
