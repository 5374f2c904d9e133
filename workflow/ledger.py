"""The 台账: which cases a person of the center may see, filtered, counted, sorted and paged.

Department staff see their department's cases; dispatchers, leaders and admins see all.
Every page, export and photo of the web console asks `visible` first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, cast, func, literal, or_, true, union_all
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import UnaryExpression
from sqlmodel import Session, col, select

from messages.catalog import CHANNEL, DISPOSITION, t
from nlp.types import Urgency
from storage.models import LEDGER_COLUMNS, Appeal, Attachment, Department
from storage.roles import Role
from storage.types import Epoch
from workflow.cards import mask_phone
from workflow.followup import deadline_flag
from workflow.lifecycle import FINISHED, OPEN, Actor, Status

PAGE_SIZE = 50
GROUPS = {"open": OPEN, "finished": FINISHED}  # 未办结, 已办结
FLAGS = ("yellow", "red")  # 临期, 超期 (workflow.followup.deadline_flag)
SORTS = ("newest", "oldest", "deadline")
CHOICES: dict[str, tuple[str, ...]] = {
    "status": (*GROUPS, *Status),
    "channel": tuple(CHANNEL),
    "disposition": tuple(DISPOSITION),
    "urgency": tuple(Urgency),
    "flag": FLAGS,
    "sort": SORTS,
}
PHONE_ROLES = frozenset({Role.DISPATCHER, Role.ADMIN})  # read residents' phones in full
YES = "1"  # a ticked box in the query string (重办, 举报)


@dataclass(frozen=True)
class Filters:
    """What the 台账 is narrowed to and how it is sorted; an empty field narrows nothing.
    Field names are the query string's parameter names."""

    status: str = ""  # a status, or a group of GROUPS
    appeal_type: str = ""
    category: str = ""
    department: str = ""  # a department's id
    grid: str = ""
    channel: str = ""
    disposition: str = ""
    urgency: str = ""
    flag: str = ""  # of FLAGS
    reopened: str = ""  # YES: 重办 (reopened at least once)
    whistleblowing: str = ""  # YES: 举报
    since: str = ""  # created on or after this local day (ISO date)
    until: str = ""  # created on or before this local day
    text: str = ""  # in the text or the number
    sort: str = "newest"

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> tuple[Filters, list[tuple[str, str]]]:
        """The filters a query string asks for, and the (name, value) pairs ignored as
        invalid (an unknown status, a date that is not one, ...)."""
        given: dict[str, str] = {}
        ignored: list[tuple[str, str]] = []
        for name in FIELDS:
            value = query.get(name, "").strip()
            if value and _valid(name, value):
                given[name] = value
            elif value:
                ignored.append((name, value))
        return cls(**given), ignored

    def params(self, **changes: str) -> dict[str, str]:
        """The query string of these filters with `changes` (e.g. page="2"), without empties."""
        values = dataclasses.asdict(self) | changes
        return {name: value for name, value in values.items() if value}


FIELDS = tuple(f.name for f in dataclasses.fields(Filters))


def _valid(name: str, value: str) -> bool:
    if name in CHOICES:
        return value in CHOICES[name]
    if name in ("reopened", "whistleblowing"):
        return value == YES
    if name == "department":
        return value.isdigit()
    if name in ("since", "until"):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
    return True


@dataclass(frozen=True)
class Rules:
    """What a view is computed under: the moment, the center's zone and the reminder share."""

    now: dt.datetime
    zone: ZoneInfo
    remind_at: float  # policy.follow_up.remind_at


@dataclass(frozen=True)
class Line:
    appeal: Appeal
    department: str
    flag: str  # "", "yellow", "red"


@dataclass(frozen=True)
class Page:
    lines: list[Line]
    total: int
    number: int  # 1-based
    pages: int
    # Per facet (a Filters field), how many cases each of its values has under the other
    # current filters: {"status": {"signed": 12, ...}, "department": {"3": 40, ...}, ...};
    # statuses also by group ("open", ...) and all of them ("").
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    departments: dict[str, str] = field(default_factory=dict)  # id -> name


def visible(actor: Actor, a: Any = Appeal) -> ColumnElement[bool]:
    """The cases `actor` may see on the console (of the Appeal table, or of `a`)."""
    if actor.role is Role.STAFF:
        own = col(a.department_id) == actor.department_id
        if not actor.on_duty:
            return own
        centers = and_(col(a.department_id).is_(None), col(a.status) != Status.SUBMITTED.value)
        return or_(own, centers)
    if actor.role in (Role.DISPATCHER, Role.LEADER, Role.ADMIN):
        return true()
    return col(a.id).is_(None)  # nobody else sees any case


def _ticks(a: Any, rules: Rules) -> dict[str, dict[str, ColumnElement[bool]]]:
    """The facets whose values are conditions (counted one by one): 临期/超期, 重办, 举报;
    `a` is the Appeal table or a narrow copy of it (see _counts)."""
    due = col(a.finish_due_at)
    still_open = col(a.status).in_(sorted(OPEN))
    # deadline_flag's "yellow": now >= created + (due - created) * remind_at, in seconds
    share = rules.remind_at
    reminded = Epoch(col(a.created_at)) * (1 - share) + Epoch(due) * share
    return {
        "flag": {
            "yellow": still_open & (due >= rules.now) & (reminded <= rules.now.timestamp()),
            "red": still_open & (due < rules.now),
        },
        "reopened": {YES: col(a.reopen_count) > 0},
        "whistleblowing": {YES: col(a.whistleblowing).is_(True)},
    }


def _facets(a: Any) -> dict[str, Any]:
    """The facets counted per value by grouping the cases."""
    return {
        "status": col(a.status),
        "appeal_type": col(a.appeal_type),
        "category": col(a.category),
        "department": col(a.department_id),
        "grid": col(a.grid),
        "channel": col(a.channel),
        "disposition": col(a.disposition),
        "urgency": col(a.urgency),
    }


