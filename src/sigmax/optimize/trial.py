"""One trial: a real backtest with the trial's parameters, read fold by fold.

This is the function a worker runs. It builds the same :class:`BacktestOptions` as
``sigmax backtest`` (same engine, fees, slippage model and safety switch), with the trial's
parameters as settings overrides (``profile.*``, ``agents.*``) or as ``sma_cross``'s periods,
runs it over the study's window, and returns plain data (picklable, JSON-ready): the objective,
each fold's in-sample and out-of-sample figures, and the out-of-sample daily returns the
overfitting estimate needs.

The candles are not read per trial: a process keeps the loaded, validated catalog of each data
source (:func:`warm_catalog`), as the Dask worker plugin does at start-up, so every trial after
the first reuses the candles and the compiled policies of its process. It also keeps the arrays
derived from the candles (:data:`DERIVED`: each symbol's indicators and scores, the agents'
whole-history assessment), keyed by the settings they are computed from: a trial recomputes
them only for indicator periods (or, for the assessment, profile and agent settings) no earlier
trial of the process used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sigmax.backtest.derived import DerivedArrays
from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, BacktestRun, simulate
from sigmax.backtest.safety_off import SafetySwitch
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import ms_to_iso
from sigmax.errors import InputError
from sigmax.optimize.folds import Fold
from sigmax.optimize.pruning import prunes
from sigmax.optimize.windows import (
    RunWindows,
    objective_value,
    read_folds,
    window_daily_returns,
)

_CATALOGS: dict[str, DatasetCatalog] = {}
#: This process's candle-derived arrays, shared by every trial it runs (bounded).
DERIVED = DerivedArrays()


@dataclass(frozen=True, slots=True)
class TrialSpec:
    """Everything a trial needs besides its parameters; the same for every trial of a study."""

    strategy: str
    objective: str
    folds: tuple[Fold, ...]
    home: Path
    profile: str | None = None
    symbols: tuple[str, ...] | None = None
    timeframe: str | None = None
    data: Path | None = None
    safety: SafetySwitch = "on"
    #: Settings overrides every trial shares (dotted keys).
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def start_ms(self) -> int:
        return self.folds[0].train_from_ms

    @property
    def until_ms(self) -> int:
        return self.folds[-1].test_to_ms


def warm_catalog(data: Path | None) -> DatasetCatalog:
    """The catalog of ``data`` (the bundled candles when None), loaded once per process."""
    key = "" if data is None else str(data)
    catalog = _CATALOGS.get(key)
    if catalog is None:
        catalog = _CATALOGS[key] = DatasetCatalog.from_path(data)
    return catalog


def quiet_engine_logs() -> int:
    """A worker runs hundreds of backtests: their PAUSE / RESUME lines would flood its
    terminal, and the study reports what matters. Errors still show. Returns the level it
    replaced, for a caller in a process that lives on (:func:`engine_logs_quiet`)."""
    logger = logging.getLogger("sigmax")
    before = logger.level
    logger.setLevel(logging.ERROR)
    return before


@contextmanager
def engine_logs_quiet() -> Iterator[None]:
    """:func:`quiet_engine_logs` for a block, then the level as it was: the driver of a study
    may be a process that goes on logging (an in-process study, a test)."""
    before = quiet_engine_logs()
    try:
        yield
    finally:
        logging.getLogger("sigmax").setLevel(before)


def options_for(
    spec: TrialSpec, params: Mapping[str, Any], catalog: DatasetCatalog
) -> BacktestOptions:
    overrides = dict(spec.overrides)
    fast, slow = 10, 50
    for name, value in params.items():
        if name == "fast":
            fast = int(value)
        elif name == "slow":
            slow = int(value)
        else:
            overrides[name] = value
    return BacktestOptions(
        profile=spec.profile,
        symbols=list(spec.symbols) if spec.symbols is not None else None,
        timeframe=spec.timeframe,
        start_ms=spec.start_ms,
        until_ms=spec.until_ms,
        data=spec.data,
        strategy=spec.strategy,
        fast=fast,
        slow=slow,
        home=spec.home,
        overrides=overrides,
        safety=spec.safety,
        catalog=catalog,
        derived=DERIVED,
    )


#: Per fold before the last (folds 1..K-1): the figure below which the pruner stops the trial
#: there, or None where it would not prune (see :func:`sigmax.optimize.pruning.thresholds`).
Thresholds = Sequence[float | None]


def evaluate(
    spec: TrialSpec, params: Mapping[str, Any], thresholds: Thresholds | None = None
) -> dict[str, Any]:
    """Run the trial's backtest and read its folds. A parameter combination the settings
    refuse (``macd_fast`` not below ``macd_slow``, ``slow`` not above ``fast``) is returned as
    ``invalid`` with the rule: a real answer about the space, not a failure of the study.

    With ``thresholds``, the backtest stops at the end of the first fold ``k < K`` whose
    test windows so far give a best figure (over folds 1..k) below ``thresholds[k - 1]``: the
    trial is pruned there (``pruned_at_fold``), and its figures are those of folds 1..k."""
    started = time.perf_counter()
    catalog = warm_catalog(spec.data)
    options = options_for(spec, params, catalog)
    watch = _PruneWatch(spec, thresholds) if thresholds is not None else None
    if watch is not None and watch.checkpoints:
        options = replace(options, checkpoints=watch.checkpoints, at_checkpoint=watch.at_checkpoint)
    try:
        run = asyncio.run(simulate(options))
    except InputError as error:  # a refused configuration (ConfigLoadError) among them
        return {"invalid": str(error), "params": dict(params), "pid": os.getpid()}
    folds = spec.folds
    pruned_at = None
    if run.stopped_ms is not None:
        pruned_at = next(f.index for f in folds if f.test_to_ms == run.stopped_ms)
        folds = folds[:pruned_at]
    figures = read_folds(RunWindows(run, build_result(run)), folds, spec.objective)
    curve = figures.pop("curve")
    outcome = {
        **figures,
        "oos_daily_returns": [float(r) for r in window_daily_returns(curve)],
        "backtest_id": run.id,
        "data": run.config["data"],
        "seconds": time.perf_counter() - started,
        "pid": os.getpid(),
        "params": dict(params),
    }
    if pruned_at is not None:
        outcome["pruned_at_fold"] = pruned_at
        outcome["stopped_at"] = ms_to_iso(folds[-1].test_to_ms)
    return outcome


class _PruneWatch:
    """The pruner's question at each fold's end, asked of the run so far."""

    def __init__(self, spec: TrialSpec, thresholds: Thresholds) -> None:
        count = len(spec.folds) - 1
        if len(thresholds) != count:
            raise InputError(
                f"thresholds: one per fold before the last ({count}), got {len(thresholds)}"
            )
        self.spec = spec
        self.thresholds = list(thresholds)
        self.values: list[float] = []
        # Nothing to ask before the first fold the pruner may stop at.
        self.checkpoints = (
            [f.test_to_ms for f in spec.folds[:-1]]
            if any(t is not None for t in self.thresholds)
            else []
        )

    def at_checkpoint(self, run: BacktestRun, checkpoint_ms: int) -> bool:
        folds = self.spec.folds
        step = next(f.index for f in folds if f.test_to_ms == checkpoint_ms)
        windows = RunWindows(run, build_result(run))
        metrics, _ = windows.metrics(folds[0].test_from_ms, checkpoint_ms)
        self.values.append(objective_value(metrics, self.spec.objective))
        return prunes(self.values, self.thresholds[step - 1])
