"""The window's candles as one timeline of groups (candles closing together), on arrays.

A replay hands the engine one group per distinct close time, symbols in a fixed order. The
backtest works on the same groups, but mostly on whole arrays: per group, which candle of each
symbol closes there, which candle gives each symbol's mark, whether any candle may act. Marks
are also kept as whole units of 1e-8 (Python integers), so equity can be computed exactly
without ``Decimal``: every bundled price has at most eight decimal places, and
:func:`exact_marks` checks that each float close is exactly such a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sigmax.domain.candles import CandleSeries

#: Prices and quantities in whole units of 1e-8; equity (their product) in units of 1e-16.
UNIT = 10**8
EQUITY_UNIT = UNIT * UNIT
MS_PER_DAY = 86_400_000
#: Above this a float's neighbours are less than 1e-8 apart, so an eight-decimal price could
#: not be told from its float; far above any traded price.
MAX_EXACT_PRICE = 1e6

IntArray = np.ndarray[tuple[int], np.dtype[np.int64]]
BoolArray = np.ndarray[tuple[int], np.dtype[np.bool_]]


def exact_marks(close: np.ndarray[tuple[int], np.dtype[np.float64]]) -> list[int] | None:
    """Each close in units of 1e-8, or None when one is not an eight-decimal number.

    ``Decimal(repr(x))`` (the engine's mark) equals ``m / 10**8`` when the float nearest to
    ``m / 10**8`` is ``x`` and ``x`` is below :data:`MAX_EXACT_PRICE`: two distinct multiples
    of 1e-8 that small never round to the same float, and ``repr`` gives the shortest decimal
    that rounds to ``x``, which is that multiple.
    """
    if len(close) == 0:
        return []
    if not (np.isfinite(close).all() and (close > 0).all() and (close < MAX_EXACT_PRICE).all()):
        return None
    units = np.rint(close * UNIT).astype(np.int64)
    if not bool((units / UNIT == close).all()):
        return None
    values: list[int] = units.tolist()
    return values


@dataclass(frozen=True, slots=True)
class SymbolLane:
    """One symbol on the timeline."""

    symbol: str
    series: CandleSeries
    #: Per group: the index of the symbol's candle closing there, or -1.
    at: list[int]
    #: Per group: the index of the symbol's newest candle closing at or before it (its mark
    #: after the group), or -1 before its first candle of the window.
    mark: list[int]
    #: Per candle: the close in units of 1e-8 (None: the closes are not all exact).
    units: list[int] | None
    low: list[float]
    high: list[float]
    close: list[float]
    open_ms: list[int]
    #: Per candle: the decision at its close may act (score and confidence over a bar).
    candidate: BoolArray


@dataclass(frozen=True, slots=True)
class Timeline:
    closes: list[int]
    days: list[int]
    lanes: tuple[SymbolLane, ...]
    #: Per group: the position in ``lanes`` of its first candle (the one the engine steps
    #: first, and which opens a new UTC day in the ledger).
    first: list[int]
    #: Per group: some candle of the group is a decision candidate.
    acts: list[bool]

    @property
    def exact(self) -> bool:
        return all(lane.units is not None for lane in self.lanes)

    def candles(self, start: int, stop: int) -> int:
        """How many candles groups ``start`` .. ``stop - 1`` hold."""
        return sum(sum(1 for index in lane.at[start:stop] if index >= 0) for lane in self.lanes)


def build_timeline(
    series: Mapping[str, CandleSeries],
    windows: Mapping[str, range],
    candidates: Mapping[str, BoolArray],
) -> Timeline:
    """The groups of the window, ``series`` in the engine's order (the feed's rank)."""
    ends = {
        symbol: (candles.timestamp + np.int64(candles.timeframe.ms))[windows[symbol]]
        for symbol, candles in series.items()
    }
    parts = [closes for closes in ends.values() if len(closes)]
    merged: IntArray = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
    lanes = []
    acts = np.zeros(len(merged), dtype=bool)
    first = np.full(len(merged), -1, dtype=np.int64)
    for rank, (symbol, candles) in enumerate(series.items()):
        window = windows[symbol]
        closes = ends[symbol]
        where = np.searchsorted(merged, closes)
        at = np.full(len(merged), -1, dtype=np.int64)
        at[where] = np.arange(window.start, window.stop, dtype=np.int64)
        newest = np.searchsorted(closes, merged, "right") - 1
        mark = np.where(newest >= 0, newest + window.start, -1)
        candidate = candidates[symbol]
        present = at >= 0
        acts |= present & candidate[np.maximum(at, 0)]
        first = np.where((first < 0) & present, rank, first)
        lanes.append(
            SymbolLane(
                symbol=symbol,
                series=candles,
                at=at.tolist(),
                mark=mark.tolist(),
                units=exact_marks(candles.close),
                low=candles.low.tolist(),
                high=candles.high.tolist(),
                close=candles.close.tolist(),
                open_ms=candles.timestamp.tolist(),
                candidate=candidate,
            )
        )
    return Timeline(
        closes=merged.tolist(),
        days=(merged // MS_PER_DAY).tolist(),
        lanes=tuple(lanes),
        first=first.tolist(),
        acts=acts.tolist(),
    )
