"""API_SECRET_FILE: the exchange secret read from a file only its owner can read."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigmax.config import load_settings
from sigmax.config.loader import ConfigLoadError
from sigmax.config.paths import discover_config_dir

SECRET = "Zq81-secret-in-a-file-0600"


def _config_dir(home: Path) -> Path:
    found = discover_config_dir(home)
    assert found is not None
    return found.path


def _load(home: Path, env: dict[str, str]) -> object:
    return load_settings(home=home, config_dir=_config_dir(home), env=env)


def test_a_0600_secret_file_gives_the_api_secret(tmp_path: Path) -> None:
    secret = tmp_path / "binance.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    settings = load_settings(
        home=tmp_path,
        config_dir=_config_dir(tmp_path),
        env={"API_KEY": "k-123", "API_SECRET_FILE": str(secret), "TRADING_MODE": "live"},
    )
    assert settings.credentials.api_secret is not None
    assert settings.credentials.api_secret.get_secret_value() == SECRET
    assert SECRET in settings.secret_values()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_a_secret_file_others_can_read_is_refused_naming_file_and_rule(
    tmp_path: Path, mode: int
) -> None:
    secret = tmp_path / "binance.secret"
    secret.write_text(SECRET)
    secret.chmod(mode)
    with pytest.raises(ConfigLoadError) as caught:
        _load(tmp_path, {"API_KEY": "k-123", "API_SECRET_FILE": str(secret)})
    text = str(caught.value)
    assert "API_SECRET_FILE" in text
    assert str(secret) in text
    assert f"mode {mode:04o}" in text
    assert "chmod 600" in text
    assert SECRET not in text


def test_secret_and_secret_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "binance.secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    with pytest.raises(ConfigLoadError) as caught:
        _load(tmp_path, {"API_SECRET": "other-secret", "API_SECRET_FILE": str(secret)})
    assert "not both" in str(caught.value)
    assert "other-secret" not in str(caught.value)


def test_reconcile_minutes_defaults_to_five(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, config_dir=_config_dir(tmp_path), env={})
    assert settings.trading.reconcile_minutes == 5
