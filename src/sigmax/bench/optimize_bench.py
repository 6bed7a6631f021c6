"""``sigmax bench optimize``: trials per second of a study on 1 and 2 Dask workers, and what a
trial costs against a plain backtest of the same span.

The study: ``sma_cross`` over the bundled BTC/USDT 1h candles (the whole span), its default
space (``fast`` 5..50, ``slow`` 55..200 step 5), 100 trials, 4 anchored folds, seed 0, storage
in memory, the reference profile with the backtest benchmark's thresholds that let it trade
throughout (every order through the gate and the policies, safety on). The sampler is Optuna's
random sampler with the seed: TPE asks according to the results it has seen, which arrive in
another order on 2 workers, and the two runs would backtest different parameters (an SMA pair
that trades more costs more); with the random sampler both runs backtest the same 100 pairs.
Pruning is off for the same reason: a pruned trial stops its backtest early, and which trials
stop where depends on the order trials complete in; without it both runs backtest the whole
window 100 times.

* ``trials_per_s_1`` / ``trials_per_s_2``: trials over the seconds from a started
  ``LocalCluster`` of 1 (then 2) worker processes to the last trial told (the cluster's start is
  reported apart with the report's own work, ``setup_and_report_seconds_*``); ``speedup`` is
  their ratio.
* ``trial_cost_ratio``: in this process, warm, for a sample of the study's parameter sets, the
  median time of a trial (its backtest and the metrics of every fold's windows) over the median
  time of ``sigmax backtest``'s own work (simulate and build the result) for the same span and
  parameters; ``trial_overhead_pct`` is ``(ratio - 1) * 100``. On a shared machine the wall
  times move with the other processes' load, so the same split is also measured in CPU time:
  ``trial_overhead_cpu_pct`` is the CPU time of reading the folds (what a trial adds to a plain
  backtest) over the backtest's; ``meets_targets`` reads this one and ``speedup``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

from sigmax.backtest.result import build_result
from sigmax.backtest.runner import simulate
from sigmax.bench.backtest_bench import SMA_TRADING_THROUGHOUT
from sigmax.bench.machine import machine_info, temporary_home
from sigmax.errors import InputError
from sigmax.optimize.space import build_space
from sigmax.optimize.study import StudyRequest, plan_study, run_study
from sigmax.optimize.trial import evaluate, options_for, warm_catalog
from sigmax.optimize.windows import RunWindows, read_folds

TARGET_SPEEDUP = 1.8
TARGET_TRIAL_OVERHEAD_PCT = 10.0
SYMBOL = "BTC/USDT"


def _study(home: Path, jobs: int, trials: int, folds: int, data: Path | None) -> dict[str, Any]:
    request = StudyRequest(
        strategy="sma_cross",
        space=build_space("sma_cross", []),
        home=home,
        trials=trials,
        folds=folds,
        profile="reference",
        symbols=(SYMBOL,),
        data=data,
        seed=0,
        jobs=jobs,
        storage="memory",
        overrides=SMA_TRADING_THROUGHOUT,
        sampler="random",
        pruning=False,
    )
    plan = plan_study(request)
    started = time.perf_counter()
    report = run_study(plan)
    report["wall_seconds"] = time.perf_counter() - started
    # The 1-minute load average as the run ends: the machine is shared, and this says how much.
    report["load_average"] = round(os.getloadavg()[0], 2)
    return report


def _trial_cost(
    home: Path,
    trials: int,
    folds: int,
    data: Path | None,
    samples: list[dict[str, Any]],
    repeats: int,
) -> dict[str, Any]:
    """A trial against a plain backtest of the same span, warm, in this process."""
    request = StudyRequest(
        strategy="sma_cross",
        space=build_space("sma_cross", []),
        home=home,
        trials=trials,
        folds=folds,
        profile="reference",
        symbols=(SYMBOL,),
        data=data,
        storage="memory",
        jobs=0,
        overrides=SMA_TRADING_THROUGHOUT,
    )
    spec = plan_study(request).spec
    catalog = warm_catalog(data)
    trial_times: list[float] = []
    plain_times: list[float] = []
    backtest_cpu: list[float] = []
    folds_cpu: list[float] = []
    for params in samples:
        options = options_for(spec, params, catalog)
        evaluate(spec, params)  # warm: policies compiled, crossings' first use
        for _ in range(repeats):
            # Alternated, so that a change of load on a shared machine hits both alike.
            started = time.perf_counter()
            build_result(asyncio.run(simulate(options)))
            plain_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            evaluate(spec, params)
            trial_times.append(time.perf_counter() - started)
            # The same split in CPU time, which other processes on the machine do not inflate:
            # the backtest, then what a trial adds to it (reading every fold's windows).
            started_cpu = time.process_time()
            run = asyncio.run(simulate(options))
            result = build_result(run)
            backtest_cpu.append(time.process_time() - started_cpu)
            started_cpu = time.process_time()
            read_folds(RunWindows(run, result), spec.folds, spec.objective)
            folds_cpu.append(time.process_time() - started_cpu)
    ratio = statistics.median(trial_times) / statistics.median(plain_times)
    cpu_pct = 100 * statistics.median(folds_cpu) / statistics.median(backtest_cpu)
    return {
        "trial_seconds_median": round(statistics.median(trial_times), 4),
        "plain_backtest_seconds_median": round(statistics.median(plain_times), 4),
        "trial_cost_ratio": round(ratio, 4),
        "trial_overhead_pct": round((ratio - 1) * 100, 2),
        "trial_overhead_cpu_pct": round(cpu_pct, 2),
        "backtest_cpu_seconds_median": round(statistics.median(backtest_cpu), 4),
        "folds_cpu_seconds_median": round(statistics.median(folds_cpu), 4),
        "trial_cost_samples": [dict(p) for p in samples],
        "trial_cost_repeats": repeats,
    }


def run_optimize_bench(
    *, trials: int = 100, folds: int = 4, data: Path | None = None, repeats: int = 3
) -> dict[str, Any]:
    if trials < 1 or folds < 1 or repeats < 1:
        raise InputError(
            f"trials, folds, repeats: each must be at least 1 (got {trials}, {folds}, {repeats})"
        )
    result: dict[str, Any] = {"benchmark": "optimize"}
    with temporary_home() as home:
        runs = {jobs: _study(home, jobs, trials, folds, data) for jobs in (1, 2)}
        for jobs, report in runs.items():
            rate = (
                report["trials_run"] / report["trials_seconds"] if report["trials_seconds"] else 0.0
            )
            result[f"trials_per_s_{jobs}"] = round(rate, 3)
            result[f"study_seconds_{jobs}"] = report["trials_seconds"]
            result[f"setup_and_report_seconds_{jobs}"] = round(
                report["wall_seconds"] - report["trials_seconds"], 3
            )
            result[f"best_value_{jobs}"] = report["best_value"]
            # Share of the workers' time spent in trials: near 1, the driver keeps every worker
            # busy, and a speed-up below the workers' count comes from the CPUs available.
            result[f"worker_utilisation_{jobs}"] = (
                round(report["busy_seconds"] / (jobs * report["trials_seconds"]), 3)
                if report["trials_seconds"]
                else None
            )
            result[f"load_average_after_{jobs}"] = report["load_average"]
            result[f"trial_counts_{jobs}"] = report["trial_counts"]
        result["speedup"] = (
            round(result["trials_per_s_2"] / result["trials_per_s_1"], 3)
            if result["trials_per_s_1"]
            else None
        )
        top = [t["params"] for t in runs[1]["top_trials"][:3]]
        result.update(
            _trial_cost(home, trials, folds, data, top or [{"fast": 10, "slow": 50}], repeats)
        )
    result.update(
        {
            "trials": trials,
            "folds": folds,
            "pruning": False,
            "symbol": SYMBOL,
            "strategy": "sma_cross",
            "overrides": SMA_TRADING_THROUGHOUT,
            "target_speedup": TARGET_SPEEDUP,
            "target_trial_overhead_pct": TARGET_TRIAL_OVERHEAD_PCT,
            "meets_targets": (result["speedup"] or 0) >= TARGET_SPEEDUP
            and result["trial_overhead_cpu_pct"] <= TARGET_TRIAL_OVERHEAD_PCT,
            "machine": machine_info("numpy", "optuna", "distributed"),
        }
    )
    return result
