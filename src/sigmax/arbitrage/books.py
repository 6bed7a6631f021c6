"""Order books in exact decimals, and walking them.

A scan reads books as floats (:class:`sigmax.domain.market.OrderBook`, what ccxt returns); every
amount of money an opportunity reports comes from walking the book in :class:`~decimal.Decimal`:
each level's float is turned back into the decimal the exchange printed
(:func:`sigmax.execution.fill_model.decimal_from_float`), so a walk adds up the exchange's own
numbers exactly.

A walk takes levels best first and stops at a limit price (the slippage limit): it never reports
more size than the book holds within that limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from sigmax.domain.instruments import Symbol
from sigmax.domain.market import OrderBook
from sigmax.errors import InputError
from sigmax.execution.fill_model import EXACT_CONTEXT, decimal_from_float

_ZERO = Decimal(0)


class BookError(InputError):
    """A book cannot be used: the message names the market, the field and the rule."""


@dataclass(frozen=True, slots=True)
class Level:
    """One price level: price in the quote currency, amount in the base currency."""

    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """One market's book on one exchange: bids best (highest) first, asks best (lowest) first."""

    exchange: str
    symbol: Symbol
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    #: When the book was read (ms since the epoch, UTC).
    at_ms: int

    def __post_init__(self) -> None:
        where = f"{self.exchange} {self.symbol} book"
        for side, levels, descending in (("bids", self.bids, True), ("asks", self.asks, False)):
            for index, level in enumerate(levels):
                if not (level.price > 0 and level.amount > 0):
                    raise BookError(
                        f"{where}: {side}[{index}] must have price > 0 and amount > 0 "
                        f"(got {level.price} x {level.amount})"
                    )
            for index in range(1, len(levels)):
                before, after = levels[index - 1].price, levels[index].price
                if (after >= before) if descending else (after <= before):
                    order = "descending" if descending else "ascending"
                    raise BookError(
                        f"{where}: {side} must be strictly {order} by price "
                        f"({before} then {after} at {index})"
                    )
        if self.bids and self.asks and self.bids[0].price >= self.asks[0].price:
            raise BookError(
                f"{where}: best bid {self.bids[0].price} must be below best ask "
                f"{self.asks[0].price} (the book is crossed)"
            )

    @classmethod
    def of(
        cls,
        exchange: str,
        symbol: Symbol | str,
        bids: Sequence[tuple[Decimal | str | int, Decimal | str | int]],
        asks: Sequence[tuple[Decimal | str | int, Decimal | str | int]],
        at_ms: int = 0,
    ) -> Book:
        """A book from ``(price, amount)`` pairs (decimals or their text)."""
        parsed = symbol if isinstance(symbol, Symbol) else Symbol.parse(symbol)
        return cls(
            exchange,
            parsed,
            tuple(Level(Decimal(p), Decimal(a)) for p, a in bids),
            tuple(Level(Decimal(p), Decimal(a)) for p, a in asks),
            at_ms,
        )

    @classmethod
    def from_order_book(cls, book: OrderBook) -> Book:
        """The exact form of a book read as floats (each level's printed decimal)."""
        where = f"{book.exchange} {book.symbol} book"
        return cls(
            book.exchange,
            book.symbol,
            tuple(
                Level(
                    decimal_from_float(level.price, f"{where} bid price"),
                    decimal_from_float(level.amount, f"{where} bid amount"),
                )
                for level in book.bids
            ),
            tuple(
                Level(
                    decimal_from_float(level.price, f"{where} ask price"),
                    decimal_from_float(level.amount, f"{where} ask amount"),
                )
                for level in book.asks
            ),
            book.exchange_time_ms if book.exchange_time_ms is not None else book.received_ms,
        )

    @property
    def best_bid(self) -> Decimal:
        if not self.bids:
            raise BookError(f"{self.exchange} {self.symbol} book: bids are empty")
        return self.bids[0].price

    @property
    def best_ask(self) -> Decimal:
        if not self.asks:
            raise BookError(f"{self.exchange} {self.symbol} book: asks are empty")
        return self.asks[0].price


@dataclass(frozen=True, slots=True)
class Walk:
    """What taking liquidity from one side of a book gave: ``base`` traded for ``quote``."""

    base: Decimal
    quote: Decimal
    #: The price of the last level touched (the marginal price); None when nothing traded.
    last_price: Decimal | None

    @property
    def average_price(self) -> Decimal | None:
        if self.base == 0:
            return None
        with localcontext(EXACT_CONTEXT):
            return self.quote / self.base


def within(levels: Sequence[Level], limit: Decimal, *, buying: bool) -> tuple[Level, ...]:
    """The levels no worse than ``limit``: asks at or below it (buying), bids at or above."""
    if buying:
        return tuple(level for level in levels if level.price <= limit)
    return tuple(level for level in levels if level.price >= limit)


def walk_base(levels: Sequence[Level], base: Decimal) -> Walk:
    """Take up to ``base`` of the base currency from ``levels`` (best first)."""
    if base < 0:
        raise ValueError(f"base amount must be >= 0 (got {base})")
    taken, paid, last = _ZERO, _ZERO, None
    with localcontext(EXACT_CONTEXT):
        for level in levels:
            if taken >= base:
                break
            amount = min(level.amount, base - taken)
            taken += amount
            paid += amount * level.price
            last = level.price
    return Walk(taken, paid, last)


def walk_quote(levels: Sequence[Level], quote: Decimal) -> Walk:
    """Spend up to ``quote`` of the quote currency on ``levels`` (asks, best first)."""
    if quote < 0:
        raise ValueError(f"quote amount must be >= 0 (got {quote})")
    taken, paid, last = _ZERO, _ZERO, None
    with localcontext(EXACT_CONTEXT):
        for level in levels:
            if paid >= quote:
                break
            notional = level.amount * level.price
            if paid + notional <= quote:
                taken += level.amount
                paid += notional
            else:
                part = (quote - paid) / level.price
                taken += part
                paid = quote
            last = level.price
    return Walk(taken, paid, last)


def depth_base(levels: Sequence[Level]) -> Decimal:
    """The total base amount on ``levels``."""
    with localcontext(EXACT_CONTEXT):
        return sum((level.amount for level in levels), _ZERO)
