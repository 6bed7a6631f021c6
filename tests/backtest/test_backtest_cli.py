"""`sigmax backtest` end to end: JSON, stored results, --list, the report, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigmax.cli import app

runner = CliRunner()
WINDOW = ["--from", "2022-11-01T00:00:00Z", "--to", "2022-11-15T00:00:00Z"]
ARGS = ["backtest", "--profile", "aggressive", "--symbols", "BTC/USDT,ETH/USDT", *WINDOW]


def _invoke(*args: str) -> object:
    return runner.invoke(app, list(args))


def test_the_same_inputs_give_byte_identical_json_and_a_stored_result(
    sigmax_home: Path, tmp_path: Path
) -> None:
    first = runner.invoke(app, [*ARGS, "--json"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*ARGS, "--json"])
    assert second.exit_code == 0, second.output
    assert first.stdout == second.stdout
    document = json.loads(first.stdout)
    assert set(document["metrics"]) == {
        "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown",
        "max_drawdown_duration", "win_rate", "profit_factor", "expectancy", "exposure",
        "trades", "fees_paid", "final_equity", "buy_and_hold_return",
    }  # fmt: skip
    config = document["config"]
    assert config["symbols"] == ["BTC/USDT", "ETH/USDT"]
    assert set(config["data"]) == {"BTC/USDT", "ETH/USDT"}
    assert all(len(checksum) == 64 for checksum in config["data"].values())
    stored = sigmax_home / "backtests" / f"{document['id']}.json"
    assert stored.read_text(encoding="utf-8") == first.stdout.strip()
    assert document["metrics"]["trades"] == len(document["trades"])
    # Every candle closing from --from to --to, both included: 14 days and one more per market.
    assert document["candles"] == 2 * (14 * 24 + 1)

    listed = runner.invoke(app, ["backtest", "--list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [row["id"] for row in rows] == [document["id"]]


def test_a_report_is_written(sigmax_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    done = runner.invoke(app, [*ARGS, "--report", str(target)])
    assert done.exit_code == 0, done.output
    page = target.read_text(encoding="utf-8")
    assert "<script src=" not in page
    assert "BTC/USDT" in page
    assert "Bull:" in page  # trades carry their decision's explanation


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fee-rate", "abc"], "--fee-rate: must be a decimal number"),
        (["--fee-rate", "0.5"], "paper_fee_rate"),
        (["--strategy", "martingale"], "--strategy: must be one of agents"),
        (["--slippage-model", "wild"], "--slippage-model: must be one of default, none"),
        (["--timeframe", "4h"], "no dataset for any exchange BTC/USDT 4h in bundled data"),
        (["--safety", "maybe"], "--safety: must be on or off (got 'maybe')"),
        (["--timeframe", "7m"], "--timeframe: must be one of"),
        (["--capital", "-5"], "starting_capital_usd"),
        (["--report", "/nonexistent/folder/r.html"], "--report: the folder"),
    ],
)
def test_bad_input_is_refused_with_the_rule(
    sigmax_home: Path, extra: list[str], message: str
) -> None:
    done = runner.invoke(app, [*ARGS, *extra])
    assert done.exit_code == 2, done.output
    assert message in " ".join(done.output.split())
