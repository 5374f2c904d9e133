"""The 台账: which cases a person of the center may see, filtered, sorted and paged.

Department staff see their department's cases; dispatchers, leaders and admins see all.
Every page, export and photo of the web console asks `visible` first.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, true
from sqlmodel import Session, col, select

from storage.models import Appeal, Attachment
from storage.roles import Role
from workflow.lifecycle import Actor

PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    """What the 台账 is narrowed to; an empty field narrows nothing."""

    status: str = ""
    text: str = ""


@dataclass(frozen=True)
class Page:
    cases: list[Appeal]
    total: int
    number: int  # 1-based
    pages: int


def visible(actor: Actor) -> ColumnElement[bool]:
    """The cases `actor` may see on the console."""
    if actor.role is Role.STAFF:
        return col(Appeal.department_id) == actor.department_id
    if actor.role in (Role.DISPATCHER, Role.LEADER, Role.ADMIN):
        return true()
    return col(Appeal.id).is_(None)  # nobody else sees any case


def _where(actor: Actor, filters: Filters) -> list[ColumnElement[bool]]:
    where = [visible(actor)]
    if filters.status:
        where.append(col(Appeal.status) == filters.status)
    if filters.text:
        pattern = f"%{filters.text}%"
        where.append(col(Appeal.text).like(pattern) | col(Appeal.number).like(pattern))
    return where


def page(session: Session, actor: Actor, filters: Filters, number: int = 1) -> Page:
    where = _where(actor, filters)
    total = session.exec(select(func.count()).select_from(Appeal).where(*where)).one()
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(max(1, number), pages)
    query = (
        select(Appeal)
        .where(*where)
        .order_by(col(Appeal.created_at).desc(), col(Appeal.id).desc())
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return Page(list(session.exec(query)), total, number, pages)


def case(session: Session, actor: Actor, number: str) -> Appeal | None:
    """The case numbered `number` if `actor` may see it (else None, as if it did not exist)."""
    query = select(Appeal).where(Appeal.number == number, visible(actor))
    return session.exec(query).first()


def attachment(session: Session, actor: Actor, attachment_id: int) -> Attachment | None:
    """A photo of a case `actor` may see (else None, as if it did not exist)."""
    query = (
        select(Attachment)
        .join(Appeal, col(Appeal.id) == col(Attachment.appeal_id))
        .where(col(Attachment.id) == attachment_id, visible(actor))
    )
    return session.exec(query).first()
