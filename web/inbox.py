"""The inbox: what the chats of the viewer's department (the center's, for its people) were
told — cards, reminders, 督办, reports — also where no chat is bound."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler.outbox import render
from web.layer import Site, Visit, page
from workflow.followup import inbox


def routes(site: Site) -> list[BaseRoute]:
    return [Route("/inbox", page(site, _inbox))]


def _inbox(visit: Visit) -> Response:
    notices = [
        (row.created_at, render(row).text, number)
        for row, number in inbox(visit.db, visit.viewer.actor)
    ]
    return visit.render("inbox.html", notices=notices, zone=visit.site.policy.calendar.zone)
