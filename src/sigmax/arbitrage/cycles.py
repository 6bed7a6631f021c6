"""Cyclic arbitrage within one venue (triangular, and up to four legs).

The venue's markets make a directed graph of currencies. A market ``B/Q`` with best bid ``b``,
best ask ``a`` and taker fee ``f`` gives two edges:

* ``B -> Q`` (sell the base): rate ``b x (1 - f)``;
* ``Q -> B`` (buy the base): rate ``(1 / a) x (1 - f)``;

each weighted ``-log(rate)``. A cycle whose rates multiply to more than 1 has a negative total
weight, so profitable cycles are the graph's negative cycles. Edges come only from markets that
exist in the data or on the exchange: the graph never holds an edge nobody quoted, so no cycle
can pass through a missing market (BTC/USD and BTC/USDC never make a cycle without a USDC/USD
market to close it).

The search is Bellman-Ford bounded to ``max_length`` rounds (``dist_k[v]``: the lightest walk of
exactly ``k`` edges from the source to ``v``), run from every currency that is the quote of some
market: every edge belongs to a market, so every cycle passes through a quote currency, and no
cycle is missed. Each round is a handful of numpy operations over all edges (float64: the graph
is analytics); a closed walk lighter than ``-log(1 + min_profit)`` is taken apart into simple
cycles and the lightest one kept. A market taken by a reported cycle is then removed and the
source searched again, so each market direction appears in at most one reported cycle.

The cycles found are then sized on the books in exact decimals (:func:`size_cycle`): the start
amount is the largest for which every leg fills within the slippage limit and the *marginal*
unit still earns the minimum profit after every fee.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext

import numpy as np
import numpy.typing as npt

from sigmax.arbitrage.books import Book, Level, walk_base, walk_quote, within
from sigmax.arbitrage.costs import Costs
from sigmax.arbitrage.cross import usd_rate
from sigmax.arbitrage.model import USD_LIKE, Leg, LegSide, Opportunity
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError
from sigmax.execution.fill_model import EXACT_CONTEXT

_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
#: Reported cycles per search at most (a market graph gone mad should not flood the output).
MAX_CYCLES = 1000
#: Bisection steps when sizing a cycle: the size is found to 2^-48 of the book's depth.
_SIZE_STEPS = 48


@dataclass(frozen=True, slots=True)
class MarketQuote:
    """A market's best bid and ask on one venue, and its taker fee (floats: the graph)."""

    symbol: Symbol
    bid: float
    ask: float
    fee: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bid) and math.isfinite(self.ask) and 0 < self.bid < self.ask):
            raise InputError(
                f"{self.symbol}: quotes must be finite with 0 < bid < ask "
                f"(got bid {self.bid}, ask {self.ask})"
            )
        if not 0 <= self.fee < 1:
            raise InputError(f"{self.symbol}: fee must be >= 0 and < 1 (got {self.fee})")


@dataclass(frozen=True, slots=True)
class Edge:
    """One direction of one market: trading ``source`` currency into ``target``."""

    symbol: Symbol
    side: LegSide  # "sell": base -> quote; "buy": quote -> base
    source: str
    target: str


class RateGraph:
    """The currencies of one venue and the edges its markets give (numpy columns)."""

    def __init__(self, quotes: Sequence[MarketQuote]) -> None:
        seen: set[Symbol] = set()
        currencies: dict[str, int] = {}
        edges: list[Edge] = []
        weights: list[float] = []
        for quote in quotes:
            if quote.symbol in seen:
                raise InputError(f"{quote.symbol} is quoted twice in one venue's graph")
            seen.add(quote.symbol)
            base, quote_ccy = quote.symbol.base, quote.symbol.quote
            for name in (base, quote_ccy):
                currencies.setdefault(name, len(currencies))
            keep = math.log1p(-quote.fee)
            edges.append(Edge(quote.symbol, "sell", base, quote_ccy))
            weights.append(-(math.log(quote.bid) + keep))
            edges.append(Edge(quote.symbol, "buy", quote_ccy, base))
            weights.append(-(keep - math.log(quote.ask)))
        self.currencies = list(currencies)
        self.index = currencies
        self.edges = edges
        self.src = np.fromiter((currencies[e.source] for e in edges), np.int64, len(edges))
        self.dst = np.fromiter((currencies[e.target] for e in edges), np.int64, len(edges))
        self.weight: npt.NDArray[np.float64] = np.asarray(weights, dtype=np.float64)
        self.quote_nodes = sorted({currencies[q.symbol.quote] for q in quotes})

    def __len__(self) -> int:
        return len(self.edges)


