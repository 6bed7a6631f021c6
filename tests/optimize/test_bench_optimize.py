"""``sigmax bench optimize --json`` at a tiny size: every figure present, positive, and the
figures that derive from others consistent with them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sigmax.cli import app

TRIALS = 6


def test_the_bench_reports_consistent_figures_at_a_tiny_size() -> None:
    result = CliRunner().invoke(
        app,
        ["bench", "optimize", "--trials", str(TRIALS), "--folds", "2", "--repeats", "1", "--json"],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "optimize"
    assert figures["trials"] == TRIALS
    assert figures["pruning"] is False
    for jobs in (1, 2):
        assert figures[f"trials_per_s_{jobs}"] > 0
        assert figures[f"study_seconds_{jobs}"] > 0
        assert figures[f"setup_and_report_seconds_{jobs}"] > 0
        assert 0 < figures[f"worker_utilisation_{jobs}"] <= 1.05
        # Without pruning every trial runs the whole window, on 1 worker as on 2.
        assert figures[f"trial_counts_{jobs}"] == {
            "requested": TRIALS, "complete": TRIALS, "pruned": 0, "invalid": 0, "lost": 0
        }  # fmt: skip
        # trials_per_s is the trials over the study's seconds, both as reported (rounded).
        assert figures[f"trials_per_s_{jobs}"] == pytest.approx(
            TRIALS / figures[f"study_seconds_{jobs}"], abs=1e-3
        )
    # The same random parameters on 1 and 2 workers: the same best.
    assert figures["best_value_1"] == figures["best_value_2"]
    assert figures["speedup"] == pytest.approx(
        figures["trials_per_s_2"] / figures["trials_per_s_1"], abs=1e-3
    )
    assert figures["trial_seconds_median"] > 0
    assert figures["plain_backtest_seconds_median"] > 0
    assert figures["trial_cost_ratio"] == pytest.approx(
        figures["trial_seconds_median"] / figures["plain_backtest_seconds_median"], rel=2e-3
    )
    assert figures["trial_overhead_pct"] == pytest.approx(
        (figures["trial_cost_ratio"] - 1) * 100, abs=0.01
    )
    assert figures["backtest_cpu_seconds_median"] > 0
    assert figures["folds_cpu_seconds_median"] > 0
    assert figures["trial_overhead_cpu_pct"] == pytest.approx(
        100 * figures["folds_cpu_seconds_median"] / figures["backtest_cpu_seconds_median"],
        rel=2e-2,
    )
    assert figures["trial_cost_repeats"] == 1
    assert 1 <= len(figures["trial_cost_samples"]) <= 3
    assert figures["meets_targets"] == (
        figures["speedup"] >= figures["target_speedup"]
        and figures["trial_overhead_cpu_pct"] <= figures["target_trial_overhead_pct"]
    )


def test_the_bench_refuses_a_size_below_one() -> None:
    result = CliRunner().invoke(app, ["bench", "optimize", "--trials", "0", "--json"])
    assert result.exit_code == 2
    assert "--trials" in result.output
