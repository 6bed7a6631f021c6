"""Shared fixtures.

Tests that need a real server (PostgreSQL, later Redis and NATS) use the fixtures below. Locally
they skip with a reason when the server is absent; with ``SIGMAX_REQUIRE_SERVICES=1`` (as in CI)
a missing server fails the test instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.binance_server import BinanceLoopback
from support.newsapi_server import NewsApiLoopback

REQUIRE_SERVICES = os.environ.get("SIGMAX_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "SIGMAX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NATS_URL = os.environ.get("SIGMAX_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (locally) or fail (CI) when a service is not listening."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and SIGMAX_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    """URL of the real PostgreSQL test database."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def nats_url() -> str:
    """URL of the real NATS server (with JetStream) used by the event bus tests."""
    require_service("NATS", "127.0.0.1", 4222)
    return NATS_URL


#: Variables SIGMAX reads; a developer's shell must not change what a test sees.
CONFIG_VARIABLES = (
    "TRADING_MODE", "TESTNET", "MAX_POSITION_SIZE", "MAX_DAILY_LOSS", "EXCHANGE", "API_KEY",
    "API_SECRET", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_URL", "POSTGRES_URL",
    "DATABASE_URL", "REDIS_URL", "NEWSAPI_KEY", "LOG_LEVEL", "MAX_CONSECUTIVE_LOSSES",
    "MAX_API_ERRORS_PER_MIN", "MAX_SLIPPAGE_PCT", "MIN_SENTIMENT", "OPA_URL", "NEWSAPI_URL",
    "NATS_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_ALLOWED_CHAT_IDS", "TELEGRAM_API_URL",
    "NATS_URL", "CRYPTOPANIC_TOKEN", "CRYPTOPANIC_URL", "REDDIT_URL", "COINGECKO_URL",
    "FEAR_GREED_URL", "OPENAI_URL", "ANTHROPIC_URL", "RSS_FEEDS", "REDDIT_SUBREDDITS",
    "LLM_PROVIDER", "LLM_MODEL", "LLM_DAILY_BUDGET_USD",
)  # fmt: skip


@pytest.fixture
def sigmax_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty SIGMAX_HOME with no configuration variables leaking in from the shell."""
    for var in list(os.environ):
        if var in CONFIG_VARIABLES or (
            var.startswith("SIGMAX_") and var != "SIGMAX_REQUIRE_SERVICES"
        ):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SIGMAX_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
async def binance_loopback() -> AsyncIterator[BinanceLoopback]:
    """A started Binance spot stand-in on 127.0.0.1 with its clock at ``DEFAULT_NOW_MS``."""
    async with BinanceLoopback() as server:
        yield server


@pytest.fixture
async def newsapi_loopback() -> AsyncIterator[NewsApiLoopback]:
    """A started NewsAPI stand-in on 127.0.0.1 with no articles; tests add their own."""
    async with NewsApiLoopback() as server:
        yield server
