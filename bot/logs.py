"""Logging for the people who run the bot: one format, and one redaction filter on every
handler, so that no logger at any level writes a secret or a full phone number.

A filter on a handler sees every record that handler writes, whichever library logged it and
at whatever level (python-telegram-bot's DEBUG "Processing update" lines carry whole
messages; its setWebhook call carries the secret token; httpx logs URLs with the bot token or
WeChat's access_token). Secrets known at start-up (tokens, AppSecret, EncodingAESKey) are
replaced wherever they appear; URL and keyword parameters named like secrets, and mobile
numbers, are masked by pattern.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from workflow.cards import mask_phone

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
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
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
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
        return PHONE.sub(lambda match: mask_phone(match[0]), text)

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


class CenterTime(logging.Formatter):
    """FORMAT with every time in one zone, the center's, and its offset
    (2026-11-23 19:04:05.123+08:00), whatever the machine's own zone."""

    def __init__(self, zone: ZoneInfo) -> None:
        super().__init__(FORMAT)
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.zone)
        return moment.isoformat(sep=" ", timespec="milliseconds")


def configure_logging(level: str = "INFO", timezone: str = "Asia/Shanghai") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(CenterTime(ZoneInfo(timezone)))
    logging.basicConfig(level=level, handlers=[handler])
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    install_redaction()
