"""Loads config.yaml (policy) and the environment (secrets) into validated settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from handlers.limits import Limits
from nlp.keywords import DISPOSITION_PATH, KEYWORDS_PATH, TYPES_PATH, URGENCY_PATH
from nlp.types import AppealType, Calibration
from workflow.policy import CalendarConfig, Duty, FollowUp, SlaConfig, Triage

DEFAULT_CONFIG = Path("config.yaml")
PLACEHOLDER_SECRETS = {"changeme", "change-me", "your-token-here", "xxx", "token"}

WECHAT_API_URL = "https://api.weixin.qq.com"


class ConfigError(Exception):
    """A configuration problem, with a message that names the offending key."""


class Center(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    timezone: str = "Asia/Shanghai"


class DepartmentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["department", "township", "center"] = "department"


class NlpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_confidence: float = Field(default=0.35, ge=0, le=1)
    keyword_table: Path = KEYWORDS_PATH  # the topics `appealbot nlp train --data` writes
    type_table: Path = TYPES_PATH  # the types `appealbot nlp train --types` writes
    urgency_table: Path = URGENCY_PATH  # life/urgent/normal, `nlp train --labels urgency`
    disposition_table: Path = DISPOSITION_PATH  # `nlp train --labels disposition` writes
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


class TelegramSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    # The public https URL of /telegram; when set, webhook mode on the web server instead
    # of long polling.
    webhook_url: str | None = None


class ServerSettings(BaseModel):
    """The one ASGI app (webhooks, /healthz)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)


class Channels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    console: ConsoleSettings = ConsoleSettings()
    telegram: TelegramSettings = TelegramSettings()
    wechat: WechatSettings = WechatSettings()


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sweep_seconds: float = Field(default=5.0, gt=0)


class Settings(BaseSettings):
    """Everything from config.yaml; any key can be overridden by APPEALBOT_<SECTION>__<KEY>."""

    model_config = SettingsConfigDict(
        env_prefix="APPEALBOT_", env_nested_delimiter="__", extra="forbid"
    )

    config: Path | None = None  # APPEALBOT_CONFIG: where this came from
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment overrides it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _references_exist(self) -> Settings:
        names = {d.name for d in self.departments}
        for i, spec in enumerate(self.types):
            if "{township}" not in spec.department and spec.department not in names:
                raise ValueError(f"types.{i}.department: unknown department {spec.department!r}")
        return self


class Secrets(BaseSettings):
    """Credentials and the database URL: only ever from the environment."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str | None = None
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    wechat_token: str | None = None
    wechat_appid: str | None = None
    wechat_appsecret: str | None = None
    wechat_encoding_aes_key: str | None = None
    wechat_encoding_aes_key_previous: str | None = None  # still decrypts during a key change

    def credentials(self) -> list[str]:
        """The values no log line may show (everything but the database URL and app id)."""
        hidden = self.model_dump(exclude={"database_url", "wechat_appid"})
        return [value for value in hidden.values() if value]

    @model_validator(mode="after")
    def _no_placeholders(self) -> Secrets:
        for name, value in self.model_dump().items():
            if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(f"{name.upper()} is a placeholder; set the real value")
        return self


def config_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    return Path(os.environ.get("APPEALBOT_CONFIG", DEFAULT_CONFIG))


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{source}: {key}: {item['msg']}")
    return "\n".join(lines)


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the config file; raise ConfigError naming the key on any problem."""
    file = config_path(path)
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of sections")
    raw["config"] = file
    try:
        return Settings(**raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(file))) from exc


def load_secrets() -> Secrets:
    try:
        return Secrets()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "environment")) from exc
