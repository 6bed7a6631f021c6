"""``sigmax bench replay``: candles per second through the whole paper engine.

A fresh SIGMAX_HOME (temporary SQLite database, durable commits), the four bundled 1h markets,
all seven agents, the paper venue, the ledger, ``--speed max``, over the last ``days`` of data.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sigmax.bench.machine import machine_info, temporary_home
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import Timeframe, ms_to_iso
from sigmax.engine.runner import RunOptions, run_paper

TARGET_CANDLES_PER_S = 2000.0
SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")


def run_replay_bench(
    *, days: int = 30, profile: str = "aggressive", data: Path | None = None
) -> dict[str, Any]:
    """Replay the last ``days`` of the four markets at full speed and time it."""
    if days < 1:
        raise ValueError("days must be >= 1")
    catalog = DatasetCatalog.from_path(data)
    end = min(catalog.load(s, Timeframe.H1).series.last_ms for s in SYMBOLS) + Timeframe.H1.ms
    start = end - days * 86_400_000
    with temporary_home() as home:
        report = asyncio.run(
            run_paper(
                RunOptions(
                    profile=profile,
                    symbols=list(SYMBOLS),
                    speed=None,
                    start_ms=start,
                    until_ms=end,
                    data=data,
                    home=home,
                    console_log=False,
                )
            )
        )
    totals = report.totals
    rate = totals.candles / totals.elapsed_s if totals.elapsed_s > 0 else 0.0
    return {
        "benchmark": "replay",
        "candles_per_s": round(rate, 1),
        "candles": totals.candles,
        "seconds": round(totals.elapsed_s, 3),
        "symbols": list(SYMBOLS),
        "from": ms_to_iso(start),
        "until": ms_to_iso(end),
        "profile": profile,
        "decisions": dict(totals.decisions),
        "orders": totals.orders,
        "fills": totals.fills,
        "final_equity": str(report.account["equity"]),
        "target_candles_per_s": TARGET_CANDLES_PER_S,
        "meets_target": rate >= TARGET_CANDLES_PER_S,
        "machine": machine_info("numpy", "ta-lib", "sqlalchemy"),
    }