def find_cycles(
    graph: RateGraph, *, max_length: int = 4, min_profit: float = 0.0
) -> list[tuple[int, ...]]:
    """Profitable cycles (edge indices in trading order), each at most ``max_length`` legs.

    ``min_profit`` is the least net gain as a fraction (after the fees in the rates).
    """
    if not 2 <= max_length <= 4:
        raise InputError(f"max_length must be 2, 3 or 4 legs (got {max_length})")
    if len(graph) == 0:
        return []
    threshold = -math.log1p(min_profit)
    order = np.argsort(graph.dst, kind="stable")
    dst_sorted = graph.dst[order]
    src_sorted = graph.src[order]
    boundary = np.r_[True, dst_sorted[1:] != dst_sorted[:-1]]
    starts = np.flatnonzero(boundary)
    group_of = np.cumsum(boundary) - 1
    counts = np.diff(np.r_[starts, len(order)])
    group_dst = dst_sorted[starts]
    weight = graph.weight.copy()
    n = len(graph.currencies)
    found: list[tuple[int, ...]] = []
    for source in graph.quote_nodes:
        while len(found) < MAX_CYCLES:
            cycle = _lightest_cycle(
                source,
                n,
                max_length,
                threshold,
                weight,
                order,
                src_sorted,
                dst_sorted,
                starts,
                group_of,
                counts,
                group_dst,
                graph.src,
            )
            if cycle is None:
                break
            found.append(cycle)
            weight[list(cycle)] = np.inf
    return found


def _lightest_cycle(
    source: int,
    n: int,
    max_length: int,
    threshold: float,
    weight: npt.NDArray[np.float64],
    order: npt.NDArray[np.int64],
    src_sorted: npt.NDArray[np.int64],
    dst_sorted: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    group_of: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    group_dst: npt.NDArray[np.int64],
    src: npt.NDArray[np.int64],
) -> tuple[int, ...] | None:
    w_sorted = weight[order]
    dist = np.full(n, np.inf)
    dist[source] = 0.0
    preds: list[npt.NDArray[np.int64]] = []
    best_k, best_weight = 0, threshold
    for k in range(1, max_length + 1):
        candidate = dist[src_sorted] + w_sorted
        minima = np.minimum.reduceat(candidate, starts)
        new = np.full(n, np.inf)
        new[group_dst] = minima
        hits = np.flatnonzero((candidate == np.repeat(minima, counts)) & np.isfinite(candidate))
        groups = group_of[hits]
        first = hits[np.r_[True, groups[1:] != groups[:-1]]] if len(hits) else hits
        pred = np.full(n, -1, dtype=np.int64)
        pred[dst_sorted[first]] = order[first]
        preds.append(pred)
        if k >= 2 and new[source] < best_weight:
            best_k, best_weight = k, float(new[source])
        dist = new
    if best_k == 0:
        return None
    walk: list[int] = []
    node = source
    for k in range(best_k, 0, -1):
        edge = int(preds[k - 1][node])
        walk.append(edge)
        node = int(src[edge])
    walk.reverse()
    return _lightest_simple(walk, src, weight, threshold)


