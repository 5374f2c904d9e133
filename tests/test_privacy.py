"""Personal data through the real `appealbot` command on a SQLite file: retention (`purge`),
a resident's requests (`person export|erase`), the audit they leave; and `backup`, restored
into a fresh database that then serves."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app import build
from bot.settings import Secrets, Settings
from nlp.classifier import Classifier
from storage.db import make_engine
from tests.dialog_helpers import image_bytes, write_png
from tests.test_cli import _appealbot
from tests.web_helpers import ELEVATOR, file_case
from workflow.privacy import span_start

OLD = "13800138000"  # the resident whose case is four years old
NEW = "13900139000"  # the resident who files today


def _photo(folder: Path, color: tuple[int, int, int]) -> Path:
    path = folder / f"photo-{color[2]}.png"
    path.write_bytes(image_bytes("PNG", color))
    return path


PROBLEMS = {  # different problems at different places: no duplicate is offered; the first
    # two are referred, so cards that show the place are sent to a department
    "old": ("我们小区的物业一直不处理电梯故障，已经两周了", "28.19 112.97"),
    "new": ("公司拖欠我们三个月工资了，老板一直不给", "30.52 114.31"),
    "again": ("小区里的健身器材坏了很久，一直没人来修", "29.10 113.50"),
}


def _file(tmp_path: Path, user: str, phone: str, photo: Path, problem: str = "") -> str:
    text, point = PROBLEMS[problem or user]
    script = [
        "我要反映",
        text,
        f"/photo {photo}",
        "完成",
        f"/location {point}",
        phone,
        "1",
    ]
    result = _appealbot(tmp_path, "run", "--user", user, stdin="\n".join(script) + "\n")
    assert result.returncode == 0, result.stderr
    [number] = re.findall(r"您的诉求已受理，编号 (SQ\d{8}-\d{4})", result.stdout)
    return number


def _rows(tmp_path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp_path / "data" / "appealbot.db") as db:
        return db.execute(query).fetchall()


def _sent(tmp_path: Path) -> str:
    """Every message of the outbox (the departments' cards among them), as one text."""
    return str(_rows(tmp_path, "SELECT params FROM outbox"))


def _age(tmp_path: Path, number: str, years: int) -> None:
    """The case finished (rated) `years` ago."""
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'appealbot.db'}")
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=365 * years + 2)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE appeal SET status = 'rated', updated_at = :then WHERE number = :n"),
            {"then": then, "n": number},
        )
    engine.dispose()


@pytest.fixture
def two_cases(tmp_path: Path) -> tuple[str, str]:
    """An old finished case and today's open one, each with a photo, a point and a phone
    (different photos: a photo two cases share stays while one of them needs it)."""
    old = _file(tmp_path, "old", OLD, _photo(tmp_path, (200, 30, 30)))
    new = _file(tmp_path, "new", NEW, _photo(tmp_path, (0, 0, 255)))
    _age(tmp_path, old, 4)
    return old, new


def test_purge_anonymises_finished_cases_past_retention_and_keeps_their_figures(
    tmp_path: Path, two_cases: tuple[str, str]
) -> None:
    old, new = two_cases
    photos = dict(
        _rows(
            tmp_path,
            "SELECT a.number, t.path FROM attachment t JOIN appeal a ON a.id = t.appeal_id",
        )
    )
    assert Path(str(photos[old])).exists()
    assert "28.19" in _sent(tmp_path) and "30.52" in _sent(tmp_path)  # the cards' places
    report_before = json.loads(_appealbot(tmp_path, "report", "--format", "json").stdout)

    result = _appealbot(tmp_path, "purge")  # the config's retention: 3y
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1 case(s)") and "1 photo file(s) deleted" in result.stdout

    query = "SELECT number, phone, address, latitude, longitude, anonymised_at, text FROM appeal"
    rows = {number: rest for number, *rest in _rows(tmp_path, query)}
    assert rows[old][:4] == [None, None, None, None] and rows[old][4] is not None
    assert "电梯" in str(rows[old][5])  # the case stays, with what it was about
    assert rows[new][0] == NEW and rows[new][2] is not None  # today's case untouched
    assert not Path(str(photos[old])).exists() and Path(str(photos[new])).exists()
    assert "28.19" not in _sent(tmp_path) and "30.52" in _sent(tmp_path)
    assert _rows(tmp_path, "SELECT phone, name FROM person WHERE external_id = 'old'") == [
        (None, None)
    ]
    [(number, note)] = _rows(
        tmp_path,
        "SELECT number, note FROM appeal_event e JOIN appeal a ON a.id = e.appeal_id "
        "WHERE e.action = 'anonymise'",
    )
    assert number == old and "3y" in str(note)
    [(action, detail)] = _rows(tmp_path, "SELECT action, detail FROM audit_log")
    assert action == "purge" and json.loads(str(detail))["cases"] == [old]
    report_after = json.loads(_appealbot(tmp_path, "report", "--format", "json").stdout)
    assert report_after == report_before  # the figures do not change
    again = _appealbot(tmp_path, "purge", "--older-than", "3y")
    assert again.stdout.startswith("0 case(s)")
    wrong = _appealbot(tmp_path, "purge", "--older-than", "3 weeks")
    assert wrong.returncode == 2 and "3y, 18m or 400d" in wrong.stderr


