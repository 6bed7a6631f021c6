"""``sigmax run``: paper or live trading through the one engine; the API and the bot beside it."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sigmax.cli.analyze_cmd import ProfileOption, ResearchOption, exit_on_error, parse_moment
from sigmax.cli.data_cmd import DataPathOption, TimeframeOption
from sigmax.errors import InputError

ModeOption = Annotated[
    str | None,
    typer.Option(
        "--mode",
        help="paper or live (default: TRADING_MODE). live trades on trading.exchange with "
        "API_KEY / API_SECRET (TESTNET=true: the exchange's sandbox).",
        show_default=False,
    ),
]
SymbolsOption = Annotated[
    str | None,
    typer.Option("--symbols", help="Comma-separated, e.g. BTC/USDT,ETH/USDT (default: config)."),
]
FeedOption = Annotated[
    str,
    typer.Option(
        "--feed",
        help="replay (the stored candles) or live (public candles of trading.exchange as they "
        "close; --speed, --from and --data do not apply).",
    ),
]
SpeedOption = Annotated[
    str,
    typer.Option("--speed", help="Candles per second per symbol, or 'max'."),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        "--until", help="Last decision at this ISO-8601 time (a candle close, with a zone)."
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from", help="First decision at this ISO-8601 time (a candle close, with a zone)."
    ),
]
NoApiOption = Annotated[bool, typer.Option("--no-api", help="Run without the REST API (headless).")]
HostOption = Annotated[
    str | None, typer.Option("--host", help="API address (default: config api.host, 127.0.0.1).")
]
PortOption = Annotated[
    int | None, typer.Option("--port", min=1, max=65535, help="API port (default 8000).")
]
ConfirmLiveOption = Annotated[
    bool,
    typer.Option(
        "--confirm-live",
        help="With TESTNET=false: confirm that real orders go to the exchange with real money.",
    ),
]
ClockSyncOption = Annotated[
    float,
    typer.Option(
        "--clock-sync",
        min=0.1,
        help="A live run: the longest wait, in seconds, between two readings of the "
        "exchange's clock while it waits for a candle to close.",
    ),
]
NewAccountOption = Annotated[
    bool,
    typer.Option(
        "--new-account",
        help="Start a new account although the store is empty and SIGMAX_HOME shows an "
        "earlier one (its marker, backups, run logs): only when the old store is knowingly "
        "gone.",
    ),
]


def parse_speed(text: str) -> float | None:
    """``--speed``: a positive number of candles per second per symbol, or ``max``."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = -1.0
    if not speed > 0 or speed != speed or speed == float("inf"):
        raise InputError(
            f"--speed: must be a number of candles per second > 0, or 'max' (got {text})"
        )
    return speed


def run_command(
    mode: ModeOption = None,
    profile: ProfileOption = None,
    symbols: SymbolsOption = None,
    feed: FeedOption = "replay",
    speed: SpeedOption = "1",
    until: UntilOption = None,
    start: FromOption = None,
    data: DataPathOption = None,
    timeframe: TimeframeOption = None,
    no_api: NoApiOption = False,
    host: HostOption = None,
    port: PortOption = None,
    new_account: NewAccountOption = False,
    confirm_live: ConfirmLiveOption = False,
    clock_sync: ClockSyncOption = 30.0,
    research: ResearchOption = None,
) -> None:
    """Trade on paper (candles replayed or live) or live on the exchange, through the agents,
    the venue and the ledger; the REST API and the Telegram bot run beside the engine.

    Re-running the same command after a crash resumes after the last fully processed candle.
    Ctrl-C or SIGTERM stops it cleanly (exit 130 or 143). One run per SIGMAX_HOME: a second
    one is refused (exit 2) while the first one's heartbeat is alive.
    """
    from sigmax.app.beside import BesideEngine
    from sigmax.engine.runner import RunOptions, RunTerminatedError, run_paper

    with exit_on_error():
        options = RunOptions(
            mode=mode.strip().lower() if mode is not None else None,
            profile=profile,
            symbols=[s for s in symbols.split(",") if s.strip()] if symbols else None,
            feed=feed.strip().lower(),
            speed=parse_speed(speed),
            start_ms=parse_moment(start, "--from") if start else None,
            until_ms=parse_moment(until, "--until") if until else None,
            data=data,
            timeframe=timeframe,
            companions=BesideEngine(api=not no_api, host=host, port=port),
            new_account=new_account,
            confirm_live=confirm_live,
            clock_sync_s=clock_sync,
            research=research,
        )
        try:
            report = asyncio.run(run_paper(options))
        except KeyboardInterrupt:
            Console(stderr=True).print(
                "stopped: every committed step is kept; run the same command to resume"
            )
            raise typer.Exit(130) from None
        except RunTerminatedError:
            Console(stderr=True).print(
                "stopped by SIGTERM: every committed step is kept; run the same command to resume"
            )
            raise typer.Exit(143) from None
    table = Table(title=f"SIGMAX run {report.run_id[:12]}", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    totals = report.totals
    state = (
        "already complete"
        if report.already_complete
        else ("resumed and completed" if report.resumed else "completed")
    )
    table.add_row("run", state)
    table.add_row("candles processed", f"{totals.candles:,}")
    for action, count in totals.decisions.items():
        table.add_row(f"decisions {action}", f"{count:,}")
    table.add_row("orders (rejected)", f"{totals.orders:,} ({totals.rejected:,})")
    table.add_row("fills", f"{totals.fills:,}")
    for key, value in report.account.items():
        table.add_row(key.replace("_", " "), f"{value:,.2f} USD")
    if totals.elapsed_s > 0:
        table.add_row("candles/s", f"{totals.candles / totals.elapsed_s:,.0f}")
    Console().print(table)
