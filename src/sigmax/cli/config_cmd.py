"""`sigmax config ...`: check the configuration and show where every value comes from.

Both commands exit with code 2 and list every problem (``KEY: rule (got value)``, secrets
shown as ``**********``) when the configuration is invalid. They raise ``typer.Exit`` themselves
so the exit code is right even when the Typer app is invoked directly (tests, embedding).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sigmax.config import ConfigLoadError, LoadedSettings, Settings, load_settings_with_sources
from sigmax.config.loader import format_value
from sigmax.errors import ConfigError

config_app = typer.Typer(
    help="Check the configuration and show the effective values with their sources.",
    no_args_is_help=True,
)

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Risk profile to use (conservative, balanced, aggressive or a file in profiles/); "
        "wins over SIGMAX_PROFILE.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

#: Wide enough that keys, values and sources stay on one row when output is not a terminal.
_PIPE_WIDTH = 160


def _load_or_exit(profile: str | None) -> LoadedSettings:
    try:
        return load_settings_with_sources(profile=profile)
    except ConfigError as error:
        count = len(error.problems)
        header = f"error: invalid configuration ({count} problem{'s' if count != 1 else ''})"
        if isinstance(error, ConfigLoadError):
            where = []
            if error.config_dir is not None:
                where.append(f"config dir {error.config_dir}")
            if error.home is not None:
                where.append(f"home {error.home}")
            if where:
                header += f" [{', '.join(where)}]"
        typer.echo(header + ":", err=True)
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(code=error.exit_code) from None


def _mode_text(settings: Settings) -> str:
    if not settings.is_live:
        return "paper (simulated fills, no orders sent)"
    if settings.trading.testnet:
        return "live on testnet"
    return "LIVE on mainnet: real orders, real money"


@config_app.command("validate")
def validate_command(profile: ProfileOption = None) -> None:
    """Check the configuration; exit 0 when valid, 2 with one line per problem otherwise."""
    loaded = _load_or_exit(profile)
    settings = loaded.settings
    limits = settings.profile
    rows = [
        ("mode", _mode_text(settings)),
        ("exchange", settings.trading.exchange),
        (
            "profile",
            f"{settings.profile_name} (max position {limits.max_position_size} USD, "
            f"max exposure {limits.max_exposure} USD, daily loss limit "
            f"{settings.safety.max_daily_loss_usd} USD)",
        ),
        ("symbols", ", ".join(settings.trading.symbols)),
        ("config dir", f"{settings.config_dir} ({loaded.config_dir_reason})"),
        ("home", str(settings.home)),
        ("database", settings.database_summary()),
        ("log file", str(settings.log_file)),
    ]
    typer.echo("configuration is valid")
    for label, value in rows:
        typer.echo(f"  {label:<11} {value}")


def _cell(value: Any) -> Text:
    # Text, not str: Rich would read "[4h, 1d]" as markup and swallow it.
    return Text("not set" if value is None else format_value(value))


@config_app.command("show")
def show_command(profile: ProfileOption = None, json_output: JsonOption = False) -> None:
    """Show every effective setting, its value (secrets masked) and its source."""
    loaded = _load_or_exit(profile)
    if json_output:
        typer.echo(json.dumps(loaded.as_json(), indent=2))
        return
    settings = loaded.settings
    table = Table(
        title=(
            f"SIGMAX configuration: profile {settings.profile_name}, "
            f"config dir {settings.config_dir}"
        ),
        title_justify="left",
    )
    table.add_column("key", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", no_wrap=True)
    table.add_column("variable", no_wrap=True)
    for row in loaded.effective_values():
        table.add_row(Text(row.key), _cell(row.value), Text(row.source), Text(row.env_var or ""))
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=_PIPE_WIDTH)
    console.print(table)
