"""The backtest's feed: the candles that can change something, in replay order.

A :class:`~sigmax.engine.feeds.ReplayFeed` yields every candle. This feed yields the same groups
minus the candles that cannot change anything: those of a symbol with no position and no
resting order that carry no buy signal (or one the safety enforcer would refuse). It does not
visit the skipped candles one by one: for an idle symbol it jumps to the next buy signal. The
engine's state is read just before each jump, after the previous group was processed, so the
result is what filtering a full replay candle by candle would give.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Callable, Mapping

import numpy as np

from sigmax.domain.candles import CandleSeries
from sigmax.engine.feeds import CandleClosed, ReplayFeed


class BacktestFeed:
    kind = "replay"

    def __init__(
        self,
        series: Mapping[str, CandleSeries],
        *,
        start_ms: int | None,
        until_ms: int | None,
        signals: Mapping[str, np.ndarray[tuple[int], np.dtype[np.int64]]],
        active: Callable[[str], bool],
        wanted: Callable[[str, int, int], bool],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """``signals[symbol]``: sorted indexes of the candles with a buy signal. ``active``:
        whether a symbol holds a position or a resting order now. ``wanted(symbol, index,
        close_ms)``: whether an idle symbol's signal candle may act. ``progress`` hears how
        many candles of the window have been passed, processed or skipped."""
        self._series = dict(series)
        self._ranges = {
            symbol: ReplayFeed(
                {symbol: candles}, start_ms=start_ms, until_ms=until_ms, speed=None
            ).window(symbol, candles)
            for symbol, candles in self._series.items()
        }
        self._signals = signals
        self._active = active
        self._wanted = wanted
        self._progress = progress

    def total_candles(self) -> int:
        return sum(len(r) for r in self._ranges.values())

    def _next(self, symbol: str, after: int) -> int | None:
        window = self._ranges[symbol]
        index = max(after + 1, window.start)
        if index >= window.stop:
            return None
        if self._active(symbol):
            return index
        signals = self._signals[symbol]
        found = int(np.searchsorted(signals, index, "left"))
        if found < len(signals) and int(signals[found]) < window.stop:
            return int(signals[found])
        return None

    async def events(self) -> AsyncIterator[list[CandleClosed]]:
        order = {symbol: rank for rank, symbol in enumerate(self._series)}
        step = {symbol: candles.timeframe.ms for symbol, candles in self._series.items()}
        opens = {symbol: candles.timestamp.tolist() for symbol, candles in self._series.items()}
        heap: list[tuple[int, int, str, int]] = []
        passed = {symbol: window.start for symbol, window in self._ranges.items()}

        def push(symbol: str, after: int) -> None:
            index = self._next(symbol, after)
            if index is not None:
                heapq.heappush(
                    heap, (opens[symbol][index] + step[symbol], order[symbol], symbol, index)
                )

        for symbol, window in self._ranges.items():
            push(symbol, window.start - 1)
        while heap:
            close_ms = heap[0][0]
            touched: list[tuple[str, int]] = []
            group: list[CandleClosed] = []
            while heap and heap[0][0] == close_ms:
                _, _, symbol, index = heapq.heappop(heap)
                touched.append((symbol, index))
                if self._active(symbol) or self._wanted(symbol, index, close_ms):
                    candles = self._series[symbol]
                    group.append(
                        CandleClosed(symbol, candles.candle(index), close_ms, candles, index)
                    )
            if group:
                yield group
                await asyncio.sleep(0)
            for symbol, index in touched:
                passed[symbol] = index + 1
                push(symbol, index)
            if self._progress is not None:
                self._progress(sum(passed[s] - w.start for s, w in self._ranges.items()))
