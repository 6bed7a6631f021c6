"""`sigmax config validate` and `sigmax config show` through the real Typer app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigmax.cli import app
from sigmax.config import ALL_ENV_VARS
from sigmax.config.paths import source_config_dir

runner = CliRunner()


@pytest.fixture
def env(sigmax_home: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No SIGMAX variable from the developer's shell; the shipped config in a private copy."""
    for name in ALL_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    config = sigmax_home / "config"
    shutil.copytree(source_config_dir(), config)
    monkeypatch.setenv("SIGMAX_HOME", str(sigmax_home))
    return monkeypatch


def test_validate_valid_configuration_exits_0_with_a_summary(
    env: pytest.MonkeyPatch, sigmax_home: Path
) -> None:
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("configuration is valid\n")
    assert "mode        paper" in out
    assert "exchange    binance" in out
    assert "profile     conservative (max position 10 USD" in out
    assert f"config dir  {(sigmax_home / 'config').resolve()} (SIGMAX_HOME/config)" in out
    assert f"home        {sigmax_home.resolve()}" in out
    assert f"database    sqlite {sigmax_home.resolve() / 'sigmax.db'}" in out


def test_validate_with_profile_option(env: pytest.MonkeyPatch) -> None:
    env.setenv("SIGMAX_PROFILE", "balanced")
    result = runner.invoke(app, ["config", "validate", "--profile", "aggressive"])
    assert result.exit_code == 0, result.output
    assert "profile     aggressive (max position 100 USD" in result.stdout


def test_validate_shows_postgres_without_password(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "postgres://trader:Pg-Secret-99@db.internal:5432/sigmax")
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 0, result.output
    assert "database    postgresql db.internal:5432/sigmax (user trader)" in result.stdout
    assert "Pg-Secret-99" not in result.output


def test_validate_invalid_exits_2_with_one_line_per_problem(env: pytest.MonkeyPatch) -> None:
    env.setenv("MAX_POSITION_SIZE", "-5")
    env.setenv("TESTNET", "sometimes")
    env.setenv("TRADING_MODE", "live")
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: invalid configuration (2 problems)")
    assert lines[1:] == [
        "TESTNET: must be true or false (got sometimes)",
        "MAX_POSITION_SIZE: must be > 0 (got -5)",
    ]
    assert result.stdout == ""


def test_validate_live_without_keys_exits_2(env: pytest.MonkeyPatch) -> None:
    env.setenv("TRADING_MODE", "live")
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2
    assert "API_KEY: is required when TRADING_MODE=live" in result.stderr.splitlines()
    assert "API_SECRET: is required when TRADING_MODE=live" in result.stderr.splitlines()


def test_validate_never_echoes_secrets(env: pytest.MonkeyPatch) -> None:
    env.setenv("API_KEY", "Live-Key-123456")
    env.setenv("DATABASE_URL", "mysql://root:Db-Secret-654321@h/db")
    env.setenv("MIN_SENTIMENT", "-3")
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2
    assert "MIN_SENTIMENT: must be >= -1 (got -3)" in result.stderr
    assert (
        "DATABASE_URL: must be a sqlite:/// or postgresql:// URL (got **********)" in result.stderr
    )
    assert "Db-Secret-654321" not in result.output
    assert "Live-Key-123456" not in result.output


def test_validate_reports_yaml_syntax_errors(env: pytest.MonkeyPatch, sigmax_home: Path) -> None:
    (sigmax_home / "config" / "config.yaml").write_text("trading: [paper\n", encoding="utf-8")
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2
    assert "config.yaml: invalid YAML syntax at line 2" in result.stderr


def test_unknown_profile_exits_2(env: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["config", "validate", "--profile", "nope"])
    assert result.exit_code == 2
    assert "profile_name: no file profiles/nope.yaml" in result.stderr


def _show_json(*args: str) -> dict[str, dict[str, object]]:
    result = runner.invoke(app, ["config", "show", "--json", *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    values: dict[str, dict[str, object]] = data["values"]
    return values


def test_show_json_reports_the_source_of_each_value(
    env: pytest.MonkeyPatch, sigmax_home: Path
) -> None:
    (sigmax_home / ".env").write_text("MAX_DAILY_LOSS=25\nEXCHANGE=kraken\n", encoding="utf-8")
    env.setenv("EXCHANGE", "coinbase")
    env.setenv("MAX_CONSECUTIVE_LOSSES", "4")
    values = _show_json("--profile", "balanced")
    assert values["trading.exchange"] == {"value": "coinbase", "source": "env", "env": "EXCHANGE"}
    assert values["safety.max_daily_loss_usd"] == {
        "value": "25",
        "source": ".env",
        "env": "MAX_DAILY_LOSS",
    }
    assert values["safety.max_consecutive_losses"]["source"] == "env"
    assert values["safety.max_slippage_pct"] == {
        "value": 2.5,
        "source": "safety.yaml",
        "env": "MAX_SLIPPAGE_PCT",
    }
    assert values["trading.mode"]["source"] == "config.yaml"
    assert values["agents.debate_rounds"]["source"] == "agents.yaml"
    assert values["profile.max_position_size"] == {
        "value": "50",
        "source": "profiles/balanced.yaml",
        "env": "MAX_POSITION_SIZE",
    }
    assert values["profile_name"] == {
        "value": "balanced",
        "source": "override",
        "env": "SIGMAX_PROFILE",
    }
    assert values["credentials.api_key"] == {"value": None, "source": "default", "env": "API_KEY"}


def test_show_json_reports_defaults_when_yaml_is_silent(
    env: pytest.MonkeyPatch, sigmax_home: Path
) -> None:
    (sigmax_home / "config" / "safety.yaml").write_text("", encoding="utf-8")
    values = _show_json()
    assert values["safety.max_consecutive_losses"] == {
        "value": 3,
        "source": "default",
        "env": "MAX_CONSECUTIVE_LOSSES",
    }
    assert values["profile.max_position_size"]["source"] == "profiles/conservative.yaml"


def test_show_masks_secrets_in_json_and_table(env: pytest.MonkeyPatch) -> None:
    env.setenv("API_KEY", "Live-Key-123456")
    env.setenv("API_SECRET", "Live-Secret-7890")
    env.setenv("REDIS_URL", "redis://:Redis-Pass-4321@cache:6379/0")
    env.setenv("OLLAMA_URL", "http://llm:Ollama-Pass-1111@gpu-box:11434")
    values = _show_json()
    assert values["credentials.api_key"] == {
        "value": "**********",
        "source": "env",
        "env": "API_KEY",
    }
    assert values["services.redis_url"]["value"] == "**********"
    assert values["services.ollama_url"]["value"] == "http://llm:**********@gpu-box:11434"
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        for secret in (
            "Live-Key-123456",
            "Live-Secret-7890",
            "Redis-Pass-4321",
            "Ollama-Pass-1111",
        ):
            assert secret not in result.output


def test_show_table_lists_keys_values_and_sources(env: pytest.MonkeyPatch) -> None:
    env.setenv("MAX_POSITION_SIZE", "15")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "profile.max_position_size" in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells == ["profile.max_position_size", "15", "env", "MAX_POSITION_SIZE"]
    timeframes = next(line for line in result.stdout.splitlines() if "timeframes.higher" in line)
    assert "[x4, x24]" in timeframes
    assert "agents.yaml" in timeframes


def test_show_invalid_exits_2(env: pytest.MonkeyPatch) -> None:
    env.setenv("MAX_SLIPPAGE_PCT", "0")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 2
    assert "MAX_SLIPPAGE_PCT: must be > 0 (got 0)" in result.stderr
    assert result.stdout == ""
