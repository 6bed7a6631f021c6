"""`sigmax bench ...` commands."""

import typer

bench_app = typer.Typer(help="bench commands.", no_args_is_help=True)
