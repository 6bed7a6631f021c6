"""How a simulated order fills against one candle: prices, slippage and fees.

Everything here is a pure function of the order, the candle and the model's parameters: no
clock, no randomness, no state. Prices, quantities and fees are exact ``Decimal`` values; the
candle's float prices are converted with :func:`decimal_from_float`, which gives back the decimal
the exchange printed (the shortest decimal that round-trips the float), not the binary
expansion of the float.

The rules, for an order that rests on the venue when a candle arrives (``o h l v`` are the
candle's open, high, low and base volume; ``f`` is the adverse fraction of
:meth:`SlippageModel.fraction`):

=============  ==================  ===================================  =================
order          triggers when       fills at                             liquidity
=============  ==================  ===================================  =================
market buy     always              ``o × (1 + f)``                      taker
market sell    always              ``o × (1 − f)``                      taker
limit buy      ``l <= limit``      ``min(o, limit)``                    maker (taker if
                                                                        ``o < limit``)
limit sell     ``h >= limit``      ``max(o, limit)``                    as above, mirrored
stop sell      ``l <= stop``       ``min(o, stop) × (1 − f)``           taker
stop buy       ``h >= stop``       ``max(o, stop) × (1 + f)``           taker
take-profit    like a limit order at its target price
=============  ==================  ===================================  =================

* A candle with zero volume traded nothing (a halted market, such as Binance on 2023-03-24
  12:00 UTC): no order of any type fills on it, and every order stays pending to the next candle.
* A limit (or take-profit) order whose price the market opened *through* fills at the open, the
  better price, and is counted as a taker: it crossed the book when trading resumed. One that
  the market reached during the candle fills at its own price as a maker. Limit fills pay no
  spread or impact: the price is the order's own or better.
* A triggered stop is a market order: it fills at the worse of its trigger and the open (a gap
  through the stop is not the stop's price) and pays the half spread and the market impact.
* Every price is rounded to the instrument's tick *against the trader*: buys up, sells down.
  The adjusted price may lie outside the candle's range: that is the order's own impact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

from sigmax.domain.candles import Candle
from sigmax.domain.orders import Fill, Liquidity, Order, OrderSide, OrderType

#: Fees and, when an instrument publishes no tick, prices are quantised to this step.
QUOTE_QUANTUM = Decimal("1e-8")
_BPS = Decimal(10_000)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
# Arithmetic here runs in its own context so a caller's decimal settings cannot change a price;
# 60 digits keep every intermediate exact to far below a tick, and errors raise, never round.
EXACT_CONTEXT = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


def decimal_from_float(value: float, field: str) -> Decimal:
    """The decimal a float was parsed from (``58202.01`` stays ``58202.01``).

    ``repr`` of a float is the shortest decimal string that reads back as the same float, so a
    price parsed from the exchange's text comes back exactly as the exchange wrote it.
    """
    if not math.isfinite(value):
        raise ValueError(f"{field} must be a finite number (got {value!r})")
    return Decimal(repr(float(value)))


def _require_rate(name: str, value: Decimal, *, upper: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name} must be a finite Decimal (got {value!r})")
    if not _ZERO <= value < upper:
        raise ValueError(f"{name} must be >= 0 and < {upper} (got {value})")


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Trading fees as fractions of notional; Binance spot's default is 0.1 % for both sides.

    ``fee = qty × price × rate`` in the quote currency, rounded up to 1e-8 (a fraction of a
    unit is charged, never given away).
    """

    maker: Decimal = Decimal("0.001")
    taker: Decimal = Decimal("0.001")

    def __post_init__(self) -> None:
        _require_rate("maker", self.maker, upper=_ONE)
        _require_rate("taker", self.taker, upper=_ONE)

    def rate(self, liquidity: Liquidity) -> Decimal:
        return self.maker if liquidity is Liquidity.MAKER else self.taker

    def fee(self, notional: Decimal, liquidity: Liquidity) -> Decimal:
        """The fee on a trade of ``notional`` quote currency."""
        if notional < 0:
            raise ValueError(f"notional must be >= 0 (got {notional})")
        with localcontext(EXACT_CONTEXT):
            return (notional * self.rate(liquidity)).quantize(QUOTE_QUANTUM, rounding=ROUND_UP)


