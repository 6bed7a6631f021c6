"""``sigmax serve``: the REST API over the stored state of SIGMAX_HOME, without trading.

It shows what the last ``sigmax run`` committed and takes the operator's commands: pause and
resume apply to the stored safety state (or reach a run process through the control queue),
manual orders are queued on the newest run. The bearer token is SIGMAX_API_TOKEN, or the one
stored in ``$SIGMAX_HOME/api_token`` (created and printed once on the first start).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from sigmax.cli.analyze_cmd import exit_on_error
from sigmax.cli.data_cmd import DataPathOption

HostOption = Annotated[
    str | None,
    typer.Option(
        "--host",
        help="Address to listen on (default: api.host, 127.0.0.1). Anything but a loopback "
        "address makes every request need the token.",
        show_default=False,
    ),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        "--port", min=0, max=65535, help="Port (default: api.port, 8000).", show_default=False
    ),
]


def serve_command(
    ctx: typer.Context,
    host: HostOption = None,
    port: PortOption = None,
    data: DataPathOption = None,
) -> None:
    """Serve the REST API over SIGMAX_HOME's stored state (no trading); Ctrl-C stops it."""
    from sigmax.api import ApiServer, create_app, mask_in_logs, resolve_api_token
    from sigmax.data.catalog import DatasetCatalog
    from sigmax.engine.account import open_account_home, read_status
    from sigmax.logging_setup import configure_logging, shutdown_logging

    options = ctx.obj
    with exit_on_error(), open_account_home() as home:
        settings = home.settings
        try:
            configure_logging(
                settings,
                json_lines=bool(getattr(options, "log_json", False)),
                console=True,
                level=getattr(options, "log_level", None),
            )
        except ValueError as error:
            from sigmax.errors import InputError

            raise InputError(str(error)) from None
        try:
            token = resolve_api_token(settings.home)
            mask_in_logs(token.value)
            catalog = DatasetCatalog.from_path(data)
            chosen_host = host if host is not None else settings.api.host
            chosen_port = port if port is not None else settings.api.port
            app = create_app(home, token, host=chosen_host, catalog=catalog)
            server = ApiServer(app, chosen_host, chosen_port, handle_signals=True)
            if token.origin == "created":
                # Shown once, on the terminal only (never logged): it is in the file from now on.
                typer.echo(
                    f"SIGMAX API token (stored in {token.path}, shown only now): {token.value}",
                    err=True,
                )
            typer.echo(
                f"SIGMAX API on http://{chosen_host}:{server.port} over {settings.home} "
                f"(token from {token.origin}); Ctrl-C stops it",
                err=True,
            )
            run = read_status(home)
            if run is not None and run.state == "stale":
                # Said at once: the operator may believe a run is trading and protected.
                typer.echo(
                    f"warning: the newest run ({run.run_id}) is stale: its engine stopped "
                    "without a word; pause, resume and panic act on the stored account, and "
                    "re-running the same 'sigmax run' command resumes it",
                    err=True,
                )
            asyncio.run(server.serve())
        finally:
            shutdown_logging()
