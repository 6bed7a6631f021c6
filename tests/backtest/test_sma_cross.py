"""`sma_cross` against a reference computed by hand from the bundled BTC/USDT 1h file.

The reference reads the CSV itself, computes the moving averages in exact decimals, and trades
the textbook way: a cross at a candle's close, filled at the next candle's open; all the cash in
(whole steps of 0.00001 BTC, the exchange's amount step), the whole position out; no fees and no
slippage. The backtest runs with fees and slippage off, the reference profile (no position
limit below the account) and safety thresholds that never fire.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
from decimal import ROUND_FLOOR, Decimal
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from engine.account_runs import clean_home
from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.config.paths import source_config_dir

FAST, SLOW = 10, 50
CAPITAL = Decimal(10000)
STEP = Decimal("0.00001")


def _candles() -> list[tuple[int, Decimal, Decimal]]:
    resource = files("sigmax.data").joinpath("bundled/candles/binance_BTC-USDT_1h.csv")
    with resource.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [(int(r["timestamp"]), Decimal(r["open"]), Decimal(r["close"])) for r in rows]


def _reference() -> tuple[list[tuple[int, Decimal, int, Decimal, Decimal]], Decimal]:
    candles = _candles()
    closes = [c for _, _, c in candles]

    def mean(end: int, period: int) -> Decimal:
        return sum(closes[end - period + 1 : end + 1], Decimal(0)) / period

    state = [None] * len(candles)  # +1 fast above, -1 below, 0 equal
    for i in range(SLOW - 1, len(candles)):
        fast, slow = mean(i, FAST), mean(i, SLOW)
        state[i] = 1 if fast > slow else -1 if fast < slow else 0
    cash, qty = CAPITAL, Decimal(0)
    trades = []
    entry: tuple[int, Decimal] | None = None
    for i in range(SLOW, len(candles) - 1):
        if state[i - 1] is None:
            continue
        crossed_up = state[i] == 1 and state[i - 1] != 1
        crossed_down = state[i] == -1 and state[i - 1] != -1
        fill_time, fill_open = candles[i + 1][0], candles[i + 1][1]
        if crossed_up and qty == 0:
            qty = (cash / fill_open / STEP).to_integral_value(ROUND_FLOOR) * STEP
            cash -= qty * fill_open
            entry = (fill_time, fill_open)
        elif crossed_down and qty > 0:
            assert entry is not None
            trades.append((entry[0], entry[1], fill_time, fill_open, qty))
            cash += qty * fill_open
            qty = Decimal(0)
    final = cash + qty * closes[-1]
    return trades, final


@pytest.fixture
def reference_config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(source_config_dir(), folder)
    path = folder / "safety.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["protections"].update(max_drawdown_pct=100, stoploss_cooldown_minutes=0)
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return folder


@pytest.mark.slow
def test_sma_cross_makes_the_textbook_trades_on_the_bundled_btc_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference_config: Path
) -> None:
    expected, expected_final = _reference()
    with clean_home(tmp_path):
        monkeypatch.setenv("SIGMAX_CONFIG_DIR", str(reference_config))
        for name, value in {
            "MAX_CONSECUTIVE_LOSSES": "100000",
            "MAX_DAILY_LOSS": "100000000",
            "MAX_SLIPPAGE_PCT": "100",
        }.items():
            monkeypatch.setenv(name, value)
        run = asyncio.run(
            simulate(
                BacktestOptions(
                    profile="reference",
                    symbols=["BTC/USDT"],
                    strategy="sma_cross",
                    fast=FAST,
                    slow=SLOW,
                    fee_rate=Decimal(0),
                    slippage_model="none",
                    capital=CAPITAL,
                    home=tmp_path,
                )
            )
        )
    result = build_result(run)
    got = [
        (r.trade.entry_ms, r.trade.entry_price, r.trade.exit_ms, r.trade.exit_price, r.trade.qty)
        for r in result.trades
    ]
    assert len(expected) > 100
    assert got == expected
    assert Decimal(str(result.metrics.to_dict()["final_equity"])) == expected_final.quantize(
        Decimal("0.00000001")
    )
    assert result.metrics.to_dict()["fees_paid"] == "0.00000000"


@pytest.mark.parametrize(
    ("fast", "slow", "message"),
    [(1, 50, "--fast: must be between 2"), (20, 20, "--slow: must be greater than --fast")],
)
def test_bad_periods_are_refused(tmp_path: Path, fast: int, slow: int, message: str) -> None:
    from sigmax.errors import InputError

    with clean_home(tmp_path), pytest.raises(InputError, match=message):
        asyncio.run(
            simulate(
                BacktestOptions(
                    strategy="sma_cross", fast=fast, slow=slow, symbols=["BTC/USDT"], home=tmp_path
                )
            )
        )
