"""Operations commands: ``sigmax health``, ``backup``, ``restore``, ``verify``,
``rebuild-history``, ``export``, ``audit``, ``report``, ``stats win-rate`` and ``db vacuum``.

Exit codes for cron: ``health`` 0 healthy, 1 degraded, 2 unhealthy; ``verify`` and ``audit`` 2
when they find a problem; every command 2 on bad input, 1 on a runtime failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from sigmax.cli.analyze_cmd import exit_on_error, parse_moment
from sigmax.config import load_settings
from sigmax.engine.account import open_account_home
from sigmax.errors import InputError, SigmaxError

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
_out = Console(highlight=False, soft_wrap=True)


def _print_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=1, ensure_ascii=False, default=str))


def health_command(
    json_output: JsonOption = False,
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", help="The run's API (default: config api.host and api.port)."),
    ] = None,
) -> None:
    """Process, API, log errors, disk, memory, last decision, paused; exit 0/1/2."""
    from sigmax.ops.health import Check, HealthReport, collect_health, http_api_check

    try:
        with open_account_home() as home:
            report = collect_health(
                home, api_check=lambda settings: http_api_check(settings, api_url)
            )
    except SigmaxError as error:
        report = HealthReport([Check("store", "unhealthy", str(error))], None)
    if json_output:
        _print_json(report.as_json())
    else:
        marks = {
            "ok": "[green]ok[/]",
            "degraded": "[yellow]degraded[/]",
            "unhealthy": "[red]unhealthy[/]",
        }
        _out.print(f"SIGMAX health: {report.status}")
        for check in report.checks:
            _out.print(f"  {check.name:<14} {marks[check.level]:<22} {escape(check.detail)}")
    raise typer.Exit(report.exit_code)


def backup_command(
    to: Annotated[
        Path | None,
        typer.Option("--to", help="Folder for the archive (default SIGMAX_HOME/backups)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """A consistent snapshot of the store plus the configuration, with a manifest."""
    from sigmax.ops.backup import create_backup

    with exit_on_error(), open_account_home() as home:
        result = create_backup(home.settings, home.db, to)
    if json_output:
        _print_json(result.as_json())
    else:
        files = result.manifest["files"]
        _out.print(
            f"backup written: {result.path} ({len(files)} files, {result.manifest['backend']})"
        )


def restore_command(
    archive: Annotated[Path, typer.Argument(help="A sigmax-backup-*.tar.gz archive.")],
    yes: Annotated[bool, typer.Option("--yes", help="Replace the store without asking.")] = False,
) -> None:
    """Replace the store with a backup's (refused while a run is running)."""
    from sigmax.ops.backup import read_archive, restore_backup

    with exit_on_error():
        settings = load_settings()
        manifest, _ = read_archive(archive)
        if not yes:
            if not sys.stdin.isatty():
                raise InputError("restore replaces the store: confirm with --yes")
            typer.confirm(
                f"Replace the store ({settings.database_summary()}) with the backup of "
                f"{manifest['created_at']}?",
                abort=True,
            )
        result = restore_backup(settings, archive)
    _out.print(f"restored {result.backend} store from {archive} (made {manifest['created_at']})")
    if result.kept_aside is not None:
        _out.print(f"the previous database is kept as {result.kept_aside}")
    if result.config_differs:
        _out.print(
            "configuration files that differ from the backup's copy (in the archive under "
            f"config/files/): {', '.join(result.config_differs)}"
        )
    _out.print("next: sigmax verify")


def verify_command(json_output: JsonOption = False) -> None:
    """The store's integrity; exit 2 naming every problem."""
    from sigmax.ops.verify import verify_store

    with exit_on_error(), open_account_home() as home:
        report = verify_store(home.db)
    if json_output:
        _print_json(report.as_json())
    else:
        counts = ", ".join(f"{n} {name}" for name, n in report.checked.items())
        for note in report.notes:
            _out.print(f"note: {escape(note)}")
        if report.ok:
            _out.print(f"store verified: no problem ({counts})")
        else:
            _out.print(f"[red]{len(report.problems)} problems[/] ({counts}):")
            for problem in report.problems:
                _out.print(escape(f"  [{problem.code}] {problem.message}"))
            _out.print("repair: sigmax rebuild-history, or sigmax restore <backup>")
    raise typer.Exit(report.exit_code)


def rebuild_command(json_output: JsonOption = False) -> None:
    """Rebuild positions, ledger and fills from the fills, orders and ledger; name the rest."""
    from sigmax.ops.rebuild import rebuild_history

    with exit_on_error(), open_account_home() as home:
        report = rebuild_history(home.db)
    if json_output:
        _print_json(report.as_json())
    else:
        if not report.rebuilt:
            _out.print("nothing needed rebuilding")
        for line in report.rebuilt:
            _out.print(f"rebuilt: {escape(line)}")
        for line in report.not_rebuilt:
            _out.print(f"[yellow]not rebuilt:[/] {escape(line)}")
        for line in report.remaining:
            _out.print(f"[red]still wrong:[/] {escape(line)}")
    raise typer.Exit(report.exit_code)


