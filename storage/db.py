"""The engine (SQLite by default, PostgreSQL by URL), sessions, and schema migrations."""

from __future__ import annotations

import fcntl
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError, DBAPIError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000  # how long a SQLite writer waits for another one
SCHEMA_LOCK = 0x41505053  # PostgreSQL advisory lock key of schema creation ("APPS")
_NOWAIT = {"sqlite_nowait": True}
_READ = {"sqlite_read": True}
T = TypeVar("T")


class SchemaOutdated(Exception):
    """The database exists but is behind the code's migrations."""


class Busy(Exception):
    """Another writer holds SQLite's write lock, and the transaction was not to wait for it."""


def sqlite_url(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / 'appealbot.db').resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level so that SQLAlchemy's "begin" below controls transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # Take the write lock up front: concurrent writers queue on busy_timeout instead of
    # failing with "database is locked" when a read transaction tries to upgrade. A
    # transaction that only reads takes no lock (WAL: it reads its snapshot beside a writer).
    options = connection.get_execution_options()
    if options.get("sqlite_read"):
        connection.exec_driver_sql("BEGIN")
        return
    if not options.get("sqlite_nowait"):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    driver = connection.connection.driver_connection
    assert driver is not None  # noqa: S101 - a connection that is beginning is open
    driver.execute("PRAGMA busy_timeout=0")
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pre-ping (a round trip per transaction, a fifth of a dialog turn's time): a dropped
    # connection fails its transaction, the pool is renewed, and `Dialog.handle` takes the
    # turn again; the clock's jobs simply run again.
    return create_engine(url, pool_size=10, max_overflow=20)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=Session, expire_on_commit=False)


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that only reads (a web page): on SQLite it takes no write lock."""
    with factory() as session, session.begin():
        session.connection(execution_options=_READ)
        yield session


@contextmanager
def transaction(factory: sessionmaker[Session], *, wait: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception.

    `wait=False`: on SQLite, raise `Busy` at once where another writer holds the write lock
    (instead of waiting up to BUSY_TIMEOUT_MS). PostgreSQL takes no lock up front; there the
    transaction always goes ahead.
    """
    with factory() as session, session.begin():
        if not wait:
            try:
                session.connection(execution_options=_NOWAIT)
            except OperationalError as error:
                if getattr(error.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
                    raise Busy from error
                raise
        yield session


def again_if_dropped(work: Callable[[], T], what: str) -> T:
    """Run `work` (whole transactions); if the database dropped the connection (a restart, a
    failover), the engine renews its pool and `work`, rolled back, runs once more on a fresh
    connection. (This instead of testing every connection before use, which cost a round
    trip per transaction.) `what` names the work in the log line."""
    try:
        return work()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        log.warning("database connection lost; %s taken again", what)
        return work()


def alembic_config(engine: Engine) -> Config:
    """Alembic's configuration for our migrations on `engine`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def _connect(engine: Engine) -> Connection:
    """A connection; a database that cannot be opened (no server, no such database, not a
    database file) is a ConnectionError naming it, without its password."""
    try:
        return engine.connect()
    except DatabaseError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        raise ConnectionError(f"cannot open the database {engine.url!r}: {reason}") from error


def upgrade(engine: Engine) -> None:
    _connect(engine).close()
    command.upgrade(alembic_config(engine), "head")


def _revisions(engine: Engine) -> tuple[str | None, str | None]:
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with _connect(engine) as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[None]:
    """One process at a time creates a schema: PostgreSQL's advisory lock, or on SQLite an
    exclusive lock on a file beside the database."""
    if engine.dialect.name == "postgresql":
        with _connect(engine) as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK})
                connection.commit()
        return
    with open(f"{engine.url.database}.schema-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_schema(engine: Engine) -> None:
    """Create an empty database (one process does, where several start at once); refuse to
    run on an outdated one."""
    current, head = _revisions(engine)
    if current is None:
        with _schema_lock(engine):
            current, head = _revisions(engine)  # another process may have created it
            if current is None:
                log.info("empty database: creating the schema")
                upgrade(engine)
                return
    if current == head:
        return
    raise SchemaOutdated(
        f"the database schema is at revision {current}, the code needs {head}: "
        "run `appealbot db upgrade`"
    )
