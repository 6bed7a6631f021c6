"""The SIGMAX facade as the runbook uses it: start-up lines, persisted decisions, clean stop."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigmax import SIGMAX as EXPORTED_SIGMAX
from sigmax.engine.decision_log import StoredDecisionLog
from sigmax.engine.facade import SIGMAX, NotInitializedError
from sigmax.errors import ConfigError, DatasetNotFoundError, InputError, SigmaxError
from sigmax.logging_setup import sigmax_handlers
from sigmax.storage import Database

JUNE_1_NOON = 1_685_620_800_000  # 2023-06-01T12:00:00Z, a candle close in the bundled data

AGENT_LINES = [
    "✓ Researcher agent initialized",
    "✓ Bull agent initialized",
    "✓ Bear agent initialized",
    "✓ Analyzer agent initialized",
    "✓ Risk agent initialized",
    "✓ Privacy agent initialized",
    "✓ Optimizer agent initialized",
]


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)
    assert sigmax_handlers() == [], "the facade left log handlers installed"


def engine_messages(log_file: Path) -> list[str]:
    """The INFO messages of the ``sigmax.engine`` logger, in file order."""
    marker = " sigmax.engine: "
    return [
        line.split(marker, 1)[1]
        for line in log_file.read_text(encoding="utf-8").splitlines()
        if marker in line and " INFO " in line
    ]


async def test_initialize_logs_one_line_per_agent_in_order(sigmax_home: Path) -> None:
    async with SIGMAX(mode="paper", console_log=False) as sigmax:
        assert sigmax.settings.home == sigmax_home.resolve()
        assert sigmax.settings.trading.mode == "paper"
        log_file = sigmax.settings.log_file
    assert log_file == sigmax_home.resolve() / "logs" / "sigmax.log"
    messages = engine_messages(log_file)
    assert [m for m in messages if m.startswith("✓")] == AGENT_LINES
    assert messages[0].startswith("SIGMAX starting in paper mode, profile conservative")
    assert messages[-1] == "SIGMAX stopped"


async def test_analyze_persists_the_record_before_returning_it(sigmax_home: Path) -> None:
    sigmax = SIGMAX(mode="paper", profile="balanced", console_log=False)
    await sigmax.initialize()
    try:
        record = await sigmax.orchestrator.analyze_symbol("BTC/USDT", at_ms=JUNE_1_NOON)
        again = await sigmax.analyze("btc/usdt", at_ms=JUNE_1_NOON)
        database_url = sigmax.settings.effective_database_url()
    finally:
        await sigmax.stop()

    assert record.profile == "balanced"
    assert (record.symbol, record.timestamp_ms) == ("BTC/USDT", JUNE_1_NOON)
    assert again.id == record.id
    assert database_url == f"sqlite:///{sigmax_home.resolve() / 'sigmax.db'}"
    # Read back through a new connection: the write was committed, not just cached.
    database = Database.open(database_url)
    try:
        stored = StoredDecisionLog(database)
        assert stored.latest("BTC/USDT") == record.to_dict()
        assert len(stored.history(None, 10)) == 1
    finally:
        database.dispose()


async def test_using_the_facade_before_initialize_or_after_stop_is_a_clear_error(
    sigmax_home: Path,
) -> None:
    sigmax = SIGMAX()
    assert not sigmax.is_initialized
    with pytest.raises(NotInitializedError, match=r"call 'await sigmax.initialize\(\)' first"):
        await sigmax.analyze("BTC/USDT")
    with pytest.raises(SigmaxError, match=r"SIGMAX\.orchestrator"):
        _ = sigmax.orchestrator
    with pytest.raises(SigmaxError, match=r"SIGMAX\.settings"):
        _ = sigmax.settings

    await sigmax.initialize()
    assert sigmax.is_initialized
    await sigmax.stop()
    await sigmax.stop()  # a second stop is harmless
    with pytest.raises(NotInitializedError):
        await sigmax.analyze("BTC/USDT")


def test_mode_must_be_paper_or_live() -> None:
    with pytest.raises(InputError, match="mode must be 'paper' or 'live' \\(got 'backtest'\\)"):
        SIGMAX(mode="backtest")


async def test_live_mode_needs_credentials(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError) as refused:
        await SIGMAX(mode="live", console_log=False).initialize()
    assert {problem.key for problem in refused.value.problems} >= {"API_KEY", "API_SECRET"}

    monkeypatch.setenv("API_KEY", "test-key-0001")
    monkeypatch.setenv("API_SECRET", "test-secret-0002")
    async with SIGMAX(mode="LIVE", console_log=False) as sigmax:
        assert sigmax.settings.is_live


async def test_a_failed_start_leaves_no_log_handlers(sigmax_home: Path) -> None:
    absent = sigmax_home / "no-such-data"
    with pytest.raises(InputError, match="no-such-data: no such file or folder"):
        await SIGMAX(data=absent, console_log=False).initialize()
    # The autouse fixture checks that the handlers opened before the failure were closed.


async def test_unknown_symbol_names_what_is_available(sigmax_home: Path) -> None:
    async with SIGMAX(console_log=False) as sigmax:
        with pytest.raises(DatasetNotFoundError, match=r"no dataset for .*DOGE/USDT 1h"):
            await sigmax.analyze("DOGE/USDT")
        assert sigmax.decisions.history(None, 5) == []


def test_sigmax_is_exported_lazily() -> None:
    assert EXPORTED_SIGMAX is SIGMAX
    probe = (
        "import sys, sigmax; "
        "assert 'sigmax.engine.facade' not in sys.modules, 'imported eagerly'; "
        "from sigmax import SIGMAX; "
        "assert SIGMAX.__module__ == 'sigmax.engine.facade'"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode == 0, result.stderr


async def test_an_unknown_log_level_is_an_input_error(sigmax_home: Path) -> None:
    with pytest.raises(InputError, match=r"log level must be one of DEBUG.*\(got 'LOUD'\)"):
        await SIGMAX(log_level="LOUD", console_log=False).initialize()
