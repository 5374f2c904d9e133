"""The migrations build exactly the tables of storage/models.py, on SQLite and PostgreSQL: a
model changed without a migration fails here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - registers the tables on the metadata
from storage.db import alembic_config, make_engine, upgrade


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    yield built
    built.dispose()


def _drift(engine: Engine) -> list[Any]:
    """What autogenerate would write into a new migration: the models against the database."""
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


def test_the_migrations_build_the_models(engine: Engine) -> None:
    upgrade(engine)
    assert _drift(engine) == []


def test_a_difference_is_found(engine: Engine) -> None:
    """The comparison sees a missing index and a column the models do not have."""
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_timer_pending_due"))
        connection.execute(text("ALTER TABLE api_token ADD COLUMN extra INTEGER"))
    found = {(change[0], getattr(change[-1], "name", None)) for change in _drift(engine)}
    assert found == {("add_index", "ix_timer_pending_due"), ("remove_column", "extra")}


def test_every_migration_goes_down_and_up_again(engine: Engine) -> None:
    upgrade(engine)
    command.downgrade(alembic_config(engine), "base")
    upgrade(engine)
    assert _drift(engine) == []
