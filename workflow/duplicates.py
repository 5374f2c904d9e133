"""Likely duplicates: the same resident, or similar text near the same place, lately."""

from __future__ import annotations

import datetime as dt
import math

from sqlmodel import Session, col, select

from storage.models import Appeal
from workflow.lifecycle import Status

NEARBY_METRES = 300.0
SIMILAR = 0.5  # share of keywords in common (Jaccard)
LIVE = [s.value for s in Status if s not in (Status.MERGED, Status.WITHDRAWN)]


def _metres(a: Appeal, b: Appeal) -> float | None:
    if None in (a.latitude, a.longitude, b.latitude, b.longitude):
        return None
    assert a.latitude is not None and a.longitude is not None  # noqa: S101 - checked above
    assert b.latitude is not None and b.longitude is not None  # noqa: S101
    lat = math.radians((a.latitude + b.latitude) / 2)
    dy = (a.latitude - b.latitude) * 111_320
    dx = (a.longitude - b.longitude) * 111_320 * math.cos(lat)
    return math.hypot(dx, dy)


def _near(a: Appeal, b: Appeal) -> bool:
    metres = _metres(a, b)
    if metres is not None:
        return metres <= NEARBY_METRES
    if a.address and b.address:
        return a.address == b.address
    return bool(a.grid) and a.grid == b.grid


def similar(a: list[str], b: list[str]) -> bool:
    left, right = set(a), set(b)
    return bool(left and right) and len(left & right) / len(left | right) >= SIMILAR


def likely_duplicates(
    session: Session, appeal: Appeal, *, now: dt.datetime, days: int
) -> list[Appeal]:
    """Earlier live appeals that are probably about the same problem, newest first."""
    query = (
        select(Appeal)
        .where(
            Appeal.created_at >= now - dt.timedelta(days=days),
            col(Appeal.status).in_(LIVE),
            Appeal.number != appeal.number,
        )
        .order_by(col(Appeal.created_at).desc())
        .limit(200)
    )
    found = []
    for other in session.exec(query):
        same_resident = appeal.resident_id is not None and other.resident_id == appeal.resident_id
        if (same_resident or _near(appeal, other)) and similar(appeal.keywords, other.keywords):
            found.append(other)
    return found[:3]
