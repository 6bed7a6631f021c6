"""``sigmax backtest``: the paper engine over history, with metrics, a stored result and a report.

Exit codes: 0 done, 1 a runtime failure, 2 bad input.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sigmax.cli.analyze_cmd import ProfileOption, ResearchOption, exit_on_error, parse_moment
from sigmax.cli.data_cmd import DataPathOption, TimeframeOption
from sigmax.errors import InputError

if TYPE_CHECKING:
    from sigmax.backtest.result import BacktestResult

SymbolsOption = Annotated[
    str | None,
    typer.Option(
        "--symbols",
        help=(
            "Comma-separated, e.g. BTC/USDT,ETH/USDT (default: the markets --data holds on the "
            "timeframe, else trading.symbols of the config)."
        ),
    ),
]
SafetyOption = Annotated[
    str,
    typer.Option(
        "--safety",
        help=(
            "on, or off for engine comparisons: the six auto-pause triggers and the "
            "protections are off for this run (compliance policies still check every order)."
        ),
    ),
]
FromOption = Annotated[
    str | None, typer.Option("--from", help="First candle close, ISO-8601 with a zone.")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Last candle close, ISO-8601 with a zone.")
]
StrategyOption = Annotated[
    str, typer.Option("--strategy", help="agents (the seven-agent council) or sma_cross.")
]
FastOption = Annotated[int, typer.Option("--fast", help="sma_cross: the fast SMA's period.")]
SlowOption = Annotated[int, typer.Option("--slow", help="sma_cross: the slow SMA's period.")]
FeeOption = Annotated[
    str | None,
    typer.Option("--fee-rate", help="Fee per fill as a fraction (0.001 = 0.1 %); default: config."),
]
SlippageOption = Annotated[
    str, typer.Option("--slippage-model", help="default (half spread + impact) or none.")
]
CapitalOption = Annotated[
    str | None, typer.Option("--capital", help="Starting cash in USD (default: the profile's).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ReportOption = Annotated[
    Path | None,
    typer.Option("--report", help="Write a self-contained HTML report to this path."),
]
ListOption = Annotated[bool, typer.Option("--list", help="List the stored backtests and exit.")]
LlmOption = Annotated[
    bool,
    typer.Option(
        "--llm",
        help=(
            "Ask the configured LLM (LLM_PROVIDER, LLM_MODEL) about each recorded decision, "
            "and let it vote when research.llm.vote_weight > 0; answers are cached under "
            "SIGMAX_HOME, so a rerun makes no call."
        ),
    ),
]


def _decimal(text: str | None, option: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"{option}: must be a decimal number (got {text!r})") from None
    if not value.is_finite():
        raise InputError(f"{option}: must be a finite number (got {text!r})")
    return value


def backtest_command(
    profile: ProfileOption = None,
    symbols: SymbolsOption = None,
    timeframe: TimeframeOption = None,
    start: FromOption = None,
    end: ToOption = None,
    data: DataPathOption = None,
    strategy: StrategyOption = "agents",
    fast: FastOption = 10,
    slow: SlowOption = 50,
    fee_rate: FeeOption = None,
    slippage_model: SlippageOption = "default",
    capital: CapitalOption = None,
    safety: SafetyOption = "on",
    as_json: JsonOption = False,
    report: ReportOption = None,
    list_runs: ListOption = False,
    research: ResearchOption = None,
    llm: LlmOption = False,
) -> None:
    """Backtest a strategy on stored candles with the paper engine: the same fills, fees and
    safety triggers as a paper run of the same candles."""
    from sigmax.backtest.result import (
        build_result,
        list_results,
        save_result,
        write_backtest_report,
    )
    from sigmax.backtest.runner import BacktestOptions, simulate
    from sigmax.backtest.safety_off import SAFETY_OFF_NOTICE, parse_safety_switch
    from sigmax.config import load_settings

    with exit_on_error():
        home = load_settings().home
        if list_runs:
            rows = list_results(home)
            if as_json:
                typer.echo(json.dumps(rows))
            else:
                _print_list(rows)
            return
        if report is not None and not report.parent.is_dir():
            raise InputError(f"--report: the folder {report.parent} does not exist")
        options = BacktestOptions(
            profile=profile,
            symbols=[s for s in symbols.split(",") if s.strip()] if symbols else None,
            timeframe=timeframe,
            start_ms=parse_moment(start, "--from") if start else None,
            until_ms=parse_moment(end, "--to") if end else None,
            data=data,
            strategy=strategy.strip().lower(),
            fast=fast,
            slow=slow,
            fee_rate=_decimal(fee_rate, "--fee-rate"),
            slippage_model=slippage_model.strip().lower(),
            research=research,
            capital=_decimal(capital, "--capital"),
            safety=parse_safety_switch(safety),
            llm=llm,
        )
        console = Console(stderr=True)
        if options.safety == "off":
            console.print(SAFETY_OFF_NOTICE, highlight=False, markup=False, soft_wrap=True)
        with Progress(
            TextColumn("backtest"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} candles"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=as_json or not console.is_terminal,
        ) as progress:
            task = progress.add_task("backtest", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            run = asyncio.run(simulate(replace(options, progress=advance)))
        result = build_result(run)
        save_result(result, home)
        if report is not None:
            write_backtest_report(run, result, report)
    if run.llm is not None:
        usage = run.llm.usage()
        Console(stderr=True).print(
            f"LLM {run.llm.reasoner.provider.name} {run.llm.reasoner.provider.model}: "
            f"{len(run.llm.answers)} decisions answered, {usage['calls']} calls, "
            f"{usage['cached']} from the cache, {usage['cost_usd']} USD",
            highlight=False,
            markup=False,
        )
    if as_json:
        typer.echo(result.to_json())
        return
    _print_result(result, report)


def _print_result(result: BacktestResult, report: Path | None) -> None:
    table = Table(title=f"SIGMAX backtest {result.id[:12]}", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    config = result.config
    table.add_row("strategy", str(config["strategy"]))
    table.add_row("markets", ", ".join(config["symbols"]))
    table.add_row("timeframe", str(config["timeframe"]))
    table.add_row(
        "safety", "off (triggers and protections)" if config.get("safety_switch") else "on"
    )
    table.add_row("candles", f"{result.candles:,}")
    for key, value in result.metrics.to_dict().items():
        table.add_row(key.replace("_", " "), "n/a" if value is None else str(value))
    if result.llm is not None:
        answers = result.llm["answers"]
        accepted = sum(1 for a in answers if a["status"] == "accepted")
        vote = result.llm["vote_weight"]
        table.add_row(
            "llm",
            f"{result.llm['provider']} {result.llm['model']}: {accepted}/{len(answers)} "
            f"answers accepted" + (f", vote weight {vote:g}" if vote else ""),
        )
    if report is not None:
        table.add_row("report", str(report))
    Console().print(table)


def _print_list(rows: list[dict[str, object]]) -> None:
    if not rows:
        Console().print("No stored backtests yet: run 'sigmax backtest'.")
        return
    table = Table(title="Stored backtests")
    for column in ("id", "strategy", "profile", "symbols", "from", "to", "total return", "trades"):
        table.add_column(column)
    for row in rows:
        symbols = row.get("symbols")
        table.add_row(
            str(row["id"])[:12],
            str(row["strategy"]),
            str(row["profile"]),
            ", ".join(symbols) if isinstance(symbols, list) else "",
            str(row["from"] or "start"),
            str(row["to"] or "end"),
            str(row["total_return"]),
            str(row["trades"]),
        )
    Console().print(table)
