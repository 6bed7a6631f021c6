"""How far the account can run with nothing happening, worked out on the timeline's arrays.

From the engine's state after a group, :func:`scan` walks the following groups and stops at
the first one where stepping the candles could change more than the marks:

* a candle that is a decision candidate (its score may act), or the window's last group;
* a candle on which a resting order of its symbol may fill: a market order fills on the next
  candle; a sell stop when the low reaches it, a sell limit or take-profit when the high does
  (buys mirrored), as :mod:`sigmax.execution.fill_model` rules. The test is made on the float
  prices: ``Decimal(repr(x)) <= level`` implies ``x <= float(level)`` (rounding to the nearest
  float never reverses an order), so no candle that fills is missed; one that only might fill
  is stepped, and the venue decides exactly;
* a group whose close would fire the daily-loss trigger (day PnL below the floor while no
  daily-loss pause holds) or the drawdown trigger (the equity at or within a millionth of a
  percentage point of the limit below its running peak).

Equity at each group is exact: cash in units of 1e-16 plus each held quantity (units of 1e-8)
times its mark (units of 1e-8), Python integers, so the float of each point is the correctly
rounded value, as ``float()`` of the engine's ``Decimal`` equity is. A UTC day opens, as in
the ledger, at the marks after the day's first candle. The figures are the ones the engine
would have computed; a test runs every candle through the engine and compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from sigmax.backtest.timeline import EQUITY_UNIT, Timeline
from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import OrderSide, OrderType
from sigmax.execution.venue import Venue
from sigmax.safety.enforcer import SafetyEnforcer
from sigmax.safety.triggers import TriggerName

#: The drawdown is checked exactly by the engine; here a group within this many percentage
#: points of the limit is handed to it.
DRAWDOWN_MARGIN_PCT = Fraction(1, 10**6)
#: Quantities and marks in units of 1e-8, equity in units of 1e-16.
PLACES = 8
EQUITY_PLACES = 16
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


class NotExactError(Exception):
    """The account holds an amount that is not a whole number of units (the scan is off)."""


@dataclass(slots=True)
class Span:
    """Groups ``start`` .. ``stop - 1`` change nothing but the marks; ``stop`` is an event
    group (or the end of the timeline)."""

    start: int
    stop: int
    #: The equity after each group of the span, as floats (the curve's points).
    equity: list[float] = field(default_factory=list)
    #: Groups of the span that open a UTC day.
    day_opens: list[int] = field(default_factory=list)
    #: The first group at the span's highest equity, when that is above the peak before it.
    peak: int | None = None
    #: The held symbols (lane positions) while the span lasts.
    held: tuple[int, ...] = ()


def _units(value: Decimal, places: int) -> int:
    """``value`` in whole units of ``10**-places``."""
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise NotExactError(f"{value} is not a whole number of 1e-{places}")
    return int(scaled)


@lru_cache(maxsize=16)
def _drawdown_limit(max_drawdown_pct: Decimal | float | int) -> Fraction:
    """The drawdown, in percentage points, at which the scan hands a group to the engine
    (exact; worked out once per setting rather than at every scan)."""
    return Fraction(max_drawdown_pct) - DRAWDOWN_MARGIN_PCT


def _fills(
    watch: list[tuple[int, int, float]],
    ats: list[Any],
    lows: list[Any],
    highs: list[Any],
    g: int,
) -> bool:
    """Whether a watched order may fill on group ``g``."""
    for k, kind, level in watch:
        i = ats[k][g]
        if i >= 0 and (
            kind == 0 or (kind == 1 and lows[k][i] <= level) or (kind == 2 and highs[k][i] >= level)
        ):
            return True
    return False


def scan(
    timeline: Timeline,
    start: int,
    *,
    ledger: Ledger,
    venue: Venue,
    safety: SafetyEnforcer,
    breaches: bool = True,
) -> Span:
    """The span of inert groups from ``start`` and the group that ends it.

    ``breaches`` False: the enforcer's triggers are off, so no daily loss or drawdown ends it.
    """
    lanes = timeline.lanes
    closes, acts = timeline.closes, timeline.acts
    last = len(closes) - 1
    if start > last or acts[start] or start == last:
        # The very next group is an event: nothing to pass, and nothing to work out.
        return Span(start, start)
    index_of = {lane.symbol: k for k, lane in enumerate(lanes)}
    # Resting orders: (lane, kind, level); kind 0 fills on the next candle, 1 when the low
    # reaches the level, 2 when the high does.
    watch: list[tuple[int, int, float]] = []
    for order in venue.open_orders():
        k = index_of[order.symbol]
        if order.type is OrderType.MARKET or order.price is None:
            watch.append((k, 0, 0.0))
            continue
        level = float(order.price)
        buy = order.side is OrderSide.BUY
        if order.type is OrderType.STOP_LOSS:
            watch.append((k, 2 if buy else 1, level))
        else:
            watch.append((k, 1 if buy else 2, level))
    ats = [lane.at for lane in lanes]
    lows = [lane.low for lane in lanes]
    highs = [lane.high for lane in lanes]
    if _fills(watch, ats, lows, highs, start):
        # An order may fill on the next group (a market order always does): it is stepped.
        return Span(start, start)
    cash = _units(ledger.cash, EQUITY_PLACES)
    held = [
        (index_of[symbol], _units(position.qty, PLACES))
        for symbol, position in ledger.open_positions().items()
    ]
    state = safety.state
    current = ledger.current_day
    day = None if current is None else current.toordinal() - _EPOCH_ORDINAL
    opening = 0 if current is None else _units(ledger.day_open_equity(current), EQUITY_PLACES)
    baseline = state.daily_loss_baseline
    floor = (baseline if baseline is not None else Decimal(0)) - safety.settings.max_daily_loss_usd
    floor_units = int(floor.scaleb(16).to_integral_value(ROUND_CEILING))
    daily_hold = state.holds.get(TriggerName.DAILY_LOSS.value)
    daily_from = (
        None
        if daily_hold is not None and daily_hold.until_ms is None
        else (daily_hold.until_ms if daily_hold is not None else -1)
    )
    watch_drawdown = breaches and TriggerName.MAX_DRAWDOWN.value not in state.holds
    limit = _drawdown_limit(safety.settings.protections.max_drawdown_pct)
    peak = None if state.equity_peak is None else _units(state.equity_peak, EQUITY_PLACES)
    units = [lane.units for lane in lanes]
    marks = [lane.mark for lane in lanes]
    days, first = timeline.days, timeline.first
    span = Span(start, start, held=tuple(k for k, _ in held))
    equity_points = span.equity
    g = start
    while g <= last:
        if acts[g] or g == last:
            break
        if watch and _fills(watch, ats, lows, highs, g):
            break
        equity = cash
        for k, qty in held:
            lane_units = units[k]
            assert lane_units is not None  # the feed scans only exact timelines
            equity += qty * lane_units[marks[k][g]]
        if days[g] != day:
            # The ledger opens the day at the marks after the group's first candle: that
            # symbol's new close, every other symbol's previous one.
            opening = cash
            for k, qty in held:
                lane_units = units[k]
                assert lane_units is not None
                mark = marks[k][g] if k == first[g] else marks[k][g - 1]
                opening += qty * lane_units[mark]
            day = days[g]
            span.day_opens.append(g)
        if (
            breaches
            and (daily_from is not None and closes[g] >= daily_from)
            and equity - opening < floor_units
        ):
            break
        top = equity if peak is None or equity > peak else peak
        if (
            watch_drawdown
            and top > 0
            and (top - equity) * 100 * limit.denominator >= (limit.numerator * top)
        ):
            break
        if top != peak:
            peak = top
            span.peak = g
        equity_points.append(equity / EQUITY_UNIT)
        g += 1
    span.stop = g
    if span.day_opens and span.day_opens[-1] >= g:
        span.day_opens.pop()
    return span
