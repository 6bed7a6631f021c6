"""Secrets in service URLs, wherever they sit (user info, query, fragment), never shown: in
connection errors, ``sigmax config show`` / ``validate`` and the logs, for every *_URL setting."""

from __future__ import annotations

import json
import logging
import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policy.policy_cases import LIMITS, account, buy
from sigmax.cli import app
from sigmax.config import ALL_ENV_VARS, load_settings
from sigmax.logging_setup import configure_logging
from sigmax.safety.policy_input import OrderPolicyInput
from sigmax.safety.policy_opa import OpaPolicyEngine
from sigmax.safety.policy_types import PolicyServiceError
from sigmax.storage.database import Database
from sigmax.storage.errors import DatabaseUnreachableError, InvalidDatabaseUrlError
from sigmax.url_secrets import mask_url, mask_urls_in, url_secrets

runner = CliRunner()

# One secret per place and per setting, so that a leak names where it came from.
URLS = {
    "POSTGRES_URL": "postgresql://trader:Pg-User-Pass-1@127.0.0.1:1/sigmax"
    "?password=Pg-Query-Pass-2&sslmode=disable",
    "DATABASE_URL": "postgresql://trader@127.0.0.1:1/sigmax?sslpassword=Db-Query-Pass-3"
    "&password=Db-Query-Pass-4",
    "REDIS_URL": "redis://:Redis-User-Pass-5@cache:6379/0?token=Redis-Query-Tok-6",
    "NATS_URL": "nats://Nats-Token-7@127.0.0.1:4222,nats://u:Nats-Pass-8@127.0.0.1:4223",
    "OPA_URL": "http://opa:8181/?token=Opa-Query-Tok-9#access_token=Opa-Frag-Tok-10",
    "NEWSAPI_URL": "https://newsapi.example?apiKey=News-Query-Key-11",
    "OLLAMA_URL": "http://Ollama-Token-12@gpu-box:11434/#Ollama-Frag-13",
}
SECRETS = [
    "Pg-User-Pass-1",
    "Pg-Query-Pass-2",
    "Db-Query-Pass-3",
    "Db-Query-Pass-4",
    "Redis-User-Pass-5",
    "Redis-Query-Tok-6",
    "Nats-Token-7",
    "Nats-Pass-8",
    "Opa-Query-Tok-9",
    "Opa-Frag-Tok-10",
    "News-Query-Key-11",
    "Ollama-Token-12",
    "Ollama-Frag-13",
]


@pytest.fixture
def env(sigmax_home: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No SIGMAX variable from the developer's shell; the shipped config in a private copy."""
    for name in ALL_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    shutil.copytree(Path(__file__).parents[2] / "config", sigmax_home / "config")
    monkeypatch.setenv("SIGMAX_HOME", str(sigmax_home))
    return monkeypatch


def assert_no_secret(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert leaked == [], f"leaked {leaked} in {text!r}"


# --- the rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown", "secrets"),
    [
        (
            "postgresql://u:p%40ss-word@h:5432/db?password=q-secret&sslmode=require",
            "postgresql://u:***@h:5432/db?password=***&sslmode=require",
            ["p%40ss-word", "p@ss-word", "q-secret"],
        ),
        ("https://h/p?q=btc&apiKey=k1#frag-token", "https://h/p?q=btc&apiKey=***#***", None),
        (
            "https://h/cb#access_token=t1&state=st-77",
            "https://h/cb#access_token=***&state=***",
            None,
        ),
        ("nats://tok-en@h:4222", "nats://***@h:4222", ["tok-en"]),
        ("postgresql://sigmax@h/db", "postgresql://sigmax@h/db", []),
        ("redis://:pw@h:6379/0?socket_timeout=5", "redis://:***@h:6379/0?socket_timeout=5", ["pw"]),
        ("sqlite:////var/lib/sigmax.db", "sqlite:////var/lib/sigmax.db", []),
        ("http://h:notaport/x?token=t", "(unreadable URL)", []),
    ],
)
def test_every_place_in_a_url_is_masked(url: str, shown: str, secrets: list[str] | None) -> None:
    assert mask_url(url) == shown
    if secrets is not None:
        assert sorted(url_secrets(url)) == sorted(secrets)
    for secret in url_secrets(url):
        assert secret not in mask_url(url)


def test_urls_inside_a_message_are_masked() -> None:
    message = "GET https://api.example/v3/klines?symbol=BTCUSDT&signature=abc123def failed: 401"
    assert mask_urls_in(message) == (
        "GET https://api.example/v3/klines?symbol=BTCUSDT&signature=*** failed: 401"
    )


# --- config show / validate -------------------------------------------------------------


def test_config_show_masks_every_url_setting(env: pytest.MonkeyPatch) -> None:
    for name, url in URLS.items():
        env.setenv(name, url)
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert_no_secret(result.output)
    values = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)["values"]
    shown = {key: entry["value"] for key, entry in values.items()}
    # Public URLs stay readable where they hold nothing secret.
    assert shown["services.newsapi_url"] == "https://newsapi.example?apiKey=**********"
    assert shown["safety.policy.opa_url"].startswith("http://opa:8181/?token=")


