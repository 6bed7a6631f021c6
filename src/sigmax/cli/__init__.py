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
    """Console-script entry point: runs the app and maps typed errors to exit codes."""
    try:
        app(standalone_mode=False)
    except SigmaxError as error:
        _err.print(f"[bold red]error:[/] {error}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(error.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _err.print("aborted")
        sys.exit(130)
    except Exception as usage:  # click's usage errors carry their own exit code (2)
        from click.exceptions import ClickException

        if isinstance(usage, ClickException):
            usage.show()
            sys.exit(usage.exit_code)
        raise
