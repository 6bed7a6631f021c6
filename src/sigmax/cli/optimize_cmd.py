"""``sigmax optimize``: search a strategy's parameters with walk-forward validation.

Exit codes: 0 done, 1 a runtime failure, 2 bad input.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sigmax.cli.analyze_cmd import ProfileOption, exit_on_error, parse_moment
from sigmax.cli.backtest_cmd import FromOption, SafetyOption, SymbolsOption, ToOption
from sigmax.cli.data_cmd import DataPathOption, TimeframeOption
from sigmax.errors import InputError

StrategyOption = Annotated[
    str, typer.Option("--strategy", help="agents (the seven-agent council) or sma_cross.")
]
SpaceOption = Annotated[
    Path | None,
    typer.Option("--space", help="A YAML file mapping parameter names to LOW..HIGH[:STEP]."),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help=(
            "NAME=LOW..HIGH[:STEP], repeatable; names are config paths "
            "(profile.buy_threshold, agents.analyzer.weight) or sma_cross's fast / slow."
        ),
    ),
]
ObjectiveOption = Annotated[
    str,
    typer.Option(
        "--objective",
        help="sharpe, sortino, calmar, total_return or profit_factor, out of sample.",
    ),
]
TrialsOption = Annotated[int, typer.Option("--trials", help="Trials to account for in total.")]
FoldsOption = Annotated[int, typer.Option("--folds", help="Anchored walk-forward folds.")]
SeedOption = Annotated[int, typer.Option("--seed", help="The TPE sampler's seed.")]
JobsOption = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        help="Dask worker processes of a local cluster (default: the cores); 0: this process.",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option("--scheduler", help="An existing Dask cluster: tcp://HOST:PORT."),
]
StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help=(
            "Optuna storage: memory, sqlite:///PATH or postgresql://... "
            "(default: SQLite in SIGMAX_HOME/studies/<id>/)."
        ),
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ReportOption = Annotated[
    Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
]
ListOption = Annotated[bool, typer.Option("--list", help="List the stored studies and exit.")]
ApplyOption = Annotated[
    str | None,
    typer.Option("--apply", help="Write STUDY's best parameters to a new profile file and exit."),
]
NameOption = Annotated[
    str | None,
    typer.Option("--name", help="--apply: the new profile's name (default: BASE-opt-ID)."),
]

#: The keys ``--json`` prints, in this order (the issue's, then the figures behind them).
JSON_KEYS = (
    "best_params",
    "best_value",
    "trials",
    "folds",
    "overfitting",
    "study",
    "strategy",
    "objective",
    "trial_counts",
    "retried_trials",
    "trials_run",
    "walk_forward",
    "importances",
    "baseline",
    "best_out_of_sample_metrics",
    "top_trials",
    "space",
    "seed",
    "storage",
    "executor",
    "data",
    "config_digest",
    "seconds",
)


def optimize_command(
    strategy: StrategyOption = "agents",
    profile: ProfileOption = None,
    space: SpaceOption = None,
    param: ParamOption = None,
    objective: ObjectiveOption = "sharpe",
    trials: TrialsOption = 100,
    folds: FoldsOption = 4,
    symbols: SymbolsOption = None,
    timeframe: TimeframeOption = None,
    start: FromOption = None,
    end: ToOption = None,
    data: DataPathOption = None,
    seed: SeedOption = 0,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    storage: StorageOption = None,
    safety: SafetyOption = "on",
    as_json: JsonOption = False,
    report: ReportOption = None,
    list_studies_: ListOption = False,
    apply: ApplyOption = None,
    name: NameOption = None,
) -> None:
    """Search a strategy's parameters with Optuna; every trial is a real backtest judged out of
    sample on anchored walk-forward folds, in this process or on a Dask cluster."""
    from sigmax.backtest.safety_off import SAFETY_OFF_NOTICE, parse_safety_switch
    from sigmax.config import load_settings
    from sigmax.optimize.space import build_space, load_space_file, parse_param
    from sigmax.optimize.study import (
        StudyRequest,
        list_studies,
        load_study,
        plan_study,
        run_study,
    )

    with exit_on_error():
        settings = load_settings()
        home = settings.home
        if list_studies_:
            rows = list_studies(home)
            if as_json:
                typer.echo(json.dumps(rows))
            else:
                _print_list(rows)
            return
        if apply is not None:
            from sigmax.optimize.apply import apply_study

            if settings.config_dir is None:
                raise InputError("--apply: no configuration folder to write the profile into")
            target = apply_study(load_study(home, apply), settings.config_dir, name)
            if as_json:
                typer.echo(json.dumps({"profile": target.stem, "path": str(target)}))
            else:
                Console().print(f"Wrote profile [bold]{target.stem}[/]: {target}")
            return
        if report is not None and not report.parent.is_dir():
            raise InputError(f"--report: the folder {report.parent} does not exist")
        chosen = strategy.strip().lower()
        params = [parse_param(text, chosen) for text in param or []]
        if space is not None:
            params += load_space_file(space, chosen)
        request = StudyRequest(
            strategy=chosen,
            space=build_space(chosen, params),
            home=home,
            objective=objective.strip().lower(),
            trials=trials,
            folds=folds,
            profile=profile,
            symbols=tuple(s.strip() for s in symbols.split(",") if s.strip()) if symbols else None,
            timeframe=timeframe,
            start_ms=parse_moment(start, "--from") if start else None,
            until_ms=parse_moment(end, "--to") if end else None,
            data=data,
            seed=seed,
            jobs=jobs,
            scheduler=scheduler,
            storage=storage,
            safety=parse_safety_switch(safety),
        )
        console = Console(stderr=True)
        if request.safety == "off":
            console.print(SAFETY_OFF_NOTICE, highlight=False, markup=False, soft_wrap=True)
        if as_json or not console.is_terminal:
            plan = plan_study(request)
        else:
            with console.status("baseline backtest (the configuration as it stands) ..."):
                plan = plan_study(request)
        with Progress(
            TextColumn("optimize"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials  best {task.fields[best]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=as_json or not console.is_terminal,
        ) as progress:
            task = progress.add_task("optimize", total=request.trials, best="-")

            def advance(done: int, total: int, best: float | None) -> None:
                shown = "-" if best is None or not math.isfinite(best) else f"{best:.4g}"
                progress.update(task, completed=done, total=total, best=shown)

            result = run_study(plan, advance)
        if report is not None:
            from sigmax.optimize.report import write_study_report

            write_study_report(result, report)
    if as_json:
        typer.echo(json.dumps({k: result.get(k) for k in JSON_KEYS}, default=str))
        return
    _print_result(result, report)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _print_result(result: dict[str, Any], report: Path | None) -> None:
    console = Console()
    counts = result["trial_counts"]
    head = Table(title=f"SIGMAX study {result['study']}", show_header=False)
    head.add_column("what")
    head.add_column("value")
    head.add_row("strategy / objective", f"{result['strategy']} / {result['objective']}")
    head.add_row(
        "trials",
        f"{result['trials']} ({counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['invalid']} invalid; {result['retried_trials']} retried)",
    )
    head.add_row(
        "best parameters",
        ", ".join(f"{k}={v}" for k, v in (result["best_params"] or {}).items()) or "n/a",
    )
    head.add_row("out-of-sample (best)", _fmt(result["best_value"]))
    head.add_row("out-of-sample (before)", _fmt(result["baseline"]["value"]))
    head.add_row(
        "walk-forward (chosen in sample)", _fmt(result["walk_forward"]["mean_out_of_sample"])
    )
    pbo = result["overfitting"]
    head.add_row(
        "probability of overfitting",
        _fmt(pbo["pbo"]) if pbo["pbo"] is not None else f"n/a ({pbo['reason']})",
    )
    deflated = pbo.get("deflated_sharpe") or {}
    head.add_row(
        "deflated Sharpe ratio",
        _fmt(deflated.get("value"))
        if deflated.get("value") is not None
        else f"n/a ({deflated.get('reason')})",
    )
    importances = result["importances"].get("values") or {}
    head.add_row("importances", ", ".join(f"{k} {v:.2f}" for k, v in importances.items()) or "n/a")
    head.add_row("ran on", str(result["executor"]))
    if report is not None:
        head.add_row("report", str(report))
    console.print(head)
    table = Table(title="Walk-forward folds (best trial against the configuration before)")
    for column in ("fold", "train", "test", "in-sample", "out-of-sample", "before: in / out"):
        table.add_column(column)
    for fold in result["folds"]:
        table.add_row(
            str(fold["fold"]),
            f"{fold['train_from'][:10]} .. {fold['train_to'][:10]}",
            f"{fold['test_from'][:10]} .. {fold['test_to'][:10]}",
            _fmt(fold["in_sample"]),
            _fmt(fold["out_of_sample"]),
            f"{_fmt(fold['baseline_in_sample'])} / {_fmt(fold['baseline_out_of_sample'])}",
        )
    console.print(table)


def _print_list(rows: list[dict[str, Any]]) -> None:
    if not rows:
        Console().print("No stored studies yet: run 'sigmax optimize'.")
        return
    table = Table(title="Stored studies")
    for column in ("id", "strategy", "objective", "profile", "symbols", "trials", "best", "PBO"):
        table.add_column(column)
    for row in rows:
        symbols = row.get("symbols")
        table.add_row(
            str(row["id"]),
            str(row["strategy"]),
            str(row["objective"]),
            str(row["profile"]),
            ", ".join(symbols) if isinstance(symbols, list) else "",
            str(row["trials"]),
            _fmt(row["best_value"]),
            _fmt(row["pbo"]),
        )
    Console().print(table)
