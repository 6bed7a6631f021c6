"""Passing over the candles that change nothing gives exactly what stepping every candle gives.

The backtest hands the engine only the groups where something may happen and accounts for the
others on arrays (:mod:`sigmax.backtest.inert`). Both ways run here over the four bundled 1h
markets, whole span: the result JSON must be the same bytes, and the fills, the safety journal
and the equity at every close the same values.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.account_runs import clean_home
from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, simulate

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"]
TRADING_THROUGHOUT = {"safety.max_consecutive_losses": 1000, "safety.max_daily_loss_usd": 100000}
#: sma_cross invests all the cash, so only without the drawdown limit does it trade the whole
#: span (hundreds of round trips, most event groups holding an order): the bench's setting.
SMA_TRADING_THROUGHOUT = {**TRADING_THROUGHOUT, "safety.protections.max_drawdown_pct": 100}
SMA_REFERENCE: dict[str, Any] = {
    "profile": "reference",
    "strategy": "sma_cross",
    "fee_rate": Decimal(0),
    "slippage_model": "none",
}


def _run(home: Path, every_candle: bool, options: dict[str, Any]) -> dict[str, Any]:
    run = asyncio.run(
        simulate(BacktestOptions(symbols=SYMBOLS, home=home, every_candle=every_candle, **options))
    )
    times, equity = run.sink.equity_curve()
    return {
        "json": build_result(run).to_json(),
        "fills": [(f.fill, f.realized_pnl, f.decision_id) for f in run.sink.fills],
        "orders": [(o.order, o.status, o.filled_qty, o.reason) for o in run.sink.orders],
        "safety": [repr(event) for event in run.sink.safety_events],
        "curve": (times.tolist(), equity.tolist()),
        "points": {p.taken_at_ms: repr(p) for p in run.sink.equity},
        "stepped": run.totals.candles,
        "passed": len(run.sink.passed.closes_ms),
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        pytest.param(SMA_REFERENCE, id="sma_cross"),
        pytest.param({**SMA_REFERENCE, "overrides": TRADING_THROUGHOUT}, id="sma_cross-trading"),
        pytest.param(
            {**SMA_REFERENCE, "overrides": SMA_TRADING_THROUGHOUT}, id="sma_cross-no-drawdown"
        ),
        pytest.param({}, id="agents"),
        pytest.param({"overrides": TRADING_THROUGHOUT}, id="agents-trading"),
    ],
)
def test_passing_over_candles_equals_stepping_every_candle(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    with clean_home(tmp_path):
        fast = _run(tmp_path, False, options)
        full = _run(tmp_path, True, options)
    assert full["passed"] == 0
    assert fast["passed"] > 10_000, "most groups should be passed over"
    assert fast["json"] == full["json"]
    assert fast["fills"] == full["fills"]
    assert len(fast["fills"]) > 0
    assert fast["orders"] == full["orders"]
    assert fast["safety"] == full["safety"]
    assert fast["curve"] == full["curve"]
    assert len(full["curve"][0]) == len(set(full["curve"][0]))
    # The groups the engine stepped recorded the very points the per-candle path did.
    assert fast["points"].items() <= full["points"].items()
