"""A live run through real ccxt when the exchange answers 5xx in a burst: every failed call
counts towards the API-error-burst trigger, which pauses trading with the runbook's line, and
no order reaches the exchange while the pause holds."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.account_runs import clean_home
from live.test_live_run import live_env, options
from sigmax.engine.runner import run_paper
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