@dataclass(frozen=True, slots=True)
class SlippageModel:
    """What a taker pays beyond the quoted price, as a fraction of that price.

    ``fraction(qty, volume) = half_spread_bps / 10 000 + impact_coefficient × qty / volume``:
    crossing the spread costs half of it (the open is taken as the mid), and market impact grows
    linearly with the order's share of the candle's traded volume (an order of 1 % of the
    candle's volume moves the price 0.1 % with the default coefficient 0.1). ``max_slippage_bps``
    caps the total, for a user who would split a large order rather than sweep the book.
    """

    half_spread_bps: Decimal = Decimal(1)
    impact_coefficient: Decimal = Decimal("0.1")
    max_slippage_bps: Decimal | None = None

    def __post_init__(self) -> None:
        _require_rate("half_spread_bps", self.half_spread_bps, upper=_BPS)
        _require_rate("impact_coefficient", self.impact_coefficient, upper=Decimal("1e6"))
        if self.max_slippage_bps is not None:
            _require_rate("max_slippage_bps", self.max_slippage_bps, upper=Decimal("1e9"))

    @classmethod
    def none(cls) -> SlippageModel:
        """No spread and no impact: market orders fill exactly at the open."""
        return cls(half_spread_bps=_ZERO, impact_coefficient=_ZERO)

    def impact(self, qty: Decimal, candle_volume: Decimal) -> Decimal:
        """``impact_coefficient × qty / candle_volume``; the volume must be > 0."""
        if candle_volume <= 0:
            raise ValueError(f"candle volume must be > 0 to price impact (got {candle_volume})")
        with localcontext(EXACT_CONTEXT):
            return self.impact_coefficient * qty / candle_volume

    def fraction(self, qty: Decimal, candle_volume: Decimal) -> Decimal:
        """Half spread plus impact, capped at ``max_slippage_bps`` when one is set."""
        with localcontext(EXACT_CONTEXT):
            total = self.half_spread_bps / _BPS + self.impact(qty, candle_volume)
            if self.max_slippage_bps is not None:
                total = min(total, self.max_slippage_bps / _BPS)
            return total


def round_to_tick(price: Decimal, tick: Decimal | None, side: OrderSide) -> Decimal:
    """``price`` on the instrument's grid, against the trader: a buy rounds up, a sell down.

    Without a published tick the price is kept to 1e-8, still against the trader.
    """
    step = QUOTE_QUANTUM if tick is None else tick
    rounding = ROUND_CEILING if side is OrderSide.BUY else ROUND_FLOOR
    with localcontext(EXACT_CONTEXT):
        return (price / step).to_integral_value(rounding=rounding) * step


def adverse_price(price: Decimal, fraction: Decimal, side: OrderSide) -> Decimal:
    """``price`` moved by ``fraction`` against the trader: buys pay more, sells receive less."""
    with localcontext(EXACT_CONTEXT):
        return price * (_ONE + fraction) if side is OrderSide.BUY else price * (_ONE - fraction)


@dataclass(frozen=True, slots=True)
class CandlePrices:
    """The decimal open, high, low and volume of a candle, checked for consistency."""

    timestamp_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal

    @classmethod
    def from_candle(cls, candle: Candle) -> CandlePrices:
        where = f"candle at {candle.timestamp}"
        open_ = decimal_from_float(candle.open, f"{where}: open")
        high = decimal_from_float(candle.high, f"{where}: high")
        low = decimal_from_float(candle.low, f"{where}: low")
        close = decimal_from_float(candle.close, f"{where}: close")
        volume = decimal_from_float(candle.volume, f"{where}: volume")
        if low <= 0:
            raise ValueError(f"{where}: low must be > 0 (got {low})")
        if not low <= min(open_, close) <= max(open_, close) <= high:
            raise ValueError(
                f"{where}: prices must satisfy low <= open, close <= high "
                f"(open {open_}, high {high}, low {low}, close {close})"
            )
        if volume < 0:
            raise ValueError(f"{where}: volume must be >= 0 (got {volume})")
        return cls(candle.timestamp, open_, high, low, volume)


