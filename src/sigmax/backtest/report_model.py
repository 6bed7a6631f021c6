"""What the backtest report shows: its input types, their checks and the report's errors.

The report renderer (:mod:`sigmax.backtest.report`) reads nothing else. Everything is checked
when the input is built, so a broken backtest result fails with the field that is wrong instead
of producing a report that silently misleads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeAlias

import numpy as np

from sigmax.domain.candles import CandleSeries, FloatArray, IntArray
from sigmax.errors import InputError

__all__ = [
    "STANDARD_METRIC_FORMATS",
    "STANDARD_METRIC_LABELS",
    "EquityCurve",
    "JsonValue",
    "MetricFormat",
    "ReportDestinationError",
    "ReportInput",
    "ReportInputError",
    "ReportTrade",
    "SymbolCandles",
    "TradeSide",
    "metric_number",
]

#: A value as JSON holds it (the metrics and the configuration are made of these).
JsonValue: TypeAlias = (
    "bool | int | float | str | Sequence[JsonValue] | Mapping[str, JsonValue] | None"
)


class ReportInputError(InputError):
    """The report's input is inconsistent; the message names the field and the rule."""


class ReportDestinationError(InputError):
    """The report cannot be written where it was asked to go (missing folder, not writable)."""


class TradeSide(StrEnum):
    """The direction of a round trip."""

    LONG = "long"
    SHORT = "short"


class MetricFormat(StrEnum):
    """How a metric's value is written in the metrics table."""

    #: From the JSON type: integers with thousands separators, floats with 4 decimals, text as is.
    AUTO = "auto"
    #: A fraction shown as a percentage: 0.1234 -> "12.34 %".
    PERCENT = "percent"
    #: Money in the quote currency (USD): -1234.5 -> "-$1,234.50".
    USD = "usd"
    #: A whole number: 1234 -> "1,234".
    COUNT = "count"
    #: A plain number with 4 decimals (ratios such as Sharpe).
    NUMBER = "number"
    #: Seconds written as days, hours and minutes: 93780 -> "1 d 2 h 3 min".
    DURATION = "duration"


#: The formats of the metrics :mod:`sigmax.backtest.metrics` produces (``Metrics.to_dict``).
STANDARD_METRIC_FORMATS: Mapping[str, MetricFormat] = {
    "total_return": MetricFormat.PERCENT,
    "cagr": MetricFormat.PERCENT,
    "sharpe": MetricFormat.NUMBER,
    "sortino": MetricFormat.NUMBER,
    "calmar": MetricFormat.NUMBER,
    "max_drawdown": MetricFormat.PERCENT,
    "max_drawdown_duration": MetricFormat.DURATION,
    "win_rate": MetricFormat.PERCENT,
    "profit_factor": MetricFormat.NUMBER,
    "expectancy": MetricFormat.USD,
    "exposure": MetricFormat.PERCENT,
    "trades": MetricFormat.COUNT,
    "fees_paid": MetricFormat.USD,
    "final_equity": MetricFormat.USD,
    "buy_and_hold_return": MetricFormat.PERCENT,
}

#: How the standard metrics are named in the table; other metrics show their own name.
STANDARD_METRIC_LABELS: Mapping[str, str] = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "calmar": "Calmar ratio",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration": "Max drawdown duration",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "expectancy": "Expectancy per trade",
    "exposure": "Exposure",
    "trades": "Trades",
    "fees_paid": "Fees paid",
    "final_equity": "Final equity",
    "buy_and_hold_return": "Buy-and-hold return",
}


