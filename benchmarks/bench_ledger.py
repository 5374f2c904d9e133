"""Benchmark: the 台账 page over HTTP with 100k cases, on SQLite and PostgreSQL.

    python -m benchmarks.bench_ledger [--cases 100000] [--rounds 30] [--postgres URL]

Seeds the cases in bulk (config.yaml's types, departments spread over a year, a fifth of them
open), signs a dispatcher and a department's staff in, and times GET /cases (the whole page:
filters, per-filter counts, 50 rows rendered) for a set of views; prints p50/p95 per view.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert, select

from bot.app import App, build
from bot.classifier import build_classifier
from bot.settings import Secrets, Settings, load_settings
from nlp.classifier import Classifier
from storage.db import transaction
from storage.models import Appeal, Department, Person
from storage.roles import Role
from storage.types import utcnow
from tests.postgres import scratch_schema
from tests.web_helpers import served
from web.layer import COOKIE
from workflow import signin
from workflow.lifecycle import FINISHED, OPEN, Status

ROOT = Path(__file__).resolve().parent.parent
BATCH = 10_000
TEXTS = (
    "小区门口有人占道经营摆摊卖菜，堵得车都过不去",
    "我们小区的物业一直不处理电梯故障，已经两周了",
    "路灯坏了一个月了，晚上出门很不安全",
    "楼下饭店油烟太大，窗户都不敢开",
    "公司拖欠了我三个月工资，老板联系不上",
)
VIEWS = {  # name: (who, query)
    "all, newest": ("dispatcher", ""),
    "open, one department": ("dispatcher", "status=open&department=3"),
    "超期, by deadline": ("dispatcher", "flag=red&sort=deadline"),
    "临期": ("dispatcher", "flag=yellow"),
    "category + one month": ("dispatcher", "category=市容环卫&since={month}&until={today}"),
    "text search": ("dispatcher", "text=电梯"),
    "重办 + 举报": ("dispatcher", "reopened=1&whistleblowing=1"),
    "page 100": ("dispatcher", "page=100"),
    "department staff, open": ("staff", "status=open"),
}


def _seed(app: App, settings: Settings, cases: int) -> dict[str, int]:
    """`cases` appeals in bulk; the ids of a dispatcher and a staff member of department 3."""
    rng = random.Random(15)  # noqa: S311 - made-up cases, not secrets
    now = utcnow()
    with transaction(app.sessions) as session:
        departments = {row.name: row.id for row in session.exec(select(Department)).scalars()}
        people = [
            Person(channel="console", external_id="bench-dispatcher", role=Role.DISPATCHER),
            Person(channel="console", external_id="bench-staff", role=Role.STAFF, department_id=3),
            Person(channel="console", external_id="bench-resident"),
        ]
        session.add_all(people)
        session.flush()
        ids = {"dispatcher": people[0].id, "staff": people[1].id}
        resident = people[2].id
    types = settings.types
    grids = [f"{town}第{n}网格" for town in ("城关", "东湖", "青山", "白云") for n in range(1, 11)]
    open_statuses, finished = sorted(OPEN), sorted(FINISHED)
    rows = []
    for i in range(cases):
        kind = rng.choice(types)
        created = now - dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
        status = rng.choice(open_statuses) if rng.random() < 0.2 else rng.choice(finished)
        department = departments.get(kind.department) or rng.choice(list(departments.values()))
        rows.append(
            {
                "number": f"SQ{created:%Y%m%d}-{i:06d}",
                "status": Status(status).value,
                "channel": rng.choice(("wechat", "web", "telegram", "console")),
                "resident_id": resident,
                "text": rng.choice(TEXTS) + f"（{i}）",
                "appeal_type": kind.name,
                "category": kind.category,
                "disposition": kind.disposition,
                "department_id": department,
                "urgency": "urgent" if rng.random() < 0.03 else "normal",
                "confidence": 0.9,
                "keywords": [],
                "needs_triage": False,
                "suggestions": [],
                "phone": f"138{i:08d}",
                "grid": rng.choice(grids),
                "reopen_count": 1 if rng.random() < 0.05 else 0,
                "whistleblowing": rng.random() < 0.02,
                "accept_due_at": created + dt.timedelta(days=1),
                "finish_due_at": created + dt.timedelta(days=rng.choice((1, 5, 15, 30))),
                "created_at": created,
                "updated_at": created,
            }
        )
    with app.engine.begin() as connection:
        for start in range(0, len(rows), BATCH):
            connection.execute(insert(Appeal), rows[start : start + BATCH])
    if app.engine.dialect.name == "postgresql":  # as autovacuum would after such a load
        with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE appeal")
    return {key: value for key, value in ids.items() if value is not None}


def _client(base: str, app: App, person_id: int) -> httpx.Client:
    with transaction(app.sessions) as session:
        person = session.get(Person, person_id)
        assert person is not None  # noqa: S101 - just seeded
        token = signin.create_link(session, person)
    client = httpx.Client(base_url=base, timeout=30)
    response = client.post(f"/signin/{token}")
    assert COOKIE in client.cookies, response.text  # noqa: S101 - signed in or nothing to time
    return client


def _measure(
    label: str, url: str, settings: Settings, classifier: Classifier, cases: int, rounds: int
) -> None:
    app = build(settings, Secrets(database_url=url), classifier)
    started = time.perf_counter()
    people = _seed(app, settings, cases)
    print(f"{label}: {cases} cases seeded in {time.perf_counter() - started:.1f} s")
    today = utcnow().date()
    dates = {"today": today.isoformat(), "month": (today - dt.timedelta(days=30)).isoformat()}
    with served(app) as base:
        clients = {who: _client(base, app, person) for who, person in people.items()}
        for view, (who, query) in VIEWS.items():
            path = "/cases?" + query.format(**dates)
            clients[who].get(path).raise_for_status()  # warm
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                response = clients[who].get(path)
                times.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            times.sort()
            p95 = times[max(0, round(0.95 * len(times)) - 1)]
            print(
                f"{label:10} {view:24} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms"
            )
        for client in clients.values():
            client.close()
    app.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--postgres", help="PostgreSQL URL, e.g. postgresql://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    settings = load_settings(ROOT / "config.yaml")
    classifier = build_classifier(settings)
    with tempfile.TemporaryDirectory() as tmp:
        settings.storage.data_dir = Path(tmp) / "data"
        if not args.no_sqlite:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            _measure("sqlite", url, settings, classifier, args.cases, args.rounds)
        if args.postgres:
            with scratch_schema(args.postgres, "bench") as url:
                _measure("postgresql", url, settings, classifier, args.cases, args.rounds)


if __name__ == "__main__":
    main()
