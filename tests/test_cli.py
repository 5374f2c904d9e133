"""The real `appealbot` command: a piped console session, db upgrade, an outdated schema."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import text

from storage.db import make_engine, upgrade
from tests.conftest import ROOT
from tests.dialog_helpers import write_png
from tests.fakebotapi import TOKEN, FakeBotApi, Updates
from tests.fakewechat import APPID, SECRET, FakeWechat


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), *args]


def _env(tmp_path: Path, env: Mapping[str, str]) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("APPEALBOT_", "DATABASE_"))},
        "APPEALBOT_STORAGE__DATA_DIR": str(tmp_path / "data"),
        **env,
    }


def _appealbot(
    tmp_path: Path, *args: str, stdin: str = "", env: Mapping[str, str] = {}
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path, env),
        timeout=120,
        check=False,
    )


def _until(condition: Callable[[], bool], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_sigterm_stops_the_telegram_bot_once_it_has_answered(tmp_path: Path) -> None:
    fake = FakeBotApi(max_poll_wait=0.05).start()
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "APPEALBOT_CHANNELS__TELEGRAM__BASE_URL": fake.base_url,
        "APPEALBOT_CHANNELS__TELEGRAM__BASE_FILE_URL": fake.base_file_url,
    }
    with subprocess.Popen(
        _command("run"), cwd=tmp_path, env=_env(tmp_path, env), stderr=subprocess.PIPE, text=True
    ) as bot:
        _until(lambda: bool(fake.requests("getUpdates")))  # polling
        fake.push(Updates(fake, 5100).text("/help"))
        _until(lambda: bool(fake.sent(5100)))
        bot.send_signal(signal.SIGTERM)
        _, log = bot.communicate(timeout=60)
    fake.stop()
    assert bot.returncode == 0, log
    assert "telegram channel stopped" in log


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


# What changes from run to run: case numbers, dates and times.
VARYING = re.compile(r"SQ\d{8}-\d{4}|\d{4}-\d{2}-\d{2}|\d{2}-\d{2} \d{2}:\d{2}|\d{2}:\d{2}")


def _readme_walkthrough() -> str:
    section = (
        (ROOT / "README.md").read_text(encoding="utf-8").split("## Trying it in the console")[1]
    )
    return section.split("```text\n")[1].split("```")[0]


def _same_shape(text: str) -> list[str]:
    return [VARYING.sub("…", line) for line in text.splitlines()]


def test_the_readme_walkthrough_is_what_the_console_does(tmp_path: Path) -> None:
    """Resident and department staff in one terminal: file, sign, resolve, rate."""
    walkthrough = _readme_walkthrough()
    script = [line[2:] for line in walkthrough.splitlines() if line.startswith("> ")]
    write_png(tmp_path).rename(tmp_path / "elevator.jpg")
    result = _appealbot(tmp_path, "run", stdin="\n".join(script) + "\n")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    shown = result.stdout.split("\n", 1)[1]  # after the banner
    # Notices may be printed by the clock a moment earlier than after the turn: compare them
    # apart from the turns.
    notices = [line for line in _same_shape(shown) if line.startswith("[通知")]
    turns = [line for line in _same_shape(shown) if not line.startswith("[通知")]
    expected = _same_shape(walkthrough)
    assert turns == [line for line in expected if not line.startswith("[通知")]
    assert sorted(notices) == sorted(line for line in expected if line.startswith("[通知"))


def test_after_a_restart_the_console_asks_what_was_pending(tmp_path: Path) -> None:
    first = _appealbot(tmp_path, "run", stdin="我要反映\n路灯坏了好几天了，晚上很黑\n")
    assert "如有现场照片" in first.stdout
    again = _appealbot(tmp_path, "run", stdin="跳过\n")
    banner_and_resume = again.stdout.split("> 跳过")[0]
    assert "您上次的操作还没有完成" in banner_and_resume and "如有现场照片" in banner_and_resume
    assert "请发送位置" in again.stdout


def test_console_identities_and_an_empty_line(tmp_path: Path) -> None:
    script = ["/as 不存在局", "/as 调度员", "/todo", "/as", "我要反映", "", "/quit"]
    result = _appealbot(tmp_path, "run", stdin="\n".join(script) + "\n")
    answers = dict(zip(script, result.stdout.split("> ")[1:], strict=False))
    assert "没有“不存在局”这个部门" in answers["/as 不存在局"]
    assert "综治中心调度员" in answers["/as 调度员"]
    assert "目前没有待办诉求" in answers["/todo"]
    assert "已切换回群众身份" in answers["/as"]
    assert "内容不能为空" in answers[""]


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


def test_the_log_level_is_taken_in_any_case_and_a_wrong_one_lists_the_choices(
    tmp_path: Path,
) -> None:
    quiet = _appealbot(tmp_path, "--log-level", "warning", "classify", stdin="路灯坏了\n")
    assert quiet.returncode == 0, quiet.stderr
    assert "路灯故障" in quiet.stdout and "INFO" not in quiet.stderr
    wrong = _appealbot(tmp_path, "--log-level", "loud", "classify", stdin="")
    assert wrong.returncode == 2
    assert "Traceback" not in wrong.stderr
    assert "DEBUG" in wrong.stderr and "WARNING" in wrong.stderr


def test_invite_says_what_to_send_and_names_the_departments_when_one_is_unknown(
    tmp_path: Path,
) -> None:
    made = _appealbot(tmp_path, "invite", "--role", "staff", "--department", "住建局")
    assert made.returncode == 0, made.stderr
    code = made.stdout.strip()
    assert f"/join {code} 姓名" in made.stderr and f"/bind {code}" in made.stderr
    wrong = _appealbot(tmp_path, "invite", "--role", "staff", "--department", "住建")
    assert wrong.returncode == 2
    assert "no department named '住建'" in wrong.stderr and "住建局" in wrong.stderr
