"""``sigmax portfolio``: the paper account, and ``sigmax portfolio optimize``: an allocation.

``sigmax portfolio`` alone shows the account as before. ``optimize`` states one allocation
across symbols at a moment (the agents' scores as expected returns, the covariance of recent
returns, the profile's limits) and solves it by each method side by side: ``classical`` (the
mean-variance optimum the allocation step uses), ``exact`` (the selection QUBO by a classical
eigensolver), ``qaoa`` and ``vqe`` (the same QUBO on the Aer simulator). docs/PORTFOLIO.md.
Exit codes: 0 success, 1 runtime failure, 2 bad input or configuration.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from sigmax.cli.account_cmd import portfolio_command
from sigmax.cli.analyze_cmd import (
    PLAIN_OUTPUT_WIDTH,
    AtOption,
    JsonOption,
    ProfileOption,
    exit_on_error,
    parse_moment,
)
from sigmax.cli.data_cmd import DataPathOption
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError

portfolio_app = typer.Typer(
    help="The paper account (no sub-command), or an allocation across symbols (optimize).",
    no_args_is_help=False,
)

SymbolsOption = Annotated[
    str | None,
    typer.Option(
        "--symbols",
        help="Comma-separated markets, e.g. BTC/USDT,ETH/USDT. Default: the profile's "
        "allowed symbols.",
        show_default=False,
    ),
]
MethodOption = Annotated[
    str,
    typer.Option("--method", help="classical, exact, qaoa, vqe or all (side by side)."),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed",
        min=0,
        help="Seed of the Aer sampler and the optimizer's start (default: quantum.seed).",
        show_default=False,
    ),
]


@portfolio_app.callback(invoke_without_command=True)
def portfolio_root(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Cash, equity, PnL and open positions of the paper account (replay); `sigmax portfolio
    optimize` allocates across symbols.

    The figures are those of the last step the run committed; daily PnL covers the UTC day of
    the last processed candle. With --json, money, quantities and prices are strings holding
    the exact decimal (e.g. "991.38543201"), not JSON numbers, so nothing is rounded.
    """
    if ctx.invoked_subcommand is None:
        portfolio_command(as_json)


@portfolio_app.command("optimize")
def optimize_command(
    symbols: SymbolsOption = None,
    at: AtOption = None,
    data: DataPathOption = None,
    method: MethodOption = "all",
    seed: SeedOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Allocate across symbols at a moment by each method: weights, objective, seconds.

    The objective is the mean-variance utility mu'w - lambda/2 w'Sigma w per candle (higher is
    better), the same for every method, so the rows compare. With --json: a list of
    {method, weights: {symbol: weight}, selected: [symbols], objective, seconds, status}.
    """
    from sigmax.config import load_settings
    from sigmax.data.catalog import DatasetCatalog
    from sigmax.portfolio.service import optimize

    with exit_on_error():
        settings = load_settings(profile=profile)
        chosen = list(settings.profile.allowed_symbols) if symbols is None else _symbols(symbols)
        at_ms = None if at is None else parse_moment(at)
        result = optimize(
            settings,
            DatasetCatalog.from_path(data),
            chosen,
            at_ms,
            method,
            settings.quantum.seed if seed is None else seed,
        )
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in result.solutions]))
        return
    console = Console(width=None if Console().is_terminal else PLAIN_OUTPUT_WIDTH)
    problem = result.problem
    console.print(
        f"Allocation at {ms_to_iso(result.at_ms)}, profile {settings.profile_name}: "
        f"budget {problem.budget:.4f} of equity, at most {problem.max_assets} positions, "
        f"risk aversion {problem.risk_aversion:g}"
    )
    inputs = Table(box=box.SIMPLE_HEAD, title="Candidates")
    for column in ("symbol", "score", "confidence", "expected return", "volatility", "cap"):
        inputs.add_column(column, justify="left" if column == "symbol" else "right")
    for index, candidate in enumerate(result.candidates):
        inputs.add_row(
            candidate.symbol,
            f"{candidate.score:+.3f}",
            f"{candidate.confidence:.3f}",
            f"{problem.mu[index]:.3g}",
            f"{problem.cov[index, index] ** 0.5:.3g}",
            f"{candidate.cap:.4f}",
        )
    console.print(inputs)
    table = Table(box=box.SIMPLE_HEAD, title="Solutions")
    table.add_column("method")
    for symbol in problem.symbols:
        table.add_column(symbol, justify="right")
    for column in ("objective", "seconds", "status"):
        table.add_column(column, justify="right" if column != "status" else "left")
    for solution in result.solutions:
        table.add_row(
            solution.method,
            *(
                f"{solution.weights.get(s, 0.0):.4f}" if solution.ok else "-"
                for s in problem.symbols
            ),
            "-" if solution.objective is None else f"{solution.objective:.6g}",
            f"{solution.seconds:.3f}",
            solution.status,
        )
    console.print(table)


def _symbols(text: str) -> list[str]:
    found = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            found.append(str(Symbol.parse(part.strip())))
        except ValueError as error:
            raise InputError(f"--symbols: {error}") from None
    if not found:
        raise InputError("--symbols: must name at least one market")
    if len(set(found)) != len(found):
        raise InputError(f"--symbols: must not repeat a market (got {text})")
    return found
