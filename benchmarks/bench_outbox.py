"""Benchmark: how long residents' notices wait behind a department group's cards.

    python -m benchmarks.bench_outbox [--cards 40] [--residents 5]

`cards` cards queued for one department group (Telegram lets 20 a minute into a group, 3 at
once), then one notice for each of `residents` residents, all due; one outbox drain sends
them through the real rate limiter with Telegram's limits on a fake clock
(tests/virtual_time.py), so the figures are Telegram time, not this machine's. Prints when
the last resident's notice and the group's last card went out, and the drain's wall time
(mostly the fake clock's grace for the drain's threads, 0.1 s a jump).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from scheduler.outbox import drain
from storage.db import make_engine, session_factory, upgrade
from storage.models import Outbox
from storage.types import utcnow
from tests.virtual_time import LimitedSender, loop_in_thread

GROUP = "-1001"


def _row(key: str, chat_id: str, due: dt.datetime) -> dict[str, object]:
    return {
        "key": key,
        "channel": "telegram",
        "chat_id": chat_id,
        "message": "notify.dispatched",
        "params": {"number": key, "department": "住建局"},
        "options": [],
        "created_at": due,
        "next_attempt_at": due,
        "attempts": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cards", type=int, default=40)
    parser.add_argument("--residents", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        start = utcnow() - dt.timedelta(minutes=1)
        rows = [
            _row(f"card{i}", GROUP, start + dt.timedelta(milliseconds=i))
            for i in range(args.cards)
        ]
        residents = [str(5000 + i) for i in range(args.residents)]
        rows += [_row(f"notice{chat}", chat, utcnow()) for chat in residents]
        with engine.begin() as connection:
            connection.execute(insert(Outbox), rows)
        with loop_in_thread() as loop:
            send = LimitedSender(loop)
            started = time.perf_counter()
            sent = drain(session_factory(engine), {"telegram": send})
            wall = time.perf_counter() - started
        engine.dispose()
    times = [at for chat in residents for at in send.times(chat)]
    notices = f"{max(times):6.1f} s" if len(times) == len(residents) else "  (not all sent)"
    print(
        f"{sent} sent: residents' notices out by {notices}, the group's last card at "
        f"{max(send.times(GROUP)):6.1f} s (Telegram time); drain wall time {wall:5.2f} s"
    )


if __name__ == "__main__":
    main()
