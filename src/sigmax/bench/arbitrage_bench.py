"""``sigmax bench arbitrage``: the arbitrage backtest's and the cycle search's speed.

* ``backtest_seconds``: ``sigmax arbitrage backtest`` over three weeks of 1m candles on four
  markets (BTC/USDT and ETH/USDT on two venues; 120,960 grid minutes, about 9 % of one venue's
  minutes left out as untraded, so about 110,000 candles), from reading and validating the CSV
  files to the priced opportunities. The candles are synthetic (a seeded random walk per asset,
  each venue with its own noise) so the figure does not depend on what the bundled week holds;
  median of ``repeats`` cold runs.
* ``cycle_scan_ms``: building the rate graph of a synthetic venue with 2,000 markets (about
  800 currencies, quoted against USDT, BTC, ETH, BNB, USDC, EUR, TRY and FDUSD as a large
  exchange lists them; fair prices with a 2-20 bp spread, 0.1 % fees, and five markets
  mispriced so that profitable cycles exist) and finding its profitable cycles of up to four
  legs; median of ``repeats``. Sizing the cycles found on their books is not included (it reads
  only their legs' books).
"""

from __future__ import annotations

import math
import random
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sigmax.arbitrage.backtest import BacktestConfig, run_backtest
from sigmax.arbitrage.costs import Costs, FeeTable
from sigmax.arbitrage.cycles import MarketQuote, RateGraph, find_cycles
from sigmax.bench.machine import machine_info
from sigmax.domain.instruments import Symbol

TARGET_BACKTEST_SECONDS = 2.0
TARGET_CYCLE_SCAN_MS = 100.0
MINUTES = 21 * 24 * 60
_START_MS = 1_677_628_800_000  # 2023-03-01 00:00 UTC


def write_synthetic_candles(folder: Path, seed: int = 20230301) -> int:
    """Four 1m candle files (two markets on two venues); the number of candles written."""
    rng = random.Random(seed)
    written = 0
    paths = {"BTC": [23000.0], "ETH": [1600.0]}
    for asset, path in paths.items():
        price = path[0]
        for _ in range(MINUTES - 1):
            price *= math.exp(rng.gauss(0, 0.0008))
            path.append(price)
        paths[asset] = path
    for venue, noise, skip in (("venuea", 0.0002, 0.0), ("venueb", 0.0006, 0.18)):
        for asset, path in paths.items():
            lines = ["timestamp,open,high,low,close,volume"]
            previous = path[0]
            for minute, mid in enumerate(path):
                if skip and rng.random() < skip:
                    continue
                close = round(mid * (1 + rng.gauss(0, noise)), 2)
                high = max(previous, close) * 1.0002
                low = min(previous, close) * 0.9998
                volume = round(rng.uniform(0.01, 3.0), 5)
                lines.append(
                    f"{_START_MS + minute * 60_000},{previous:.2f},{high:.2f},{low:.2f},"
                    f"{close:.2f},{volume}"
                )
                previous = close
                written += 1
            (folder / f"{venue}_{asset}-USDT_1m.csv").write_text("\n".join(lines) + "\n")
    return written


def synthetic_venue(markets: int = 2000, seed: int = 7) -> list[MarketQuote]:
    """A large exchange's market list with fair quotes and five mispriced markets."""
    rng = random.Random(seed)
    quotes_ccy = ["USDT", "BTC", "ETH", "BNB", "USDC", "EUR", "TRY", "FDUSD"]
    value = {"USDT": 1.0, "USDC": 1.0, "FDUSD": 1.0, "BTC": 30000.0, "ETH": 2000.0,
             "BNB": 250.0, "EUR": 1.08, "TRY": 0.037}  # fmt: skip
    share = [0.40, 0.22, 0.10, 0.06, 0.08, 0.05, 0.05, 0.04]
    pairs: list[tuple[str, str]] = [
        ("BTC", "USDT"), ("ETH", "USDT"), ("BNB", "USDT"), ("ETH", "BTC"), ("BNB", "BTC"),
        ("BNB", "ETH"), ("USDC", "USDT"), ("FDUSD", "USDT"), ("EUR", "USDT"), ("USDT", "TRY"),
        ("BTC", "EUR"), ("ETH", "EUR"), ("BTC", "TRY"), ("BTC", "USDC"), ("ETH", "USDC"),
        ("BTC", "FDUSD"),
    ]  # fmt: skip
    seen = set(pairs)
    base_index = 0
    while len(pairs) < markets:
        base = f"C{base_index:04d}"
        base_index += 1
        value[base] = math.exp(rng.uniform(-6, 6))
        for quote, probability in zip(quotes_ccy, share, strict=True):
            listed = quote == "USDT" or rng.random() < probability * 2
            if len(pairs) < markets and listed and (base, quote) not in seen:
                pairs.append((base, quote))
                seen.add((base, quote))
    out = []
    mispriced = set(rng.sample(range(16, len(pairs)), 5))
    for index, (base, quote) in enumerate(pairs):
        mid = value[base] / value[quote]
        if index in mispriced:
            mid *= 1.03
        half = mid * rng.uniform(0.0001, 0.001)
        out.append(MarketQuote(Symbol(base, quote), mid - half, mid + half, 0.001))
    return out


def run_arbitrage_bench(repeats: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sigmax-arb-bench-") as folder:
        data = Path(folder)
        candles = write_synthetic_candles(data)
        fees = FeeTable({"venuea": Decimal("0.001"), "venueb": Decimal("0.001")})
        config = BacktestConfig(Costs(fees, min_profit_pct=Decimal("0.05")), latency_s=Decimal(2))
        timings = []
        found = 0
        for _ in range(repeats):
            started = time.perf_counter()
            result = run_backtest(data, config)
            timings.append(time.perf_counter() - started)
            found = result.summary.count
    quotes = synthetic_venue()
    scan_ms = []
    cycles: list[tuple[int, ...]] = []
    for _ in range(repeats):
        started = time.perf_counter()
        graph = RateGraph(quotes)
        cycles = find_cycles(graph, max_length=4, min_profit=0.0)
        scan_ms.append((time.perf_counter() - started) * 1000)
    backtest_seconds = statistics.median(timings)
    cycle_scan_ms = statistics.median(scan_ms)
    return {
        "benchmark": "arbitrage",
        "backtest_seconds": round(backtest_seconds, 4),
        "backtest_candles": candles,
        "backtest_opportunities": found,
        "backtest_target_seconds": TARGET_BACKTEST_SECONDS,
        "cycle_scan_ms": round(cycle_scan_ms, 2),
        "cycle_scan_markets": len(quotes),
        "cycle_scan_currencies": len(graph.currencies),
        "cycle_scan_cycles_found": len(cycles),
        "cycle_scan_target_ms": TARGET_CYCLE_SCAN_MS,
        "repeats": repeats,
        "within_targets": backtest_seconds < TARGET_BACKTEST_SECONDS
        and cycle_scan_ms < TARGET_CYCLE_SCAN_MS,
        "machine": machine_info("numpy", "ccxt"),
    }
