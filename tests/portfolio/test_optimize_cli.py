"""`sigmax portfolio optimize`: its answer's shape, and bad input named with its rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sigmax.cli import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "annealing"], "--method: must be one of classical, exact, qaoa, vqe, all"),
        (["--symbols", "BTCUSDT"], "--symbols: symbol must look like BASE/QUOTE"),
        (["--symbols", "BTC/USDT,BTC/USDT"], "--symbols: must not repeat a market"),
        (["--at", "2023-06-01"], "--at '2023-06-01': the time has no time zone"),
        (["--at", "2031-01-01T00:00:00Z"], "--at: must be at or before the newest close"),
    ],
)
def test_bad_input_exits_2_naming_the_option(
    sigmax_home: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["portfolio", "optimize", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_the_classical_answer_as_json_and_as_a_table(sigmax_home: Path) -> None:
    args = ["portfolio", "optimize", "--profile", "balanced", "--at", "2023-06-01T00:00:00Z"]
    result = CliRunner().invoke(app, [*args, "--method", "classical", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert set(row) >= {"method", "weights", "selected", "objective", "seconds"}
    assert row["method"] == "classical"
    assert set(row["weights"]) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"}
    assert all(0.0 <= w <= 0.05 + 1e-12 for w in row["weights"].values())  # 50 USD of 1000
    assert sum(row["weights"].values()) <= 0.15 + 1e-12  # max_exposure 150 USD
    assert len(row["selected"]) <= 3  # max_open_positions
    assert row["selected"] == [s for s, w in row["weights"].items() if w > 0]
    table = CliRunner().invoke(app, [*args, "--method", "classical"])
    assert table.exit_code == 0, table.output
    assert "Allocation at 2023-06-01T00:00:00Z, profile balanced" in table.output
    assert "classical" in table.output
