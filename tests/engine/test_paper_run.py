"""The paper engine end to end: fill timing over a whole replay, crash and resume.

The crash tests run the real `sigmax` command in a subprocess, kill it with SIGKILL at moments
drawn from a seeded generator (reproducible, yet anywhere in the run: start-up, mid-batch,
mid-commit), resume it with the same command, and compare everything it recorded with an
uninterrupted run of the same command.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from conftest import CONFIG_VARIABLES
from sigmax.domain.candles import datetime_to_ms
from sigmax.engine.runner import RunOptions, run_paper
from storage.conftest import throwaway_postgres_database

SIGMAX = str(Path(sys.executable).with_name("sigmax"))
RUN_ARGS = [
    "run",
    "--profile", "aggressive",
    "--symbols", "BTC/USDT,ETH/USDT",
    "--speed", "max",
    "--from", "2022-04-15T00:00:00Z",  # long enough that random kills land mid-run
    "--until", "2023-01-15T00:00:00Z",
    "--no-api",
]  # fmt: skip


def _env(home: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env = {
        k: v
        for k, v in env.items()
        if not k.startswith("SIGMAX_") or k == "SIGMAX_REQUIRE_SERVICES"
    }
    env["SIGMAX_HOME"] = str(home)
    # The safety triggers would pause this aggressive run after a few losses; the crash test
    # needs it to keep trading (the triggers have their own tests).
    env["MAX_CONSECUTIVE_LOSSES"] = "1000"
    env["MAX_DAILY_LOSS"] = "1000"
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _run_to_end(home: Path, database_url: str | None = None) -> None:
    done = subprocess.run(
        [SIGMAX, *RUN_ARGS], env=_env(home, database_url), capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def _crash_repeatedly(home: Path, kills: int, seed: int, database_url: str | None = None) -> int:
    """Start the run and SIGKILL it ``kills`` times; returns how many kills hit a live run."""
    rng = random.Random(seed)
    hit = 0
    for _ in range(kills):
        process = subprocess.Popen(
            [SIGMAX, *RUN_ARGS], env=_env(home, database_url),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.8, 4.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            hit += 1
        process.wait(timeout=30)
    return hit


def _recorded(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:

            def rows(query: str) -> list[tuple[Any, ...]]:
                return [
                    tuple(_canonical(v) for v in row) for row in connection.execute(text(query))
                ]

            return {
                "fills": rows(
                    "SELECT o.client_order_id, f.trade_seq, f.symbol, f.side, f.qty, f.price, "
                    "f.fee, f.realized_pnl, f.filled_at_ms FROM fills f JOIN orders o "
                    "ON o.id = f.order_id ORDER BY f.filled_at_ms, o.client_order_id"
                ),
                "orders": rows(
                    "SELECT client_order_id, symbol, side, type, qty, price, status, filled_qty "
                    "FROM orders ORDER BY client_order_id"
                ),
                "positions": rows(
                    "SELECT symbol, qty, avg_price, realized_pnl FROM positions ORDER BY symbol"
                ),
                "decisions": rows("SELECT id, action FROM decisions ORDER BY id"),
                "equity": rows(
                    "SELECT taken_at_ms, cash, equity FROM equity_snapshots ORDER BY taken_at_ms"
                ),
                "ledger": rows("SELECT value FROM engine_state WHERE key LIKE 'run:%'"),
                # The ledger's entries, kept apart from its head: each written once, in order.
                "ledger_entries": rows(
                    "SELECT run_id, sequence, entry FROM ledger_entries ORDER BY run_id, sequence"
                ),
                "runs": rows("SELECT status FROM runs"),
            }
    finally:
        engine.dispose()


def _canonical(value: Any) -> str:
    """One spelling per value on both backends: PostgreSQL returns NUMERIC(38,18) with its
    scale (``1000.000000000000000000``) and JSONB as parsed data, SQLite the exact text."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in "{[":
        return json.dumps(json.loads(value), sort_keys=True)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return format(number.normalize(), "f") if number.is_finite() else str(value)


def _sqlite(home: Path) -> str:
    return f"sqlite:///{home / 'sigmax.db'}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("uninterrupted")
    _run_to_end(home)
    recorded = _recorded(_sqlite(home))
    assert len(recorded["fills"]) >= 10, "the reference run must trade for the test to mean much"
    return recorded


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_same_run(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    hits = _crash_repeatedly(tmp_path, kills=12, seed=20261127)
    assert hits >= 10
    _run_to_end(tmp_path)
    resumed = _recorded(_sqlite(tmp_path))
    assert resumed == reference
    client_ids = [row[0] for row in resumed["orders"]]
    assert len(client_ids) == len(set(client_ids))


@pytest.mark.slow
@pytest.mark.postgres
def test_restart_on_postgresql(
    tmp_path: Path, reference: dict[str, Any], postgres_url: str
) -> None:
    with throwaway_postgres_database(postgres_url) as url:
        hits = _crash_repeatedly(tmp_path, kills=4, seed=7, database_url=url)
        assert hits >= 3
        _run_to_end(tmp_path, url)
        assert _recorded(url) == reference


def test_rerunning_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    _run_to_end(tmp_path)
    before = _recorded(_sqlite(tmp_path))
    _run_to_end(tmp_path)
    assert _recorded(_sqlite(tmp_path)) == before


@pytest.fixture(scope="module")
def replay_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("replay")
    previous = os.environ.get("SIGMAX_HOME")
    os.environ["SIGMAX_HOME"] = str(home)
    try:
        from datetime import UTC, datetime

        asyncio.run(
            run_paper(
                RunOptions(
                    profile="aggressive",
                    symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"],
                    speed=None,
                    start_ms=datetime_to_ms(datetime(2023, 1, 1, tzinfo=UTC)),
                    until_ms=datetime_to_ms(datetime(2023, 2, 1, tzinfo=UTC)),
                    home=home,
                    console_log=False,
                )
            )
        )
        yield home
    finally:
        if previous is None:
            os.environ.pop("SIGMAX_HOME", None)
        else:
            os.environ["SIGMAX_HOME"] = previous


@pytest.mark.slow
def test_no_fill_is_priced_at_or_before_the_close_that_triggered_it(replay_home: Path) -> None:
    from sigmax.data.catalog import DatasetCatalog

    catalog = DatasetCatalog.from_path(None)
    engine = create_engine(_sqlite(replay_home))
    with engine.connect() as connection:
        fills = connection.execute(
            text(
                "SELECT f.symbol, f.side, f.price, f.filled_at_ms, f.candle_open_ms, o.type, "
                "d.decided_at_ms, d.data_until_ms FROM fills f JOIN orders o ON o.id = f.order_id "
                "JOIN decisions d ON d.id = o.decision_id"
            )
        ).all()
    engine.dispose()
    assert len(fills) >= 20
    for symbol, side, price, filled_at, candle_open, order_type, decided_at, data_until in fills:
        assert candle_open > data_until, "filled on the candle the decision saw"
        assert filled_at >= decided_at, "filled before the decision was made"
        if order_type == "market":
            series = catalog.load(symbol, "1h").series
            index = int(series.timestamp.searchsorted(candle_open))
            open_price = series.open[index]
            # Priced from the next candle's open, against the trader, never at the old close.
            if side == "buy":
                assert float(price) >= open_price
            else:
                assert float(price) <= open_price
            assert abs(float(price) - open_price) / open_price < 0.001


def _as_stored_before_the_resume_point_was_typed(state: dict[str, Any]) -> dict[str, Any]:
    """A resume point in the layout of before: no version, a format-1 venue snapshot with no
    balances, resting orders without their purpose."""
    old = {key: value for key, value in state.items() if key != "version"}
    venue = {key: value for key, value in state["venue"].items() if key != "balances"}
    venue["format"] = 1
    venue["orders"] = [
        {key: value for key, value in order.items() if key != "purpose"}
        for order in venue["orders"]
    ]
    old["venue"] = venue
    return old


@pytest.mark.slow
def test_a_resume_point_stored_before_it_was_typed_still_resumes(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    """Killed while it holds a position and resting stops, its resume point rewritten in the
    old layout, the run resumes and ends exactly as the uninterrupted one."""
    url = _sqlite(tmp_path)
    process = subprocess.Popen(
        [SIGMAX, *RUN_ARGS], env=_env(tmp_path),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + 120
        state: dict[str, Any] | None = None
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            try:
                with engine.connect() as connection:
                    raw = connection.execute(
                        text("SELECT value FROM engine_state WHERE key LIKE 'run:%'")
                    ).scalar()
            except Exception:  # the database may not exist yet
                continue
            current = json.loads(raw) if isinstance(raw, str) else raw
            if current and current["venue"]["orders"] and current["ledger"]["positions"]:
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=30)
        with engine.begin() as connection:
            raw = connection.execute(
                text("SELECT value FROM engine_state WHERE key LIKE 'run:%'")
            ).scalar()
            state = json.loads(raw) if isinstance(raw, str) else raw
            assert state is not None
            assert state["venue"]["orders"], "killed before any order"
            assert state["version"] == 2
            assert "balances" in state["venue"]
            old = _as_stored_before_the_resume_point_was_typed(state)
            connection.execute(
                text("UPDATE engine_state SET value = :value WHERE key LIKE 'run:%'"),
                {"value": json.dumps(old)},
            )
    finally:
        engine.dispose()
    _run_to_end(tmp_path)
    assert _recorded(url) == reference
