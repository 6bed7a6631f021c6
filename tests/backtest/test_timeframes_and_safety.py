"""Backtests on any timeframe, the --safety switch, and sma_cross against the textbook.

The textbook computation below reads the CSV with the standard library and exact fractions: it
shares no code with SIGMAX's strategy, engine, venue or ledger.
"""

from __future__ import annotations

import csv
import inspect
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from pathlib import Path

from typer.testing import CliRunner

from sigmax.backtest.safety_off import SafetyOff
from sigmax.cli import app
from sigmax.data.catalog import bundled_data_dir
from sigmax.data.csv_store import HEADER
from sigmax.safety.enforcer import SafetyEnforcer

runner = CliRunner()
BTC_2H = "binance_BTC-USDT_2h.csv"
# The README's engine comparison, on a folder holding one BTC file.
TEXTBOOK_ARGS = [
    "backtest",
    "--profile",
    "reference",
    "--strategy",
    "sma_cross",
    "--fast",
    "10",
    "--slow",
    "50",
    "--fee-rate",
    "0",
    "--slippage-model",
    "none",
    "--capital",
    "10000",
    "--timeframe",
    "2h",
    "--json",
]
LOT_STEP = Decimal("0.00001")  # Binance BTC/USDT amount step


def _btc_2h_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(bundled_data_dir() / BTC_2H, folder / BTC_2H)
    return folder


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _textbook_trades(path: Path, fast: int, slow: int) -> list[dict[str, str]]:
    """Long-only SMA(fast/slow): buy at the next open after a golden cross, sell at the next
    open after a death cross; every cross traded; the whole cash in whole lot steps."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    closes = [Fraction(row["close"]) for row in rows]

    def sma(period: int, i: int) -> Fraction:
        return sum(closes[i + 1 - period : i + 1], Fraction(0)) / period

    cash = Decimal(10000)
    trades: list[dict[str, str]] = []
    entry: tuple[int, Decimal, Decimal] | None = None  # (open ms, price, qty)
    # From the first candle whose previous one has both averages.
    for i in range(slow, len(rows) - 1):
        now_fast, now_slow = sma(fast, i), sma(slow, i)
        was_fast, was_slow = sma(fast, i - 1), sma(slow, i - 1)
        golden = now_fast > now_slow and was_fast <= was_slow
        death = now_fast < now_slow and was_fast >= was_slow
        next_ms, next_open = int(rows[i + 1]["timestamp"]), Decimal(rows[i + 1]["open"])
        if golden and entry is None:
            qty = (cash / next_open).quantize(LOT_STEP, rounding=ROUND_DOWN)
            cash -= qty * next_open
            entry = (next_ms, next_open, qty)
        elif death and entry is not None:
            opened, price, qty = entry
            cash += qty * next_open
            trades.append(
                {
                    "entry": _iso(opened),
                    "exit": _iso(next_ms),
                    "entry_price": str(price),
                    "exit_price": str(next_open),
                    "qty": str(qty),
                }
            )
            entry = None
    return trades


def test_sma_cross_on_2h_with_safety_off_gives_the_textbook_trades(
    sigmax_home: Path, tmp_path: Path
) -> None:
    folder = _btc_2h_folder(tmp_path)
    done = runner.invoke(app, [*TEXTBOOK_ARGS, "--safety", "off", "--data", str(folder)])
    assert done.exit_code == 0, done.output
    assert "safety off: the six auto-pause triggers and the protections" in done.stderr
    result = json.loads(done.stdout)
    assert result["config"]["safety_switch"] == "off"
    assert result["config"]["timeframe"] == "2h"
    assert result["config"]["symbols"] == ["BTC/USDT"]  # the market the folder holds

    expected = _textbook_trades(folder / BTC_2H, 10, 50)
    closed = [t for t in result["trades"] if t["exit"] is not None]
    got = [
        {
            key: str(Decimal(t[key]).normalize()) if key != "entry" and key != "exit" else t[key]
            for key in ("entry", "exit", "entry_price", "exit_price", "qty")
        }
        for t in closed
    ]
    want = [
        {
            key: str(Decimal(v).normalize()) if key not in ("entry", "exit") else v
            for key, v in t.items()
        }
        for t in expected
    ]
    assert len(want) > 300
    assert got == want


def test_safety_on_stays_the_default_and_pauses_the_same_run(
    sigmax_home: Path, tmp_path: Path
) -> None:
    folder = _btc_2h_folder(tmp_path)
    done = runner.invoke(app, [*TEXTBOOK_ARGS, "--data", str(folder)])
    assert done.exit_code == 0, done.output
    assert "safety off" not in done.stderr
    result = json.loads(done.stdout)
    assert "safety_switch" not in result["config"]
    # The $10 daily-loss limit and the 10 % drawdown protection pause it: fewer trades.
    assert len(result["trades"]) < len(_textbook_trades(folder / BTC_2H, 10, 50))


def test_safety_off_silences_every_trigger_method_of_the_enforcer() -> None:
    # A trigger added to the enforcer later must be switched off here too.
    commands = {"tick", "is_paused", "check_entry", "check_order", "pause", "panic", "resume"}
    reporting = {"status", "take_events", "state", "settings", "pending_events"}
    public = {
        name
        for name, member in inspect.getmembers(SafetyEnforcer)
        if not name.startswith("_") and callable(member)
    }
    observed = public - commands - reporting
    assert observed == {
        "record_closed_trade",
        "observe_account",
        "record_api_error",
        "record_fill",
        "observe_sentiment",
        "record_privacy_violation",
    }
    for name in observed:
        assert getattr(SafetyOff, name) is not getattr(SafetyEnforcer, name), name


def test_the_agents_backtest_on_2h_with_higher_timeframes_as_multiples(
    sigmax_home: Path, tmp_path: Path
) -> None:
    folder = _btc_2h_folder(tmp_path)
    done = runner.invoke(
        app,
        [
            "backtest",
            "--timeframe",
            "2h",
            "--data",
            str(folder),
            "--from",
            "2023-01-01T00:00:00Z",
            "--to",
            "2023-03-01T00:00:00Z",
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    config = json.loads(done.stdout)["config"]
    assert config["timeframe"] == "2h"
    assert config["agents"]["analyzer"]["timeframes"] == {"primary": "2h", "higher": ["8h", "2d"]}


def test_data_too_short_for_a_higher_timeframe_is_named(sigmax_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    day = 86_400_000
    start = 1_609_459_200_000  # 2021-01-01
    rows = [f"{start + d * day},100,101,99,100.5,10" for d in range(10)]
    (folder / "binance_BTC-USDT_1d.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    done = runner.invoke(app, ["backtest", "--timeframe", "1d", "--data", str(folder)])
    assert done.exit_code == 2, done.output
    message = " ".join(done.stderr.split())
    assert "the 10 1d candles" in message
    assert "cannot make one closed candle of the higher timeframe 24d (x24 of 1d)" in message
    # sma_cross reads no higher timeframe: the same file backtests.
    sma = runner.invoke(
        app,
        [
            "backtest",
            "--timeframe",
            "1d",
            "--data",
            str(folder),
            "--strategy",
            "sma_cross",
            "--fast",
            "2",
            "--slow",
            "5",
        ],
    )
    assert sma.exit_code == 0, sma.output


def test_a_replay_on_2h_candles_is_its_own_run(tmp_path: Path) -> None:
    # In a process of its own: sigmax run configures the process's logging.
    sigmax = str(Path(sys.executable).with_name("sigmax"))
    window = ["--from", "2023-01-02T00:00:00Z", "--until", "2023-01-02T12:00:00Z"]
    base = [sigmax, "run", "--symbols", "BTC/USDT", "--speed", "max", "--no-api", *window]

    def run(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SIGMAX_HOME": str(home)}
        return subprocess.run(
            [*base, *extra], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    hourly = run(tmp_path / "home")
    assert hourly.returncode == 0, hourly.stderr
    # The timeframe is part of the run's identity: in the same home the 2h command is
    # another run, not the 1h one "already complete".
    same_home = run(tmp_path / "home", "--timeframe", "2h")
    assert same_home.returncode == 2
    assert "already holds another run" in same_home.stderr
    two_hourly = run(tmp_path / "two-hourly", "--timeframe", "2h")
    assert two_hourly.returncode == 0, two_hourly.stderr

    def processed(output: str) -> str:
        line = next(line for line in output.splitlines() if "candles processed" in line)
        return line.split("│")[2].strip()

    # Closes 00:00 .. 12:00: 13 on 1h, 7 on 2h.
    assert (processed(hourly.stdout), processed(two_hourly.stdout)) == ("13", "7")
