"""Loads config.yaml (policy) and the environment (secrets) into validated settings.

The environment is the process's own and the `.env` files (beside the config file, then in
the working directory, which wins over it; the real environment wins over both). Every value
keeps where it came from, so that an error names the file or the variable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from handlers.limits import Limits
from nlp.keywords import DISPOSITION_PATH, KEYWORDS_PATH, TYPES_PATH, URGENCY_PATH
from nlp.types import AppealType, Calibration, township_stem
from web.limits import WebSettings
from workflow.policy import CalendarConfig, Duty, FollowUp, SlaConfig, Triage
from workflow.privacy import span_start

DEFAULT_CONFIG = Path("config.yaml")
PLACEHOLDER_SECRETS = {"changeme", "change-me", "your-token-here", "xxx", "token"}
DATABASES = ("sqlite", "postgresql", "postgresql+psycopg")  # the schemes of DATABASE_URL

ENV_PREFIX = "APPEALBOT_"  # APPEALBOT_<SECTION>__<KEY> overrides a key of the config file
# APPEALBOT_* variables that are no config key, taken from the process's environment only:
# the config file (config_path), the labelled data's folder (nlp/labelled.py), the switches
# that make the PostgreSQL and browser tests fail instead of skipping (tests/conftest.py,
# tests/web_helpers.py, CI) and the one that saves the browser tests' screenshots.
NOT_KEYS = frozenset(
    {
        "APPEALBOT_CONFIG",
        "APPEALBOT_DATA_DIR",
        "APPEALBOT_REQUIRE_POSTGRES",
        "APPEALBOT_REQUIRE_BROWSER",
        "APPEALBOT_SCREENSHOTS",
    }
)
ENVIRONMENT = "environment"

WECHAT_API_URL = "https://api.weixin.qq.com"
GRID_CODE = re.compile(r"[A-Za-z0-9_-]{1,40}")  # what deep links and WeChat scenes carry


class ConfigError(Exception):
    """A configuration problem, with a message that names the offending key."""


class Center(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value


class DepartmentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["department", "township", "center"] = "department"


class NlpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_confidence: float = Field(default=0.35, ge=0, le=1)
    # The learned tables; `appealbot nlp train … --in-place` rewrites the packaged ones.
    keyword_table: Path = KEYWORDS_PATH  # the topics (`nlp train --data`)
    type_table: Path = TYPES_PATH  # the appeal types (`nlp train --types`)
    urgency_table: Path = URGENCY_PATH  # life/urgent/normal (`nlp train --labels urgency`)
    disposition_table: Path = DISPOSITION_PATH  # (`nlp train --labels disposition`)
    calibration: Calibration = Calibration()


class StorageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Path("data")


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True


class WechatSettings(BaseModel):
    """`channels.wechat` in config.yaml (credentials come from the environment)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    api_base_url: str = WECHAT_API_URL
    path: str = "/wechat"
    # Answer passively only if the turn is done by then; WeChat gives up at 5 s.
    reply_deadline_seconds: float = Field(default=4.0, gt=0, le=4.8)
    # Refuse callbacks whose timestamp is further than this from our clock (0: no check).
    max_clock_skew_seconds: int = Field(default=600, ge=0)
    # 兼容模式: with an EncodingAESKey set, plain (unencrypted) callbacks are refused, since
    # their signature does not cover the body; true accepts them too, only while the account
    # moves from plain to safe mode.
    compat_mode: bool = False
    # Template message for notifications outside the 48-hour window (none: phone instead).
    template_id: str | None = None
    template_url: str | None = None
    # Template field → what goes in it: {text} the notification, {time} now, {hint} how to
    # answer. The default fits the classic 'first/keyword1/remark' templates.
    template_fields: dict[str, str] = Field(
        default_factory=lambda: {"first": "{text}", "keyword1": "{time}", "remark": "{hint}"}
    )
    # The account's own QR code (an image from the MP backend): QR posters then carry it too.
    qr_image: Path | None = None


