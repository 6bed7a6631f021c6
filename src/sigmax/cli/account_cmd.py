"""``sigmax portfolio``, ``trades``, ``status`` and ``trade``: the operator's view of the account.

They read (and ``trade`` queues an order on) the paper account of SIGMAX_HOME: the newest run's
committed state. In ``--json`` output every exact decimal (money, quantities, prices) is a
string, such as ``"991.38543201"``, so no client reads it as a rounded binary float; times are
ISO-8601 UTC. Tables round money to cents. Exit codes: 0 success, 1 runtime failure, 2 bad input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Final

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sigmax.cli.analyze_cmd import PLAIN_OUTPUT_WIDTH, exit_on_error
from sigmax.domain.candles import ms_to_iso

if TYPE_CHECKING:
    from sigmax.engine.account import Portfolio, RunStatusReport, Trade
    from sigmax.engine.manual_order import QueuedOrder

# The engine and storage are imported inside the commands, so `sigmax --help` stays fast.

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
SymbolFilterOption = Annotated[
    str | None,
    typer.Option("--symbol", help="Only this market, e.g. BTC/USDT.", show_default=False),
]
LimitOption = Annotated[
    int, typer.Option("--limit", min=1, help="Show the newest N fills (oldest first).")
]
SymbolArgument = Annotated[
    str, typer.Argument(metavar="SYMBOL", help="Market such as BTC/USDT.", show_default=False)
]
SideArgument = Annotated[
    str, typer.Argument(metavar="SIDE", help="buy or sell.", show_default=False)
]
QtyArgument = Annotated[
    str,
    typer.Argument(
        metavar="QTY", help="Quantity of the base currency, e.g. 0.001.", show_default=False
    ),
]
_SIDE_STYLES: Final = {"buy": "bold green", "sell": "bold red"}


# --- commands -----------------------------------------------------------------------------------


def portfolio_command(as_json: JsonOption = False) -> None:
    """Cash, equity, PnL and open positions of the paper account (replay).

    The figures are those of the last step the run committed; daily PnL covers the UTC day of
    the last processed candle. With --json, money, quantities and prices are strings holding
    the exact decimal (e.g. "991.38543201"), not JSON numbers, so nothing is rounded.
    """
    from sigmax.engine.account import open_account_home, read_portfolio

    with exit_on_error(), open_account_home() as home:
        portfolio = read_portfolio(home)
    if as_json:
        typer.echo(json.dumps(portfolio.as_json()))
        return
    render_portfolio(portfolio, _stdout())


def trades_command(
    symbol: SymbolFilterOption = None, limit: LimitOption = 50, as_json: JsonOption = False
) -> None:
    """The account's fills with their orders and decisions, oldest first.

    A fill without a decision comes from a manual order (sigmax trade). With --json, money,
    quantities and prices are strings holding the exact decimal, not JSON numbers.
    """
    from sigmax.engine.account import open_account_home, read_trades
    from sigmax.engine.manual_order import parse_symbol

    with exit_on_error():
        wanted = None if symbol is None else parse_symbol(symbol, "--symbol")
        with open_account_home() as home:
            trades = read_trades(home, symbol=wanted, limit=limit)
    if as_json:
        typer.echo(json.dumps([trade.as_json() for trade in trades]))
        return
    render_trades(trades, wanted, _stdout())


def status_command(as_json: JsonOption = False) -> None:
    """The newest paper run: mode, feed, progress, counts, resting orders and equity.

    With --json, money, quantities and prices are strings holding the exact decimal.
    """
    from sigmax.engine.account import no_run_message, open_account_home, read_status

    with exit_on_error(), open_account_home() as home:
        report = read_status(home)
        empty_message = no_run_message(home.settings)
    if as_json:
        typer.echo(json.dumps(None if report is None else report.as_json()))
        return
    console = _stdout()
    if report is None:
        console.print(empty_message, highlight=False, markup=False)
        return
    render_status(report, console)


def trade_command(
    symbol: SymbolArgument, side: SideArgument, qty: QtyArgument, as_json: JsonOption = False
) -> None:
    """Place a manual paper market order on the newest run, to fill at its next candle's open.

    The order passes the automatic orders' checks: the symbol is traded by the run, QTY meets
    the market's minimum quantity, step size and minimum notional at the last mark; a buy must
    fit in the cash; a sell cannot exceed the position (selling all of it cancels its stop-loss
    and take-profit); then the safety enforcer (no buy while paused) and the compliance
    policies. A running 'sigmax run' checks and sends it after the candle it is processing;
    with none running the order is queued on the stored run and fills when the run resumes
    (re-run the same 'sigmax run' command).
    """
    from sigmax.cli.safety_cmd import echo_command_result
    from sigmax.engine.account import open_account_home
    from sigmax.engine.manual_order import QueuedOrder
    from sigmax.engine.safety_service import submit_manual_order
    from sigmax.logging_setup import file_logging

    with exit_on_error(), open_account_home() as home, file_logging(home.settings):
        placed = submit_manual_order(home, symbol, side, qty)
    if isinstance(placed, QueuedOrder):
        if as_json:
            typer.echo(json.dumps(placed.as_json()))
            return
        render_queued(placed, _stdout())
        return
    echo_command_result("trade", placed, as_json)


# --- rendering ----------------------------------------------------------------------------------


def render_portfolio(portfolio: Portfolio, console: Console) -> None:
    """The account as a table of figures and one of positions."""
    if portfolio.run_id is None:
        title = (
            f"No paper run yet: the {portfolio.profile} profile's starting capital "
            "(start one with 'sigmax run')"
        )
    else:
        as_of = "no candle yet" if portfolio.as_of_ms is None else ms_to_iso(portfolio.as_of_ms)
        title = f"Paper account, REPLAY run {portfolio.run_id[:12]} ({portfolio.profile}), {as_of}"
    console.print(title, highlight=False, markup=False, soft_wrap=True)
    figures = Table(show_header=False, box=box.SIMPLE)
    figures.add_column("figure")
    figures.add_column("USDT", justify="right")
    day = "" if portfolio.day is None else f" ({portfolio.day.isoformat()} UTC)"
    for name, value in (
        ("cash", portfolio.cash),
        ("equity", portfolio.equity),
        ("realized PnL", portfolio.realized_pnl),
        ("unrealized PnL", portfolio.unrealized_pnl),
        ("fees", portfolio.fees),
        (f"daily PnL{day}", portfolio.daily_pnl),
    ):
        figures.add_row(name, _money(value))
    console.print(figures)
    if not portfolio.positions:
        console.print("No open positions.", highlight=False, markup=False)
        return
    positions = Table(title="Open positions", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("symbol", "qty", "avg price", "mark", "unrealized PnL"):
        positions.add_column(name, justify="left" if name == "symbol" else "right", no_wrap=True)
    for line in portfolio.positions:
        positions.add_row(
            line.symbol,
            _exact(line.qty),
            _money(line.avg_price),
            _exact(line.mark),
            _money(line.unrealized_pnl),
        )
    console.print(positions)


def render_trades(trades: Sequence[Trade], symbol: str | None, console: Console) -> None:
    """Fills as a table, oldest first."""
    where = f" of {symbol}" if symbol else ""
    if not trades:
        console.print(f"No fills{where} yet.", highlight=False, markup=False)
        return
    table = Table(
        title=f"Fills{where}, oldest first",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 0),
    )
    table.add_column("UTC", no_wrap=True)
    table.add_column("symbol", no_wrap=True)
    table.add_column("side", no_wrap=True)
    for name in ("qty", "price", "fee", "realized PnL"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("order type", no_wrap=True)
    table.add_column("decision", no_wrap=True)
    for trade in trades:
        table.add_row(
            _when(trade.timestamp_ms),
            trade.symbol,
            Text(trade.side.value.upper(), style=_SIDE_STYLES.get(trade.side.value, "")),
            _exact(trade.qty),
            _exact(trade.price),
            _money(trade.fee),
            _money(trade.realized_pnl),
            trade.order_type.value,
            "manual" if trade.decision_id is None else trade.decision_id[:8],
        )
    console.print(table)


def _status_text(report: RunStatusReport) -> str:
    """The run's status, with the engine that runs it (or the one that stopped)."""
    engine = report.engine
    if report.state == "stale":
        if engine is None:
            return "stale: no engine holds the run (it died without a word); rerun to resume"
        return f"stale: its engine stopped ({engine.describe()}); rerun to resume"
    if report.state == "running" and engine is not None:
        return f"running: {engine.describe()}"
    return report.state


