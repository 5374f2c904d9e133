"""Many cases at once for the dashboard's tests and benchmark: bulk inserts of appeals in
every state over the config's types and departments, with the ledger events a report reads
(dispatch, sign, resolve or answer, rate), deadlines, ratings, grids and channels."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

from sqlalchemy import insert, select

from bot.app import App
from storage.models import Appeal, AppealEvent, Department, Person
from workflow.followup import RATINGS

BATCH = 5000
GRIDS = [f"网格{n:02d}" for n in range(1, 21)]
CHANNELS = (("wechat", 5), ("web", 2), ("telegram", 1), ("console", 2))
STATES = (
    ("rated", 40),
    ("closed", 10),
    ("resolved", 15),
    ("answered", 3),
    ("signed", 12),
    ("dispatched", 10),
    ("reopened", 3),
    ("submitted", 2),
    ("withdrawn", 3),
    ("merged", 2),
)
SIGNED = {"rated", "closed", "resolved", "signed", "reopened"}
FINISHED = {"rated", "closed", "resolved"}


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


def seed_cases(app: App, count: int, *, until: dt.datetime, days: int, seed: int = 0) -> None:
    """`count` cases received in the `days` days before `until`, most in working hours."""
    rng = random.Random(seed)
    zone = app.dialog.policy.calendar.zone
    with app.engine.begin() as connection:
        departments = dict(connection.execute(select(Department.name, Department.id)).all())
        townships = [d.name for d in app.settings.departments if d.kind == "township"]
        resident = connection.execute(
            insert(Person).returning(Person.id),
            [
                {
                    "channel": "console",
                    "external_id": f"seed-{seed}",
                    "role": "resident",
                    "unreachable": False,
                    "created_at": until,
                }
            ],
        ).scalar_one()
        numbers: Counter[str] = Counter()
        for done in range(0, count, BATCH):
            appeals, plans = [], []
            for _ in range(min(BATCH, count - done)):
                spec = rng.choice(app.settings.types)
                name = spec.department if "{" not in spec.department else rng.choice(townships)
                hour = rng.choices(range(24), [1] * 7 + [6] * 11 + [2] * 6)[0]
                created = (until - dt.timedelta(days=rng.uniform(0, days))).astimezone(zone)
                created = created.replace(hour=hour).astimezone(dt.UTC)
                if created >= until:
                    created -= dt.timedelta(days=1)
                day = created.astimezone(zone).strftime("%Y%m%d")
                numbers[day] += 1
                status = _pick(rng, STATES)
                rating = rng.choices(RATINGS, [7, 2, 1])[0] if status == "rated" else None
                appeals.append(
                    {
                        "number": f"SQ{day}-{5000 + numbers[day]}",
                        "status": status,
                        "channel": _pick(rng, CHANNELS),
                        "resident_id": resident,
                        "text": "种子诉求",
                        "appeal_type": spec.name,
                        "category": spec.category,
                        "disposition": spec.disposition.value,
                        "department_id": None if status == "submitted" else departments[name],
                        "urgency": "normal",
                        "confidence": 0.9,
                        "keywords": [spec.name],
                        "needs_triage": False,
                        "suggestions": [],
                        "grid": rng.choice([*GRIDS, None]),
                        "reopen_count": 1 if status == "reopened" else 0,
                        "rating": rating,
                        "whistleblowing": False,
                        "accept_due_at": created + dt.timedelta(days=1),
                        "finish_due_at": created + dt.timedelta(days=3),
                        "reply_due_at": created + dt.timedelta(days=4),
                        "created_at": created,
                        "updated_at": created,
                    }
                )
                plans.append((status, created))
            ids = connection.execute(
                insert(Appeal).returning(Appeal.id, sort_by_parameter_order=True), appeals
            ).scalars()
            events = [
                event
                for appeal_id, (status, created) in zip(ids, plans, strict=True)
                for event in _events(rng, appeal_id, status, created)
            ]
            connection.execute(insert(AppealEvent), events)


def _events(
    rng: random.Random, appeal_id: int, status: str, created: dt.datetime
) -> list[dict[str, Any]]:
    def event(action: str, to: str, hours: float) -> dict[str, Any]:
        return {
            "appeal_id": appeal_id,
            "actor_role": "system",
            "action": action,
            "to_status": to,
            "created_at": created + dt.timedelta(hours=hours),
        }

    made = [event("submit", "submitted", 0)]
    if status == "answered":
        return [*made, event("answer", "answered", 0.1)]
    if status != "submitted":
        made.append(event("dispatch", "dispatched", 0.01))
    if status in SIGNED:
        made.append(event("sign", "signed", rng.uniform(0.2, 30)))
    if status in FINISHED:
        made.append(event("resolve", "resolved", rng.uniform(30, 90)))
    if status == "rated":
        made.append(event("rate", "rated", rng.uniform(90, 120)))
    return made
