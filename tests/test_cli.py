"""The real `appealbot` command: a piped console session, db upgrade, an outdated schema."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import text

from storage.db import make_engine, upgrade
from tests.conftest import ROOT
from tests.dialog_helpers import write_png
from tests.fakewechat import APPID, SECRET, FakeWechat


def _appealbot(
    tmp_path: Path, *args: str, stdin: str = "", env: Mapping[str, str] = {}
) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("APPEALBOT_", "DATABASE_"))},
        "APPEALBOT_STORAGE__DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_newcomer_files_an_appeal_with_a_photo_in_the_console(tmp_path: Path) -> None:
    photo = write_png(tmp_path)
    script = "\n".join(
        [
            "我要反映",
            "小区门口的下水道堵了好几天，污水流到马路上，气味很大",
            f"/photo {photo}",
            "完成",
            "幸福路12号",
            "13800138000",
            "1",
            "查询进度",
            "1",
        ]
    )
    result = _appealbot(tmp_path, "run", stdin=script + "\n")
    assert result.returncode == 0, result.stderr
    numbers = set(re.findall(r"SQ\d{8}-\d{4}", result.stdout))
    assert len(numbers) == 1, result.stdout
    assert "已收到第1张照片" in result.stdout
    assert "办理记录" in result.stdout and "提交受理" in result.stdout
    assert (tmp_path / "data" / "appealbot.db").exists()
    assert "13800138000" not in result.stderr


def test_db_upgrade_then_an_outdated_schema_is_reported(tmp_path: Path) -> None:
    result = _appealbot(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'appealbot.db'}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    engine.dispose()
    result = _appealbot(tmp_path, "run", stdin="/quit\n")
    assert result.returncode == 2
    assert "appealbot db upgrade" in result.stderr and "Traceback" not in result.stderr


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrade(engine)
    upgrade(engine)
    with engine.connect() as connection:
        tables = {row[0] for row in connection.execute(text("SELECT name FROM sqlite_master"))}
    engine.dispose()
    assert {"appeal", "appeal_event", "timer", "outbox", "conversation"} <= tables


def test_wechat_menu_is_posted_with_the_token_shared_through_the_database(
    tmp_path: Path,
) -> None:
    fake = FakeWechat().start()
    try:
        env = {
            "APPEALBOT_CHANNELS__WECHAT__API_BASE_URL": fake.base_url,
            "WECHAT_APPID": APPID,
            "WECHAT_APPSECRET": SECRET,
        }
        for _ in range(2):  # two processes, like two workers
            result = _appealbot(tmp_path, "wechat", "menu", env=env)
            assert result.returncode == 0, result.stderr
            assert "我要反映" in result.stdout
            assert SECRET not in result.stderr and "TOKEN" not in result.stderr
        assert len(fake.sent("/cgi-bin/menu/create")) == 2
        assert fake.token_requests == 1
    finally:
        fake.stop()
