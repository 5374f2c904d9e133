"""The 人工研判 queue: the open cases waiting for a dispatcher to route them."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from web.layer import Site, Visit, not_found, page
from workflow import staff
from workflow.lifecycle import LifecycleError


def routes(site: Site) -> list[BaseRoute]:
    return [Route("/triage", page(site, _triage))]


def _triage(visit: Visit) -> Response:
    try:
        cases = staff.triage_queue(visit.db, actor=visit.viewer.actor)
    except LifecycleError:  # not a dispatcher: there is no such page for them
        return not_found(visit)
    zone = visit.site.policy.calendar.zone
    return visit.render("triage.html", cases=cases, zone=zone)
