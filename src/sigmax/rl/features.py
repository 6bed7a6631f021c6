"""The policy's observation: what the agents see at a candle's close, as scale-free numbers.

One row per primary candle, built from the same whole-history arrays the backtest reads
(:mod:`sigmax.agents.scoring` and the indicators of :class:`SymbolHistory`): each agent component
score on the primary timeframe and on every higher timeframe as it was visible at that close,
the researcher's price regime, and a few price and volume ratios. Every value at row ``i`` is
computed from candles up to ``i`` only (the arrays are causal and a higher timeframe's candle is
read only once it has closed), so an observation never holds anything after its close.

:func:`observations` computes the rows it is given by indexing the arrays and applying the same
element-wise operations, so one row computed alone (a live decision) equals that row of the
whole matrix (a backtest) bit for bit. Values still warming up (NaN) read as 0, and every value
is clipped to ``[-CLIP, CLIP]`` so one extreme candle cannot dominate the network's input.
"""

from __future__ import annotations

import numpy as np

from sigmax.agents.market_view import HistoryLayer, MarketSnapshot, SymbolHistory
from sigmax.agents.scoring import COMPONENTS

ObservationMatrix = np.ndarray[tuple[int, int], np.dtype[np.float32]]
IndexArray = np.ndarray[tuple[int], np.dtype[np.int64]]

#: Every observation value lies in [-CLIP, CLIP].
CLIP = 5.0
#: Per timeframe: the timeframe score, then each component, then the regime.
LAYER_FEATURES = ("timeframe_score", *COMPONENTS, "regime")
#: Primary timeframe only: log returns over these many candles (scaled by RETURN_SCALE).
RETURN_LAGS = (1, 4, 24)
RETURN_SCALE = 20.0
PRICE_FEATURES = (
    *(f"return_{lag}" for lag in RETURN_LAGS),
    "rsi",
    "macd_hist_atr",
    "atr_pct",
    "bollinger_position",
    "volume_zscore",
    "adx",
)


def feature_names(layers: int) -> tuple[str, ...]:
    """The observation's columns for a history of ``layers`` timeframes (primary first)."""
    names = [f"{name}@{k}" for k in range(layers) for name in LAYER_FEATURES]
    return (*names, *PRICE_FEATURES)


def observations(history: SymbolHistory, rows: IndexArray | None = None) -> ObservationMatrix:
    """The observation at the close of each primary candle in ``rows`` (default: all)."""
    layers = history.layers()
    primary = layers[0]
    n = len(primary.series)
    index = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    decision_ms = primary.series.timestamp[index] + np.int64(primary.timeframe_ms)
    visible: list[tuple[HistoryLayer | None, IndexArray]] = [(primary, index)]
    for layer in layers[1:]:
        # The newest candle of this timeframe closed by the decision (-1: none yet).
        found = np.searchsorted(layer.opens, decision_ms - layer.timeframe_ms, "right") - 1
        visible.append((layer, found.astype(np.int64)))
    return _matrix(visible)


def snapshot_observation(snapshot: MarketSnapshot, layers: int) -> ObservationMatrix:
    """The observation of one decision (a one-row matrix), equal to that row of
    :func:`observations`. A higher timeframe not closed yet is absent from the snapshot; the
    absent ones are the longest, so they are the last ``layers`` slots, read as missing."""
    views = snapshot.views
    visible: list[tuple[HistoryLayer | None, IndexArray]] = [
        (view.layer, np.array([view.index], dtype=np.int64)) for view in views[:layers]
    ]
    visible += [(None, np.array([-1], dtype=np.int64))] * (layers - len(visible))
    return _matrix(visible)


def _matrix(visible: list[tuple[HistoryLayer | None, IndexArray]]) -> ObservationMatrix:
    primary, index = visible[0]
    assert primary is not None
    columns: list[np.ndarray[tuple[int], np.dtype[np.float64]]] = []
    for layer, at_index in visible:
        here = at_index >= 0
        at = np.maximum(at_index, 0)
        for name in LAYER_FEATURES:
            if layer is None:
                columns.append(np.full(len(at), np.nan))
                continue
            values = getattr(layer.scores, name)[at]
            columns.append(np.where(here, values, np.nan))
    close = primary.series.close
    price = close[index]
    for lag in RETURN_LAGS:
        before = index - lag
        earlier = close[np.maximum(before, 0)]
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.log(price / earlier) * RETURN_SCALE
        columns.append(np.where(before >= 0, change, np.nan))
    ind = primary.columns
    atr = ind.atr[index]
    with np.errstate(divide="ignore", invalid="ignore"):
        columns.append((ind.rsi[index] - 50.0) / 25.0)
        columns.append(ind.macd_hist[index] / atr)
        columns.append(atr / price * 100.0)
        half_width = (ind.bb_upper[index] - ind.bb_lower[index]) / 2.0
        columns.append((price - ind.bb_middle[index]) / half_width)
    columns.append(ind.volume_zscore[index] / 2.0)
    columns.append(ind.adx[index] / 25.0 - 1.0)
    matrix = np.column_stack(columns)
    matrix = np.where(np.isfinite(matrix), matrix, 0.0)
    clipped: ObservationMatrix = np.clip(matrix, -CLIP, CLIP).astype(np.float32)
    return clipped


def layer_count(features: int) -> int:
    """How many timeframes an observation of ``features`` values covers."""
    layers, rest = divmod(features - len(PRICE_FEATURES), len(LAYER_FEATURES))
    if rest or layers < 1:
        raise ValueError(f"{features} observation values match no number of timeframes")
    return layers
