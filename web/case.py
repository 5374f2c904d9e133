"""The case page: one case the viewer may see — text, photos, place, the resident as the
viewer may see them, why it was sorted so, deadlines, the whole ledger, likely duplicates —
and the forms of what the viewer may do to it now. A form's action goes through
workflow.staff, which checks the viewer's role and the case's state again; a refusal changes
nothing and the page says why. Photos are served only to those who may see their case."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from messages.catalog import ROLE, refused, t
from storage.files import FileRejected, StoredFile
from storage.models import Appeal, AppealEvent, Attachment, Person
from storage.roles import Role
from storage.types import utcnow
from web.layer import Site, Visit, not_found, page
from workflow import ledger, service, staff
from workflow.cards import local_deadline, mask_phone
from workflow.duplicates import likely_duplicates
from workflow.followup import deadline_flag, department_of
from workflow.lifecycle import OPEN, Action, LifecycleError, Status, allowed

log = logging.getLogger(__name__)

TIME = "%Y-%m-%d %H:%M"
MEGABYTE = 1024 * 1024
# The card's buttons (workflow.staff.card_options) that are lifecycle transitions; the
# others need only an open case.
TRANSITIONS = {
    "sign": Action.SIGN,
    "return": Action.RETURN,
    "resolve": Action.RESOLVE,
    "route": Action.DISPATCH,
    "merge": Action.MERGE,
}


def routes(site: Site) -> list[BaseRoute]:
    return [
        Route("/cases/{number}", page(site, _case), methods=["GET", "POST"]),
        Route("/files/{attachment}", page(site, _file)),
    ]


@dataclass(frozen=True)
class Line:
    """One ledger event as the page shows it."""

    time: str
    action: str
    role: str
    name: str
    from_status: str | None
    to_status: str
    note: str | None


def offered(visit: Visit, appeal: Appeal) -> frozenset[str]:
    """The forms the viewer sees: the chat card's buttons that the case's state allows now,
    and the center's decision on a pending extension."""
    actor = visit.acting(appeal)
    pressed = {  # "route:N:部门" and "route_other:N" are both the one routing form
        value.partition(":")[0].removesuffix("_other")
        for _, value in staff.card_options(visit.db, appeal, actor)
    }
    if appeal.extension_days is not None and actor.role in staff.CENTER_ROLES:
        pressed.add("decide")
    still_open = Status(appeal.status) in OPEN
    return frozenset(
        action
        for action in pressed
        if (allowed(appeal, TRANSITIONS[action], actor) if action in TRANSITIONS else still_open)
    )


def _case(visit: Visit) -> Response:
    appeal = ledger.case(visit.db, visit.viewer.actor, visit.request.path_params["number"])
    if appeal is None:
        return not_found(visit)
    if visit.form is None:
        return _show(visit, appeal)
    action = visit.field("action")
    try:
        if action == "phone":
            phone = staff.reveal_phone(visit.db, appeal=appeal, actor=visit.acting(appeal))
            return _show(visit, appeal, phone=phone)
        if visit.field("seen") != str(_latest(service.timeline(visit.db, appeal=appeal))):
            raise LifecycleError("stale", "the case changed after the page was shown")
        act = ACTS.get(action)
        if act is None:
            raise LifecycleError("state", f"no action {action!r}")
        notice = act(visit, appeal)
    except LifecycleError as error:
        log.info("web action %s on %s refused: %s", action, appeal.number, error)
        limits = {
            "chars": visit.site.text_max_chars,
            "photos": visit.site.photos_max,
            "max_mb": visit.site.files.max_bytes // MEGABYTE,
        }
        return _show(visit, appeal, status=409, refusal=refused(error.code, **limits))
    return _show(visit, appeal, notice=notice)


def _latest(events: list[AppealEvent]) -> int:
    """The id of the case's latest ledger event: a form carries it, so that a form from a page
    older than the case's last change is refused."""
    return max((event.id or 0) for event in events)


