"""Candles and candle series.

A :class:`CandleSeries` keeps columns as numpy arrays: analytics read them without copying,
and slicing up to a moment is how the engine guarantees that nothing after ``t`` is seen.
Timestamps are candle *open* times in milliseconds since the epoch, UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from sigmax.domain.instruments import Symbol

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Timeframe(StrEnum):
    """Candle durations SIGMAX understands."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    H6 = "6h"
    H12 = "12h"
    D1 = "1d"

    @property
    def ms(self) -> int:
        """Length of one candle in milliseconds."""
        unit = self.value[-1]
        count = int(self.value[:-1])
        return count * {"m": 60_000, "h": 3_600_000, "d": 86_400_000}[unit]

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        try:
            return cls(text.strip().lower())
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise ValueError(f"timeframe must be one of {allowed} (got {text!r})") from None

    def times(self, factor: int) -> Timeframe:
        """The timeframe ``factor`` times as long as this one.

        A standard timeframe when there is one (1h x 4 is ``Timeframe.H4``, 1h x 24 is
        ``Timeframe.D1``); otherwise an extra timeframe (2h x 4 is 8h) that the agents' higher
        timeframes are resampled to. Extra timeframes are never parsed from text or listed: a
        file, an option or the configuration names standard timeframes only.
        """
        if factor < 1:
            raise ValueError(f"a timeframe multiple must be a whole number >= 1 (got {factor})")
        length = self.ms * factor
        for timeframe in Timeframe:
            if timeframe.ms == length:
                return timeframe
        return _extra_timeframe(length)


_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000))
_EXTRA_TIMEFRAMES: dict[int, Timeframe] = {}


def _extra_timeframe(length_ms: int) -> Timeframe:
    """The one extra (non-standard) timeframe of ``length_ms``, written in its largest unit."""
    extra = _EXTRA_TIMEFRAMES.get(length_ms)
    if extra is None:
        unit, unit_ms = next((u, ms) for u, ms in _UNITS if length_ms % ms == 0)
        value = f"{length_ms // unit_ms}{unit}"
        # An enum cannot grow members; this instance behaves as one (value, ms, str, equality)
        # but stays out of the members, so parsing and listing are unchanged.
        extra = str.__new__(Timeframe, value)
        extra._value_ = value
        extra._name_ = f"X{value.upper()}"
        extra = _EXTRA_TIMEFRAMES.setdefault(length_ms, extra)
    return extra


def ms_to_datetime(ms: int) -> datetime:
    """Milliseconds since the epoch to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def ms_to_iso(ms: int) -> str:
    """Milliseconds since the epoch to ISO 8601 with a ``Z`` suffix, to the second."""
    return ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def datetime_to_ms(moment: datetime) -> int:
    """Aware datetime to milliseconds since the epoch. Naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("datetime must carry a time zone (use UTC)")
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle; ``timestamp`` is its open time in ms UTC."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True, eq=False)
class CandleSeries:
    """A run of candles of one market and timeframe, oldest first, as numpy columns."""

    exchange: str
    symbol: Symbol
    timeframe: Timeframe
    timestamp: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = len(self.timestamp)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.timestamp)

    def __getitem__(self, index: slice) -> CandleSeries:
        return CandleSeries(
            self.exchange,
            self.symbol,
            self.timeframe,
            self.timestamp[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
        )

    def candle(self, index: int) -> Candle:
        """The candle at ``index`` (negative indices count from the end)."""
        return Candle(
            int(self.timestamp[index]),
            float(self.open[index]),
            float(self.high[index]),
            float(self.low[index]),
            float(self.close[index]),
            float(self.volume[index]),
        )

    def until(self, open_time_ms: int) -> CandleSeries:
        """The candles whose open time is <= ``open_time_ms``: nothing later is visible."""
        end = int(np.searchsorted(self.timestamp, open_time_ms, side="right"))
        return self[:end]

    @property
    def first_ms(self) -> int:
        return int(self.timestamp[0])

    @property
    def last_ms(self) -> int:
        return int(self.timestamp[-1])

    @property
    def key(self) -> str:
        """``binance_BTC-USDT_1h``: the file-name stem of this series."""
        return f"{self.exchange}_{self.symbol.file_token}_{self.timeframe.value}"
