"""Technical indicators over whole candle columns, computed by TA-Lib.

TA-Lib is the reference implementation traders compare against, so SIGMAX calls it rather than
re-deriving the formulas. Each function takes float64 numpy arrays (oldest first) and returns
arrays of the same length; the first values, before an indicator has enough history, are NaN.

The same functions serve the live path (the last value of a window) and the batch path (every
value of a whole history), so a backtest and a live decision compute identical numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np
import talib

from sigmax.domain.candles import CandleSeries, FloatArray

#: Wilder's original periods and the standard MACD / Bollinger parameters.
RSI_PERIOD = 14
ATR_PERIOD = 14
ADX_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BOLLINGER_PERIOD, BOLLINGER_STDDEV = 20, 2.0
VOLUME_ZSCORE_PERIOD = 20
EMA_PERIODS = (20, 50, 200)


def _f64(values: Any) -> FloatArray:
    """TA-Lib needs contiguous float64 input; avoid a copy when the column already is."""
    return np.ascontiguousarray(values, dtype=np.float64)


def sma(close: FloatArray, period: int) -> FloatArray:
    """Simple moving average."""
    return _f64(talib.SMA(_f64(close), timeperiod=period))


def ema(close: FloatArray, period: int) -> FloatArray:
    """Exponential moving average, alpha = 2 / (period + 1), seeded with the first SMA."""
    return _f64(talib.EMA(_f64(close), timeperiod=period))


def rsi(close: FloatArray, period: int = RSI_PERIOD) -> FloatArray:
    """Relative strength index with Wilder's smoothing."""
    return _f64(talib.RSI(_f64(close), timeperiod=period))


class Macd(NamedTuple):
    """MACD line, its signal line (EMA of the MACD line) and the histogram (line - signal)."""

    line: FloatArray
    signal: FloatArray
    hist: FloatArray


def macd(
    close: FloatArray,
    fast: int = MACD_FAST,
    slow: int = MACD_SLOW,
    signal: int = MACD_SIGNAL,
) -> Macd:
    """MACD(fast, slow, signal) as TA-Lib computes it."""
    line, sig, hist = talib.MACD(_f64(close), fastperiod=fast, slowperiod=slow, signalperiod=signal)
    return Macd(_f64(line), _f64(sig), _f64(hist))


class Bollinger(NamedTuple):
    """Bollinger bands: SMA(period) +/- k population standard deviations."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


def bollinger(
    close: FloatArray, period: int = BOLLINGER_PERIOD, stddev: float = BOLLINGER_STDDEV
) -> Bollinger:
    """Bollinger bands with a simple moving average as the middle band."""
    # TA-Lib's default middle band is the simple moving average, as Bollinger defined it.
    upper, middle, lower = talib.BBANDS(
        _f64(close), timeperiod=period, nbdevup=stddev, nbdevdn=stddev
    )
    return Bollinger(_f64(upper), _f64(middle), _f64(lower))


def atr(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int = ATR_PERIOD
) -> FloatArray:
    """Average true range with Wilder's smoothing."""
    return _f64(talib.ATR(_f64(high), _f64(low), _f64(close), timeperiod=period))


def adx(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int = ADX_PERIOD
) -> FloatArray:
    """Average directional index (trend strength, 0-100)."""
    return _f64(talib.ADX(_f64(high), _f64(low), _f64(close), timeperiod=period))


def obv(close: FloatArray, volume: FloatArray) -> FloatArray:
    """On-balance volume: cumulative volume signed by the close-to-close direction."""
    return _f64(talib.OBV(_f64(close), _f64(volume)))


def volume_zscore(volume: FloatArray, period: int = VOLUME_ZSCORE_PERIOD) -> FloatArray:
    """How unusual each candle's volume is: (v - mean) / stddev over the trailing ``period``.

    The window includes the current candle and uses the population standard deviation, as
    TA-Lib's STDDEV does. A window of constant volume has no spread; the score is 0 there.
    """
    vol = _f64(volume)
    mean = talib.SMA(vol, timeperiod=period)
    spread = talib.STDDEV(vol, timeperiod=period, nbdev=1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(spread > 0.0, (vol - mean) / spread, 0.0)
    score[np.isnan(mean)] = np.nan
    return _f64(score)


@dataclass(frozen=True, slots=True, eq=False)
class IndicatorColumns:
    """Every standard indicator of a series, one array per indicator, aligned with the candles.

    The field names are the keys a decision record reports under ``indicators``.
    """

    rsi_14: FloatArray
    macd: FloatArray
    macd_signal: FloatArray
    macd_hist: FloatArray
    bb_upper: FloatArray
    bb_middle: FloatArray
    bb_lower: FloatArray
    atr_14: FloatArray
    ema_20: FloatArray
    ema_50: FloatArray
    ema_200: FloatArray
    adx_14: FloatArray
    sma_20: FloatArray
    obv: FloatArray
    volume_zscore: FloatArray

    def at(self, index: int) -> dict[str, float]:
        """Every indicator's value at candle ``index`` (negative counts from the end)."""
        return {f.name: float(getattr(self, f.name)[index]) for f in fields(self)}

    def __len__(self) -> int:
        return len(self.rsi_14)


def compute_indicators(series: CandleSeries) -> IndicatorColumns:
    """Compute every standard indicator over the whole series."""
    close, high, low = series.close, series.high, series.low
    macd_cols = macd(close)
    bands = bollinger(close)
    return IndicatorColumns(
        rsi_14=rsi(close),
        macd=macd_cols.line,
        macd_signal=macd_cols.signal,
        macd_hist=macd_cols.hist,
        bb_upper=bands.upper,
        bb_middle=bands.middle,
        bb_lower=bands.lower,
        atr_14=atr(high, low, close),
        ema_20=ema(close, EMA_PERIODS[0]),
        ema_50=ema(close, EMA_PERIODS[1]),
        ema_200=ema(close, EMA_PERIODS[2]),
        adx_14=adx(high, low, close),
        sma_20=sma(close, BOLLINGER_PERIOD),
        obv=obv(close, series.volume),
        volume_zscore=volume_zscore(series.volume),
    )
