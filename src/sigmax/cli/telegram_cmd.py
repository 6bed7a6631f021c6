"""``sigmax telegram``: the Telegram bot alone, over the stored state of SIGMAX_HOME.

Like ``sigmax serve`` for the REST API: it answers from what the last ``sigmax run`` committed
and sends commands through the control queue, so a running engine applies them (with none
running, pause, resume and panic apply to the stored account). Notifications come from the
event bus: across processes that is NATS (``NATS_URL``); without it this process hears no
engine, and ``sigmax run`` itself starts the bot when TELEGRAM_BOT_TOKEN is set.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sigmax.cli.analyze_cmd import exit_on_error
from sigmax.cli.data_cmd import DataPathOption

if TYPE_CHECKING:
    from sigmax.engine.account import AccountHome


def telegram_command(ctx: typer.Context, data: DataPathOption = None) -> None:
    """Run the Telegram bot over SIGMAX_HOME's stored state (no trading); Ctrl-C stops it."""
    from sigmax.engine.account import open_account_home
    from sigmax.errors import InputError
    from sigmax.logging_setup import configure_logging, shutdown_logging
    from sigmax.telegram.app import token_of

    options = ctx.obj
    with exit_on_error(), open_account_home() as home:
        settings = home.settings
        token_of(settings)  # a missing token is a configuration error, exit 2
        try:
            configure_logging(
                settings,
                json_lines=bool(getattr(options, "log_json", False)),
                console=True,
                level=getattr(options, "log_level", None),
            )
        except ValueError as error:
            raise InputError(str(error)) from None
        try:
            asyncio.run(_serve(home, data))
        except KeyboardInterrupt:
            typer.echo("stopped", err=True)
        finally:
            shutdown_logging()


async def _serve(home: AccountHome, data: Path | None) -> None:
    from sigmax.bus import bus_from_settings
    from sigmax.data.catalog import DatasetCatalog
    from sigmax.telegram.app import TelegramBot, quiet_library_logs

    settings = home.settings
    quiet_library_logs()
    bus = bus_from_settings(settings)
    await bus.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bot = TelegramBot(settings, home, DatasetCatalog.from_path(data), bus)
    try:
        await bot.start()
        where = "NATS" if settings.services.nats_url is not None else "no engine (set NATS_URL)"
        print(
            f"SIGMAX Telegram bot over {settings.home}; notifications from {where}; "
            "Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    finally:
        await bot.stop()
        await bus.close()
