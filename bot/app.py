"""Composition root: builds the engine, classifier and dialog from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.classifier import build_classifier
from bot.settings import Secrets, Settings
from handlers.dialog import Dialog
from messages.catalog import t
from nlp.classifier import Classifier
from storage.db import ensure_schema, make_engine, session_factory, sqlite_url, transaction
from storage.files import FileStore
from web.layer import Site
from workflow.calendar import WorkCalendar
from workflow.followup import Policy
from workflow.service import ensure_departments


@dataclass(frozen=True)
class App:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    dialog: Dialog


def web_site(app: App) -> Site:
    """What the web console's pages work with, from the app."""
    settings = app.settings
    return Site(
        sessions=app.sessions,
        policy=app.dialog.policy,
        files=app.dialog.desk.files,
        center=settings.center.name,
        text_max_chars=settings.limits.text_max_chars,
        photos_max=settings.limits.photos_per_appeal,
        secure=settings.server.url.startswith("https://"),
    )


def database_url(settings: Settings, secrets: Secrets) -> str:
    return secrets.database_url or sqlite_url(settings.storage.data_dir)


def build(settings: Settings, secrets: Secrets, classifier: Classifier | None = None) -> App:
    """Wire everything; a classifier may be handed in (tests share one across apps)."""
    engine = make_engine(database_url(settings, secrets))
    ensure_schema(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        ensure_departments(session, [(d.name, d.kind) for d in settings.departments])
    calendar = WorkCalendar(settings.calendar, settings.center.timezone)
    policy = Policy(
        sla=settings.sla,
        calendar=calendar,
        follow_up=settings.follow_up,
        appeals_per_day=settings.limits.appeals_per_day,
        duty=settings.duty,
        triage=settings.triage,
        catalog=t,
    )
    files = FileStore(settings.storage.data_dir / "attachments", settings.limits.photo_max_bytes)
    dialog = Dialog(
        sessions=sessions,
        classifier=classifier or build_classifier(settings),
        policy=policy,
        limits=settings.limits,
        files=files,
        center=settings.center.name,
        web_url=settings.server.url,
        grids=settings.grids,
    )
    return App(settings, engine, sessions, dialog)
