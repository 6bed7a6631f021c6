"""The classical solver: mean-variance weights under the profile's limits, exact for small n.

For a fixed set of symbols the problem is a concave quadratic maximisation over a box cut by one
budget half-space: a convex QP whose optimum scipy's SLSQP finds to machine precision (analytic
gradients, ``ftol`` 1e-15). The cardinality limit (``max_assets``) makes the whole problem
combinatorial, so every selection of ``picks`` symbols is solved and the best kept: a selection
may leave a symbol at zero, so larger selections cover the smaller ones and choosing exactly
``picks`` loses nothing. With the handful of symbols a run trades (C(8, 4) = 70 selections at
most for eight) this is exact and takes milliseconds.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
from scipy.optimize import minimize

from sigmax.portfolio.problem import (
    WEIGHT_EPSILON,
    FloatArray,
    PortfolioInputError,
    Problem,
    Solution,
    selected_of,
    weights_of,
)

#: More selections than this would take too long on the decision's path.
MAX_SELECTIONS = 5000


def solve_classical(problem: Problem) -> Solution:
    """The optimal weights (see the module docstring)."""
    started = time.perf_counter()
    picks = problem.picks
    count = math.comb(problem.size, picks)
    if count > MAX_SELECTIONS:
        raise PortfolioInputError(
            "symbols",
            f"at most {MAX_SELECTIONS} selections can be enumerated "
            f"(C({problem.size}, {picks}) = {count})",
        )
    best = np.zeros(problem.size)
    best_value = problem.objective(best)
    if picks > 0 and problem.budget > 0:
        for chosen in itertools.combinations(range(problem.size), picks):
            index = np.array(chosen, dtype=np.intp)
            weights = np.zeros(problem.size)
            weights[index] = _solve_subset(problem, index)
            value = problem.objective(weights)
            if value > best_value + 1e-15:
                best, best_value = weights, value
    # Solver noise (a weight of 1e-12) is no position: the answer reports exactly what it holds.
    best = np.where(best > WEIGHT_EPSILON, best, 0.0)
    best_value = problem.objective(best)
    return Solution(
        method="classical",
        weights=weights_of(problem, best),
        selected=selected_of(problem, best),
        objective=best_value,
        seconds=time.perf_counter() - started,
        details={"selections": count},
    )


def _solve_subset(problem: Problem, index: np.ndarray[tuple[int], np.dtype[np.intp]]) -> FloatArray:
    """The optimum over the symbols at ``index`` (the others at zero)."""
    mu = problem.mu[index]
    cov = problem.cov[np.ix_(index, index)]
    upper = np.minimum(problem.upper[index], problem.budget)
    lam = problem.risk_aversion
    if len(index) == 1:
        # One symbol: the unconstrained optimum mu / (lambda sigma^2), clipped to its bounds.
        variance = float(cov[0, 0])
        free = (
            math.inf
            if variance <= 0 and mu[0] > 0
            else mu[0] / (lam * variance)
            if variance > 0
            else 0.0
        )
        return np.array([min(max(free, 0.0), float(upper[0]))])

    def negative(w: FloatArray) -> float:
        return float(-(mu @ w) + 0.5 * lam * (w @ cov @ w))

    def gradient(w: FloatArray) -> FloatArray:
        return np.asarray(-mu + lam * (cov @ w), dtype=np.float64)

    start = np.minimum(upper, problem.budget / len(index)) * 0.5
    result = minimize(
        negative,
        start,
        jac=gradient,
        method="SLSQP",
        bounds=[(0.0, float(u)) for u in upper],
        constraints=[
            {
                "type": "ineq",
                "fun": lambda w: problem.budget - float(w.sum()),
                "jac": lambda w: -np.ones_like(w),
            }
        ],
        options={"ftol": 1e-15, "maxiter": 500},
    )
    weights = np.clip(np.asarray(result.x, dtype=np.float64), 0.0, upper)
    total = float(weights.sum())
    if total > problem.budget:
        # SLSQP may overshoot an active constraint by rounding: pull back inside.
        weights *= problem.budget / total
    return weights
