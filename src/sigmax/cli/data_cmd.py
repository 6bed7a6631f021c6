"""`sigmax data ...`: list the candle datasets and check a candle file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sigmax.data.catalog import DatasetCatalog
from sigmax.data.csv_store import (
    FILE_NAME_HINT,
    HEADER,
    CheckedCandles,
    LoadedCandles,
    check_candles,
)
from sigmax.domain.candles import Timeframe, ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.errors import DataValidationError, InputError, SigmaxError

DataPathOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help=(
            f"Candle data: a folder of {FILE_NAME_HINT} files or one CSV file. "
            "Default: the Binance datasets bundled with SIGMAX."
        ),
        show_default=False,
    ),
]
"""The ``--data`` option, shared by every command that reads candles."""

TimeframeOption = Annotated[
    str | None,
    typer.Option(
        "--timeframe",
        help=(
            "Candle timeframe of the data, 1m to 1d (default: agents.yaml's primary, 1h). "
            "The agents decide on it and confirm on the higher timeframes its configured "
            "multiples make (x4 and x24: 4h and 1d from 1h); sma_cross trades it as it is."
        ),
        show_default=False,
    ),
]
"""The ``--timeframe`` option of the commands that trade stored candles."""

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

data_app = typer.Typer(
    help="Candle datasets: list what is available, check a CSV file.", no_args_is_help=True
)


@data_app.command("list")
def list_datasets(data: DataPathOption = None, as_json: JsonOption = False) -> None:
    """List each dataset with its range, row count and gaps (missing candles)."""
    with _exit_on_error():
        catalog = DatasetCatalog.from_path(data)
        loaded = [catalog.load_entry(entry) for entry in catalog.entries()]
    if as_json:
        typer.echo(json.dumps([_summary(candles) for candles in loaded], indent=2))
    else:
        _print_table(catalog.source, loaded)
    for path in catalog.ignored:
        _stderr().print(
            f"note: ignored {path.name}: the name does not follow {FILE_NAME_HINT}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


@data_app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="The candle CSV file to check.", show_default=False)],
    exchange: Annotated[
        str | None, typer.Option(help="Exchange, when the file name does not say it.")
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option(help="Market such as BTC/USDT (default: the file name's, if it says one)."),
    ] = None,
    timeframe: Annotated[
        str | None,
        typer.Option(
            help="Timeframe such as 1h (default: the file name's, else the candles' spacing)."
        ),
    ] = None,
    as_json: JsonOption = False,
    limit: Annotated[
        int, typer.Option(help="Show at most this many problems (0 shows all).", min=0)
    ] = 200,
) -> None:
    """Validate a candle file of any name: exit 0 with a summary, or exit 2 listing every problem.

    The file needs the header ``timestamp,open,high,low,close,volume``, timestamps in ms UTC
    (candle open time), strictly increasing, on the timeframe's grid and not in the future, and
    consistent prices. The timeframe is the file name's (EXCHANGE_BASE-QUOTE_TF.csv), the one
    given, or the spacing of the candles; the summary says which.
    """
    with _exit_on_error():
        try:
            checked = check_candles(
                path,
                exchange=exchange.lower() if exchange else None,
                symbol=_symbol_option(symbol),
                timeframe=_timeframe_option(timeframe),
            )
        except DataValidationError as error:
            _report_issues(error, as_json, limit)
            raise typer.Exit(error.exit_code) from None
    if as_json:
        typer.echo(json.dumps({"ok": True, **_check_json(checked)}, indent=2))
        return
    typer.echo(_check_summary(checked))


# --- output -------------------------------------------------------------------------------------


def _summary(candles: LoadedCandles) -> dict[str, Any]:
    series = candles.series
    return {
        "exchange": series.exchange,
        "symbol": str(series.symbol),
        "timeframe": series.timeframe.value,
        "first": ms_to_iso(series.first_ms),
        "last": ms_to_iso(series.last_ms),
        "first_ms": series.first_ms,
        "last_ms": series.last_ms,
        "rows": candles.rows,
        "missing_bars": candles.missing_bars,
        "gap_runs": candles.gap_runs,
        "gaps": [
            {"first_missing": ms_to_iso(gap.first_missing_ms), "bars": gap.bars}
            for gap in candles.gaps
        ],
        "path": str(candles.path),
        "sha256": candles.sha256,
    }


# Width for a table printed to a pipe or a file, where the terminal's width is unknown.
_PLAIN_OUTPUT_WIDTH = 120


def _print_table(source: str, loaded: list[LoadedCandles]) -> None:
    table = Table(title=f"Candle datasets ({source})", title_justify="left")
    for name in ("exchange", "symbol", "tf", "first (UTC)", "last (UTC)"):
        table.add_column(name, no_wrap=True)
    for name in ("rows", "missing", "gaps"):
        table.add_column(name, justify="right", no_wrap=True)
    for candles in loaded:
        series = candles.series
        table.add_row(
            series.exchange,
            str(series.symbol),
            series.timeframe.value,
            ms_to_iso(series.first_ms),
            ms_to_iso(series.last_ms),
            f"{candles.rows:,}",
            f"{candles.missing_bars:,}",
            f"{candles.gap_runs:,}",
        )
    console = Console()
    if not console.is_terminal:
        # Rich would otherwise assume 80 columns and cut the dates short.
        console = Console(width=_PLAIN_OUTPUT_WIDTH)
    console.print(table)
    typer.echo("missing = candles absent from the timeframe's grid; gaps = runs of them.")


def _check_json(checked: CheckedCandles) -> dict[str, Any]:
    return {
        "exchange": checked.exchange,
        "symbol": None if checked.symbol is None else str(checked.symbol),
        "timeframe": checked.timeframe.value,
        "timeframe_from": checked.timeframe_source,
        "first": ms_to_iso(int(checked.timestamps[0])),
        "last": ms_to_iso(int(checked.timestamps[-1])),
        "first_ms": int(checked.timestamps[0]),
        "last_ms": int(checked.timestamps[-1]),
        "rows": len(checked.timestamps),
        "missing_bars": sum(gap.bars for gap in checked.gaps),
        "gap_runs": len(checked.gaps),
        "gaps": [
            {"first_missing": ms_to_iso(gap.first_missing_ms), "bars": gap.bars}
            for gap in checked.gaps
        ],
        "path": str(checked.path),
        "sha256": checked.sha256,
    }


_TIMEFRAME_FROM = {
    "file name": "from the file name",
    "given": "as given",
    "spacing": "from the spacing of the candles",
}


def _check_summary(checked: CheckedCandles) -> str:
    summary = _check_json(checked)
    market = (
        str(checked.symbol)
        if checked.symbol is not None
        else "not named (the file name does not say; give --symbol to name it)"
    )
    lines = [
        f"{checked.path}: OK",
        f"  market    {checked.exchange} {market}",
        f"  timeframe {checked.timeframe.value} ({_TIMEFRAME_FROM[checked.timeframe_source]})",
        f"  candles   {summary['rows']:,}",
        f"  range     {summary['first']} .. {summary['last']} (candle open times, UTC)",
        f"  gaps      {summary['missing_bars']:,} missing candles in {len(checked.gaps):,} runs",
    ]
    shown = 10
    for gap in checked.gaps[:shown]:
        lines.append(f"            {ms_to_iso(gap.first_missing_ms)}  {gap.bars} missing")
    if len(checked.gaps) > shown:
        lines.append(f"            ... and {len(checked.gaps) - shown} more runs")
    lines.append(f"  sha256    {checked.sha256}")
    return "\n".join(lines)


def _report_issues(error: DataValidationError, as_json: bool, limit: int) -> None:
    shown = error.issues if limit == 0 else error.issues[:limit]
    if as_json:
        issues = [
            {"path": str(issue.path), "line": issue.line, "rule": issue.rule} for issue in shown
        ]
        payload = {"ok": False, "problems": len(error.issues), "issues": issues}
        typer.echo(json.dumps(payload, indent=2))
        return
    for issue in shown:
        typer.echo(str(issue))
    hidden = len(error.issues) - len(shown)
    if hidden > 0:
        typer.echo(f"... and {hidden} more problems (use --limit 0 to see all)")
    count = len(error.issues)
    _stderr().print(
        f"{count} problem{'s' if count != 1 else ''} found; the file must have the header "
        f"{HEADER}, open times in ms UTC, strictly increasing and on the timeframe's grid.",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


# --- errors -------------------------------------------------------------------------------------


@contextmanager
def _exit_on_error() -> Iterator[None]:
    """Print a typed error and exit with its code, the same way under main() and in tests."""
    try:
        yield
    except SigmaxError as error:
        _report_error(error)
        raise typer.Exit(error.exit_code) from None


def _report_error(error: SigmaxError) -> None:
    _stderr().print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)


def _symbol_option(text: str | None) -> Symbol | None:
    try:
        return None if text is None else Symbol.parse(text)
    except ValueError as error:
        raise InputError(f"--symbol: {error}") from None


def _timeframe_option(text: str | None) -> Timeframe | None:
    try:
        return None if text is None else Timeframe.parse(text)
    except ValueError as error:
        raise InputError(f"--timeframe: {error}") from None


def _stderr() -> Console:
    return Console(stderr=True)
