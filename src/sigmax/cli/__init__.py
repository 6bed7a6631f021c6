"""The ``sigmax`` command line (Typer + Rich).

Exit codes: 0 success, 1 runtime failure, 2 bad input or configuration.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sigmax import __version__
from sigmax.cli.account_cmd import status_command, trade_command, trades_command
from sigmax.cli.analyze_cmd import analyze_command, history_command, why_command
from sigmax.cli.arbitrage_cmd import arbitrage_app
from sigmax.cli.backtest_cmd import backtest_command
from sigmax.cli.bench_cmd import bench_app
from sigmax.cli.config_cmd import config_app
from sigmax.cli.data_cmd import data_app
from sigmax.cli.ops_cmd import register as register_ops
from sigmax.cli.optimize_cmd import optimize_command
from sigmax.cli.portfolio_cmd import portfolio_app
from sigmax.cli.reconcile_cmd import reconcile_command
from sigmax.cli.research_cmd import research_app
from sigmax.cli.rl_cmd import rl_app
from sigmax.cli.run_cmd import run_command
from sigmax.cli.safety_cmd import panic_command, pause_command, resume_command, safety_command
from sigmax.cli.serve_cmd import serve_command
from sigmax.cli.telegram_cmd import telegram_command
from sigmax.errors import SigmaxError

app = typer.Typer(
    name="sigmax",
    help="SIGMAX: autonomous, explainable crypto trading.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")
app.add_typer(arbitrage_app, name="arbitrage")
app.add_typer(research_app, name="research")
app.add_typer(rl_app, name="rl")
app.command("analyze")(analyze_command)
app.command("why")(why_command)
app.command("history")(history_command)
app.command("run")(run_command)
app.add_typer(portfolio_app, name="portfolio")
app.command("trades")(trades_command)
app.command("status")(status_command)
app.command("pause")(pause_command)
app.command("resume")(resume_command)
app.command("panic")(panic_command)
app.command("safety")(safety_command)
app.command("backtest")(backtest_command)
app.command("optimize")(optimize_command)
app.command("serve")(serve_command)
app.command("telegram")(telegram_command)
app.command("reconcile")(reconcile_command)
# A negative QTY must reach the command's own check, not be taken for an option.
app.command("trade", context_settings={"ignore_unknown_options": True})(trade_command)
register_ops(app)

_err = Console(stderr=True)


@dataclass(frozen=True, slots=True)
class CliOptions:
    """Options given before the sub-command; commands that log read them from ``ctx.obj``."""

    log_json: bool = False
    log_level: str | None = None


@app.callback()
def _root(
    ctx: typer.Context,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Write logs/sigmax.log as JSON lines.")
    ] = False,
    log_level: Annotated[
        str | None,
        typer.Option("--log-level", help="DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    ] = None,
) -> None:
    """SIGMAX: autonomous, explainable crypto trading."""
    # Logging is configured by the commands that need it, not here: `config validate` must be
    # able to report a broken configuration, which logging itself depends on.
    ctx.obj = CliOptions(log_json=log_json, log_level=log_level.upper() if log_level else None)


@app.command()
def version() -> None:
    """Print the SIGMAX version."""
    typer.echo(f"sigmax {__version__}")


def main() -> None:
    """Console-script entry point: runs the app and maps typed errors to exit codes.

    Typer's standalone mode already turns usage errors into exit code 2 and honours
    ``typer.Exit``; what is left are SIGMAX's own typed errors.
    """
    try:
        app()
    except SigmaxError as error:
        _err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