def _conditions(
    a: Any, actor: Actor, filters: Filters, rules: Rules
) -> dict[str, ColumnElement[bool]]:
    """Each set filter's condition, by its name, and the viewer's visibility."""
    where = {"visible": visible(actor, a)}
    facets = _facets(a)
    for name in ("appeal_type", "category", "grid", "channel", "disposition", "urgency"):
        if value := getattr(filters, name):
            where[name] = facets[name] == value
    if filters.status:
        statuses = GROUPS.get(filters.status, {filters.status})
        where["status"] = col(a.status).in_(sorted(statuses))
    if filters.department:
        where["department"] = col(a.department_id) == int(filters.department)
    for name, conditions in _ticks(a, rules).items():
        if value := getattr(filters, name):
            where[name] = conditions[value]
    if filters.since:
        where["since"] = col(a.created_at) >= _midnight(filters.since, rules.zone)
    if filters.until:
        end = dt.date.fromisoformat(filters.until) + dt.timedelta(days=1)
        where["until"] = col(a.created_at) < _midnight(end.isoformat(), rules.zone)
    if filters.text:
        where["text"] = col(a.text).contains(filters.text, autoescape=True) | col(
            a.number
        ).contains(filters.text, autoescape=True)
    return where


def _midnight(day: str, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=zone)


def _order(sort: str) -> list[UnaryExpression[Any]]:
    if sort == "oldest":
        return [col(Appeal.created_at).asc(), col(Appeal.id).asc()]
    if sort == "deadline":
        return [col(Appeal.finish_due_at).asc().nulls_last(), col(Appeal.id).asc()]
    return [col(Appeal.created_at).desc(), col(Appeal.id).desc()]


def _counts(
    session: Session, actor: Actor, filters: Filters, rules: Rules
) -> tuple[int, dict[str, dict[str, int]]]:
    """The view's total, and per facet the cases of each value under the other current
    filters, in one statement. A text search reads the table once: the counts then read the
    matching cases' narrow columns (a materialized CTE) instead of the table again."""
    source: Any = Appeal
    if filters.text:
        where = _conditions(Appeal, actor, filters, rules)
        narrow = select(*(getattr(Appeal, name) for name in NARROW))
        matched = narrow.where(where["visible"], where["text"]).cte("matched")
        source = aliased(Appeal, matched.prefix_with("MATERIALIZED"))
        filters = dataclasses.replace(filters, text="")
    where = _conditions(source, actor, filters, rules)
    total = select(_label(""), _label(""), func.count()).select_from(source)
    arms = [total.where(*where.values())]
    facets, ticks = _facets(source), _ticks(source, rules)
    for facet, key in facets.items():
        grouped = select(_label(facet), cast(key, String), func.count()).group_by(key)
        arms.append(grouped.where(*_others(where, facet)))
    for facet, conditions in ticks.items():
        for value, condition in conditions.items():
            counted = select(_label(facet), _label(value), func.count()).select_from(source)
            arms.append(counted.where(*_others(where, facet), condition))
    counts: dict[str, dict[str, int]] = {name: {} for name in ("", *facets, *ticks)}
    for facet, value, count in session.execute(union_all(*arms)):
        counts[facet]["" if value is None else value] = count
    statuses = counts["status"]
    statuses[""] = sum(statuses.values())  # every status
    for group, members in GROUPS.items():
        statuses[group] = sum(statuses.get(status, 0) for status in members)
    return counts.pop("")[""], counts


# The columns the counts need (as the covering indexes hold them).
NARROW = ("id", "status", "finish_due_at", "department_id", *LEDGER_COLUMNS)


def _label(text: str) -> ColumnElement[str]:
    return cast(literal(text), String)


def _others(where: dict[str, ColumnElement[bool]], facet: str) -> list[ColumnElement[bool]]:
    return [condition for name, condition in where.items() if name != facet]


def page(session: Session, actor: Actor, filters: Filters, rules: Rules, number: int = 1) -> Page:
    where = _conditions(Appeal, actor, filters, rules)
    total, counts = _counts(session, actor, filters, rules)
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(max(1, number), pages)
    found = session.exec(
        select(Appeal)
        .where(*where.values())
        .order_by(*_order(filters.sort))
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    departments = department_names(session)
    lines = [_line(appeal, departments, rules) for appeal in found]
    return Page(lines, total, number, pages, counts, departments)


def lines(session: Session, actor: Actor, filters: Filters, rules: Rules) -> Iterator[Line]:
    """Every case of the view in its order (the export), read in batches."""
    where = _conditions(Appeal, actor, filters, rules)
    departments = department_names(session)
    query = select(Appeal).where(*where.values()).order_by(*_order(filters.sort))
    for appeal in session.exec(query.execution_options(yield_per=1000)):
        yield _line(appeal, departments, rules)


def _line(appeal: Appeal, departments: dict[str, str], rules: Rules) -> Line:
    department = departments.get(str(appeal.department_id), "")
    return Line(appeal, department, deadline_flag(appeal, rules.now, rules.remind_at))


def department_names(session: Session) -> dict[str, str]:
    return {str(row.id): row.name for row in session.exec(select(Department))}


def phone_for(actor: Actor, appeal: Appeal) -> str:
    """The resident's phone as `actor` may read it: whole for dispatchers and admins, masked
    for everyone else, and for others than those never a whistle-blower's (举报)."""
    if actor.role in PHONE_ROLES:
        return appeal.phone or ""
    if appeal.whistleblowing:
        return t("card.phone_secret")
    return mask_phone(appeal.phone)


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