def export_command(
    dataset: Annotated[str, typer.Argument(help="trades, decisions or equity.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, json or parquet.")] = "csv",
    start: Annotated[str | None, typer.Option("--from", help="ISO-8601 time (inclusive).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO-8601 time (exclusive).")] = None,
) -> None:
    """Every column of the stored rows, exact decimals."""
    from sigmax.ops.export import Dataset, Format, read_table, write_export

    with exit_on_error():
        try:
            chosen = Dataset(dataset)
        except ValueError:
            raise InputError(f"DATASET {dataset!r}: expected trades, decisions or equity") from None
        try:
            form = Format(fmt)
        except ValueError:
            raise InputError(f"--format {fmt!r}: expected csv, json or parquet") from None
        start_ms = None if start is None else parse_moment(start, "--from")
        end_ms = None if end is None else parse_moment(end, "--to")
        with open_account_home() as home:
            table = read_table(home.db, chosen, start_ms, end_ms)
        rows = write_export(table, form, output)
    _out.print(f"{rows} {dataset} rows written to {output} ({fmt})")


def audit_command(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM (UTC).")],
    json_output: JsonOption = False,
) -> None:
    """Every fill of the month with its decision, verdict and safety state; exit 2 on orphans."""
    from sigmax.ops.audit import audit_month

    with exit_on_error(), open_account_home() as home:
        report = audit_month(home.db, month)
    if json_output:
        _print_json(report.as_json())
    else:
        _out.print(f"audit of {month}: {len(report.fills)} fills")
        for line in report.fills:
            verdict = line["policy_verdict"]
            allowed = (
                "-" if verdict is None else ("allowed" if verdict.get("allowed") else "refused")
            )
            _out.print(
                f"  {line['time']} {line['side']:<4} {line['qty']} {line['symbol']} at "
                f"{line['price']} fee {line['fee']} | {line['origin']} {line['decision_id'] or ''} "
                f"{line['decision_action'] or ''} | policy {allowed} | "
                f"{escape(line['safety_state'])}"
            )
        for orphan in report.orphans:
            _out.print(f"[red]orphan:[/] fill {orphan['fill_id']}: {escape(orphan['why'])}")
        for problem in report.mismatches:
            _out.print(f"[red]mismatch:[/] {escape(problem['message'])}")
    raise typer.Exit(report.exit_code)


def report_command(
    period: Annotated[str, typer.Option("--period", help="day, week or month.")] = "day",
    html: Annotated[Path | None, typer.Option("--html", help="Also write an HTML page.")] = None,
    json_output: JsonOption = False,
) -> None:
    """PnL, trades, win rate, fees, drawdown, pauses, against buy-and-hold."""
    from sigmax.ops.report import Period, period_report, write_html

    with exit_on_error():
        try:
            chosen = Period(period)
        except ValueError:
            raise InputError(f"--period {period!r}: expected day, week or month") from None
        with open_account_home() as home:
            report = period_report(home.db, chosen)
        if html is not None:
            write_html(report, html)
    body = report.as_json()
    if json_output:
        _print_json(body)
        return
    for key, value in body.items():
        if key != "pauses":
            _out.print(f"{key:<18} {'-' if value is None else value}")
    _out.print(f"pauses             {len(report.pauses)}")
    for pause in report.pauses:
        _out.print(
            f"  {pause['time']} {pause['kind']} {pause['trigger'] or ''}: "
            f"{escape(str(pause['reason']))}"
        )
    if html is not None:
        _out.print(f"HTML report: {html}")


stats_app = typer.Typer(help="Trading statistics.", no_args_is_help=True)


@stats_app.command("win-rate")
def win_rate_command(json_output: JsonOption = False) -> None:
    """Closed trades (flat to flat, net of fees), wins, losses and the win rate."""
    from sigmax.ops.report import all_time_win_rate

    with exit_on_error(), open_account_home() as home:
        rate = all_time_win_rate(home.db)
    body = rate.as_json()
    if json_output:
        _print_json(body)
    else:
        shown = "-" if body["win_rate_pct"] is None else f"{body['win_rate_pct']} %"
        _out.print(
            f"win rate {shown} ({body['wins']} wins, {body['losses']} losses, "
            f"{body['trades']} trades)"
        )


db_app = typer.Typer(help="Store maintenance.", no_args_is_help=True)


@db_app.command("vacuum")
def vacuum_command() -> None:
    """VACUUM ANALYZE (PostgreSQL) or VACUUM (SQLite, refused while a run writes)."""
    from sigmax.ops.vacuum import vacuum

    with exit_on_error(), open_account_home() as home:
        message = vacuum(home.db)
    _out.print(message)


def register(app: typer.Typer) -> None:
    """Add the operations commands to the ``sigmax`` app."""
    app.command("health")(health_command)
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    app.command("verify")(verify_command)
    app.command("rebuild-history")(rebuild_command)
    app.command("export")(export_command)
    app.command("audit")(audit_command)
    app.command("report")(report_command)
    app.add_typer(stats_app, name="stats")
    app.add_typer(db_app, name="db")
