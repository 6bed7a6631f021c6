"""Cross-exchange edges on hand-built books: fees on both legs, depth, transfer cost."""

from __future__ import annotations

from decimal import Decimal

from sigmax.arbitrage.books import Book
from sigmax.arbitrage.costs import Costs, FeeTable
from sigmax.arbitrage.cross import scan_cross

D = Decimal
FEES = FeeTable({"a": D("0.001"), "b": D("0.0026")})


def test_an_edge_is_net_of_both_taker_fees() -> None:
    books = [
        Book.of("a", "BTC/USDT", [("29990", "1")], [("30000", "1")]),
        Book.of("b", "BTC/USDT", [("30200", "1")], [("30210", "1")]),
    ]
    (edge,) = scan_cross(books, Costs(FEES), size_usd=D(3000))
    assert [(leg.exchange, leg.side) for leg in edge.legs] == [("a", "buy"), ("b", "sell")]
    assert abs(edge.gross_pct - (D(30200) / D(30000) - 1) * 100) < D("1e-20")
    expected = (D(30200) * D("0.9974") - D(30000) * D("1.001")) / D(30000) * 100
    assert abs(edge.net_pct - expected) < D("1e-20")
    assert edge.profit_usd == D("0.1") * (D(30200) * D("0.9974") - D(30000) * D("1.001"))


def test_fees_larger_than_the_spread_leave_nothing() -> None:
    books = [
        Book.of("a", "BTC/USDT", [("29990", "1")], [("30000", "1")]),
        Book.of("b", "BTC/USDT", [("30100", "1")], [("30110", "1")]),  # +0.33 % < 0.36 %
    ]
    assert scan_cross(books, Costs(FEES)) == []
    assert len(scan_cross(books, Costs(FeeTable({"a": D(0), "b": D(0)})))) == 1


def test_a_cross_exchange_edge_is_eaten_by_depth() -> None:
    # 0.01 BTC is on offer at the edge; the next levels cross back to a loss.
    books = [
        Book.of("a", "BTC/USDT", [("29990", "5")], [("30000", "0.01"), ("30150", "5")]),
        Book.of("b", "BTC/USDT", [("30200", "0.01"), ("30100", "5")], [("30300", "5")]),
    ]
    (edge,) = scan_cross(books, Costs(FEES), size_usd=D(10_000))
    assert edge.max_size_usd == D("300.00")  # 0.01 BTC at 30000
    assert edge.size_usd == D("300.00")
    top_only = D("0.01") * (D(30200) * D("0.9974") - D(30000) * D("1.001"))
    assert edge.profit_usd == top_only
    # Walking 10,000 USD through both books would have lost money: the scan never does.
    assert edge.profit_usd > 0


def test_the_slippage_limit_bounds_the_walk() -> None:
    books = [
        Book.of("a", "BTC/USDT", [("29990", "5")], [("30000", "0.01"), ("30100", "1")]),
        Book.of("b", "BTC/USDT", [("31000", "2")], [("31010", "5")]),
    ]
    wide = scan_cross(books, Costs(FEES, slippage_limit_pct=D(1)))
    narrow = scan_cross(books, Costs(FEES, slippage_limit_pct=D("0.1")))
    assert wide[0].max_size_usd == D(300) + D(30100)
    assert narrow[0].max_size_usd == D(300)


def test_the_transfer_cost_is_paid() -> None:
    books = [
        Book.of("a", "BTC/USDT", [("29990", "1")], [("30000", "1")]),
        Book.of("b", "BTC/USDT", [("30300", "1")], [("30310", "1")]),
    ]
    free = scan_cross(books, Costs(FEES), size_usd=D(30000))[0]
    paid = scan_cross(
        books, Costs(FEES, transfer_pct=D("0.1"), transfer_usd=D(5)), size_usd=D(30000)
    )[0]
    assert free.profit_usd - paid.profit_usd == D(30) + D(5)


def test_different_quote_currencies_are_never_compared() -> None:
    books = [
        Book.of("a", "BTC/USDT", [("29990", "1")], [("30000", "1")]),
        Book.of("b", "BTC/USDC", [("31000", "1")], [("31010", "1")]),
    ]
    assert scan_cross(books, Costs(FeeTable({"a": D(0), "b": D(0)}))) == []
