"""`sigmax config ...` commands."""

import typer

config_app = typer.Typer(help="config commands.", no_args_is_help=True)
