"""No log line, from any library at any level, shows a secret or a full phone number."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import install_redaction

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
