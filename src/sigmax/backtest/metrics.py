"""Performance metrics of a backtest: pure, vectorised, and specified exactly in docs/METRICS.md.

Inputs are the equity curve (one point per candle step), the closed trades, a per-step exposure
flag, the buy-and-hold benchmark return and the fees paid. :func:`compute_metrics` returns
:class:`Metrics`, whose :meth:`Metrics.to_dict` / :meth:`Metrics.to_json` give the same bytes for
the same inputs: ratios are rounded to 10 significant digits and money is a decimal string with 8
places, so neither summation-order noise nor float formatting can change the report.

Conventions (the reasons are in docs/METRICS.md): returns are fractions (0.12 = 12 %); days are
UTC calendar days and a step belongs to the day in which its candle *closed* (a candle closing at
exactly 00:00 closes the previous day); Sharpe and Sortino use daily returns annualised with
sqrt(365) because crypto trades every day; CAGR uses 365.25-day years; risk-free rate 0.
Undefined values are ``None`` (``null`` in JSON), never NaN or infinity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal, localcontext
from fractions import Fraction
from typing import Final

import numpy as np
from numpy.typing import NDArray

from sigmax.errors import InputError

__all__ = [
    "METRIC_KEYS",
    "ClosedTrade",
    "EquityCurve",
    "Metrics",
    "MetricsInputError",
    "buy_and_hold_return",
    "compute_metrics",
    "daily_returns",
    "drawdowns",
]

MS_PER_DAY: Final = 86_400_000
#: 365.25 days of 86 400 000 ms: CAGR's year, so leap years average out over long spans.
MS_PER_YEAR: Final = 31_557_600_000
#: Daily returns are annualised with sqrt(365): crypto markets have no closed days.
PERIODS_PER_YEAR: Final = 365
#: Ratios are rounded to this many significant digits in the JSON form.
SIGNIFICANT_DIGITS: Final = 10
#: Money in the JSON form: USD with the ledger's quote precision (1e-8).
MONEY_QUANTUM: Final = Decimal("0.00000001")
#: Exact decimal arithmetic: sums and quantisations never round at this precision, whatever the
#: magnitude (a float equity converts to up to ~1100 digits). Division goes through ``Fraction``.
_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUND_HALF_EVEN)
#: Upper bound for timestamps (9999-12-31T23:59:59.999Z): keeps the per-day arrays bounded.
MAX_TIMESTAMP_MS: Final = 253_402_300_799_999

#: The keys of :meth:`Metrics.to_dict`, in their fixed order.
METRIC_KEYS: Final = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration",
    "win_rate",
    "profit_factor",
    "expectancy",
    "exposure",
    "trades",
    "fees_paid",
    "final_equity",
    "buy_and_hold_return",
)

JsonValue = float | int | str | None


class MetricsInputError(InputError):
    """An input to the metrics broke a rule; ``field`` and ``rule`` say which."""

    def __init__(self, field: str, rule: str, got: object = None) -> None:
        self.field = field
        self.rule = rule
        message = f"{field}: {rule}"
        if got is not None:
            message += f" (got {got!r})"
        super().__init__(message)


# -- inputs ------------------------------------------------------------------------------------


def _read_only(values: NDArray[np.generic]) -> None:
    values.flags.writeable = False


def _check_array(name: str, values: object, dtype: type[np.generic], length: int | None) -> None:
    if not isinstance(values, np.ndarray) or values.ndim != 1 or values.dtype != dtype:
        got = (
            f"{values.ndim}-D {values.dtype}"
            if isinstance(values, np.ndarray)
            else type(values).__name__
        )
        raise MetricsInputError(name, f"must be a 1-D {np.dtype(dtype).name} numpy array", got)
    if length is not None and values.shape[0] != length:
        raise MetricsInputError(
            name, f"must have one value per step ({length})", f"{values.shape[0]} values"
        )


def _is_number(value: object) -> bool:
    # bool is an int subclass; True as an amount is a caller bug, not 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, eq=False)
class EquityCurve:
    """Account equity (USD) at the close of each candle step.

    ``timestamps_ms`` are the steps' candle close times (epoch ms UTC, strictly increasing),
    ``equity`` the equity marked at each close (> 0), ``initial_equity`` the equity before the
    first step. ``start_ms`` is the moment ``initial_equity`` refers to: the open of the first
    candle. When omitted it is the first close minus one step, the step being the smallest
    interval between consecutive closes (the candle timeframe: gaps only make intervals longer);
    a one-step curve has no interval to measure, so it must give ``start_ms``.

    The arrays are copied and made read-only, so a curve cannot change after validation.
    """

    timestamps_ms: NDArray[np.int64]
    equity: NDArray[np.float64]
    initial_equity: float
    start_ms: int | None = None
    #: ``start_ms`` as given or derived; what every metric uses.
    period_start_ms: int = field(init=False)

    def __post_init__(self) -> None:
        _check_array("timestamps_ms", self.timestamps_ms, np.int64, None)
        timestamps = np.array(self.timestamps_ms, dtype=np.int64, copy=True)
        steps = timestamps.shape[0]
        if steps == 0:
            raise MetricsInputError("timestamps_ms", "must hold at least one step")
        if timestamps[0] < 0 or timestamps[-1] > MAX_TIMESTAMP_MS:
            raise MetricsInputError(
                "timestamps_ms",
                "must be epoch milliseconds between 1970 and 9999",
                f"{int(timestamps[0])}..{int(timestamps[-1])}",
            )
        intervals = np.diff(timestamps)
        not_increasing = np.flatnonzero(intervals <= 0)
        if not_increasing.size:
            i = int(not_increasing[0]) + 1
            raise MetricsInputError(
                "timestamps_ms",
                f"must be strictly increasing (step {i} is not after step {i - 1})",
                f"{int(timestamps[i - 1])} then {int(timestamps[i])}",
            )
        _check_array("equity", self.equity, np.float64, steps)
        equity = np.array(self.equity, dtype=np.float64, copy=True)
        bad = np.flatnonzero(~np.isfinite(equity))
        if bad.size:
            i = int(bad[0])
            raise MetricsInputError("equity", f"must be finite (step {i})", float(equity[i]))
        bad = np.flatnonzero(equity <= 0.0)
        if bad.size:
            i = int(bad[0])
            raise MetricsInputError("equity", f"must be > 0 (step {i})", float(equity[i]))
        initial = self.initial_equity
        if not _is_number(initial) or not math.isfinite(initial) or initial <= 0:
            raise MetricsInputError("initial_equity", "must be a finite number > 0", initial)
        initial = float(initial)
        low = min(initial, float(equity.min()))
        high = max(initial, float(equity.max()))
        if not math.isfinite(high / low):
            # Every return is a ratio of two equities; refuse curves where one cannot exist.
            raise MetricsInputError(
                "equity", "the ratio of the largest to the smallest equity must fit a float64"
            )
        start = self.start_ms
        if start is None:
            if steps < 2:
                raise MetricsInputError(
                    "start_ms", "is required for a one-step curve (no interval to measure a step)"
                )
            start = int(timestamps[0]) - int(intervals.min())
        elif not isinstance(start, int) or isinstance(start, bool):
            raise MetricsInputError("start_ms", "must be an int (epoch ms)", start)
        elif start >= timestamps[0]:
            raise MetricsInputError(
                "start_ms", f"must be before the first step ({int(timestamps[0])})", start
            )
        _read_only(timestamps)
        _read_only(equity)
        object.__setattr__(self, "timestamps_ms", timestamps)
        object.__setattr__(self, "equity", equity)
        object.__setattr__(self, "initial_equity", initial)
        object.__setattr__(self, "period_start_ms", int(start))

    @property
    def steps(self) -> int:
        """Number of candle steps."""
        return int(self.timestamps_ms.shape[0])

    @property
    def end_ms(self) -> int:
        """Close time of the last step."""
        return int(self.timestamps_ms[-1])

    @property
    def span_ms(self) -> int:
        """The backtest's length: from ``period_start_ms`` to the last close."""
        return self.end_ms - self.period_start_ms

    @property
    def final_equity(self) -> float:
        """Equity at the last close."""
        return float(self.equity[-1])


