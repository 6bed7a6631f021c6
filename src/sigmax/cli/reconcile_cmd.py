"""``sigmax reconcile``: the stored live account against the exchange, on demand.

Exit codes: 0 everything matches, 2 a mismatch (each named) or bad input, 1 a runtime failure
(the exchange could not be reached)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from sigmax.cli.analyze_cmd import exit_on_error

JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def reconcile_command(as_json: JsonOption = False) -> None:
    """Compare the newest live run's ledger, stops and open orders with the exchange account:
    balances, open orders and trades. Reports each mismatch; a running live engine does the
    same at start and every trading.reconcile_minutes, and pauses on a mismatch."""
    from sigmax.engine.account import open_account_home
    from sigmax.engine.reconcile_service import reconcile_stored_run

    with exit_on_error(), open_account_home() as home:
        report = asyncio.run(reconcile_stored_run(home))
    typer.echo(report.to_json() if as_json else report.summary())
    if not report.ok:
        raise typer.Exit(2)