def _lightest_simple(
    walk: list[int], src: npt.NDArray[np.int64], weight: npt.NDArray[np.float64], threshold: float
) -> tuple[int, ...] | None:
    """The lightest simple cycle a closed walk is made of, if it is light enough."""
    pieces: list[list[int]] = []
    stack: list[int] = []
    position: dict[int, int] = {}
    for edge in walk:
        node = int(src[edge])
        if node in position:
            cut = position[node]
            pieces.append(stack[cut:])
            for removed in stack[cut:]:
                position.pop(int(src[removed]), None)
            del stack[cut:]
        position[node] = len(stack)
        stack.append(edge)
    if stack:
        pieces.append(stack)
    best: tuple[int, ...] | None = None
    best_weight = threshold
    for piece in pieces:
        total = float(weight[piece].sum())
        if len(piece) >= 2 and total < best_weight:
            best, best_weight = tuple(piece), total
    return best


def enumerate_cycles(graph: RateGraph, max_length: int = 4) -> list[tuple[int, ...]]:
    """Every simple cycle of 2 to ``max_length`` legs, whatever its rates (for small graphs:
    the backtest prices each one at every candle). A market bought and sold back is no cycle."""
    out: dict[int, list[int]] = {}
    for index in range(len(graph.edges)):
        out.setdefault(int(graph.src[index]), []).append(index)
    cycles: list[tuple[int, ...]] = []

    def extend(start: int, node: int, path: list[int], visited: set[int]) -> None:
        for edge in out.get(node, []):
            target = int(graph.dst[edge])
            if target == start and len(path) >= 1:
                markets = [graph.edges[e].symbol for e in (*path, edge)]
                if len(set(markets)) == len(markets):
                    cycles.append((*path, edge))
            elif target > start and target not in visited and len(path) + 1 < max_length:
                extend(start, target, [*path, edge], visited | {target})

    for start in range(len(graph.currencies)):
        extend(start, start, [], {start})
    return cycles


# -- sizing on the books (exact) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LegBook:
    edge: Edge
    fee: Decimal
    levels: tuple[Level, ...]  # within the slippage limit, best first
    best: Decimal


def _run(legs: Sequence[_LegBook], amount: Decimal) -> tuple[Decimal, bool, Decimal]:
    """Trade ``amount`` of the start currency round the cycle: the amount back, whether every
    leg filled in full, and the marginal rate (the last level touched on each leg)."""
    marginal = _ONE
    with localcontext(EXACT_CONTEXT):
        for leg in legs:
            if leg.edge.side == "sell":
                walked = walk_base(leg.levels, amount)
                complete = walked.base == amount
                received = walked.quote
                price = walked.last_price or leg.best
                marginal *= price * (_ONE - leg.fee)
            else:
                walked = walk_quote(leg.levels, amount)
                complete = walked.quote == amount
                received = walked.base
                price = walked.last_price or leg.best
                marginal *= (_ONE - leg.fee) / price
            if not complete:
                return _ZERO, False, marginal
            amount = received * (_ONE - leg.fee)
    return amount, True, marginal


def _capacity(leg: _LegBook) -> Decimal:
    """How much of its source currency the first leg can take within the limit."""
    with localcontext(EXACT_CONTEXT):
        if leg.edge.side == "sell":
            return sum((level.amount for level in leg.levels), _ZERO)
        return sum((level.amount * level.price for level in leg.levels), _ZERO)


def rotate_to_usd(graph: RateGraph, cycle: tuple[int, ...]) -> tuple[int, ...]:
    """The cycle started at a USD-like currency when it passes through one."""
    for shift, edge in enumerate(cycle):
        if graph.edges[edge].source in USD_LIKE:
            return cycle[shift:] + cycle[:shift]
    return cycle