def _check_decimal(name: str, value: object) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MetricsInputError(name, "must be a finite Decimal", value)
    return value


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A round trip: opened at ``entry_ms``, closed at ``exit_ms``.

    ``pnl`` is net of both fees (entry and exit); ``fees`` is their sum. Money is USD.
    """

    symbol: str
    entry_ms: int
    exit_ms: int
    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    fees: Decimal
    exit_reason: str

    def __post_init__(self) -> None:
        for name in ("symbol", "exit_reason"):
            text = getattr(self, name)
            if not isinstance(text, str) or not text:
                raise MetricsInputError(f"trade.{name}", "must be a non-empty string", text)
        for name in ("entry_ms", "exit_ms"):
            moment = getattr(self, name)
            if not isinstance(moment, int) or isinstance(moment, bool):
                raise MetricsInputError(f"trade.{name}", "must be an int (epoch ms)", moment)
        if self.exit_ms < self.entry_ms:
            raise MetricsInputError(
                "trade.exit_ms", f"must not be before entry_ms ({self.entry_ms})", self.exit_ms
            )
        for name in ("qty", "entry_price", "exit_price"):
            if _check_decimal(f"trade.{name}", getattr(self, name)) <= 0:
                raise MetricsInputError(f"trade.{name}", "must be > 0", getattr(self, name))
        _check_decimal("trade.pnl", self.pnl)
        if _check_decimal("trade.fees", self.fees) < 0:
            raise MetricsInputError("trade.fees", "must be >= 0", self.fees)


def buy_and_hold_return(
    first_open: Mapping[str, float], closes: Mapping[str, NDArray[np.float64]]
) -> float:
    """Return of holding every symbol over the backtest, equal weight, no fees.

    The capital is split equally across the symbols at the open of each one's first candle and
    never rebalanced; the holding is valued at each one's last close. Hence
    ``mean(last_close / first_open) - 1``. ``closes`` are the symbols' close prices over exactly
    the backtest's candles (only the last one is used; all are checked).
    """
    if not first_open:
        raise MetricsInputError("first_open", "must name at least one symbol")
    if set(first_open) != set(closes):
        raise MetricsInputError(
            "closes",
            "must have the same symbols as first_open",
            f"{sorted(closes)} vs {sorted(first_open)}",
        )
    ratios: list[float] = []
    for symbol in sorted(first_open):
        price = first_open[symbol]
        if not _is_number(price) or not math.isfinite(price) or price <= 0:
            raise MetricsInputError(f"first_open[{symbol}]", "must be a finite price > 0", price)
        series = closes[symbol]
        _check_array(f"closes[{symbol}]", series, np.float64, None)
        if series.shape[0] == 0:
            raise MetricsInputError(f"closes[{symbol}]", "must hold at least one close")
        bad = np.flatnonzero(~np.isfinite(series) | (series <= 0.0))
        if bad.size:
            i = int(bad[0])
            raise MetricsInputError(
                f"closes[{symbol}]", f"must be finite prices > 0 (index {i})", float(series[i])
            )
        ratios.append(float(series[-1]) / float(price))
    # math.fsum and a fixed symbol order: the same inputs give the same bits.
    return math.fsum(ratios) / len(ratios) - 1.0


# -- outputs -----------------------------------------------------------------------------------


def _round_ratio(value: float | None) -> float | None:
    if value is None:
        return None
    rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    # -0.0 and 0.0 are the same metric; print one of them.
    return 0.0 if rounded == 0.0 else rounded


def _to_money(value: Decimal) -> Decimal:
    """``value`` rounded half-even to 1e-8, exactly at any magnitude."""
    return value.quantize(MONEY_QUANTUM, context=_EXACT)


def _money_text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    if value == 0:
        value = Decimal(0)  # no "-0.00000000"
    return format(_to_money(value), "f")


@dataclass(frozen=True, slots=True)
class Metrics:
    """A backtest's performance metrics; the formulas are in docs/METRICS.md.

    Ratios keep full float precision here; :meth:`to_dict` rounds them. Money is ``Decimal``
    quantised to 1e-8 USD. ``None`` marks a value that is undefined for these inputs.
    """

    total_return: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    max_drawdown: float
    #: Seconds.
    max_drawdown_duration: float
    win_rate: float | None
    profit_factor: float | None
    #: USD per trade.
    expectancy: Decimal | None
    exposure: float
    trades: int
    #: USD.
    fees_paid: Decimal
    #: USD.
    final_equity: Decimal
    buy_and_hold_return: float

    def to_dict(self) -> dict[str, JsonValue]:
        """The JSON form: keys in :data:`METRIC_KEYS` order, ratios to 10 significant digits,
        money as strings with 8 decimal places, ``None`` for undefined values."""
        return {
            "total_return": _round_ratio(self.total_return),
            "cagr": _round_ratio(self.cagr),
            "sharpe": _round_ratio(self.sharpe),
            "sortino": _round_ratio(self.sortino),
            "calmar": _round_ratio(self.calmar),
            "max_drawdown": _round_ratio(self.max_drawdown),
            "max_drawdown_duration": _round_ratio(self.max_drawdown_duration),
            "win_rate": _round_ratio(self.win_rate),
            "profit_factor": _round_ratio(self.profit_factor),
            "expectancy": _money_text(self.expectancy),
            "exposure": _round_ratio(self.exposure),
            "trades": self.trades,
            "fees_paid": _money_text(self.fees_paid),
            "final_equity": _money_text(self.final_equity),
            "buy_and_hold_return": _round_ratio(self.buy_and_hold_return),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text: the same inputs give the same bytes."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


# -- the computations --------------------------------------------------------------------------


def daily_returns(curve: EquityCurve) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Return each UTC day's start (ms) and the day's equity return, first to last day.

    A day's equity is the equity at its last step; a step belongs to the day in which its
    candle closed, ``(close_ms - 1) // 86_400_000``, so a candle closing at exactly 00:00 is the
    last of the previous day. A calendar day without a step keeps the previous day's equity
    (return 0). The first day's return is measured from ``initial_equity``.
    """
    timestamps = curve.timestamps_ms
    day = (timestamps - 1) // MS_PER_DAY
    # The last step of each day: where the day number changes, and the very last step.
    last_of_day = np.append(np.flatnonzero(np.diff(day)), day.shape[0] - 1)
    first_day = int(day[0])
    count = int(day[-1]) - first_day + 1
    position = day[last_of_day] - first_day
    day_equity = np.empty(count, dtype=np.float64)
    day_equity[position] = curve.equity[last_of_day]
    has_step = np.zeros(count, dtype=np.bool_)
    has_step[position] = True
    # Forward fill: each day reads the latest day (itself included) that has a step.
    source = np.maximum.accumulate(np.where(has_step, np.arange(count), 0))
    day_equity = day_equity[source]
    previous = np.empty(count, dtype=np.float64)
    previous[0] = curve.initial_equity
    previous[1:] = day_equity[:-1]
    starts = (np.arange(count, dtype=np.int64) + first_day) * MS_PER_DAY
    return starts, day_equity / previous - 1.0


