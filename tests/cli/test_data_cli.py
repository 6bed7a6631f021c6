"""`sigmax data list` and `sigmax data check`, run through the real Typer app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from sigmax.cli import app
from sigmax.data.catalog import bundled_data_dir
from sigmax.data.csv_store import HEADER

runner = CliRunner()
T0 = 1_617_580_800_000
HOUR = 3_600_000
# Wide enough that Rich never shortens a column.
WIDE = {"COLUMNS": "160"}


def write_candles(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def good(h: int) -> str:
    return f"{T0 + h * HOUR},100,101,99,100.5,10"


def test_list_shows_the_five_bundled_datasets_with_their_ranges() -> None:
    result = runner.invoke(app, ["data", "list"], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "binance" in line]
    assert len(lines) == 5
    for symbol in ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"):
        [line] = [x for x in lines if symbol in x and " 1h " in x]
        assert "2021-04-05T00:00:00Z" in line
        assert "2023-09-30T23:00:00Z" in line
        assert "21,804" in line
    [two_hour] = [x for x in lines if " 2h " in x]
    assert "2017-08-17T04:00:00Z" in two_hour
    assert "2023-09-30T22:00:00Z" in two_hour
    assert "26,777" in two_hour
    assert "53" in two_hour
    assert "18" in two_hour


def test_list_json_is_an_array_with_ranges_rows_and_gaps() -> None:
    result = runner.invoke(app, ["data", "list", "--json"])
    assert result.exit_code == 0, result.output
    datasets = json.loads(result.stdout)
    assert isinstance(datasets, list)
    by_key = {(d["symbol"], d["timeframe"]): d for d in datasets}
    assert sorted(by_key) == [
        ("BNB/USDT", "1h"),
        ("BTC/USDT", "1h"),
        ("BTC/USDT", "2h"),
        ("ETH/USDT", "1h"),
        ("SOL/USDT", "1h"),
    ]
    btc = by_key[("BTC/USDT", "1h")]
    assert btc["exchange"] == "binance"
    assert (btc["first"], btc["last"]) == ("2021-04-05T00:00:00Z", "2023-09-30T23:00:00Z")
    assert (btc["first_ms"], btc["last_ms"]) == (1_617_580_800_000, 1_696_114_800_000)
    assert (btc["rows"], btc["missing_bars"], btc["gap_runs"]) == (21_804, 12, 5)
    assert btc["gaps"][0] == {"first_missing": "2021-04-20T02:00:00Z", "bars": 2}
    assert btc["sha256"].startswith("4bc28a06e738d261")
    two_hour = by_key[("BTC/USDT", "2h")]
    assert (two_hour["rows"], two_hour["missing_bars"], two_hour["gap_runs"]) == (26_777, 53, 18)


def test_list_with_a_data_folder(tmp_path: Path) -> None:
    shutil.copy(bundled_data_dir() / "binance_ETH-USDT_1h.csv", tmp_path)
    write_candles(tmp_path / "kraken_BTC-EUR_1h.csv", [good(0), good(1), good(3)])
    (tmp_path / "misc.csv").write_text("whatever\n")
    result = runner.invoke(app, ["data", "list", "--data", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    datasets = json.loads(result.stdout)
    assert [(d["exchange"], d["symbol"], d["rows"]) for d in datasets] == [
        ("binance", "ETH/USDT", 21_804),
        ("kraken", "BTC/EUR", 3),
    ]
    assert (datasets[1]["missing_bars"], datasets[1]["gap_runs"]) == (1, 1)
    assert "ignored misc.csv" in result.stderr


def test_list_with_a_single_file(tmp_path: Path) -> None:
    path = write_candles(tmp_path / "binance_SOL-USDT_1h.csv", [good(h) for h in range(4)])
    result = runner.invoke(app, ["data", "list", "--data", str(path)], env=WIDE)
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if "SOL/USDT" in x]
    assert "2021-04-05T00:00:00Z" in line
    assert "2021-04-05T03:00:00Z" in line


def test_list_with_a_missing_path_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    result = runner.invoke(app, ["data", "list", "--data", str(missing)])
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr
    assert "absent" in result.stderr


def test_check_accepts_a_good_file_with_a_summary() -> None:
    path = bundled_data_dir() / "binance_BTC-USDT_1h.csv"
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
    assert "21,804" in result.stdout
    assert "2021-04-05T00:00:00Z .. 2023-09-30T23:00:00Z" in result.stdout
    assert "12 missing candles in 5 runs" in result.stdout
    assert "binance BTC/USDT 1h" in result.stdout


def test_check_names_every_bad_line_and_exits_2(tmp_path: Path) -> None:
    path = write_candles(
        tmp_path / "binance_BTC-USDT_1h.csv",
        [
            good(0),
            f"{T0 + HOUR},100.5,100.5,101.2,101,5",  # line 3: high < low
            good(2),
            good(2),  # line 5: duplicate
            good(4),
            good(3),  # line 7: out of order
        ],
    )
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 2
    problems = result.stdout.splitlines()
    assert problems[0] == f"{path}:3: high < low (high 100.5, low 101.2)"
    assert problems[1].startswith(f"{path}:5: duplicate timestamp {T0 + 2 * HOUR}")
    assert problems[2].startswith(f"{path}:7: timestamp {T0 + 3 * HOUR}")
    assert "out of order" in problems[2]
    assert len(problems) == 3
    assert "3 problems found" in result.stderr


def test_check_json_lists_the_issues(tmp_path: Path) -> None:
    path = write_candles(tmp_path / "binance_BTC-USDT_1h.csv", [good(0), good(0)])
    result = runner.invoke(app, ["data", "check", str(path), "--json"])
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["problems"] == 1
    [issue] = report["issues"]
    assert (issue["path"], issue["line"]) == (str(path), 3)
    assert issue["rule"].startswith("duplicate timestamp")


def test_check_limit_caps_the_listing(tmp_path: Path) -> None:
    rows = [f"{T0 + h * HOUR},100,99,101,100,1" for h in range(5)]  # high < low everywhere
    path = write_candles(tmp_path / "binance_BTC-USDT_1h.csv", rows)
    result = runner.invoke(app, ["data", "check", str(path), "--limit", "2"])
    assert result.exit_code == 2
    assert result.stdout.splitlines()[-1] == "... and 3 more problems (use --limit 0 to see all)"
    assert "5 problems found" in result.stderr


def test_check_an_unnamed_file_with_options(tmp_path: Path) -> None:
    path = write_candles(tmp_path / "export.csv", [good(h) for h in range(3)])
    refused = runner.invoke(app, ["data", "check", str(path)])
    assert refused.exit_code == 2
    assert "EXCHANGE_BASE-QUOTE_TF.csv" in refused.stderr
    accepted = runner.invoke(
        app, ["data", "check", str(path), "--symbol", "eth/btc", "--timeframe", "1h", "--json"]
    )
    assert accepted.exit_code == 0, accepted.output
    summary = json.loads(accepted.stdout)
    assert (summary["exchange"], summary["symbol"], summary["timeframe"]) == (
        "custom",
        "ETH/BTC",
        "1h",
    )
    assert summary["rows"] == 3


def test_check_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "check", str(tmp_path / "gone.csv")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_check_a_bad_timeframe_option_exits_2(tmp_path: Path) -> None:
    path = write_candles(tmp_path / "binance_BTC-USDT_1h.csv", [good(0)])
    result = runner.invoke(app, ["data", "check", str(path), "--timeframe", "7h"])
    assert result.exit_code == 2
    assert "--timeframe" in result.stderr
