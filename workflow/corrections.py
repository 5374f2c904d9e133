"""The center's routing corrections, read from the ledger: labelled examples for training.

A case a person (not the system) dispatched — a triaged case routed by hand, a returned or
mis-sorted case sent elsewhere — says which department its text belongs to. The last such
dispatch of a case counts.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.models import Appeal, AppealEvent
from storage.roles import Role
from workflow.lifecycle import Action


def routing_corrections(session: Session) -> list[tuple[str, str]]:
    """(text, department) of every case a person dispatched, oldest first."""
    rows = session.exec(
        select(AppealEvent.appeal_id, Appeal.text, AppealEvent.note)
        .join(Appeal, col(Appeal.id) == AppealEvent.appeal_id)
        .where(AppealEvent.action == Action.DISPATCH, AppealEvent.actor_role != Role.SYSTEM)
        .order_by(col(AppealEvent.id))
    )
    last: dict[int, tuple[str, str]] = {}
    for appeal_id, text, department in rows:
        if department:
            last[appeal_id] = (text, department)
    return list(last.values())
