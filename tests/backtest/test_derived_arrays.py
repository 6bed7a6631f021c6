"""The arrays a process keeps between backtests: keyed by what they are computed from, so a run
with other indicator periods or thresholds never reads another's, bounded, and a backtest with
them gives the very result of one without."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np

from sigmax.agents.batch import assess_history
from sigmax.agents.orchestrator import build_history
from sigmax.backtest.derived import DerivedArrays
from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.cli.analyze_cmd import parse_moment
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog

WINDOW = ("2022-06-01T00:00:00Z", "2022-09-01T00:00:00Z")
TRADING_THROUGHOUT = {"safety.max_consecutive_losses": 1000, "safety.max_daily_loss_usd": 100000}


def _arrays_equal(first: object, second: object) -> bool:
    return all(
        np.array_equal(getattr(first, name), getattr(second, name), equal_nan=True)
        for name in ("score", "confidence", "buy_candidate", "sell_candidate")
    )


def test_other_indicator_periods_or_thresholds_get_their_own_arrays(sigmax_home: Path) -> None:
    catalog = DatasetCatalog.from_path(None)
    loaded = catalog.load("BTC/USDT", load_settings().agents.analyzer.timeframes.primary)
    derived = DerivedArrays()
    cases = [
        {},
        {"agents.analyzer.indicators.rsi_period": 7},
        {"agents.analyzer.indicators.rsi_period": 7, "profile.buy_threshold": 0.2},
        {},  # again: read back, not computed
    ]
    seen = []
    for overrides in cases:
        settings = load_settings(overrides=overrides)
        history, assessment = derived.agents(loaded.series, loaded.sha256, settings, None)
        fresh_history = build_history(loaded.series, settings)
        fresh = assess_history(fresh_history, settings)
        assert history.spec == fresh_history.spec
        assert _arrays_equal(assessment, fresh)
        seen.append((history, assessment))
    # The rsi period makes another history; the threshold only another assessment.
    assert seen[1][0] is not seen[0][0]
    assert seen[2][0] is seen[1][0]
    assert seen[2][1] is not seen[1][1]
    assert not _arrays_equal(seen[1][1], seen[0][1])
    assert seen[3][0] is seen[0][0]
    assert seen[3][1] is seen[0][1]
    assert derived.histories.computed == 2
    assert derived.assessments.computed == 3


def test_the_arrays_kept_are_bounded(sigmax_home: Path) -> None:
    catalog = DatasetCatalog.from_path(None)
    loaded = catalog.load("BTC/USDT", load_settings().agents.analyzer.timeframes.primary)
    derived = DerivedArrays(histories=2, assessments=2)
    for period in (7, 14, 21, 7):
        settings = load_settings(overrides={"agents.analyzer.indicators.rsi_period": period})
        derived.agents(loaded.series, loaded.sha256, settings, None)
    assert len(derived.histories) == 2
    assert len(derived.assessments) == 2
    # 7 was pushed out by 21, so it was computed again.
    assert derived.histories.computed == 4


def test_a_backtest_with_kept_arrays_is_the_backtest_without(sigmax_home: Path) -> None:
    catalog = DatasetCatalog.from_path(None)
    derived = DerivedArrays()
    for strategy, overrides in (
        (
            "agents",
            {**TRADING_THROUGHOUT, "profile.buy_threshold": 0.1, "profile.min_confidence": 0.1},
        ),
        (
            "agents",
            {
                **TRADING_THROUGHOUT,
                "profile.buy_threshold": 0.1,
                "profile.min_confidence": 0.1,
                "agents.analyzer.indicators.rsi_period": 9,
            },
        ),
        (
            "agents",
            {**TRADING_THROUGHOUT, "profile.buy_threshold": 0.1, "profile.min_confidence": 0.1},
        ),
        ("sma_cross", TRADING_THROUGHOUT),
    ):
        options = BacktestOptions(
            strategy=strategy,
            profile="reference",
            symbols=["BTC/USDT"],
            start_ms=parse_moment(WINDOW[0], "--from"),
            until_ms=parse_moment(WINDOW[1], "--to"),
            fast=5,
            slow=20,
            overrides=overrides,
            catalog=catalog,
        )
        kept = build_result(asyncio.run(simulate(replace(options, derived=derived))))
        plain = build_result(asyncio.run(simulate(options)))
        assert kept.to_dict() == plain.to_dict()
        assert kept.metrics.trades > 0
    assert derived.histories.computed == 3  # agents (rsi 14), agents (rsi 9), sma_cross
