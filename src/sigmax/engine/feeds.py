"""Feeds: where closed candles come from. The engine is the same for all of them.

A feed yields :class:`CandleClosed` events in time order. ``replay`` walks the stored candles
(bundled or ``--data``) at a chosen pace. Each event says when the candle closed: that moment is
the engine's clock, so the pace never changes what is decided.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import numpy as np

from sigmax.domain.candles import Candle, CandleSeries

log = logging.getLogger("sigmax.engine")


@dataclass(frozen=True, slots=True)
class CandleClosed:
    """Candle ``candle`` of ``symbol`` closed at ``close_ms``; ``series`` holds it and all
    earlier known candles of the symbol (and, in a replay, later ones the engine must not read:
    the engine only reads up to ``close_ms``)."""

    symbol: str
    candle: Candle
    close_ms: int
    series: CandleSeries
    #: The candle's position in ``series`` (-1 when the feed does not know it).
    index: int = -1
    #: The feed knows no resting order of the symbol can fill on this candle (the venue only
    #: notes it) and the candle is no decision candidate. Only the backtest feed sets it.
    inert: bool = False


@dataclass(frozen=True, slots=True)
class CandlesPassed:
    """Closed candles, up to the group closing at ``close_ms``, that the feed has shown change
    nothing but the marks: no order of theirs can fill, none is a decision candidate, and no
    safety trigger fires at any of their closes (a backtest works this out on whole arrays).

    The engine applies what stepping them one by one would leave behind (see
    :meth:`~sigmax.engine.engine.Engine.pass_candles`); the feed records their equity curve.
    """

    close_ms: int
    #: How many candles (all symbols) the span holds.
    candles: int
    #: Per symbol with a candle in the span: the open time and close of its last one.
    last: Mapping[str, tuple[int, float]]
    #: Per UTC day the span opens: the close time of the day's first candle and the closes
    #: (marks) of the held symbols as the per-candle path holds them after that candle.
    day_opens: tuple[tuple[int, Mapping[str, float]], ...] = ()
    #: When the span's equity rises above the peak seen so far: the close time of the first
    #: group at the span's highest equity and the held symbols' closes there.
    peak: tuple[int, Mapping[str, float]] | None = None


class ReplayFeed:
    """Stored candles in time order, at ``speed`` candles per second per symbol (None = max).

    Candles whose open time is at or before ``after_ms[symbol]`` are skipped: that is how a
    resumed run continues after the last candle it fully processed.
    """

    kind = "replay"

    def __init__(
        self,
        series: Mapping[str, CandleSeries],
        *,
        start_ms: int | None = None,
        until_ms: int | None = None,
        speed: float | None = 1.0,
        after_ms: Mapping[str, int] | None = None,
        keep: Callable[[str, int], bool] | None = None,
    ) -> None:
        """``keep(symbol, index)``, when given, is asked just before each candle is yielded;
        candles it refuses are left out (a backtest skips candles that cannot change
        anything; it is asked lazily, so it sees the state the previous group left)."""
        if speed is not None and speed <= 0:
            raise ValueError("speed must be > 0 candles per second, or None for max")
        self._series = dict(series)
        self._start_ms = start_ms
        self._until_ms = until_ms
        self._speed = speed
        self._after = dict(after_ms or {})
        self._keep = keep

    def window(self, symbol: str, series: CandleSeries) -> range:
        """The indexes of ``series`` this feed yields (before ``keep``)."""
        tf = series.timeframe.ms
        opens = series.timestamp
        first = 0
        if self._start_ms is not None:
            first = int(np.searchsorted(opens, self._start_ms - tf, "left"))
        if symbol in self._after:
            first = max(first, int(np.searchsorted(opens, self._after[symbol], "right")))
        last = len(opens)
        if self._until_ms is not None:
            last = int(np.searchsorted(opens, self._until_ms - tf, "right"))
        return range(first, max(first, last))

    def total_candles(self) -> int:
        return sum(len(self.window(s, series)) for s, series in self._series.items())

    async def events(self) -> AsyncIterator[list[CandleClosed]]:
        """Groups of candles that closed at the same moment, oldest first."""
        cursors: list[tuple[int, int, str, int]] = []
        order = {symbol: i for i, symbol in enumerate(self._series)}
        for symbol, series in self._series.items():
            indices = self.window(symbol, series)
            if len(indices):
                first = indices.start
                close = int(series.timestamp[first]) + series.timeframe.ms
                cursors.append((close, order[symbol], symbol, first))
        heapq.heapify(cursors)
        ends = {s: self.window(s, series).stop for s, series in self._series.items()}
        pause = 1.0 / self._speed if self._speed else 0.0
        keep = self._keep
        while cursors:
            close_ms = cursors[0][0]
            group: list[CandleClosed] = []
            while cursors and cursors[0][0] == close_ms:
                _, rank, symbol, index = heapq.heappop(cursors)
                series = self._series[symbol]
                if keep is None or keep(symbol, index):
                    group.append(
                        CandleClosed(symbol, series.candle(index), close_ms, series, index)
                    )
                if index + 1 < ends[symbol]:
                    nxt = int(series.timestamp[index + 1]) + series.timeframe.ms
                    heapq.heappush(cursors, (nxt, rank, symbol, index + 1))
            if not group:
                continue
            yield group
            if pause:
                await asyncio.sleep(pause)
            else:
                await asyncio.sleep(0)  # let the API and signal handlers run between steps
