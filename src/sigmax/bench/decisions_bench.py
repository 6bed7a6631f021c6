"""``sigmax bench decisions``: how long the seven agents take to reach one decision.

The symbol's candles and indicators are loaded once (that cost is ``sigmax bench data``'s), the
orchestrator runs without a sink so the figure is pure decision latency, and each decision is a
real one over the real candles at a moment a live engine would decide at (a candle close).
Persisting a decision is timed separately on a temporary SQLite file with the same durable
settings as production (WAL, synchronous FULL), because that write is on the path before any
order can be sent.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any, Final

import numpy as np

from sigmax.agents.orchestrator import Orchestrator
from sigmax.bench.machine import machine_info
from sigmax.config import Settings, load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.engine.decision_log import StoredDecisionLog
from sigmax.engine.facade import HistoryCache
from sigmax.errors import InputError
from sigmax.research.hub import research_from_settings
from sigmax.storage import Database

TARGET_P99_MS: Final = 5.0
#: Decisions made before timing starts, so first-call costs (caches, imports) are not counted.
WARMUP_DECISIONS: Final = 5
#: Records written to the temporary database to time persistence.
PERSIST_SAMPLE: Final = 200


def run_decisions_bench(
    symbol: str = "BTC/USDT",
    count: int = 2000,
    data: Path | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Time ``count`` decisions on ``symbol`` (the last ``count`` candle closes in the data)."""
    if count < 1:
        raise InputError(f"--count must be at least 1 (got {count})")
    chosen = load_settings() if settings is None else settings
    return asyncio.run(_run(symbol, count, data, chosen))


async def _run(symbol: str, count: int, data: Path | None, settings: Settings) -> dict[str, Any]:
    histories = HistoryCache(DatasetCatalog.from_path(data), settings)
    history = histories(symbol)
    # Every configured research feed, fetched ahead of each decision as a live run does
    # between candles: the fetch is timed apart, the decision reads only what is held.
    research = research_from_settings(settings)
    orchestrator = Orchestrator(
        settings, histories, sources=research.researcher_sources() if research.live else None
    )
    moments = [int(m) for m in history.decision_moments()]
    timed_moments = moments[-count:]
    refresh_ms: list[float] = []

    async def fetch_ahead(moment: int) -> None:
        if research.live:
            started = time.perf_counter()
            await research.refresh([history.symbol], moment)
            refresh_ms.append((time.perf_counter() - started) * 1000.0)

    for moment in moments[-count - WARMUP_DECISIONS : -count] or timed_moments[:WARMUP_DECISIONS]:
        await fetch_ahead(moment)
        await orchestrator.analyze_symbol(symbol, at_ms=moment)
    # As the SIGMAX facade does once started: long-lived start-up objects leave the collector's
    # generations, so a full collection no longer walks them during a decision.
    gc.collect()
    gc.freeze()

    latencies: list[float] = []
    actions: Counter[str] = Counter()
    recent: deque[DecisionRecord] = deque(maxlen=PERSIST_SAMPLE)
    available: Counter[str] = Counter()
    for moment in timed_moments:
        await fetch_ahead(moment)
        started = time.perf_counter()
        record = await orchestrator.analyze_symbol(symbol, at_ms=moment)
        latencies.append((time.perf_counter() - started) * 1000.0)
        actions[record.decision.value] += 1
        recent.append(record)
        for name, status in record.agents[0].details.get("sources", {}).items():
            if status == "available":
                available[name] += 1
    await research.close()
    persist = _time_persistence(list(recent))

    timings = np.asarray(latencies)
    p99 = float(np.percentile(timings, 99))
    total_s = float(timings.sum()) / 1000.0
    return {
        "benchmark": "decisions",
        "symbol": history.symbol,
        "timeframe": history.timeframe.value,
        "profile": settings.profile_name,
        "decisions": len(latencies),
        "first_decision": ms_to_iso(timed_moments[0]),
        "last_decision": ms_to_iso(timed_moments[-1]),
        "p50_ms": round(float(np.percentile(timings, 50)), 4),
        "p99_ms": round(p99, 4),
        "max_ms": round(float(timings.max()), 4),
        "mean_ms": round(float(timings.mean()), 4),
        "decisions_per_s": round(len(latencies) / total_s, 1) if total_s > 0 else None,
        **{action.value: actions.get(action.value, 0) for action in Action},
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": p99 <= TARGET_P99_MS,
        **persist,
        # Decisions per research source that had a reading, and the fetches done ahead.
        "research_sources_available": dict(sorted(available.items())),
        "research_items_held": len(research.book),
        "research_fetch_p50_ms": round(statistics.median(refresh_ms), 4) if refresh_ms else None,
        "machine": machine_info("numpy", "ta-lib", "sqlalchemy"),
    }


def _time_persistence(records: list[DecisionRecord]) -> dict[str, Any]:
    """Write each record in its own transaction, as the engine does, on a fresh SQLite file."""
    with tempfile.TemporaryDirectory(prefix="sigmax-bench-") as folder:
        database = Database.open(f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            log = StoredDecisionLog(database)
            times: list[float] = []
            for record in records:
                started = time.perf_counter()
                log.save(record)
                times.append((time.perf_counter() - started) * 1000.0)
        finally:
            database.dispose()
    return {
        "persist_records": len(times),
        "persist_p50_ms": round(statistics.median(times), 4),
        "persist_p99_ms": round(float(np.percentile(times, 99)), 4),
        "persist_backend": "sqlite (WAL, synchronous FULL)",
    }
