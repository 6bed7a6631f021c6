"""Market snapshots: tickers, order books and a market's trading rules.

Prices and amounts in :class:`Ticker` and :class:`OrderBook` are ``float`` (numpy float64
semantics): they feed analytics, spreads and slippage estimates, never the ledger. The ledger
quantises with :class:`MarketSpec`, whose tick and step sizes are exact ``Decimal`` values.

All timestamps are milliseconds since the epoch, UTC. ``exchange_time_ms`` is what the exchange
stamped on the data (some exchanges stamp nothing: then it is ``None``); ``received_ms`` is when
SIGMAX received it, so staleness can always be judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from sigmax.domain.instruments import Symbol


def _require_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (got {value!r})")


def _require_non_negative(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0 (got {value!r})")


@dataclass(frozen=True, slots=True)
class Ticker:
    """Last price, best bid/ask and 24-hour statistics of one market at one moment."""

    exchange: str
    symbol: Symbol
    last: float
    bid: float | None
    ask: float | None
    high_24h: float | None
    low_24h: float | None
    base_volume_24h: float | None
    quote_volume_24h: float | None
    exchange_time_ms: int | None
    received_ms: int

    def __post_init__(self) -> None:
        _require_positive("last", self.last)
        for name in ("bid", "ask", "high_24h", "low_24h"):
            value = getattr(self, name)
            if value is not None:
                _require_positive(name, value)
        for name in ("base_volume_24h", "quote_volume_24h"):
            value = getattr(self, name)
            if value is not None:
                _require_non_negative(name, value)
        if self.bid is not None and self.ask is not None and self.bid > self.ask:
            raise ValueError(f"bid {self.bid} is above ask {self.ask}: the quote is crossed")
        if self.high_24h is not None and self.low_24h is not None and self.low_24h > self.high_24h:
            raise ValueError(f"low_24h {self.low_24h} is above high_24h {self.high_24h}")

    @property
    def mid(self) -> float | None:
        """Midpoint of bid and ask, or ``None`` when either side is missing."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2

    @property
    def spread(self) -> float | None:
        """Ask minus bid in quote currency, or ``None`` when either side is missing."""
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid


@dataclass(frozen=True, slots=True)
class OrderBookLevel:
    """One price level: the price and the total base amount resting there."""

    price: float
    amount: float

    def __post_init__(self) -> None:
        _require_positive("price", self.price)
        _require_positive("amount", self.amount)


@dataclass(frozen=True, slots=True)
class OrderBook:
    """A snapshot of the book: bids best (highest) first, asks best (lowest) first.

    A side may be empty (an illiquid market); a crossed or unsorted book is refused, because
    every consumer (fill model, slippage guard) relies on the ordering.
    """

    exchange: str
    symbol: Symbol
    bids: tuple[OrderBookLevel, ...]
    asks: tuple[OrderBookLevel, ...]
    #: The exchange's book sequence number (Binance ``lastUpdateId``), when it sends one.
    sequence: int | None
    exchange_time_ms: int | None
    received_ms: int

    def __post_init__(self) -> None:
        for previous, level in zip(self.bids, self.bids[1:], strict=False):
            if level.price >= previous.price:
                raise ValueError(
                    f"bids must be strictly descending by price "
                    f"({previous.price} then {level.price})"
                )
        for previous, level in zip(self.asks, self.asks[1:], strict=False):
            if level.price <= previous.price:
                raise ValueError(
                    f"asks must be strictly ascending by price "
                    f"({previous.price} then {level.price})"
                )
        if self.bids and self.asks and self.bids[0].price >= self.asks[0].price:
            raise ValueError(
                f"best bid {self.bids[0].price} is not below best ask {self.asks[0].price}: "
                "the book is crossed"
            )

    @property
    def best_bid(self) -> OrderBookLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> OrderBookLevel | None:
        return self.asks[0] if self.asks else None

    @property
    def mid(self) -> float | None:
        """Midpoint of the best bid and ask, or ``None`` when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2

    @property
    def spread(self) -> float | None:
        """Best ask minus best bid, or ``None`` when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return self.asks[0].price - self.bids[0].price


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A market's trading rules as the exchange publishes them (``None`` = not published).

    ``price_tick`` and ``amount_step`` are the increments prices and amounts must be multiples
    of; ``min_notional`` is the smallest order value (price × amount) in quote currency.
    """

    exchange: str
    symbol: Symbol
    active: bool
    price_tick: Decimal | None
    amount_step: Decimal | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    min_price: Decimal | None
    max_price: Decimal | None
    min_notional: Decimal | None
    max_notional: Decimal | None

    def __post_init__(self) -> None:
        for name in ("price_tick", "amount_step"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 when given (got {value})")
