"""The cost of one committed step as a run's ledger grows: docs/PERFORMANCE.md's figures.

Each step books one fill (alternately a buy and a sell of 0.01 BTC, a minute apart) and commits
it through :class:`RunStore` on a fresh SQLite home, as the engine does after a step that
filled. Prints one JSON object: the median commit of the first and the last 100 steps, and the
size of the stored resume point at the end.

    PYTHONPATH=src:tests .venv/bin/python -m support.bench_commit_cost [--fills 2000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import Fill, Liquidity, OrderSide
from sigmax.engine.run_store import STATE_KEY, RunStore, StepWrite
from sigmax.storage.database import Database
from sigmax.storage.models import RunMode
from sigmax.storage.repositories import EngineStateRepository

_RUN = "bench"
_T0 = 1_700_000_000_000


def _median_ms(seconds: list[float]) -> float:
    return round(1000 * sorted(seconds)[len(seconds) // 2], 3)


def measure(fills: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(f"sqlite+pysqlite:///{Path(tmp) / 'sigmax.db'}")
        try:
            store = RunStore(db, _RUN)
            store.start(RunMode.REPLAY, "balanced", {})
            ledger = Ledger(Decimal(1_000_000))
            timings: list[float] = []
            for index in range(fills):
                side = OrderSide.BUY if index % 2 == 0 else OrderSide.SELL
                price = Decimal(30_000 + index % 97)
                at_ms = _T0 + index * 60_000
                ledger.apply_fill(
                    Fill(f"sgx-{index}", "BTC/USDT", side, Decimal("0.01"), price,
                         Decimal("0.3"), at_ms, Liquidity.TAKER)
                )  # fmt: skip
                started = time.perf_counter()
                store.commit(StepWrite(), {"ledger": ledger.snapshot_head()}, at_ms, ledger=ledger)
                timings.append(time.perf_counter() - started)
            with db.session() as session:
                stored = EngineStateRepository(session).get(STATE_KEY.format(run_id=_RUN))
        finally:
            db.dispose()
    return {
        "benchmark": "commit_cost",
        "fills": fills,
        "first_100_median_ms": _median_ms(timings[:100]),
        "last_100_median_ms": _median_ms(timings[-100:]),
        "resume_point_bytes": len(json.dumps(stored)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fills", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(measure(args.fills), sort_keys=True))


if __name__ == "__main__":
    main()
