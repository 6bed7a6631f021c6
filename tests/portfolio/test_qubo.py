"""The selection QUBO on real return data: its algebra, the exact eigensolver, and QAOA and
SamplingVQE on the Aer simulator reaching the exact optimum (seeded)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sigmax.portfolio.instances import real_problem
from sigmax.portfolio.quantum import Method, solve_selection
from sigmax.portfolio.qubo import Selection


def test_the_qubo_is_minus_the_utility_of_the_selection_weights() -> None:
    problem = real_problem(5)
    selection = Selection.of(problem)
    for bits in itertools.product((0.0, 1.0), repeat=problem.size):
        x = np.array(bits)
        assert selection.value(x) == pytest.approx(
            -problem.objective(selection.portfolio(x)), rel=1e-12, abs=1e-18
        )


def test_the_penalty_makes_every_feasible_selection_beat_every_infeasible_one() -> None:
    problem = real_problem(5)
    selection = Selection.of(problem)
    qubo = selection.qubo()
    assert qubo.get_num_linear_constraints() == 0
    feasible, infeasible = [], []
    for bits in itertools.product((0, 1), repeat=problem.size):
        value = qubo.objective.evaluate(list(bits))
        (feasible if sum(bits) == selection.picks else infeasible).append(value)
    assert max(feasible) < min(infeasible)
    # On feasible selections the QUBO is the scaled objective (the penalty term is zero).
    best = min(feasible) * selection.scale
    assert best == pytest.approx(float(selection.feasible_values().min()), rel=1e-9)


@pytest.mark.parametrize("n", range(2, 9))
def test_the_exact_eigensolver_finds_the_enumerated_optimum(n: int) -> None:
    problem = real_problem(n)
    exact = solve_selection(problem, "exact")
    assert exact.ok
    assert len(exact.selected) == problem.picks
    best = float(Selection.of(problem).feasible_values().min())
    assert exact.details["qubo_objective"] == pytest.approx(best, rel=1e-12, abs=1e-18)


@pytest.mark.parametrize(
    ("n", "method", "seed"),
    [
        (4, "qaoa", 1),
        (4, "vqe", 1),
        (8, "qaoa", 1),
        (8, "vqe", 2),
    ],
)
def test_qaoa_and_vqe_reach_the_exact_optimum_on_real_data(
    n: int, method: Method, seed: int
) -> None:
    problem = real_problem(n)
    answer = solve_selection(problem, method, seed=seed)
    assert answer.ok, answer.status
    exact = solve_selection(problem, "exact")
    assert answer.selected == exact.selected
    assert answer.objective == pytest.approx(exact.objective, rel=1e-12)
    assert answer.details["evaluations"] > 0


def test_a_solve_over_its_time_budget_is_abandoned_and_says_so() -> None:
    answer = solve_selection(real_problem(3), "qaoa", time_budget_s=1e-9)
    assert not answer.ok
    assert answer.status == "over time budget (1e-09 s)"
    assert answer.objective is None
    assert answer.selected == ()
