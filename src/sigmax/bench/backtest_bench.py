"""``sigmax bench backtest``: candles per second of a whole backtest over the bundled data.

The four bundled 1h markets (87,216 candles), the whole span; the agents with the default
configuration and again with safety thresholds that let them trade throughout, and
``sma_cross`` trading throughout (its ``trades`` says how many round trips it made): load
and validate the candles, compute the indicators (and, for the agents, every agent score),
assess every candle, run the engine (venue, ledger, safety, policies) on the candles that can
change something, and compute the metrics. The figure is candles of the window over that wall
time, median of ``repeats`` cold runs (each builds everything again).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.bench.machine import machine_info, temporary_home

TARGET_AGENTS_CANDLES_PER_S = 100_000.0
TARGET_SMA_CROSS_CANDLES_PER_S = 500_000.0
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")
#: The default safety thresholds pause the agents for good after three losing trades in April
#: 2021; with these the account trades the whole span (the honest speed of a trading run).
TRADING_THROUGHOUT = {"safety.max_consecutive_losses": 1000, "safety.max_daily_loss_usd": 100000}
#: ``sma_cross`` invests all the cash, so the default thresholds ($10 daily loss, 10 % drawdown)
#: pause it for good after its first trade in April 2021; with these it trades the whole span
#: (~363 closed trades), every order through the gate and the policies.
SMA_TRADING_THROUGHOUT = {**TRADING_THROUGHOUT, "safety.protections.max_drawdown_pct": 100}


def _median_rate(
    repeats: int, options: BacktestOptions
) -> tuple[float, float, list[float], dict[str, Any]]:
    timings: list[float] = []
    candles = 0
    summary: dict[str, Any] = {}
    for _ in range(repeats):
        started = time.perf_counter()
        run = asyncio.run(simulate(options))
        result = build_result(run)
        timings.append(time.perf_counter() - started)
        candles = run.window_candles
        summary = {
            "candles": candles,
            "engine_steps": run.totals.candles - run.totals.passed,
            "trades": len(result.trades),
            "final_equity": result.metrics.to_dict()["final_equity"],
            "profile": run.config["profile"],
        }
    seconds = statistics.median(timings)
    return (candles / seconds if seconds > 0 else 0.0), seconds, timings, summary


def run_backtest_bench(
    *, repeats: int = 3, profile: str | None = None, data: Path | None = None
) -> dict[str, Any]:
    """Both strategies over the four markets; ``sma_cross`` with the reference profile (no
    position limit below the account: it invests all the cash), no fees, no slippage, and
    safety thresholds that let it trade throughout."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    with temporary_home() as home:
        agents, agents_s, agents_runs, agents_summary = _median_rate(
            repeats, BacktestOptions(profile=profile, symbols=list(SYMBOLS), data=data, home=home)
        )
        trading, trading_s, trading_runs, trading_summary = _median_rate(
            repeats,
            BacktestOptions(
                profile=profile,
                symbols=list(SYMBOLS),
                data=data,
                home=home,
                overrides=TRADING_THROUGHOUT,
            ),
        )
        sma, sma_s, sma_runs, sma_summary = _median_rate(
            repeats,
            BacktestOptions(
                profile="reference",
                symbols=list(SYMBOLS),
                data=data,
                home=home,
                strategy="sma_cross",
                fee_rate=Decimal(0),
                slippage_model="none",
                overrides=SMA_TRADING_THROUGHOUT,
            ),
        )
    return {
        "benchmark": "backtest",
        "agents_candles_per_s": round(agents, 1),
        "agents_trading_throughout_candles_per_s": round(trading, 1),
        "sma_cross_candles_per_s": round(sma, 1),
        "agents": {
            "seconds": round(agents_s, 4),
            "runs_seconds": [round(t, 4) for t in agents_runs],
            **agents_summary,
        },
        "agents_trading_throughout": {
            "seconds": round(trading_s, 4),
            "runs_seconds": [round(t, 4) for t in trading_runs],
            "overrides": TRADING_THROUGHOUT,
            **trading_summary,
        },
        "sma_cross": {
            "seconds": round(sma_s, 4),
            "runs_seconds": [round(t, 4) for t in sma_runs],
            "overrides": SMA_TRADING_THROUGHOUT,
            **sma_summary,
        },
        "symbols": list(SYMBOLS),
        "target_agents_candles_per_s": TARGET_AGENTS_CANDLES_PER_S,
        "target_sma_cross_candles_per_s": TARGET_SMA_CROSS_CANDLES_PER_S,
        "meets_targets": min(agents, trading) >= TARGET_AGENTS_CANDLES_PER_S
        and sma >= TARGET_SMA_CROSS_CANDLES_PER_S,
        "machine": machine_info("numpy", "ta-lib", "sqlalchemy"),
    }
