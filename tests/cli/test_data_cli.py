"""`sigmax data list` and `sigmax data check`, run through the real Typer app."""

from __future__ import annotations

import json
import shutil
import time
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
    assert "market    binance BTC/USDT" in result.stdout
    assert "timeframe 1h (from the file name)" in result.stdout


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


def test_check_any_file_name_infers_and_states_the_timeframe(tmp_path: Path) -> None:
    # The README's own example: a file whose name says nothing about its content.
    path = write_candles(tmp_path / "my_candles.csv", [good(2 * h) for h in range(4)])
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "timeframe 2h (from the spacing of the candles)" in result.stdout
    assert "market    custom not named" in result.stdout
    assert "candles   4" in result.stdout


def test_check_an_unnamed_file_with_options(tmp_path: Path) -> None:
    path = write_candles(tmp_path / "export.csv", [good(h) for h in range(3)])
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
    assert summary["timeframe_from"] == "given"
    assert summary["rows"] == 3


def test_check_a_named_file_whose_content_contradicts_the_name(tmp_path: Path) -> None:
    path = write_candles(tmp_path / "binance_BTC-USDT_1h.csv", [good(2 * h) for h in range(4)])
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 2
    assert "the file name binance_BTC-USDT_1h.csv says 1h" in result.stdout
    assert "most are 7200000 ms (2h) apart" in result.stdout


def test_check_an_option_that_contradicts_the_name(tmp_path: Path) -> None:
    path = write_candles(tmp_path / "binance_BTC-USDT_1h.csv", [good(h) for h in range(3)])
    result = runner.invoke(app, ["data", "check", str(path), "--symbol", "ETH/USDT"])
    assert result.exit_code == 2
    assert "--symbol: ETH/USDT contradicts the file name binance_BTC-USDT_1h.csv" in result.stderr
    assert "says BTC/USDT" in result.stderr


def test_check_never_prints_a_line_of_a_linked_system_file(tmp_path: Path) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\n")
    link = tmp_path / "binance_BTC-USDT_1h.csv"
    link.symlink_to(secret)
    for args in (["data", "check", str(link)], ["data", "list", "--data", str(link)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert "header must be exactly" in result.output
        assert "x:0:0" not in result.output
        assert "/bin/bash" not in result.output


def test_check_refuses_a_device_at_once(tmp_path: Path) -> None:
    link = tmp_path / "binance_BTC-USDT_1h.csv"
    link.symlink_to("/dev/zero")
    for target in (Path("/dev/zero"), link):
        started = time.monotonic()
        result = runner.invoke(app, ["data", "check", str(target)])
        assert result.exit_code == 2
        assert "is a character device, not a regular file" in result.stderr
        assert time.monotonic() - started < 2


def test_check_refuses_candles_from_the_future(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    start = now - now % HOUR - 2 * HOUR
    rows = [f"{start + h * HOUR},100,101,99,100.5,10" for h in range(5)]
    path = write_candles(tmp_path / "binance_BTC-USDT_1h.csv", rows)
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 2
    # Open times start-2h .. start+2h: the one opening 2 h after the current hour is refused,
    # the one forming now and the next one (clock skew) are not.
    assert result.stdout.count("opens in the future") == 1
    assert ":6: timestamp" in result.stdout


def test_check_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "check", str(tmp_path / "gone.csv")])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_check_a_bad_timeframe_option_exits_2(tmp_path: Path) -> None:
    path = write_candles(tmp_path / "binance_BTC-USDT_1h.csv", [good(0)])
    result = runner.invoke(app, ["data", "check", str(path), "--timeframe", "7h"])
    assert result.exit_code == 2
    assert "--timeframe" in result.stderr
