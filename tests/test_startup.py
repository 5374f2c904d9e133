"""Start-up as a newcomer meets it, through the real `appealbot` command: `.env` is read and
the start-up says which channels run and why; every failure a user can cause is one line and
a non-zero exit, never a traceback; the log is for people, in the center's time; the data
folder is the config file's, wherever the command runs."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.fakebotapi import TOKEN, FakeBotApi
from tests.test_cli import _appealbot, _command, _env
from tests.threaded_server import free_port

UNREACHABLE = "http://127.0.0.1:1"  # nothing listens on port 1: refused at once, offline
CENTER_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+08:00 (INFO|WARNING) ")


def _quiet(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`appealbot --log-level warning ARGS`: only what went wrong reaches stderr."""
    return _appealbot(tmp_path, "--log-level", "warning", *args, env=env or {})


def test_a_token_in_dotenv_starts_telegram_and_the_start_up_says_why(tmp_path: Path) -> None:
    fake = FakeBotApi().start()  # it knows its own token only: ours is refused
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=123:not-the-fake-apis-token\n", "utf-8")
    try:
        result = _appealbot(
            tmp_path,
            "run",
            env={
                "APPEALBOT_CHANNELS__TELEGRAM__BASE_URL": fake.base_url,
                "APPEALBOT_CHANNELS__TELEGRAM__BASE_FILE_URL": fake.base_file_url,
            },
        )
    finally:
        fake.stop()
    assert result.returncode == 2, result.stderr
    assert f"telegram: on (TELEGRAM_BOT_TOKEN from {tmp_path / '.env'})" in result.stderr
    assert "wechat: off (channels.wechat.enabled is false)" in result.stderr
    assert "console: off (a messenger channel is on)" in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1] == "appealbot: TELEGRAM_BOT_TOKEN: Telegram refused the token"
    assert "Traceback" not in result.stderr and "not-the-fake-apis-token" not in result.stderr


