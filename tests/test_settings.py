"""config.yaml and the environment: validation names the key, env overrides, exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.settings import ConfigError, Secrets, load_settings
from tests.conftest import ROOT


def _config(tmp_path: Path, change: dict[str, object]) -> Path:
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data.update(change)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_config_is_valid() -> None:
    settings = load_settings(ROOT / "config.yaml")
    names = {spec.name for spec in settings.types}
    assert {"占道经营", "路灯故障", "盗窃", "燃气火灾触电险情", "催办投诉", "农村事务"} <= names
    departments = {d.name for d in settings.departments}
    assert {spec.department for spec in settings.types} - departments == {"{township}"}
    assert settings.sla.referral.finish.working_days == 2


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
    settings = load_settings(ROOT / "config.yaml")
    assert settings.limits.photos_per_appeal == 4
    assert settings.center.name == "测试综治中心"


def test_config_path_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, {"center": {"name": "环境变量指定的中心"}})
    monkeypatch.setenv("APPEALBOT_CONFIG", str(path))
    assert load_settings().center.name == "环境变量指定的中心"


def test_placeholder_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "changeme")
    with pytest.raises(Exception, match="TELEGRAM_BOT_TOKEN is a placeholder"):
        Secrets()


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
