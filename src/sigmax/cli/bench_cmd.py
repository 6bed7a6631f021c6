"""``sigmax bench ...``: benchmarks that print their figures as JSON (or a table)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

bench_app = typer.Typer(
    help="Measure SIGMAX's speed on this machine; --json prints one JSON object.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")]
RepeatOption = Annotated[int, typer.Option("--repeat", min=1, help="Cold repetitions.")]
BenchDataOption = Annotated[
    Path | None,
    typer.Option("--data", help="A CSV file or a folder of EXCHANGE_BASE-QUOTE_TF.csv files."),
]


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    table = Table(title=f"sigmax bench {result['benchmark']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if key not in ("benchmark", "machine"):
            table.add_row(key, str(value))
    Console().print(table)


@contextmanager
def _stage_progress(name: str) -> Iterator[Callable[[str, int, int], None]]:
    """A Rich bar on stderr for a benchmark that reports ``(stage label, done, total)``;
    hidden when stderr is not a terminal."""
    from rich.progress import BarColumn, Progress, TextColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(name, total=None)

        def advance(label: str, done: int, total: int) -> None:
            progress.update(task, description=label, completed=done, total=total)

        yield advance


@bench_app.command("data")
def bench_data(
    data: BenchDataOption = None, repeat: RepeatOption = 7, as_json: JsonOption = False
) -> None:
    """Load the 1h datasets and compute every indicator (target: under 0.5 s in total)."""
    from sigmax.bench.data_bench import run_data_bench

    _emit(run_data_bench(data, repeat=repeat), as_json)


@bench_app.command("decisions")
def bench_decisions(
    symbol: Annotated[str, typer.Option("--symbol", help="Market to decide on.")] = "BTC/USDT",
    count: Annotated[
        int, typer.Option("--count", min=1, help="Decisions timed (the last candle closes).")
    ] = 2000,
    data: BenchDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Time the seven agents' decisions (target: p99 under 5 ms) and persisting one."""
    from sigmax.bench.decisions_bench import run_decisions_bench

    _emit(run_decisions_bench(symbol, count, data), as_json)


DaysOption = Annotated[int, typer.Option("--days", min=1, help="Days of data to replay.")]
BenchProfileOption = Annotated[str, typer.Option("--profile", help="Risk profile.")]


@bench_app.command("replay")
def bench_replay(
    days: DaysOption = 30,
    profile: BenchProfileOption = "aggressive",
    data: BenchDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Candles per second through the whole paper engine: four symbols, seven agents, max speed."""
    from sigmax.bench.replay_bench import run_replay_bench

    _emit(run_replay_bench(days=days, profile=profile, data=data), as_json)


RepeatsOption = Annotated[int, typer.Option("--repeats", min=1, help="Cold runs; the median.")]
BacktestProfileOption = Annotated[
    str | None, typer.Option("--profile", help="Risk profile (default: the configuration's).")
]


@bench_app.command("backtest")
def bench_backtest(
    repeats: RepeatsOption = 3,
    profile: BacktestProfileOption = None,
    data: BenchDataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Candles per second of a whole backtest over the four bundled 1h markets."""
    from sigmax.bench.backtest_bench import run_backtest_bench

    _emit(run_backtest_bench(repeats=repeats, profile=profile, data=data), as_json)


@bench_app.command("optimize")
def bench_optimize(
    trials: Annotated[int, typer.Option("--trials", min=1, help="Trials per study.")] = 100,
    folds: Annotated[int, typer.Option("--folds", min=1, help="Walk-forward folds.")] = 4,
    data: BenchDataOption = None,
    repeats: Annotated[
        int,
        typer.Option("--repeats", min=1, help="Timed runs of each sampled trial and backtest."),
    ] = 3,
    as_json: JsonOption = False,
) -> None:
    """Trials per second of an sma_cross study on 1 and 2 Dask workers, and a trial's cost
    against a plain backtest of the same span (bundled BTC/USDT 1h)."""
    from sigmax.bench.optimize_bench import run_optimize_bench

    _emit(run_optimize_bench(trials=trials, folds=folds, data=data, repeats=repeats), as_json)


@bench_app.command("arbitrage")
def bench_arbitrage(
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Runs; the median.")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Arbitrage backtest over ~110k 1m candles, and the cycle search on 2,000 markets."""
    from sigmax.bench.arbitrage_bench import run_arbitrage_bench

    _emit(run_arbitrage_bench(repeats=repeats), as_json)


@bench_app.command("api")
def bench_api(
    seconds: Annotated[
        float, typer.Option("--seconds", min=0.1, help="Seconds of load per rate.")
    ] = 10.0,
    rate: Annotated[
        float, typer.Option("--rate", min=1, help="Offered requests/s to each endpoint.")
    ] = 200.0,
    max_rate: Annotated[
        float,
        typer.Option("--max-rate", min=1, help="Highest rate per endpoint the step-up tries."),
    ] = 6400.0,
    min_rate: Annotated[
        float,
        typer.Option("--min-rate", min=0.1, help="Lowest rate per endpoint the step-down tries."),
    ] = 1.0,
    speed: Annotated[
        str, typer.Option("--speed", help="Replay speed of the loaded run (candles/s/symbol).")
    ] = "20",
    profile: BenchProfileOption = "aggressive",
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="API port (default: free).")
    ] = None,
    data: BenchDataOption = None,
    client: Annotated[
        str, typer.Option("--client", help="Load generator: aiohttp, or httpx (slower).")
    ] = "aiohttp",
    as_json: JsonOption = False,
) -> None:
    """p50/p99 of GET /api/status and /api/portfolio at an open-loop offered rate while a real
    `sigmax run` replays (target: p99 under 20 ms at 200 req/s each), then the highest rate
    that still meets it (open loop, latency from each request's due time)."""
    from sigmax.bench.api_bench import run_api_bench
    from sigmax.cli.analyze_cmd import exit_on_error

    with exit_on_error():
        result = run_api_bench(
            seconds=seconds,
            rate=rate,
            speed=speed,
            max_rate=max_rate,
            min_rate=min_rate,
            profile=profile,
            port=port,
            data=data,
            client=client,
        )
    _emit(result, as_json)


