"""No log line, from any library at any level, shows a secret or a full phone number; a line
about a case names it and its channel; `run --log-format json` writes JSON lines."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from bot.logs import Redaction, install_redaction, make_handler
from messages.types import Inbound, Kind, Outbound
from scheduler.outbox import drain
from storage.db import transaction
from storage.models import Appeal
from tests.conftest import ROOT
from tests.dialog_helpers import bound

TOKEN = "123456:AAE-secret-bot-token"  # noqa: S105 - a test value


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    install_redaction(TOKEN)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_debug_lines_of_libraries_mask_phone_numbers(output: io.StringIO) -> None:
    logging.getLogger("telegram.ext.Application").debug(
        "Processing update %s", {"message": {"text": "我的电话13812345678，路灯坏了"}}
    )
    line = output.getvalue()
    assert "13812345678" not in line
    assert "138****5678" in line
    assert "路灯坏了" in line  # the rest of the line stays readable


def test_secret_parameters_are_blanked(output: io.StringIO) -> None:
    log = logging.getLogger("telegram.Bot")
    log.debug(
        "Calling setWebhook with %s", {"url": "https://x/telegram", "secret_token": "s3cr3t"}
    )
    logging.getLogger("httpx").info("GET https://api/cgi-bin/token?access_token=abc123&x=1")
    line = output.getvalue()
    assert "s3cr3t" not in line
    assert "abc123" not in line
    assert "https://x/telegram" in line


def test_known_secrets_are_replaced_in_tracebacks(output: io.StringIO) -> None:
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed")
    except RuntimeError:
        logging.getLogger("bot.channels.telegram").exception("send failed")
    text = output.getvalue()
    assert "send failed" in text
    assert "RuntimeError" in text
    assert TOKEN not in text


def test_landlines_and_numbers_with_the_country_code_are_masked_too(
    output: io.StringIO,
) -> None:
    logging.getLogger("x").info("电话 0731-88888888 或 +86 13912345678，编号 SQ20261123-0001")
    line = output.getvalue()
    assert "88888888" not in line and "13912345678" not in line
    assert "073****8888" in line and "139****5678" in line
    assert "SQ20261123-0001" in line  # a case number is no phone


def _file_with_a_card(app: App) -> str:
    """A resident's appeal on the console whose department has a chat: a card to send."""
    with transaction(app.sessions) as session:
        bound(session, "住建局", "staff-chat")
    steps = ("我要反映", "开发商延期交房半年了，房产证也一直办不下来", "跳过", "跳过")
    for text in (*steps, "13800138000", "确认提交"):
        app.dialog.handle(Inbound("console", "r1", "r1", Kind.TEXT, text=text))
    with app.sessions() as session:
        return session.exec(select(Appeal.number)).one()


def _failing(chat_id: str, reply: Outbound) -> None:
    raise RuntimeError("the messenger is down")


@pytest.mark.parametrize("json_lines", [True, False])
def test_a_line_about_a_case_names_it_and_its_channel_in_the_centers_time(
    app: App, json_lines: bool
) -> None:
    number = _file_with_a_card(app)
    stream = io.StringIO()
    handler = make_handler("Asia/Shanghai", json_lines=json_lines, stream=stream)
    handler.addFilter(Redaction())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        drain(app.sessions, {"console": _failing})  # a card to 住建局's chat fails: logged
    finally:
        root.removeHandler(handler)
    lines = [line for line in stream.getvalue().splitlines() if "outbox" in line]
    assert lines, stream.getvalue()
    if json_lines:
        entry = json.loads(lines[0])
        assert entry["case"] == number and entry["channel"] == "console"
        assert entry["level"] == "WARNING" and entry["logger"] == "scheduler.outbox"
        assert entry["time"].endswith("+08:00")
        assert "RuntimeError" in entry["message"]
    else:
        assert f"scheduler.outbox: [console {number}] outbox" in lines[0]
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+08:00 WARNING", lines[0])


def test_run_writes_json_lines_when_told(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bot.cli", "--config", str(ROOT / "config.yaml")]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("APPEALBOT_", "DATABASE_"))},
        "APPEALBOT_STORAGE__DATA_DIR": str(tmp_path / "data"),
    }
    result = subprocess.run(
        [*command, "run", "--log-format", "json"],
        input="",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"console: on (no other channel)"} <= {entry["message"] for entry in entries}
    assert all(entry["time"].endswith("+08:00") for entry in entries)
