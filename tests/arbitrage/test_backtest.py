"""The candle backtest: the shared week of real 1m candles, latency and persistence, the report."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from sigmax.arbitrage.backtest import BacktestConfig, run_backtest
from sigmax.arbitrage.costs import Costs, FeeTable
from sigmax.cli import app

D = Decimal
REALISTIC = FeeTable({"binanceus": D("0.001"), "kraken": D("0.0026")})
FREE = FeeTable({"binanceus": D(0), "kraken": D(0)})


def shared_week() -> Path:
    folder = files("sigmax.data").joinpath("bundled", "arbitrage")
    assert isinstance(folder, Path)
    return folder


def test_the_shared_week_at_realistic_fees_has_no_cross_exchange_edge() -> None:
    result = run_backtest(shared_week(), BacktestConfig(Costs(REALISTIC, min_profit_pct=D(0))))
    # What is there: BTC/USDC on Binance.US and Kraken, the only market both list. Their closes
    # stay within -0.22 % .. +0.32 % of each other all week, inside the 0.38 % that both taker
    # fees (0.1 % + 0.26 %) and the two half spreads cost, so no trade earns anything.
    (spread,) = result.spreads
    assert (spread.market, spread.venue_a, spread.venue_b) == ("BTC/USDC", "binanceus", "kraken")
    lowest, highest = np.nanmin(spread.spread_pct), np.nanmax(spread.spread_pct)
    assert -0.25 < lowest < -0.2
    assert 0.3 < highest < 0.33
    lower, upper = spread.band_pct
    assert lower < lowest
    assert highest < upper
    assert result.summary.count == 0
    # Binance.US lists BTC against USDT, USDC and USD, but no market between those three: no
    # cycle exists, and none is made up through a market that is not in the data.
    assert result.cycles_checked == 0
    assert result.summary.days == D(7)


def test_without_fees_the_same_week_shows_the_edges_the_fees_remove() -> None:
    result = run_backtest(shared_week(), BacktestConfig(Costs(FREE, min_profit_pct=D("0.05"))))
    assert result.summary.count > 0
    for opportunity in result.opportunities:
        assert opportunity.net_pct >= D("0.05")
        assert {leg.exchange for leg in opportunity.legs} == {"binanceus", "kraken"}
    # Every one of them dies once both realistic fees are charged.
    fees_charged = [o for o in result.opportunities if o.gross_pct - D("0.38") > D("0.05")]
    assert fees_charged == []


def write(folder: Path, name: str, closes: list[float], volume: float = 1.0) -> None:
    start = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
    rows = ["timestamp,open,high,low,close,volume"]
    for i, close in enumerate(closes):
        rows.append(f"{start + i * 60_000},{close},{close},{close},{close},{volume}")
    (folder / name).write_text("\n".join(rows) + "\n")


def test_an_edge_counts_only_while_it_lasts_the_latency(tmp_path: Path) -> None:
    base = [100.0] * 12
    other = [100.0] * 12
    other[2] = 101.0  # one minute at +1 %
    other[6] = other[7] = other[8] = 101.0  # three minutes at +1 %
    write(tmp_path, "aaa_BTC-USDT_1m.csv", base)
    write(tmp_path, "bbb_BTC-USDT_1m.csv", other)
    fees = FeeTable({"aaa": D("0.001"), "bbb": D("0.001")})

    def count(latency: int) -> list[float]:
        config = BacktestConfig(Costs(fees, min_profit_pct=D("0.1")), latency_s=D(latency))
        return [float(o.duration_s) for o in run_backtest(tmp_path, config).opportunities]

    assert count(0) == [60.0, 180.0]
    # 60 s: the sell leg is priced a minute after the buy; both runs last at least that long.
    assert count(60) == [60.0, 180.0]
    assert count(120) == [180.0]
    assert count(181) == []
    config = BacktestConfig(Costs(fees, min_profit_pct=D("0.1")), latency_s=D(60))
    first = run_backtest(tmp_path, config).opportunities[0]
    # Bought at the close of minute 1 (the minute before the jump), sold at minute 2's close.
    assert first.legs[0].price == D(100) * (1 + D("0.0001"))
    assert first.legs[1].price == D(101) * (1 - D("0.0001"))


def test_the_cli_writes_json_and_the_report(tmp_path: Path, sigmax_home: Path) -> None:
    report = tmp_path / "arb.html"
    result = CliRunner().invoke(
        app,
        [
            "arbitrage",
            "backtest",
            "--data",
            str(shared_week()),
            "--fee",
            "binanceus=0",
            "--fee",
            "kraken=0",
            "--min-profit",
            "0.05",
            "--latency",
            "60",
            "--json",
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert set(document["summary"]) >= {"count", "total_profit_usd", "per_day"}
    first = document["opportunities"][0]
    assert set(first) >= {
        "kind",
        "legs",
        "start",
        "end",
        "duration_s",
        "gross_pct",
        "net_pct",
        "max_size_usd",
        "profit_usd",
    }
    assert set(first["legs"][0]) == {"exchange", "market", "side", "price", "fee"}
    assert first["duration_s"] >= 60
    page = report.read_text()
    assert "fee band" in page
    assert f"opportunities ({document['summary']['count']})" in page


def test_a_minute_without_trades_is_no_quote(tmp_path: Path) -> None:
    start = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
    write(tmp_path, "aaa_BTC-USDT_1m.csv", [100.0] * 4)
    rows = ["timestamp,open,high,low,close,volume"]
    for i, (close, volume) in enumerate([(100.0, 1), (105.0, 0), (100.0, 1), (100.0, 1)]):
        rows.append(f"{start + i * 60_000},{close},{close},{close},{close},{volume}")
    (tmp_path / "bbb_BTC-USDT_1m.csv").write_text("\n".join(rows) + "\n")
    fees = FeeTable({"aaa": D("0.001"), "bbb": D("0.001")})
    result = run_backtest(tmp_path, BacktestConfig(Costs(fees, min_profit_pct=D("0.1"))))
    # The 5 % jump printed on a minute in which nothing traded is no price anyone could get.
    assert result.opportunities == []
