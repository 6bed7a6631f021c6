"""A policy judged on data after its training window, next to its baselines.

The evaluation's candles are those that opened at or after the end of the training window
(:func:`sigmax.rl.data.opened_from`): the policy's observations, the agents' indicators and
every baseline warm up inside them, and no candle of the training window is read, so changing
those candles cannot change an evaluation (a test does). A window that starts before the
training window ends is refused.

Every strategy runs through the backtest engine with the paper venue's fees and slippage, on the
same candles and window, with the ``reference`` profile (no position limit below the account:
the policy and ``sma_cross`` invest a whole sleeve, which the trading profiles' limits refuse)
and the auto-pause triggers off (``--safety off``: a comparison of signals, not of pauses; the
compliance policies still check every order): the policy alone (long or flat, each
symbol its sleeve of the capital), buy-and-hold (an equal share of the capital in each symbol
from its first open), the agents without the policy, and ``sma_cross`` (10/50). Each gets the
backtest's metrics (docs/METRICS.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from sigmax.backtest.metrics import EquityCurve, Metrics, compute_metrics
from sigmax.backtest.result import BacktestResult, build_result
from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.config import Settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import Timeframe, ms_to_iso
from sigmax.errors import InputError
from sigmax.rl.data import Window, load_series, memory_catalog, opened_from, series_digest
from sigmax.rl.policy import PolicyNetwork
from sigmax.rl.strategy import PolicyStrategy

BASELINES = ("buy_and_hold", "agents", "sma_cross")
#: The profile strategies are compared under (see the module's docstring).
EVALUATION_PROFILE = "reference"


class OverlapError(InputError):
    """An evaluation window that overlaps the model's training window."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    model: str
    window: Window
    metrics: Metrics
    baselines: dict[str, Metrics]
    #: sha256 of each symbol's evaluation candles.
    data: dict[str, str]
    profile: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "window": self.window.to_dict(),
            "metrics": self.metrics.to_dict(),
            "baselines": {name: m.to_dict() for name, m in self.baselines.items()},
            "data": dict(self.data),
            "profile": self.profile,
            "safety": "off",
        }


def check_after_training(window: Window, train_end_ms: int) -> None:
    if window.start_ms < train_end_ms:
        raise OverlapError(
            f"--from: the window starting {ms_to_iso(window.start_ms)} overlaps the model's "
            f"training window, which ends {ms_to_iso(train_end_ms)}; evaluate from "
            f"{ms_to_iso(train_end_ms)} on"
        )


def evaluate(
    *,
    home: Path,
    network: PolicyNetwork,
    model: str,
    train_end_ms: int,
    window: Window,
    symbols: Sequence[str],
    timeframe: Timeframe,
    source: DatasetCatalog,
    profile: str = EVALUATION_PROFILE,
    overrides: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Backtest the policy and its baselines over ``window`` on candles after training."""
    check_after_training(window, train_end_ms)
    full = load_series(source, symbols, timeframe)
    cut = {s: opened_from(series, train_end_ms, window.end_ms) for s, series in full.items()}
    for symbol, series in cut.items():
        if len(series) < 2 or series.last_ms + timeframe.ms < window.end_ms:
            covers = ms_to_iso(full[symbol].last_ms + timeframe.ms)
            raise InputError(
                f"--to: the data of {symbol} ends {covers}, before the window's end "
                f"{ms_to_iso(window.end_ms)}"
            )
    catalog = memory_catalog("evaluation data", list(cut.values()))
    options = BacktestOptions(
        symbols=list(symbols),
        timeframe=timeframe.value,
        start_ms=window.start_ms,
        until_ms=window.end_ms,
        catalog=catalog,
        home=home,
        profile=profile,
        overrides=overrides,
        safety="off",
    )

    def policy(settings: Settings, sleeves: int) -> PolicyStrategy:
        return PolicyStrategy(settings, network, model, sleeves)

    def run(name: str, chosen: BacktestOptions) -> BacktestResult:
        if progress is not None:
            progress(name)
        return build_result(asyncio.run(simulate(chosen)))

    result = run("policy", replace(options, source=policy))
    baselines = {
        "buy_and_hold": hold_metrics(result),
        "agents": run("agents", replace(options, policy_vote=False)).metrics,
        "sma_cross": run("sma_cross", replace(options, strategy="sma_cross")).metrics,
    }
    return Evaluation(
        model,
        window,
        result.metrics,
        baselines,
        {s: series_digest(c) for s, c in cut.items()},
        profile,
    )


def hold_metrics(result: BacktestResult) -> Metrics:
    """Buy-and-hold's metrics from a backtest's hold curve (held throughout, no fees)."""
    curve = result.curve
    hold = EquityCurve(
        curve.timestamps_ms,
        np.asarray(result.buy_and_hold_curve, dtype=np.float64),
        curve.initial_equity,
        start_ms=curve.period_start_ms,
    )
    return compute_metrics(
        hold,
        [],
        exposure=np.ones(hold.steps, dtype=np.bool_),
        buy_and_hold=result.metrics.buy_and_hold_return,
        fees_paid=Decimal(0),
    )