def metric_number(value: object) -> Decimal | float | None:
    """A formatted metric's number: ``None`` (undefined), an int or float, or a decimal string
    (the metrics' JSON form writes money as text so that no float rounding creeps in)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"expected a number, got {value!r}") from None
        if not number.is_finite():
            raise ValueError(f"expected a finite decimal, got {value!r}")
        return number
    raise ValueError(f"expected a number, got {value!r}")


def _as_int64(name: str, values: object) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ReportInputError(f"{name}: expected a one-dimensional array, got {array.ndim} dims")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ReportInputError(f"{name}: expected integer epoch milliseconds, got {array.dtype}")
    return array.astype(np.int64, copy=False)


def _as_float64(name: str, values: object) -> FloatArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ReportInputError(f"{name}: expected a one-dimensional array, got {array.ndim} dims")
    if array.size and not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ReportInputError(f"{name}: expected numbers, got {array.dtype}")
    converted = array.astype(np.float64, copy=False)
    if not np.isfinite(converted).all():
        index = int(np.flatnonzero(~np.isfinite(converted))[0])
        raise ReportInputError(f"{name}[{index}]: expected a finite number, got {converted[index]}")
    return converted


def _check_increasing(name: str, timestamps: IntArray) -> None:
    if timestamps.size > 1:
        steps = np.diff(timestamps)
        if (steps <= 0).any():
            index = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise ReportInputError(
                f"{name}[{index}]: timestamps must increase strictly "
                f"({int(timestamps[index - 1])} then {int(timestamps[index])})"
            )


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """Account equity (USD) at each timestamp (epoch ms UTC), oldest first.

    Equity must stay positive: returns and drawdowns are ratios of it.
    """

    timestamps_ms: IntArray
    equity: FloatArray

    def __post_init__(self) -> None:
        timestamps = _as_int64("timestamps_ms", self.timestamps_ms)
        equity = _as_float64("equity", self.equity)
        if timestamps.size == 0:
            raise ReportInputError("equity curve: needs at least one point")
        if timestamps.size != equity.size:
            raise ReportInputError(
                f"equity curve: {timestamps.size} timestamps but {equity.size} equity values"
            )
        _check_increasing("timestamps_ms", timestamps)
        if (equity <= 0).any():
            index = int(np.flatnonzero(equity <= 0)[0])
            raise ReportInputError(
                f"equity[{index}]: must be positive (returns and drawdowns divide by it), "
                f"got {equity[index]}"
            )
        object.__setattr__(self, "timestamps_ms", timestamps)
        object.__setattr__(self, "equity", equity)

    def __len__(self) -> int:
        return int(self.timestamps_ms.size)


@dataclass(frozen=True, slots=True)
class SymbolCandles:
    """One symbol's candles: open times (epoch ms UTC) and prices, oldest first."""

    timestamp_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray

    def __post_init__(self) -> None:
        timestamps = _as_int64("timestamp_ms", self.timestamp_ms)
        if timestamps.size == 0:
            raise ReportInputError("candles: need at least one candle")
        _check_increasing("timestamp_ms", timestamps)
        object.__setattr__(self, "timestamp_ms", timestamps)
        for name in ("open", "high", "low", "close"):
            column = _as_float64(name, getattr(self, name))
            if column.size != timestamps.size:
                raise ReportInputError(
                    f"candles: column {name} has {column.size} rows, expected {timestamps.size}"
                )
            object.__setattr__(self, name, column)

    @classmethod
    def from_series(cls, series: CandleSeries) -> SymbolCandles:
        """The price columns of a loaded candle series."""
        return cls(series.timestamp, series.open, series.high, series.low, series.close)

    def __len__(self) -> int:
        return int(self.timestamp_ms.size)


