"""The agents' numbers over whole arrays: one function per signal, for every candle at once.

Each function takes a timeframe's candles and indicators and returns one value per candle,
computed from that candle and earlier ones only, with the same operations in the same order
whatever the length of the series. So the value at candle ``i`` of a long history equals the
last value computed over the history cut at ``i`` (a test checks it on the bundled data): the
live path, which sees a history that ends at the newest candle, and a replay or backtest, which
reads candle ``i`` of the whole history, get the same numbers bit for bit.

A component that cannot be scored yet (indicators still warming up) is NaN.

The explanations (the claims with their evidence) are built from these numbers by the agents'
own modules, only for the decisions that need explaining.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from dataclasses import dataclass

import numpy as np

from sigmax.data.indicators import IndicatorColumns
from sigmax.domain.candles import CandleSeries, FloatArray

# -- analyzer ------------------------------------------------------------------------------

#: Weights of the components within a timeframe.
COMPONENT_WEIGHTS = {
    "trend": 0.35,
    "momentum": 0.30,
    "volatility": 0.10,
    "volume": 0.15,
    "levels": 0.10,
}
COMPONENTS = tuple(COMPONENT_WEIGHTS)

RSI_OVERSOLD = 30.0
RSI_OVERBOUGHT = 70.0
#: ADX below this is no trend; at ADX_FULL and above the trend counts fully.
ADX_FLOOR, ADX_FULL = 15.0, 40.0
OBV_LOOKBACK = 10
#: A candle's volume is unusual from this z-score on.
VOLUME_Z_UNUSUAL = 1.0
#: Swing points are highs (lows) above (below) this many candles on each side.
SWING_WING = 3
SWING_LOOKBACK = 120
#: A close within this many ATRs of a level is "near" it.
LEVEL_NEAR_ATR = 1.0

# -- researcher ----------------------------------------------------------------------------

#: How far back the volatility regime compares today's ATR %, in days.
VOLATILITY_BASELINE_DAYS = 30
#: ATR % above this multiple of its baseline is a high-volatility regime.
HIGH_VOLATILITY_RATIO = 1.5
LOW_VOLATILITY_RATIO = 0.67
#: EMA slope look-back on the regime timeframe, in candles.
REGIME_SLOPE_CANDLES = 5
REGIME_SCORE = 0.4


@dataclass(frozen=True, slots=True)
class LayerScores:
    """Every per-candle number the agents use on one timeframe."""

    trend: FloatArray
    momentum: FloatArray
    volatility: FloatArray
    volume: FloatArray
    levels: FloatArray
    #: Nearest confirmed swing-low below / swing-high above the close (NaN when none).
    support: FloatArray
    resistance: FloatArray
    #: The researcher's trend regime (+/-REGIME_SCORE or 0; NaN before enough history).
    regime: FloatArray
    regime_slope_pct: FloatArray
    #: ATR % now and its median over the baseline window (NaN when there is no baseline).
    atr_pct_now: FloatArray
    atr_pct_baseline: FloatArray
    #: The timeframe's score: the weighted sum of the components present, in [-1, 1].
    timeframe_score: FloatArray
    #: The share of component weight present (components still warming up are left out).
    coverage: FloatArray
    #: Per candle, each component's weight times its score in COMPONENTS order (NaN: absent).
    contributions: np.ndarray[tuple[int, int], np.dtype[np.float64]]

    def component(self, name: str) -> FloatArray:
        values: FloatArray = getattr(self, name)
        return values


def score_layer(series: CandleSeries, columns: IndicatorColumns) -> LayerScores:
    """All the agents' per-candle numbers for one timeframe."""
    close = series.close
    support, resistance = swing_levels(series.high, series.low, close)
    now, baseline = volatility_baseline(columns.atr, close, series.timeframe.ms)
    regime, slope = trend_regime(close, columns.ema_slow)
    components = {
        "trend": trend_score(
            close, columns.ema_fast, columns.ema_slow, columns.ema_long, columns.adx
        ),
        "momentum": momentum_score(columns.rsi, columns.macd_hist, columns.atr),
        "volatility": volatility_score(
            close, columns.atr, columns.bb_upper, columns.bb_lower, columns.bb_middle
        ),
        "volume": volume_score(
            series.open, close, series.volume, columns.obv, columns.volume_zscore
        ),
        "levels": levels_score(close, columns.atr, support, resistance),
    }
    score, coverage, contributions = combine_components(components)
    return LayerScores(
        **components,
        support=support,
        resistance=resistance,
        regime=regime,
        regime_slope_pct=slope,
        atr_pct_now=now,
        atr_pct_baseline=baseline,
        timeframe_score=score,
        coverage=coverage,
        contributions=contributions,
    )