@bench_app.command("dashboard")
def bench_dashboard(
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Cold page loads timed.")] = 7,
    speed: Annotated[
        str, typer.Option("--speed", help="Replay speed of the run (candles/s/symbol).")
    ] = "4",
    profile: BenchProfileOption = "conservative",
    as_json: JsonOption = False,
) -> None:
    """The dashboard's gzipped weight (target: under 1 MB) and time to first render in headless
    Chromium against a real `sigmax run` (target: under 1 s): needs /usr/bin/chromium."""
    from sigmax.bench.dashboard_bench import run_dashboard_bench
    from sigmax.cli.analyze_cmd import exit_on_error

    with exit_on_error():
        result = run_dashboard_bench(repeat=repeat, speed=speed, profile=profile)
    _emit(result, as_json)


@bench_app.command("rl")
def bench_rl(
    env_steps: Annotated[
        int, typer.Option("--env-steps", min=1000, help="Environment steps timed.")
    ] = 500_000,
    train_steps: Annotated[
        int, typer.Option("--train-steps", min=256, help="PPO steps timed.")
    ] = 8_192,
    decisions: Annotated[
        int, typer.Option("--decisions", min=10, help="Decisions timed with the policy.")
    ] = 500,
    as_json: JsonOption = False,
) -> None:
    """The RL environment's steps/s (target: >= 50,000), PPO's training steps/s, the policy's
    inference per decision and the decision p99 with it voting (target: <= 5 ms)."""
    from sigmax.bench.rl_bench import run_rl_bench
    from sigmax.cli.analyze_cmd import exit_on_error

    with exit_on_error():
        result = run_rl_bench(env_steps=env_steps, train_steps=train_steps, decisions=decisions)
    _emit(result, as_json)


@bench_app.command("portfolio")
def bench_portfolio(
    max_n: Annotated[
        int, typer.Option("--max-n", min=2, max=8, help="Largest QUBO size (symbols).")
    ] = 8,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="QAOA / VQE runs per problem.")] = 5,
    instances: Annotated[
        int, typer.Option("--instances", min=1, max=4, help="Problems (windows) per size.")
    ] = 2,
    decisions: Annotated[
        int, typer.Option("--decisions", min=10, help="Closes of decision latency timed.")
    ] = 200,
    as_json: JsonOption = False,
) -> None:
    """QAOA and VQE against the exact optimum on real-data QUBOs (n <= 8): success rate,
    approximation ratio, seconds per n; decision p99 beside the quantum worker; the allocation
    step's time."""
    from sigmax.bench.portfolio_bench import run_portfolio_bench

    with _stage_progress("portfolio") as advance:
        result = run_portfolio_bench(
            max_n=max_n, seeds=seeds, instances=instances, decisions=decisions, progress=advance
        )
    _emit(result, as_json)


@bench_app.command("allocation")
def bench_allocation(
    profiles: Annotated[
        str, typer.Option("--profiles", help="Comma-separated risk profiles.")
    ] = "conservative,balanced,aggressive",
    as_json: JsonOption = False,
) -> None:
    """The agents' backtest of the four bundled markets, whole span, allocation step off and
    on, per profile: metrics and the most positions and exposure held at once."""
    from sigmax.bench.portfolio_bench import run_allocation_effect

    chosen = [p.strip() for p in profiles.split(",") if p.strip()]
    with _stage_progress("allocation") as advance:
        result = run_allocation_effect(chosen, progress=advance)
    _emit(result, as_json)
