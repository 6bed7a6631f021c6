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

import threading
from collections import OrderedDict

import numpy as np

from sigmax.agents.market_view import HistoryLayer, MarketSnapshot, SymbolHistory
from sigmax.agents.scoring import COMPONENTS, LayerScores

ObservationMatrix = np.ndarray[tuple[int, int], np.dtype[np.float32]]
IndexArray = np.ndarray[tuple[int], np.dtype[np.int64]]

#: Stacked layer features kept (a live run builds a new history each candle: keep the newest).
_STACKS_KEPT = 32
_STACKS_LOCK = threading.Lock()
_STACKS: OrderedDict[int, tuple[LayerScores, np.ndarray[tuple[int, int], np.dtype[np.float64]]]] = (
    OrderedDict()
)
#: Every observation value lies in [-CLIP, CLIP].
CLIP = 5.0
#: Per timeframe: the timeframe score, then each component, then the regime.
LAYER_FEATURES = ("timeframe_score", *COMPONENTS, "regime")
#: Primary timeframe only: log returns over these many candles (scaled by RETURN_SCALE).
RETURN_LAGS = (1, 4, 24)
RETURN_SCALE = 20.0
_LAGS = np.array(RETURN_LAGS, dtype=np.int64)
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
    blocks: list[np.ndarray[tuple[int, int], np.dtype[np.float64]]] = []
    for layer, at_index in visible:
        if layer is None:
            blocks.append(np.full((len(at_index), len(LAYER_FEATURES)), np.nan))
            continue
        rows = _layer_stack(layer)[np.maximum(at_index, 0)]
        blocks.append(np.where((at_index >= 0)[:, None], rows, np.nan))
    close = primary.series.close
    price = close[index]
    before = index[:, None] - _LAGS
    ind = primary.columns
    atr = ind.atr[index]
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.log(price[:, None] / close[np.maximum(before, 0)]) * RETURN_SCALE
        blocks.append(np.where(before >= 0, change, np.nan))
        half_width = (ind.bb_upper[index] - ind.bb_lower[index]) / 2.0
        columns = [
            (ind.rsi[index] - 50.0) / 25.0,
            ind.macd_hist[index] / atr,
            atr / price * 100.0,
            (price - ind.bb_middle[index]) / half_width,
            ind.volume_zscore[index] / 2.0,
            ind.adx[index] / 25.0 - 1.0,
        ]
    matrix = np.concatenate([*blocks, np.column_stack(columns)], axis=1)
    matrix = np.where(np.isfinite(matrix), matrix, 0.0)
    clipped: ObservationMatrix = np.clip(matrix, -CLIP, CLIP).astype(np.float32)
    return clipped


def _layer_stack(layer: HistoryLayer) -> np.ndarray[tuple[int, int], np.dtype[np.float64]]:
    """The layer's LAYER_FEATURES side by side (one row per candle), built once per layer: a
    decision then reads its row with one index instead of one per feature."""
    scores = layer.scores
    with _STACKS_LOCK:  # the engine's and the API's threads may both decide
        cached = _STACKS.get(id(scores))
        if cached is None or cached[0] is not scores:
            stack = np.column_stack([getattr(scores, name) for name in LAYER_FEATURES])
            cached = (scores, stack)
            _STACKS[id(scores)] = cached
            while len(_STACKS) > _STACKS_KEPT:
                _STACKS.popitem(last=False)
        else:
            _STACKS.move_to_end(id(scores))
        return cached[1]


def layer_count(features: int) -> int:
    """How many timeframes an observation of ``features`` values covers."""
    layers, rest = divmod(features - len(PRICE_FEATURES), len(LAYER_FEATURES))
    if rest or layers < 1:
        raise ValueError(f"{features} observation values match no number of timeframes")
    return layers
