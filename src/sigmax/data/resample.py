"""Aggregate candles to a longer timeframe (1h -> 4h, 1h -> 1d, 2h -> 1d, ...)."""

from __future__ import annotations

import numpy as np

from sigmax.domain.candles import CandleSeries, Timeframe


def resample(series: CandleSeries, target: Timeframe) -> CandleSeries:
    """Candles of ``series`` aggregated into ``target`` buckets aligned to the UTC epoch.

    Buckets start at multiples of the target length since 1970-01-01 00:00 UTC: 4h buckets at
    00:00, 04:00, 08:00 ... UTC and 1d buckets at 00:00 UTC. Each bucket takes the first open,
    the highest high, the lowest low, the last close and the summed volume of its candles.

    A bucket with missing source candles (a gap in the data, or a series that starts in the
    middle of a bucket) is still emitted from the candles that exist. The last bucket is dropped
    when the series ends before that bucket's last source candle: such a bucket has not closed
    yet, and using it would let a decision see a candle whose values are still changing.

    Raises:
        ValueError: ``target`` is shorter than the series' timeframe or not a whole multiple of
            it, or the series' timestamps are not strictly increasing.
    """
    source = series.timeframe
    if target.ms < source.ms or target.ms % source.ms != 0:
        raise ValueError(
            f"cannot resample {source.value} candles to {target.value}: the target must be a "
            f"whole multiple of {source.value}"
        )
    if target == source:
        return series
    timestamps = series.timestamp
    if len(timestamps) > 1 and not (np.diff(timestamps) > 0).all():
        raise ValueError("cannot resample: candle timestamps must be strictly increasing")

    buckets = timestamps - timestamps % target.ms
    if len(buckets) and timestamps[-1] < buckets[-1] + target.ms - source.ms:
        # The data ends inside the last bucket: it has not closed, so it is left out.
        closed = int(np.searchsorted(buckets, buckets[-1], side="left"))
        series, buckets = series[:closed], buckets[:closed]
    if len(buckets) == 0:
        return CandleSeries(
            series.exchange,
            series.symbol,
            target,
            buckets,
            series.open,
            series.high,
            series.low,
            series.close,
            series.volume,
        )

    starts = np.flatnonzero(np.diff(buckets, prepend=buckets[0] - 1))
    ends = np.append(starts[1:], len(buckets)) - 1
    return CandleSeries(
        series.exchange,
        series.symbol,
        target,
        buckets[starts],
        series.open[starts],
        np.maximum.reduceat(series.high, starts),
        np.minimum.reduceat(series.low, starts),
        series.close[ends],
        np.add.reduceat(series.volume, starts),
    )
