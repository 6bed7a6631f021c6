"""The candles a model trains or is judged on, cut so that neither sees the other's window.

A training run reads only the candles that closed by the end of its training window; an
evaluation reads only the candles that opened at or after that moment (its indicators warm up
inside the evaluation data). Both are handed over as an in-memory :class:`DatasetCatalog`, so
the backtest engine loads exactly those candles and nothing else. Each cut has a sha256 of its
arrays, recorded with the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigmax.data.catalog import DatasetCatalog, DatasetEntry
from sigmax.data.csv_store import LoadedCandles
from sigmax.domain.candles import CandleSeries, Timeframe, ms_to_iso
from sigmax.errors import InputError


@dataclass(frozen=True, slots=True)
class Window:
    """From ``start_ms`` to ``end_ms``: the candles whose close lies in ``(start, end]``."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise InputError(
                f"--to: the window must end after it starts ({ms_to_iso(self.start_ms)} to "
                f"{ms_to_iso(self.end_ms)})"
            )

    def to_dict(self) -> dict[str, str]:
        return {"from": ms_to_iso(self.start_ms), "to": ms_to_iso(self.end_ms)}


def series_digest(series: CandleSeries) -> str:
    """The sha256 of a series' arrays (time, open, high, low, close, volume)."""
    digest = hashlib.sha256()
    for column in (series.timestamp, series.open, series.high, series.low, series.close):
        digest.update(np.ascontiguousarray(column).tobytes())
    digest.update(np.ascontiguousarray(series.volume).tobytes())
    return digest.hexdigest()


def load_series(
    catalog: DatasetCatalog, symbols: Sequence[str], timeframe: Timeframe
) -> dict[str, CandleSeries]:
    return {s: catalog.load(s, timeframe).series for s in symbols}


def closed_by(series: CandleSeries, end_ms: int) -> CandleSeries:
    """The candles that had closed by ``end_ms``: a training run sees nothing later."""
    closes = series.timestamp + np.int64(series.timeframe.ms)
    return series[: int(np.searchsorted(closes, end_ms, "right"))]


def opened_from(series: CandleSeries, start_ms: int, end_ms: int) -> CandleSeries:
    """The candles that opened at or after ``start_ms`` and closed by ``end_ms``."""
    first = int(np.searchsorted(series.timestamp, start_ms, "left"))
    return closed_by(series[first:], end_ms)


def window_indexes(series: CandleSeries, window: Window) -> tuple[int, int]:
    """The first and last candle of ``series`` whose close lies in the window."""
    closes = series.timestamp + np.int64(series.timeframe.ms)
    first = int(np.searchsorted(closes, window.start_ms, "right"))
    last = int(np.searchsorted(closes, window.end_ms, "right")) - 1
    if last - first < 1:
        raise InputError(
            f"{series.symbol}: the data holds fewer than two {series.timeframe.value} candles "
            f"closing from {ms_to_iso(window.start_ms)} to {ms_to_iso(window.end_ms)} "
            f"(it covers {ms_to_iso(series.first_ms)} to "
            f"{ms_to_iso(series.last_ms + series.timeframe.ms)})"
        )
    return first, last


def memory_catalog(source: str, series: Sequence[CandleSeries]) -> DatasetCatalog:
    """A catalog of series already cut, for the backtest engine."""
    entries, loaded = [], []
    for item in series:
        if len(item) == 0:
            raise InputError(f"{item.symbol}: no candles in {source}")
        path = Path(f"<{source}>") / f"{item.key}.csv"
        entries.append(DatasetEntry(item.exchange, item.symbol, item.timeframe, path))
        loaded.append(LoadedCandles(path, item, (), series_digest(item)))
    return DatasetCatalog(source, entries, preloaded=loaded)
