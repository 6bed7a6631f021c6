"""``sigmax rl train|list|evaluate|promote|demote``: the reinforcement-learning signal.

A policy is trained with PPO on one window and validated on the next (walk-forward), stored in
the registry under ``SIGMAX_HOME/models/``, judged on data after its training window against
buy-and-hold, the agents and ``sma_cross``, and gets a vote only once promoted, which needs its
validation Sharpe to beat buy-and-hold's and the agents'. torch is imported by ``train`` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sigmax.cli.analyze_cmd import exit_on_error, parse_moment
from sigmax.cli.data_cmd import DataPathOption, TimeframeOption
from sigmax.errors import InputError

rl_app = typer.Typer(
    help="The reinforcement-learning signal: train, list, evaluate and promote policies.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ModelArgument = Annotated[str, typer.Argument(help="A model id (or its first 6+ characters).")]


def _home() -> Path:
    from sigmax.config import load_settings

    return load_settings().home


@rl_app.command("train")
def train_command(
    symbols: Annotated[
        str | None, typer.Option("--symbols", help="Comma-separated markets (default: config).")
    ] = None,
    timeframe: TimeframeOption = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Training window start (ISO time with zone).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Training window end; validation starts here.")
    ] = None,
    validate_to: Annotated[
        str | None,
        typer.Option("--validate-to", help="Validation window end (default: the data's end)."),
    ] = None,
    timesteps: Annotated[int, typer.Option("--timesteps", help="PPO environment steps.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed, the same model.")] = 0,
    n_envs: Annotated[int, typer.Option("--n-envs", help="Parallel environments.")] = 4,
    actions: Annotated[
        str, typer.Option("--actions", help="discrete (flat/long) or fraction (0..1).")
    ] = "discrete",
    drawdown_penalty: Annotated[
        float, typer.Option("--drawdown-penalty", help="Reward penalty per unit of drawdown.")
    ] = 0.5,
    episode_length: Annotated[
        int, typer.Option("--episode-length", help="Candles per training episode.")
    ] = 720,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            help="Weekly retrain: the newest model (or --model) with this many days appended "
            "to its training window; the previous model is kept.",
        ),
    ] = None,
    parent: Annotated[
        str | None, typer.Option("--model", help="With --days: the model to retrain.")
    ] = None,
    data: DataPathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a PPO policy on a window, validate it on the next one, and register it."""
    from sigmax.data.catalog import DatasetCatalog
    from sigmax.rl.data import Window
    from sigmax.rl.env import EnvConfig
    from sigmax.rl.registry import list_models, load_model
    from sigmax.rl.train import TrainRequest, data_end_ms, retrain_request, train

    with exit_on_error():
        home = _home()
        if days is not None:
            if start or end or validate_to:
                raise InputError("--days: retrains a model's windows; drop --from/--to")
            models = list_models(home)
            if parent is None and not models:
                raise InputError("--days: no model to retrain yet (sigmax rl train first)")
            base = load_model(home, parent) if parent is not None else models[-1]
            request = retrain_request(home, base, days, data)
        else:
            if parent is not None:
                raise InputError("--model: only with --days")
            if start is None or end is None:
                raise InputError("--from and --to: give the training window")
            train_window = Window(parse_moment(start, "--from"), parse_moment(end, "--to"))
            chosen = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
            if validate_to is not None:
                validate_end = parse_moment(validate_to, "--validate-to")
            else:
                from sigmax.config import load_settings
                from sigmax.config.settings import timeframe_overrides
                from sigmax.engine.symbols import parse_symbols

                settings = load_settings(overrides=timeframe_overrides(timeframe))
                primary = settings.agents.analyzer.timeframes.primary
                validate_end = data_end_ms(
                    DatasetCatalog.from_path(data), parse_symbols(chosen, settings), primary
                )
            validation = (
                Window(train_window.end_ms, validate_end)
                if validate_end > train_window.end_ms
                else None
            )
            request = TrainRequest(
                home=home,
                train=train_window,
                validate=validation,
                symbols=chosen,
                timeframe=timeframe,
                data=data,
                timesteps=timesteps,
                seed=seed,
                n_envs=n_envs,
                env=EnvConfig(
                    episode_length=episode_length,
                    drawdown_penalty=drawdown_penalty,
                    actions=actions.strip().lower(),
                ),
            )
        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=as_json or not console.is_terminal,
        ) as progress:
            task = progress.add_task("training", total=request.timesteps)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            def stage(name: str) -> None:
                progress.update(task, description=name)

            stored = train(request, progress=advance, stage=stage)
    summary = {
        "id": stored.id,
        "sha256": stored.sha256,
        "parent": stored.card["config"].get("parent"),
        "train_window": stored.card["config"]["train_window"],
        "validation_window": stored.card["config"]["validation_window"],
        "metrics": stored.card["metrics"],
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    Console().print(f"model [bold]{stored.id}[/] sha256 {stored.sha256}")
    _print_comparison(stored.card["metrics"].get("validation"))


@rl_app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """The models in SIGMAX_HOME/models/, oldest first; the promoted one is marked."""
    from sigmax.rl.registry import list_models, promoted

    with exit_on_error():
        home = _home()
        models = list_models(home)
        chosen = promoted(home)
    rows = [_row(m.card, chosen) for m in models]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        Console().print("No models yet: run 'sigmax rl train'.")
        return
    table = Table(title="RL models")
    # The id is what the other commands take: never cut.
    table.add_column("id", no_wrap=True, min_width=16)
    for column in ("created", "symbols", "train", "validation", "steps", "seed", "Sharpe"):
        table.add_column(column)
    table.add_column("weight")
    for row in rows:
        table.add_row(
            row["id"],
            row["created"],
            ", ".join(row["symbols"]),
            _span(row["train_window"]),
            _span(row["validation_window"]),
            "-" if row["timesteps"] is None else f"{row['timesteps']:,}",
            str(row["seed"]),
            "n/a" if row["validation_sharpe"] is None else f"{row['validation_sharpe']:.4f}",
            "-" if row["weight"] is None else str(row["weight"]),
        )
    Console().print(table)


def _span(window: dict[str, str] | None) -> str:
    return "-" if not window else f"{window['from'][:10]}..{window['to'][:10]}"


def _row(card: dict[str, Any], chosen: dict[str, Any] | None) -> dict[str, Any]:
    config = card["config"]
    validation = (card.get("metrics") or {}).get("validation") or {}
    sharpe = (validation.get("metrics") or {}).get("sharpe")
    promoted_here = chosen is not None and chosen.get("model") == card["id"]
    return {
        "id": card["id"],
        "sha256": card["sha256"],
        "created": card.get("created", ""),
        "symbols": config.get("symbols", []),
        "timeframe": config.get("timeframe"),
        "train_window": config.get("train_window"),
        "validation_window": config.get("validation_window"),
        "timesteps": config.get("timesteps"),
        "seed": config.get("seed"),
        "parent": config.get("parent"),
        "validation_sharpe": sharpe,
        "promoted": promoted_here,
        "weight": chosen.get("weight") if promoted_here and chosen is not None else None,
    }


@rl_app.command("evaluate")
def evaluate_command(
    model: ModelArgument,
    start: Annotated[
        str | None,
        typer.Option("--from", help="Window start (default: the end of the training window)."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Window end (default: the data's end).")
    ] = None,
    data: DataPathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Backtest a model on data after its training window, next to buy-and-hold, the agents
    (without the policy) and sma_cross."""
    from sigmax.data.catalog import DatasetCatalog
    from sigmax.domain.candles import Timeframe
    from sigmax.rl.data import Window
    from sigmax.rl.evaluate import evaluate
    from sigmax.rl.registry import load_model
    from sigmax.rl.train import _iso_ms, data_end_ms

    with exit_on_error():
        home = _home()
        stored = load_model(home, model)
        config = stored.card["config"]
        timeframe = Timeframe.parse(config["timeframe"])
        catalog = DatasetCatalog.from_path(data)
        train_end = _iso_ms(config["train_window"]["to"])
        window = Window(
            parse_moment(start, "--from") if start else train_end,
            parse_moment(end, "--to")
            if end
            else data_end_ms(catalog, config["symbols"], timeframe),
        )
        console = Console(stderr=True)
        with console.status("evaluating", spinner="dots") as status:
            result = evaluate(
                home=home,
                network=stored.policy(),
                model=stored.id,
                train_end_ms=train_end,
                window=window,
                symbols=config["symbols"],
                timeframe=timeframe,
                source=catalog,
                profile=str(config.get("profile", "reference")),
                progress=lambda name: status.update(f"backtest: {name}"),
            )
    document = result.to_dict()
    if as_json:
        typer.echo(json.dumps(document))
        return
    _print_comparison(document)


@rl_app.command("promote")
def promote_command(
    model: ModelArgument,
    weight: Annotated[
        float, typer.Option("--weight", help="Its weight in the vote (the agents' sum to 1).")
    ] = 0.2,
    as_json: JsonOption = False,
) -> None:
    """Give a model its vote: only when its validation Sharpe beats buy-and-hold's and the
    agents'; refused otherwise, saying by how much it falls short."""
    from sigmax.rl.promote import promote

    with exit_on_error():
        record = promote(_home(), model, weight)
    if as_json:
        typer.echo(json.dumps(record))
        return
    Console().print(
        f"model [bold]{record['model']}[/] promoted with weight {record['weight']}: it votes "
        "in the next decisions (runs and backtests started from now)."
    )


@rl_app.command("demote")
def demote_command() -> None:
    """Take the promoted model's vote away (the agents alone decide again)."""
    from sigmax.rl.promote import demote

    with exit_on_error():
        removed = demote(_home())
    Console().print("The promoted model no longer votes." if removed else "No model was promoted.")


def _print_comparison(document: dict[str, Any] | None) -> None:
    if not document:
        Console().print("No validation window.")
        return
    window = document["window"]
    table = Table(title=f"{window['from'][:10]} .. {window['to'][:10]}")
    table.add_column("metric")
    columns = {"policy": document["metrics"], **document["baselines"]}
    for name in columns:
        table.add_column(name.replace("_", "-"), justify="right")
    for key in ("total_return", "sharpe", "sortino", "max_drawdown", "trades", "fees_paid"):
        table.add_row(
            key.replace("_", " "),
            *("n/a" if m.get(key) is None else str(m.get(key)) for m in columns.values()),
        )
    Console().print(table)
