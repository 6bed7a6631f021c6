"""Indicators agree with independent textbook implementations on the real bundled data.

SIGMAX computes indicators with TA-Lib; these references are written from the published
formulas (Wilder 1978 for RSI, ATR and ADX; Appel for MACD; Bollinger; Granville for OBV) with
plain Python loops, so a wrong parameter, a swapped output or a wrong smoothing in our wrappers
fails here. Recursive indicators depend on how they are seeded, so values are compared after a
warm-up long enough for any seed to have decayed below 1e-9 relative.
"""

from __future__ import annotations

import math
from importlib.resources import as_file, files

import numpy as np
import pytest

from sigmax.data import indicators as ind
from sigmax.domain.candles import CandleSeries, FloatArray, Timeframe
from sigmax.domain.instruments import Symbol

WARM_UP = 1500
RTOL = 1e-9


def _bundled(symbol: str) -> CandleSeries:
    resource = files("sigmax.data") / "bundled" / "candles" / f"binance_{symbol}_1h.csv"
    with as_file(resource) as path:
        raw = np.loadtxt(path, delimiter=",", skiprows=1)
    return CandleSeries(
        "binance",
        Symbol.parse(symbol),
        Timeframe.H1,
        raw[:, 0].astype(np.int64),
        raw[:, 1].copy(),
        raw[:, 2].copy(),
        raw[:, 3].copy(),
        raw[:, 4].copy(),
        raw[:, 5].copy(),
    )


@pytest.fixture(scope="module", params=["BTC-USDT", "ETH-USDT", "SOL-USDT", "BNB-USDT"])
def series(request: pytest.FixtureRequest) -> CandleSeries:
    return _bundled(request.param)


def _agree(ours: FloatArray, reference: list[float] | FloatArray, scale: float) -> None:
    ref = np.asarray(reference, dtype=np.float64)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours[WARM_UP:], ref[WARM_UP:], rtol=RTOL, atol=RTOL * scale * 1e-3)


# ---- textbook references -------------------------------------------------------------------


def ref_sma(x: FloatArray, n: int) -> list[float]:
    out = [math.nan] * len(x)
    for i in range(n - 1, len(x)):
        out[i] = sum(x[i - n + 1 : i + 1]) / n
    return out


def ref_ema(x: list[float] | FloatArray, n: int) -> list[float]:
    """EMA seeded with the SMA of the first ``n`` defined values."""
    values = list(x)
    out = [math.nan] * len(values)
    start = next(i for i, v in enumerate(values) if not math.isnan(v))
    k = 2.0 / (n + 1)
    prev = sum(values[start : start + n]) / n
    out[start + n - 1] = prev
    for i in range(start + n, len(values)):
        prev = prev + k * (values[i] - prev)
        out[i] = prev
    return out


def ref_wilder(values: list[float], n: int, first: int) -> list[float]:
    """Wilder smoothing: the mean of ``n`` values ending at ``first``, then (prev*(n-1)+v)/n."""
    out = [math.nan] * len(values)
    prev = sum(values[first - n + 1 : first + 1]) / n
    out[first] = prev
    for i in range(first + 1, len(values)):
        prev = (prev * (n - 1) + values[i]) / n
        out[i] = prev
    return out


def ref_rsi(close: FloatArray, n: int = 14) -> list[float]:
    gains = [0.0] + [max(close[i] - close[i - 1], 0.0) for i in range(1, len(close))]
    losses = [0.0] + [max(close[i - 1] - close[i], 0.0) for i in range(1, len(close))]
    avg_gain = ref_wilder(gains, n, n)
    avg_loss = ref_wilder(losses, n, n)
    return [
        math.nan if math.isnan(g) else 100.0 * g / (g + lo) if g + lo > 0 else 0.0
        for g, lo in zip(avg_gain, avg_loss, strict=True)
    ]


def ref_true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> list[float]:
    tr = [high[0] - low[0]]
    for i in range(1, len(close)):
        tr.append(max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])))
    return tr


def ref_atr(high: FloatArray, low: FloatArray, close: FloatArray, n: int = 14) -> list[float]:
    return ref_wilder(ref_true_range(high, low, close), n, n)


def ref_adx(high: FloatArray, low: FloatArray, close: FloatArray, n: int = 14) -> list[float]:
    plus_dm, minus_dm = [0.0], [0.0]
    for i in range(1, len(close)):
        up, down = high[i] - high[i - 1], low[i - 1] - low[i]
        plus_dm.append(up if up > down and up > 0 else 0.0)
        minus_dm.append(down if down > up and down > 0 else 0.0)
    tr = ref_true_range(high, low, close)
    s_plus, s_minus, s_tr = (ref_wilder(v, n, n) for v in (plus_dm, minus_dm, tr))
    dx = [math.nan] * len(close)
    for i in range(n, len(close)):
        di_plus, di_minus = 100 * s_plus[i] / s_tr[i], 100 * s_minus[i] / s_tr[i]
        total = di_plus + di_minus
        dx[i] = 0.0 if total == 0 else 100 * abs(di_plus - di_minus) / total
    return ref_wilder(dx, n, 2 * n - 1)


