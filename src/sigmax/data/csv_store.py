"""Load candle CSV files, check every rule, and report gaps.

File layout (one candle per line, timestamp = candle open time in ms since the epoch, UTC)::

    timestamp,open,high,low,close,volume
    1617580800000,58202.01,58387.35,57890.97,57908.13,2110.945386

Files named ``EXCHANGE_BASE-QUOTE_TF.csv`` (``binance_BTC-USDT_1h.csv``) tell the loader the
market and the timeframe, and their content must agree; any other file can be checked too, its
timeframe taken from the spacing of the candles. Only regular files are read, up to
:data:`MAX_FILE_BYTES`, and a file without the candle header is never quoted. Every broken rule
becomes a :class:`DataIssue` with the file, the 1-based line (the header is line 1) and the rule;
all of them are collected before :class:`DataValidationError` is raised, so a user fixes a file
in one pass. Missing candles are
reported as gaps and never filled: inventing prices is worse than admitting there are none.

Speed matters because every backtest, replay and CLI listing starts here: well-formed files are
parsed by a vectorised numpy decimal parser (exact: it gives the same float64 as ``float(text)``)
and checked with array operations. Only a file the fast parser does not accept is read again
line by line, to name the exact line and field of each problem.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from sigmax.domain.candles import CandleSeries, FloatArray, IntArray, Timeframe, ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.errors import DataIssue, DataValidationError, InputError

COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
HEADER = ",".join(COLUMNS)
FILE_NAME_HINT = "EXCHANGE_BASE-QUOTE_TF.csv (for example binance_BTC-USDT_1h.csv)"
CUSTOM_EXCHANGE = "custom"
#: The largest candle file SIGMAX reads: about 15 years of 1m candles of one market.
MAX_FILE_BYTES = 1 << 30
_READ_CHUNK_BYTES = 1 << 20

# Timestamps outside this window are almost always seconds or microseconds, not milliseconds.
_MIN_TIMESTAMP_MS = 100_000_000_000  # 1973-03-03
_MAX_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01

_FILE_NAME_RE = re.compile(
    r"^(?P<exchange>[A-Za-z0-9][A-Za-z0-9.]*)_(?P<symbol>[A-Za-z0-9]+-[A-Za-z0-9]+)_(?P<tf>\d+[mhdMHD])$"
)
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of missing candles: the open time of the first missing one and how many are missing."""

    first_missing_ms: int
    bars: int


@dataclass(frozen=True, slots=True)
class LoadedCandles:
    """A validated candle file: the series, its gaps and the sha256 of the file's bytes."""

    path: Path
    series: CandleSeries
    gaps: tuple[Gap, ...]
    sha256: str

    @property
    def rows(self) -> int:
        return len(self.series)

    @property
    def missing_bars(self) -> int:
        """Candles missing between the first and the last one, on the timeframe's grid."""
        return sum(gap.bars for gap in self.gaps)

    @property
    def gap_runs(self) -> int:
        return len(self.gaps)


#: Where a checked file's timeframe came from.
TimeframeSource = Literal["file name", "given", "spacing"]


@dataclass(frozen=True, slots=True)
class CheckedCandles:
    """A validated candle file whose market may be unknown (``sigmax data check``).

    ``symbol`` is None when neither the file name nor the caller says which market the file
    holds: the candles can be checked all the same, but not traded.
    """

    path: Path
    exchange: str
    symbol: Symbol | None
    timeframe: Timeframe
    timeframe_source: TimeframeSource
    timestamps: IntArray
    #: open, high, low, close, volume.
    prices: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]
    gaps: tuple[Gap, ...]
    sha256: str

    def loaded(self) -> LoadedCandles:
        """The candles as a market's series.

        Raises:
            InputError: the market is unknown.
        """
        if self.symbol is None:
            raise InputError(
                f"{self.path}: the file name does not say which market it holds; name the file "
                f"{FILE_NAME_HINT} or give the market"
            )
        series = CandleSeries(
            self.exchange, self.symbol, self.timeframe, self.timestamps, *self.prices
        )
        return LoadedCandles(self.path, series, self.gaps, self.sha256)