def combine_components(
    components: dict[str, FloatArray],
) -> tuple[FloatArray, FloatArray, np.ndarray[tuple[int, int], np.dtype[np.float64]]]:
    """A timeframe's score (weighted sum of the components present, clipped to [-1, 1]), the
    share of weight present, and each component's contribution; added in COMPONENTS order."""
    first = components[COMPONENTS[0]]
    score, present = np.zeros(len(first)), np.zeros(len(first))
    contributions = np.full((len(first), len(COMPONENTS)), np.nan)
    for column, name in enumerate(COMPONENTS):
        values = components[name]
        weight = COMPONENT_WEIGHTS[name]
        have = ~np.isnan(values)
        contribution = weight * values
        score = np.where(have, score + contribution, score)
        present = np.where(have, present + weight, present)
        contributions[:, column] = contribution
    return _clip(score), present, contributions


def _clip(values: FloatArray, low: float = -1.0, high: float = 1.0) -> FloatArray:
    clipped: FloatArray = np.minimum(high, np.maximum(low, values))
    return clipped


def _nan_like(values: FloatArray) -> FloatArray:
    return np.full(len(values), np.nan)


def trend_score(
    close: FloatArray,
    ema_fast: FloatArray,
    ema_slow: FloatArray,
    ema_long: FloatArray,
    adx: FloatArray,
) -> FloatArray:
    """EMA fast / slow / long alignment with the close, scaled by trend strength (ADX)."""
    with np.errstate(invalid="ignore"):
        first = np.sign(close - ema_fast)
        second = np.sign(ema_fast - ema_slow)
        third = np.sign(ema_slow - ema_long)
        has_long = np.isfinite(ema_long)
        alignment = np.where(has_long, (first + second + third) / 3.0, (first + second) / 2.0)
        strength = _clip((adx - ADX_FLOOR) / (ADX_FULL - ADX_FLOOR), 0.0, 1.0)
        score = alignment * (0.5 + 0.5 * strength)
    known = np.isfinite(ema_fast) & np.isfinite(ema_slow) & np.isfinite(adx)
    result: FloatArray = np.where(known, score, np.nan)
    return result


def momentum_score(rsi: FloatArray, macd_hist: FloatArray, atr: FloatArray) -> FloatArray:
    """RSI (oversold / overbought, otherwise its distance from 50) and the MACD histogram
    relative to ATR, half each."""
    with np.errstate(invalid="ignore", divide="ignore"):
        oversold = _clip((RSI_OVERSOLD - rsi) / 15.0)
        overbought = -_clip((rsi - RSI_OVERBOUGHT) / 15.0)
        middle = (rsi - 50.0) / 40.0
        rsi_score = np.where(
            rsi < RSI_OVERSOLD, oversold, np.where(rsi > RSI_OVERBOUGHT, overbought, middle)
        )
        macd_score = _clip(macd_hist / (0.25 * atr))
        score = 0.5 * rsi_score + 0.5 * macd_score
        known = np.isfinite(rsi) & np.isfinite(macd_hist) & np.isfinite(atr) & (atr > 0)
    result: FloatArray = np.where(known, score, np.nan)
    return result


