"""Who may use the web console, and how they sign in: one-time links, sessions, form tokens.

A link's and a session's tokens are random (256 bits) and only their SHA-256 is stored, so a
copy of the database signs nobody in. A link is good for one use within LINK_TTL; a session
lasts SESSION_TTL or until its person signs out. Every refusal is logged with its reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from storage.models import Person, WebLogin, WebSession
from storage.roles import Role
from storage.types import utcnow
from workflow.lifecycle import Actor

log = logging.getLogger(__name__)

LINK_MINUTES = 10
LINK_TTL = dt.timedelta(minutes=LINK_MINUTES)
SESSION_TTL = dt.timedelta(hours=12)
# Who works on the console: everyone the center bound, never a resident or a grid worker.
CONSOLE_ROLES = frozenset({Role.STAFF, Role.DISPATCHER, Role.LEADER, Role.ADMIN})
CONSOLE_ADMIN = ("web", "admin")  # the person `appealbot run` signs in on a bare machine


class SignInRefused(Exception):
    """A link that is unknown, used or late, or a person who may not use the console."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Viewer:
    """The signed-in person of a request, as the workflow sees them."""

    person: Person
    csrf: str
    on_duty: bool = False  # staff on the duty roster of a day off (see Actor.on_duty)

    @property
    def actor(self) -> Actor:
        return dataclasses.replace(Actor.of(self.person), on_duty=self.on_duty)

    @property
    def role(self) -> Role:
        return Role(self.person.role)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(session: Session, person: Person) -> str:
    """A new one-time sign-in token for `person`, who must be the center's staff."""
    if Role(person.role) not in CONSOLE_ROLES:
        raise SignInRefused("role")
    assert person.id is not None  # noqa: S101 - a person is flushed before they sign in
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebLogin(
            token_hash=_hash(token), person_id=person.id, created_at=now, expires_at=now + LINK_TTL
        )
    )
    return token


def redeem_link(session: Session, token: str) -> str:
    """Use a sign-in link once: the new session's cookie token, or SignInRefused."""
    login = session.get(WebLogin, _hash(token), with_for_update=True)
    now = utcnow()
    reason = None
    if login is None:
        reason = "unknown"
    elif login.used_at is not None:
        reason = "used"
    elif login.expires_at <= now:
        reason = "expired"
    if reason is not None or login is None:
        log.warning("web sign-in refused: %s link", reason)
        raise SignInRefused(reason or "unknown")
    login.used_at = now
    session.add(login)
    person = session.get(Person, login.person_id)
    if person is None or Role(person.role) not in CONSOLE_ROLES:
        log.warning("web sign-in refused: person %s is not staff", login.person_id)
        raise SignInRefused("role")
    cookie = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_hash(cookie),
            person_id=login.person_id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_TTL,
        )
    )
    log.info("web sign-in: person %s", login.person_id)
    return cookie


def viewer(session: Session, cookie: str | None) -> Viewer | None:
    """The person a session cookie belongs to while the session lasts and they are staff."""
    if not cookie:
        return None
    row = session.get(WebSession, _hash(cookie))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    person = session.get(Person, row.person_id)
    if person is None or Role(person.role) not in CONSOLE_ROLES:
        return None
    return Viewer(person, row.csrf)


def csrf_ok(viewer: Viewer, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(viewer.csrf.encode(), given.encode())


def sign_out(session: Session, cookie: str) -> None:
    row = session.get(WebSession, _hash(cookie))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        session.add(row)


def console_admin(session: Session, name: str) -> Person:
    """The console's own admin: the person a newcomer's bare `appealbot run` signs in."""
    channel, external_id = CONSOLE_ADMIN
    query = select(Person).where(Person.channel == channel, Person.external_id == external_id)
    person = session.exec(query).first()
    if person is None:
        person = Person(channel=channel, external_id=external_id, role=Role.ADMIN.value, name=name)
        session.add(person)
        session.flush()
    return person


def staff_named(session: Session, name: str) -> list[Person]:
    """The center's bound people called `name` (the admin's `web-login --name`)."""
    roles = [role.value for role in CONSOLE_ROLES]
    query = select(Person).where(Person.name == name, col(Person.role).in_(roles))
    return list(session.exec(query.order_by(col(Person.id))))
