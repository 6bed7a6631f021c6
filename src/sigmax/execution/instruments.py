"""Exchange trading rules: the bundled markets' specs, quantisation and order checks.

Binance names the rules with filters; the reasons :meth:`OrderRules.check` gives cite them:

* ``PRICE_FILTER``: ``minPrice <= price <= maxPrice`` and ``(price - minPrice) % tickSize == 0``.
* ``LOT_SIZE``: ``minQty <= qty <= maxQty`` and ``(qty - minQty) % stepSize == 0``.
* ``NOTIONAL``: ``minNotional <= price × qty <= maxNotional``.

All arithmetic is exact ``Decimal``; nothing here rounds silently except where the name says so
(``quantize_*``, :func:`size_to_qty`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, InvalidOperation

from sigmax.domain.instruments import Symbol
from sigmax.domain.market import MarketSpec
from sigmax.domain.orders import OrderSide, OrderType
from sigmax.errors import SigmaxError

_ZERO = Decimal(0)
_CONTEXT = Context(prec=100, traps=[InvalidOperation])
# Dividing an order size by a price is inexact; rounding that quotient toward minus infinity
# keeps its floor exact, so the step-rounded quantity never exceeds the size.
_FLOOR_DIVISION = Context(prec=100, rounding=ROUND_FLOOR, traps=[InvalidOperation])


class OrderRulesInputError(SigmaxError, ValueError):
    """A quantity, price or size given to the rules is not a finite positive number."""


def bundled_market_specs() -> dict[str, MarketSpec]:
    """The rules of the markets whose candles SIGMAX bundles, as Binance spot published them
    in 2023, keyed by symbol (``BTC/USDT``).

    Only the filters that bind SIGMAX's order sizes are bundled: tick size, step size, minimum
    quantity and minimum notional. Binance also publishes maxima (maxQty, maxPrice,
    maxNotional); they are far above any order a paper account places and changed over time,
    so they are left ``None`` (not published here) rather than guessed. A live venue reads the
    exchange's current values instead of these.
    """
    # min notional: the NOTIONAL filter's minNotional, 5 USDT for these markets in 2023. The
    # MIN_NOTIONAL filter it replaced had 10 USDT; orders are checked against the newer value.
    five_usdt = Decimal("5")
    return {
        str(spec.symbol): spec
        for spec in (
            _binance_spot("BTC/USDT", tick="0.01", step="0.00001", min_notional=five_usdt),
            _binance_spot("ETH/USDT", tick="0.01", step="0.0001", min_notional=five_usdt),
            _binance_spot("SOL/USDT", tick="0.01", step="0.001", min_notional=five_usdt),
            _binance_spot("BNB/USDT", tick="0.1", step="0.001", min_notional=five_usdt),
        )
    }


def _binance_spot(symbol: str, *, tick: str, step: str, min_notional: Decimal) -> MarketSpec:
    # For these markets LOT_SIZE's minQty equals its stepSize.
    return MarketSpec(
        exchange="binance",
        symbol=Symbol.parse(symbol),
        active=True,
        price_tick=Decimal(tick),
        amount_step=Decimal(step),
        min_amount=Decimal(step),
        max_amount=None,
        min_price=None,
        max_price=None,
        min_notional=min_notional,
        max_notional=None,
    )


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """Whether an order passes the market's rules; ``reasons`` lists every rule it breaks."""

    ok: bool
    reasons: tuple[str, ...]


def _require_positive(name: str, value: Decimal, *, allow_zero: bool = False) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise OrderRulesInputError(f"{name} must be a finite Decimal (got {value!r})")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise OrderRulesInputError(f"{name} must be {bound} (got {value})")


def _plain(value: Decimal) -> str:
    """A Decimal without exponent notation or trailing zeros: ``0.000004``, ``5``."""
    return format(value.normalize(_CONTEXT), "f")


def _money(value: Decimal) -> str:
    """At least two decimals, never fewer digits than the value has: ``3.20``, ``4.999``."""
    normalized = value.normalize(_CONTEXT)
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return format(value.quantize(Decimal("0.01"), context=_CONTEXT), "f")
    return format(normalized, "f")


def _round_to_grid(value: Decimal, base: Decimal, step: Decimal, rounding: str) -> Decimal:
    """``base + n × step`` with ``n`` an integer rounded by ``rounding``.

    The division runs in the same rounding direction, so even a quotient too long for the
    context cannot be pushed across an integer the wrong way."""
    directed = Context(prec=_CONTEXT.prec, rounding=rounding, traps=[InvalidOperation])
    steps = directed.divide(_CONTEXT.subtract(value, base), step).to_integral_value(
        rounding=rounding
    )
    return _CONTEXT.add(base, _CONTEXT.multiply(steps, step))


def _on_grid(value: Decimal, base: Decimal, step: Decimal) -> bool:
    return _CONTEXT.remainder(value - base, step) == 0


