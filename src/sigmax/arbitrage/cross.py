"""Cross-exchange edges: one market quoted on several venues, bought on one and sold on another.

For each ordered pair of venues (buy on A, sell on B) the edge at the best quotes is

    gross = bid_B / ask_A - 1
    net   = bid_B x (1 - fee_B) / (ask_A x (1 + fee_A)) - 1 - transfer

and the size is found by walking both books together, best levels first: the walk stops at
the first pair of levels whose *marginal* net edge falls below the minimum profit, or when a
level lies beyond the slippage limit from the best price. The depth walked is ``max_size_usd``;
the profit is then worked out exactly (decimals) at ``min(size, max_size_usd)``, every fee and
the transfer cost paid. Only the same market is compared: BTC/USDC on one venue is never set
against BTC/USDT on another, which would assume a USDC/USDT market that nobody quoted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, localcontext

from sigmax.arbitrage.books import Book, Level, walk_base, walk_quote, within
from sigmax.arbitrage.costs import Costs
from sigmax.arbitrage.model import USD_LIKE, Leg, Opportunity
from sigmax.errors import InputError
from sigmax.execution.fill_model import EXACT_CONTEXT

_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)


def usd_rate(currency: str, usd_rates: Mapping[str, Decimal]) -> Decimal:
    """How many USD one unit of ``currency`` is worth (1 for USD, USDT, USDC)."""
    if currency in USD_LIKE:
        return _ONE
    rate = usd_rates.get(currency)
    if rate is None:
        raise InputError(
            f"no USD price for {currency}: scan a {currency}/USDT, {currency}/USD or "
            f"{currency}/USDC market too, so sizes can be told in USD"
        )
    return rate


def marginal_edge(
    buy_price: Decimal, sell_price: Decimal, buy_fee: Decimal, sell_fee: Decimal, transfer: Decimal
) -> Decimal:
    """The net edge (fraction) of one unit bought at ``buy_price`` and sold at ``sell_price``."""
    with localcontext(EXACT_CONTEXT):
        return sell_price * (_ONE - sell_fee) / (buy_price * (_ONE + buy_fee)) - _ONE - transfer


def cross_edge(
    buy: Book,
    sell: Book,
    costs: Costs,
    size_usd: Decimal | None,
    usd_rates: Mapping[str, Decimal],
) -> Opportunity | None:
    """The opportunity of buying on ``buy`` and selling on ``sell`` now, or None."""
    if buy.symbol != sell.symbol:
        raise InputError(
            f"cross-exchange legs must trade one market ({buy.symbol} vs {sell.symbol})"
        )
    if buy.exchange == sell.exchange or not buy.asks or not sell.bids:
        return None
    market = str(buy.symbol)
    fee_buy = costs.fees.taker(buy.exchange, market)
    fee_sell = costs.fees.taker(sell.exchange, market)
    ask0, bid0 = buy.best_ask, sell.best_bid
    if marginal_edge(ask0, bid0, fee_buy, fee_sell, costs.transfer) < costs.min_profit:
        return None
    asks = within(buy.asks, costs.buy_limit(ask0), buying=True)
    bids = within(sell.bids, costs.sell_limit(bid0), buying=False)
    max_qty, max_cost = _profitable_depth(asks, bids, fee_buy, fee_sell, costs)
    rate = usd_rate(buy.symbol.quote, usd_rates)
    with localcontext(EXACT_CONTEXT):
        max_size_usd = max_cost * rate
        taken_usd = max_size_usd if size_usd is None else min(size_usd, max_size_usd)
        qty = min(walk_quote(asks, taken_usd / rate).base, max_qty)
        if qty <= 0:
            return None
        cost = walk_base(asks, qty).quote
        proceeds = walk_base(bids, qty).quote
        fees = cost * fee_buy + proceeds * fee_sell
        transfer = cost * costs.transfer + costs.transfer_usd / rate
        profit = proceeds - cost - fees - transfer
        net = profit / cost
        gross = bid0 / ask0 - _ONE
    if net < costs.min_profit:
        return None
    at_ms = max(buy.at_ms, sell.at_ms)
    return Opportunity(
        kind="cross_exchange",
        legs=(
            Leg(buy.exchange, market, "buy", ask0, fee_buy),
            Leg(sell.exchange, market, "sell", bid0, fee_sell),
        ),
        start_ms=at_ms,
        end_ms=at_ms,
        gross_pct=gross * _HUNDRED,
        net_pct=net * _HUNDRED,
        max_size_usd=max_size_usd,
        profit_usd=profit * rate,
        size_usd=cost * rate,
    )


def _profitable_depth(
    asks: Sequence[Level],
    bids: Sequence[Level],
    fee_buy: Decimal,
    fee_sell: Decimal,
    costs: Costs,
) -> tuple[Decimal, Decimal]:
    """Base amount and quote cost bought while each marginal unit still earns the minimum."""
    qty, cost = _ZERO, _ZERO
    i = j = 0
    left_ask = asks[0].amount if asks else _ZERO
    left_bid = bids[0].amount if bids else _ZERO
    with localcontext(EXACT_CONTEXT):
        while i < len(asks) and j < len(bids):
            ask, bid = asks[i], bids[j]
            edge = marginal_edge(ask.price, bid.price, fee_buy, fee_sell, costs.transfer)
            if edge < costs.min_profit:
                break
            amount = min(left_ask, left_bid)
            qty += amount
            cost += amount * ask.price
            left_ask -= amount
            left_bid -= amount
            if left_ask == 0:
                i += 1
                left_ask = asks[i].amount if i < len(asks) else _ZERO
            if left_bid == 0:
                j += 1
                left_bid = bids[j].amount if j < len(bids) else _ZERO
    return qty, cost


def scan_cross(
    books: Sequence[Book],
    costs: Costs,
    size_usd: Decimal | None = None,
    usd_rates: Mapping[str, Decimal] | None = None,
) -> list[Opportunity]:
    """Every cross-exchange opportunity among ``books`` (several venues per market)."""
    rates = dict(usd_rates or {})
    by_market: dict[str, list[Book]] = {}
    for book in books:
        by_market.setdefault(str(book.symbol), []).append(book)
    found: list[Opportunity] = []
    for market in sorted(by_market):
        venues = sorted(by_market[market], key=lambda b: b.exchange)
        for buy in venues:
            for sell in venues:
                opportunity = cross_edge(buy, sell, costs, size_usd, rates)
                if opportunity is not None:
                    found.append(opportunity)
    return sorted(found, key=lambda o: -o.net_pct)