@dataclass(frozen=True, slots=True)
class ReportTrade:
    """One closed round trip. Prices and quantity are as filled; ``pnl`` is net of ``fees``
    (both USD); ``explanation`` is the decision's explanation text, shown as written."""

    symbol: str
    side: TradeSide
    entry_ms: int
    entry_price: float
    exit_ms: int
    exit_price: float
    qty: float
    pnl: float
    fees: float
    exit_reason: str
    explanation: str

    def __post_init__(self) -> None:
        if not isinstance(self.side, TradeSide):
            raise ReportInputError(
                f"trade side: expected one of {[s.value for s in TradeSide]}, got {self.side!r}"
            )
        for name in ("entry_ms", "exit_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ReportInputError(f"trade {name}: expected epoch milliseconds, got {value!r}")
        if self.exit_ms < self.entry_ms:
            raise ReportInputError(
                f"trade on {self.symbol}: exit_ms {self.exit_ms} is before entry_ms {self.entry_ms}"
            )
        for name in ("entry_price", "exit_price", "qty", "pnl", "fees"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ReportInputError(f"trade {name}: expected a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise ReportInputError(f"trade {name}: expected a finite number, got {value!r}")
        for name in ("entry_price", "exit_price", "qty"):
            if float(getattr(self, name)) <= 0:
                raise ReportInputError(
                    f"trade {name}: must be positive, got {getattr(self, name)!r}"
                )
        for name in ("symbol", "exit_reason", "explanation"):
            if not isinstance(getattr(self, name), str):
                raise ReportInputError(f"trade {name}: expected text, got {getattr(self, name)!r}")


def _is_whole(number: Decimal | float | None) -> bool:
    if isinstance(number, float):
        return number.is_integer()
    if isinstance(number, Decimal):
        return number == number.to_integral_value()
    return True


def _check_json(path: str, value: object, *, allow_non_finite: bool) -> None:
    """Raise naming ``path`` when ``value`` is not made of JSON values."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not allow_non_finite and not math.isfinite(value):
            raise ReportInputError(f"{path}: {value} cannot be written as JSON")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ReportInputError(f"{path}: keys must be text, got {key!r}")
            _check_json(f"{path}.{key}", item, allow_non_finite=allow_non_finite)
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(f"{path}[{index}]", item, allow_non_finite=allow_non_finite)
        return
    raise ReportInputError(f"{path}: expected a JSON value, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class ReportInput:
    """Everything one backtest report shows.

    ``generated_from`` identifies the run (its id or checksum); the report carries no wall-clock
    time, so the same input always gives the same bytes. ``buy_and_hold`` has the same timestamps
    as ``equity`` and starts from the same capital. ``metrics`` maps a name to a JSON value;
    ``metric_formats`` says how to write a metric (a fraction as a percentage, money as USD);
    metrics without an entry are written by their JSON type. Float metrics may be infinite or
    NaN (a profit factor with no losing trade, a Sharpe ratio of a flat curve): they are written
    as such. Metrics named as :mod:`sigmax.backtest.metrics` names them get their standard
    format and label (:data:`STANDARD_METRIC_FORMATS`) unless ``metric_formats`` says otherwise;
    formatted metrics may be ``None`` (undefined, shown as a dash) or decimal strings (the
    metrics' JSON form writes money so). ``config`` is the configuration of the run with its
    secrets already masked; the report still passes every text in it through the privacy screen.
    """

    title: str
    generated_from: str
    equity: EquityCurve
    buy_and_hold: EquityCurve
    candles: Mapping[str, SymbolCandles]
    trades: Sequence[ReportTrade]
    metrics: Mapping[str, JsonValue]
    config: Mapping[str, JsonValue]
    metric_formats: Mapping[str, MetricFormat] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("title", "generated_from"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ReportInputError(f"{name}: expected non-empty text, got {value!r}")
        if not np.array_equal(self.equity.timestamps_ms, self.buy_and_hold.timestamps_ms):
            raise ReportInputError(
                "buy_and_hold: must have the same timestamps as the equity curve "
                f"({len(self.buy_and_hold)} vs {len(self.equity)} points)"
            )
        for symbol, candles in self.candles.items():
            if not isinstance(symbol, str) or not symbol:
                raise ReportInputError(f"candles: symbol names must be text, got {symbol!r}")
            if not isinstance(candles, SymbolCandles):
                raise ReportInputError(
                    f"candles[{symbol}]: expected SymbolCandles, got {type(candles).__name__}"
                )
        for index, trade in enumerate(self.trades):
            if not isinstance(trade, ReportTrade):
                raise ReportInputError(
                    f"trades[{index}]: expected ReportTrade, got {type(trade).__name__}"
                )
            if trade.symbol not in self.candles:
                raise ReportInputError(
                    f"trades[{index}]: symbol {trade.symbol!r} has no candles to mark it on"
                )
        _check_json("metrics", dict(self.metrics), allow_non_finite=True)
        _check_json("config", dict(self.config), allow_non_finite=False)
        for name, metric_format in self.metric_formats.items():
            if name not in self.metrics:
                raise ReportInputError(f"metric_formats[{name}]: there is no metric of that name")
            if not isinstance(metric_format, MetricFormat):
                raise ReportInputError(
                    f"metric_formats[{name}]: expected a MetricFormat, got {metric_format!r}"
                )
        for name, metric_format in self.formats().items():
            if metric_format is MetricFormat.AUTO:
                continue
            try:
                number = metric_number(self.metrics[name])
            except ValueError as error:
                raise ReportInputError(
                    f"metrics[{name}]: format {metric_format.value}: {error}"
                ) from None
            if metric_format is MetricFormat.COUNT and not _is_whole(number):
                raise ReportInputError(
                    f"metrics[{name}]: format count needs a whole number, got {number!r}"
                )

    def formats(self) -> dict[str, MetricFormat]:
        """Each metric's format: ``metric_formats``, else the standard one for a standard
        metric's name, else AUTO (by the JSON type)."""
        return {
            name: self.metric_formats.get(
                name, STANDARD_METRIC_FORMATS.get(name, MetricFormat.AUTO)
            )
            for name in self.metrics
        }
