"""``sigmax arbitrage scan|backtest``: the arbitrage scanner on live books or on candles."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sigmax.cli.analyze_cmd import exit_on_error, parse_moment
from sigmax.errors import InputError

arbitrage_app = typer.Typer(
    help="Arbitrage: cross-exchange edges and cycles within a venue, every cost counted.",
    no_args_is_help=True,
)
_out = Console()

MinProfitOption = Annotated[
    str | None,
    typer.Option("--min-profit", help="Least net edge in percent (0.1 = 0.1 %); default: config."),
]
SizeOption = Annotated[
    str | None, typer.Option("--size", help="Size in USD profits are computed at; default: config.")
]
FeeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--fee", help="Taker fee EXCHANGE=RATE (fraction), wins over config and exchange."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"{option}: must be a decimal number (got {text!r})") from None
    if not value.is_finite():
        raise InputError(f"{option}: must be a finite number (got {text!r})")
    return value


def _base_costs(min_profit: str | None, fees: list[str] | None) -> tuple[Any, Any, Any]:
    from sigmax.arbitrage.costs import Costs, FeeTable, parse_fee_overrides
    from sigmax.config import load_settings

    settings = load_settings()
    config = settings.arbitrage
    overrides = parse_fee_overrides(fees or [])
    costs = Costs(
        FeeTable(dict(config.taker_fees)),
        transfer_pct=config.transfer_cost_pct,
        transfer_usd=config.transfer_cost_usd,
        slippage_limit_pct=config.slippage_limit_pct,
        min_profit_pct=(
            config.min_profit_pct if min_profit is None else _decimal(min_profit, "--min-profit")
        ),
    )
    return settings, costs, overrides


def _table(opportunities: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for column in ("kind", "legs", "start", "duration s", "gross %", "net %", "max USD", "profit"):
        table.add_column(column)
    for o in opportunities:
        legs = " → ".join(f"{leg['side']} {leg['market']}@{leg['exchange']}" for leg in o["legs"])
        table.add_row(
            o["kind"],
            legs,
            o["start"],
            str(o["duration_s"]),
            o["gross_pct"],
            o["net_pct"],
            o["max_size_usd"],
            o["profit_usd"],
        )
    return table


@arbitrage_app.command("scan")
def scan_command(
    exchanges: Annotated[
        str, typer.Option("--exchanges", help="Comma-separated ccxt ids, e.g. binance,kraken.")
    ] = "binance,kraken",
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols",
            help="Markets to compare, e.g. BTC/USDT,ETH/BTC (default: every market on 2+ venues).",
        ),
    ] = None,
    min_profit: MinProfitOption = None,
    size: SizeOption = None,
    fee: FeeOption = None,
    api_base: Annotated[
        list[str] | None,
        typer.Option(
            "--api-base",
            help="EXCHANGE=URL: send that exchange's requests to URL (a proxy or stand-in).",
        ),
    ] = None,
    no_cycles: Annotated[
        bool, typer.Option("--no-cycles", help="Only cross-exchange edges.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Scan live order books for cross-exchange edges and cycles."""
    from sigmax.arbitrage.live import ScanRequest, scan
    from sigmax.domain.instruments import Symbol

    with exit_on_error():
        settings, costs, overrides = _base_costs(min_profit, fee)
        if settings.arbitrage.execute:
            # Fail closed: executing needs the inventory held on each venue (a cross-exchange
            # sell sells what the selling venue already holds), which no paper account keeps yet.
            raise InputError(
                "arbitrage.execute: true is not supported by `arbitrage scan`: paper execution "
                "needs each venue's paper inventory, which SIGMAX does not keep yet; set "
                "arbitrage.execute: false to scan"
            )
        names = tuple(e.strip().lower() for e in exchanges.split(",") if e.strip())
        parsed_symbols = None
        if symbols:
            try:
                parsed_symbols = tuple(Symbol.parse(s) for s in symbols.split(",") if s.strip())
            except ValueError as error:
                raise InputError(f"--symbols: {error}") from None
        bases: dict[str, str] = {}
        for item in api_base or []:
            name, sep, url = item.partition("=")
            if not sep or not url.strip():
                raise InputError(f"--api-base {item!r}: must be EXCHANGE=URL")
            bases[name.strip().lower()] = url.strip()
        request = ScanRequest(
            exchanges=names,
            symbols=parsed_symbols,
            costs=costs,
            size_usd=_decimal(size, "--size") if size else settings.arbitrage.size_usd,
            fee_overrides=overrides,
            api_base_urls=bases,
            max_cycle_length=settings.arbitrage.max_cycle_length,
            cycles=not no_cycles,
        )
        result = asyncio.run(scan(request))
        document = result.to_dict()
    if as_json:
        print(json.dumps(document, indent=2))
        return
    _out.print(_table(document["opportunities"], "Arbitrage opportunities (now)"))
    summary = document["summary"]
    _out.print(
        f"{summary['count']} opportunities, total net profit {summary['total_profit_usd']} USD; "
        f"{summary['books_read']} books read"
    )


@arbitrage_app.command("backtest")
def backtest_command(
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="Folder of EXCHANGE_BASE-QUOTE_TF.csv files of several venues."
        ),
    ],
    start: Annotated[
        str | None, typer.Option("--from", help="First candle, ISO-8601 with a zone.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last candle close, ISO-8601 with a zone.")
    ] = None,
    min_profit: MinProfitOption = None,
    fee: FeeOption = None,
    latency: Annotated[
        str, typer.Option("--latency", help="Seconds between legs; shorter edges are not counted.")
    ] = "0",
    size: SizeOption = None,
    half_spread: Annotated[
        str | None,
        typer.Option(
            "--half-spread-bps", help="Quote half spread around the close; default: config."
        ),
    ] = None,
    as_json: JsonOption = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
) -> None:
    """Replay historical candles of several venues and count the opportunities."""
    from sigmax.arbitrage.backtest import BacktestConfig, run_backtest
    from sigmax.arbitrage.report import write_report

    with exit_on_error():
        settings, costs, overrides = _base_costs(min_profit, fee)
        costs = type(costs)(
            costs.fees.with_overrides(overrides),
            costs.transfer_pct,
            costs.transfer_usd,
            costs.slippage_limit_pct,
            costs.min_profit_pct,
        )
        config = BacktestConfig(
            costs=costs,
            half_spread_bps=(
                _decimal(half_spread, "--half-spread-bps")
                if half_spread is not None
                else settings.arbitrage.half_spread_bps
            ),
            latency_s=_decimal(latency, "--latency"),
            size_usd=_decimal(size, "--size") if size else settings.arbitrage.size_usd,
            participation=settings.arbitrage.participation,
            start_ms=parse_moment(start, "--from") if start else None,
            end_ms=parse_moment(end, "--to") if end else None,
            max_cycle_length=settings.arbitrage.max_cycle_length,
        )
        result = run_backtest(data, config)
        if report is not None:
            write_report(result, report)
    document = result.to_dict()
    if as_json:
        print(json.dumps(document, indent=2))
        return
    _out.print(_table(document["opportunities"][:50], "Arbitrage opportunities (first 50)"))
    summary = document["summary"]
    _out.print(
        f"{summary['count']} opportunities over {summary['days']} days ({summary['per_day']} a "
        f"day); total net profit {summary['total_profit_usd']} USD at {summary['size_usd']} USD"
    )
    if report is not None:
        _out.print(f"report: {report}")