@dataclass(frozen=True, slots=True)
class DatasetName:
    """What a file name ``EXCHANGE_BASE-QUOTE_TF.csv`` says about its content."""

    exchange: str
    symbol: Symbol
    timeframe: Timeframe


def parse_dataset_name(path: Path) -> DatasetName | None:
    """The exchange, symbol and timeframe from ``EXCHANGE_BASE-QUOTE_TF.csv``, or None."""
    if path.suffix.lower() != ".csv":
        return None
    match = _FILE_NAME_RE.match(path.stem)
    if match is None:
        return None
    try:
        symbol = Symbol.parse(match["symbol"])
        timeframe = Timeframe.parse(match["tf"])
    except ValueError:
        return None
    return DatasetName(match["exchange"].lower(), symbol, timeframe)


def load_candles(
    path: Path,
    *,
    exchange: str | None = None,
    symbol: Symbol | None = None,
    timeframe: Timeframe | None = None,
    now_ms: int | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> LoadedCandles:
    """Read, validate and return the candles of one market in ``path``.

    As :func:`check_candles`, and the market must be known: from the name, from a
    ``BASE-QUOTE`` part of it, or from ``symbol``.

    Raises:
        InputError: the file cannot be read, or its market or timeframe cannot be told.
        DataValidationError: the content breaks one or more rules (all of them are listed).
    """
    return check_candles(
        path,
        exchange=exchange,
        symbol=symbol,
        timeframe=timeframe,
        now_ms=now_ms,
        max_bytes=max_bytes,
        need_market=True,
    ).loaded()


def check_candles(
    path: Path,
    *,
    exchange: str | None = None,
    symbol: Symbol | None = None,
    timeframe: Timeframe | None = None,
    now_ms: int | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    need_market: bool = False,
) -> CheckedCandles:
    """Read and validate the candles in ``path``, whatever the file is called.

    ``exchange``, ``symbol`` and ``timeframe`` default to what a file named
    ``EXCHANGE_BASE-QUOTE_TF.csv`` says; given ones must agree with such a name. For any other
    name the exchange is ``"custom"``, the symbol comes from a ``BASE-QUOTE`` part of the name
    (else it stays unknown) and the timeframe from the spacing of the candles. ``path`` must be
    a regular file of at most ``max_bytes``; a candle may not open later than ``now_ms`` (wall
    time by default) plus one period.

    Raises:
        InputError: the file cannot be read, a given value contradicts the name, the market is
            unknown while ``need_market``, or the timeframe cannot be told.
        DataValidationError: the content breaks one or more rules (all of them are listed).
    """
    named = parse_dataset_name(path)
    if named is not None:
        _agree_with_name(path, named, exchange, symbol, timeframe)
    exchange = exchange or (named.exchange if named else CUSTOM_EXCHANGE)
    if symbol is None:
        symbol = named.symbol if named else _symbol_from_stem(path)
    source: TimeframeSource = "given"
    if timeframe is None and named is not None:
        timeframe, source = named.timeframe, "file name"
    raw = read_candle_file(path, max_bytes)
    if symbol is None and need_market:
        raise InputError(
            f"{path}: the file name does not say which market it holds; name the file "
            f"{FILE_NAME_HINT}"
        )
    checksum = hashlib.sha256(raw).hexdigest()

    rows = _parse(path, raw)
    timestamps = _timestamps(rows.columns[0])
    if timeframe is None:
        timeframe, source = _infer_timeframe(timestamps), "spacing"
        if timeframe is None:
            if rows.issues:
                raise DataValidationError(rows.issues)
            step = _most_common_step(timestamps)
            spacing = (
                "there is only one candle"
                if step is None
                else f"most candles are {step} ms apart, which is none of "
                f"{', '.join(t.value for t in Timeframe)}"
            )
            raise InputError(
                f"{path}: cannot tell the timeframe from the spacing of the candles ({spacing}); "
                f"give it with --timeframe or name the file {FILE_NAME_HINT}"
            )
    now = wall_clock_ms() if now_ms is None else now_ms
    issues = rows.issues + _check_rows(path, rows, timestamps, timeframe, source, now)
    if issues:
        issues.sort(key=lambda issue: issue.line or 0)
        raise DataValidationError(issues)

    _, open_, high, low, close, volume = rows.columns
    return CheckedCandles(
        path,
        exchange,
        symbol,
        timeframe,
        source,
        _frozen(timestamps),
        (_frozen(open_), _frozen(high), _frozen(low), _frozen(close), _frozen(volume)),
        find_gaps(timestamps, timeframe),
        checksum,
    )


def find_gaps(timestamps: IntArray, timeframe: Timeframe) -> tuple[Gap, ...]:
    """Runs of missing candles in strictly increasing, grid-aligned open times."""
    steps = np.diff(timestamps) // timeframe.ms
    holes = np.flatnonzero(steps > 1)
    return tuple(Gap(int(timestamps[i]) + timeframe.ms, int(steps[i]) - 1) for i in holes.tolist())


def wall_clock_ms() -> int:
    """Now, in ms since the epoch (a candle may not open later than this plus one period)."""
    return time.time_ns() // 1_000_000


# --- reading and naming -------------------------------------------------------------------------


def read_candle_file(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes``.

    The file is opened first and then examined, so what is checked is what is read: a device
    (``/dev/zero``), a pipe or a folder is refused before a byte is read, and a file that grows
    while it is read is cut off at the limit instead of filling the memory.
    """
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer; for a regular file it
        # changes nothing.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, expected a candle CSV file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{path}: is a folder, expected a candle CSV file")
        if not stat.S_ISREG(mode):
            raise InputError(
                f"{path}: is {_file_kind(mode)}, not a regular file; candles are read only "
                "from regular files"
            )
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb", buffering=0) as handle:
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := handle.read(_READ_CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise InputError(
                        f"{path}: is larger than {_byte_size(max_bytes)}, the most SIGMAX reads "
                        "from one candle file; keep a shorter range of candles in it"
                    )
                chunks.append(chunk)
        except OSError as error:
            raise InputError(f"{path}: cannot be read ({error.strerror})") from None
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _byte_size(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


def _agree_with_name(
    path: Path,
    named: DatasetName,
    exchange: str | None,
    symbol: Symbol | None,
    timeframe: Timeframe | None,
) -> None:
    """A value given for a file named ``EXCHANGE_BASE-QUOTE_TF.csv`` must match the name."""
    given = (
        ("exchange", exchange, named.exchange),
        ("symbol", None if symbol is None else str(symbol), str(named.symbol)),
        ("timeframe", None if timeframe is None else timeframe.value, named.timeframe.value),
    )
    for field, value, from_name in given:
        if value is not None and value.lower() != from_name.lower():
            raise InputError(
                f"--{field}: {value} contradicts the file name {path.name}, which says "
                f"{from_name}; rename the file or leave --{field} out"
            )


def _symbol_from_stem(path: Path) -> Symbol | None:
    for token in path.stem.split("_"):
        try:
            symbol = Symbol.parse(token)
        except ValueError:
            continue
        # Both sides must hold a letter, or a date such as 2021-04 would pass for a market.
        if any(c.isalpha() for c in symbol.base) and any(c.isalpha() for c in symbol.quote):
            return symbol
    return None


def _infer_timeframe(timestamps: IntArray) -> Timeframe | None:
    step = _most_common_step(timestamps)
    for timeframe in Timeframe:
        if timeframe.ms == step:
            return timeframe
    return None


def _most_common_step(timestamps: IntArray) -> int | None:
    steps = np.diff(timestamps)
    steps = steps[steps > 0]
    if steps.size == 0:
        return None
    values, counts = np.unique(steps, return_counts=True)
    return int(values[int(np.argmax(counts))])


_Array = TypeVar("_Array", bound=npt.NDArray[Any])


def _frozen(array: _Array) -> _Array:
    # Loaded series are cached and shared; a stray in-place edit must fail, not corrupt others.
    array.flags.writeable = False
    return array


# --- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rows:
    """Parsed rows, one contiguous array per column, and each row's line number in the file."""

    columns: tuple[FloatArray, ...]
    lines: IntArray
    issues: list[DataIssue]

    @classmethod
    def from_values(cls, values: FloatArray, lines: IntArray, issues: list[DataIssue]) -> _Rows:
        """From an (n, 6) array; the transposed copy makes every column contiguous."""
        by_column = np.ascontiguousarray(values.T)
        return cls(tuple(by_column[c] for c in range(len(COLUMNS))), lines, issues)


def _parse(path: Path, raw: bytes) -> _Rows:
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark, as spreadsheets write
    if not raw.strip():
        raise DataValidationError(
            [DataIssue(path, None, f"file is empty: expected the header {HEADER} and candles")]
        )
    header, _, body = raw.partition(b"\n")
    header_text = header.decode("utf-8", errors="replace").rstrip("\r")
    if header_text != HEADER:
        # Without the expected header the columns cannot be trusted, so rows are not checked.
        # A file without it is not a candle CSV (perhaps not one the user meant to show at
        # all, through a link), so the message describes its first line and never quotes it.
        raise DataValidationError([DataIssue(path, 1, _header_rule(header_text))])
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")
    # Trailing blank lines are harmless and leave every earlier line number unchanged.
    body = body.rstrip()
    if not body:
        raise DataValidationError([DataIssue(path, None, "file has a header but no candles")])
    values = _parse_fast(body + b"\n")
    if values is not None:
        lines = np.arange(2, len(values) + 2, dtype=np.int64)
        return _Rows.from_values(values, lines, [])
    return _parse_line_by_line(path, body.decode("utf-8", errors="replace"))


def _header_rule(first_line: str) -> str:
    fields = [field.strip().lower() for field in first_line.split(",")]
    missing = [column for column in COLUMNS if column not in fields]
    if len(missing) == len(COLUMNS):
        what = "names none of these columns"
    elif missing:
        what = f"lacks {', '.join(missing)}"
    elif len(fields) != len(COLUMNS):
        what = f"has {len(fields)} fields instead of {len(COLUMNS)}"
    else:
        what = "has these columns in another order or spelling"
    return f"header must be exactly {HEADER} (line 1 {what}; its text is not shown)"


# Plain fields are parsed in chunks of about this many bytes: every temporary array then stays in
# the CPU cache and in the allocator's free lists, which makes the parse about twice as fast as one
# pass over the whole file.
_CHUNK_BYTES = 64 * 1024
# Up to 15 digits the mantissa is an exact float64 and so is 10**k, so one division gives the
# correctly rounded value: the same float as float(text).
_EXACT_DIGITS = 15
_POW10 = 10.0 ** np.arange(_EXACT_DIGITS + 1, dtype=np.float64)
_POW10_INT = 10 ** np.arange(_EXACT_DIGITS + 1, dtype=np.int64)
# Per-field digit counts travel through int8 running sums.
_MAX_DIGITS = int(np.iinfo(np.int8).max)
_ZERO, _DOT, _COMMA, _NEWLINE = (np.uint8(ord(c)) for c in "0.,\n")


def _parse_fast(body: bytes) -> FloatArray | None:
    """Parse plain decimals (digits and one optional dot) in rows of six fields, or return None.

    ``body`` ends with a newline. None means "not plain": signs, exponents, spaces, blank lines,
    a wrong field count or a non-numeric field; the line-by-line reader then handles the file.
    """
    data = np.frombuffer(body, dtype=np.uint8)
    parts: list[FloatArray] = []
    start = 0
    while start < data.size:
        end = body.find(b"\n", min(start + _CHUNK_BYTES, data.size - 1)) + 1
        part = _parse_plain_rows(data[start:end])
        if part is None:
            return None
        parts.append(part)
        start = end
    return np.concatenate(parts)


def _parse_plain_rows(buf: npt.NDArray[np.uint8]) -> FloatArray | None:
    """Whole rows of plain decimals (``buf`` ends with a newline) as an (n, 6) array, or None."""
    digit = buf - _ZERO  # wraps around for bytes below '0', so `digit < 10` means a digit
    is_digit = digit < 10
    is_newline = buf == _NEWLINE
    is_separator = buf == _COMMA
    is_separator |= is_newline
    is_dot = buf == _DOT
    allowed = is_digit | is_separator
    allowed |= is_dot
    if not allowed.all():
        return None
    separators = np.flatnonzero(is_separator)
    n_fields = separators.size
    if n_fields % len(COLUMNS):
        return None
    row_end = is_newline[separators].reshape(-1, len(COLUMNS))
    if row_end[:, :-1].any() or not row_end[:, -1].all():
        return None

    dots_per_field = np.diff(np.cumsum(is_dot, dtype=np.int32)[separators], prepend=0)
    field_length = np.diff(separators, prepend=-1) - 1
    digits_per_field = field_length - dots_per_field
    longest = int(digits_per_field.max())
    if dots_per_field.max() > 1 or digits_per_field.min() < 1 or longest > _MAX_DIGITS:
        return None  # two dots, an empty field, a lone dot, or an absurdly long number

    # Place value of every byte: how many digits follow it in its field. A running sum does it
    # without a Python loop: -1 at each digit, and at each field's first byte a jump up to the
    # field's digit count.
    steps = is_digit.view(np.int8) * np.int8(-1)
    steps[separators - field_length] += digits_per_field.astype(np.int8)
    places = np.cumsum(steps, dtype=np.intp)
    if longest > _EXACT_DIGITS:
        np.minimum(places, _EXACT_DIGITS, out=places)  # those fields are redone below
    terms = _POW10_INT.take(places)
    terms *= digit * is_digit
    # Each field's mantissa is a difference of the running total at its two separators. The
    # total may wrap around int64 on a huge file, but differences of wrapped sums stay exact.
    running = np.cumsum(terms)
    values = np.diff(running[separators], prepend=0).astype(np.float64)

    with_dot = np.flatnonzero(dots_per_field)
    fraction_digits = np.zeros(n_fields, dtype=np.intp)
    fraction_digits[with_dot] = separators[with_dot] - np.flatnonzero(is_dot) - 1
    if longest > _EXACT_DIGITS:
        np.minimum(fraction_digits, _EXACT_DIGITS, out=fraction_digits)
    values /= _POW10.take(fraction_digits)

    for field in np.flatnonzero(digits_per_field > _EXACT_DIGITS).tolist():
        start = int(separators[field - 1]) + 1 if field else 0
        values[field] = float(buf[start : int(separators[field])].tobytes())
    return values.reshape(-1, len(COLUMNS))


def _parse_line_by_line(path: Path, body: str) -> _Rows:
    """The careful reader: every row that cannot be parsed is named with its line and field."""
    issues: list[DataIssue] = []
    parsed: list[list[float]] = []
    lines: list[int] = []
    for offset, text in enumerate(body.split("\n")):
        line_no = offset + 2
        line = text.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != len(COLUMNS):
            issues.append(
                DataIssue(
                    path, line_no, f"expected {len(COLUMNS)} fields ({HEADER}), got {len(fields)}"
                )
            )
            continue
        row = [
            _parse_field(path, line_no, name, field, issues)
            for name, field in zip(COLUMNS, fields, strict=True)
        ]
        if all(value is not None for value in row):
            parsed.append([value for value in row if value is not None])
            lines.append(line_no)
    values = np.array(parsed, dtype=np.float64).reshape(-1, len(COLUMNS))
    return _Rows.from_values(values, np.array(lines, dtype=np.int64), issues)


def _parse_field(
    path: Path, line_no: int, column: str, field: str, issues: list[DataIssue]
) -> float | None:
    text = field.strip()
    if not text:
        issues.append(DataIssue(path, line_no, f"{column} is empty"))
        return None
    if _NUMBER_RE.fullmatch(text) is None:
        issues.append(DataIssue(path, line_no, f"{column} is not a number ({text[:40]!r})"))
        return None
    value = float(text)
    if not math.isfinite(value):
        issues.append(DataIssue(path, line_no, f"{column} is too large ({text[:40]})"))
        return None
    return value


# --- rules --------------------------------------------------------------------------------------


def _timestamps(column: FloatArray) -> IntArray:
    """The timestamp column as int64; out-of-range values become 0 and are reported later."""
    usable = (column >= _MIN_TIMESTAMP_MS) & (column < _MAX_TIMESTAMP_MS)
    return np.where(usable, column, 0.0).astype(np.int64)


def _check_rows(
    path: Path,
    rows: _Rows,
    timestamps: IntArray,
    timeframe: Timeframe,
    source: TimeframeSource,
    now_ms: int,
) -> list[DataIssue]:
    """Every rule on parsed rows, vectorised; issues are built only for the rows that fail."""
    return _time_issues(path, rows, timestamps, timeframe, source, now_ms) + _price_issues(
        path, rows
    )


def _time_issues(
    path: Path,
    rows: _Rows,
    timestamps: IntArray,
    timeframe: Timeframe,
    source: TimeframeSource,
    now_ms: int,
) -> list[DataIssue]:
    raw_time, lines = rows.columns[0], rows.lines
    issues: list[DataIssue] = []
    in_range = timestamps != 0
    for i in np.flatnonzero(~in_range).tolist():
        issues.append(
            DataIssue(
                path,
                int(lines[i]),
                f"timestamp {_number(raw_time[i])} is not milliseconds since the epoch between "
                "1973 and 2100 (seconds or microseconds?)",
            )
        )
    fractional = in_range & (timestamps != raw_time)
    for i in np.flatnonzero(fractional).tolist():
        issues.append(
            DataIssue(
                path,
                int(lines[i]),
                f"timestamp {_number(raw_time[i])} is not a whole number of milliseconds",
            )
        )
    usable = np.flatnonzero(in_range & ~fractional)
    issues += _order_issues(path, timestamps[usable], lines[usable])
    off_grid = usable[timestamps[usable] % timeframe.ms != 0]
    for i in off_grid.tolist():
        issues.append(
            DataIssue(
                path,
                int(lines[i]),
                f"timestamp {_moment(int(timestamps[i]))} is not on the {timeframe.value} grid "
                f"(open times must be multiples of {timeframe.ms} ms)",
            )
        )
    # A candle still forming opened at most now; one more period allows for a clock behind
    # the exchange's. Anything later cannot be a real candle.
    latest = now_ms + timeframe.ms
    for i in usable[timestamps[usable] > latest].tolist():
        issues.append(
            DataIssue(
                path,
                int(lines[i]),
                f"timestamp {_moment(int(timestamps[i]))} opens in the future (now is "
                f"{ms_to_iso(now_ms)}; a candle may open at most one {timeframe.value} period "
                "after now)",
            )
        )
    if not issues:
        # Judged only on clean timestamps: disorder or stray rows would distort the spacing.
        issues += _spacing_issues(path, timestamps[usable], timeframe, source)
    return issues


def _price_issues(path: Path, rows: _Rows) -> list[DataIssue]:
    _, open_, high, low, close, volume = rows.columns
    # low > 0 and low <= min(open, close) and max(open, close) <= high imply every price rule,
    # so a good file costs five array operations here.
    if (
        (low > 0).all()
        and (low <= np.minimum(open_, close)).all()
        and (np.maximum(open_, close) <= high).all()
        and (volume >= 0).all()
    ):
        return []
    issues: list[DataIssue] = []

    def report(mask: npt.NDArray[np.bool_], rule: str, *shown: int) -> None:
        for i in np.flatnonzero(mask).tolist():
            detail = ", ".join(f"{COLUMNS[c]} {_number(rows.columns[c][i])}" for c in shown)
            issues.append(DataIssue(path, int(rows.lines[i]), f"{rule} ({detail})"))

    for column in range(1, 5):
        report(rows.columns[column] <= 0, f"{COLUMNS[column]} must be > 0", column)
    inverted = high < low
    report(inverted, "high < low", 2, 3)
    # Where high < low the range itself is wrong; comparing open and close with it adds noise.
    ranged = ~inverted
    report(ranged & (open_ > high), "open > high", 1, 2)
    report(ranged & (open_ < low), "open < low", 1, 3)
    report(ranged & (close > high), "close > high", 4, 2)
    report(ranged & (close < low), "close < low", 4, 3)
    report(volume < 0, "volume must be >= 0", 5)
    return issues


def _spacing_issues(
    path: Path, timestamps: IntArray, timeframe: Timeframe, source: TimeframeSource
) -> list[DataIssue]:
    """A file in which no two candles are one timeframe apart is labelled with the wrong one.

    Sparse data (an illiquid market whose exchange omits candles without trades) still has some
    neighbouring candles, so it passes; 2h candles in a file named ``_1h`` have none.
    """
    steps = np.diff(timestamps)
    if steps.size == 0 or (steps == timeframe.ms).any():
        return []
    step = _most_common_step(timestamps)
    known = next((tf.value for tf in Timeframe if tf.ms == step), None)
    spacing = f"{step} ms ({known})" if known else f"{step} ms"
    said = (
        f"the file name {path.name} says {timeframe.value}"
        if source == "file name"
        else f"timeframe is {timeframe.value}"
    )
    return [
        DataIssue(
            path,
            None,
            f"{said} but no two candles are {timeframe.ms} ms apart; most are {spacing} apart",
        )
    ]


def _order_issues(path: Path, timestamps: IntArray, lines: IntArray) -> list[DataIssue]:
    """Duplicates (anywhere in the file) and rows earlier than the row before them."""
    issues: list[DataIssue] = []
    step = np.diff(timestamps)
    if (step > 0).all():
        return issues
    for i in np.flatnonzero(step < 0).tolist():
        issues.append(
            DataIssue(
                path,
                int(lines[i + 1]),
                f"timestamp {_moment(int(timestamps[i + 1]))} is out of order: line "
                f"{int(lines[i])} before it is later, {ms_to_iso(int(timestamps[i]))}; rows must "
                "be in increasing time order",
            )
        )
    order = np.argsort(timestamps, kind="stable")
    ordered = timestamps[order]
    starts_run = np.ones(ordered.size, dtype=bool)
    starts_run[1:] = ordered[1:] != ordered[:-1]
    positions = np.arange(ordered.size)
    run_start = np.maximum.accumulate(np.where(starts_run, positions, 0))
    for k in np.flatnonzero(~starts_run).tolist():
        row, first = int(order[k]), int(order[run_start[k]])
        issues.append(
            DataIssue(
                path,
                int(lines[row]),
                f"duplicate timestamp {_moment(int(timestamps[row]))}, "
                f"first seen on line {int(lines[first])}",
            )
        )
    return issues


def _moment(ms: int) -> str:
    return f"{ms} ({ms_to_iso(ms)})"


def _number(value: float) -> str:
    return f"{value:.15g}"
