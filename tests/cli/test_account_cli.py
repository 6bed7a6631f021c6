"""`sigmax portfolio`, `trades`, `status` and `trade` through the real Typer app.

The commands read a real paper run in a temporary SIGMAX_HOME; their JSON is compared with the
account services (whose figures tests/engine/test_account.py checks against the engine).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.account_runs import SYMBOLS, clean_home, complete_run, stop_run_when_protected
from sigmax.cli import app
from sigmax.engine.account import open_account_home, read_portfolio, read_trades

runner = CliRunner()
TABLE_WIDTH = 100


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": str(TABLE_WIDTH)})


@pytest.fixture(scope="module")
def completed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("completed")
    with clean_home(home):
        complete_run()
    return home


@pytest.fixture
def completed(completed_home: Path) -> Iterator[Path]:
    with clean_home(completed_home):
        yield completed_home


# --- with no run --------------------------------------------------------------------------------


def test_reads_without_a_run_say_so_and_succeed(sigmax_home: Path) -> None:
    status = invoke("status")
    assert status.exit_code == 0, status.output
    assert "No paper run in SIGMAX_HOME" in status.output
    assert "sigmax run" in status.output
    assert json.loads(invoke("status", "--json").output) is None

    portfolio = invoke("portfolio")
    assert portfolio.exit_code == 0, portfolio.output
    assert "No paper run yet" in portfolio.output
    assert "starting capital" in portfolio.output
    document = json.loads(invoke("portfolio", "--json").output)
    assert document["run_id"] is None
    assert Decimal(document["cash"]) == Decimal(document["equity"]) > 0

    trades = invoke("trades")
    assert trades.exit_code == 0
    assert "No fills yet." in trades.output
    assert json.loads(invoke("trades", "--json").output) == []


def test_trade_without_a_run_exits_2(sigmax_home: Path) -> None:
    result = invoke("trade", "BTC/USDT", "buy", "0.001")
    assert result.exit_code == 2
    assert "no paper run in SIGMAX_HOME" in result.output


# --- reading a run ------------------------------------------------------------------------------


def test_portfolio_json_is_the_services_account_with_exact_strings(completed: Path) -> None:
    result = invoke("portfolio", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    with open_account_home() as home:
        assert document == read_portfolio(home).as_json()
    assert all(isinstance(document[key], str) for key in ("cash", "equity", "fees"))
    held = sum(
        (Decimal(p["qty"]) * Decimal(p["mark"]) for p in document["positions"]), start=Decimal(0)
    )
    assert Decimal(document["equity"]) == Decimal(document["cash"]) + held


def test_portfolio_table_is_labelled_as_a_replay(completed: Path) -> None:
    result = invoke("portfolio")
    assert result.exit_code == 0, result.output
    assert "REPLAY run" in result.output
    assert "aggressive" in result.output
    for label in ("cash", "equity", "realized PnL", "unrealized PnL", "fees", "daily PnL"):
        assert label in result.output
    assert "(2022-11-05 UTC)" in result.output


def test_trades_json_lists_the_fills_oldest_first(completed: Path) -> None:
    result = invoke("trades", "--limit", "1000", "--json")
    assert result.exit_code == 0, result.output
    documents = json.loads(result.output)
    with open_account_home() as home:
        assert documents == [t.as_json() for t in read_trades(home)]
    assert len(documents) >= 6
    assert [d["timestamp"] for d in documents] == sorted(d["timestamp"] for d in documents)
    for document in documents:
        assert document["decision_data_until"] < document["timestamp"]

    newest = json.loads(invoke("trades", "--limit", "2", "--json").output)
    assert newest == documents[-2:]
    eth = json.loads(invoke("trades", "--symbol", "eth-usdt", "--json").output)
    assert eth
    assert {d["symbol"] for d in eth} == {"ETH/USDT"}


def test_trades_table_and_bad_options(completed: Path) -> None:
    table = invoke("trades", "--limit", "3")
    assert table.exit_code == 0, table.output
    assert "Fills, oldest first" in table.output
    assert max(len(line) for line in table.output.splitlines()) <= TABLE_WIDTH
    assert invoke("trades", "--limit", "0").exit_code == 2
    bad_symbol = invoke("trades", "--symbol", "BTCUSDT")
    assert bad_symbol.exit_code == 2
    assert "--symbol:" in bad_symbol.output


def test_status_names_the_run_and_its_progress(completed: Path) -> None:
    document = json.loads(invoke("status", "--json").output)
    assert (document["mode"], document["feed"], document["status"]) == (
        "paper",
        "replay",
        "completed",
    )
    assert document["last_candle"] == dict.fromkeys(SYMBOLS, "2022-11-04T23:00:00Z")
    assert document["fills"] == len(
        json.loads(invoke("trades", "--limit", "1000", "--json").output)
    )
    table = invoke("status")
    assert table.exit_code == 0, table.output
    assert "REPLAYED candles (not live)" in table.output
    assert document["run_id"] in table.output
    assert "last candle BTC/USDT   2022-11-04T23:00:00Z" in table.output


# --- sigmax trade -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # This run paused itself after three losing trades: a manual buy waits for a resume.
        (
            ("DOGE/USDT", "buy", "1"),
            "trading paused until a resume (Consecutive loss limit reached (3))",
        ),
        (("BTC/USDT", "buy", "-1"), "QTY: must be > 0 (got -1)"),
        (("BTC/USDT", "sell", "0"), "QTY: must be > 0 (got 0)"),
        (("BTC/USDT", "short", "1"), "SIDE: must be buy or sell (got short)"),
        (("BTCUSDT", "buy", "1"), "SYMBOL:"),
        (("BTC/USDT", "buy", "0.001"), "is completed: it has no candle left"),
    ],
)
def test_trade_refusals_exit_2_with_the_reason(
    completed: Path, args: tuple[str, ...], message: str
) -> None:
    result = invoke("trade", *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_trade_queues_a_checked_order_on_a_stopped_run(sigmax_home: Path) -> None:
    stop_run_when_protected(sigmax_home)
    notional = invoke("trade", "BTC/USDT", "buy", "0.0001")
    assert notional.exit_code == 2
    assert "below min notional 5 USDT (NOTIONAL)" in " ".join(notional.output.split())

    # The open BTC position is near the profile's limit: one more 0.001 BTC would break it.
    over = invoke("trade", "BTC/USDT", "buy", "0.001")
    assert over.exit_code == 2
    assert "policy: max_position_size: position would be" in " ".join(over.output.split())

    result = invoke("trade", "ETH/USDT", "buy", "0.01", "--json")
    assert result.exit_code == 0, result.output
    queued = json.loads(result.output)
    assert (queued["symbol"], queued["side"], queued["type"], queued["qty"]) == (
        "ETH/USDT",
        "buy",
        "market",
        "0.01",
    )
    assert queued["client_order_id"].startswith("sgx-manual-")
    assert queued["run_status"] == "interrupted"
    resting = json.loads(invoke("status", "--json").output)["open_orders"]
    assert queued["client_order_id"] in {o["client_order_id"] for o in resting}

    text = invoke("trade", "ETH/USDT", "buy", "0.01")
    assert text.exit_code == 0, text.output
    assert "Queued market BUY 0.01 ETH/USDT" in text.output
    assert "re-run the same 'sigmax run' command" in " ".join(text.output.split())


def test_trade_help_warns_about_a_running_run() -> None:
    result = invoke("trade", "--help")
    assert result.exit_code == 0
    flat = " ".join(result.output.replace("│", " ").split())
    assert "A running 'sigmax run' checks and sends it" in flat
