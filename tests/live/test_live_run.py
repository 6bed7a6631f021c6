"""``sigmax run --mode live`` through real ccxt against the signed Binance spot stand-in.

The stand-in's clock is the only clock: the run reads it as "now" and its waits move it on
(matching resting orders against every candle that closed meanwhile), so hours of candles run in
seconds. Its klines are the bundled candles, the same that drive its matching engine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from engine.account_runs import clean_home
from sigmax.cli import app
from sigmax.engine.account import open_account_home
from sigmax.engine.reconcile_service import reconcile_stored_run
from sigmax.engine.runner import RunOptions, run_paper
from support.binance_server import DEFAULT_NOW_MS, BinanceLoopback
from support.binance_spot import BinanceSpotStandIn

HOUR = 3_600_000
SYMBOLS = ("BTC/USDT", "ETH/USDT")
FIRST_CLOSE = DEFAULT_NOW_MS // HOUR * HOUR
CLOSES = 8


class StandInTime:
    """``now`` is the server's clock; ``sleep`` advances it (and its matching)."""

    def __init__(self, server: BinanceLoopback) -> None:
        self.server = server

    def now(self) -> int:
        return self.server.now_ms

    async def sleep(self, seconds: float) -> None:
        target = self.server.now_ms + round(seconds * 1000)
        if isinstance(self.server, BinanceSpotStandIn):
            self.server.advance_to(target)
        else:
            self.server.now_ms = target


@pytest.fixture
async def spot() -> AsyncIterator[BinanceSpotStandIn]:
    async with BinanceSpotStandIn(balances={"USDT": Decimal("1000")}) as stand_in:
        yield stand_in


@contextmanager
def live_env(monkeypatch: pytest.MonkeyPatch, server: BinanceSpotStandIn) -> Iterator[None]:
    with monkeypatch.context() as patch:
        patch.setenv("SIGMAX_EXCHANGE_URL", server.base_url)
        patch.setenv("API_KEY", server.api_key)
        patch.setenv("API_SECRET", server.api_secret)
        patch.setenv("TESTNET", "false")
        patch.setenv("EXCHANGE", "binance")
        yield


def options(home: Path, server: BinanceLoopback, *, mode: str, closes: int) -> RunOptions:
    clock = StandInTime(server)
    return RunOptions(
        mode=mode,
        profile="aggressive",
        symbols=list(SYMBOLS),
        feed="live",
        until_ms=FIRST_CLOSE + (closes - 1) * HOUR,
        home=home,
        console_log=False,
        clock=clock.now,
        sleep=clock.sleep,
        confirm_live=True,
    )


def recorded(home: Path) -> dict[str, Any]:
    engine = create_engine(f"sqlite:///{home / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            decisions = connection.execute(
                text("SELECT id, symbol, decided_at_ms, action FROM decisions ORDER BY id")
            ).all()
            orders = connection.execute(
                text(
                    "SELECT client_order_id, side, type, status, reject_reason, purpose, symbol "
                    "FROM orders "
                    "ORDER BY client_order_id"
                )
            ).all()
            state = connection.execute(
                text("SELECT value FROM engine_state WHERE key LIKE 'run:%'")
            ).all()
            # The ledger's entries are kept apart from the resume point's head.
            entries = connection.execute(
                text("SELECT sequence, entry FROM ledger_entries ORDER BY run_id, sequence")
            ).all()
    finally:
        engine.dispose()
    return {
        "decisions": [tuple(r) for r in decisions],
        "orders": [tuple(r) for r in orders],
        "state": [json.loads(v) if isinstance(v, str) else v for (v,) in state],
        "ledger_entries": [(n, json.loads(v) if isinstance(v, str) else v) for n, v in entries],
    }


def _paused(home: Path) -> bool:
    engine = create_engine(f"sqlite:///{home / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT trigger, reason FROM safety_events")).all()
    finally:
        engine.dispose()
    return any(r[0] == "reconciliation" for r in rows)


def _pause_reasons(home: Path) -> list[str]:
    engine = create_engine(f"sqlite:///{home / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT reason FROM safety_events WHERE trigger = 'reconciliation'")
            ).all()
    finally:
        engine.dispose()
    return [r[0] for r in rows]


