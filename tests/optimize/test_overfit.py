"""The probability of backtest overfitting (CSCV), on return matrices whose answer is known."""

from __future__ import annotations

import math

import numpy as np

from sigmax.optimize.overfit import deflated_sharpe, probability_of_overfitting


def test_a_set_that_is_best_everywhere_is_not_overfit() -> None:
    rng = np.random.default_rng(7)
    noise = rng.normal(0.0, 0.01, size=(20, 160))
    # Set 0 earns a steady edge on every day: the best in any half is the best in the other.
    noise[0] = np.abs(noise[0]) + 0.01
    result = probability_of_overfitting(noise.tolist())
    assert result.pbo == 0.0
    assert result.blocks == 16
    assert result.splits == math.comb(16, 8)
    assert result.configurations == 20
    assert result.median_logit is not None
    assert result.median_logit > 0


def test_pure_noise_is_overfit_about_half_the_time() -> None:
    rng = np.random.default_rng(11)
    noise = rng.normal(0.0, 0.01, size=(50, 400))
    result = probability_of_overfitting(noise.tolist())
    assert result.pbo is not None
    assert 0.3 < result.pbo < 0.7


def test_in_sample_luck_that_reverses_is_overfit() -> None:
    # Each set has one lucky block and pays it back in the next: the best in sample is the set
    # whose luck fell in the chosen half, and out of sample it is among the worst.
    days, sets = 160, 8
    returns = np.full((sets, days), 0.0001)
    block = days // 16
    for s in range(sets):
        lucky = 2 * s
        returns[s, lucky * block : (lucky + 1) * block] += 0.02
        returns[s, (lucky + 1) * block : (lucky + 2) * block] -= 0.02
    result = probability_of_overfitting(returns.tolist())
    assert result.pbo is not None
    assert result.pbo > 0.5


def test_too_little_to_measure_is_said_not_guessed() -> None:
    assert probability_of_overfitting([[0.01] * 100]).pbo is None
    short = probability_of_overfitting([[0.01] * 6, [0.02] * 6])
    assert short.pbo is None
    assert short.reason == "needs at least 10 out-of-sample days"
    assert short.to_dict()["pbo"] is None


def test_the_deflated_sharpe_ratio_discounts_the_best_of_many_noise_trials() -> None:
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 0.01, size=(100, 500))
    best = int(np.argmax(noise.mean(axis=1) / noise.std(axis=1, ddof=1)))
    lucky = deflated_sharpe(noise.tolist(), best)
    # The best of 100 noise series has a positive Sharpe, about what 100 tries of noise are
    # expected to show at best: far from the usual 0.95 bar of confidence.
    assert lucky["sharpe"] > 0
    assert lucky["benchmark"] > 0
    assert 0.2 < lucky["value"] < 0.8
    # A real edge, far above what 100 tries of noise would show, is.
    noise[best] += 0.005
    real = deflated_sharpe(noise.tolist(), best)
    assert real["value"] > 0.99
    assert real["configurations"] == 100
    assert real["days"] == 500


def test_the_deflated_sharpe_ratio_says_when_it_cannot_be_measured() -> None:
    assert deflated_sharpe([[0.01, 0.02, 0.0]], 0)["reason"] == (
        "needs at least two evaluated parameter sets"
    )
    flat = deflated_sharpe([[0.0] * 10, [0.01, -0.01] * 5], 0)
    assert flat["value"] is None
    assert flat["reason"] == "the best configuration's returns do not vary"
