"""``sigmax pause``, ``resume``, ``panic`` and ``safety``: steer and inspect the safety enforcer.

A running engine applies a command after the candle it is processing; with no live engine
(none started, or its run is stale), the command acts on the stored account at once: pause and
resume change the stored safety state, a panic cancels the resting orders, closes the positions
at the last mark and pauses. What a command does is logged to ``logs/sigmax.log`` too. Exit
codes: 0 done (or queued for the running engine), 1 a runtime failure, 2 bad input or a refused
resume.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sigmax.cli.analyze_cmd import exit_on_error

if TYPE_CHECKING:
    from sigmax.engine.safety_service import CommandResult

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
DurationOption = Annotated[
    str | None,
    typer.Option(
        "--duration",
        help="Lift the pause by itself after this long: 3600 (seconds), 30m, 1h, 2d. "
        "Without it the pause lasts until 'sigmax resume'.",
        show_default=False,
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Resume even while a trigger's condition still holds (audited)."),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _run(kind_name: str, arguments: dict[str, Any], as_json: bool) -> None:
    from sigmax.engine.account import open_account_home
    from sigmax.engine.safety_service import request_command
    from sigmax.logging_setup import file_logging
    from sigmax.storage.models import ControlKind

    with exit_on_error(), open_account_home() as home, file_logging(home.settings):
        result = request_command(home, ControlKind(kind_name), arguments)
    echo_command_result(kind_name, result, as_json)


def echo_command_result(name: str, result: CommandResult, as_json: bool) -> None:
    """An operator command's outcome, as JSON or one line; exit code 2 when it was refused."""
    from sigmax.storage.models import ControlStatus

    if as_json:
        typer.echo(json.dumps(result.as_json()))
    else:
        typer.echo(f"{name}: {result.status.value}: {result.message}")
    if result.status is ControlStatus.REFUSED:
        raise typer.Exit(2)


def until_text(report: dict[str, Any]) -> str:
    """When a pause lifts by itself, with the clock it counts in (market time or wall clock)."""
    from sigmax.safety.triggers import CLOCK_LABELS

    clock = report.get("until_clock")
    if clock == "mixed":
        return "each hold's own end (market time and wall clock)"
    if report.get("until") is None or clock is None:
        return "a resume"
    return f"{report['until']} ({CLOCK_LABELS[clock]})"


def _hold_until(hold: dict[str, Any]) -> str:
    return until_text({"until": hold.get("until"), "until_clock": hold.get("clock")})


def pause_command(duration: DurationOption = None, as_json: JsonOption = False) -> None:
    """Pause trading: no new orders; resting stop-loss and take-profit orders stay."""
    from sigmax.engine.controls import parse_duration

    with exit_on_error():
        duration_ms = parse_duration(duration) if duration is not None else None
    _run("pause", {"duration_ms": duration_ms, "reason": "paused by the operator"}, as_json)


def resume_command(force: ForceOption = False, as_json: JsonOption = False) -> None:
    """Resume trading; refused with the reason while a trigger's condition still holds."""
    _run("resume", {"force": force}, as_json)


def panic_command(yes: YesOption = False, as_json: JsonOption = False) -> None:
    """Stop trading now: cancel every open order, close every position at market, pause."""
    if not yes and not typer.confirm(
        "Cancel every open order and close every position at market?", default=False
    ):
        typer.echo("panic: not done")
        raise typer.Exit(1)
    _run("panic", {"reason": "panic by the operator"}, as_json)


def safety_command(as_json: JsonOption = False) -> None:
    """Paused or not and why, each trigger against its threshold, protections, violations."""
    from sigmax.engine.account import open_account_home
    from sigmax.engine.safety_service import safety_report

    with exit_on_error(), open_account_home() as home:
        report = safety_report(home)
    if as_json:
        typer.echo(json.dumps(report))
        return
    console = Console()
    state = "PAUSED" if report["paused"] else "trading"
    console.print(f"[bold]{state}[/bold] as of {report['as_of']} (market time)")
    if report["paused"]:
        console.print(f"reason: {report.get('reason')}  until: {until_text(report)}")
        for hold in report["holds"]:
            console.print(f"  {hold['trigger']}: until {_hold_until(hold)}")
    table = Table(title="Triggers")
    for column in ("trigger", "value", "threshold", "fired"):
        table.add_column(column)
    for trigger in report["triggers"]:
        table.add_row(
            str(trigger["name"]),
            str(trigger["shown_value"]),
            str(trigger["shown_threshold"]),
            "yes" if trigger["fired"] else "",
        )
    console.print(table)
    violations = report.get("violations") or []
    if violations:
        console.print(f"{len(violations)} recent violations; newest: {violations[0]}")