def ref_obv(close: FloatArray, volume: FloatArray) -> list[float]:
    out = [float(volume[0])]
    for i in range(1, len(close)):
        direction = np.sign(close[i] - close[i - 1])
        out.append(out[-1] + direction * volume[i])
    return out


def ref_std(x: FloatArray, n: int) -> list[float]:
    out = [math.nan] * len(x)
    for i in range(n - 1, len(x)):
        window = x[i - n + 1 : i + 1]
        mean = sum(window) / n
        out[i] = math.sqrt(sum((v - mean) ** 2 for v in window) / n)
    return out


# ---- agreement -----------------------------------------------------------------------------


def test_moving_averages_agree(series: CandleSeries) -> None:
    scale = float(np.max(series.close))
    _agree(ind.sma(series.close, 20), ref_sma(series.close, 20), scale)
    for period in (20, 50, 200):
        _agree(ind.ema(series.close, period), ref_ema(series.close, period), scale)


def test_rsi_uses_wilder_smoothing(series: CandleSeries) -> None:
    _agree(ind.rsi(series.close), ref_rsi(series.close), 100.0)


def test_macd_line_signal_and_histogram(series: CandleSeries) -> None:
    scale = float(np.max(series.close))
    fast, slow = ref_ema(series.close, 12), ref_ema(series.close, 26)
    line = [f - s for f, s in zip(fast, slow, strict=True)]
    signal = ref_ema(line, 9)
    hist = [a - b for a, b in zip(line, signal, strict=True)]
    got = ind.macd(series.close)
    _agree(got.line, line, scale)
    _agree(got.signal, signal, scale)
    _agree(got.hist, hist, scale)
    # The signal line is a real EMA of the MACD line, not a copy of it.
    assert np.nanmax(np.abs(got.hist)) > 0


def test_bollinger_bands(series: CandleSeries) -> None:
    scale = float(np.max(series.close))
    middle = ref_sma(series.close, 20)
    std = ref_std(series.close, 20)
    got = ind.bollinger(series.close)
    _agree(got.middle, middle, scale)
    _agree(got.upper, [m + 2 * s for m, s in zip(middle, std, strict=True)], scale)
    _agree(got.lower, [m - 2 * s for m, s in zip(middle, std, strict=True)], scale)


def test_atr_and_adx_use_wilder_smoothing(series: CandleSeries) -> None:
    scale = float(np.max(series.close))
    _agree(ind.atr(series.high, series.low, series.close), ref_atr(*_hlc(series)), scale)
    _agree(ind.adx(series.high, series.low, series.close), ref_adx(*_hlc(series)), 100.0)


def test_obv_is_exact(series: CandleSeries) -> None:
    ours = ind.obv(series.close, series.volume)
    ref = np.asarray(ref_obv(series.close, series.volume))
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-6)


def test_volume_zscore(series: CandleSeries) -> None:
    vol = series.volume
    mean, std = ref_sma(vol, 20), ref_std(vol, 20)
    ref = [
        math.nan if math.isnan(m) else (0.0 if s == 0 else (v - m) / s)
        for v, m, s in zip(vol, mean, std, strict=True)
    ]
    _agree(ind.volume_zscore(vol), ref, 10.0)


def test_warm_up_is_nan_and_columns_align(series: CandleSeries) -> None:
    cols = ind.compute_indicators(series)
    assert len(cols) == len(series)
    assert math.isnan(cols.rsi[13])
    assert not math.isnan(cols.rsi[14])
    assert math.isnan(cols.ema_long[198])
    assert not math.isnan(cols.ema_long[199])
    latest = cols.record_values(-1)
    assert set(latest) == {
        "rsi_14", "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower",
        "atr_14", "ema_20", "ema_50", "ema_200", "adx_14",
    }  # fmt: skip
    assert all(math.isfinite(v) for v in latest.values())
    assert latest["bb_lower"] < latest["bb_middle"] < latest["bb_upper"]


def test_constant_volume_scores_zero() -> None:
    flat = np.full(40, 5.0)
    score = ind.volume_zscore(flat)
    assert np.all(np.isnan(score[:19]))
    assert np.all(score[19:] == 0.0)


def _hlc(series: CandleSeries) -> tuple[FloatArray, FloatArray, FloatArray]:
    return series.high, series.low, series.close


def test_columns_are_causal(series: CandleSeries) -> None:
    """A value never changes when later candles are added: the basis of no look-ahead."""
    whole = ind.compute_indicators(series)
    for cut in (250, 5_000, len(series) - 1):
        part = ind.compute_indicators(series[: cut + 1])
        assert whole.at(cut).keys() == part.at(-1).keys()
        for name, value in part.at(-1).items():
            assert value == whole.at(cut)[name] or (
                math.isnan(value) and math.isnan(whole.at(cut)[name])
            )


def test_custom_periods_are_not_reported_under_standard_names(series: CandleSeries) -> None:
    custom = ind.compute_indicators(series, ind.IndicatorSpec(rsi=21))
    assert custom.rsi[-1] != ind.compute_indicators(series).rsi[-1]
    with pytest.raises(ValueError, match="standard periods"):
        custom.record_values(-1)
