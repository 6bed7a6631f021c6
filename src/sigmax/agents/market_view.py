"""What the agents may see of a market at a decision moment, and nothing more.

:class:`SymbolHistory` holds the known candles of one symbol on its primary timeframe, the
higher timeframes resampled from them, and every indicator computed once over each. A decision at
moment ``t`` gets a :class:`MarketSnapshot`: one :class:`TimeframeView` per timeframe whose
``index`` is the last candle that had *closed* by ``t``. Views expose values at or before their
index only, so no agent can read a later candle. Indicators are causal (a value depends only on
candles up to its own), so reading column ``i`` of a long history gives exactly what computing
over the history cut at ``i`` would give; a test checks this on the bundled data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sigmax.agents.scoring import LayerScores, score_layer
from sigmax.data.indicators import (
    STANDARD_SPEC,
    IndicatorColumns,
    IndicatorSpec,
    compute_indicators,
)
from sigmax.data.resample import resample
from sigmax.domain.candles import CandleSeries, FloatArray, Timeframe, ms_to_iso
from sigmax.errors import InputError


class InsufficientDataError(InputError):
    """No closed candle exists at the requested moment."""


@dataclass(frozen=True, slots=True)
class TimeframeView:
    """One timeframe of a market, visible up to and including candle ``index``."""

    timeframe: Timeframe
    series: CandleSeries
    columns: IndicatorColumns
    index: int
    #: The timeframe's history layer: its scores are computed when a view first reads them,
    #: so a decision source that never does (``sma_cross``) never pays for them.
    layer: HistoryLayer

    @property
    def scores(self) -> LayerScores:
        return self.layer.scores

    def score(self, name: str) -> float:
        """Per-candle number ``name`` of :class:`LayerScores` at the visible end."""
        return float(getattr(self.scores, name)[self.index])

    def value(self, name: str, back: int = 0) -> float:
        """Indicator ``name`` at ``back`` candles before the visible end (NaN before data)."""
        if back < 0:
            raise ValueError("back must be >= 0: later candles are not visible")
        position = self.index - back
        return float(self.columns.column(name)[position]) if position >= 0 else math.nan

    def window(self, field: str, length: int) -> FloatArray:
        """The last ``length`` values (or fewer) of a candle field, ending at the index."""
        start = max(0, self.index + 1 - length)
        values: FloatArray = getattr(self.series, field)[start : self.index + 1]
        return values

    @property
    def close(self) -> float:
        return float(self.series.close[self.index])

    @property
    def open_time_ms(self) -> int:
        """Open time of the last visible candle."""
        return int(self.series.timestamp[self.index])

    @property
    def close_time_ms(self) -> int:
        return self.open_time_ms + self.timeframe.ms

    @property
    def candles(self) -> int:
        """How many candles are visible."""
        return self.index + 1


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """A symbol as seen at ``decision_ms``: the primary timeframe and the higher ones.

    ``record`` is the primary timeframe with standard-period indicators, for the decision
    record's ``indicators``. A higher timeframe with no closed candle yet is left out.
    """

    symbol: str
    decision_ms: int
    primary: TimeframeView
    higher: tuple[TimeframeView, ...]
    record: TimeframeView

    @property
    def views(self) -> tuple[TimeframeView, ...]:
        return (self.primary, *self.higher)

    @property
    def price(self) -> float:
        return self.primary.close


@dataclass(frozen=True, slots=True)
class HistoryLayer:
    """One timeframe of a history: candles, indicators and (computed on first use) scores."""

    series: CandleSeries
    columns: IndicatorColumns
    timeframe: Timeframe
    timeframe_ms: int
    opens: np.ndarray[tuple[int], np.dtype[np.int64]]
    #: Holds the scores once computed: a strategy that never reads them never pays for them.
    _scores: list[LayerScores] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def build(cls, series: CandleSeries, spec: IndicatorSpec) -> HistoryLayer:
        columns = compute_indicators(series, spec)
        timeframe = series.timeframe
        return cls(series, columns, timeframe, timeframe.ms, series.timestamp)

    @property
    def scores(self) -> LayerScores:
        if not self._scores:
            self._scores.append(score_layer(self.series, self.columns))
        return self._scores[0]


class SymbolHistory:
    """The candles known for one symbol, with resampled timeframes and cached indicators."""

    def __init__(
        self,
        series: CandleSeries,
        higher: Sequence[Timeframe] = (Timeframe.H4, Timeframe.D1),
        spec: IndicatorSpec = STANDARD_SPEC,
    ) -> None:
        if len(series) == 0:
            raise InsufficientDataError(f"no candles for {series.symbol}")
        self.symbol = str(series.symbol)
        self.timeframe = series.timeframe
        self.spec = spec
        self._higher_timeframes = tuple(higher)
        self._primary = HistoryLayer.build(series, spec)
        self._record = (
            self._primary if spec == STANDARD_SPEC else HistoryLayer.build(series, STANDARD_SPEC)
        )
        self._higher = tuple(
            HistoryLayer.build(resampled, spec)
            for resampled in (resample(series, tf) for tf in self._higher_timeframes)
        )

    @property
    def series(self) -> CandleSeries:
        return self._primary.series

    @property
    def latest_decision_ms(self) -> int:
        """The moment the newest known candle closed: the latest possible decision time."""
        return self.series.last_ms + self.timeframe.ms

    def require_higher_timeframes(self) -> None:
        """Refuse a history whose candles cannot make one closed candle of a higher timeframe.

        A snapshot leaves out a higher timeframe that has not closed *yet*; one that never
        closes in the whole history would silently be missing from every decision.

        Raises:
            InsufficientDataError: naming each timeframe that cannot be made and why.
        """
        missing = [layer.timeframe for layer in self._higher if len(layer.series) == 0]
        if not missing:
            return
        first, last = self.series.first_ms, self.series.last_ms + self.timeframe.ms
        wanted = ", ".join(
            f"{tf.value} (x{tf.ms // self.timeframe.ms} of {self.timeframe.value})"
            for tf in missing
        )
        raise InsufficientDataError(
            f"{self.symbol}: the {len(self.series):,} {self.timeframe.value} candles from "
            f"{ms_to_iso(first)} to {ms_to_iso(last)} cannot make one closed candle of the "
            f"higher timeframe {wanted}, whose candles start at multiples of their length "
            "since 1970-01-01 UTC (agents.yaml: analyzer.timeframes.higher); give longer data "
            "or a shorter --timeframe"
        )

    def layers(self) -> tuple[HistoryLayer, ...]:
        """The primary timeframe, then the higher ones, with their indicators and scores."""
        return (self._primary, *self._higher)

    def decision_moments(self) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
        """Close time of every known candle: the moments a decision can be made at."""
        moments: np.ndarray[tuple[int], np.dtype[np.int64]] = self.series.timestamp + np.int64(
            self.timeframe.ms
        )
        return moments

    def snapshot(self, decision_ms: int) -> MarketSnapshot:
        """What was known at ``decision_ms``: only candles that had closed by then."""
        primary = _view(self._primary, decision_ms)
        if primary is None:
            raise InsufficientDataError(
                f"{self.symbol}: no {self.timeframe.value} candle had closed by the requested "
                "moment; the data starts later"
            )
        higher = tuple(
            view for view in (_view(layer, decision_ms) for layer in self._higher) if view
        )
        record = primary if self._record is self._primary else _view(self._record, decision_ms)
        assert record is not None  # same candles as the primary layer
        return MarketSnapshot(self.symbol, decision_ms, primary, higher, record)


def _view(layer: HistoryLayer, decision_ms: int) -> TimeframeView | None:
    """The view of ``layer`` whose last candle is the newest one closed at ``decision_ms``."""
    index = int(np.searchsorted(layer.opens, decision_ms - layer.timeframe_ms, "right")) - 1
    if index < 0:
        return None
    return TimeframeView(layer.timeframe, layer.series, layer.columns, index, layer)
