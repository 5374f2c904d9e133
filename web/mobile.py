"""码上办: the mobile page (/m) a resident opens from a grid's QR poster, a chat with the
resident dialog that the web channel (bot/channels/web.py) runs for it.

Who the resident is: a long-lived HttpOnly cookie names the browser; the hash of its token is
the person's external id (and chat) on channel "web", and its forms carry a token derived
from it (CSRF). The chat is the browser's outbox rows (the dialog's replies, the notices, and
the resident's own words, kept there as delivered), the latest question's options as
buttons; the rows not shown before are marked new, and delivered. Another device opens a
case with its number and the phone given when filing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from messages.catalog import shown, t
from messages.types import Option, Outbound
from scheduler.outbox import render
from storage import conversations
from storage.db import transaction
from storage.models import FailedOpen, Outbox, Person
from storage.replies import REPLY
from storage.types import utcnow
from web.layer import TEMPLATES, Site
from web.limits import WebSettings, Window
from workflow import service
from workflow.cards import mask_phone

log = logging.getLogger(__name__)

CHANNEL = "web"
COOKIE = "appealbot_browser"
FONT_COOKIE = "appealbot_font"
BROWSER_SECONDS = 400 * 24 * 3600  # as long as browsers keep a cookie
SHOWN = 40  # the chat's latest messages on the page
MENU = ("new", "my", "help")  # typed as words where no question offers options
PART_SLACK = 64 * 1024  # a form's fields and headers beside its photos
ME = "web.me."  # the catalog keys of the resident's own bubbles (kept in the outbox)
PHONE_LIKE = re.compile(r"\d{7,}")  # a phone number in the resident's words, shown masked


@dataclass(frozen=True)
class Browser:
    """A browser, by its cookie's token: its id (the person's) and its form token."""

    token: str

    @property
    def id(self) -> str:
        return _digest("browser", self.token)

    @property
    def csrf(self) -> str:
        return _digest("form", self.token)


def _digest(purpose: str, token: str) -> str:
    return hashlib.sha256(f"{purpose}:{token}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Said:
    """One post of a browser: words, an option's value, a place, photos, or the arrival
    (`start`, with a poster's grid code). `mid` keys the turn: a form sent twice is one turn."""

    mid: str
    text: str = ""
    choice: str = ""
    latitude: float | None = None
    longitude: float | None = None
    photos: tuple[bytes, ...] = ()
    start: str | None = None  # the grid code of the arrival, "" for none


# The channel: takes what a browser said through the resident dialog (its replies are kept in
# the outbox, where the page reads them).
Say = Callable[[str, Said], Awaitable[None]]


@dataclass
class Line:
    """One message of the chat as the page shows it."""

    id: str
    reply: Outbound
    mine: bool = False
    new: bool = False
    options: tuple[Option, ...] = ()  # pressable now


@dataclass
class Guard:
    """The page's limits on turns, counted in this process (the wrong number-and-phone tries
    are counted in the database: see `_open`)."""

    settings: WebSettings
    browser_turns: Window = field(init=False)
    address_turns: Window = field(init=False)
    address_browsers: Window = field(init=False)

    def __post_init__(self) -> None:
        web = self.settings
        self.browser_turns = Window(web.browser_turns_per_minute, 60)
        self.address_turns = Window(web.address_turns_per_minute, 60)
        self.address_browsers = Window(web.address_browsers_per_hour, 3600)

    def turn(self, browser: Browser, address: str) -> bool:
        """Whether a turn of this browser from this address is within the limits (counted)."""
        if self.browser_turns.full(browser.id) or self.address_turns.full(address):
            return False
        self.browser_turns.add(browser.id)
        self.address_turns.add(address)
        return True


class Opened(StrEnum):
    OPENED = "opened"
    FAILED = "failed"
    LOCKED = "locked"


def routes(
    site: Site,
    say: Say,
    *,
    settings: WebSettings,
    grids: Mapping[str, str],
    photos_per_appeal: int,
) -> list[BaseRoute]:
    guard = Guard(settings)
    # The photos a step takes at their largest; each is checked by the dialog as on the other
    # channels, a bigger post is refused before it is read.
    body_max = photos_per_appeal * (site.files.max_bytes + PART_SLACK) + PART_SLACK

    async def chat(request: Request) -> Response:
        browser = _browser(request)
        if browser is None:
            return await _arrive(request, start="")
        return await run_in_threadpool(_chat_page, site, request, browser)

    async def poster(request: Request) -> Response:
        code = request.path_params["code"]
        return await _arrive(request, start=code if code in grids else "")

    async def _arrive(request: Request, *, start: str, then: str = "/m") -> Response:
        """A browser's first visit or a poster scanned: the dialog's greeting (with the
        poster's grid), then the chat (or the page `then`)."""
        browser = _browser(request)
        address = _address(request)
        new = browser is None
        if browser is None:
            if not guard.address_browsers.take(address):
                return _note(request, site, t("web.too_fast"), status=429)
            browser = Browser(secrets.token_urlsafe(24))
        if not guard.turn(browser, address):
            return _note(request, site, t("web.too_fast"), status=429)
        await say(browser.id, Said(_mid(browser, secrets.token_hex(8)), start=start))
        response = RedirectResponse(then, status_code=303)
        if new:
            response.set_cookie(
                COOKIE,
                browser.token,
                max_age=BROWSER_SECONDS,
                httponly=True,
                samesite="lax",
                secure=site.secure,
            )
        return response

    async def post(request: Request) -> Response:
        browser = _browser(request)
        if browser is None:
            return _note(request, site, t("web.no_cookie"), status=403)
        if not guard.turn(browser, _address(request)):
            return _note(request, site, t("web.too_fast"), status=429)
        size = request.headers.get("content-length", "")
        if not size.isdigit() or int(size) > body_max:
            return _note(request, site, _photo_size(site), status=413)
        try:
            # More photos than a step takes are told so by the dialog, photo by photo.
            async with request.form(max_files=2 * photos_per_appeal) as form:
                if not hmac.compare_digest(_field(form, "csrf"), browser.csrf):
                    log.warning("mobile form refused: form token missing or wrong")
                    return _note(request, site, t("web.expired"), status=403)
                said = await _said(form, browser)
        except HTTPException:  # Starlette's answer to a form it will not read
            too_many = t("bad.too_many_photos", max=photos_per_appeal)
            return _note(request, site, too_many, status=413)
        if said is None:
            return RedirectResponse("/m", status_code=303)
        await run_in_threadpool(_keep_said, site, browser, said)
        try:
            await say(browser.id, said)
        except Exception:  # the resident is told, as on the other channels
            log.exception("mobile turn %s failed", said.mid)
            return _note(request, site, t("error.sorry"), status=500)
        return await run_in_threadpool(_chat_page, site, request, browser)

    async def open_case(request: Request) -> Response:
        browser = _browser(request)
        if browser is None:
            return await _arrive(request, start="", then="/m/open")
        if request.method == "GET":
            return _open_page(request, site, browser)
        async with request.form(max_files=0) as form:
            csrf, number, typed = (_field(form, name) for name in ("csrf", "number", "phone"))
        if not hmac.compare_digest(csrf, browser.csrf):
            return _note(request, site, t("web.expired"), status=403)
        keys = (browser.id, _digest("address", _address(request)))
        number = number.upper()
        opened = await run_in_threadpool(_open, site, settings, keys, browser, number, typed)
        if opened is Opened.LOCKED:
            locked = t("web.open.locked", minutes=settings.open_lock_minutes)
            return _open_page(request, site, browser, error=locked, status=429)
        if opened is Opened.FAILED:
            log.warning("mobile: a case number and phone did not match")
            failed = t("web.open.failed")
            return _open_page(request, site, browser, error=failed, status=403)
        await say(browser.id, Said(_mid(browser, secrets.token_hex(8)), text=number))
        return RedirectResponse("/m", status_code=303)

    async def font(request: Request) -> Response:
        response = RedirectResponse("/m", status_code=303)
        big = request.cookies.get(FONT_COOKIE) != "big"
        response.set_cookie(FONT_COOKIE, "big" if big else "", max_age=BROWSER_SECONDS)
        return response

    return [
        Route("/m", chat),
        Route("/m/say", post, methods=["POST"]),
        Route("/m/open", open_case, methods=["GET", "POST"]),
        Route("/m/font", font),
        Route("/m/{code}", poster),
    ]


def _browser(request: Request) -> Browser | None:
    token = request.cookies.get(COOKIE, "")
    return Browser(token) if 16 <= len(token) <= 64 else None


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def _mid(browser: Browser, nonce: str) -> str:
    """The turn's message id: the page's nonce within the browser (another's cannot clash)."""
    return f"{browser.id[:16]}-{nonce}"


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _photo_size(site: Site) -> str:
    return t("bad.photo_size", max_mb=site.files.max_bytes // (1024 * 1024))


async def _said(form: FormData, browser: Browser) -> Said | None:
    """What the form says; None for a form without a usable nonce."""
    nonce = _field(form, "mid")
    if not (6 <= len(nonce) <= 32 and nonce.replace("-", "").isalnum()):
        return None
    photos = [
        await part.read()
        for part in form.getlist("photo")
        if isinstance(part, UploadFile) and part.size
    ]
    mid = _mid(browser, nonce)
    if photos:
        return Said(mid, photos=tuple(photos))
    try:
        latitude, longitude = float(_field(form, "lat")), float(_field(form, "lon"))
    except ValueError:
        return Said(mid, text=_field(form, "text"), choice=_field(form, "choice"))
    return Said(mid, latitude=latitude, longitude=longitude)


def _open(
    site: Site,
    limits: WebSettings,
    keys: tuple[str, str],
    browser: Browser,
    number: str,
    phone: str,
) -> Opened:
    """This browser follows case `number` if it was filed with `phone`; a wrong pair counts
    against the browser and its address (`keys`), which are locked out after
    `open_attempts` within `open_lock_minutes`, however right the next pair is."""
    since = utcnow() - dt.timedelta(minutes=limits.open_lock_minutes)

    def locked(db: Session) -> bool:
        return any(
            db.exec(
                select(func.count())
                .select_from(FailedOpen)
                .where(FailedOpen.key == key, col(FailedOpen.at) > since)
            ).one()
            >= limits.open_attempts
            for key in keys
        )

    with transaction(site.sessions) as db:
        if locked(db):
            return Opened.LOCKED
        appeal = service.case_with_phone(db, number=number, phone=phone)
        if appeal is None:
            db.exec(delete(FailedOpen).where(col(FailedOpen.at) <= since))  # forgotten
            db.add_all(FailedOpen(key=key) for key in keys)
            db.flush()
            return Opened.LOCKED if locked(db) else Opened.FAILED
        person = service.person_for(
            db, channel=CHANNEL, external_id=browser.id, chat_id=browser.id
        )
        service.follow(db, resident=person, appeal=appeal, note=t("note.opened_elsewhere"))
        return Opened.OPENED


def _chat_page(site: Site, request: Request, browser: Browser) -> Response:
    with transaction(site.sessions) as db:
        lines = _chat(db, browser.id)
        person = db.exec(
            select(Person).where(Person.channel == CHANNEL, Person.external_id == browser.id)
        ).first()
        phone = person.phone if person is not None else None
    asking = next((line.reply for line in reversed(lines) if line.options), None)
    return _render(
        request,
        site,
        "mobile.html",
        browser=browser,
        lines=lines,
        menu=[t(f"menu.{name}") for name in MENU] if asking is None else [],
        may_call=t("web.may_call", phone=mask_phone(phone)) if phone else None,
        nonce=secrets.token_hex(8),
        locate=asking is not None and asking.request_location,
        phone_step=asking is not None and asking.request_contact,
    )


def _chat(db: Session, chat: str) -> list[Line]:
    """The chat's latest messages, oldest first (the resident's own among them); what was not
    shown yet is delivered now. The options the dialog offers now are buttons under its
    latest reply, a notice's own (a callback's ratings) under the notices after it."""
    rows = list(reversed(_latest(db, chat)))
    lines = [
        Line(f"m{row.id}", render(row), mine=row.message.startswith(ME), new=row.sent_at is None)
        for row in rows
    ]
    last_reply = max((i for i, row in enumerate(rows) if row.message == REPLY), default=-1)
    if last_reply >= 0:
        lines[last_reply].options = tuple(
            Option(label, value) for label, value in _offered(db, chat)
        )
    for line in lines[last_reply + 1 :]:
        line.options = line.reply.options
    unseen = [row.id for row in rows if row.sent_at is None]
    if unseen:
        db.connection().execute(
            update(Outbox).where(col(Outbox.id).in_(unseen)).values(sent_at=utcnow())
        )
    return lines


def _latest(db: Session, chat: str) -> Sequence[Outbox]:
    """The chat's latest SHOWN messages, newest first."""
    return db.exec(
        select(Outbox)
        .where(Outbox.channel == CHANNEL, Outbox.chat_id == chat)
        .order_by(col(Outbox.id).desc())
        .limit(SHOWN)
    ).all()


def _offered(db: Session, chat: str) -> list[list[str]]:
    """The options ([label, value]) the dialog offers the browser now."""
    saved = conversations.load(db, CHANNEL, chat, chat)
    return list(saved.data.get("offered", [])) if saved is not None else []


def _keep_said(site: Site, browser: Browser, said: Said) -> None:
    """What the resident said, kept in their chat (as delivered) before the dialog answers,
    so that the page shows it on every later visit too; a form sent twice is kept once.
    A phone number typed is kept masked, as the dialog shows it."""
    if said.start is not None:
        return
    key = f"said:{said.mid}"
    with transaction(site.sessions) as db:
        if db.exec(select(Outbox.id).where(Outbox.key == key)).first() is not None:
            return
        message, params = _bubble(db, browser.id, said)
        db.add(
            Outbox(
                key=key,
                channel=CHANNEL,
                chat_id=browser.id,
                message=message,
                params=params,
                sent_at=utcnow(),
            )
        )


def _bubble(db: Session, chat: str, said: Said) -> tuple[str, dict[str, Any]]:
    """The resident's bubble: its catalog key and parameters."""
    if said.photos:
        return f"{ME}photos", {"count": len(said.photos)}
    if said.latitude is not None:
        return f"{ME}location", {}
    if not said.choice:
        return f"{ME}words", {"text": PHONE_LIKE.sub(lambda m: mask_phone(m[0]), said.text)}
    shown_options = (pair for row in _latest(db, chat) for pair in row.options)
    pairs = [*_offered(db, chat), *shown_options]
    label = next((label for label, value in pairs if value == said.choice), said.choice)
    return f"{ME}words", {"text": shown(label)}


def _open_page(
    request: Request, site: Site, browser: Browser, *, error: str | None = None, status: int = 200
) -> Response:
    return _render(request, site, "mobile_open.html", browser=browser, error=error, status=status)


def _note(request: Request, site: Site, text: str, *, status: int) -> Response:
    return _render(request, site, "mobile_note.html", text=text, status=status)


def _render(
    request: Request, site: Site, template: str, *, status: int = 200, **context: Any
) -> Response:
    context.update(center=site.center, big=request.cookies.get(FONT_COOKIE) == "big")
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status)
