"""config.yaml and the environment: validation names the key, env overrides, exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.settings import NOT_KEYS, ConfigError, SendLimits, load_secrets, load_settings
from tests.conftest import ROOT


def _config(folder: Path, change: dict[str, object]) -> Path:
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data.update(change)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_config_is_valid() -> None:
    settings = load_settings(ROOT / "config.yaml")
    names = {spec.name for spec in settings.types}
    assert {"占道经营", "路灯故障", "盗窃", "燃气火灾触电险情", "催办投诉", "农村事务"} <= names
    departments = {d.name for d in settings.departments}
    assert {spec.department for spec in settings.types} - departments == {"{township}"}
    assert settings.sla.referral.finish.working_days == 2
    assert settings.channels.telegram.limits == SendLimits()  # Telegram's own limits


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"limits\.photos_per_apeal: Extra inputs"):
        load_settings(_config(tmp_path, {"limits": {"photos_per_apeal": 3}}))


def test_a_bad_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"limits\.text_max_chars"):
        load_settings(_config(tmp_path, {"limits": {"text_max_chars": "很多"}}))


def test_an_unknown_department_is_named(tmp_path: Path) -> None:
    types = [{"name": "盗窃", "category": "治安", "department": "不存在的部门"}]
    with pytest.raises(ConfigError, match=r"types\.0\.department"):
        load_settings(_config(tmp_path, {"types": types}))


def test_environment_overrides_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPEALBOT_LIMITS__PHOTOS_PER_APPEAL", "4")
    monkeypatch.setenv("APPEALBOT_CENTER__NAME", "测试综治中心")
    monkeypatch.setenv("APPEALBOT_CALENDAR__HOLIDAYS", '["2026-10-08"]')  # JSON for a list
    settings = load_settings(ROOT / "config.yaml")
    assert settings.limits.photos_per_appeal == 4
    assert settings.center.name == "测试综治中心"
    assert [day.isoformat() for day in settings.calendar.holidays] == ["2026-10-08"]


def test_config_path_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, {"center": {"name": "环境变量指定的中心"}})
    monkeypatch.setenv("APPEALBOT_CONFIG", str(path))
    assert load_settings().center.name == "环境变量指定的中心"


def test_placeholder_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "changeme")
    with pytest.raises(ConfigError) as refused:
        load_secrets(load_settings(ROOT / "config.yaml"))
    assert str(refused.value) == (
        "TELEGRAM_BOT_TOKEN (environment): a placeholder; set the real value"
    )


def test_the_cli_says_which_key_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, {"scheduler": {"sweep_seconds": -1}})
    assert main(["--config", str(path), "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "scheduler.sweep_seconds" in err and "Traceback" not in err


def test_a_missing_file_exits_2_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "--config",
            str(tmp_path / "nope.yaml"),
            "db",
            "upgrade",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot read config file" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("APPEALBOT_LIMTS__PHOTOS_PER_APPEAL", "limts"),  # a typo in the section
        ("APPEALBOT_LIMITS_PHOTOS_PER_APPEAL", "limits_photos_per_appeal"),  # one underscore
        ("APPEALBOT_LIMITS__PHOTOS_PER_APEAL", "limits.photos_per_apeal"),  # a typo in the key
    ],
)
def test_an_unknown_override_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, key: str
) -> None:
    monkeypatch.setenv(variable, "3")
    with pytest.raises(ConfigError) as refused:
        load_settings(ROOT / "config.yaml")
    assert str(refused.value) == f"{variable} (environment): {key}: Extra inputs are not permitted"


def _refusal_with_dotenv(monkeypatch: pytest.MonkeyPatch, folder: Path, dotenv: str) -> str:
    """What loading the shipped config says, run in `folder` with `dotenv` as its .env."""
    monkeypatch.chdir(folder)
    (folder / ".env").write_text(dotenv, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(ROOT / "config.yaml")
    return str(refused.value)


def test_a_bad_value_from_a_dotenv_file_names_the_variable_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = _refusal_with_dotenv(
        monkeypatch, tmp_path, "APPEALBOT_LIMITS__TEXT_MAX_CHARS=很多\n"
    )
    assert refusal == (
        f"APPEALBOT_LIMITS__TEXT_MAX_CHARS ({tmp_path / '.env'}): limits.text_max_chars: "
        "Input should be a valid integer, unable to parse string as an integer"
    )


def test_dotenv_files_beside_the_config_and_here_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path / "srv", {})
    (tmp_path / "srv" / ".env").write_text(
        "APPEALBOT_LIMITS__PHOTOS_PER_APPEAL=2\nAPPEALBOT_LIMITS__APPEALS_PER_DAY=3\n"
        "APPEALBOT_CENTER__NAME=配置旁的中心\nTELEGRAM_BOT_TOKEN=1:from-the-config-folder\n"
        "DATABASE_URL=sqlite:///beside.db\n",
        encoding="utf-8",
    )
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    (here / ".env").write_text(
        "APPEALBOT_LIMITS__APPEALS_PER_DAY=4\nAPPEALBOT_CENTER__NAME=工作目录的中心\n"
        "TELEGRAM_BOT_TOKEN=1:from-here\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("APPEALBOT_CENTER__NAME", "环境变量的中心")
    settings = load_settings(config)
    assert settings.limits.photos_per_appeal == 2
    assert settings.limits.appeals_per_day == 4
    assert settings.center.name == "环境变量的中心"
    secrets = load_secrets(settings)
    assert secrets.telegram_bot_token == "1:from-here"
    assert secrets.origin("telegram_bot_token") == str(here / ".env")
    assert secrets.database_url == "sqlite:///beside.db"
    assert secrets.origin("database_url") == str(tmp_path / "srv" / ".env")


def test_the_variables_that_are_no_key_are_taken_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in NOT_KEYS:
        monkeypatch.setenv(name, str(ROOT / "config.yaml") if name == "APPEALBOT_CONFIG" else "1")
    assert load_settings().center.name
    monkeypatch.delenv("APPEALBOT_CONFIG")
    refusal = _refusal_with_dotenv(monkeypatch, tmp_path, "APPEALBOT_CONFIG=other.yaml\n")
    assert refusal == (
        f"APPEALBOT_CONFIG ({tmp_path / '.env'}): is read from the environment only"
    )


def test_the_example_dotenv_file_copied_as_it_is_sets_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text("utf-8"), "utf-8")
    secrets = load_secrets(load_settings(ROOT / "config.yaml"))
    assert secrets.model_dump() == dict.fromkeys(secrets.model_dump())


@pytest.mark.parametrize("url", ["mysql://app@127.0.0.1/app", "127.0.0.1:5432/app"])
def test_a_database_url_of_another_kind_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ConfigError) as refused:
        load_secrets(load_settings(ROOT / "config.yaml"))
    assert str(refused.value) == (
        "DATABASE_URL (environment): not a postgresql://… or sqlite:///… URL"
    )


def test_relative_paths_are_taken_from_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(
        tmp_path / "srv",
        {"storage": {"data_dir": "state"}, "nlp": {"type_table": "tables/types.tsv"}},
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(Path("..") / "srv" / "config.yaml")
    assert settings.storage.data_dir.resolve() == (tmp_path / "srv" / "state").resolve()
    assert settings.nlp.type_table.resolve() == (tmp_path / "srv" / "tables" / "types.tsv")
    assert settings.nlp.keyword_table.is_absolute()  # the packaged tables stay where they are
    assert config.parent.resolve() == (tmp_path / "srv").resolve()


def test_an_unknown_time_zone_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"center\.timezone: unknown time zone 'Asia/Shangai'"):
        load_settings(_config(tmp_path, {"center": {"name": "中心", "timezone": "Asia/Shangai"}}))