def size_cycle(
    exchange: str,
    edges: Sequence[Edge],
    books: Mapping[Symbol, Book],
    costs: Costs,
    size_usd: Decimal | None,
    usd_rates: Mapping[str, Decimal],
) -> Opportunity | None:
    """The cycle ``edges`` sized on ``books`` (the venue's books of its markets), or None when
    its best levels no longer earn the minimum profit."""
    legs: list[_LegBook] = []
    for edge in edges:
        book = books.get(edge.symbol)
        if book is None:
            raise InputError(f"{exchange}: no book for {edge.symbol}, a leg of the cycle")
        fee = costs.fees.taker(exchange, str(edge.symbol))
        if edge.side == "sell":
            if not book.bids:
                return None
            best = book.best_bid
            levels = within(book.bids, costs.sell_limit(best), buying=False)
        else:
            if not book.asks:
                return None
            best = book.best_ask
            levels = within(book.asks, costs.buy_limit(best), buying=True)
        legs.append(_LegBook(edge, fee, levels, best))
    floor = _ONE + costs.min_profit
    with localcontext(EXACT_CONTEXT):
        top_rate = _ONE
        gross_rate = _ONE
        for leg in legs:
            if leg.edge.side == "sell":
                top_rate *= leg.best * (_ONE - leg.fee)
                gross_rate *= leg.best
            else:
                top_rate *= (_ONE - leg.fee) / leg.best
                gross_rate /= leg.best
        if top_rate < floor:
            return None
        low, high = _ZERO, _capacity(legs[0])
        for _ in range(_SIZE_STEPS):
            middle = (low + high) / 2
            _, complete, marginal = _run(legs, middle)
            if complete and marginal >= floor:
                low = middle
            else:
                high = middle
        start = edges[0].source
        rate = usd_rate(start, usd_rates)
        max_amount = low.quantize(Decimal("1e-12"), rounding=ROUND_DOWN)
        if max_amount <= 0:
            return None
        amount = max_amount if size_usd is None else min(size_usd / rate, max_amount)
        back, complete, _ = _run(legs, amount)
        if not complete:
            return None
        profit = back - amount - costs.transfer_usd / rate
        net = profit / amount
    if net < costs.min_profit:
        return None
    at_ms = max(books[edge.symbol].at_ms for edge in edges)
    return Opportunity(
        kind="cycle",
        legs=tuple(
            Leg(exchange, str(leg.edge.symbol), leg.edge.side, leg.best, leg.fee) for leg in legs
        ),
        start_ms=at_ms,
        end_ms=at_ms,
        gross_pct=(gross_rate - _ONE) * _HUNDRED,
        net_pct=net * _HUNDRED,
        max_size_usd=max_amount * rate,
        profit_usd=profit * rate,
        size_usd=amount * rate,
    )


def scan_cycles(
    exchange: str,
    books: Sequence[Book],
    costs: Costs,
    *,
    size_usd: Decimal | None = None,
    usd_rates: Mapping[str, Decimal] | None = None,
    max_length: int = 4,
) -> list[Opportunity]:
    """Every profitable cycle among one venue's ``books``, sized on them."""
    by_symbol = {book.symbol: book for book in books if book.bids and book.asks}
    quotes = [
        MarketQuote(
            symbol,
            float(book.best_bid),
            float(book.best_ask),
            float(costs.fees.taker(exchange, str(symbol))),
        )
        for symbol, book in sorted(by_symbol.items(), key=lambda item: str(item[0]))
    ]
    graph = RateGraph(quotes)
    rates = dict(usd_rates or {})
    rates.update({k: v for k, v in usd_rates_from_books(books).items() if k not in rates})
    found: list[Opportunity] = []
    for cycle in find_cycles(graph, max_length=max_length, min_profit=float(costs.min_profit)):
        rotated = rotate_to_usd(graph, cycle)
        opportunity = size_cycle(
            exchange, [graph.edges[e] for e in rotated], by_symbol, costs, size_usd, rates
        )
        if opportunity is not None:
            found.append(opportunity)
    return sorted(found, key=lambda o: -o.net_pct)


def usd_rates_from_books(books: Sequence[Book]) -> dict[str, Decimal]:
    """USD prices of currencies quoted against USD, USDT or USDC (mid of the best quotes)."""
    rates: dict[str, Decimal] = {}
    for book in sorted(books, key=lambda b: (b.exchange, str(b.symbol))):
        if book.symbol.quote in USD_LIKE and book.bids and book.asks:
            with localcontext(EXACT_CONTEXT):
                rates.setdefault(book.symbol.base, (book.best_bid + book.best_ask) / 2)
    return rates
