"""Pruning that saves the backtest: the worker stops a trial at the first fold below the
median, with Optuna's decisions, and a trial that is not stopped is the trial as it was."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution

from optimize.helpers import WINDOW
from sigmax.bench.backtest_bench import SMA_TRADING_THROUGHOUT
from sigmax.cli.analyze_cmd import parse_moment
from sigmax.domain.candles import ms_to_iso
from sigmax.errors import InputError
from sigmax.optimize.pruning import N_STARTUP_TRIALS, prunes, thresholds
from sigmax.optimize.space import build_space, parse_param
from sigmax.optimize.study import StudyRequest, open_study, plan_study, run_study
from sigmax.optimize.trial import evaluate

FOLDS = 4


def _values(rng: random.Random) -> list[float]:
    return [rng.choice([math.nan, rng.gauss(0, 1), 0.0]) for _ in range(FOLDS)]


@pytest.mark.parametrize("seed", range(6))
def test_the_thresholds_give_the_median_pruners_own_decisions(seed: int) -> None:
    rng = random.Random(seed)
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=N_STARTUP_TRIALS, n_warmup_steps=0),
    )
    distribution = {"x": FloatDistribution(0, 1)}
    decisions = 0
    for _ in range(40):
        limits = thresholds(study, FOLDS)
        trial = study.ask(distribution)
        values = _values(rng)
        pruned_at = None
        for step, value in enumerate(values, start=1):
            trial.report(value, step)
            if step == FOLDS:
                break
            ours = prunes(values[:step], limits[step - 1])
            assert ours == trial.should_prune(), (step, values, limits)
            if ours:
                pruned_at = step
                break
        if pruned_at is not None:
            decisions += 1
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, values[-1] if not math.isnan(values[-1]) else 0.0)
    assert decisions > 0  # the comparison saw both answers


def _plan(home: Path):  # type: ignore[no-untyped-def]
    return plan_study(
        StudyRequest(
            strategy="sma_cross",
            space=build_space(
                "sma_cross",
                [
                    parse_param("fast=5..20", "sma_cross"),
                    parse_param("slow=30..90:10", "sma_cross"),
                ],
            ),
            home=home,
            folds=3,
            profile="reference",
            symbols=("BTC/USDT",),
            start_ms=parse_moment(WINDOW[0], "--from"),
            until_ms=parse_moment(WINDOW[1], "--to"),
            jobs=0,
            overrides=SMA_TRADING_THROUGHOUT,
        )
    )


def test_a_pruned_trial_stops_its_backtest_at_the_fold_and_says_so(sigmax_home: Path) -> None:
    plan = _plan(sigmax_home)
    params = {"fast": 8, "slow": 40}
    whole = evaluate(plan.spec, params)
    assert whole["out_of_sample_metrics"]["trades"] > 0
    # Checkpoints asked at every fold, never stopping: the very trial of a plain run.
    asked = evaluate(plan.spec, params, (-math.inf, -math.inf))
    for key in ("value", "steps", "folds", "oos_daily_returns", "backtest_id"):
        assert asked[key] == whole[key], key
    assert "pruned_at_fold" not in asked
    # No threshold at fold 1, one no figure reaches at fold 2: stopped at fold 2's end.
    stopped = evaluate(plan.spec, params, (None, math.inf))
    assert stopped["pruned_at_fold"] == 2
    assert stopped["stopped_at"] == ms_to_iso(plan.folds[1].test_to_ms)
    assert stopped["steps"] == whole["steps"][:2]
    assert stopped["folds"] == whole["folds"][:2]
    # Its out-of-sample days are those of test windows 1 and 2 only, as in the whole run.
    days = len(stopped["oos_daily_returns"])
    assert 0 < days < len(whole["oos_daily_returns"])
    assert stopped["oos_daily_returns"][:-1] == whole["oos_daily_returns"][: days - 1]
    # At fold 1 already, when its figure is below the median there.
    first = evaluate(plan.spec, params, (whole["steps"][0] + 1e-9, None))
    assert first["pruned_at_fold"] == 1
    assert first["folds"] == whole["folds"][:1]
    # Exactly at the median is not below it: not pruned.
    level = evaluate(plan.spec, params, (whole["steps"][0], None))
    assert "pruned_at_fold" not in level


def test_thresholds_of_the_wrong_length_are_refused(sigmax_home: Path) -> None:
    plan = _plan(sigmax_home)
    with pytest.raises(InputError, match="thresholds: one per fold before the last"):
        evaluate(plan.spec, {"fast": 8, "slow": 40}, (None,))


def test_a_study_stores_where_each_pruned_trial_stopped(sigmax_home: Path) -> None:
    plan = _plan(sigmax_home)
    plan = replace(plan, request=replace(plan.request, trials=12, seed=2))
    report = run_study(plan)
    pruned = [t for t in report["trial_values"] if t["state"] == "pruned"]
    assert pruned, "the seed gives pruned trials: this test checks what they store"
    assert report["trial_counts"]["pruned"] == len(pruned)
    complete = report["trial_counts"]["complete"]
    assert report["overfitting"]["configurations"] == complete
    assert report["overfitting"]["deflated_sharpe"]["configurations"] == complete + len(pruned)
    study, _, _ = open_study(plan)  # the SQLite file beside the study
    assert len(study.get_trials(deepcopy=False)) == 12
    for trial in study.get_trials(deepcopy=False):
        if trial.state != optuna.trial.TrialState.PRUNED:
            assert len(trial.user_attrs["folds"]) == len(plan.folds)
            continue
        stopped = trial.user_attrs["pruned_at_fold"]
        assert 1 <= stopped < len(plan.folds)
        assert trial.user_attrs["stopped_at"] == ms_to_iso(plan.folds[stopped - 1].test_to_ms)
        assert len(trial.user_attrs["folds"]) == stopped
        assert max(trial.intermediate_values) == stopped
