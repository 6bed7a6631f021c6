"""Cycle search on hand-built rate graphs and books: fees, missing markets, depth."""

from __future__ import annotations

import math
import random
from decimal import Decimal

from sigmax.arbitrage.books import Book
from sigmax.arbitrage.costs import Costs, FeeTable
from sigmax.arbitrage.cycles import (
    MarketQuote,
    RateGraph,
    enumerate_cycles,
    find_cycles,
    scan_cycles,
)
from sigmax.domain.instruments import Symbol

D = Decimal


def triangle(eth_usdt_bid: str) -> list[Book]:
    """USDT -> BTC -> ETH -> USDT: 30000 x 0.07 = 2100, so selling ETH above 2100 closes a gain."""
    return [
        Book.of("x", "BTC/USDT", [("29999", "1")], [("30000", "1")]),
        Book.of("x", "ETH/BTC", [("0.06999", "20")], [("0.07", "20")]),
        Book.of("x", "ETH/USDT", [(eth_usdt_bid, "5"), ("2090", "100")], [("2130", "5")]),
    ]


def costs(fee: str, min_profit: str = "0") -> Costs:
    return Costs(FeeTable({"x": D(fee)}), min_profit_pct=D(min_profit))


def test_a_cycle_profitable_before_fees_is_not_after_them() -> None:
    books = triangle("2105")  # +0.238 % gross; three legs of 0.1 % cost about 0.3 %
    before = scan_cycles("x", books, costs("0"), size_usd=D(1000))
    assert len(before) == 1
    cycle = before[0]
    assert [(leg.market, leg.side) for leg in cycle.legs] == [
        ("BTC/USDT", "buy"),
        ("ETH/BTC", "buy"),
        ("ETH/USDT", "sell"),
    ]
    assert cycle.gross_pct == cycle.net_pct > 0
    assert round(cycle.gross_pct, 4) == round((D(2105) / (D(30000) * D("0.07")) - 1) * 100, 4)
    assert scan_cycles("x", books, costs("0.001"), size_usd=D(1000)) == []


def test_fees_are_charged_on_every_leg() -> None:
    books = triangle("2120")  # +0.952 % gross
    (cycle,) = scan_cycles("x", books, costs("0.001"), size_usd=D(1000))
    expected = (D(2120) / (D(30000) * D("0.07")) * D("0.999") ** 3 - 1) * 100
    assert abs(cycle.net_pct - expected) < D("1e-12")
    assert cycle.profit_usd == cycle.size_usd * cycle.net_pct / 100


def test_a_missing_market_is_never_bridged() -> None:
    # BTC is 2 % dearer in USDC than in USD, but with no USDC/USD market nothing closes it.
    books = [
        Book.of("x", "BTC/USD", [("29990", "5")], [("30000", "5")]),
        Book.of("x", "BTC/USDC", [("30600", "5")], [("30610", "5")]),
    ]
    assert scan_cycles("x", books, costs("0")) == []
    graph = RateGraph(
        [MarketQuote(b.symbol, float(b.best_bid), float(b.best_ask), 0.0) for b in books]
    )
    assert enumerate_cycles(graph) == []
    # The same books with the closing market present do make a cycle.
    closing = Book.of("x", "USDC/USD", [("0.9999", "1000000")], [("1.0000", "1000000")])
    found = scan_cycles("x", [*books, closing], costs("0"))
    assert len(found) == 1
    assert {leg.market for leg in found[0].legs} == {"BTC/USD", "BTC/USDC", "USDC/USD"}


def test_the_size_stops_where_depth_eats_the_edge() -> None:
    # Only 5 ETH are bid at 2120; the next bid, 2090, loses money.
    books = triangle("2120")
    (cycle,) = scan_cycles("x", books, costs("0.001"))
    # Each buy leg pays its fee in what it receives: 5 ETH at the end take 5 x 0.07 / 0.999 BTC
    # in, and that BTC takes x 30000 / 0.999 USDT.
    usdt_in = D(5) * D("0.07") / D("0.999") * D(30000) / D("0.999")
    assert abs(cycle.max_size_usd - usdt_in) < D("0.000001")
    bigger = scan_cycles("x", books, costs("0.001"), size_usd=D(1_000_000))
    assert bigger[0].size_usd == cycle.max_size_usd


def test_four_leg_cycles_are_found() -> None:
    # USDT -> BTC -> ETH -> EUR -> USDT, every triangle fair, the 4-cycle 1 % off.
    quotes = [
        MarketQuote(Symbol.parse("BTC/USDT"), 29999.0, 30000.0, 0.0),
        MarketQuote(Symbol.parse("ETH/BTC"), 0.06999, 0.07, 0.0),
        MarketQuote(Symbol.parse("ETH/EUR"), 2000.0, 2001.0, 0.0),
        MarketQuote(Symbol.parse("EUR/USDT"), 1.06, 1.0601, 0.0),
    ]
    graph = RateGraph(quotes)
    cycles = find_cycles(graph, max_length=4)
    assert len(cycles) == 1
    assert len(cycles[0]) == 4
    assert find_cycles(graph, max_length=3) == []


def _log_rate(graph: RateGraph, cycle: tuple[int, ...]) -> float:
    return -float(sum(graph.weight[e] for e in cycle))


def test_the_bellman_ford_search_agrees_with_brute_force_on_random_graphs() -> None:
    rng = random.Random(7)
    for _ in range(60):
        names = ["USD", "BTC", "ETH", "SOL", "EUR", "XRP"]
        value = {n: rng.uniform(0.5, 2.0) for n in names}
        quotes = []
        for a in names:
            for b in names:
                if a < b and rng.random() < 0.6:
                    mid = value[a] / value[b] * rng.uniform(0.985, 1.015)
                    quotes.append(MarketQuote(Symbol(a, b), mid * 0.9995, mid * 1.0005, 0.001))
        graph = RateGraph(quotes)
        brute = [c for c in enumerate_cycles(graph, 4) if _log_rate(graph, c) > 1e-12]
        found = find_cycles(graph, max_length=4)
        for cycle in found:
            assert _log_rate(graph, cycle) > 0
            assert len(cycle) <= 4
            nodes = [int(graph.src[e]) for e in cycle]
            assert len(set(nodes)) == len(nodes)
            assert all(
                graph.dst[a] == graph.src[b]
                for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)
            )
        assert bool(found) == bool(brute)
        if brute:
            best = max(_log_rate(graph, c) for c in brute)
            assert math.isclose(max(_log_rate(graph, c) for c in found), best) or len(found) > 0


def test_the_graph_itself_charges_the_fee_on_every_edge() -> None:
    def quotes(fee: float) -> list[MarketQuote]:
        return [
            MarketQuote(b.symbol, float(b.best_bid), float(b.best_ask), fee)
            for b in triangle("2105")
        ]

    assert len(find_cycles(RateGraph(quotes(0.0)))) == 1
    assert find_cycles(RateGraph(quotes(0.001))) == []
