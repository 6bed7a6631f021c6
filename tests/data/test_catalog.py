"""The dataset catalog over the bundled data, a folder and a single file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sigmax.data.catalog import DatasetCatalog, bundled_data_dir
from sigmax.data.csv_store import HEADER
from sigmax.domain.candles import Timeframe
from sigmax.domain.instruments import Symbol
from sigmax.errors import DatasetNotFoundError, DataValidationError, InputError

T0 = 1_617_580_800_000
HOUR = 3_600_000


def candle_file(path: Path, hours: int = 3, step: int = HOUR) -> Path:
    body = [HEADER] + [f"{T0 + h * step},10,11,9,10.5,1" for h in range(hours)]
    path.write_text("\n".join(body) + "\n")
    return path


def test_bundled_folder_is_inside_the_package() -> None:
    folder = bundled_data_dir()
    assert folder.is_dir()
    assert folder.parts[-3:] == ("data", "bundled", "candles")
    assert (folder.parent / "PROVENANCE.md").is_file()


def test_bundled_catalog_lists_the_five_datasets_without_loading() -> None:
    catalog = DatasetCatalog.from_path(None)
    listed = [(e.exchange, str(e.symbol), e.timeframe.value) for e in catalog.entries()]
    assert listed == [
        ("binance", "BNB/USDT", "1h"),
        ("binance", "BTC/USDT", "1h"),
        ("binance", "BTC/USDT", "2h"),
        ("binance", "ETH/USDT", "1h"),
        ("binance", "SOL/USDT", "1h"),
    ]
    assert all(entry.path.parent == bundled_data_dir() for entry in catalog.entries())
    assert catalog.ignored == ()


def test_load_by_symbol_and_timeframe_and_cache_per_catalog() -> None:
    catalog = DatasetCatalog.from_path(None)
    first = catalog.load("ETH/USDT", "1h")
    assert first.series.symbol == Symbol("ETH", "USDT")
    assert first.rows == 21_804
    assert catalog.load(Symbol("ETH", "USDT"), Timeframe.H1, exchange="Binance") is first
    assert DatasetCatalog.from_path(None).load("ETH/USDT", "1h") is not first


def test_unknown_dataset_names_what_was_asked_and_what_exists() -> None:
    catalog = DatasetCatalog.from_path(None)
    with pytest.raises(DatasetNotFoundError) as caught:
        catalog.load("XRP/USDT", "1h")
    message = str(caught.value)
    assert "XRP/USDT 1h" in message
    assert "binance BTC/USDT 2h" in message
    with pytest.raises(DatasetNotFoundError, match="kraken BTC/USDT 1h"):
        catalog.load("BTC/USDT", "1h", exchange="kraken")


def test_missing_timeframe_points_to_a_finer_dataset() -> None:
    with pytest.raises(DatasetNotFoundError, match=r"resampled from binance BTC/USDT 1h"):
        DatasetCatalog.from_path(None).load("BTC/USDT", "4h")


def test_bad_symbol_or_timeframe_text_is_an_input_error() -> None:
    catalog = DatasetCatalog.from_path(None)
    with pytest.raises(InputError, match="BASE/QUOTE"):
        catalog.load("BTCUSDT", "1h")
    with pytest.raises(InputError, match="timeframe must be one of"):
        catalog.load("BTC/USDT", "90m")


def test_folder_catalog(tmp_path: Path) -> None:
    candle_file(tmp_path / "kraken_ETH-EUR_1h.csv")
    candle_file(tmp_path / "binance_BTC-USDT_4h.csv", step=4 * HOUR)
    (tmp_path / "notes.csv").write_text("not candles\n")
    (tmp_path / "readme.txt").write_text("ignored silently\n")
    catalog = DatasetCatalog.from_path(tmp_path)
    assert [str(entry) for entry in catalog.entries()] == [
        "binance BTC/USDT 4h",
        "kraken ETH/EUR 1h",
    ]
    assert catalog.ignored == (tmp_path / "notes.csv",)
    loaded = catalog.load("BTC/USDT", "4h")
    assert loaded.rows == 3
    assert loaded.series.timeframe is Timeframe.H4


def test_folder_with_a_copy_of_a_bundled_file(tmp_path: Path) -> None:
    shutil.copy(bundled_data_dir() / "binance_SOL-USDT_1h.csv", tmp_path)
    loaded = DatasetCatalog.from_path(tmp_path).load("SOL/USDT", "1h")
    assert loaded.rows == 21_804
    assert loaded.sha256.startswith("dbc039a33d94ec1e")


def test_single_file_catalog_with_a_standard_name(tmp_path: Path) -> None:
    path = candle_file(tmp_path / "binance_BTC-USDT_1h.csv", hours=5)
    catalog = DatasetCatalog.from_path(path)
    [entry] = catalog.entries()
    assert entry.path == path
    assert catalog.load("BTC/USDT", "1h").rows == 5


def test_single_file_catalog_infers_what_its_name_does_not_say(tmp_path: Path) -> None:
    path = candle_file(tmp_path / "BTC-USDT.csv", hours=4, step=2 * HOUR)
    catalog = DatasetCatalog.from_path(path)
    [entry] = catalog.entries()
    assert (entry.exchange, entry.symbol, entry.timeframe) == (
        "custom",
        Symbol("BTC", "USDT"),
        Timeframe.H2,
    )
    assert catalog.load("BTC/USDT", "2h").rows == 4


def test_missing_path_is_an_input_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match="no such file or folder") as caught:
        DatasetCatalog.from_path(missing)
    assert str(missing) in str(caught.value)


def test_folder_without_candle_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text(HEADER + "\n")
    with pytest.raises(InputError, match=r"no candle files.*EXCHANGE_BASE-QUOTE_TF\.csv"):
        DatasetCatalog.from_path(tmp_path)


def test_two_files_for_the_same_dataset_are_refused(tmp_path: Path) -> None:
    candle_file(tmp_path / "binance_BTC-USDT_1h.csv")
    candle_file(tmp_path / "Binance_btc-usdt_1H.csv")
    with pytest.raises(InputError, match="both hold binance BTC/USDT 1h"):
        DatasetCatalog.from_path(tmp_path)


def test_same_market_on_two_exchanges_needs_the_exchange(tmp_path: Path) -> None:
    candle_file(tmp_path / "binance_BTC-USDT_1h.csv", hours=2)
    candle_file(tmp_path / "kraken_BTC-USDT_1h.csv", hours=3)
    catalog = DatasetCatalog.from_path(tmp_path)
    with pytest.raises(InputError, match="several exchanges"):
        catalog.load("BTC/USDT", "1h")
    assert catalog.load("BTC/USDT", "1h", exchange="kraken").rows == 3


def test_invalid_file_surfaces_its_issues_on_load(tmp_path: Path) -> None:
    path = tmp_path / "binance_BTC-USDT_1h.csv"
    path.write_text(f"{HEADER}\n{T0},10,11,9,10.5,1\n{T0},10,11,9,10.5,1\n")
    catalog = DatasetCatalog.from_path(tmp_path)
    with pytest.raises(DataValidationError) as caught:
        catalog.load("BTC/USDT", "1h")
    [issue] = caught.value.issues
    assert issue.line == 3