def render_status(report: RunStatusReport, console: Console) -> None:
    """The run's identity, progress and resting orders."""
    table = Table(
        title=f"SIGMAX {report.mode} run on REPLAYED candles (not live)",
        title_justify="left",
        show_header=False,
        box=box.SIMPLE,
    )
    table.add_column("field")
    table.add_column("value")
    rows: list[tuple[str, str]] = [
        ("run", report.run_id),
        ("mode / feed", f"{report.mode} / {report.feed}"),
        ("status", _status_text(report)),
        ("profile", report.profile),
        ("symbols", f"{', '.join(report.symbols)} ({report.timeframe} candles)"),
        ("started (wall clock)", ms_to_iso(report.started_at_ms)),
    ]
    if report.ended_at_ms is not None:
        rows.append(("ended (wall clock)", ms_to_iso(report.ended_at_ms)))
    for symbol in report.symbols:
        opened = report.last_candles.get(symbol)
        shown = "none yet" if opened is None else f"{ms_to_iso(opened)} (open time)"
        rows.append((f"last candle {symbol}", shown))
    rows += [
        ("decisions recorded", f"{report.decisions:,}"),
        ("orders", f"{report.orders:,} ({len(report.open_orders)} resting)"),
        ("fills", f"{report.fills:,}"),
        ("cash", f"{_money(report.cash)} USDT"),
        ("equity", f"{_money(report.equity)} USDT"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if not report.open_orders:
        return
    orders = Table(
        title="Resting orders",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 0),
    )
    for name in ("order", "symbol", "side", "type", "qty", "price", "placed UTC"):
        orders.add_column(
            name, no_wrap=True, justify="right" if name in {"qty", "price"} else "left"
        )
    for order in report.open_orders:
        orders.add_row(
            order.client_order_id,
            order.symbol,
            order.side.value,
            order.type.value,
            _exact(order.qty),
            "market" if order.price is None else _exact(order.price),
            _when(order.created_ms),
        )
    console.print(orders)


def render_queued(queued: QueuedOrder, console: Console) -> None:
    """What was queued and when it fills."""
    lines = [
        f"Queued market {queued.side.value.upper()} {_exact(queued.qty)} {queued.symbol} "
        f"(order {queued.client_order_id}) on run {queued.run_id[:12]}.",
        f"It fills at the open of the candle starting {ms_to_iso(queued.queued_at_ms)} when the "
        "run resumes: re-run the same 'sigmax run' command.",
        f"At the last mark {_exact(queued.mark)}: about {_money(queued.estimated_notional)} "
        f"USDT, fee about {_money(queued.estimated_fee)} USDT (the fill is at the next open, "
        "with slippage).",
    ]
    if queued.cancelled:
        lines.append(
            f"Cancelled the position's resting sell orders: {', '.join(queued.cancelled)}."
        )
    if queued.run_status.value == "running":
        lines.append(
            "The run is marked running: if a 'sigmax run' process is still running it will "
            "overwrite this order; stop it, queue again, then resume."
        )
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _when(ms: int) -> str:
    """A compact UTC time for tables: ``2022-11-07 23:00``."""
    return ms_to_iso(ms)[:16].replace("T", " ")


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _exact(value: Decimal) -> str:
    return f"{value:,f}"


def _stdout() -> Console:
    console = Console()
    if not console.is_terminal:
        # Rich would otherwise assume 80 columns when writing to a pipe or file.
        console = Console(width=PLAIN_OUTPUT_WIDTH)
    return console
