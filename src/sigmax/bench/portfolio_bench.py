"""``sigmax bench portfolio``: the allocation solvers and what the allocation step costs.

Solvers: for each size ``n`` (2 to ``max_n``) the selection QUBOs of real return data
(:mod:`sigmax.portfolio.instances`: windows ending at each of ``instances`` moments of the week)
are solved exactly (qiskit-optimization's NumPyMinimumEigensolver), and by QAOA and SamplingVQE
on the Aer sampler once per seed. For each method: the success rate (the exact optimum's
objective reached), the approximation ratio ``(g_worst - g) / (g_worst - g_best)`` over the
feasible selections (1: optimal; an answer breaking ``sum(x) = k`` counts 0) and the seconds per
solve; the classical mean-variance solver is timed on the same problems.

Decision latency: the agents' decisions on the four bundled markets (the last ``decisions``
closes of each) timed with nothing beside them, then again while the quantum advisor's worker
process solves n = 4 allocations back to back, as a run with ``quantum.enabled`` would; and the
allocation step itself (estimates and the classical solve) on each of those closes.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sigmax.bench.machine import machine_info
from sigmax.config import Settings, load_settings
from sigmax.errors import InputError

SEED_BASE = 1
#: Closes per block of decisions timed alone, then beside the busy quantum worker.
BLOCK_CLOSES = 20
#: Ends of the windows (rows of the week's hourly closes) the problems are taken at.
INSTANCE_ENDS = (167, 143, 119, 95)


def run_portfolio_bench(
    *,
    max_n: int = 8,
    seeds: int = 5,
    instances: int = 2,
    decisions: int = 200,
    settings: Settings | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Every figure of the module docstring, as one JSON-ready object."""
    if not 2 <= max_n <= 8:
        raise InputError(f"--max-n: must be between 2 and 8 (got {max_n})")
    if not 1 <= instances <= len(INSTANCE_ENDS):
        raise InputError(
            f"--instances: must be between 1 and {len(INSTANCE_ENDS)} (got {instances})"
        )
    if seeds < 1:
        raise InputError(f"--seeds: must be at least 1 (got {seeds})")
    from sigmax.portfolio.quantum import availability

    chosen = load_settings() if settings is None else settings
    reason = availability()
    result: dict[str, Any] = {"benchmark": "portfolio", "quantum": reason or "available"}
    if reason is None:
        result["solvers"] = _solvers(max_n, seeds, instances, chosen, progress)
    result["decision_latency"] = asyncio.run(_latency(decisions, chosen, progress))
    result["machine"] = machine_info("numpy", "scipy", "scikit-learn", "qiskit", "qiskit-aer")
    return result


def _solvers(
    max_n: int,
    seeds: int,
    instances: int,
    settings: Settings,
    progress: Callable[[str, int, int], None] | None,
) -> dict[str, Any]:
    from sigmax.portfolio.classical import solve_classical
    from sigmax.portfolio.instances import real_problem
    from sigmax.portfolio.quantum import Method, solve_selection
    from sigmax.portfolio.qubo import Selection

    quantum = settings.quantum
    # First calls import qiskit and build its caches: not part of any solve's time.
    warm: tuple[Method, ...] = ("exact", "qaoa", "vqe")
    for first in warm:
        solve_selection(real_problem(2), first, max_iterations=10)
    sizes = list(range(2, max_n + 1))
    total = len(sizes) * instances * (2 + 2 * seeds)
    done = 0
    per_n: dict[str, Any] = {}
    for n in sizes:
        times: dict[str, list[float]] = {"classical": [], "exact": [], "qaoa": [], "vqe": []}
        ratios: dict[str, list[float]] = {"qaoa": [], "vqe": []}
        hits: dict[str, int] = {"qaoa": 0, "vqe": 0, "exact": 0}
        for end in INSTANCE_ENDS[:instances]:
            problem = real_problem(n, end)
            selection = Selection.of(problem)
            values = selection.feasible_values()
            best, worst = float(values.min()), float(values.max())
            classical = solve_classical(problem)
            times["classical"].append(classical.seconds)
            exact = solve_selection(problem, "exact")
            times["exact"].append(exact.seconds)
            hits["exact"] += int(_reached(exact.details.get("qubo_objective"), best))
            done += 2
            for method in ("qaoa", "vqe"):
                for seed in range(SEED_BASE, SEED_BASE + seeds):
                    answer = solve_selection(
                        problem,
                        "qaoa" if method == "qaoa" else "vqe",
                        shots=quantum.shots,
                        seed=seed,
                        reps=quantum.reps,
                        max_iterations=quantum.max_iterations,
                        cvar_alpha=quantum.cvar_alpha,
                    )
                    times[method].append(answer.seconds)
                    value = answer.details.get("qubo_objective") if answer.ok else None
                    ratios[method].append(_ratio(value, best, worst))
                    hits[method] += int(_reached(value, best))
                    done += 1
                    if progress is not None:
                        progress(f"n={n} {method}", done, total)
        runs = instances * seeds
        per_n[str(n)] = {
            "problems": instances,
            "exact_success_rate": hits["exact"] / instances,
            **{
                f"{method}_success_rate": round(hits[method] / runs, 4)
                for method in ("qaoa", "vqe")
            },
            **{
                f"{method}_approximation_ratio_mean": round(float(np.mean(ratios[method])), 6)
                for method in ("qaoa", "vqe")
            },
            **{
                f"{method}_approximation_ratio_min": round(float(np.min(ratios[method])), 6)
                for method in ("qaoa", "vqe")
            },
            **{f"{name}_seconds_mean": round(float(np.mean(t)), 4) for name, t in times.items()},
            **{f"{name}_seconds_max": round(float(np.max(t)), 4) for name, t in times.items()},
        }
    return {
        "seeds": seeds,
        "instances_per_n": instances,
        "shots": quantum.shots,
        "reps": quantum.reps,
        "max_iterations": quantum.max_iterations,
        "cvar_alpha": quantum.cvar_alpha,
        "per_n": per_n,
    }


