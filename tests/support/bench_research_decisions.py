"""``sigmax bench decisions`` with every research feed enabled, against the 127.0.0.1 stand-in.

The figures of docs/PERFORMANCE.md's "With every research source enabled": the same function
as ``sigmax bench decisions --json`` (``run_decisions_bench``), the feeds served by
:class:`support.research_servers.ResearchLoopback` in this process with a post every two hours
in each feed over the window (as tests/research/test_bench_research.py sets them up).

    PYTHONPATH=src:tests .venv/bin/python -m support.bench_research_decisions [--without]

Prints one JSON object. ``--without``: the same decisions with no research source configured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from typing import Any

import pytest

from research.test_bench_research import enable_all, fill_for
from sigmax.bench.decisions_bench import run_decisions_bench
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.engine.facade import HistoryCache
from support.research_servers import ResearchLoopback

_EVERY_SOURCE = {
    "research.coingecko_enabled": True,
    "research.fear_greed_enabled": True,
    "research.onchain_enabled": True,
    # Once per 6 h of market time, as a live run's refresh interval would allow.
    "research.min_refresh_seconds": 6 * 3600,
    "research.max_age_minutes": 12 * 60,
}


async def _with_every_source(count: int, moments: list[int]) -> dict[str, Any]:
    async with ResearchLoopback() as server:
        with pytest.MonkeyPatch.context() as patch:
            fill_for(server, moments[-count - 10], moments[-1])
            enable_all(patch, server)
            settings = load_settings(overrides=_EVERY_SOURCE)
            return await asyncio.to_thread(run_decisions_bench, "BTC/USDT", count, None, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--without", action="store_true", help="no research source configured")
    args = parser.parse_args()
    os.environ["SIGMAX_HOME"] = tempfile.mkdtemp(prefix="sigmax-bench-")
    settings = load_settings()
    if args.without:
        result = run_decisions_bench("BTC/USDT", args.count, None, settings)
    else:
        history = HistoryCache(DatasetCatalog.from_path(None), settings)("BTC/USDT")
        moments = [int(m) for m in history.decision_moments()]
        result = asyncio.run(_with_every_source(args.count, moments))
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, sort_keys=True, default=str))


if __name__ == "__main__":
    main()
