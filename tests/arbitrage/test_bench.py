"""``sigmax bench arbitrage --json``: both speed figures, on the data it says it uses."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sigmax.arbitrage.cycles import RateGraph, enumerate_cycles, find_cycles
from sigmax.bench.arbitrage_bench import synthetic_venue
from sigmax.cli import app


def test_the_bench_prints_both_figures_within_their_targets() -> None:
    result = CliRunner().invoke(app, ["bench", "arbitrage", "--repeats", "1", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert 100_000 < figures["backtest_candles"] < 121_000
    assert figures["cycle_scan_markets"] == 2000
    assert 0 < figures["backtest_seconds"] < 2.0
    assert 0 < figures["cycle_scan_ms"] < 100.0
    assert figures["cycle_scan_cycles_found"] > 0
    assert figures["machine"]["cores"] >= 1


def test_the_cycles_found_pass_through_the_mispriced_markets() -> None:
    quotes = synthetic_venue()
    graph = RateGraph(quotes)
    found = find_cycles(graph, max_length=4)
    found_markets = {graph.edges[e].symbol for cycle in found for e in cycle}
    # The five mispriced markets are the only ones off their fair price; each found cycle
    # passes through one of them, and none is made of fair markets alone.
    fair = {q.symbol for q in quotes[:16]}
    for cycle in found:
        assert any(graph.edges[e].symbol not in fair for e in cycle)
    assert found_markets
    # A smaller venue checked exhaustively: the search misses nothing brute force finds.
    small = RateGraph(synthetic_venue(markets=120, seed=3))
    brute = [
        c for c in enumerate_cycles(small, 4) if -float(sum(small.weight[e] for e in c)) > 1e-12
    ]
    assert bool(find_cycles(small, max_length=4)) == bool(brute)