def _reached(value: object, best: float) -> bool:
    return isinstance(value, float) and value <= best + 1e-12 * max(1.0, abs(best))


def _ratio(value: object, best: float, worst: float) -> float:
    if not isinstance(value, float):
        return 0.0
    if worst == best:
        return 1.0
    return max(0.0, min(1.0, (worst - value) / (worst - best)))


async def _latency(
    count: int, settings: Settings, progress: Callable[[str, int, int], None] | None
) -> dict[str, Any]:
    """Decision p50/p99 alone and beside a busy quantum worker; the allocation step's time."""
    from sigmax.agents.base import PortfolioView
    from sigmax.agents.orchestrator import Orchestrator
    from sigmax.data.catalog import DatasetCatalog
    from sigmax.engine.facade import HistoryCache
    from sigmax.portfolio.classical import solve_classical
    from sigmax.portfolio.estimates import Candidate
    from sigmax.portfolio.instances import real_problem
    from sigmax.portfolio.step import build_problem
    from sigmax.portfolio.worker import QuantumAdvisor

    symbols = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")
    histories = HistoryCache(DatasetCatalog.bundled(), settings)
    orchestrator = Orchestrator(settings, histories)
    moments = [int(m) for m in histories(symbols[0]).decision_moments()][-count:]
    timeframe = settings.agents.analyzer.timeframes.primary

    async def decide(chunk: Sequence[int]) -> list[float]:
        latencies: list[float] = []
        for moment in chunk:
            for symbol in symbols:
                started = time.perf_counter()
                await orchestrator.analyze_symbol(symbol, at_ms=moment)
                latencies.append((time.perf_counter() - started) * 1000.0)
        return latencies

    await decide(moments)  # warm-up: first-call costs are not a decision's
    gc.collect()

    profile = settings.profile
    cap = float(
        min(profile.max_position_size, profile.starting_capital_usd) / profile.starting_capital_usd
    )
    step_ms: list[float] = []
    for moment in moments:
        account = PortfolioView.starting(profile.starting_capital_usd)
        candidates = []
        for symbol in symbols:
            assessment = orchestrator.assess(histories(symbol).snapshot(moment), account)
            candidates.append(Candidate(symbol, assessment.score, assessment.confidence, cap))
        # The step's own work: returns, covariance, expected returns, the exact solve.
        started = time.perf_counter()
        problem = build_problem(
            candidates,
            lambda s: histories(s).series,
            moment - timeframe.ms,
            1.0,
            profile.max_open_positions,
            settings,
        )
        solve_classical(problem)
        step_ms.append((time.perf_counter() - started) * 1000.0)

    # Decisions alone and beside the busy worker, in alternating blocks over the same closes,
    # so that the shared machine's load drifts into both alike.
    advisor = QuantumAdvisor(settings.quantum)
    alone: list[float] = []
    beside: list[float] = []
    feeding = threading.Event()
    stop = threading.Event()
    busy_problem = real_problem(4)

    def keep_busy() -> None:
        # Resubmit as soon as the worker is free, so it is solving throughout a block.
        while not stop.is_set():
            if feeding.is_set():
                advisor.submit(busy_problem, "benchmark")
            time.sleep(0.02)

    async def until(condition: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    feeder = threading.Thread(target=keep_busy, daemon=True)
    rounds = max(1, len(moments) // BLOCK_CLOSES)
    try:
        if advisor.unavailable is None:
            feeder.start()
            feeding.set()
            # The worker process starts and imports qiskit: wait for its first answer.
            await until(lambda: advisor.answers() > 0, 300.0)
        for index in range(rounds):
            chunk = moments[index * BLOCK_CLOSES : (index + 1) * BLOCK_CLOSES]
            feeding.clear()
            await until(lambda: not advisor.busy(), 60.0)
            alone += await decide(chunk)
            if advisor.unavailable is None:
                feeding.set()
                await until(advisor.busy, 60.0)
                beside += await decide(chunk)
            if progress is not None:
                progress("decisions alone / beside the quantum worker", index + 1, rounds)
    finally:
        stop.set()
        if feeder.is_alive():
            feeder.join()
        solved = advisor.answers()
        advisor.close()

    def summary(values: Sequence[float]) -> dict[str, Any]:
        if not values:
            return {"count": 0}
        array = np.asarray(values)
        return {
            "count": len(values),
            "p50_ms": round(float(np.percentile(array, 50)), 4),
            "p99_ms": round(float(np.percentile(array, 99)), 4),
            "max_ms": round(float(array.max()), 4),
        }

    return {
        "symbols": list(symbols),
        "closes": len(moments),
        "decisions_alone": summary(alone),
        "decisions_beside_quantum_worker": summary(beside),
        "quantum_solves_meanwhile": solved,
        "allocation_step": summary(step_ms),
    }


#: Safety that lets a backtest trade throughout, as ``sigmax bench backtest``'s second
#: configuration: the loss-streak and daily-loss pauses would stop most runs within weeks.
TRADING_THROUGHOUT = {
    "safety.max_consecutive_losses": 1000,
    "safety.max_daily_loss_usd": 100000,
}


def run_allocation_effect(
    profiles: Sequence[str] = ("conservative", "balanced", "aggressive"),
    *,
    start_ms: int | None = None,
    until_ms: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """The agents' backtest of the four bundled markets with the allocation step off and on,
    per profile: the result's metrics and how far the account went past the profile's limits
    (the most positions open at once, the largest cost of the open positions)."""
    from sigmax.backtest.result import build_result
    from sigmax.backtest.runner import BacktestOptions, simulate
    from sigmax.data.catalog import DatasetCatalog

    catalog = DatasetCatalog.bundled()
    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"]
    runs: dict[str, Any] = {}
    total = 2 * len(profiles)
    done = 0
    for profile in profiles:
        per: dict[str, Any] = {}
        for enabled in (False, True):
            if progress is not None:
                progress(f"{profile} allocation {'on' if enabled else 'off'}", done, total)
            started = time.perf_counter()
            run = asyncio.run(
                simulate(
                    BacktestOptions(
                        profile=profile,
                        symbols=symbols,
                        start_ms=start_ms,
                        until_ms=until_ms,
                        catalog=catalog,
                        overrides={**TRADING_THROUGHOUT, "allocation.enabled": enabled},
                    )
                )
            )
            seconds = time.perf_counter() - started
            metrics = build_result(run).to_dict()["metrics"]
            allocated = [r for r in run.sink.decisions.values() if r.allocation is not None]
            per["on" if enabled else "off"] = {
                **{
                    key: metrics[key]
                    for key in (
                        "total_return",
                        "sharpe",
                        "max_drawdown",
                        "win_rate",
                        "trades",
                        "exposure",
                        "fees_paid",
                        "final_equity",
                    )
                },
                **_limits(run),
                "allocated_decisions": len(allocated),
                "allocated_to_zero": sum(1 for r in allocated if r.size_usd == 0),
                "allocated_smaller": sum(1 for r in allocated if _smaller(r)),
                "seconds": round(seconds, 2),
            }
            done += 1
        runs[profile] = per
    limits = {name: load_settings(profile=name).profile for name in profiles}
    return {
        "benchmark": "allocation",
        "symbols": symbols,
        "safety": TRADING_THROUGHOUT,
        "profiles": {
            name: {
                "max_open_positions": limits[name].max_open_positions,
                "max_exposure": str(limits[name].max_exposure),
                **runs[name],
            }
            for name in profiles
        },
        "machine": machine_info("numpy", "scipy", "scikit-learn"),
    }


def _smaller(record: Any) -> bool:
    """The step gave a BUY less than the risk agent proposed, and not nothing."""
    proposed = float(record.allocation["proposed_size_usd"])
    return bool(0 < record.size_usd < proposed)


def _limits(run: Any) -> dict[str, Any]:
    """The most positions open at once and the largest total entry cost of open positions,
    from the fills in order."""
    from decimal import Decimal

    qty: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = {}
    most_open = 0
    most_cost = Decimal(0)
    for item in run.sink.fills:
        fill = item.fill
        held = qty.get(fill.symbol, Decimal(0))
        if fill.side.value == "buy":
            qty[fill.symbol] = held + fill.qty
            cost[fill.symbol] = cost.get(fill.symbol, Decimal(0)) + fill.qty * fill.price
        else:
            left = held - fill.qty
            cost[fill.symbol] = (
                cost.get(fill.symbol, Decimal(0)) * left / held if held > 0 else Decimal(0)
            )
            qty[fill.symbol] = left
        most_open = max(most_open, sum(1 for q in qty.values() if q > 0))
        most_cost = max(most_cost, sum(cost.values(), Decimal(0)))
    return {"most_positions_open": most_open, "most_entry_cost_open": str(round(most_cost, 2))}
