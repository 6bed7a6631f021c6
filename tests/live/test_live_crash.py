"""``sigmax run --mode live`` in its own process against the signed Binance stand-in: SIGKILL
while an order's answer is on its way, a restart that resumes where the store says with no
duplicate order, then a panic through the control queue while the run waits for a candle.

The stand-in is served by this test's event loop, so it outlives the killed process. Its clock
flows with the wall clock (``run_clock``), as a real exchange's does, and the test moves it on
by whole hours where the run would otherwise wait: the run reads the exchange's time (its
``/api/v3/time``) and signs every request with it, so a jump is seen at the next reading
(``--clock-sync 0.5``) and every signed ``timestamp`` stays inside ``recvWindow``.

A second, in-process test stops a new run inside its very first step, after its order reached
the exchange: the starting point committed before that step makes the restart redo it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from conftest import CONFIG_VARIABLES
from engine.account_runs import clean_home
from live.test_live_run import live_env, options
from sigmax.domain.candles import datetime_to_ms
from sigmax.engine.account import open_account_home
from sigmax.engine.runner import run_paper
from sigmax.engine.safety_service import request_command
from sigmax.storage.models import ControlKind, ControlStatus
from support.binance_server import DEFAULT_NOW_MS
from support.binance_server import SYMBOLS as RULES
from support.binance_spot import BinanceSpotStandIn

SIGMAX = str(Path(sys.executable).with_name("sigmax"))
HOUR = 3_600_000
#: The stand-in's clock at the first start: half-way through the 14:00 candle.
START_MS = datetime_to_ms(datetime(2023, 9, 30, 14, 30, tzinfo=UTC))
CLOSE_15 = datetime_to_ms(datetime(2023, 9, 30, 15, tzinfo=UTC))
CLOSE_17 = datetime_to_ms(datetime(2023, 9, 30, 17, tzinfo=UTC))
UNTIL = datetime(2023, 9, 30, 22, tzinfo=UTC)
SYMBOLS = ("BTC/USDT", "ETH/USDT")


def _env(home: Path, spot: BinanceSpotStandIn) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CONFIG_VARIABLES
        and (not k.startswith("SIGMAX_") or k == "SIGMAX_REQUIRE_SERVICES")
    }
    env.update(
        SIGMAX_HOME=str(home),
        SIGMAX_EXCHANGE_URL=spot.base_url,
        API_KEY=spot.api_key,
        API_SECRET=spot.api_secret,
        TESTNET="false",
        EXCHANGE="binance",
    )
    return env


async def _start(home: Path, spot: BinanceSpotStandIn, log: Path) -> asyncio.subprocess.Process:
    output = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            SIGMAX, "run", "--mode", "live", "--profile", "aggressive",
            "--symbols", ",".join(SYMBOLS), "--timeframe", "1h",
            "--until", UNTIL.isoformat(), "--confirm-live", "--no-api", "--clock-sync", "0.5",
            env=_env(home, spot), stdout=output, stderr=output,
        )  # fmt: skip
    finally:
        output.close()


def _query(home: Path, sql: str) -> list[tuple[Any, ...]]:
    path = home / "sigmax.db"
    if not path.exists():
        return []
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql)).all()]
    except Exception:  # the run is creating its tables
        return []
    finally:
        engine.dispose()


def _point(home: Path) -> dict[str, Any]:
    rows = _query(home, "SELECT value FROM engine_state WHERE key LIKE 'run:%'")
    if not rows:
        return {}
    value = rows[0][0]
    point: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return point


def _cursor(home: Path) -> dict[str, int]:
    return {str(k): int(v) for k, v in (_point(home).get("cursor") or {}).items()}


async def _until(what: str, check: Callable[[], bool], log: Path, timeout_s: float = 90) -> None:
    """Poll ``check`` (off the loop: the stand-in answers meanwhile) until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await asyncio.to_thread(check):
        if asyncio.get_running_loop().time() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}; the run's output:\n{tail}")
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_sigkill_mid_placement_then_restart_then_panic_while_waiting(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "run.log"
    async with BinanceSpotStandIn(now_ms=START_MS, balances={"USDT": Decimal("1000")}) as spot:
        spot.run_clock()
        first = await _start(home, spot, log)
        try:
            # The fresh start trades from the newest closed candle (14:00, a HOLD) and waits.
            before = dict.fromkeys(SYMBOLS, CLOSE_15 - 2 * HOUR)
            await _until("the 14:00 step", lambda: _cursor(home) == before, log)
            # The 15:00 close decides BUY: the exchange executes the first entry but its answer
            # never arrives before the process is killed.
            spot.lose_responses("POST", "/api/v3/order", delay_s=8.0)
            spot.advance_to(CLOSE_15 + 1000)
            await _until(
                "the entry placed", lambda: ("POST", "/api/v3/order") in spot.executed, log
            )
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
        (placed,) = spot.orders.values()
        assert placed.status == "FILLED"
        # Nothing of the cut step reached the store: the exchange knows more than SIGMAX.
        assert _cursor(home) == before
        assert _query(home, "SELECT client_order_id FROM orders") == []

        # Two hours later the same command resumes after the 14:00 step: the 15:00 step is
        # redone (its entry found on the exchange by client id and adopted, not placed again),
        # the 16:00 and 17:00 closes are caught up, and the run waits for 18:00.
        spot.advance_to(CLOSE_17 + 30_000)
        second = await _start(home, spot, log)
        try:
            caught_up = dict.fromkeys(SYMBOLS, CLOSE_17 - HOUR)
            await _until("the catch-up", lambda: _cursor(home) == caught_up, log)
            await _until(
                "the reconciliation",
                lambda: "reconciliation with binance" in log.read_text(errors="replace"),
                log,
            )
            runs = _query(home, "SELECT id FROM runs")
            assert len(runs) == 1
            orders = _query(home, "SELECT client_order_id, status, purpose FROM orders")
            assert (placed.client_order_id, "filled", "entry") in orders
            for client_id, *_ in orders:
                assert len(spot.order_by_client_id(client_id)) <= 1, client_id
            assert len(spot.order_by_client_id(placed.client_order_id)) == 1
            # The redone step left the ledger equal to the exchange: no reconciliation pause.
            assert _query(home, "SELECT trigger FROM safety_events") == []
            assert spot.open_orders_now(), "the take-profits rest on the exchange"

            # A panic through the control queue reaches the run while it waits for 18:00.
            def panic() -> Any:
                with open_account_home(home) as account:
                    return request_command(
                        account, ControlKind.PANIC, {"reason": "operator panic"}, wait_s=30
                    )

            result = await asyncio.to_thread(panic)
            assert result.status is ControlStatus.APPLIED, result.message
            assert result.applied_by == "engine", result
            assert "binance now reports open orders: none" in result.message, result.message
            assert "market sells filled (0.0" in result.message, result.message
            assert "NOT FLAT" not in result.message, result.message
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(second.wait(), 60)
            except TimeoutError:
                second.kill()
                await second.wait()
        # What the exchange holds: no open order, no base beyond dust below the amount step.
        assert spot.open_orders_now() == []
        for symbol in SYMBOLS:
            rules = RULES[symbol.replace("/", "")]
            assert spot.total(rules.base) < rules.step_size, (symbol, spot.total(rules.base))
        # Every order SIGMAX knows exists at most once on the exchange; the panic's sells too.
        orders = _query(home, "SELECT client_order_id, status, purpose FROM orders")
        for client_id, *_ in orders:
            assert len(spot.order_by_client_id(client_id)) <= 1, client_id
        assert any(p == "panic" and s == "filled" for _, s, p in orders), orders
        # The ledger's cash is the exchange's, to the unit, after the close-out.
        assert Decimal(_point(home)["ledger"]["cash"]) == spot.total("USDT")
        triggers = {t for (t,) in _query(home, "SELECT trigger FROM safety_events")}
        assert "panic" in triggers


async def test_a_run_stopped_inside_its_first_step_redoes_it_when_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new live run commits its starting point before its first step, so a stop after that
    step's orders reached the exchange (and before it was committed) redoes it on restart:
    the order is adopted by its client id, and the ledger matches the exchange."""
    home = tmp_path / "live"
    home.mkdir()
    async with BinanceSpotStandIn(balances={"USDT": Decimal("1000")}) as spot:
        spot.lose_responses("POST", "/api/v3/order", delay_s=5.0)
        with clean_home(home), live_env(monkeypatch, spot):
            run = asyncio.ensure_future(run_paper(options(home, spot, mode="live", closes=2)))
            while ("POST", "/api/v3/order") not in spot.executed:
                assert not run.done(), run
                await asyncio.sleep(0.02)
            run.cancel()  # the store is left as a kill would leave it: the step uncommitted
            with pytest.raises(asyncio.CancelledError):
                await run
            (placed,) = spot.orders.values()
            first_close = DEFAULT_NOW_MS // HOUR * HOUR
            assert _cursor(home) == dict.fromkeys(SYMBOLS, first_close - 2 * HOUR)
            assert _query(home, "SELECT client_order_id FROM orders") == []
            again = await run_paper(options(home, spot, mode="live", closes=2))
        assert again.resumed
        assert len(spot.order_by_client_id(placed.client_order_id)) == 1
        orders = _query(home, "SELECT client_order_id, status FROM orders")
        assert (placed.client_order_id, "filled") in orders
        for client_id, _ in orders:
            assert len(spot.order_by_client_id(client_id)) <= 1, client_id
        assert _query(home, "SELECT trigger FROM safety_events") == []
        assert again.account["cash"] == spot.total("USDT")
