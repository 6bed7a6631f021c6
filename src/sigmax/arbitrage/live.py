"""The live scan: order books from each exchange through ccxt's async client.

For every exchange the market list is loaded once (``load_markets``, with each market's taker
fee from the exchange's own market data). Then:

* cross-exchange: the book of each market asked for (``--symbols``; by default every market
  listed on at least two of the exchanges) is read on every exchange that lists it, and the
  books are walked for the edge and its size (:mod:`sigmax.arbitrage.cross`);
* cycles: the best bid and ask of the exchange's markets (one ``fetch_tickers`` request; only
  the ``--symbols`` markets when given) make the rate graph; the negative cycles found
  (:mod:`sigmax.arbitrage.cycles`) are sized on the books of their legs, read afterwards.

Requests go through :class:`sigmax.data.feeds.CcxtFeed` (ccxt's rate limiter, retries with
backoff, typed errors); a failed request fails the scan with the exchange and endpoint named,
never a partial result presented as whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sigmax.arbitrage.books import Book
from sigmax.arbitrage.costs import Costs, FeeTable
from sigmax.arbitrage.cross import scan_cross
from sigmax.arbitrage.cycles import (
    MarketQuote,
    RateGraph,
    find_cycles,
    rotate_to_usd,
    size_cycle,
    usd_rates_from_books,
)
from sigmax.arbitrage.model import Opportunity
from sigmax.data.feeds.ccxt_feed import SUPPORTED_EXCHANGES, CcxtFeed, ExchangeId
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError

#: Book levels read per side.
BOOK_DEPTH = 50


class ArbitrageFeed(CcxtFeed):
    """A :class:`CcxtFeed` that also lists the venue's spot markets with their taker fees and
    reads every market's best quotes in one request."""

    async def spot_markets(self) -> dict[Symbol, Decimal | None]:
        """Active spot markets and their taker fee (None when the exchange states none)."""
        await self.load_markets()
        markets: dict[Symbol, Decimal | None] = {}
        for name, market in (self._exchange.markets or {}).items():
            if not market.get("spot") or market.get("active") is False or "/" not in name:
                continue
            try:
                symbol = Symbol.parse(name)
            except ValueError:
                continue
            taker = market.get("taker")
            markets[symbol] = None if taker is None else Decimal(repr(float(taker)))
        return markets

    async def best_quotes(self, symbols: Sequence[Symbol]) -> dict[Symbol, tuple[float, float]]:
        """Best bid and ask of each of ``symbols`` that has both."""
        if not symbols:
            return {}
        await self.load_markets()
        names = [str(s) for s in symbols]

        async def request() -> Any:
            return await self._exchange.fetch_tickers(names)

        raw = cast(Mapping[str, Any], await self._call("fetch_tickers", None, request))
        quotes: dict[Symbol, tuple[float, float]] = {}
        for name, ticker in raw.items():
            bid, ask = ticker.get("bid"), ticker.get("ask")
            if bid is None or ask is None:
                continue
            bid_f, ask_f = float(bid), float(ask)
            if 0 < bid_f < ask_f:
                quotes[Symbol.parse(name)] = (bid_f, ask_f)
        return quotes

    async def book(self, symbol: Symbol) -> Book:
        return Book.from_order_book(await self.fetch_order_book(symbol, BOOK_DEPTH))


@dataclass(frozen=True, slots=True)
class ScanRequest:
    exchanges: tuple[str, ...]
    symbols: tuple[Symbol, ...] | None
    costs: Costs
    size_usd: Decimal | None
    fee_overrides: Mapping[str, Decimal] = field(default_factory=dict)
    api_base_urls: Mapping[str, str] = field(default_factory=dict)
    max_cycle_length: int = 4
    cycles: bool = True

    def __post_init__(self) -> None:
        if not self.exchanges:
            raise InputError("--exchanges: name at least one exchange")
        unknown = [e for e in self.exchanges if e not in SUPPORTED_EXCHANGES]
        if unknown:
            raise InputError(
                f"--exchanges: {', '.join(unknown)} not supported "
                f"(choose from {', '.join(SUPPORTED_EXCHANGES)})"
            )
        stray = sorted(set(self.api_base_urls) - set(self.exchanges))
        if stray:
            raise InputError(f"--api-base: {', '.join(stray)} is not among --exchanges")


