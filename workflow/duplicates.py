"""Likely duplicates: the same resident, or similar text near the same place, lately.

Similar: two or more keywords in common and half of all (Jaccard), or nearly all the
character pairs of the shorter text found in the longer one (the same words with a clause
added). One shared keyword is not enough: 门口, 小区 or 老人 alone say nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, and_, false, inspect, or_, select
from sqlmodel import Session, col

from storage.models import Appeal
from workflow.lifecycle import Status

NEARBY_METRES = 300.0
SIMILAR = 0.5  # share of keywords in common (Jaccard)
SHARED_KEYWORDS = 2
SAME_WORDS = 0.6  # share of the shorter text's character pairs found in the longer one
MAX_FOUND = 3
APPEALS = inspect(Appeal).local_table
LIVE = [s.value for s in Status if s not in (Status.MERGED, Status.WITHDRAWN)]


class Place(Protocol):
    """Where an appeal is (an Appeal, or a row of just these columns)."""

    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...
    @property
    def address(self) -> str | None: ...
    @property
    def grid(self) -> str | None: ...


class Case(Place, Protocol):
    """What the search compares: an Appeal, or a `Probe` for a problem being filed."""

    @property
    def number(self) -> str: ...
    @property
    def resident_id(self) -> int | None: ...
    @property
    def keywords(self) -> list[str]: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Probe:
    """A problem not filed yet, to search for before it is (no number)."""

    resident_id: int | None
    keywords: list[str]
    latitude: float | None
    longitude: float | None
    address: str | None
    grid: str | None
    text: str
    number: str = ""


@dataclass(frozen=True)
class Duplicate:
    """A likely duplicate, as much of it as callers show."""

    id: int
    number: str
    status: str
    own: bool  # the same resident's (else someone else's at the same place)


def _metres(a: Place, b: Place) -> float | None:
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    assert a.latitude is not None and a.longitude is not None  # noqa: S101 - checked above
    assert b.latitude is not None and b.longitude is not None  # noqa: S101
    lat = math.radians((a.latitude + b.latitude) / 2)
    dy = (a.latitude - b.latitude) * 111_320
    dx = (a.longitude - b.longitude) * 111_320 * math.cos(lat)
    return math.hypot(dx, dy)


def _near(a: Place, b: Place) -> bool:
    metres = _metres(a, b)
    if metres is not None:
        return metres <= NEARBY_METRES
    if a.address and b.address:
        return a.address == b.address
    return bool(a.grid) and a.grid == b.grid


def _pairs(text: str) -> set[str]:
    chars = [char for char in text if char.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)}


def similar(a: Case, b: Case) -> bool:
    left, right = set(a.keywords), set(b.keywords)
    shared = len(left & right)
    if shared >= SHARED_KEYWORDS and shared / len(left | right) >= SIMILAR:
        return True
    first, second = _pairs(a.text), _pairs(b.text)
    shorter = min(len(first), len(second))
    return shorter > 0 and len(first & second) / shorter >= SAME_WORDS


def _maybe_near(appeal: Case) -> ColumnElement[bool]:
    """SQL for "same resident or possibly near": a superset of what `_near` accepts (a box
    around the location, the same address, the same grid), so the database drops the rest."""
    conditions: list[ColumnElement[bool]] = []
    if appeal.resident_id is not None:
        conditions.append(col(Appeal.resident_id) == appeal.resident_id)
    if appeal.latitude is not None and appeal.longitude is not None:
        dlat = NEARBY_METRES / 111_320
        dlon = dlat / max(math.cos(math.radians(appeal.latitude)), 0.01)
        conditions.append(
            and_(
                col(Appeal.latitude).between(appeal.latitude - dlat, appeal.latitude + dlat),
                col(Appeal.longitude).between(appeal.longitude - dlon, appeal.longitude + dlon),
            )
        )
    if appeal.address:
        conditions.append(col(Appeal.address) == appeal.address)
    if appeal.grid:
        conditions.append(col(Appeal.grid) == appeal.grid)
    return or_(false(), *conditions)


def likely_duplicates(
    session: Session, appeal: Case, *, now: dt.datetime, days: int
) -> list[Duplicate]:
    """Earlier live appeals that are probably about the same problem, newest first."""
    # Columns of the table, not of the ORM entity: a Core query's rows are fetched and
    # decoded as the loop takes them, where the ORM would load all of them (up to the limit)
    # before the loop stops at MAX_FOUND.
    query = (
        select(
            APPEALS.c.id,
            APPEALS.c.number,
            APPEALS.c.status,
            APPEALS.c.resident_id,
            APPEALS.c.latitude,
            APPEALS.c.longitude,
            APPEALS.c.address,
            APPEALS.c.grid,
            APPEALS.c.keywords,
            APPEALS.c.text,
        )
        .where(
            col(Appeal.created_at) >= now - dt.timedelta(days=days),
            col(Appeal.status).in_(LIVE),
            col(Appeal.number) != appeal.number,
            _maybe_near(appeal),
        )
        .order_by(col(Appeal.created_at).desc())
        .limit(200)
    )
    found: list[Duplicate] = []
    for other in session.connection().execute(query):
        same_resident = appeal.resident_id is not None and other.resident_id == appeal.resident_id
        if (same_resident or _near(appeal, other)) and similar(appeal, other):
            found.append(Duplicate(other.id, other.number, other.status, same_resident))
            if len(found) == MAX_FOUND:
                break
    return found
