"""A backtest and a paper replay of the same candles and configuration agree exactly: the same
fills (order, price, quantity, fee, time), the same fees and the same final equity."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from engine.account_runs import clean_home
from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.domain.candles import datetime_to_ms
from sigmax.engine.runner import RunOptions, run_paper

QUIET = {"MAX_CONSECUTIVE_LOSSES": "1000", "MAX_DAILY_LOSS": "100000"}


def _replay_fills(home: Path) -> tuple[list[tuple[Any, ...]], Decimal]:
    engine = create_engine(f"sqlite:///{home / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT o.client_order_id, f.symbol, f.side, f.qty, f.price, f.fee, "
                    "f.filled_at_ms FROM fills f JOIN orders o ON o.id = f.order_id "
                    "ORDER BY f.id"
                )
            ).all()
            equity = connection.execute(
                text("SELECT equity FROM equity_snapshots ORDER BY taken_at_ms DESC, id DESC")
            ).first()
    finally:
        engine.dispose()
    fills = [
        (cid, symbol, side, Decimal(qty), Decimal(price), Decimal(fee), int(at))
        for cid, symbol, side, qty, price, fee, at in rows
    ]
    assert equity is not None
    return fills, Decimal(equity[0])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("symbols", "window", "env"),
    [
        (
            ("BTC/USDT", "ETH/USDT"),
            (datetime(2022, 11, 1, tzinfo=UTC), datetime(2022, 11, 20, tzinfo=UTC)),
            QUIET,
        ),
        (
            # The default safety thresholds: the loss streak pauses both runs at the same candle.
            ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"),
            (datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 2, 1, tzinfo=UTC)),
            {},
        ),
    ],
)
def test_a_backtest_agrees_with_a_paper_replay(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    symbols: tuple[str, ...],
    window: tuple[datetime, datetime],
    env: dict[str, str],
) -> None:
    start, until = datetime_to_ms(window[0]), datetime_to_ms(window[1])
    with clean_home(tmp_path):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        asyncio.run(
            run_paper(
                RunOptions(
                    profile="aggressive",
                    symbols=list(symbols),
                    speed=None,
                    start_ms=start,
                    until_ms=until,
                    home=tmp_path,
                    console_log=False,
                )
            )
        )
        run = asyncio.run(
            simulate(
                BacktestOptions(
                    profile="aggressive",
                    symbols=list(symbols),
                    start_ms=start,
                    until_ms=until,
                    home=tmp_path,
                )
            )
        )
    replay_fills, replay_equity = _replay_fills(tmp_path)
    backtest_fills = [
        (
            f.fill.client_order_id,
            f.fill.symbol,
            f.fill.side.value,
            f.fill.qty,
            f.fill.price,
            f.fill.fee,
            f.fill.timestamp_ms,
        )
        for f in run.sink.fills
    ]
    assert len(replay_fills) >= 6, "the window must trade for the comparison to mean much"
    assert backtest_fills == replay_fills
    result = build_result(run)
    assert Decimal(str(result.metrics.to_dict()["final_equity"])) == replay_equity.quantize(
        Decimal("0.00000001")
    )
    assert sum(f[5] for f in backtest_fills) == sum(f[5] for f in replay_fills)
    # The backtest stepped only the candles that could change something.
    assert run.totals.candles == run.window_candles
    assert run.totals.candles - run.totals.passed < run.window_candles
