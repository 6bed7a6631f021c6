"""The account's checks on an operator's manual market order, shared by the order queued on a
stored run (:mod:`sigmax.engine.manual_order`) and the one a running engine places from the
control queue, so both refuse the same orders with the same reasons.

A market order fills at a price not known yet: a buy is costed at the last mark raised by
``safety.max_slippage_pct`` plus the fee, with the buys already resting paid first; a sell may
not exceed the position (spot), nor use what resting sells (stop-loss, take-profit) already
promise, unless it sells the whole position, which replaces them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Final

from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import Liquidity, Order, OrderSide
from sigmax.engine.account import EXACT, decimal_text
from sigmax.errors import InputError
from sigmax.execution.fill_model import QUOTE_QUANTUM, FeeSchedule

_ZERO: Final = Decimal(0)
_HUNDRED: Final = Decimal(100)


@dataclass(frozen=True, slots=True)
class ManualRequest:
    """What the operator asked for: a market order of ``qty`` ``symbol`` on ``side``."""

    symbol: str
    side: OrderSide
    qty: Decimal

    def describe(self) -> str:
        return f"{self.side.value} {decimal_text(self.qty)} {self.symbol}"


def taker_fee(fees: FeeSchedule, notional: Decimal) -> Decimal:
    """The taker fee a market order of ``notional`` pays (rounded up as the venue does)."""
    return fees.fee(notional, Liquidity.TAKER)


def check_cash(
    max_slippage_pct: float,
    ledger: Ledger,
    fees: FeeSchedule,
    resting_orders: Sequence[Order],
    marks: Mapping[str, Decimal],
    request: ManualRequest,
    mark: Decimal,
) -> None:
    """Refuse a buy the cash may not cover when it fills at the next open.

    A market order fills at a price not known yet; a fill the ledger cannot pay would stop the
    run, so the cost is taken at the last mark raised by ``safety.max_slippage_pct`` (a fill
    slipping more than that trips the safety pause anyway), for this order and for the buys
    already resting, which will be paid first.
    """
    headroom_pct = Decimal(repr(max_slippage_pct))
    with localcontext(EXACT):
        factor = 1 + headroom_pct / _HUNDRED
    needed = _buy_cost(request.qty, mark, factor, fees)
    reserved = _ZERO
    for resting in resting_orders:
        price = resting.price or marks.get(resting.symbol) or resting.reference_price
        if resting.side is OrderSide.BUY and price is not None:
            reserved = _exact_sum(reserved, _buy_cost(resting.qty, price, factor, fees))
    if _exact_sum(needed, reserved) > ledger.cash:
        held_back = (
            f" and {_money(reserved)} USDT of it is held back for resting buy orders"
            if reserved
            else ""
        )
        raise InputError(
            f"cash: {request.describe()} needs {_money(needed)} USDT (at the last mark "
            f"{decimal_text(mark)} plus {headroom_pct.normalize():f} % for the next open and "
            f"slippage (safety.max_slippage_pct), and the fee) but cash is "
            f"{_money(ledger.cash)} USDT{held_back}"
        )


def _buy_cost(qty: Decimal, price: Decimal, factor: Decimal, fees: FeeSchedule) -> Decimal:
    """What buying ``qty`` at ``price × factor`` costs, fee included."""
    with localcontext(EXACT):
        notional = qty * price * factor
    return _exact_sum(notional, taker_fee(fees, notional))


def _exact_sum(first: Decimal, second: Decimal) -> Decimal:
    with localcontext(EXACT):
        return first + second


def check_position(
    ledger: Ledger, resting_orders: Sequence[Order], request: ManualRequest
) -> tuple[Order, ...]:
    """Refuse a sell beyond the position; return the resting sells a full close replaces."""
    held = ledger.position(request.symbol).qty
    if request.qty > held:
        raise InputError(
            f"position: {request.describe()} exceeds the {decimal_text(held)} {request.symbol} "
            "held (spot: no shorting)"
        )
    resting_sells = tuple(
        order
        for order in resting_orders
        if order.symbol == request.symbol and order.side is OrderSide.SELL
    )
    promised = _promised_qty(resting_sells)
    if request.qty <= held - promised:
        return ()
    if request.qty == held:
        return resting_sells
    names = ", ".join(f"{o.type.value} {o.client_order_id}" for o in resting_sells)
    raise InputError(
        f"position: {decimal_text(promised)} of the {decimal_text(held)} {request.symbol} held "
        f"is promised to resting sell orders ({names}), so at most "
        f"{decimal_text(held - promised)} can be sold on its own; sell all "
        f"{decimal_text(held)} to close the position (its resting sell orders are then "
        "cancelled)"
    )


def _promised_qty(sells: Sequence[Order]) -> Decimal:
    """What resting sell orders may take: one-cancels-other groups count once (their largest)."""
    by_group: dict[str, Decimal] = {}
    total = _ZERO
    for order in sells:
        if order.oco_group is None:
            total += order.qty
        else:
            by_group[order.oco_group] = max(by_group.get(order.oco_group, _ZERO), order.qty)
    return total + sum(by_group.values(), start=_ZERO)


def _money(value: Decimal) -> str:
    """Cents, or every digit when there are more (never rounded in a message that compares)."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return f"{value.quantize(Decimal('0.01')):,f}"
    return f"{value.quantize(QUOTE_QUANTUM).normalize():,f}"