class SendLimits(BaseModel):
    """`channels.telegram.limits`: Telegram's send limits (bot/channels/sender.py obeys
    them), raised for a bot Telegram allows more; and how failed sends are retried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    overall_per_second: float = Field(default=30.0, gt=0)
    overall_burst: float = Field(default=30.0, ge=1)
    private_per_second: float = Field(default=1.0, gt=0)
    private_burst: float = Field(default=3.0, ge=1)  # a turn's two or three replies at once
    group_per_minute: float = Field(default=20.0, gt=0)
    group_burst: float = Field(default=3.0, ge=1)
    max_attempts: int = Field(default=5, ge=1)  # for 5xx and network errors
    max_flood_waits: int = Field(default=10, ge=0)  # for 429s
    backoff_base: float = Field(default=0.5, gt=0)
    backoff_max: float = Field(default=30.0, gt=0)


class TelegramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    # The public https URL of /telegram; when set, webhook mode on the web server instead
    # of long polling.
    webhook_url: str | None = None
    # The bot's username (without @): QR posters then carry its grid deep link too.
    username: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{5,32}$")
    limits: SendLimits = SendLimits()


class ServerSettings(BaseModel):
    """The one ASGI app (webhooks, /healthz, /readyz, /metrics)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Where staff's browsers reach the app (a reverse proxy's https URL); the web console's
    # sign-in links point here. Default: http://host:port.
    public_url: str | None = None

    @property
    def url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class Channels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    console: ConsoleSettings = ConsoleSettings()
    telegram: TelegramSettings = TelegramSettings()
    wechat: WechatSettings = WechatSettings()
    web: WebSettings = WebSettings()


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sweep_seconds: float = Field(default=5.0, gt=0)


class PrivacySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # `appealbot purge`: finished cases unchanged this long lose their personal data.
    retention: str = "3y"

    @field_validator("retention")
    @classmethod
    def _a_span(cls, value: str) -> str:
        span_start(value, dt.datetime.now(dt.UTC))  # ValueError names what is wrong
        return value


class Settings(BaseModel):
    """Everything from config.yaml; any key can be overridden by APPEALBOT_<SECTION>__<KEY>."""

    model_config = ConfigDict(extra="forbid")

    config: Path  # the file this came from
    center: Center
    departments: list[DepartmentSpec]
    types: list[AppealType]
    nlp: NlpSettings = NlpSettings()
    sla: SlaConfig = SlaConfig()
    calendar: CalendarConfig = CalendarConfig()
    follow_up: FollowUp = FollowUp()
    duty: Duty = Duty()
    triage: Triage = Triage()
    limits: Limits = Limits()
    storage: StorageSettings = StorageSettings()
    channels: Channels = Channels()
    server: ServerSettings = ServerSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    privacy: PrivacySettings = PrivacySettings()
    # Grids (网格) by the code their QR posters and deep links carry (/m/<code>,
    # /start grid_<code>) → the grid's name, which names its township (东湖3网格: 东湖街道).
    grids: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_exist(self) -> Settings:
        names = {d.name for d in self.departments}
        for i, spec in enumerate(self.types):
            if "{township}" not in spec.department and spec.department not in names:
                raise ValueError(f"types.{i}.department: unknown department {spec.department!r}")
        stems = [township_stem(d.name) for d in self.departments if d.kind == "township"]
        for code, name in self.grids.items():
            if not GRID_CODE.fullmatch(code):
                raise ValueError(f"grids.{code}: a code is 1-40 letters, digits, _ or -")
            if not any(stem in name for stem in stems):
                raise ValueError(f"grids.{code}: {name!r} names no township of departments")
        return self