def _show(visit: Visit, appeal: Appeal, status: int = 200, **context: Any) -> Response:
    actor = visit.viewer.actor
    policy = visit.site.policy
    # A department never learns who the resident is: no name, and for a report of wrongdoing
    # (举报) no phone either, nor their other cases.
    center = actor.role in staff.PHONE_READERS
    secret = appeal.whistleblowing and not center
    resident = visit.db.get(Person, appeal.resident_id)
    events = service.timeline(visit.db, appeal=appeal)
    now = utcnow()
    photos = visit.db.exec(
        select(Attachment).where(Attachment.appeal_id == appeal.id).order_by(col(Attachment.id))
    ).all()
    department = department_of(visit.db, appeal)
    return visit.render(
        "case.html",
        status=status,
        appeal=appeal,
        department=department.name if department else None,
        urgency=t(f"card.urgency.{appeal.urgency}"),
        resident_name=(resident.name if resident and center else None),
        phone_shown=t("card.phone_secret") if secret else mask_phone(appeal.phone),
        may_reveal=center and appeal.phone is not None,
        photos=[p for p in photos if p.kind == "photo"],
        results=[p for p in photos if p.kind == "result"],
        map_url=_map(appeal),
        deadlines={
            stage: local_deadline(moment, policy.calendar, TIME)
            for stage, moment in (
                ("accept", appeal.accept_due_at),
                ("finish", appeal.finish_due_at),
                ("reply", appeal.reply_due_at),
            )
        },
        flag=deadline_flag(appeal, now, policy.follow_up.remind_at),
        timeline=_lines(visit, events, names_shown=center),
        duplicates=_duplicates(visit, appeal, now, own_shown=not secret),
        offered=offered(visit, appeal),
        departments=staff.department_names(visit.db),
        suggested=staff.suggested(visit.db, appeal),
        seen=_latest(events),
        zone=policy.calendar.zone,
        text_max=visit.site.text_max_chars,
        **context,
    )


def _map(appeal: Appeal) -> str | None:
    """A link to the place on a map (opened by the viewer; the page loads nothing from it)."""
    if appeal.latitude is None or appeal.longitude is None:
        return None
    return f"https://uri.amap.com/marker?position={appeal.longitude},{appeal.latitude}"


def _lines(visit: Visit, events: list[AppealEvent], *, names_shown: bool) -> list[Line]:
    """The ledger with each actor's name where known (residents' only for the center)."""
    ids = {event.actor_id for event in events if event.actor_id is not None}
    people = visit.db.exec(select(Person).where(col(Person.id).in_(ids))).all()
    names = {
        person.id: person.name
        for person in people
        if person.name and (names_shown or person.role != Role.RESIDENT.value)
    }
    zone = visit.site.policy.calendar.zone
    return [
        Line(
            time=event.created_at.astimezone(zone).strftime(TIME),
            action=event.action,
            role=event.actor_role,
            name=names.get(event.actor_id, ""),
            from_status=event.from_status if event.from_status != event.to_status else None,
            to_status=event.to_status,
            note=event.note,
        )
        for event in events
    ]


def _duplicates(
    visit: Visit, appeal: Appeal, now: dt.datetime, *, own_shown: bool
) -> list[Appeal]:
    """Likely duplicates the viewer may see (a 举报's same-resident ones only for the center)."""
    days = visit.site.policy.triage.duplicate_days
    found = likely_duplicates(visit.db, appeal, now=now, days=days)
    numbers = [found.number for found in found if own_shown or not found.own]
    if not numbers:
        return []
    visible = ledger.visible(visit.viewer.actor)
    query = select(Appeal).where(col(Appeal.number).in_(numbers), visible)
    return sorted(visit.db.exec(query), key=lambda other: numbers.index(other.number))