def volatility_score(
    close: FloatArray,
    atr: FloatArray,
    upper: FloatArray,
    lower: FloatArray,
    middle: FloatArray,
) -> FloatArray:
    """A close outside the Bollinger bands is stretched: expect a pull back (+/-0.5)."""
    with np.errstate(invalid="ignore"):
        score = np.where(close > upper, -0.5, np.where(close < lower, 0.5, 0.0))
        known = (
            np.isfinite(atr)
            & np.isfinite(upper)
            & np.isfinite(lower)
            & np.isfinite(middle)
            & (close > 0)
            & (middle > 0)
        )
    result: FloatArray = np.where(known, score, np.nan)
    return result


def traded_volume(volume: FloatArray, lookback: int = OBV_LOOKBACK) -> FloatArray:
    """Volume summed over the last ``lookback`` candles (NaN before that many), added oldest
    first so each sum is the same however long the series is."""
    total = _nan_like(volume)
    count = len(volume) - lookback + 1
    if count <= 0:
        return total
    acc = volume[0:count].copy()
    for shift in range(1, lookback):
        acc += volume[shift : shift + count]
    total[lookback - 1 :] = acc
    return total


def obv_slope(obv: FloatArray, volume: FloatArray) -> FloatArray:
    """On-balance volume's change over OBV_LOOKBACK candles per unit of volume traded in them."""
    slope = _nan_like(obv)
    traded = traded_volume(volume)
    if len(obv) > OBV_LOOKBACK:
        with np.errstate(invalid="ignore", divide="ignore"):
            change = obv[OBV_LOOKBACK:] - obv[:-OBV_LOOKBACK]
            window = traded[OBV_LOOKBACK:]
            slope[OBV_LOOKBACK:] = np.where(window > 0, change / window, np.nan)
    return slope


def volume_score(
    open_: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    obv: FloatArray,
    zscore: FloatArray,
) -> FloatArray:
    """The OBV slope (accumulation or distribution) and an unusual volume candle's direction."""
    slope = obv_slope(obv, volume)
    direction = np.sign(close - open_)
    with np.errstate(invalid="ignore"):
        unusual = zscore > VOLUME_Z_UNUSUAL
        candle_push = np.where(unusual, 0.4 * direction * _clip(zscore / 3.0), 0.0)
        score = 0.6 * _clip(slope) + candle_push
    known = np.isfinite(slope) & np.isfinite(zscore)
    result: FloatArray = np.where(known, score, np.nan)
    return result


