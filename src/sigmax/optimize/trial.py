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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigmax.backtest.derived import DerivedArrays
from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.backtest.safety_off import SafetySwitch
from sigmax.data.catalog import DatasetCatalog
from sigmax.errors import InputError
from sigmax.optimize.folds import Fold
from sigmax.optimize.windows import RunWindows, read_folds, window_daily_returns

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


def evaluate(spec: TrialSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run the trial's backtest and read its folds. A parameter combination the settings
    refuse (``macd_fast`` not below ``macd_slow``, ``slow`` not above ``fast``) is returned as
    ``invalid`` with the rule: a real answer about the space, not a failure of the study."""
    started = time.perf_counter()
    catalog = warm_catalog(spec.data)
    try:
        run = asyncio.run(simulate(options_for(spec, params, catalog)))
    except InputError as error:  # a refused configuration (ConfigLoadError) among them
        return {"invalid": str(error), "params": dict(params), "pid": os.getpid()}
    figures = read_folds(RunWindows(run, build_result(run)), spec.folds, spec.objective)
    curve = figures.pop("curve")
    return {
        **figures,
        "oos_daily_returns": [float(r) for r in window_daily_returns(curve)],
        "backtest_id": run.id,
        "data": run.config["data"],
        "seconds": time.perf_counter() - started,
        "pid": os.getpid(),
        "params": dict(params),
    }
