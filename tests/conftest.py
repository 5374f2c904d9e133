"""Shared fixtures: the real config, real databases (SQLite file, PostgreSQL), a real app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bot.app import App, build
from bot.channels.telegram import TelegramChannel
from bot.classifier import build_classifier
from bot.settings import Secrets, Settings, TelegramSettings, load_settings
from nlp.classifier import Classifier
from tests.fakebotapi import TOKEN, FakeBotApi
from tests.postgres import scratch_schema
from tests.telegram_helpers import FAST
from tests.web_helpers import console_people, served

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("APPEALBOT_REQUIRE_POSTGRES") == "1"


def _postgres_available() -> str | None:
    """None when the server answers, else why not."""
    url = "postgresql+psycopg://" + POSTGRES_URL.removeprefix("postgresql://")
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        return f"PostgreSQL at {POSTGRES_URL} does not answer: {exc.orig}"
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    reason = _postgres_available()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    yield POSTGRES_URL


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A database URL whose search_path is a fresh schema, dropped afterwards."""
    with scratch_schema(postgres_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'appealbot.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    loaded = load_settings(ROOT / "config.yaml")
    loaded.storage.data_dir = tmp_path / "data"
    return loaded


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return build_classifier(load_settings(ROOT / "config.yaml"))


@pytest.fixture
def app(settings: Settings, classifier: Classifier, tmp_path: Path) -> Iterator[App]:
    """The real app on a SQLite file."""
    built = build(settings, Secrets(database_url=f"sqlite:///{tmp_path / 'app.db'}"), classifier)
    yield built
    built.engine.dispose()


@pytest.fixture
def any_app(settings: Settings, classifier: Classifier, database_url: str) -> Iterator[App]:
    """The real app, once on SQLite and once on PostgreSQL."""
    built = build(settings, Secrets(database_url=database_url), classifier)
    yield built
    built.engine.dispose()


@pytest.fixture
async def bot(app: App) -> AsyncIterator[tuple[FakeBotApi, TelegramChannel]]:
    """The app (the test module's own `app`, if it has one) behind the Telegram adapter,
    polling the fake Bot API."""
    fake = FakeBotApi(max_poll_wait=0.05).start()
    channel = TelegramChannel(
        handle=app.dialog.handle,
        sessions=app.sessions,
        token=TOKEN,
        telegram=TelegramSettings(
            base_url=fake.base_url, base_file_url=fake.base_file_url, limits=FAST
        ),
        limits=app.settings.limits,
        poll_timeout=1,
    )
    await channel.start()
    yield fake, channel
    await channel.stop()
    fake.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures tests recorded (`record_property("figure", line)`), e.g. the fault
    suite's, printed after the run whether its tests ran here or in xdist's workers."""
    reports = [
        report
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", "") == "call"
    ]
    figures = [
        str(value)
        for report in reports
        for name, value in report.user_properties
        if name == "figure"
    ]
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.line(line)


# -- the web console --------------------------------------------------------------------------


@pytest.fixture
def people(app: App) -> dict[str, int]:
    """The center's people on the console: staff of two departments, a dispatcher, a leader."""
    return console_people(app)


@pytest.fixture
def client(app: App) -> Iterator[httpx.Client]:
    """An HTTP client of the app's web console, served on a free port."""
    with served(app) as base, httpx.Client(base_url=base) as client:
        yield client
