"""The candle loader: the real bundled files, and one small bad file per validation rule."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from sigmax.data.catalog import bundled_data_dir
from sigmax.data.csv_store import (
    HEADER,
    Gap,
    LoadedCandles,
    check_candles,
    load_candles,
    parse_dataset_name,
)
from sigmax.domain.candles import Timeframe, datetime_to_ms
from sigmax.domain.instruments import Symbol
from sigmax.errors import DataIssue, DataValidationError, InputError

HOUR = 3_600_000
ONE_H_FILES = [f"binance_{s}-USDT_1h.csv" for s in ("BTC", "ETH", "SOL", "BNB")]
SHA256_PREFIX = {
    "binance_BTC-USDT_1h.csv": "4bc28a06e738d261",
    "binance_ETH-USDT_1h.csv": "a05645ecaaf45449",
    "binance_SOL-USDT_1h.csv": "dbc039a33d94ec1e",
    "binance_BNB-USDT_1h.csv": "37530cb4399a307b",
    "binance_BTC-USDT_2h.csv": "a3156241d782a447",
}


def utc_ms(text: str) -> int:
    return datetime_to_ms(datetime.fromisoformat(text).replace(tzinfo=UTC))


def bundled(name: str) -> LoadedCandles:
    return load_candles(bundled_data_dir() / name)


def write(tmp_path: Path, body: str, name: str = "binance_BTC-USDT_1h.csv") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def issues_of(path: Path) -> list[DataIssue]:
    with pytest.raises(DataValidationError) as caught:
        load_candles(path)
    return caught.value.issues


def rows(*lines: str) -> str:
    return HEADER + "\n" + "\n".join(lines) + "\n"


# A good hourly row at hour ``h`` after 2021-04-05 00:00 UTC.
T0 = 1_617_580_800_000


def good(h: int, price: float = 100.0) -> str:
    return f"{T0 + h * HOUR},{price},{price + 1},{price - 1},{price + 0.5},10"


# --- the bundled datasets -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ONE_H_FILES)
def test_bundled_1h_files_have_the_documented_range_rows_and_gaps(name: str) -> None:
    loaded = bundled(name)
    series = loaded.series
    assert loaded.rows == 21_804
    assert series.timeframe is Timeframe.H1
    assert series.exchange == "binance"
    assert series.first_ms == utc_ms("2021-04-05T00:00:00") == 1_617_580_800_000
    assert series.last_ms == utc_ms("2023-09-30T23:00:00") == 1_696_114_800_000
    assert loaded.gaps == (
        Gap(utc_ms("2021-04-20T02:00:00"), 2),
        Gap(utc_ms("2021-04-25T05:00:00"), 3),
        Gap(utc_ms("2021-08-13T02:00:00"), 4),
        Gap(utc_ms("2021-09-29T07:00:00"), 2),
        Gap(utc_ms("2023-03-24T13:00:00"), 1),
    )
    assert loaded.missing_bars == 12
    assert loaded.gap_runs == 5
    # The full grid holds exactly the rows plus the missing candles: nothing was filled in.
    assert (series.last_ms - series.first_ms) // HOUR + 1 == loaded.rows + loaded.missing_bars


def test_bundled_2h_file_has_the_documented_range_rows_and_gaps() -> None:
    loaded = bundled("binance_BTC-USDT_2h.csv")
    assert loaded.rows == 26_777
    assert loaded.series.timeframe is Timeframe.H2
    assert loaded.series.first_ms == utc_ms("2017-08-17T04:00:00")
    assert loaded.series.last_ms == utc_ms("2023-09-30T22:00:00")
    assert loaded.missing_bars == 53
    assert loaded.gap_runs == 18
    assert loaded.gaps[0] == Gap(utc_ms("2017-09-06T18:00:00"), 2)
    assert loaded.gaps[1] == Gap(utc_ms("2018-02-08T02:00:00"), 16)
    assert loaded.gaps[-1] == Gap(utc_ms("2021-08-13T02:00:00"), 2)


@pytest.mark.parametrize("name", sorted(SHA256_PREFIX))
def test_checksum_is_the_sha256_of_the_file_bytes(name: str) -> None:
    loaded = bundled(name)
    assert len(loaded.sha256) == 64
    assert loaded.sha256.startswith(SHA256_PREFIX[name])


@pytest.mark.parametrize(
    ("name", "moment", "open_price"),
    [
        ("binance_BTC-USDT_1h.csv", "2023-01-01T00:00:00", 16541.77),
        ("binance_BTC-USDT_1h.csv", "2021-11-10T00:00:00", 66947.67),
        ("binance_ETH-USDT_1h.csv", "2022-06-18T20:00:00", 915.16),
        ("binance_SOL-USDT_1h.csv", "2022-11-09T00:00:00", 24.38),
        ("binance_BNB-USDT_1h.csv", "2023-03-11T00:00:00", 277.5),
    ],
)
def test_known_historical_opens(name: str, moment: str, open_price: float) -> None:
    series = bundled(name).series
    index = int(np.searchsorted(series.timestamp, utc_ms(moment)))
    assert series.timestamp[index] == utc_ms(moment)
    assert series.open[index] == open_price


def test_first_btc_candle_matches_the_file_text() -> None:
    first = bundled("binance_BTC-USDT_1h.csv").series.candle(0)
    assert (first.open, first.high, first.low, first.close) == (
        58202.01,
        58387.35,
        57890.97,
        57908.13,
    )
    assert first.volume == 2110.945386


def test_the_four_1h_files_share_their_timestamps() -> None:
    stamps = [bundled(name).series.timestamp for name in ONE_H_FILES]
    for other in stamps[1:]:
        assert np.array_equal(stamps[0], other)


def test_halt_candle_is_flat_with_zero_volume() -> None:
    series = bundled("binance_BTC-USDT_1h.csv").series
    index = int(np.searchsorted(series.timestamp, utc_ms("2023-03-24T12:00:00")))
    candle = series.candle(index)
    assert candle.volume == 0
    assert candle.open == candle.high == candle.low == candle.close == series.close[index - 1]


def test_loaded_columns_are_contiguous_read_only_float64() -> None:
    series = bundled("binance_ETH-USDT_1h.csv").series
    assert series.timestamp.dtype == np.int64
    for column in (series.open, series.high, series.low, series.close, series.volume):
        assert column.dtype == np.float64
        assert column.flags.c_contiguous
        assert not column.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        series.close[0] = 1.0


def test_careful_reader_gives_the_same_numbers_as_the_fast_one(tmp_path: Path) -> None:
    # A '+' sign is valid but not "plain", so the whole file goes through the line-by-line
    # reader, which uses Python's float(); both readers must agree to the last bit.
    original = bundled_data_dir() / "binance_SOL-USDT_1h.csv"
    header, first, rest = original.read_text().split("\n", 2)
    fields = first.split(",")
    fields[1] = "+" + fields[1]
    copy = write(tmp_path, "\n".join([header, ",".join(fields), rest]), original.name)
    fast, careful = load_candles(original).series, load_candles(copy).series
    for name in ("timestamp", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(fast, name), getattr(careful, name)), name


def test_windows_line_endings_and_trailing_blank_lines_are_accepted(tmp_path: Path) -> None:
    body = rows(good(0), good(1), good(2)).replace("\n", "\r\n") + "\r\n\r\n"
    loaded = load_candles(write(tmp_path, body))
    assert loaded.rows == 3
    assert loaded.series.close[2] == 100.5


def test_numbers_with_more_than_fifteen_digits_are_exact(tmp_path: Path) -> None:
    price = "100.12345678901234567"
    body = rows(f"{T0},{price},101,99,100,0.000000000000000123456789")
    series = load_candles(write(tmp_path, body)).series
    assert series.open[0] == float(price)
    assert series.volume[0] == float("0.000000000000000123456789")


def test_gaps_are_reported_and_not_filled(tmp_path: Path) -> None:
    loaded = load_candles(write(tmp_path, rows(good(0), good(1), good(4), good(5), good(7))))
    assert loaded.rows == 5
    assert loaded.gaps == (Gap(T0 + 2 * HOUR, 2), Gap(T0 + 6 * HOUR, 1))
    assert loaded.missing_bars == 3


# --- one bad file per rule, with the exact line -------------------------------------------------


def test_header_must_be_exact(tmp_path: Path) -> None:
    path = write(tmp_path, "date,open,high,low,close,volume\n" + good(0) + "\n")
    [issue] = issues_of(path)
    assert issue.line == 1
    assert "header must be exactly timestamp,open,high,low,close,volume" in issue.rule
    assert "lacks timestamp" in issue.rule
    assert "date" not in issue.rule  # the file's own line is never quoted


def test_missing_header_is_named(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, good(0) + "\n" + good(1) + "\n"))
    assert issue.line == 1
    assert issue.rule.startswith("header must be exactly")


def test_empty_file(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, ""))
    assert issue.line is None
    assert "empty" in issue.rule


def test_header_without_candles(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, HEADER + "\n"))
    assert "no candles" in issue.rule


def test_non_numeric_field_names_line_and_column(tmp_path: Path) -> None:
    bad = f"{T0 + 2 * HOUR},100,101,99,abc,10"
    [issue] = issues_of(write(tmp_path, rows(good(0), good(1), bad, good(3))))
    assert (issue.line, issue.rule) == (4, "close is not a number ('abc')")


@pytest.mark.parametrize("text", ["nan", "inf", "1_000", "", "0x10"])
def test_values_that_are_not_plain_numbers_are_refused(tmp_path: Path, text: str) -> None:
    bad = f"{T0 + HOUR},100,101,99,100,{text}"
    [issue] = issues_of(write(tmp_path, rows(good(0), bad)))
    assert issue.line == 3
    assert issue.rule.startswith("volume is")


def test_wrong_field_count(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, rows(good(0), f"{T0 + HOUR},100,101,99,100")))
    assert issue.line == 3
    assert issue.rule == f"expected 6 fields ({HEADER}), got 5"


def test_out_of_order_row_is_named(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, rows(good(0), good(2), good(1), good(3))))
    assert issue.line == 4
    assert "out of order" in issue.rule
    assert "line 3" in issue.rule
    assert str(T0 + HOUR) in issue.rule


def test_duplicate_row_is_named(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, rows(good(0), good(1), good(1), good(2))))
    assert issue.line == 4
    assert issue.rule.startswith(f"duplicate timestamp {T0 + HOUR}")
    assert issue.rule.endswith("first seen on line 3")


def test_timestamp_off_the_timeframe_grid(tmp_path: Path) -> None:
    off = f"{T0 + HOUR + 60_000},100,101,99,100,10"
    [issue] = issues_of(write(tmp_path, rows(good(0), off, good(2))))
    assert issue.line == 3
    assert "not on the 1h grid" in issue.rule


def test_timestamps_in_seconds_are_refused(tmp_path: Path) -> None:
    seconds = f"{T0 // 1000},100,101,99,100,10"
    [issue] = issues_of(write(tmp_path, rows(seconds, good(1))))
    assert issue.line == 2
    assert "not milliseconds since the epoch" in issue.rule


def test_fractional_timestamp(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, rows(good(0), f"{T0 + HOUR}.5,100,101,99,100,10")))
    assert issue.line == 3
    assert "not a whole number of milliseconds" in issue.rule


def test_high_below_low(tmp_path: Path) -> None:
    bad = f"{T0 + HOUR},100.5,100.5,101.2,101,5"
    [issue] = issues_of(write(tmp_path, rows(good(0), bad)))
    assert (issue.line, issue.rule) == (3, "high < low (high 100.5, low 101.2)")


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        ("105,104,99,100", "open > high (open 105, high 104)"),
        ("98,104,99,100", "open < low (open 98, low 99)"),
        ("100,104,99,104.5", "close > high (close 104.5, high 104)"),
        ("100,104,99,98.25", "close < low (close 98.25, low 99)"),
    ],
)
def test_open_and_close_must_lie_between_low_and_high(tmp_path: Path, row: str, rule: str) -> None:
    [issue] = issues_of(write(tmp_path, rows(good(0), good(1), f"{T0 + 2 * HOUR},{row},1")))
    assert (issue.line, issue.rule) == (4, rule)


def test_prices_must_be_positive(tmp_path: Path) -> None:
    issues = issues_of(write(tmp_path, rows(good(0), f"{T0 + HOUR},0,0,0,0,1")))
    assert [(i.line, i.rule) for i in issues] == [
        (3, f"{column} must be > 0 ({column} 0)") for column in ("open", "high", "low", "close")
    ]


def test_volume_must_not_be_negative(tmp_path: Path) -> None:
    [issue] = issues_of(write(tmp_path, rows(good(0), f"{T0 + HOUR},100,101,99,100,-0.5")))
    assert (issue.line, issue.rule) == (3, "volume must be >= 0 (volume -0.5)")


def test_every_problem_is_collected_in_line_order(tmp_path: Path) -> None:
    body = rows(
        good(0),
        f"{T0 + HOUR},100.5,100.5,101.2,101,5",  # line 3: high < low
        good(1),  # line 4: duplicate of line 3
        good(5),
        good(3),  # line 6: out of order
        f"{T0 + 6 * HOUR},x,1,1,1,1",  # line 7: not a number
        f"{T0 + 7 * HOUR},1,1,1,1,-1",  # line 8: negative volume
    )
    issues = issues_of(write(tmp_path, body))
    assert [(i.line, i.rule.split(" (")[0]) for i in issues] == [
        (3, "high < low"),
        (4, f"duplicate timestamp {T0 + HOUR}"),
        (6, f"timestamp {T0 + 3 * HOUR}"),
        (7, "open is not a number"),
        (8, "volume must be >= 0"),
    ]
    assert all(issue.path == tmp_path / "binance_BTC-USDT_1h.csv" for issue in issues)
    assert "out of order" in issues[2].rule


def test_timeframe_that_contradicts_the_candle_spacing(tmp_path: Path) -> None:
    body = rows(*(good(2 * h) for h in range(6)))
    [issue] = issues_of(write(tmp_path, body, "binance_BTC-USDT_1h.csv"))
    assert issue.line is None
    assert "no two candles are 3600000 ms apart; most are 7200000 ms (2h) apart" in issue.rule


def test_sparse_data_with_some_neighbouring_candles_is_accepted(tmp_path: Path) -> None:
    loaded = load_candles(write(tmp_path, rows(good(0), good(1), good(5), good(9), good(14))))
    assert loaded.gap_runs == 3


# --- names, inference and file errors -----------------------------------------------------------


def test_dataset_name_is_parsed_from_the_file_name() -> None:
    named = parse_dataset_name(Path("kraken_ETH-EUR_4h.csv"))
    assert named is not None
    assert (named.exchange, named.symbol, named.timeframe) == (
        "kraken",
        Symbol("ETH", "EUR"),
        Timeframe.H4,
    )
    assert parse_dataset_name(Path("binance_BTC-USDT_3h.csv")) is None
    assert parse_dataset_name(Path("BTC-USDT.csv")) is None


def test_unnamed_file_gets_custom_exchange_and_inferred_timeframe(tmp_path: Path) -> None:
    body = rows(*(f"{T0 + h * 4 * HOUR},1,2,0.5,1.5,3" for h in range(5)))
    loaded = load_candles(write(tmp_path, body, "my_BTC-USDT_export.csv"))
    series = loaded.series
    assert (series.exchange, series.symbol, series.timeframe) == (
        "custom",
        Symbol("BTC", "USDT"),
        Timeframe.H4,
    )


def test_explicit_market_overrides_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, rows(good(0), good(1)), "prices.csv")
    series = load_candles(
        path, exchange="kraken", symbol=Symbol("ETH", "EUR"), timeframe=Timeframe.H1
    ).series
    assert (series.exchange, series.symbol, series.timeframe) == (
        "kraken",
        Symbol("ETH", "EUR"),
        Timeframe.H1,
    )


def test_file_without_a_market_in_its_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, rows(good(0), good(1)), "prices_2021-04.csv")
    with pytest.raises(InputError, match=r"EXCHANGE_BASE-QUOTE_TF\.csv"):
        load_candles(path)


def test_unknown_spacing_without_a_timeframe_is_refused(tmp_path: Path) -> None:
    body = rows(*(f"{T0 + h * 3 * HOUR},1,2,0.5,1.5,3" for h in range(4)))
    with pytest.raises(InputError, match=r"cannot tell the timeframe.*EXCHANGE_BASE-QUOTE_TF"):
        load_candles(write(tmp_path, body, "BTC-USDT.csv"))


def test_missing_file_and_folder_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file") as caught:
        load_candles(tmp_path / "binance_BTC-USDT_1h.csv")
    assert str(tmp_path) in str(caught.value)
    with pytest.raises(InputError, match="is a folder"):
        load_candles(tmp_path)


def test_fast_reader_matches_python_float_on_many_decimals(tmp_path: Path) -> None:
    # Mantissas of 1 to 19 digits with the dot anywhere: past 15 digits a naive
    # "integer / 10**k" would round twice, so this pins the exact-parsing guarantee.
    rng = np.random.default_rng(20240405)
    texts = []
    for _ in range(3000):
        digits = "".join(rng.choice(list("0123456789"), size=int(rng.integers(1, 20))))
        digits = str(int(rng.integers(1, 10))) + digits[1:]
        dot = int(rng.integers(0, len(digits) + 1))
        texts.append(digits if dot == len(digits) else digits[:dot] + "." + digits[dot:])
    body = [f"{T0 + i * HOUR},{t},{t},{t},{t},{t}" for i, t in enumerate(texts)]
    series = load_candles(write(tmp_path, rows(*body))).series
    expected = np.array([float(t) for t in texts])
    assert np.array_equal(series.open, expected)
    assert np.array_equal(series.volume, expected)


# --- what is read, and how much -----------------------------------------------------------------


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    pipe = tmp_path / "binance_BTC-USDT_1h.csv"
    os.mkfifo(pipe)
    # Opening a pipe with no writer would block forever; it is refused before any read.
    with pytest.raises(InputError, match="is a named pipe, not a regular file"):
        load_candles(pipe)
    with pytest.raises(InputError, match="is a character device, not a regular file"):
        load_candles(Path("/dev/zero"), symbol=Symbol.parse("BTC/USDT"))


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, rows(*(good(h) for h in range(100))))
    size = path.stat().st_size
    assert load_candles(path, max_bytes=size).rows == 100
    with pytest.raises(InputError, match=f"larger than {size - 1} bytes"):
        load_candles(path, max_bytes=size - 1)


def test_candles_opening_after_now_plus_one_period_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, rows(*(good(h) for h in range(4))))
    # Candles open at T0 .. T0+3h: at T0+2h the one opening at T0+3h is a period ahead (a clock
    # behind the exchange's); at T0+2h-1ms it is later than that.
    assert load_candles(path, now_ms=T0 + 2 * HOUR).rows == 4
    [issue] = issues_of_at(path, T0 + 2 * HOUR - 1)
    assert issue.line == 5
    assert "opens in the future" in issue.rule


def test_any_file_name_is_checked_with_the_timeframe_from_the_spacing(tmp_path: Path) -> None:
    path = write(tmp_path, rows(*(good(4 * h) for h in range(5))), name="my_candles.csv")
    checked = check_candles(path)
    assert (checked.symbol, checked.timeframe, checked.timeframe_source) == (
        None,
        Timeframe.H4,
        "spacing",
    )
    with pytest.raises(InputError, match="does not say which market"):
        checked.loaded()
    with pytest.raises(InputError, match="does not say which market"):
        load_candles(path)
    named = check_candles(path, symbol=Symbol.parse("BTC/USDT"))
    assert named.loaded().series.symbol == Symbol.parse("BTC/USDT")


def test_a_name_contradicted_by_the_content_names_both(tmp_path: Path) -> None:
    path = write(tmp_path, rows(*(good(4 * h) for h in range(5))), name="kraken_ETH-USD_1h.csv")
    [issue] = issues_of(path)
    assert "the file name kraken_ETH-USD_1h.csv says 1h" in issue.rule
    assert "most are 14400000 ms (4h) apart" in issue.rule
    with pytest.raises(InputError, match="--timeframe: 4h contradicts the file name"):
        load_candles(path, timeframe=Timeframe.H4)


def issues_of_at(path: Path, now_ms: int) -> list[DataIssue]:
    with pytest.raises(DataValidationError) as caught:
        load_candles(path, now_ms=now_ms)
    return caught.value.issues
