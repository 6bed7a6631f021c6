"""``sigmax bench backtest``: candles per second of a whole backtest over the bundled data.

The four bundled 1h markets (87,216 candles), the whole span; the agents with the default
configuration and again with safety thresholds that let them trade throughout, and
``sma_cross`` trading throughout, each market on its own sleeve of the capital (capital / 4),
so that it makes every market's textbook trades as the peers' per-market backtests do (its
``trades`` says how many round trips it made).

Each configuration is timed two ways:

* **cold**: a new Python process runs the backtest (``python -m sigmax.bench.backtest_bench``)
  and the wall time of the whole process counts: interpreter start, imports, settings, loading
  and validating the candles, compiling and self-checking the policies, the indicators (and, for
  the agents, every agent score), the run and its metrics;
* **warm**: in this process, after one run of the same configuration, with the candles loaded
  and validated and the policies compiled (as a parameter sweep's worker keeps them): settings,
  indicators and scores, the run and its metrics still count.

The figures are candles of the window over the median wall time of ``repeats`` runs;
``agents_candles_per_s``, ``agents_trading_throughout_candles_per_s`` and
``sma_cross_candles_per_s`` are the warm figures, the ``*_cold_candles_per_s`` keys the cold
ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.bench.machine import machine_info, temporary_home
from sigmax.data.catalog import DatasetCatalog

TARGET_AGENTS_CANDLES_PER_S = 200_000.0
TARGET_SMA_CROSS_CANDLES_PER_S = 250_000.0
TARGET_SMA_CROSS_COLD_CANDLES_PER_S = 50_000.0
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")
#: The default safety thresholds pause the agents for good after three losing trades in April
#: 2021; with these the account trades the whole span (the honest speed of a trading run).
TRADING_THROUGHOUT = {"safety.max_consecutive_losses": 1000, "safety.max_daily_loss_usd": 100000}
#: ``sma_cross`` invests all of each sleeve, so the default thresholds ($10 daily loss, 10 %
#: drawdown) pause it for good after its first trades in April 2021; with these it trades the
#: whole span (every crossing of every market), every order through the gate and the policies.
SMA_TRADING_THROUGHOUT = {**TRADING_THROUGHOUT, "safety.protections.max_drawdown_pct": 100}
CONFIGURATIONS = ("agents", "agents_trading_throughout", "sma_cross")


def options_for(
    name: str,
    *,
    home: Path,
    profile: str | None = None,
    data: Path | None = None,
    catalog: DatasetCatalog | None = None,
) -> BacktestOptions:
    """The backtest of one benchmark configuration."""
    if name == "agents":
        return BacktestOptions(
            profile=profile, symbols=list(SYMBOLS), data=data, home=home, catalog=catalog
        )
    if name == "agents_trading_throughout":
        return BacktestOptions(
            profile=profile,
            symbols=list(SYMBOLS),
            data=data,
            home=home,
            overrides=TRADING_THROUGHOUT,
            catalog=catalog,
        )
    if name == "sma_cross":
        # The reference profile (no position limit below the account), no fees, no slippage.
        return BacktestOptions(
            profile="reference",
            symbols=list(SYMBOLS),
            data=data,
            home=home,
            strategy="sma_cross",
            fee_rate=Decimal(0),
            slippage_model="none",
            overrides=SMA_TRADING_THROUGHOUT,
            catalog=catalog,
        )
    raise ValueError(f"configuration: must be one of {', '.join(CONFIGURATIONS)} (got {name})")


def run_once(options: BacktestOptions) -> dict[str, Any]:
    """One backtest and its result; what the benchmark reports of it."""
    run = asyncio.run(simulate(options))
    result = build_result(run)
    return {
        "candles": run.window_candles,
        "engine_steps": run.totals.candles - run.totals.passed,
        "trades": len(result.trades),
        "final_equity": result.metrics.to_dict()["final_equity"],
        "profile": run.config["profile"],
    }


def _warm(
    name: str, repeats: int, home: Path, profile: str | None, data: Path | None
) -> tuple[list[float], dict[str, Any]]:
    catalog = DatasetCatalog.from_path(data)
    options = options_for(name, home=home, profile=profile, data=data, catalog=catalog)
    summary = run_once(options)  # loads the candles, compiles the policies: not timed
    timings: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        again = run_once(options)
        timings.append(time.perf_counter() - started)
        if again != summary:
            raise RuntimeError(f"{name}: a warm run differs from the first: {again} != {summary}")
    return timings, summary


def _cold(
    name: str, repeats: int, home: Path, profile: str | None, data: Path | None
) -> tuple[list[float], dict[str, Any]]:
    command = [sys.executable, "-m", "sigmax.bench.backtest_bench", name, "--home", str(home)]
    if profile is not None:
        command += ["--profile", profile]
    if data is not None:
        command += ["--data", str(data)]
    timings: list[float] = []
    summary: dict[str, Any] = {}
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=os.environ.copy(), check=False)
        timings.append(time.perf_counter() - started)
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace")[-2000:]
            raise RuntimeError(f"{name}: the cold run failed ({done.returncode}): {tail}")
        summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return timings, summary


def _rate(candles: int, timings: list[float]) -> float:
    seconds = statistics.median(timings)
    return candles / seconds if seconds > 0 else 0.0


def run_backtest_bench(
    *, repeats: int = 3, profile: str | None = None, data: Path | None = None
) -> dict[str, Any]:
    """Every configuration, warm and cold."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    report: dict[str, Any] = {"benchmark": "backtest"}
    details: dict[str, Any] = {}
    with temporary_home() as home:
        for name in CONFIGURATIONS:
            warm, summary = _warm(name, repeats, home, profile, data)
            cold, cold_summary = _cold(name, repeats, home, profile, data)
            if cold_summary != summary:
                raise RuntimeError(
                    f"{name}: cold and warm runs differ: {cold_summary} != {summary}"
                )
            candles = summary["candles"]
            report[f"{name}_candles_per_s"] = round(_rate(candles, warm), 1)
            report[f"{name}_cold_candles_per_s"] = round(_rate(candles, cold), 1)
            details[name] = {
                "warm_seconds": round(statistics.median(warm), 4),
                "warm_runs_seconds": [round(t, 4) for t in warm],
                "cold_seconds": round(statistics.median(cold), 4),
                "cold_runs_seconds": [round(t, 4) for t in cold],
                **summary,
            }
    details["agents_trading_throughout"]["overrides"] = TRADING_THROUGHOUT
    details["sma_cross"]["overrides"] = SMA_TRADING_THROUGHOUT
    details["sma_cross"]["sleeves"] = len(SYMBOLS)
    agents = min(report["agents_candles_per_s"], report["agents_trading_throughout_candles_per_s"])
    return {
        **report,
        **details,
        "symbols": list(SYMBOLS),
        "target_agents_candles_per_s": TARGET_AGENTS_CANDLES_PER_S,
        "target_sma_cross_candles_per_s": TARGET_SMA_CROSS_CANDLES_PER_S,
        "target_sma_cross_cold_candles_per_s": TARGET_SMA_CROSS_COLD_CANDLES_PER_S,
        "meets_targets": agents >= TARGET_AGENTS_CANDLES_PER_S
        and report["sma_cross_candles_per_s"] >= TARGET_SMA_CROSS_CANDLES_PER_S
        and report["sma_cross_cold_candles_per_s"] >= TARGET_SMA_CROSS_COLD_CANDLES_PER_S,
        "machine": machine_info("numpy", "ta-lib", "sqlalchemy"),
    }


def main(argv: list[str] | None = None) -> None:
    """One cold run: the configuration's backtest in this new process, its summary as JSON."""
    parser = argparse.ArgumentParser(prog="python -m sigmax.bench.backtest_bench")
    parser.add_argument("configuration", choices=CONFIGURATIONS)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--profile")
    parser.add_argument("--data", type=Path)
    args = parser.parse_args(argv)
    options = options_for(args.configuration, home=args.home, profile=args.profile, data=args.data)
    print(json.dumps(run_once(options)))


if __name__ == "__main__":
    main()
