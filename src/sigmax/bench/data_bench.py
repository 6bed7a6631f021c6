"""``sigmax bench data``: load the 1h datasets and compute every indicator on them.

Each repetition starts from a fresh catalog, so every file is read, parsed and validated again:
the figure is what a cold start of SIGMAX pays, not a cache hit.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from sigmax.bench.machine import machine_info
from sigmax.data.catalog import DatasetCatalog
from sigmax.data.indicators import compute_indicators
from sigmax.domain.candles import Timeframe

TARGET_SECONDS = 0.5


def run_data_bench(data: Path | None = None, *, repeat: int = 7) -> dict[str, Any]:
    """Time loading every 1h dataset and computing all indicators; ``repeat`` cold runs."""
    if repeat < 1:
        raise ValueError("repeat must be >= 1")
    totals: list[float] = []
    loads: list[float] = []
    indicator_times: list[float] = []
    candles = datasets = 0
    for _ in range(repeat):
        catalog = DatasetCatalog.from_path(data)
        entries = [e for e in catalog.entries() if e.timeframe is Timeframe.H1]
        started = time.perf_counter()
        loaded = [catalog.load(e.symbol, e.timeframe, e.exchange) for e in entries]
        loaded_at = time.perf_counter()
        for item in loaded:
            compute_indicators(item.series)
        finished = time.perf_counter()
        totals.append(finished - started)
        loads.append(loaded_at - started)
        indicator_times.append(finished - loaded_at)
        datasets = len(loaded)
        candles = sum(item.rows for item in loaded)
    seconds = statistics.median(totals)
    return {
        "benchmark": "data",
        "seconds": round(seconds, 6),
        "seconds_min": round(min(totals), 6),
        "seconds_max": round(max(totals), 6),
        "load_seconds": round(statistics.median(loads), 6),
        "indicator_seconds": round(statistics.median(indicator_times), 6),
        "datasets": datasets,
        "candles": candles,
        "candles_per_s": round(candles / seconds) if seconds > 0 else None,
        "repeat": repeat,
        "target_seconds": TARGET_SECONDS,
        "meets_target": seconds < TARGET_SECONDS,
        "machine": machine_info("numpy", "ta-lib"),
    }
