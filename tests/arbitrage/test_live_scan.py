"""The live scan through ccxt against the loopback Binance and the Kraken stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from sigmax.arbitrage.costs import Costs, FeeTable
from sigmax.arbitrage.live import ScanRequest, scan
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError
from support.binance_server import BinanceLoopback
from support.kraken_server import KrakenLoopback

D = Decimal


def kraken_books(kraken: KrakenLoopback, binance_ask: Decimal) -> None:
    """Kraken bids BTC/USDT 1 % over Binance's ask (0.05 BTC deep), and misprices a triangle."""
    over = (binance_ask * D("1.01")).quantize(D("0.1"))
    kraken.set_book(
        "XBTUSDT", [(over, D("0.05")), (over - 400, D("2"))], [(over + D("0.1"), D("1"))]
    )
    kraken.set_book("XXBTZUSD", [(D("27000.0"), D("1"))], [(D("27000.1"), D("1"))])
    kraken.set_book("XETHXXBT", [(D("0.06000"), D("10"))], [(D("0.06001"), D("10"))])
    # 27000 x 0.06 = 1620: ETH bid at 1650 in USD pays +1.8 % round USD -> BTC -> ETH -> USD.
    kraken.set_book(
        "XETHZUSD", [(D("1650.00"), D("3")), (D("1600.00"), D("50"))], [(D("1651.00"), D("3"))]
    )
    kraken.set_book("USDTZUSD", [(D("0.99990"), D("100000"))], [(D("1.00000"), D("100000"))])


async def test_the_scan_finds_the_cross_exchange_edge_and_the_cycle(
    binance_loopback: BinanceLoopback,
) -> None:
    async with KrakenLoopback() as kraken:
        _, asks = binance_loopback.book("BTCUSDT", 1)
        kraken_books(kraken, asks[0][0])
        request = ScanRequest(
            exchanges=("binance", "kraken"),
            symbols=None,
            costs=Costs(FeeTable({}), min_profit_pct=D("0.1")),
            size_usd=D(1000),
            api_base_urls={"binance": binance_loopback.base_url, "kraken": kraken.base_url},
        )
        result = await scan(request)
    # Fees came from each exchange's market data: Binance 0.1 %, Kraken's first tier 0.26 %.
    assert result.fees.taker("binance", "BTC/USDT") == D("0.001")
    assert result.fees.taker("kraken", "BTC/USDT") == D("0.0026")
    kinds = sorted(o.kind for o in result.opportunities)
    assert kinds == ["cross_exchange", "cycle"]
    cross = next(o for o in result.opportunities if o.kind == "cross_exchange")
    assert [(leg.exchange, leg.side) for leg in cross.legs] == [
        ("binance", "buy"),
        ("kraken", "sell"),
    ]
    assert D("0.5") < cross.net_pct < D("0.7")  # 1 % - 0.1 % - 0.26 % - the book's spread
    # Kraken bids only 0.05 BTC at the edge: that is all the size there is.
    assert cross.max_size_usd < D("0.051") * asks[0][0]
    cycle = next(o for o in result.opportunities if o.kind == "cycle")
    assert [leg.market for leg in cycle.legs] == ["BTC/USD", "ETH/BTC", "ETH/USD"]
    assert cycle.legs[0].side == "buy"
    assert cycle.legs[-1].side == "sell"
    expected = (D(1650) / (D("27000.1") * D("0.06001")) * D("0.9974") ** 3 - 1) * 100
    assert abs(cycle.net_pct - expected) < D("1e-9")
    # Only 3 ETH bid at 1650: the size stops there.
    assert cycle.max_size_usd < D(3) * D("0.06001") * D("27000.1") / D("0.9974") ** 2 + 1


async def test_the_command_scans_through_the_stand_ins(
    binance_loopback: BinanceLoopback, sigmax_home: Path
) -> None:
    async with KrakenLoopback() as kraken:
        _, asks = binance_loopback.book("BTCUSDT", 1)
        kraken_books(kraken, asks[0][0])
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from sigmax.cli import main; main()",
            "arbitrage",
            "scan",
            "--exchanges",
            "binance,kraken",
            "--symbols",
            "BTC/USDT",
            "--no-cycles",
            "--min-profit",
            "0.1",
            "--size",
            "500",
            "--json",
            "--api-base",
            f"binance={binance_loopback.base_url}",
            "--api-base",
            f"kraken={kraken.base_url}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ),
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    document = json.loads(out)
    assert document["summary"]["count"] == 1
    (opportunity,) = document["opportunities"]
    assert opportunity["kind"] == "cross_exchange"
    assert [leg["exchange"] for leg in opportunity["legs"]] == ["binance", "kraken"]
    assert [leg["fee"] for leg in opportunity["legs"]] == ["0.001", "0.0026"]
    assert D(opportunity["profit_usd"]) > 0


async def test_a_symbol_no_exchange_lists_is_refused(binance_loopback: BinanceLoopback) -> None:
    async with KrakenLoopback() as kraken:
        request = ScanRequest(
            exchanges=("binance", "kraken"),
            symbols=(Symbol.parse("DOGE/USDT"),),
            costs=Costs(FeeTable({})),
            size_usd=None,
            api_base_urls={"binance": binance_loopback.base_url, "kraken": kraken.base_url},
        )
        with pytest.raises(InputError, match="DOGE/USDT is listed on none of binance, kraken"):
            await scan(request)
