"""The 台账 page: every case the viewer may see, filtered, sorted and paged."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from web.layer import Site, Visit, page
from workflow import ledger


def routes(site: Site) -> list[BaseRoute]:
    return [Route("/cases", page(site, _ledger))]


def _ledger(visit: Visit) -> Response:
    query = visit.request.query_params
    filters = ledger.Filters(status=query.get("status", ""), text=query.get("q", "").strip())
    number = int(query["page"]) if query.get("page", "").isdigit() else 1
    found = ledger.page(visit.db, visit.viewer.actor, filters, number)
    return visit.render("ledger.html", page=found, filters=filters)
