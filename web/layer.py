"""What every page shares: the site's parts, templates, the session cookie, and `page`,
which signs the viewer in, checks the form token of a POST, and runs the page's work in a
thread (the database is synchronous) inside one transaction."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from messages.catalog import ACTION, CHANNEL, DISPOSITION, FLAG, ROLE, STATUS, t
from storage.db import reading, transaction
from storage.files import FileStore
from storage.models import Appeal
from storage.types import utcnow
from workflow import duty, signin
from workflow.followup import Policy
from workflow.lifecycle import Actor
from workflow.signin import Viewer

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE = "appealbot_session"
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
TEMPLATES.env.globals.update(
    STATUS=STATUS,
    ROLE=ROLE,
    ACTION=ACTION,
    DISPOSITION=DISPOSITION,
    FLAG=FLAG,
    CHANNEL=CHANNEL,
    t=t,
)


@dataclass(frozen=True)
class Site:
    """The parts the pages work with."""

    sessions: sessionmaker[Session]
    policy: Policy
    files: FileStore
    center: str
    text_max_chars: int  # a reason or result a form takes
    photos_max: int  # result photos one 办结 takes
    secure: bool = False  # cookies only over https (the public URL is https)


@dataclass
class Visit:
    """One request as a page sees it: who, their form, and the open transaction."""

    request: Request
    db: Session
    viewer: Viewer
    form: FormData | None
    site: Site

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        context.update(viewer=self.viewer, center=self.site.center)
        return TEMPLATES.TemplateResponse(self.request, template, context, status_code=status)

    def acting(self, appeal: Appeal) -> Actor:
        """Who the viewer acts as on `appeal`: on their duty day, a department's staff act
        for the center on the 即办 cases it handles itself, as in chat."""
        return duty.acting(self.site.policy, self.viewer.person, appeal, utcnow())

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else ""


Work = Callable[[Visit], Response]


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """A page for someone not signed in (sign-in, refusals)."""
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)


def page(site: Site, work: Work) -> Callable[[Request], Any]:
    """An endpoint: GET pages read, POSTs write and must carry the session's form token.
    Without a session, the sign-in page; a wrong or missing form token changes nothing."""

    async def endpoint(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        try:
            return await run_in_threadpool(_visit, site, work, request, form)
        finally:
            if form is not None:
                await form.close()  # an upload's spooled file

    return endpoint


def _visit(site: Site, work: Work, request: Request, form: FormData | None) -> Response:
    opened = transaction(site.sessions) if form is not None else reading(site.sessions)
    with opened as db:
        viewer = signin.viewer(db, request.cookies.get(COOKIE))
        if viewer is None:
            return RedirectResponse("/signin", status_code=303)
        if duty.on_duty_today(site.policy, viewer.person, utcnow()):
            viewer = dataclasses.replace(viewer, on_duty=True)
        visit = Visit(request, db, viewer, form, site)
        if form is not None and not signin.csrf_ok(viewer, _text(form, "csrf")):
            log.warning("web form refused: form token missing or wrong (%s)", request.url.path)
            return visit.render("refused.html", status=403, reason="csrf")
        return work(visit)


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def not_found(visit: Visit) -> Response:
    return visit.render("refused.html", status=404, reason="missing")
