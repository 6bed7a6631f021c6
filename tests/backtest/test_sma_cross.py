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
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
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


def _candles(symbol: str = "BTC/USDT") -> list[tuple[int, Decimal, Decimal, Decimal]]:
    name = symbol.replace("/", "-")
    resource = files("sigmax.data").joinpath(f"bundled/candles/binance_{name}_1h.csv")
    with resource.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        (int(r["timestamp"]), Decimal(r["open"]), Decimal(r["close"]), Decimal(r["volume"]))
        for r in rows
    ]


def _reference(
    symbol: str = "BTC/USDT",
    capital: Decimal = CAPITAL,
    step: Decimal = STEP,
    tick: Decimal = Decimal("0.01"),
) -> tuple[list[tuple[int, Decimal, int, Decimal, Decimal]], Decimal]:
    """The textbook trades; a fill price is the next open rounded to the price tick against
    the trader (buys up, sells down), as an exchange would fill it; a candle without volume
    (no trade happened in it) fills nothing, so the order fills at the next one that has."""
    candles = _candles(symbol)
    closes = [c for _, _, c, _ in candles]

    def mean(end: int, period: int) -> Decimal:
        return sum(closes[end - period + 1 : end + 1], Decimal(0)) / period

    state = [None] * len(candles)  # +1 fast above, -1 below, 0 equal
    for i in range(SLOW - 1, len(candles)):
        fast, slow = mean(i, FAST), mean(i, SLOW)
        state[i] = 1 if fast > slow else -1 if fast < slow else 0
    cash, qty = capital, Decimal(0)
    trades = []
    entry: tuple[int, Decimal] | None = None
    for i in range(SLOW, len(candles) - 1):
        if state[i - 1] is None:
            continue
        crossed_up = state[i] == 1 and state[i - 1] != 1
        crossed_down = state[i] == -1 and state[i - 1] != -1
        traded = i + 1
        while traded < len(candles) - 1 and candles[traded][3] == 0:
            traded += 1
        fill_time, fill_open = candles[traded][0], candles[traded][1]
        if crossed_up and qty == 0:
            fill_open = (fill_open / tick).to_integral_value(ROUND_CEILING) * tick
            qty = (cash / fill_open / step).to_integral_value(ROUND_FLOOR) * step
            cash -= qty * fill_open
            entry = (fill_time, fill_open)
        elif crossed_down and qty > 0:
            fill_open = (fill_open / tick).to_integral_value(ROUND_FLOOR) * tick
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


@pytest.mark.slow
def test_sma_cross_on_four_markets_trades_each_on_its_own_sleeve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference_config: Path
) -> None:
    """Each market trades a quarter of the capital as if it were alone: the textbook trades of
    every market, none refused because the cash sits in another."""
    from sigmax.execution.instruments import bundled_market_specs

    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"]
    specs = bundled_market_specs()
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
                    symbols=symbols,
                    strategy="sma_cross",
                    fee_rate=Decimal(0),
                    slippage_model="none",
                    capital=CAPITAL,
                    home=tmp_path,
                )
            )
        )
    result = build_result(run)
    assert run.config["sma"] == {"fast": FAST, "slow": SLOW, "sleeves": 4}
    final = Decimal(0)
    for symbol in symbols:
        expected, expected_final = _reference(
            symbol, CAPITAL / 4, specs[symbol].amount_step, specs[symbol].price_tick
        )
        got = [
            (
                r.trade.entry_ms,
                r.trade.entry_price,
                r.trade.exit_ms,
                r.trade.exit_price,
                r.trade.qty,
            )
            for r in result.trades
            if r.trade.symbol == symbol
        ]
        assert len(expected) > 250, symbol
        assert got == expected, symbol
        final += expected_final
    assert Decimal(str(result.metrics.to_dict()["final_equity"])) == final.quantize(
        Decimal("0.00000001")
    )


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
