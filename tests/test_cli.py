"""The real `appealbot` command: a piped console session, db upgrade, an outdated schema."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import wcwidth
from sqlalchemy import text

from nlp.labelled import shared_data_dir
from storage.db import make_engine, upgrade
from tests.conftest import ROOT
from tests.dialog_helpers import write_png
from tests.fakebotapi import TOKEN, FakeBotApi, Updates
from tests.fakewechat import APPID, SECRET, FakeWechat
from tests.threaded_server import free_port


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml"), *args]


def _env(tmp_path: Path, env: Mapping[str, str]) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("APPEALBOT_", "DATABASE_"))},
        "APPEALBOT_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "APPEALBOT_SERVER__PORT": str(free_port()),  # `run` serves the web console
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
    assert {"ix_appeal_ledger_center", "ix_appeal_ledger_department"} <= tables  # 0007


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


def test_invite_list_lines_up_chinese_department_names(tmp_path: Path) -> None:
    for department in ("住建局", "交通运输局"):
        made = _appealbot(tmp_path, "invite", "--role", "staff", "--department", department)
        assert made.returncode == 0, made.stderr
    listed = _appealbot(tmp_path, "invite", "--list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and all(line.endswith("unused") for line in lines)
    assert len({wcwidth.width(line) for line in lines}) == 1, lines


def _classified(tmp_path: Path, *args: str, stdin: str) -> list[dict[str, object]]:
    result = _appealbot(tmp_path, "classify", *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_classify_answers_every_line_and_leaves_what_it_cannot_sort_to_triage(
    tmp_path: Path,
) -> None:
    lines = [
        "路灯坏了好几天，晚上很黑",
        "",
        "😀😀😀",
        json.dumps({"id": 7, "text": "工地老板拖欠农民工工资"}, ensure_ascii=False),
        json.dumps({"id": 8, "text": " "}),
    ]
    records = _classified(tmp_path, stdin="\n".join(lines) + "\n")
    assert len(records) == len(lines)
    assert records[0]["type"] == "路灯故障" and records[0]["needs_triage"] is False
    assert records[1] == {"error": "empty"}
    emoji = records[2]
    assert emoji["needs_triage"] is True and emoji["confidence"] == 0.0
    assert emoji["type"] is emoji["category"] is emoji["department"] is None
    assert records[3]["id"] == 7 and records[3]["type"] == "拖欠工资"
    assert records[4] == {"id": 8, "error": "empty"}


def test_classify_refuses_unknown_types_naming_the_valid_ones(tmp_path: Path) -> None:
    result = _appealbot(tmp_path, "classify", "--types", "城乡建设,路灯故障", stdin="路灯坏了\n")
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    [refusal] = [line for line in result.stderr.splitlines() if "城乡建设" in line]
    assert refusal.startswith("appealbot: unknown appeal types: 城乡建设 (valid: ")
    assert "占道经营" in refusal and "城乡建设其他" in refusal


def test_a_report_speaks_chinese_and_covers_the_current_week_when_given_a_day(
    tmp_path: Path,
) -> None:
    script = ["我要反映", "小区门口的下水道堵了好几天，污水流到马路上", "跳过", "幸福路12号"]
    filed = _appealbot(tmp_path, "run", stdin="\n".join([*script, "13800138000", "1"]) + "\n")
    assert filed.returncode == 0, filed.stderr
    assert "您的诉求已受理" in filed.stdout
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    this_week = ["report", "--period", "week", "--date", today.isoformat()]
    text = _appealbot(tmp_path, *this_week)
    assert text.returncode == 0, text.stderr
    assert "受理诉求 1 件" in text.stdout and "渠道：控制台 1" in text.stdout
    assert "网格：未指定网格 1" in text.stdout
    assert re.findall(r"[A-Za-z]{3,}", text.stdout) == []
    data = json.loads(_appealbot(tmp_path, *this_week, "--format", "json").stdout)
    assert data["start"] == (today - dt.timedelta(days=today.weekday())).isoformat()
    assert data["by_grid"] == [[None, 1]] and data["by_channel"] == {"console": 1}
    last_week = json.loads(
        _appealbot(tmp_path, "report", "--period", "week", "--format", "json").stdout
    )
    assert last_week["received"] == 0
    wrong = _appealbot(tmp_path, "report", "--date", "2026-13-01")
    assert wrong.returncode == 2 and "not a date (YYYY-MM-DD)" in wrong.stderr


def _listed_commands(top_help: str) -> dict[str, str]:
    """The commands the top-level help lists, with their one-line summaries."""
    listing = top_help.split("\ncommands:\n", 1)[1]
    return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in listing.splitlines())


def test_every_command_has_its_own_help_and_the_top_level_help_lists_them_all(
    tmp_path: Path,
) -> None:
    top = _appealbot(tmp_path, "--help")
    assert top.returncode == 0, top.stderr
    listed = _listed_commands(top.stdout)
    assert {"run", "db upgrade", "wechat menu", "nlp train", "nlp eval"} <= set(listed)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, summary in listed.items():
        own = _appealbot(tmp_path, *name.split(), "--help")
        assert own.returncode == 0, own.stderr
        assert own.stdout.startswith(f"usage: appealbot {name} "), own.stdout
        assert summary[1:] in " ".join(own.stdout.split()), own.stdout  # its description
        assert f"appealbot {name}" in readme
        options = set(re.findall(r"--[a-z][a-z-]+", own.stdout)) - {"--help"}
        assert [option for option in options if option not in readme] == [], name


def test_nlp_train_overwrites_the_packaged_table_only_when_told_to(tmp_path: Path) -> None:
    packaged = ROOT / "nlp" / "data" / "types.tsv"
    before = packaged.stat().st_mtime_ns
    result = _appealbot(tmp_path, "nlp", "train", "--types")
    assert result.returncode == 2
    assert "--out" in result.stderr and "--in-place" in result.stderr
    assert packaged.stat().st_mtime_ns == before


def test_nlp_eval_measures_a_table_written_elsewhere_and_refuses_another_kind(
    tmp_path: Path,
) -> None:
    header = "category\tkeyword\tweight\n"
    topics = tmp_path / "topics.tsv"
    topics.write_text(header + "城乡建设\t道路\t1.0\n", encoding="utf-8")
    refused = _appealbot(tmp_path, "nlp", "eval", "--table", str(topics))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"appealbot: {topics}: not a learned table" in refused.stderr
    if not shared_data_dir().is_dir():  # the board labels refer to the shared data set
        pytest.skip(f"no shared data set at {shared_data_dir()} (set APPEALBOT_DATA_DIR)")
    types = tmp_path / "types.tsv"
    types.write_text(header + "路灯故障\t路灯\t3.0\n", encoding="utf-8")
    measured = _appealbot(
        tmp_path,
        "nlp",
        "eval",
        "--table",
        str(types),
        env={"APPEALBOT_DATA_DIR": str(shared_data_dir())},
    )
    assert measured.returncode == 0, measured.stderr
    assert "department accuracy" in measured.stdout
