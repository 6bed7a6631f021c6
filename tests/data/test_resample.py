"""Resampling: hand-computed buckets, epoch alignment, unclosed buckets, the real 2h series."""

from __future__ import annotations

import numpy as np
import pytest

from sigmax.data.catalog import DatasetCatalog
from sigmax.data.resample import resample
from sigmax.domain.candles import CandleSeries, Timeframe
from sigmax.domain.instruments import Symbol

HOUR = 3_600_000
DAY = 24 * HOUR
# 2021-04-05 00:00 UTC, a day boundary (and so a 4h boundary).
T0 = 1_617_580_800_000


def hourly(
    hours: list[int], opens: list[float], highs: list[float], lows: list[float], closes: list[float]
) -> CandleSeries:
    n = len(hours)
    return CandleSeries(
        "binance",
        Symbol("BTC", "USDT"),
        Timeframe.H1,
        np.array([T0 + h * HOUR for h in hours], dtype=np.int64),
        np.array(opens, dtype=np.float64),
        np.array(highs, dtype=np.float64),
        np.array(lows, dtype=np.float64),
        np.array(closes, dtype=np.float64),
        np.arange(1, n + 1, dtype=np.float64),  # volumes 1, 2, 3, ...
    )


def columns(series: CandleSeries) -> list[list[float]]:
    return [
        series.timestamp.tolist(),
        series.open.tolist(),
        series.high.tolist(),
        series.low.tolist(),
        series.close.tolist(),
        series.volume.tolist(),
    ]


# Eight hourly candles = two full 4h buckets.
EIGHT = hourly(
    list(range(8)),
    opens=[10, 11, 12, 13, 20, 21, 22, 23],
    highs=[15, 16, 19, 14, 25, 30, 24, 26],
    lows=[9, 8, 11, 12, 19, 18, 21, 22],
    closes=[11, 12, 13, 14, 21, 22, 23, 24],
)


def test_one_hour_to_four_hours_by_hand() -> None:
    four = resample(EIGHT, Timeframe.H4)
    assert four.timeframe is Timeframe.H4
    assert (four.exchange, four.symbol) == ("binance", Symbol("BTC", "USDT"))
    assert columns(four) == [
        [T0, T0 + 4 * HOUR],
        [10, 20],  # first open
        [19, 30],  # highest high
        [8, 18],  # lowest low
        [14, 24],  # last close
        [1 + 2 + 3 + 4, 5 + 6 + 7 + 8],  # summed volume
    ]


def test_one_hour_to_one_day_by_hand() -> None:
    hours = list(range(24)) + [24 + h for h in range(24)]
    n = len(hours)
    series = hourly(
        hours,
        opens=[100.0 + i for i in range(n)],
        highs=[200.0 + i for i in range(n)],
        lows=[50.0 - i * 0.5 for i in range(n)],
        closes=[150.0 + i for i in range(n)],
    )
    daily = resample(series, Timeframe.D1)
    assert columns(daily) == [
        [T0, T0 + DAY],
        [100.0, 124.0],
        [223.0, 247.0],
        [50.0 - 23 * 0.5, 50.0 - 47 * 0.5],
        [173.0, 197.0],
        [sum(range(1, 25)), sum(range(25, 49))],
    ]


def test_buckets_are_aligned_to_the_utc_epoch() -> None:
    # Starting at 02:00 UTC: the first 4h bucket is 00:00-04:00 (built from 02:00 and 03:00),
    # not 02:00-06:00.
    series = hourly(
        list(range(2, 8)),
        opens=[1, 2, 3, 4, 5, 6],
        highs=[10, 10, 10, 10, 10, 10],
        lows=[1, 1, 1, 1, 1, 1],
        closes=[2, 3, 4, 5, 6, 7],
    )
    four = resample(series, Timeframe.H4)
    assert four.timestamp.tolist() == [T0, T0 + 4 * HOUR]
    assert four.open.tolist() == [1, 3]
    assert four.close.tolist() == [3, 7]
    assert four.volume.tolist() == [1 + 2, 3 + 4 + 5 + 6]


