"""``sigmax bench backtest``: candles per second of a whole backtest over the bundled data.

The four bundled 1h markets (87,216 candles), the whole span, the default configuration: load
and validate the candles, compute every indicator and agent score, assess every candle, run the
engine (venue, ledger, safety, policies) on the candles that can change something, and compute
the metrics. The figure is candles of the window over that wall time, median of ``repeats``
cold runs (each builds everything again).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.bench.machine import machine_info, temporary_home

TARGET_AGENTS_CANDLES_PER_S = 100_000.0
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")


def run_backtest_bench(
    *, repeats: int = 3, profile: str | None = None, data: Path | None = None
) -> dict[str, Any]:
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    timings: list[float] = []
    candles = 0
    summary: dict[str, Any] = {}
    with temporary_home() as home:
        for _ in range(repeats):
            started = time.perf_counter()
            run = asyncio.run(
                simulate(
                    BacktestOptions(profile=profile, symbols=list(SYMBOLS), data=data, home=home)
                )
            )
            result = build_result(run)
            timings.append(time.perf_counter() - started)
            candles = run.window_candles
            summary = {
                "engine_candles": run.totals.candles,
                "trades": len(result.trades),
                "final_equity": result.metrics.to_dict()["final_equity"],
                "profile": run.config["profile"],
            }
    seconds = statistics.median(timings)
    rate = candles / seconds if seconds > 0 else 0.0
    return {
        "benchmark": "backtest",
        "agents_candles_per_s": round(rate, 1),
        "candles": candles,
        "seconds": round(seconds, 4),
        "runs_seconds": [round(t, 4) for t in timings],
        **summary,
        "symbols": list(SYMBOLS),
        "target_agents_candles_per_s": TARGET_AGENTS_CANDLES_PER_S,
        "meets_target": rate >= TARGET_AGENTS_CANDLES_PER_S,
        "machine": machine_info("numpy", "ta-lib", "sqlalchemy"),
    }
