"""Which candle datasets exist, and loading them by market and timeframe.

A catalog covers one source: the datasets bundled with SIGMAX (the default), a single CSV file,
or a folder of ``EXCHANGE_BASE-QUOTE_TF.csv`` files. Listing reads only file names; loading
validates the file once and keeps the result for the life of the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from sigmax.data.csv_store import (
    FILE_NAME_HINT,
    LoadedCandles,
    load_candles,
    parse_dataset_name,
)
from sigmax.domain.candles import Timeframe
from sigmax.domain.instruments import Symbol
from sigmax.errors import DatasetNotFoundError, InputError, SigmaxError


def bundled_data_dir() -> Path:
    """The folder of candle files shipped inside the ``sigmax.data`` package."""
    folder = files("sigmax.data").joinpath("bundled", "candles")
    if not isinstance(folder, Path) or not folder.is_dir():
        # Only a zipped install would get here; the loader needs real files to read.
        raise SigmaxError(
            f"the bundled candle data is not a folder on disk ({folder}); "
            "install SIGMAX from a wheel or source tree, not a zip archive"
        )
    return folder


@dataclass(frozen=True, slots=True)
class DatasetEntry:
    """One dataset in a catalog, known from its file name (nothing is loaded)."""

    exchange: str
    symbol: Symbol
    timeframe: Timeframe
    path: Path

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {self.timeframe.value}"


class DatasetCatalog:
    """The datasets of one source, loaded on demand and cached per catalog."""

    def __init__(
        self,
        source: str,
        entries: list[DatasetEntry],
        *,
        ignored: list[Path] | None = None,
        preloaded: list[LoadedCandles] | None = None,
    ) -> None:
        self.source = source
        self._entries = tuple(sorted(entries, key=_entry_order))
        #: CSV files in a folder that were skipped because their name does not say the market.
        self.ignored = tuple(ignored or ())
        self._cache: dict[Path, LoadedCandles] = {c.path: c for c in preloaded or ()}
        _refuse_duplicates(self._entries, source)

    @classmethod
    def from_path(cls, path: Path | None) -> DatasetCatalog:
        """The bundled datasets (``None``), one CSV file, or a folder of CSV files."""
        if path is None:
            return cls.bundled()
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir():
            return cls._from_folder(path)
        return cls._from_file(path)

    @classmethod
    def bundled(cls) -> DatasetCatalog:
        """The real Binance datasets shipped with SIGMAX."""
        return cls._from_folder(bundled_data_dir(), source="bundled data")

    def entries(self) -> tuple[DatasetEntry, ...]:
        """Every dataset, ordered by exchange, symbol and timeframe length."""
        return self._entries

    def find(
        self, symbol: Symbol | str, timeframe: Timeframe | str, exchange: str | None = None
    ) -> DatasetEntry:
        """The one entry for the market and timeframe (any exchange when ``exchange`` is None)."""
        wanted_symbol = _as_symbol(symbol)
        wanted_timeframe = _as_timeframe(timeframe)
        wanted_exchange = exchange.lower() if exchange else None
        matches = [
            entry
            for entry in self._entries
            if entry.symbol == wanted_symbol
            and entry.timeframe == wanted_timeframe
            and (wanted_exchange is None or entry.exchange == wanted_exchange)
        ]
        asked = f"{wanted_exchange or 'any exchange'} {wanted_symbol} {wanted_timeframe.value}"
        if not matches:
            hint = self._resample_hint(wanted_symbol, wanted_timeframe)
            raise DatasetNotFoundError(
                f"no dataset for {asked} in {self.source}{hint}; available: {self._available()}"
            )
        if len(matches) > 1:
            exchanges = ", ".join(entry.exchange for entry in matches)
            raise InputError(
                f"{asked} exists for several exchanges ({exchanges}) in {self.source}; "
                "say which exchange"
            )
        return matches[0]

    def load(
        self, symbol: Symbol | str, timeframe: Timeframe | str, exchange: str | None = None
    ) -> LoadedCandles:
        """The validated candles of one dataset (see :meth:`find` for the matching rules)."""
        return self.load_entry(self.find(symbol, timeframe, exchange))

    def load_entry(self, entry: DatasetEntry) -> LoadedCandles:
        """The validated candles of ``entry``, read once per catalog."""
        cached = self._cache.get(entry.path)
        if cached is None:
            # The entry came from the file's name, which the loader reads (and holds the
            # content to) itself.
            cached = load_candles(entry.path)
            self._cache[entry.path] = cached
        return cached

    def _available(self) -> str:
        return ", ".join(str(entry) for entry in self._entries) or "nothing"

    def _resample_hint(self, symbol: Symbol, timeframe: Timeframe) -> str:
        finer = [
            entry
            for entry in self._entries
            if entry.symbol == symbol
            and entry.timeframe.ms < timeframe.ms
            and timeframe.ms % entry.timeframe.ms == 0
        ]
        if not finer:
            return ""
        return f" (it can be resampled from {' or '.join(str(entry) for entry in finer)})"

    @classmethod
    def _from_folder(cls, folder: Path, *, source: str | None = None) -> DatasetCatalog:
        entries: list[DatasetEntry] = []
        ignored: list[Path] = []
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() != ".csv" or not path.is_file():
                continue
            named = parse_dataset_name(path)
            if named is None:
                ignored.append(path)
            else:
                entries.append(DatasetEntry(named.exchange, named.symbol, named.timeframe, path))
        if not entries:
            raise InputError(
                f"{folder}: no candle files in this folder; name them {FILE_NAME_HINT}"
            )
        return cls(source or str(folder), entries, ignored=ignored)

    @classmethod
    def _from_file(cls, path: Path) -> DatasetCatalog:
        named = parse_dataset_name(path)
        if named is not None:
            entry = DatasetEntry(named.exchange, named.symbol, named.timeframe, path)
            return cls(str(path), [entry])
        # The name does not say the timeframe, so the file has to be read to tell it.
        loaded = load_candles(path)
        series = loaded.series
        entry = DatasetEntry(series.exchange, series.symbol, series.timeframe, path)
        return cls(str(path), [entry], preloaded=[loaded])


def _entry_order(entry: DatasetEntry) -> tuple[str, str, str, int]:
    return (entry.exchange, entry.symbol.base, entry.symbol.quote, entry.timeframe.ms)


def _refuse_duplicates(entries: tuple[DatasetEntry, ...], source: str) -> None:
    seen: dict[tuple[str, Symbol, Timeframe], Path] = {}
    for entry in entries:
        key = (entry.exchange, entry.symbol, entry.timeframe)
        if key in seen:
            raise InputError(
                f"{source}: {seen[key].name} and {entry.path.name} both hold {entry}; keep one"
            )
        seen[key] = entry.path


def _as_symbol(symbol: Symbol | str) -> Symbol:
    if isinstance(symbol, Symbol):
        return symbol
    try:
        return Symbol.parse(symbol)
    except ValueError as error:
        raise InputError(str(error)) from None


def _as_timeframe(timeframe: Timeframe | str) -> Timeframe:
    if isinstance(timeframe, Timeframe):
        return timeframe
    try:
        return Timeframe.parse(timeframe)
    except ValueError as error:
        raise InputError(str(error)) from None
