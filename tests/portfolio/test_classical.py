"""The classical solver against hand-solved cases, and every constraint on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigmax.portfolio.classical import solve_classical
from sigmax.portfolio.problem import PortfolioInputError, Problem


def problem(mu, cov, upper, budget, max_assets, lam=1.0) -> Problem:  # type: ignore[no-untyped-def]
    names = tuple(f"S{i}" for i in range(len(mu)))
    return Problem(
        names,
        np.array(mu, dtype=float),
        np.array(cov, dtype=float),
        np.array(upper, dtype=float),
        budget,
        max_assets,
        lam,
    )


def test_two_uncorrelated_symbols_share_a_binding_budget_as_the_kkt_conditions_say() -> None:
    # max 0.02a + 0.01b - 1/2 (0.04a^2 + 0.01b^2) with a + b <= 1. Unconstrained: a = 0.5,
    # b = 1 (sum 1.5 > 1), so the budget binds: 0.02 - 0.04a = nu = 0.01 - 0.01b, a + b = 1
    # gives nu = 0.004, a = 0.4, b = 0.6, utility 0.014 - 0.005 = 0.009.
    solution = solve_classical(problem([0.02, 0.01], np.diag([0.04, 0.01]), [1, 1], 1.0, 2))
    assert solution.weights["S0"] == pytest.approx(0.4, abs=1e-9)
    assert solution.weights["S1"] == pytest.approx(0.6, abs=1e-9)
    assert solution.objective == pytest.approx(0.009, abs=1e-12)
    assert solution.selected == ("S0", "S1")


def test_caps_bind_before_the_budget() -> None:
    # Unconstrained optimum (0.5, 1.0); caps 0.3 each bind, the budget 1 does not.
    solution = solve_classical(problem([0.02, 0.01], np.diag([0.04, 0.01]), [0.3, 0.3], 1.0, 2))
    assert solution.weights == pytest.approx({"S0": 0.3, "S1": 0.3}, abs=1e-9)


def test_one_position_left_goes_to_the_better_symbol_alone() -> None:
    # With one position: S0 alone at 0.5 gives 0.02*0.5 - 0.02*0.25 = 0.005; S1 alone at 1
    # gives 0.01 - 0.005 = 0.005 ... so make S1 slightly better: mu_1 = 0.011 -> 0.011 - 0.005
    # = 0.006 > 0.005.
    solution = solve_classical(problem([0.02, 0.011], np.diag([0.04, 0.01]), [1, 1], 1.0, 1))
    assert solution.selected == ("S1",)
    assert solution.weights["S1"] == pytest.approx(1.0, abs=1e-9)
    assert solution.objective == pytest.approx(0.006, abs=1e-12)


def test_correlation_moves_weight_to_the_diversifier() -> None:
    # Equal returns and variances; S0 and S1 move together (correlation 0.9), S2 apart.
    # Interior optimum (budget 1 slack): 0.01 = 5 * 0.01 * 1.9 a and 0.01 = 5 * 0.01 * c, so
    # a = 1 / 9.5 for each twin and c = 0.2 for the diversifier.
    cov = 0.01 * np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    free = solve_classical(problem([0.01, 0.01, 0.01], cov, [1, 1, 1], 1.0, 3, lam=5.0)).weights
    assert free == pytest.approx({"S0": 1 / 9.5, "S1": 1 / 9.5, "S2": 0.2}, abs=1e-8)
    # Budget 0.3 binds: 0.01 - 0.05 * 1.9 a = nu = 0.01 - 0.05 c gives c = 1.9 a, 2a + c = 0.3.
    tight = solve_classical(problem([0.01, 0.01, 0.01], cov, [1, 1, 1], 0.3, 3, lam=5.0)).weights
    a = 0.3 / 3.9
    assert tight == pytest.approx({"S0": a, "S1": a, "S2": 1.9 * a}, abs=1e-8)


def test_a_losing_symbol_gets_nothing_and_no_room_means_no_weights() -> None:
    solution = solve_classical(problem([0.01, -0.01], np.diag([0.01, 0.01]), [1, 1], 1.0, 2))
    assert solution.weights["S1"] == 0.0
    assert solution.selected == ("S0",)
    for budget, slots in ((0.0, 2), (1.0, 0)):
        empty = solve_classical(problem([0.01, 0.02], np.diag([0.01, 0.01]), [1, 1], budget, slots))
        assert empty.selected == ()
        assert empty.objective == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mu": [0.1, float("nan")]}, "mu: must be 2 finite numbers"),
        ({"cov": [[1.0, 0.5], [0.4, 1.0]]}, "cov: must be symmetric"),
        ({"cov": [[1.0, 2.0], [2.0, 1.0]]}, "cov: must be positive semi-definite"),
        ({"upper": [-0.1, 1.0]}, "upper: must be >= 0 (long-only)"),
        ({"budget": -1.0}, "budget: must be a finite number >= 0"),
        ({"max_assets": -1}, "max_assets: must be >= 0"),
        ({"lam": 0.0}, "risk_aversion: must be > 0"),
    ],
)
def test_bad_inputs_are_refused_naming_the_field_and_the_rule(
    kwargs: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {
        "mu": [0.1, 0.1],
        "cov": [[1.0, 0.0], [0.0, 1.0]],
        "upper": [1.0, 1.0],
        "budget": 1.0,
        "max_assets": 2,
        "lam": 1.0,
    }
    base.update(kwargs)
    with pytest.raises(PortfolioInputError) as refused:
        problem(**base)
    assert str(refused.value).startswith(message)


@st.composite
def feasible_problems(draw: st.DrawFn) -> Problem:
    n = draw(st.integers(1, 6))
    floats = st.floats(-0.05, 0.05, allow_nan=False)
    mu = [draw(floats) for _ in range(n)]
    factors = np.array([[draw(st.floats(-0.2, 0.2)) for _ in range(n)] for _ in range(n + 1)])
    cov = factors.T @ factors / (n + 1) + np.eye(n) * draw(st.floats(1e-6, 1e-2))
    upper = [draw(st.floats(0.0, 1.0)) for _ in range(n)]
    return problem(
        mu,
        cov,
        upper,
        draw(st.floats(0.0, 2.0)),
        draw(st.integers(0, n)),
        draw(st.floats(0.1, 50.0)),
    )


@settings(max_examples=50, deadline=None)
@given(feasible_problems(), st.integers(0, 2**32 - 1))
def test_every_constraint_holds_and_no_feasible_point_does_better(
    problem_: Problem, seed: int
) -> None:
    solution = solve_classical(problem_)
    weights = np.array([solution.weights[s] for s in problem_.symbols])
    assert problem_.violations(weights) == []
    assert solution.objective == pytest.approx(problem_.objective(weights), abs=1e-15)
    # Random feasible points (caps, budget and the number of positions kept) never beat it.
    rng = np.random.default_rng(seed)
    for _ in range(20):
        point = rng.uniform(0, 1, problem_.size) * problem_.upper
        drop = rng.permutation(problem_.size)[problem_.max_assets :]
        point[drop] = 0.0
        total = point.sum()
        if total > problem_.budget:
            point *= problem_.budget / total
        assert problem_.violations(point) == []
        assert problem_.objective(point) <= solution.objective + 1e-10
