"""CPU time of the resident dialog itself, in-process (no messenger, no event loop): the six
turns of bench_telegram's resident script through `Dialog.handle`, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.bench_dialog [--residents 40] [--repeat 10]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

(`DATABASE_URL=postgresql://...` works as `--postgres`.) Each pass files one appeal per
resident, with new residents every pass; each step's figure is its fastest pass (the
process's CPU time, client side only on PostgreSQL), so a slow minute of a shared machine
does not count. Every resident reports the same problem at the same place, so from the
fourth appeal on the duplicate search finds its most (3) at the summary and on the card.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks.bench_telegram import built_app, databases, postgres_from_env
from handlers.dialog import Dialog
from messages.types import Inbound, Kind

STEPS = ("/new", "description", "skip photos", "location", "contact", "confirm")
DESCRIPTION = "小区门口的路灯坏了好几天，晚上很黑，请尽快修理。"


def script(user: int) -> list[Inbound]:
    """The turns of one resident filing one appeal, as the Telegram adapter makes them."""

    def turn(index: int, kind: Kind, **fields: Any) -> Inbound:
        uid = str(user)
        return Inbound("telegram", uid, uid, kind, message_id=f"{uid}-{index}", **fields)

    return [
        turn(0, Kind.COMMAND, text="new", args=""),
        turn(1, Kind.TEXT, text=DESCRIPTION),
        turn(2, Kind.BUTTON, text="skip"),
        turn(3, Kind.LOCATION, latitude=28.19, longitude=112.97),
        turn(4, Kind.CONTACT, phone=f"138{user % 10**8:08d}", own_contact=True),
        turn(5, Kind.BUTTON, text="confirm"),
    ]


def measure(dialog: Dialog, residents: int, repeat: int) -> list[float]:
    """Per step, the fastest pass's CPU ms per turn."""
    best = [float("inf")] * len(STEPS)
    for attempt in range(repeat + 1):  # the first pass warms up and does not count
        spent = [0.0] * len(STEPS)
        for resident in range(residents):
            for step, inbound in enumerate(script(1_000_000 * (attempt + 1) + resident)):
                started = time.process_time()
                dialog.handle(inbound)
                spent[step] += time.process_time() - started
        if attempt:
            best = [min(b, 1000 * s / residents) for b, s in zip(best, spent, strict=True)]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--postgres", default=postgres_from_env())
    args = parser.parse_args()
    print(f"{'database':<11}" + "".join(f"{s:>13}" for s in STEPS) + f"{'per turn':>11}")
    for name, database in databases(args):
        with database() as url, built_app(url) as app:
            best = measure(app.dialog, args.residents, args.repeat)
        cells = "".join(f"{b:>10.2f} ms" for b in best)
        print(f"{name:<11}{cells}{sum(best) / len(best):>8.2f} ms")


if __name__ == "__main__":
    main()