def swing_levels(
    high: FloatArray, low: FloatArray, close: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per candle: the nearest confirmed swing-low support below and swing-high resistance above
    the close, among the last SWING_LOOKBACK candles (NaN when none).

    A swing point needs SWING_WING candles on each side inside the window, so the newest
    SWING_WING candles cannot be swing points yet: nothing after the candle is used.
    """
    n = len(close)
    wing = SWING_WING
    span = 2 * wing + 1
    support, resistance = _nan_like(close), _nan_like(close)
    if n < span:
        return support, resistance
    # Swing flags for every centre with a full neighbourhood: max/min over 2*wing+1 shifts.
    inner = n - 2 * wing
    centre_high, centre_low = high[wing : wing + inner], low[wing : wing + inner]
    top, bottom = centre_high.copy(), centre_low.copy()
    for shift in range(span):
        np.maximum(top, high[shift : shift + inner], out=top)
        np.minimum(bottom, low[shift : shift + inner], out=bottom)
    swing_high = _nan_like(close)
    swing_low = _nan_like(close)
    swing_high[wing : wing + inner] = np.where(centre_high >= top, centre_high, np.nan)
    swing_low[wing : wing + inner] = np.where(centre_low <= bottom, centre_low, np.nan)
    # Candle i may use centres i-(SWING_LOOKBACK-1-wing) .. i-wing: a window of
    # SWING_LOOKBACK - 2*wing centres ending wing candles before i (NaN-padded at the start).
    width = SWING_LOOKBACK - 2 * wing
    padded_high = np.concatenate((np.full(width - 1, np.nan), swing_high[: n - wing]))
    padded_low = np.concatenate((np.full(width - 1, np.nan), swing_low[: n - wing]))
    rows = slice(wing, n)
    candidates_high = np.lib.stride_tricks.sliding_window_view(padded_high, width)
    candidates_low = np.lib.stride_tricks.sliding_window_view(padded_low, width)
    here = close[rows, None]
    with np.errstate(invalid="ignore"):
        above = np.where(candidates_high > here, candidates_high, np.inf).min(axis=1)
        below = np.where(candidates_low < here, candidates_low, -np.inf).max(axis=1)
    resistance[rows] = np.where(np.isfinite(above), above, np.nan)
    support[rows] = np.where(np.isfinite(below), below, np.nan)
    return support, resistance


def levels_score(
    close: FloatArray, atr: FloatArray, support: FloatArray, resistance: FloatArray
) -> FloatArray:
    """+0.5 within LEVEL_NEAR_ATR ATRs above support, -0.5 as near below resistance."""
    with np.errstate(invalid="ignore", divide="ignore"):
        near_support = np.isfinite(support) & ((close - support) / atr <= LEVEL_NEAR_ATR)
        near_resistance = np.isfinite(resistance) & ((resistance - close) / atr <= LEVEL_NEAR_ATR)
        score = np.where(near_support, 0.5, 0.0) - np.where(near_resistance, 0.5, 0.0)
        known = np.isfinite(atr) & (atr > 0) & (np.isfinite(support) | np.isfinite(resistance))
    result: FloatArray = np.where(known, score, np.nan)
    return result


def trend_regime(close: FloatArray, ema_slow: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Close against the slow EMA and that EMA's slope over REGIME_SLOPE_CANDLES candles:
    +REGIME_SCORE in an uptrend, -REGIME_SCORE in a downtrend, 0 in a range."""
    back = REGIME_SLOPE_CANDLES
    before = _nan_like(ema_slow)
    if len(ema_slow) > back:
        before[back:] = ema_slow[:-back]
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = 100.0 * (ema_slow / before - 1.0)
        regime = np.where(
            (close > ema_slow) & (slope > 0),
            REGIME_SCORE,
            np.where((close < ema_slow) & (slope < 0), -REGIME_SCORE, 0.0),
        )
        known = np.isfinite(ema_slow) & np.isfinite(before) & (before > 0)
    return np.where(known, regime, np.nan), np.where(known, slope, np.nan)


def baseline_candles(timeframe_ms: int) -> int:
    return max(1, VOLATILITY_BASELINE_DAYS * 86_400_000 // timeframe_ms)


def volatility_baseline(
    atr: FloatArray, close: FloatArray, timeframe_ms: int
) -> tuple[FloatArray, FloatArray]:
    """ATR % of price now, and its median over the last VOLATILITY_BASELINE_DAYS (finite values
    only; NaN until at least half the window is known, or when the median is not positive)."""
    window = baseline_candles(timeframe_ms)
    with np.errstate(invalid="ignore", divide="ignore"):
        atr_pct = 100.0 * atr / close
    values = atr_pct.tolist()
    now, baseline = _nan_like(atr_pct), _nan_like(atr_pct)
    ordered: list[float] = []
    last_finite = math.nan
    for i, value in enumerate(values):
        if math.isfinite(value):
            insort(ordered, value)
            last_finite = value
        if i >= window:
            leaving = values[i - window]
            if math.isfinite(leaving):
                del ordered[bisect_left(ordered, leaving)]
        count = len(ordered)
        if count == 0 or count < window // 2:
            continue
        middle = count // 2
        median = ordered[middle] if count % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0
        if median > 0:
            now[i] = last_finite
            baseline[i] = median
    return now, baseline


def volatility_factor(now: float, baseline: float) -> float:
    """High volatility halves the trend regime's weight: trends break more often then."""
    if not (math.isfinite(now) and math.isfinite(baseline)):
        return 1.0
    return 0.5 if now / baseline > HIGH_VOLATILITY_RATIO else 1.0
