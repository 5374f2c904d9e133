"""Logging for the people who run the bot: one format (text, or JSON lines for a log
collector), every time in the center's zone, the channel and case a line is about
(`messages.about`), and one redaction filter on every handler, so that no logger at any level
writes a secret or a full phone number.

A filter on a handler sees every record that handler writes, whichever library logged it and
at whatever level (python-telegram-bot's DEBUG "Processing update" lines carry whole
messages; its setWebhook call carries the secret token; httpx logs URLs with the bot token or
WeChat's access_token). Secrets known at start-up (tokens, AppSecret, EncodingAESKey) are
replaced wherever they appear; URL and keyword parameters named like secrets, and mobile
numbers (mobiles, and landlines with their area code), are masked by pattern.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from messages import about
from workflow.cards import mask_phone

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(tags)s%(message)s"
# Libraries whose INFO lines are for their developers: httpx logs every request URL, Alembic
# its plugins and migration steps, APScheduler every run of every job (each few seconds).
# They speak from WARNING on, and in full with --log-level DEBUG.
CHATTY = ("httpx", "alembic", "apscheduler")
# access_token=…, secret=…, secret_token='…', "secret_token": "…" (URLs, dicts, JSON)
SECRET_PARAMS = re.compile(
    r"""(?P<name>\b(?:access_token|secret|secret_token|appsecret|encoding_aes_key)['"]?"""
    r"""\s*[:=]\s*['"]?)[^&\s'",}]+""",
    re.IGNORECASE,
)
# 13900139000, +86 139 0013 9000 as stored (13900139000), 0731-88888888 (a landline)
PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d{9}|0\d{2,3}-\d{7,8})(?!\d)")
REDACTED = "<redacted>"


class Redaction(logging.Filter):
    """Rewrites a record's message (and traceback) without secrets or full phone numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = SECRET_PARAMS.sub(lambda match: match["name"] + REDACTED, text)
        return PHONE.sub(lambda match: mask_phone(match[1]), text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


_REDACTION = Redaction()


def install_redaction(*secrets: str | None) -> None:
    """Put the filter on every handler of the root logger (again: idempotent) and have it
    replace `secrets` too (empty and missing ones are skipped)."""
    _REDACTION.secrets.update(secret for secret in secrets if secret)
    for handler in logging.getLogger().handlers:
        if _REDACTION not in handler.filters:
            handler.addFilter(_REDACTION)


class About(logging.Filter):
    """Puts the channel and the case the line is about (if any) on the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.channel, record.case = about.CHANNEL.get(), about.CASE.get()
        return True


def _about(record: logging.LogRecord) -> dict[str, str]:
    found = {name: getattr(record, name, None) for name in ("channel", "case")}
    return {name: value for name, value in found.items() if value}


class CenterTime(logging.Formatter):
    """FORMAT with every time in one zone, the center's, and its offset
    (2026-11-23 19:04:05.123+08:00), whatever the machine's own zone; a line about a channel
    or case says so first ([telegram SQ20261123-0001] …)."""

    def __init__(self, zone: ZoneInfo) -> None:
        super().__init__(FORMAT)
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.zone)
        return moment.isoformat(sep=" ", timespec="milliseconds")

    def formatMessage(self, record: logging.LogRecord) -> str:
        tags = _about(record)
        record.tags = f"[{' '.join(tags.values())}] " if tags else ""
        return super().formatMessage(record)


class JsonLines(CenterTime):
    """One JSON object a line: time (the center's zone), level, logger, message, and the
    channel, case and exception when there are."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_about(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


@dataclass(frozen=True)
class LogSetup:
    level: str = "INFO"
    timezone: str = "Asia/Shanghai"
    json_lines: bool = False


_CURRENT = [LogSetup()]


def current() -> LogSetup:
    """How logging was last configured (a worker process configures its own the same way)."""
    return _CURRENT[0]


def make_handler(
    timezone: str, *, json_lines: bool = False, stream: TextIO | None = None
) -> logging.Handler:
    """A handler writing to `stream` (stderr) in the format chosen, with the channel and
    case of each line (redaction is added by `install_redaction`)."""
    zone = ZoneInfo(timezone)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines(zone) if json_lines else CenterTime(zone))
    handler.addFilter(About())
    return handler


def configure_logging(
    level: str = "INFO", timezone: str = "Asia/Shanghai", *, json_lines: bool = False
) -> None:
    _CURRENT[0] = LogSetup(level, timezone, json_lines)
    logging.basicConfig(level=level, handlers=[make_handler(timezone, json_lines=json_lines)])
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    install_redaction()


def configure_like(setup: LogSetup) -> None:
    configure_logging(**asdict(setup))