def test_a_resident_gets_their_data_and_has_it_erased(
    tmp_path: Path, two_cases: tuple[str, str]
) -> None:
    _, new = two_cases
    out = tmp_path / "held.json"
    exported = _appealbot(
        tmp_path, "person", "export", "--phone", "139 0013 9000", "--out", str(out)
    )
    assert exported.returncode == 0, exported.stderr
    held = json.loads(out.read_text(encoding="utf-8"))
    assert [appeal["number"] for appeal in held["appeals"]] == [new]
    [appeal] = held["appeals"]
    assert appeal["phone"] == NEW and appeal["latitude"] == 30.52 and len(appeal["photos"]) == 1
    assert [p["external_id"] for p in held["persons"]] == ["new"]
    assert [entry["action"] for entry in appeal["ledger"]][:1] == ["submit"]

    erased = _appealbot(tmp_path, "person", "erase", "--phone", "+86 139-0013-9000")
    assert erased.returncode == 0, erased.stderr
    assert NEW not in erased.stdout + erased.stderr and "139****9000" in erased.stdout
    rows = _rows(tmp_path, "SELECT number, phone, address, status FROM appeal")
    assert (new, None, None, "dispatched") in rows  # open, still handled
    assert "30.52" not in _sent(tmp_path)  # nor do the cards that showed the place
    assert _rows(tmp_path, "SELECT count(*) FROM person WHERE external_id = 'new'") == [(0,)]
    after = json.loads(_appealbot(tmp_path, "person", "export", "--phone", NEW).stdout)
    assert after["persons"] == [] and after["appeals"] == []
    audit = [action for (action,) in _rows(tmp_path, "SELECT action FROM audit_log ORDER BY id")]
    assert audit == ["person_export", "person_erase", "person_export"]
    assert NEW not in str(_rows(tmp_path, "SELECT detail FROM audit_log"))
    bad = _appealbot(tmp_path, "person", "export", "--phone", "12345")
    assert bad.returncode == 2 and "not a mobile or landline" in bad.stderr


def test_retention_spans_count_calendar_years_and_months() -> None:
    leap = dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC)
    assert span_start("3y", leap) == dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC)
    assert span_start("18m", leap) == dt.datetime(2026, 8, 29, 12, tzinfo=dt.UTC)
    assert span_start("400d", leap) == leap - dt.timedelta(days=400)
    with pytest.raises(ValueError, match="3y, 18m or 400d"):
        span_start("3", leap)


def test_a_backup_restored_into_a_fresh_database_serves(
    tmp_path: Path, two_cases: tuple[str, str]
) -> None:
    old, new = two_cases
    copy = tmp_path / "backup.db"
    result = _appealbot(tmp_path, "backup", "--out", str(copy))
    assert result.returncode == 0, result.stderr
    again = _appealbot(tmp_path, "backup", "--out", str(copy))
    assert again.returncode == 2 and "exists" in again.stderr
    # Restore: the file becomes the database of a new data folder (README's recipe).
    restored = tmp_path / "restored"
    (restored / "data").mkdir(parents=True)
    copy.rename(restored / "data" / "appealbot.db")
    report = _appealbot(restored, "report", "--format", "json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["received"] == 2
    # The dialog works on it: the resident sees their case and files another.
    asked = _appealbot(restored, "run", "--user", "new", stdin="查询进度\n")
    assert new in asked.stdout and old not in asked.stdout
    assert _file(restored, "new", NEW, write_png(restored), "again") not in (old, new)


def test_a_postgresql_backup_restored_by_the_readmes_recipe_serves(
    tmp_path: Path, postgres_url: str, settings: Settings, classifier: Classifier
) -> None:
    server = make_engine(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    names = [f"backup_{uuid.uuid4().hex[:10]}", f"restored_{uuid.uuid4().hex[:10]}"]
    source, restored = (postgres_url.rsplit("/", 1)[0] + f"/{name}" for name in names)
    with server.connect() as connection:
        for name in names:
            connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        app = build(settings, Secrets(database_url=source), classifier)
        number = file_case(app, ELEVATOR)
        app.engine.dispose()
        dump = tmp_path / "appealbot.dump"
        result = _appealbot(tmp_path, "backup", "--out", str(dump), env={"DATABASE_URL": source})
        assert result.returncode == 0, result.stderr
        subprocess.run(["pg_restore", "--no-owner", "--dbname", restored, str(dump)], check=True)
        report = _appealbot(tmp_path, "report", "--format", "json", env={"DATABASE_URL": restored})
        assert report.returncode == 0, report.stderr
        assert json.loads(report.stdout)["received"] == 1
        asked = _appealbot(
            tmp_path, "run", "--user", "u1", stdin="查询进度\n", env={"DATABASE_URL": restored}
        )
        assert number in asked.stdout
    finally:
        with server.connect() as connection:
            for name in names:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        server.dispose()
