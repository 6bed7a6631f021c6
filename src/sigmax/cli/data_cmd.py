"""`sigmax data ...` commands."""

import typer

data_app = typer.Typer(help="data commands.", no_args_is_help=True)