@pytest.mark.parametrize(
    ("name", "url", "secret"),
    [
        ("OPA_URL", "ftp://u:Opa-Bad-Pass-1@opa/?token=Opa-Bad-Tok-2", "Opa-Bad"),
        ("NEWSAPI_URL", "ftp://newsapi?apiKey=News-Bad-Key-3#News-Bad-Frag-4", "News-Bad"),
        ("OLLAMA_URL", "gopher://Ollama-Bad-Tok-5@gpu?x=Ollama-Bad-Q-6", "Ollama-Bad"),
    ],
)
def test_config_validate_masks_a_rejected_url(
    env: pytest.MonkeyPatch, name: str, url: str, secret: str
) -> None:
    env.setenv(name, url)
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2, result.output
    assert f"{name}: must be an http:// or https:// URL" in result.stderr
    assert secret not in result.output


# --- logs ---------------------------------------------------------------------------------


def test_logs_mask_every_secret_of_every_url(env: pytest.MonkeyPatch, sigmax_home: Path) -> None:
    for name, url in URLS.items():
        env.setenv(name, url)
    settings = load_settings()
    path = configure_logging(settings, console=False)
    log = logging.getLogger("sigmax.test")
    for secret in SECRETS:
        log.warning("driver said: auth failed with %s", secret)
    for url in URLS.values():
        log.warning("connecting to %s", url)
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = path.read_text(encoding="utf-8")
    assert written.count("driver said") == len(SECRETS)
    assert_no_secret(written)


# --- connection errors -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["POSTGRES_URL", "DATABASE_URL"])
def test_a_database_connection_error_masks_the_query_password(name: str) -> None:
    with pytest.raises(DatabaseUnreachableError) as caught:
        Database.open(URLS[name])
    message = str(caught.value)
    assert "127.0.0.1:1/sigmax" in message
    assert "password=***" in message
    assert_no_secret(message)


def test_an_unsupported_database_url_masks_its_query() -> None:
    with pytest.raises(InvalidDatabaseUrlError) as caught:
        Database.open("mysql://root@h/db?password=Pg-Query-Pass-2")
    assert "password=***" in str(caught.value)
    assert_no_secret(str(caught.value))


def test_an_unreachable_opa_masks_its_url_secrets() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/?token=Opa-Query-Tok-9#Opa-Frag-Tok-10"
    with (
        OpaPolicyEngine(url, timeout_seconds=0.3) as engine,
        pytest.raises(PolicyServiceError, match="request failed") as caught,
    ):
        engine.evaluate(OrderPolicyInput(buy("DOGE/USDT", "1"), account(), LIMITS))
    assert_no_secret(str(caught.value))


def test_an_opa_url_that_is_not_http_masks_its_secrets() -> None:
    with pytest.raises(PolicyServiceError) as caught:
        OpaPolicyEngine("ftp://u:Opa-Frag-Tok-10@opa/?token=Opa-Query-Tok-9")
    assert "ftp://u:***@opa/?token=***" in str(caught.value)
    assert_no_secret(str(caught.value))