class Secrets(BaseModel):
    """Credentials and the database URL: only ever from the environment (`load_secrets`)."""

    model_config = ConfigDict(extra="forbid")

    database_url: str | None = None
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    wechat_token: str | None = None
    wechat_appid: str | None = None
    wechat_appsecret: str | None = None
    wechat_encoding_aes_key: str | None = None
    wechat_encoding_aes_key_previous: str | None = None  # still decrypts during a key change
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def credentials(self) -> list[str]:
        """The values no log line may show (everything but the database URL and app id)."""
        hidden = self.model_dump(exclude={"database_url", "wechat_appid"})
        return [value for value in hidden.values() if value]

    def origin(self, name: str) -> str:
        """Where the secret `name` (a field) was set: "environment" or a .env file."""
        return self._origins.get(name, ENVIRONMENT)

    @field_validator("*")
    @classmethod
    def _no_placeholders(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("a placeholder; set the real value")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and value.partition("://")[0] not in DATABASES:
            raise ValueError("not a postgresql://… or sqlite:///… URL")
        return value


@dataclass(frozen=True)
class Variable:
    """An environment variable's value and where it was set: "environment" or a .env file."""

    value: str
    origin: str


def config_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    return Path(os.environ.get("APPEALBOT_CONFIG", DEFAULT_CONFIG))


def env_files(config_file: Path) -> list[Path]:
    """The .env files there are, the weaker first: beside the config file, then in the
    working directory."""
    found: list[Path] = []
    for candidate in (config_file.absolute().parent / ".env", Path.cwd() / ".env"):
        if candidate.is_file() and all(not candidate.samefile(file) for file in found):
            found.append(candidate)
    return found


def read_variables(config_file: Path) -> dict[str, Variable]:
    """Every variable set, from the .env files and the environment, which wins (an empty
    value counts as unset)."""
    found: dict[str, Variable] = {}
    for file in env_files(config_file):
        try:
            values = dotenv_values(file, encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file}: not UTF-8 text ({exc.reason})") from exc
        for name, value in values.items():
            if value:
                found[name] = Variable(value, str(file))
    for name, value in os.environ.items():
        if value:
            found[name] = Variable(value, ENVIRONMENT)
    return found


def _describe(error: ValidationError, where: Callable[[tuple[str, ...]], str]) -> str:
    """One line per problem: where the value came from (`where` of its key's path), the
    key, what is wrong."""
    lines = []
    for item in error.errors():
        path = tuple(str(part) for part in item["loc"])
        message = str(item["ctx"]["error"]) if item["type"] == "value_error" else item["msg"]
        lines.append(f"{where(path)}: {message}")
    return "\n".join(lines)


def _parse(value: str) -> Any:
    """A variable's value: JSON for a list or a mapping, else the text (pydantic converts)."""
    if value.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


def _override(raw: dict[str, Any], variables: dict[str, Variable]) -> dict[tuple[str, ...], str]:
    """Put each APPEALBOT_<SECTION>__<KEY> variable into the file's data; return each key
    path set so → the variable and where it was set."""
    overrides: dict[tuple[str, ...], str] = {}
    for name, variable in variables.items():
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX):
            continue
        label = f"{name} ({variable.origin})"
        if upper in NOT_KEYS:
            if variable.origin != ENVIRONMENT:
                raise ConfigError(f"{label}: is read from the environment only")
            continue
        path = tuple(upper.removeprefix(ENV_PREFIX).lower().split("__"))
        node = raw
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = _parse(variable.value)
        overrides[path] = label
    return overrides


def _anchor(model: BaseModel, folder: Path) -> None:
    """Make every relative path in the settings relative to `folder` (the config file's)."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            setattr(model, name, folder / value)
        elif isinstance(value, BaseModel):
            _anchor(value, folder)


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the config file and the APPEALBOT_* overrides; raise ConfigError
    naming the key and where it was set on any problem. Relative paths are taken from the
    config file's folder."""
    file = config_path(path)
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text ({exc.reason})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of sections")
    raw["config"] = file
    overrides = _override(raw, read_variables(file))

    def where(key: tuple[str, ...]) -> str:
        dotted = ".".join(key) or "(top level)"
        for path, label in overrides.items():
            if key and (path[: len(key)] == key or key[: len(path)] == path):
                return f"{label}: {dotted}"
        return f"{file}: {dotted}"

    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, where)) from exc
    _anchor(settings, file.absolute().parent)
    return settings


def load_secrets(settings: Settings) -> Secrets:
    """The secrets from the environment and the .env files of `settings`' config file."""
    variables = read_variables(settings.config)
    given = {
        name: variables[name.upper()] for name in Secrets.model_fields if name.upper() in variables
    }
    try:
        secrets = Secrets(**{name: variable.value for name, variable in given.items()})
    except ValidationError as exc:
        raise ConfigError(
            _describe(exc, lambda key: f"{key[0].upper()} ({given[key[0]].origin})")
        ) from exc
    secrets._origins = {name: variable.origin for name, variable in given.items()}
    return secrets