async def test_a_live_run_trades_on_the_exchange_and_decides_as_a_paper_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spot: BinanceSpotStandIn
) -> None:
    live_home = tmp_path / "live"
    live_home.mkdir()
    with clean_home(live_home), live_env(monkeypatch, spot):
        report = await run_paper(options(live_home, spot, mode="live", closes=CLOSES))
    live = recorded(live_home)
    assert report.totals.candles == CLOSES * len(SYMBOLS)
    assert len(live["decisions"]) == CLOSES * len(SYMBOLS)
    # Every order SIGMAX sent exists once on the exchange, under its client id.
    sent = [o for o in live["orders"] if o[2] != "stop_loss" and o[3] != "rejected"]
    for client_id, *_ in sent:
        assert len(spot.order_by_client_id(client_id)) == 1, client_id
    assert any(o[5] == "entry" and o[3] == "filled" for o in live["orders"])
    # Protective orders were accepted, not refused over a fee-trimmed quantity.
    protective = [o for o in live["orders"] if o[5] in ("stop_loss", "take_profit")]
    assert protective
    assert all(o[3] != "rejected" for o in protective), protective
    # ETH's take-profit sold the position down to the amount step (its buy paid the fee in
    # ETH): the dust left is no position, so a later BUY enters again.
    eth = [o for o in live["orders"] if o[6] == "ETH/USDT" and o[3] == "filled"]
    assert [o[5] for o in eth].count("take_profit") == 1
    assert [o[5] for o in eth].count("entry") == 2, eth
    # The ledger matches the exchange's balances (cash to the unit).
    assert report.account["cash"] == spot.total("USDT")
    # The stops the venue keeps client-side are in the resume point, with the open orders.
    (point,) = live["state"]
    open_stops = {o[0] for o in live["orders"] if o[2] == "stop_loss" and o[3] == "open"}
    assert open_stops
    assert {o["client_order_id"] for o in point["venue"]["stops"]} == open_stops
    open_on_server = {o.client_order_id for o in spot.open_orders_now()}
    assert {o["client_order_id"] for o in point["venue"]["open"]} == open_on_server

    # A restart takes up the same run: the stop is held again, nothing is placed twice and
    # the start's reconciliation finds the ledger and the exchange equal (no pause).
    with clean_home(live_home), live_env(monkeypatch, spot):
        again = await run_paper(options(live_home, spot, mode="live", closes=CLOSES + 2))
    assert again.resumed
    assert again.run_id == report.run_id
    after = recorded(live_home)
    for client_id, *_ in after["orders"]:
        assert len(spot.order_by_client_id(client_id)) <= 1, client_id
    (point,) = after["state"]
    still = {o[0] for o in after["orders"] if o[2] == "stop_loss" and o[3] == "open"}
    assert {o["client_order_id"] for o in point["venue"]["stops"]} == still
    assert not _paused(live_home)

    # A balance changed behind SIGMAX's back: the next start's reconciliation pauses, naming it.
    spot.set_balance("USDT", spot.free["USDT"] + Decimal("5"))
    with clean_home(live_home), live_env(monkeypatch, spot):
        await run_paper(options(live_home, spot, mode="live", closes=CLOSES + 3))
    assert _paused(live_home)
    reasons = _pause_reasons(live_home)
    assert any("USDT: ledger" in r and "difference 5" in r for r in reasons), reasons

    paper_home = tmp_path / "paper"
    paper_home.mkdir()
    async with BinanceLoopback() as market:
        with clean_home(paper_home), monkeypatch.context() as patch:
            patch.setenv("SIGMAX_EXCHANGE_URL", market.base_url)
            await run_paper(options(paper_home, market, mode="paper", closes=CLOSES))
    paper = recorded(paper_home)
    # The same decisions (ids and actions) on the same candles.
    assert [(d[0], d[1], d[2], d[3]) for d in live["decisions"]] == [
        (d[0], d[1], d[2], d[3]) for d in paper["decisions"]
    ]


async def test_reconcile_on_demand_reports_a_match_then_names_a_balance_changed_behind_sigmax(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spot: BinanceSpotStandIn
) -> None:
    """What `sigmax reconcile` runs, with the stand-in's clock (its time stands still, so the
    local clock corrected once by its server time would run ahead of it)."""
    home = tmp_path / "live"
    home.mkdir()
    with clean_home(home), live_env(monkeypatch, spot):
        await run_paper(options(home, spot, mode="live", closes=4))
        with open_account_home(home) as account:
            matched = await reconcile_stored_run(account, clock=StandInTime(spot).now)
            spot.set_balance("USDT", spot.free["USDT"] + Decimal("5"))
            found = await reconcile_stored_run(account, clock=StandInTime(spot).now)
    assert matched.ok, matched.summary()
    assert matched.balances_checked
    assert not found.ok
    report = json.loads(found.to_json())
    assert report["ok"] is False
    assert any("USDT: ledger" in m["detail"] for m in report["mismatches"]), report
    assert "difference 5" in found.summary()
    assert spot.api_secret not in found.to_json()


async def test_sigmax_reconcile_refuses_a_paper_run(sigmax_home: Path) -> None:
    home = sigmax_home
    (home / "sigmax.db").unlink(missing_ok=True)
    result = await asyncio.to_thread(CliRunner().invoke, app, ["reconcile"])
    assert result.exit_code == 2
    assert "no run in SIGMAX_HOME" in result.output
