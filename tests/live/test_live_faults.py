"""A live account through real ccxt: a burst of 5xx during a run (every failed call counts
towards the API-error-burst trigger, which pauses trading with the runbook's line, and no
order reaches the exchange while the pause holds), and a panic with no engine running."""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.account_runs import clean_home
from live.test_live_run import live_env, options
from sigmax.engine.account import open_account_home
from sigmax.engine.runner import run_paper
from sigmax.engine.safety_service import CommandResult, request_command
from sigmax.storage.models import ControlKind, ControlStatus
from support.binance_server import SYMBOLS as RULES
from support.binance_server import FaultKind
from support.binance_spot import BinanceSpotStandIn


async def test_a_burst_of_5xx_during_a_live_run_pauses_it_with_the_runbook_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "live"
    home.mkdir()
    async with BinanceSpotStandIn(balances={"USDT": Decimal("1000")}) as spot:
        # Calls made once the engine runs (the start's reconciliation, the first candles):
        # each is retried until it succeeds, and each failure is counted (7 in 60 s pause).
        spot.fail_next("/api/v3/openOrders", FaultKind.UNAVAILABLE, 3)
        spot.fail_next("/api/v3/myTrades", FaultKind.UNAVAILABLE, 3)
        spot.fail_next("/api/v3/klines", FaultKind.UNAVAILABLE, 2)
        with clean_home(home), live_env(monkeypatch, spot):
            report = await run_paper(options(home, spot, mode="live", closes=2))
        assert spot.pending_faults("/api/v3/openOrders") == 0
        assert spot.pending_faults("/api/v3/myTrades") == 0
        assert spot.pending_faults("/api/v3/klines") == 0
        # The run went on (every call succeeded in the end) but traded nothing: paused.
        assert report.totals.candles == 4
        assert spot.orders == {}
    engine = create_engine(f"sqlite:///{home / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            events = connection.execute(
                text("SELECT kind, trigger, reason FROM safety_events ORDER BY id")
            ).all()
            refused = connection.execute(
                text("SELECT COUNT(*) FROM decisions WHERE action = 'BUY'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert [(e[0], e[1]) for e in events][:1] == [("trigger", "api_error_burst")], events
    assert refused > 0  # the candles decided to buy; the pause refused every entry
    logged = (home / "logs" / "sigmax.log").read_text()
    assert "PAUSE: API error burst detected (7 errors in 60s)" in logged
    # The retried requests are logged without their signature (nor the key or secret).
    assert "fetch_open_orders: attempt 1/4 failed" in logged
    assert re.search(r"signature=[0-9a-f]{64}", logged) is None
    assert spot.api_secret not in logged


@pytest.mark.slow
async def test_a_panic_with_no_engine_running_closes_the_live_account_on_the_exchange(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sigmax panic` (the service every face calls) when the live run is not running: it
    connects with the configured keys, cancels and sells on the exchange through the run's
    trader, and records what the exchange reports."""
    home = tmp_path / "live"
    home.mkdir()
    async with BinanceSpotStandIn(balances={"USDT": Decimal("1000")}) as spot:
        with clean_home(home), live_env(monkeypatch, spot):
            await run_paper(options(home, spot, mode="live", closes=4))
            assert spot.open_orders_now()  # the take-profits rest on the exchange
            assert spot.total("BTC") > 0
            assert spot.total("ETH") > 0
            # No engine: the CLI connects on the exchange's clock, which flows from now on.
            spot.run_clock()

            def panic() -> CommandResult:
                with open_account_home(home) as account:
                    return request_command(account, ControlKind.PANIC, {"reason": "offline"})

            # The exchange fails while the panic lists the open orders: trading is paused and
            # the message says the close-out is not confirmed.
            spot.fail_next("/api/v3/openOrders", FaultKind.UNAVAILABLE, 4)  # every attempt
            failed = await asyncio.to_thread(panic)
            assert failed.status is ControlStatus.APPLIED, failed.message
            assert "failed before confirming the close-out" in failed.message
            assert "NOT FLAT" in failed.message
            assert spot.open_orders_now()
            assert spot.pending_faults("/api/v3/openOrders") == 0
            # Asked again once the exchange answers, the panic closes everything.
            result = await asyncio.to_thread(panic)
        assert result.status is ControlStatus.APPLIED, result.message
        assert result.applied_by == "cli"
        assert "binance now reports open orders: none" in result.message, result.message
        assert "on the exchange with the configured keys" in result.message
        assert "NOT FLAT" not in result.message
        assert spot.open_orders_now() == []
        for base in ("BTC", "ETH"):
            step = RULES[f"{base}USDT"].step_size
            assert spot.total(base) < step, (base, spot.total(base))
        assert spot.api_secret not in result.message
    engine = create_engine(f"sqlite:///{home / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            panics = connection.execute(
                text("SELECT status FROM orders WHERE purpose = 'panic'")
            ).all()
            (state,) = connection.execute(
                text("SELECT value FROM engine_state WHERE key LIKE 'run:%'")
            ).one()
    finally:
        engine.dispose()
    assert [p[0] for p in panics] == ["filled", "filled"]
    point = json.loads(state) if isinstance(state, str) else state
    assert Decimal(point["ledger"]["cash"]) == spot.total("USDT")
    assert point["venue"]["open"] == []
    assert point["venue"]["stops"] == []