def _console(tmp_path: Path, *options: str, env: dict[str, str] | None = None) -> str:
    """The log of a console session that stays open while the clock ticks a few times."""
    with subprocess.Popen(
        _command(*options, "run"),
        cwd=tmp_path,
        env=_env(
            tmp_path, {"APPEALBOT_SCHEDULER__SWEEP_SECONDS": "0.1", "TZ": "UTC", **(env or {})}
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as bot:
        assert bot.stdin is not None
        bot.stdin.write("我要反映\n")
        bot.stdin.flush()
        time.sleep(1.0)
        _, log = bot.communicate("/quit\n", timeout=60)
    assert bot.returncode == 0, log
    return log


def test_the_console_log_says_why_it_runs_and_is_quiet_in_the_centers_time(
    tmp_path: Path,
) -> None:
    # The example file copied as it is: every value empty, so no channel but the console.
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    log = _console(tmp_path)
    lines = log.splitlines()
    said = [line.split(": ", 1)[1] for line in lines if " bot.serve: " in line]
    assert said[:3] == [
        "telegram: off (no TELEGRAM_BOT_TOKEN)",
        "wechat: off (channels.wechat.enabled is false)",
        "console: on (no other channel)",
    ]
    link = r"web console: http://127\.0\.0\.1:\d+/signin/\S{43} \(the admin's one-time link\)"
    assert re.fullmatch(link, said[3]) and len(said) == 4
    # No Alembic plugins, no clock tick; every line in Asia/Shanghai (config.yaml) while
    # the machine runs on UTC.
    assert "alembic" not in log and "apscheduler" not in log
    assert all(CENTER_TIME.match(line) for line in lines), log
    # With --log-level debug the libraries speak.
    assert "apscheduler" in _console(tmp_path, "--log-level", "debug")


@pytest.mark.parametrize(
    ("url", "code", "line"),
    [
        (
            "postgresql://127.0.0.1:1/x",
            1,
            "appealbot: cannot open the database postgresql+psycopg://127.0.0.1:1/x: connection "
            'failed: connection to server at "127.0.0.1", port 1 failed: Connection refused',
        ),
        (
            "mysql://app@127.0.0.1/app",
            2,
            "appealbot: DATABASE_URL (environment): not a postgresql://… or sqlite:///… URL",
        ),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line(
    tmp_path: Path, url: str, code: int, line: str
) -> None:
    result = _quiet(tmp_path, "report", env={"DATABASE_URL": url})
    assert (result.returncode, result.stderr.splitlines()) == (code, [line])


def test_a_missing_postgresql_database_is_one_line(tmp_path: Path, postgres_url: str) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/nonexistent_db"
    result = _quiet(tmp_path, "db", "upgrade", env={"DATABASE_URL": missing})
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    shown = missing.replace("postgresql://", "postgresql+psycopg://")
    assert line.startswith(f"appealbot: cannot open the database {shown}: ")
    assert line.endswith('database "nonexistent_db" does not exist')


def test_telegram_out_of_reach_is_one_line_without_noise(tmp_path: Path) -> None:
    result = _quiet(
        tmp_path,
        "run",
        env={
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "APPEALBOT_CHANNELS__TELEGRAM__BASE_URL": f"{UNREACHABLE}/bot",
            "APPEALBOT_CHANNELS__TELEGRAM__BASE_FILE_URL": f"{UNREACHABLE}/file/bot",
        },
    )
    assert result.returncode == 1
    # Nothing else: no traceback, no "Unclosed client session" from the closed connections.
    assert result.stderr.splitlines() == [
        f"appealbot: the Telegram channel cannot start ({UNREACHABLE}/bot): "
        "aiohttp.ClientConnectorError"
    ]


def test_a_wrong_override_names_the_variable(tmp_path: Path) -> None:
    result = _quiet(tmp_path, "report", env={"APPEALBOT_LIMTS__PHOTOS_PER_APPEAL": "3"})
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [
            "appealbot: APPEALBOT_LIMTS__PHOTOS_PER_APPEAL (environment): limts: "
            "Extra inputs are not permitted"
        ],
    )


def test_classify_and_nlp_eval_say_what_is_wrong_with_the_file(tmp_path: Path) -> None:
    (tmp_path / "columns.csv").write_text("id,message\n1,路灯坏了\n", encoding="utf-8")
    (tmp_path / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xd8")
    for args, line in [
        (("classify", "missing.txt"), "missing.txt: No such file or directory"),
        (("classify", "photo.txt"), "the input is not UTF-8 text (invalid start byte)"),
        (("nlp", "eval", "missing.csv"), "missing.csv: No such file or directory"),
        (
            ("nlp", "eval", "columns.csv"),
            "columns.csv: expected columns label,tokens or label,text",
        ),
        (
            ("nlp", "calibrate", "--only", "life_sure,lifesure"),
            "not a calibration setting: lifesure (one of learned_weight, ",
        ),
    ]:
        result = _quiet(tmp_path, *args)
        assert result.returncode == 1, result.stderr
        [said] = result.stderr.splitlines()
        assert said.startswith(f"appealbot: {line}")


def test_the_data_folder_is_the_config_files_wherever_the_command_runs(tmp_path: Path) -> None:
    srv = tmp_path / "srv"
    srv.mkdir()
    shutil.copy(ROOT / "config.yaml", srv)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(tmp_path, {})
    del env["APPEALBOT_STORAGE__DATA_DIR"]

    def appealbot(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "bot.cli", "--config", str(srv / "config.yaml")]
        return subprocess.run(
            [*command, "--log-level", "warning", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=elsewhere,
            env=env,
            timeout=120,
            check=False,
        )

    empty = appealbot("report")
    database = srv / "data" / "appealbot.db"
    assert (empty.returncode, empty.stderr.splitlines()) == (
        0,
        [f"appealbot: 数据库中还没有诉求（sqlite:///{database}）"],
    )
    assert "受理诉求 0 件" in empty.stdout
    assert database.exists() and not (elsewhere / "data").exists()

    filed = appealbot("run", stdin="路灯坏了好几天了，晚上很黑\n跳过\n跳过\n13800138000\n1\n")
    assert re.search(r"SQ\d{8}-\d{4}", filed.stdout), filed.stdout
    counted = appealbot("report", "--format", "json")
    assert (counted.returncode, counted.stderr) == (0, "")
    assert '"received": 1' in counted.stdout


def test_a_second_console_on_a_taken_port_runs_without_the_web_console(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        log = _console(tmp_path, env={"APPEALBOT_SERVER__PORT": str(port)})
    assert f"WARNING bot.serve: web console: off (cannot listen on 127.0.0.1:{port}" in log
    assert "signin" not in log


def test_a_messenger_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    fake = FakeBotApi().start()
    try:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            result = _quiet(
                tmp_path,
                "run",
                env={
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "APPEALBOT_CHANNELS__TELEGRAM__BASE_URL": fake.base_url,
                    "APPEALBOT_CHANNELS__TELEGRAM__BASE_FILE_URL": fake.base_file_url,
                    "APPEALBOT_SERVER__PORT": str(port),
                },
            )
    finally:
        fake.stop()
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"appealbot: cannot listen on 127.0.0.1:{port} (server.host, server.port): "
        "Address already in use"
    ]


def test_without_messenger_or_console_the_web_pages_are_served_until_stopped(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {"APPEALBOT_CHANNELS__CONSOLE__ENABLED": "false", "APPEALBOT_SERVER__PORT": str(port)}
    with subprocess.Popen(
        _command("run"),
        cwd=tmp_path,
        env=_env(tmp_path, env),
        stdin=subprocess.DEVNULL,  # a service: no terminal, no input
        stderr=subprocess.PIPE,
        text=True,
    ) as bot:
        try:
            page = _first_answer(f"http://127.0.0.1:{port}/m", bot)
        finally:
            bot.send_signal(signal.SIGTERM)
            _, log = bot.communicate(timeout=60)
        assert page.status_code == 200 and "码上办" in page.text
    assert bot.returncode == 0, log
    assert "console: off (channels.console.enabled is false: the web pages alone)" in log


def _first_answer(url: str, bot: subprocess.Popen[str]) -> httpx.Response:
    """GET `url` once the process listens (as a browser would: redirects followed)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return httpx.get(url, timeout=5, follow_redirects=True)
        except httpx.TransportError:
            assert bot.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