@dataclass(frozen=True, slots=True)
class Execution:
    """Where and how an order fills on a candle.

    ``at_open`` says the fill happened at the candle's first trade, so it certainly came before
    anything else in that candle (this orders the members of an OCO group).
    """

    price: Decimal
    liquidity: Liquidity
    at_open: bool


@dataclass(frozen=True, slots=True)
class Unfillable:
    """The order triggered but cannot be filled at a meaningful price; ``reason`` says why."""

    reason: str


def execute(
    order: Order, candle: CandlePrices, slippage: SlippageModel, tick: Decimal | None
) -> Execution | Unfillable | None:
    """How ``order`` fills on ``candle``, or ``None`` when it does not trade on it.

    The caller guarantees that the order was submitted no later than the candle's open.
    """
    if candle.volume == 0:
        return None  # a halted market: nothing traded, so nothing fills (see module docs)
    if order.type is OrderType.MARKET:
        return _taker(order, candle.open, candle, slippage, tick, at_open=True)
    level = order.price
    if level is None:  # Order refuses this at construction; kept for the type checker
        raise ValueError(f"{order.client_order_id}: a {order.type.value} order needs a price")
    buy = order.side is OrderSide.BUY
    if order.type is OrderType.STOP_LOSS:
        # A sell stop protects a long and triggers on the way down; a buy stop mirrors it.
        if buy and candle.high >= level:
            base, at_open = max(candle.open, level), candle.open >= level
        elif not buy and candle.low <= level:
            base, at_open = min(candle.open, level), candle.open <= level
        else:
            return None
        return _taker(order, base, candle, slippage, tick, at_open=at_open)
    # LIMIT and TAKE_PROFIT rest on the book at their price.
    if buy and candle.low <= level:
        gapped = candle.open < level
        price = candle.open if gapped else level
    elif not buy and candle.high >= level:
        gapped = candle.open > level
        price = candle.open if gapped else level
    else:
        return None
    liquidity = Liquidity.TAKER if gapped else Liquidity.MAKER
    return Execution(round_to_tick(price, tick, order.side), liquidity, at_open=gapped)


def _taker(
    order: Order,
    base: Decimal,
    candle: CandlePrices,
    slippage: SlippageModel,
    tick: Decimal | None,
    *,
    at_open: bool,
) -> Execution | Unfillable:
    fraction = slippage.fraction(order.qty, candle.volume)
    price = round_to_tick(adverse_price(base, fraction, order.side), tick, order.side)
    if price <= 0:
        return Unfillable(
            f"modelled slippage of {fraction * _HUNDRED:.2f} % on {order.qty} against a candle "
            f"volume of {candle.volume} leaves no positive sell price: the order is too large "
            "for this market"
        )
    return Execution(price, Liquidity.TAKER, at_open=at_open)


def reference_price(order: Order) -> Decimal | None:
    """The price the order expected: its ``reference_price``, else its limit or trigger."""
    return order.reference_price if order.reference_price is not None else order.price


def slippage_pct(order: Order, fill: Fill) -> Decimal | None:
    """How much worse than expected the fill was, in percent of the expected price.

    Positive means worse for the trader (a buy paid more, a sell received less), negative means
    better. ``None`` when the order carries no expected price (a market order without a
    ``reference_price``).
    """
    expected = reference_price(order)
    if expected is None:
        return None
    with localcontext(EXACT_CONTEXT):
        difference = fill.price - expected if fill.side is OrderSide.BUY else expected - fill.price
        return difference / expected * _HUNDRED
