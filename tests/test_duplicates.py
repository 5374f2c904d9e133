"""Likely duplicates: which earlier appeals count as the same problem, on both databases."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from bot.app import App
from storage.db import transaction
from storage.models import Appeal, Person
from storage.types import utcnow
from workflow.duplicates import likely_duplicates
from workflow.lifecycle import Status

KEYWORDS = ["井盖", "破损", "马路"]
LAT, LON = 30.2741, 120.1551  # about 111 m per 0.001 degree of latitude
_numbers = itertools.count(1)


def _appeal(session: Any, **fields: Any) -> Appeal:
    values: dict[str, Any] = {
        "number": f"SQ20261123-{next(_numbers):04d}",
        "status": Status.DISPATCHED.value,
        "channel": "telegram",
        "text": "马路上的井盖破损了",
        "category": "城乡建设",
        "disposition": "referral",
        "keywords": KEYWORDS,
        **fields,
    }
    if "resident_id" not in values:
        person = Person(channel="telegram", external_id=values["number"])
        session.add(person)
        session.flush()
        values["resident_id"] = person.id
    appeal = Appeal(**values)
    session.add(appeal)
    session.flush()
    return appeal


def test_same_problem_nearby_or_by_the_same_resident_is_found(any_app: App) -> None:
    with transaction(any_app.sessions) as session:
        near = _appeal(session, latitude=LAT + 0.002, longitude=LON)  # ~220 m
        _appeal(session, latitude=LAT + 0.004, longitude=LON)  # ~440 m: too far
        same_address = _appeal(session, address="幸福路12号")
        same_grid = _appeal(session, grid="G7")
        _appeal(session, grid="G8")
        _appeal(
            session,
            latitude=LAT,
            longitude=LON,
            keywords=["噪音", "广场舞"],
            text="广场舞的音响太吵了",
        )
        _appeal(session, latitude=LAT, longitude=LON, status=Status.WITHDRAWN.value)
        _appeal(session, latitude=LAT, longitude=LON, created_at=utcnow() - dt.timedelta(days=9))
        mine = _appeal(session, latitude=LAT + 0.1, longitude=LON)
        resident = mine.resident_id

        def found(**probe: Any) -> set[int | None]:
            appeal = _appeal(session, **probe)
            hits = likely_duplicates(session, appeal, now=utcnow(), days=7)
            session.delete(appeal)
            session.flush()
            return {hit.id for hit in hits}

        assert found(latitude=LAT, longitude=LON) == {near.id}
        assert found(address="幸福路12号") == {same_address.id}
        assert found(grid="G7") == {same_grid.id}
        assert found(resident_id=resident) == {mine.id}
        assert found(grid="G9") == set()


def test_at_most_three_newest_first(any_app: App) -> None:
    with transaction(any_app.sessions) as session:
        start = utcnow() - dt.timedelta(hours=5)
        earlier = [
            _appeal(session, grid="G1", created_at=start + dt.timedelta(hours=hour))
            for hour in range(5)
        ]
        probe = _appeal(session, grid="G1")
        hits = likely_duplicates(session, probe, now=utcnow(), days=7)
    assert [hit.id for hit in hits] == [appeal.id for appeal in earlier[::-1][:3]]


def test_one_generic_keyword_is_no_duplicate_but_a_clause_added_is(any_app: App) -> None:
    """A resident's unrelated case shares only 门口; the same words with a clause added
    share few keywords (the classifier picks others) but nearly all their characters."""
    with transaction(any_app.sessions) as session:
        gate = _appeal(session, keywords=["门口", "噪音"], text="小区门口的烧烤店噪音扰民")
        drain = _appeal(
            session,
            latitude=LAT,
            longitude=LON,
            keywords=["井盖", "门口"],
            text="小区门口的井盖破损了",
        )
        probe = _appeal(
            session,
            resident_id=gate.resident_id,
            latitude=LAT,
            longitude=LON,
            keywords=["井盖", "差点", "门口", "晚上", "掉进去"],
            text="小区门口的井盖破损了，晚上很黑，已经有小孩差点掉进去，希望尽快处理",
        )
        hits = likely_duplicates(session, probe, now=utcnow(), days=7)
    assert [(hit.id, hit.own) for hit in hits] == [(drain.id, False)]