def _with_start(curve: EquityCurve) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Equity with the initial equity at position 0, and its running peak."""
    extended = np.concatenate(([curve.initial_equity], curve.equity))
    return extended, np.maximum.accumulate(extended)


def drawdowns(curve: EquityCurve) -> NDArray[np.float64]:
    """Drawdown at each step: ``1 - equity / running peak``; the peak includes initial equity."""
    extended, peak = _with_start(curve)
    return (1.0 - extended / peak)[1:]


def _max_drawdown_duration_ms(
    curve: EquityCurve, extended: NDArray[np.float64], peak: NDArray[np.float64]
) -> int:
    # Position 0 is the start (initial equity at period_start_ms); positions 1.. are the steps.
    times = np.concatenate(([curve.period_start_ms], curve.timestamps_ms))
    at_peak = extended >= peak
    positions = np.arange(extended.shape[0])
    # For every position, the latest peak at or before it (position 0 is always a peak).
    peak_of = np.maximum.accumulate(np.where(at_peak, positions, 0))
    recovered = np.flatnonzero(at_peak[1:] & ~at_peak[:-1]) + 1
    spans = times[recovered] - times[peak_of[recovered - 1]]
    longest = int(spans.max()) if spans.size else 0
    if not at_peak[-1]:
        # Never recovered: the drawdown lasts until the end of the backtest.
        longest = max(longest, int(times[-1] - times[peak_of[-1]]))
    return longest


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _sharpe_sortino(returns: NDArray[np.float64]) -> tuple[float | None, float | None]:
    if returns.shape[0] < 2:
        return None, None
    scale = math.sqrt(PERIODS_PER_YEAR)
    # Returns as large as the curve allows can overflow these sums: such ratios become None.
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(returns.mean())
        deviation = float(returns.std(ddof=1))
        downside = math.sqrt(float(np.mean(np.square(np.minimum(returns, 0.0)))))
    # An overflowed (infinite) deviation would make the ratio a meaningless 0: not representable.
    sharpe = _finite(mean / deviation * scale) if 0.0 < deviation < math.inf else None
    sortino = _finite(mean / downside * scale) if 0.0 < downside < math.inf else None
    return sharpe, sortino


def _cagr(growth: float, span_ms: int) -> float | None:
    years = span_ms / MS_PER_YEAR
    try:
        return _finite(math.pow(growth, 1.0 / years) - 1.0)
    except OverflowError:
        # Annualising a large gain over a short span can exceed a float64: not representable.
        return None


def _trade_stats(
    trades: Sequence[ClosedTrade],
) -> tuple[float | None, float | None, Decimal | None]:
    if not trades:
        return None, None, None
    with localcontext(_EXACT):
        gross_profit = sum((t.pnl for t in trades if t.pnl > 0), Decimal(0))
        gross_loss = -sum((t.pnl for t in trades if t.pnl < 0), Decimal(0))
        net = sum((t.pnl for t in trades), Decimal(0))
    wins = sum(1 for t in trades if t.pnl > 0)
    # The mean in units of 1e-8 USD, rounded half-even once from the exact quotient.
    units = round(Fraction(net) * 100_000_000 / len(trades))
    expectancy = Decimal(units).scaleb(-8, context=_EXACT)
    profit_factor = None
    if gross_loss:
        try:
            # float(Fraction) is correctly rounded; a Decimal division would round twice.
            profit_factor = float(Fraction(gross_profit) / Fraction(gross_loss))
        except OverflowError:
            profit_factor = None  # beyond float64: not representable, like an overflowing CAGR
    return wins / len(trades), profit_factor, expectancy


def compute_metrics(
    curve: EquityCurve,
    trades: Sequence[ClosedTrade],
    *,
    exposure: NDArray[np.bool_],
    buy_and_hold: float,
    fees_paid: Decimal,
) -> Metrics:
    """Compute the metrics of one backtest.

    ``exposure[i]`` is True when at least one position was open at any moment of step ``i``
    (between the previous close, or ``period_start_ms``, and this close). ``buy_and_hold`` is
    :func:`buy_and_hold_return` over the same period. ``fees_paid`` is every fee of the run in
    USD, including those of positions still open at the end.
    """
    if not isinstance(curve, EquityCurve):
        raise MetricsInputError("curve", "must be an EquityCurve", type(curve).__name__)
    _check_array("exposure", exposure, np.bool_, curve.steps)
    if not _is_number(buy_and_hold) or not math.isfinite(buy_and_hold) or buy_and_hold <= -1:
        raise MetricsInputError("buy_and_hold", "must be a finite return > -1", buy_and_hold)
    if _check_decimal("fees_paid", fees_paid) < 0:
        raise MetricsInputError("fees_paid", "must be >= 0", fees_paid)
    for i, trade in enumerate(trades):
        if not isinstance(trade, ClosedTrade):
            raise MetricsInputError(f"trades[{i}]", "must be a ClosedTrade", type(trade).__name__)
        if trade.entry_ms < curve.period_start_ms or trade.exit_ms > curve.end_ms:
            raise MetricsInputError(
                f"trades[{i}]",
                f"must open and close within the backtest "
                f"({curve.period_start_ms}..{curve.end_ms})",
                f"{trade.entry_ms}..{trade.exit_ms}",
            )

    growth = curve.final_equity / curve.initial_equity
    cagr = _cagr(growth, curve.span_ms)
    extended, peak = _with_start(curve)
    # The start itself is never under its own peak, so including it changes nothing.
    max_drawdown = float((1.0 - extended / peak).max())
    calmar = _finite(cagr / max_drawdown) if cagr is not None and max_drawdown > 0.0 else None
    _, returns = daily_returns(curve)
    sharpe, sortino = _sharpe_sortino(returns)
    win_rate, profit_factor, expectancy = _trade_stats(trades)
    times = np.concatenate(([curve.period_start_ms], curve.timestamps_ms))
    exposed_ms = int(np.diff(times)[exposure].sum())
    return Metrics(
        total_return=growth - 1.0,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown=max_drawdown,
        max_drawdown_duration=_max_drawdown_duration_ms(curve, extended, peak) / 1000.0,
        win_rate=win_rate,
        profit_factor=profit_factor,
        expectancy=expectancy,
        exposure=exposed_ms / curve.span_ms,
        trades=len(trades),
        fees_paid=_to_money(fees_paid),
        # Decimal(float) is the float's exact value; only the quantisation rounds.
        final_equity=_to_money(Decimal(curve.final_equity)),
        buy_and_hold_return=float(buy_and_hold),
    )