@dataclass(frozen=True, slots=True)
class ScanResult:
    opportunities: list[Opportunity]
    fees: FeeTable
    books_read: int
    markets: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        total = sum((o.profit_usd for o in self.opportunities), Decimal(0))
        return {
            "summary": {
                "count": len(self.opportunities),
                "total_profit_usd": str(total.quantize(Decimal("0.01"))),
                "books_read": self.books_read,
            },
            "opportunities": [o.to_dict() for o in self.opportunities],
            "markets": self.markets,
        }


async def scan(request: ScanRequest) -> ScanResult:
    """One scan of the exchanges' books."""
    feeds = {
        name: ArbitrageFeed(
            cast(ExchangeId, name), api_base_url=request.api_base_urls.get(name), timeout_s=10
        )
        for name in request.exchanges
    }
    try:
        listed = dict(
            zip(
                feeds,
                await asyncio.gather(*(feed.spot_markets() for feed in feeds.values())),
                strict=True,
            )
        )
        per_market = {
            (name, str(symbol)): fee
            for name, markets in listed.items()
            for symbol, fee in markets.items()
            if fee is not None
        }
        fees = FeeTable(request.costs.fees.per_exchange, per_market).with_overrides(
            request.fee_overrides
        )
        costs = Costs(
            fees,
            request.costs.transfer_pct,
            request.costs.transfer_usd,
            request.costs.slippage_limit_pct,
            request.costs.min_profit_pct,
        )
        wanted = _cross_symbols(request, listed)
        jobs = [(name, symbol) for symbol in wanted for name in feeds if symbol in listed[name]]
        books = list(await asyncio.gather(*(feeds[n].book(s) for n, s in jobs)))
        rates = usd_rates_from_books(books)
        opportunities = scan_cross(books, costs, request.size_usd, rates)
        books_read = len(books)
        if request.cycles:
            for name, feed in feeds.items():
                found, read = await _venue_cycles(name, feed, listed[name], request, costs, rates)
                opportunities += found
                books_read += read
        return ScanResult(
            sorted(opportunities, key=lambda o: -o.net_pct),
            fees,
            books_read,
            {name: len(markets) for name, markets in listed.items()},
        )
    finally:
        await asyncio.gather(*(feed.close() for feed in feeds.values()))


def _cross_symbols(
    request: ScanRequest, listed: Mapping[str, Mapping[Symbol, Decimal | None]]
) -> list[Symbol]:
    if request.symbols is not None:
        missing = [
            str(s) for s in request.symbols if not any(s in markets for markets in listed.values())
        ]
        if missing:
            raise InputError(
                f"--symbols: {', '.join(missing)} is listed on none of {', '.join(listed)}"
            )
        return list(request.symbols)
    counts: dict[Symbol, int] = {}
    for markets in listed.values():
        for symbol in markets:
            counts[symbol] = counts.get(symbol, 0) + 1
    return sorted((s for s, n in counts.items() if n >= 2), key=str)


async def _venue_cycles(
    name: str,
    feed: ArbitrageFeed,
    markets: Mapping[Symbol, Decimal | None],
    request: ScanRequest,
    costs: Costs,
    rates: Mapping[str, Decimal],
) -> tuple[list[Opportunity], int]:
    symbols = sorted(
        (s for s in markets if request.symbols is None or s in request.symbols), key=str
    )
    quotes = await feed.best_quotes(symbols)
    graph = RateGraph(
        [
            MarketQuote(symbol, bid, ask, float(costs.fees.taker(name, str(symbol))))
            for symbol, (bid, ask) in sorted(quotes.items(), key=lambda item: str(item[0]))
        ]
    )
    cycles = find_cycles(
        graph, max_length=request.max_cycle_length, min_profit=float(costs.min_profit)
    )
    if not cycles:
        return [], 0
    needed = sorted({graph.edges[e].symbol for cycle in cycles for e in cycle}, key=str)
    books = dict(zip(needed, await asyncio.gather(*(feed.book(s) for s in needed)), strict=True))
    venue_rates = {**usd_rates_from_books(list(books.values())), **rates}
    found = []
    for cycle in cycles:
        rotated = rotate_to_usd(graph, cycle)
        opportunity = size_cycle(
            name, [graph.edges[e] for e in rotated], books, costs, request.size_usd, venue_rates
        )
        if opportunity is not None:
            found.append(opportunity)
    return found, len(books)
