"""``GET /api/status`` answers the runbook's ``jq '.performance.daily_pnl'`` with numbers."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from api.api_harness import LiveApi, serving
from sigmax.api.performance import closed_trade_results
from sigmax.engine.account import read_trades


@pytest.fixture(scope="module")
def api(completed_home: Path) -> Iterator[LiveApi]:
    with serving(completed_home) as live:
        yield live


def test_status_has_the_runbooks_performance_numbers(api: LiveApi) -> None:
    status = api.client.get("/api/status")
    assert status.status_code == 200, status.text
    performance = status.json()["performance"]
    portfolio = api.client.get("/api/portfolio").json()
    for key in ("daily_pnl", "total_pnl", "equity"):
        assert isinstance(performance[key], float), key
    # The same figures as the portfolio's exact decimal text, as JSON numbers.
    assert performance["equity"] == float(Decimal(portfolio["total_value_usd"]))
    assert performance["daily_pnl"] == float(Decimal(portfolio["daily_pnl"]))
    capital = Decimal(performance["starting_capital"])
    assert performance["total_pnl"] == float(Decimal(portfolio["total_value_usd"]) - capital)

    won, closed = closed_trade_results(read_trades(api.account))
    assert closed >= 2, "the completed run must close trades for this test to mean much"
    assert performance["closed_trades"] == closed
    assert performance["win_rate"] == won / closed
    assert 0 <= performance["win_rate"] <= 1
