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


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """The periods of every indicator, in candles (Bollinger width in standard deviations)."""

    rsi: int = RSI_PERIOD
    macd_fast: int = MACD_FAST
    macd_slow: int = MACD_SLOW
    macd_signal: int = MACD_SIGNAL
    bollinger_period: int = BOLLINGER_PERIOD
    bollinger_stddev: float = BOLLINGER_STDDEV
    atr: int = ATR_PERIOD
    adx: int = ADX_PERIOD
    ema_fast: int = EMA_PERIODS[0]
    ema_slow: int = EMA_PERIODS[1]
    ema_long: int = EMA_PERIODS[2]
    volume_zscore: int = VOLUME_ZSCORE_PERIOD


#: The textbook periods; decision records report indicators computed with exactly these.
STANDARD_SPEC = IndicatorSpec()

#: Decision-record key -> IndicatorColumns field, for the standard periods (the runbook's names).
RECORD_KEYS: dict[str, str] = {
    "rsi_14": "rsi",
    "macd": "macd",
    "macd_signal": "macd_signal",
    "macd_hist": "macd_hist",
    "bb_upper": "bb_upper",
    "bb_middle": "bb_middle",
    "bb_lower": "bb_lower",
    "atr_14": "atr",
    "ema_20": "ema_fast",
    "ema_50": "ema_slow",
    "ema_200": "ema_long",
    "adx_14": "adx",
}


@dataclass(frozen=True, slots=True, eq=False)
class IndicatorColumns:
    """Every indicator of a series, one array per indicator, aligned with the candles."""

    spec: IndicatorSpec
    rsi: FloatArray
    macd: FloatArray
    macd_signal: FloatArray
    macd_hist: FloatArray
    bb_upper: FloatArray
    bb_middle: FloatArray
    bb_lower: FloatArray
    atr: FloatArray
    ema_fast: FloatArray
    ema_slow: FloatArray
    ema_long: FloatArray
    adx: FloatArray
    obv: FloatArray
    volume_zscore: FloatArray

    def column(self, name: str) -> FloatArray:
        """The array of the indicator called ``name`` (a field name)."""
        if name == "spec" or name not in self.__dataclass_fields__:
            raise KeyError(f"no indicator column {name!r}")
        values: FloatArray = getattr(self, name)
        return values

    def at(self, index: int) -> dict[str, float]:
        """Every indicator's value at candle ``index`` (negative counts from the end)."""
        return {
            f.name: float(getattr(self, f.name)[index]) for f in fields(self) if f.name != "spec"
        }

    def record_values(self, index: int) -> dict[str, float]:
        """The runbook's indicator keys (``rsi_14`` ... ``adx_14``) at candle ``index``.

        Only standard-period columns may be reported under those names.
        """
        if self.spec != STANDARD_SPEC:
            raise ValueError("record keys name the standard periods; compute with STANDARD_SPEC")
        return {key: float(getattr(self, name)[index]) for key, name in RECORD_KEYS.items()}

    def __len__(self) -> int:
        return len(self.rsi)


def compute_indicators(
    series: CandleSeries, spec: IndicatorSpec = STANDARD_SPEC
) -> IndicatorColumns:
    """Compute every indicator over the whole series with the periods in ``spec``.

    Each value depends only on candles up to its own index, so the column computed over a long
    history equals, value for value, the one computed over that history cut at any candle.
    """
    close, high, low = series.close, series.high, series.low
    macd_cols = macd(close, spec.macd_fast, spec.macd_slow, spec.macd_signal)
    bands = bollinger(close, spec.bollinger_period, spec.bollinger_stddev)
    return IndicatorColumns(
        spec=spec,
        rsi=rsi(close, spec.rsi),
        macd=macd_cols.line,
        macd_signal=macd_cols.signal,
        macd_hist=macd_cols.hist,
        bb_upper=bands.upper,
        bb_middle=bands.middle,
        bb_lower=bands.lower,
        atr=atr(high, low, close, spec.atr),
        ema_fast=ema(close, spec.ema_fast),
        ema_slow=ema(close, spec.ema_slow),
        ema_long=ema(close, spec.ema_long),
        adx=adx(high, low, close, spec.adx),
        obv=obv(close, series.volume),
        volume_zscore=volume_zscore(series.volume, spec.volume_zscore),
    )