def _file(visit: Visit) -> Response:
    given = visit.request.path_params["attachment"]
    wellformed = given.isdigit() and len(given) <= 18  # fits the database's integer
    photo = ledger.attachment(visit.db, visit.viewer.actor, int(given)) if wellformed else None
    if photo is None or not Path(photo.path).is_file():
        return not_found(visit)
    return FileResponse(
        photo.path,
        media_type=photo.mime,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


# -- actions: each does one workflow.staff operation and says what was done -------------------


def _text(visit: Visit, name: str) -> str:
    value = visit.field(name)
    if not value:
        raise LifecycleError("note", f"{name} is empty")
    if len(value) > visit.site.text_max_chars:
        raise LifecycleError("too_long", f"{name} is too long")
    return value


def _role(visit: Visit) -> str:
    return ROLE[visit.viewer.role]


def _sign(visit: Visit, appeal: Appeal) -> str:
    staff.sign(visit.db, appeal=appeal, actor=visit.acting(appeal), policy=visit.site.policy)
    return t("staff.signed", number=appeal.number)


def _return(visit: Visit, appeal: Appeal) -> str:
    reason = _text(visit, "reason")
    staff.send_back(
        visit.db,
        appeal=appeal,
        actor=visit.acting(appeal),
        reason=reason,
        policy=visit.site.policy,
    )
    return t("staff.returned", number=appeal.number)


def _extend(visit: Visit, appeal: Appeal) -> str:
    given = visit.field("days")
    days = int(given) if given.isdigit() else 0
    reason = _text(visit, "reason")
    staff.request_extension(
        visit.db,
        appeal=appeal,
        actor=visit.acting(appeal),
        days=days,
        reason=reason,
        note=t("note.extension_request", days=days, reason=reason),
    )
    return t("staff.extension_requested", number=appeal.number, days=days)


def _resolve(visit: Visit, appeal: Appeal) -> str:
    result = _text(visit, "result")
    photos = _uploaded(visit)
    staff.resolve(
        visit.db,
        appeal=appeal,
        actor=visit.acting(appeal),
        result=result,
        policy=visit.site.policy,
    )
    for photo in photos:
        service.attach(visit.db, appeal, photo, kind="result")
    return t("staff.resolved", number=appeal.number)


def _uploaded(visit: Visit) -> list[StoredFile]:
    """The result photos chosen in the browser, checked and stored (an empty file input sends
    one nameless, empty part)."""
    assert visit.form is not None  # noqa: S101 - a POST's form
    uploads = [
        part
        for part in visit.form.getlist("photos")
        if isinstance(part, UploadFile) and part.filename
    ]
    if len(uploads) > visit.site.photos_max:
        raise LifecycleError("photos", f"{len(uploads)} photos")
    files = visit.site.files
    try:
        return [files.store_image(upload.file.read(files.max_bytes + 1)) for upload in uploads]
    except FileRejected as error:
        raise LifecycleError(f"photo_{error.reason}", "a photo was refused") from error


def _route(visit: Visit, appeal: Appeal) -> str:
    department = visit.field("department")
    staff.route(
        visit.db,
        appeal=appeal,
        actor=visit.acting(appeal),
        department=department,
        policy=visit.site.policy,
    )
    return t("staff.routed", number=appeal.number, department=department)


def _merge(visit: Visit, appeal: Appeal) -> str:
    into = staff.case(visit.db, visit.field("into").upper())
    staff.merge(
        visit.db, appeal=appeal, into=into, actor=visit.acting(appeal), policy=visit.site.policy
    )
    return t("staff.merged", number=appeal.number, into=into.number)


def _urgent(visit: Visit, appeal: Appeal) -> str:
    note = t("note.urgent", role=_role(visit))
    staff.mark_urgent(visit.db, appeal=appeal, actor=visit.acting(appeal), note=note)
    return t("staff.marked_urgent", number=appeal.number)


def _supervise(visit: Visit, appeal: Appeal) -> str:
    note = t("note.supervise", role=_role(visit))
    staff.supervise(visit.db, appeal=appeal, actor=visit.acting(appeal), note=note)
    return t("staff.supervised", number=appeal.number)


def _decide(visit: Visit, appeal: Appeal) -> str:
    approve = visit.field("approve") == "yes"
    actor, policy = visit.acting(appeal), visit.site.policy
    days = staff.decide_extension(
        visit.db, appeal=appeal, actor=actor, approve=approve, policy=policy
    )
    key = "staff.extension_approved" if approve else "staff.extension_refused"
    return t(key, number=appeal.number, days=days)


ACTS: dict[str, Callable[[Visit, Appeal], str]] = {
    "sign": _sign,
    "return": _return,
    "extend": _extend,
    "resolve": _resolve,
    "route": _route,
    "merge": _merge,
    "urgent": _urgent,
    "supervise": _supervise,
    "decide": _decide,
}
