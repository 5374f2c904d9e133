"""The case page: one case the viewer may see, with its ledger."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from web.layer import Site, Visit, not_found, page
from workflow import ledger


def routes(site: Site) -> list[BaseRoute]:
    return [Route("/cases/{number}", page(site, _case))]


def _case(visit: Visit) -> Response:
    appeal = ledger.case(visit.db, visit.viewer.actor, visit.request.path_params["number"])
    if appeal is None:
        return not_found(visit)
    return visit.render("case.html", appeal=appeal)
