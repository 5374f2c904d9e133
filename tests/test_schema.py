"""Several processes starting on an empty database at once: one creates the schema, every
one of them runs (three replicas started together, or a bot and its dialog workers)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from storage.db import make_engine

START = """
import sys, time
from pathlib import Path
from storage.db import ensure_schema, make_engine

go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
ensure_schema(make_engine(sys.argv[1]))
"""


def test_processes_starting_together_on_an_empty_database_all_run(
    database_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    starting = [
        subprocess.Popen(  # noqa: S603 - our own code
            [sys.executable, "-c", START, database_url, str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    time.sleep(1.0)  # all three importing done, waiting for the signal
    go.touch()
    for process in starting:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
