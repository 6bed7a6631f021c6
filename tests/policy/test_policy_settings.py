"""The ``policy`` block of safety.yaml and OPA_URL: defaults, overrides and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigmax.config import ConfigLoadError, load_settings
from sigmax.config.settings import PolicySettings


def _config_dir(tmp_path: Path, safety_yaml: str) -> Path:
    folder = tmp_path / "config"
    (folder / "profiles").mkdir(parents=True)
    (folder / "profiles" / "conservative.yaml").write_text("", encoding="utf-8")
    (folder / "safety.yaml").write_text(safety_yaml, encoding="utf-8")
    return folder


def _problems(tmp_path: Path, safety_yaml: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigLoadError) as caught:
        load_settings(home=tmp_path, config_dir=_config_dir(tmp_path, safety_yaml), env=env or {})
    return [str(p) for p in caught.value.problems]


def test_defaults() -> None:
    policy = PolicySettings()
    assert policy.allowed_assets == ("BTC", "ETH", "SOL", "BNB")
    assert policy.quote_asset == "USDT"
    assert policy.blacklist == ()
    assert policy.max_leverage == 1
    assert policy.directory is None
    assert policy.opa_url is None


def test_yaml_block_is_read_and_normalised(tmp_path: Path) -> None:
    yaml_text = (
        "policy:\n"
        "  allowed_assets: [btc, eth]\n"
        "  quote_asset: usdt\n"
        "  blacklist: [doge, shib-usdt, DOGE]\n"
        "  opa_timeout_seconds: 0.5\n"
    )
    settings = load_settings(home=tmp_path, config_dir=_config_dir(tmp_path, yaml_text), env={})
    policy = settings.safety.policy
    assert policy.allowed_assets == ("BTC", "ETH")
    assert policy.quote_asset == "USDT"
    assert policy.blacklist == ("DOGE", "SHIB/USDT")
    assert policy.opa_timeout_seconds == 0.5


def test_opa_url_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path,
        config_dir=_config_dir(tmp_path, ""),
        env={"OPA_URL": "http://opa:Opa-Pass-4321@127.0.0.1:8181/"},
    )
    assert settings.safety.policy.opa_url == "http://opa:Opa-Pass-4321@127.0.0.1:8181"
    assert "Opa-Pass-4321" in settings.secret_values()


@pytest.mark.parametrize(
    ("yaml_text", "env", "expected"),
    [
        (
            "policy:\n  allowed_assets: [BTC, 'D!']\n",
            {},
            "safety.yaml: policy.allowed_assets: must be asset codes such as BTC "
            "('D!' is not one) (got [BTC, D!])",
        ),
        (
            "policy:\n  allowed_assets: []\n",
            {},
            "safety.yaml: policy.allowed_assets: must name at least one asset (got [])",
        ),
        (
            "policy:\n  allowed_assets: [BTC, btc]\n",
            {},
            "safety.yaml: policy.allowed_assets: must not repeat an asset (repeated: BTC) "
            "(got [BTC, btc])",
        ),
        (
            "policy:\n  max_leverage: 3\n",
            {},
            "safety.yaml: policy.max_leverage: must be <= 1 (got 3)",
        ),
        (
            "policy:\n  blacklist: [DOGE/]\n",
            {},
            "safety.yaml: policy.blacklist: symbol must look like BASE/QUOTE, e.g. BTC/USDT "
            "(got 'DOGE/') (got [DOGE/])",
        ),
        (
            "policy:\n  unknown: 1\n",
            {},
            "safety.yaml: policy.unknown: unknown key (allowed: allowed_assets, blacklist, "
            "directory, max_leverage, opa_timeout_seconds, opa_url, quote_asset)",
        ),
        (
            "",
            {"OPA_URL": "ftp://x"},
            "OPA_URL: must be an http:// or https:// URL with a host (got ftp://x)",
        ),
    ],
)
def test_invalid_values_name_field_and_rule(
    tmp_path: Path, yaml_text: str, env: dict[str, str], expected: str
) -> None:
    assert _problems(tmp_path, yaml_text, env) == [expected]