class OrderRules:
    """A market's rules applied to order quantities and prices."""

    def __init__(self, spec: MarketSpec) -> None:
        self.spec = spec

    @property
    def quote(self) -> str:
        return self.spec.symbol.quote

    def quantize_qty(self, qty: Decimal) -> Decimal:
        """Round ``qty`` down to the step grid (never more than asked). Below the first grid
        point (the minimum quantity, when published) the answer is ``0``."""
        _require_positive("qty", qty, allow_zero=True)
        step = self.spec.amount_step
        if step is None:
            return qty
        base = self.spec.min_amount if self.spec.min_amount is not None else _ZERO
        if qty < base:
            return _ZERO
        return _round_to_grid(qty, base, step, ROUND_FLOOR)

    def quantize_price(self, price: Decimal, side: OrderSide) -> Decimal:
        """Round ``price`` to the tick grid on the side adverse to the trader: a buy rounds
        up, a sell rounds down.

        A price derived from a reference (a sizing estimate, a limit at the last price) is
        thereby never better than the reference: the cost of a buy and the proceeds of a sell
        are never overstated in SIGMAX's favour, and a limit order is, if anything, a tick
        more likely to fill rather than less.
        """
        _require_positive("price", price)
        tick = self.spec.price_tick
        if tick is None:
            return price
        base = self.spec.min_price if self.spec.min_price is not None else _ZERO
        rounding = ROUND_CEILING if side is OrderSide.BUY else ROUND_FLOOR
        return _round_to_grid(price, base, tick, rounding)

    def check(
        self, order_qty: Decimal, price: Decimal, order_type: OrderType = OrderType.LIMIT
    ) -> RuleVerdict:
        """Check an order of ``order_qty`` at ``price`` against every published rule.

        For a market order ``price`` is the reference price the notional is estimated with:
        it is not an order price, so the tick and price-range rules do not apply to it.
        """
        _require_positive("order_qty", order_qty)
        _require_positive("price", price)
        spec = self.spec
        reasons: list[str] = []
        if not spec.active:
            reasons.append(f"market {spec.symbol} is not trading")
        if spec.min_amount is not None and order_qty < spec.min_amount:
            reasons.append(
                f"qty {_plain(order_qty)} below min qty {_plain(spec.min_amount)} (LOT_SIZE)"
            )
        if spec.max_amount is not None and order_qty > spec.max_amount:
            reasons.append(
                f"qty {_plain(order_qty)} above max qty {_plain(spec.max_amount)} (LOT_SIZE)"
            )
        step = spec.amount_step
        if step is not None:
            base = spec.min_amount if spec.min_amount is not None else _ZERO
            if not _on_grid(order_qty, base, step):
                reasons.append(
                    f"qty {_plain(order_qty)} is not a multiple of step size {_plain(step)} "
                    "(LOT_SIZE)"
                )
        if order_type is not OrderType.MARKET:
            reasons.extend(self._price_reasons(price))
        notional = _CONTEXT.multiply(order_qty, price)
        if spec.min_notional is not None and notional < spec.min_notional:
            reasons.append(
                f"notional {_money(notional)} {self.quote} below min notional "
                f"{_plain(spec.min_notional)} {self.quote} (NOTIONAL)"
            )
        if spec.max_notional is not None and notional > spec.max_notional:
            reasons.append(
                f"notional {_money(notional)} {self.quote} above max notional "
                f"{_plain(spec.max_notional)} {self.quote} (NOTIONAL)"
            )
        return RuleVerdict(ok=not reasons, reasons=tuple(reasons))

    def _price_reasons(self, price: Decimal) -> list[str]:
        spec = self.spec
        reasons: list[str] = []
        if spec.min_price is not None and price < spec.min_price:
            reasons.append(
                f"price {_plain(price)} below min price {_plain(spec.min_price)} (PRICE_FILTER)"
            )
        if spec.max_price is not None and price > spec.max_price:
            reasons.append(
                f"price {_plain(price)} above max price {_plain(spec.max_price)} (PRICE_FILTER)"
            )
        tick = spec.price_tick
        if tick is not None:
            base = spec.min_price if spec.min_price is not None else _ZERO
            if not _on_grid(price, base, tick):
                reasons.append(
                    f"price {_plain(price)} is not a multiple of tick size {_plain(tick)} "
                    "(PRICE_FILTER)"
                )
        return reasons


def size_to_qty(size_usd: Decimal, price: Decimal, rules: OrderRules) -> Decimal:
    """The largest quantity on the step grid whose value at ``price`` is at most ``size_usd``
    (quote currency). It may be ``0`` or below the minimum: :meth:`OrderRules.check` says so."""
    _require_positive("size_usd", size_usd, allow_zero=True)
    _require_positive("price", price)
    return rules.quantize_qty(_FLOOR_DIVISION.divide(size_usd, price))
