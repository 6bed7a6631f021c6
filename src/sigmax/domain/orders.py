"""Orders and fills. Quantities, prices and fees are exact ``Decimal`` values.

An order's ``client_order_id`` is its idempotency key: for orders caused by a decision it is
derived from the decision id, so processing the same decision twice (after a crash) names the
same order and the store refuses to record it a second time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """``stop_loss`` sells at market once the price trades at or below its trigger;
    ``take_profit`` is a resting limit sell at its price."""

    MARKET = "market"
    LIMIT = "limit"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"


class OrderStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


class OrderPurpose(StrEnum):
    """Why an order exists: a decision's ``entry``, the ``stop_loss`` and ``take_profit``
    protecting a filled entry, a decision's ``exit`` (a SELL signal), an operator's ``manual``
    order, or a ``panic`` close-out. Recorded with the order; a closed trade's exit reason
    is read from it."""

    ENTRY = "entry"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    EXIT = "exit"
    MANUAL = "manual"
    PANIC = "panic"


class Liquidity(StrEnum):
    """Whether a fill took liquidity (taker fee) or rested on the book (maker fee)."""

    MAKER = "maker"
    TAKER = "taker"


#: Binance accepts client order ids of up to 36 characters from [A-Za-z0-9_-].
CLIENT_ORDER_ID_MAX = 36


def client_order_id(decision_id: str, role: str) -> str:
    """The id of the order a decision causes in ``role`` (``entry``, ``stop``, ``target``,
    ``exit``): the same decision and role always give the same id."""
    digest = hashlib.sha256(f"{decision_id}:{role}".encode()).hexdigest()
    return f"sgx-{role[:6]}-{digest[:24]}"[:CLIENT_ORDER_ID_MAX]


@dataclass(frozen=True, slots=True)
class Order:
    """An instruction to a venue.

    ``price`` is the limit price (``limit``, ``take_profit``) or the trigger (``stop_loss``);
    ``None`` for market orders. ``reference_price`` is the price the decision expected, used to
    measure slippage. Orders of one ``oco_group`` cancel each other when one fills.

    ``spend`` makes a market buy spend that much quote currency, fee included: the quantity is
    worked out at the fill price (what "invest all the cash" needs, since the next open is not
    known when the order is placed); ``qty`` is then the estimate at the reference price.
    """

    client_order_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    qty: Decimal
    created_ms: int
    price: Decimal | None = None
    reference_price: Decimal | None = None
    decision_id: str | None = None
    oco_group: str | None = None
    spend: Decimal | None = None
    #: Why the order exists (see :class:`OrderPurpose`); always given, by keyword.
    purpose: OrderPurpose = field(kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.purpose, OrderPurpose):
            raise ValueError(f"purpose must be an OrderPurpose (got {self.purpose!r})")
        if self.qty <= 0:
            raise ValueError(f"qty must be > 0 (got {self.qty})")
        if self.spend is not None and (
            self.spend <= 0 or self.type is not OrderType.MARKET or self.side is not OrderSide.BUY
        ):
            raise ValueError("spend must be > 0 and is for market buys only")
        needs_price = self.type is not OrderType.MARKET
        if needs_price and (self.price is None or self.price <= 0):
            raise ValueError(f"a {self.type.value} order needs a price > 0 (got {self.price})")
        if not needs_price and self.price is not None:
            raise ValueError("a market order has no price")
        if len(self.client_order_id) > CLIENT_ORDER_ID_MAX:
            raise ValueError(f"client_order_id must be at most {CLIENT_ORDER_ID_MAX} characters")


@dataclass(frozen=True, slots=True)
class Fill:
    """An execution of (part of) an order. ``fee`` is in the quote currency (USDT)."""

    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    timestamp_ms: int
    liquidity: Liquidity
    sequence: int = 0

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"fill qty must be > 0 (got {self.qty})")
        if self.price <= 0:
            raise ValueError(f"fill price must be > 0 (got {self.price})")
        if self.fee < 0:
            raise ValueError(f"fee must be >= 0 (got {self.fee})")

    @property
    def notional(self) -> Decimal:
        return self.qty * self.price


#: The id prefixes of orders recorded before :class:`OrderPurpose` existed.
_LEGACY_PREFIXES = (
    ("sgx-panic-", OrderPurpose.PANIC),
    ("sgx-manual-", OrderPurpose.MANUAL),
    ("sgx-entry-", OrderPurpose.ENTRY),
    ("sgx-exit-", OrderPurpose.EXIT),
    ("sgx-stop-", OrderPurpose.STOP_LOSS),
    ("sgx-target-", OrderPurpose.TAKE_PROFIT),
)


def legacy_purpose(client_order_id: str, kind: OrderType) -> OrderPurpose:
    """The purpose of an order stored before orders carried one, from its type and the id
    scheme of the time. Used once, when such a stored order is read; never for a new one."""
    if kind is OrderType.STOP_LOSS:
        return OrderPurpose.STOP_LOSS
    if kind is OrderType.TAKE_PROFIT:
        return OrderPurpose.TAKE_PROFIT
    for prefix, purpose in _LEGACY_PREFIXES:
        if client_order_id.startswith(prefix):
            return purpose
    return OrderPurpose.MANUAL
