"""Benchmark: the web dashboard over 100,000 cases, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.bench_dashboard [--cases 100000] [--days 365] [--repeat 5]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

(`DATABASE_URL=postgresql://...` works as `--postgres`.) Seeds the cases by bulk inserts
(tests/report_seed.py: every state, the config's types and departments, the ledger events a
report reads) spread over the `--days` before now, then asks the real app over HTTP, signed
in as a leader (every case) and as one department's staff (its cases), for the last complete
month, this month so far and the whole span, and for the month's Excel workbook. Prints
each page's median and slowest answer and its CPU time (a shared machine's load shows in
the first, not the last), and the month's figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

import httpx

from benchmarks.bench_telegram import built_app, databases, postgres_from_env
from bot.app import App
from scheduler.reports import RANGE, build_report, percent
from storage.db import transaction
from storage.roles import Role
from storage.types import utcnow
from tests.report_seed import seed_cases
from tests.web_helpers import served, staff_member
from workflow import signin


def _client(app: App, base: str, role: Role, department: str | None = None) -> httpx.Client:
    with transaction(app.sessions) as session:
        person = staff_member(session, role, name=f"bench-{role.value}", department=department)
        token = signin.create_link(session, person)
    client = httpx.Client(base_url=base, timeout=60)
    if client.post(f"/signin/{token}").status_code != 303:
        raise RuntimeError("the sign-in link was refused")
    return client


def _time(
    client: httpx.Client, path: str, repeat: int
) -> tuple[float, float, float, httpx.Response]:
    """The median and slowest answer, and the median CPU time this process spent on it (the
    server runs in a thread of this process; on PostgreSQL the server's side is not in it)."""
    times, cpu = [], []
    for _ in range(repeat):
        started, used = time.perf_counter(), time.process_time()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        response.raise_for_status()
    return statistics.median(times), max(times), statistics.median(cpu), response


def measure(name: str, url: str | None, args: argparse.Namespace) -> None:
    with built_app(url) as app:
        now = utcnow()
        started = time.perf_counter()
        seed_cases(app, args.cases, until=now, days=args.days)
        print(f"{name}: {args.cases:,} cases seeded in {time.perf_counter() - started:.1f} s")
        today = app.dialog.policy.calendar.local_day(now)
        last = today.replace(day=1) - dt.timedelta(days=1)
        whole = (today - dt.timedelta(days=args.days)).isoformat()
        month = f"period=range&from={last.replace(day=1)}&to={last}"
        pages = [
            ("leader", "last month", f"/dashboard?{month}"),
            ("leader", "this month", "/dashboard?period=month"),
            ("leader", f"{args.days} days", f"/dashboard?period=range&from={whole}&to={today}"),
            ("leader", "last month .xlsx", f"/dashboard.xlsx?{month}"),
            ("住建局", "last month", f"/dashboard?{month}"),
        ]
        with served(app) as base:
            clients = {
                "leader": _client(app, base, Role.LEADER),
                "住建局": _client(app, base, Role.STAFF, "住建局"),
            }
            for who, what, path in pages:
                median, slowest, cpu, response = _time(clients[who], path, args.repeat)
                print(
                    f"  {who:6} {what:17} median {median * 1000:6.0f} ms, "
                    f"slowest {slowest * 1000:6.0f} ms, CPU {cpu * 1000:5.0f} ms "
                    f"({len(response.content):,} bytes)"
                )
            for client in clients.values():
                client.close()
        _print_figures(app, last)


def _print_figures(app: App, last: dt.date) -> None:
    with app.sessions() as session:
        report = build_report(
            session,
            period=RANGE,
            now=utcnow(),
            calendar=app.dialog.policy.calendar,
            remind_at=app.settings.follow_up.remind_at,
            day=last.replace(day=1),
            last=last,
        )
    print(
        f"  last month: received {report.received:,}, 办结率 {percent(report.finish_rate)}, "
        f"按期办结率 {percent(report.on_time_rate)}, 响应率 {percent(report.response_rate)}, "
        f"满意率 {percent(report.satisfaction_rate)}, overdue listed {len(report.overdue):,}, "
        f"departments {len(report.departments)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365, help="the span the cases are spread over")
    parser.add_argument("--repeat", type=int, default=5, help="requests of each page")
    parser.add_argument(
        "--postgres",
        default=postgres_from_env(),
        help="also measure on this PostgreSQL database (default: $DATABASE_URL)",
    )
    args = parser.parse_args()
    for name, context in databases(args):
        with context() as url:
            measure(name, url, args)


if __name__ == "__main__":
    main()