def test_bucket_with_missing_candles_is_built_from_what_exists() -> None:
    series = hourly(
        [0, 1, 3, 4, 5, 6, 7],  # 02:00 missing
        opens=[10, 11, 13, 20, 21, 22, 23],
        highs=[15, 16, 17, 25, 30, 24, 26],
        lows=[9, 8, 12, 19, 18, 21, 22],
        closes=[11, 12, 14, 21, 22, 23, 24],
    )
    four = resample(series, Timeframe.H4)
    assert columns(four)[:5] == [
        [T0, T0 + 4 * HOUR],
        [10, 20],
        [17, 30],
        [8, 18],
        [14, 24],
    ]


def test_trailing_unclosed_bucket_is_dropped() -> None:
    # Data ends at 06:00: the 04:00-08:00 bucket still waits for its 07:00 candle.
    four = resample(EIGHT[:7], Timeframe.H4)
    assert four.timestamp.tolist() == [T0]
    assert four.close.tolist() == [14]
    # With the 07:00 candle the bucket is closed and appears.
    assert resample(EIGHT, Timeframe.H4).timestamp.tolist() == [T0, T0 + 4 * HOUR]


def test_series_shorter_than_one_bucket_gives_an_empty_series() -> None:
    empty = resample(EIGHT[:3], Timeframe.H4)
    assert len(empty) == 0
    assert empty.timeframe is Timeframe.H4


def test_same_timeframe_is_returned_unchanged() -> None:
    assert resample(EIGHT, Timeframe.H1) is EIGHT


@pytest.mark.parametrize("target", [Timeframe.M30, Timeframe.M15])
def test_shorter_target_is_refused(target: Timeframe) -> None:
    with pytest.raises(ValueError, match="whole multiple of 1h"):
        resample(EIGHT, target)


def test_target_that_is_not_a_whole_multiple_is_refused() -> None:
    four = resample(EIGHT, Timeframe.H4)
    with pytest.raises(ValueError, match="cannot resample 4h candles to 6h"):
        resample(four, Timeframe.H6)


def test_unordered_series_is_refused() -> None:
    shuffled = hourly([0, 2, 1, 3], [1, 1, 1, 1], [2, 2, 2, 2], [1, 1, 1, 1], [1, 1, 1, 1])
    with pytest.raises(ValueError, match="strictly increasing"):
        resample(shuffled, Timeframe.H4)


def test_bundled_1h_btc_resampled_to_2h_matches_the_independent_2h_series() -> None:
    catalog = DatasetCatalog.from_path(None)
    hourly_btc = catalog.load("BTC/USDT", "1h").series
    two_hourly_btc = catalog.load("BTC/USDT", "2h").series
    resampled = resample(hourly_btc, Timeframe.H2)

    # Complete buckets: both of their hourly candles exist.
    bucket_of_hour = hourly_btc.timestamp - hourly_btc.timestamp % Timeframe.H2.ms
    starts, counts = np.unique(bucket_of_hour, return_counts=True)
    complete = starts[counts == 2]
    assert complete.size > 10_000

    _, in_resampled, in_reference = np.intersect1d(
        resampled.timestamp, two_hourly_btc.timestamp, return_indices=True
    )
    common = resampled.timestamp[in_resampled]
    assert np.isin(complete, common).all(), "every complete bucket exists in the 2h series"
    keep = np.isin(common, complete)
    a, b = in_resampled[keep], in_reference[keep]
    for name in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(resampled, name)[a], getattr(two_hourly_btc, name)[b]), name
    np.testing.assert_allclose(resampled.volume[a], two_hourly_btc.volume[b], rtol=1e-12, atol=0)


def test_resampled_daily_btc_has_one_candle_per_day_and_no_look_ahead() -> None:
    hourly_btc = DatasetCatalog.from_path(None).load("BTC/USDT", "1h").series
    daily = resample(hourly_btc, Timeframe.D1)
    assert daily.first_ms == T0
    assert daily.last_ms == 1_696_032_000_000  # 2023-09-30 00:00 UTC, the last closed day
    assert (np.diff(daily.timestamp) == DAY).all()
    # The day's high is the max over exactly that day's hours, never a later one.
    day = 100
    hours = (hourly_btc.timestamp >= daily.timestamp[day]) & (
        hourly_btc.timestamp < daily.timestamp[day] + DAY
    )
    assert daily.high[day] == hourly_btc.high[hours].max()
    assert daily.close[day] == hourly_btc.close[hours][-1]
    # Cutting the hourly data mid-day removes that day instead of showing a partial candle.
    cut = hourly_btc.until(daily.timestamp[day] + 12 * HOUR)
    assert resample(cut, Timeframe.D1).last_ms == daily.timestamp[day - 1]
