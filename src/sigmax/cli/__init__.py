"""The ``sigmax`` command line (Typer + Rich).

Exit codes: 0 success, 1 runtime failure, 2 bad input or configuration.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from sigmax import __version__
from sigmax.cli.bench_cmd import bench_app
from sigmax.cli.config_cmd import config_app
from sigmax.cli.data_cmd import data_app
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

_err = Console(stderr=True)


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
        _err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
