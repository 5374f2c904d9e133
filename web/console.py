"""The center's web console: sign-in by one-time link and sign-out, and its pages' routes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from storage.db import transaction
from web import case, dashboard, inbox, ledger, triage
from web.layer import COOKIE, HERE, Site, Visit, page, render
from workflow import signin

SESSION_SECONDS = int(signin.SESSION_TTL.total_seconds())


def routes(site: Site) -> list[BaseRoute]:
    async def signin_page(request: Request) -> Response:
        return render(request, "signin.html", center=site.center)

    async def link(request: Request) -> Response:
        # A GET only shows the button: link previews in chats fetch the URL, and must not
        # use up the one-time link.
        token = request.path_params["token"]
        if request.method == "GET":
            return render(request, "link.html", center=site.center, token=token)
        try:
            with transaction(site.sessions) as db:
                cookie = signin.redeem_link(db, token)
        except signin.SignInRefused as refused:
            return render(
                request, "signin.html", status=403, center=site.center, refused=refused.reason
            )
        response = RedirectResponse("/cases", status_code=303)
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=site.secure,
        )
        return response

    return [
        Route("/", lambda request: RedirectResponse("/cases", status_code=303)),
        Route("/signin", signin_page),
        Route("/signin/{token}", link, methods=["GET", "POST"]),
        Route("/signout", page(site, _sign_out), methods=["POST"]),
        *ledger.routes(site),
        *case.routes(site),
        *triage.routes(site),
        *dashboard.routes(site),
        *inbox.routes(site),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def _sign_out(visit: Visit) -> Response:
    signin.sign_out(visit.db, visit.request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE)
    return response
