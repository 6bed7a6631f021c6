"""The Dask worker plugin that keeps the candles loaded in a worker for all its trials.

Imported only where Dask is used (``distributed`` is in the ``optimize`` extra); a worker
unpickles the plugin by this module's name, so workers need SIGMAX installed, as they need it to
run a backtest at all.
"""

from __future__ import annotations

from pathlib import Path

from distributed import Worker, WorkerPlugin

from sigmax.optimize.trial import quiet_engine_logs, warm_catalog


class CandleCache(WorkerPlugin):  # type: ignore[misc]
    """Loads and validates the candles when the worker starts (a worker that replaces a lost
    one too); :func:`sigmax.optimize.trial.warm_catalog` keeps them for every later trial."""

    idempotent = True

    def __init__(self, data: str | None) -> None:
        self.data = data

    def setup(self, worker: Worker) -> None:
        quiet_engine_logs()
        warm_catalog(None if self.data is None else Path(self.data))
