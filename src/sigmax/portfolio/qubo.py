"""Asset selection as a QUBO: which ``k`` of ``n`` symbols to hold.

A selection ``x`` (binary, one per symbol) holds each chosen symbol at its selection weight
``v_i = min(upper_i, budget / k)`` (its cap, or an equal share of the budget when the caps
together would exceed it), so its mean-variance utility is ``f(v o x)``. The QUBO minimises

    g(x) = -sum_i mu_i v_i x_i + lambda/2 sum_ij v_i v_j Sigma_ij x_i x_j    (= -f(v o x))

subject to ``sum(x) = k``, written with qiskit-optimization's ``QuadraticProgram``; the
constraint becomes the penalty ``P (sum(x) - k)^2`` (``QuadraticProgramToQubo``) with ``P``
larger than the whole range of ``g``, so no infeasible selection beats a feasible one.
Coefficients are divided by their largest magnitude first: the optimum does not move, and the
variational solvers see angles of order one. ``k`` is ``max_assets`` (or ``n`` when fewer).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sigmax.portfolio.problem import FloatArray, Problem

if TYPE_CHECKING:
    from qiskit_optimization import QuadraticProgram


@dataclass(frozen=True, slots=True, eq=False)
class Selection:
    """The selection QUBO of a problem: ``linear`` and ``quadratic`` of ``g`` (unscaled),
    the selection weights, how many to pick and the scale the program was divided by."""

    problem: Problem
    weights: FloatArray
    linear: FloatArray
    quadratic: FloatArray
    picks: int
    scale: float

    @classmethod
    def of(cls, problem: Problem) -> Selection:
        picks = problem.picks
        share = problem.budget / picks if picks > 0 else 0.0
        weights = np.minimum(problem.upper, share)
        linear = -problem.mu * weights
        quadratic = 0.5 * problem.risk_aversion * np.outer(weights, weights) * problem.cov
        scale = float(max(np.abs(linear).max(initial=0.0), np.abs(quadratic).max(initial=0.0)))
        return cls(problem, weights, linear, quadratic, picks, scale if scale > 0 else 1.0)

    def value(self, x: FloatArray) -> float:
        """``g(x)``, unscaled (equal to ``-f(v o x)``)."""
        bits = np.asarray(x, dtype=np.float64)
        return float(self.linear @ bits + bits @ self.quadratic @ bits)

    def portfolio(self, x: FloatArray) -> FloatArray:
        """The weights a selection holds."""
        return np.asarray(self.weights * np.asarray(x, dtype=np.float64), dtype=np.float64)

    def feasible_values(self) -> FloatArray:
        """``g`` of every selection of exactly ``picks`` symbols (for approximation ratios)."""
        n = self.problem.size
        values = []
        for chosen in itertools.combinations(range(n), self.picks):
            x = np.zeros(n)
            x[list(chosen)] = 1.0
            values.append(self.value(x))
        return np.array(values, dtype=np.float64)

    def program(self) -> QuadraticProgram:
        """The constrained program (binary variables, the objective scaled, ``sum(x) = k``)."""
        from qiskit_optimization import QuadraticProgram

        program = QuadraticProgram("asset_selection")
        names = [f"x{i}" for i in range(self.problem.size)]
        for name in names:
            program.binary_var(name)
        program.minimize(
            linear=(self.linear / self.scale).tolist(),
            quadratic={
                (names[i], names[j]): float(self.quadratic[i, j] / self.scale)
                for i in range(len(names))
                for j in range(len(names))
                if self.quadratic[i, j] != 0.0
            },
        )
        program.linear_constraint(
            linear=dict.fromkeys(names, 1), sense="==", rhs=self.picks, name="picks"
        )
        return program

    def penalty(self) -> float:
        """Larger than the range of the scaled objective: any feasible beats any infeasible."""
        return 1.0 + float(np.abs(self.linear).sum() + np.abs(self.quadratic).sum()) / self.scale

    def qubo(self) -> QuadraticProgram:
        """The unconstrained QUBO: the program with ``sum(x) = k`` as a penalty."""
        from qiskit_optimization.converters import QuadraticProgramToQubo

        return QuadraticProgramToQubo(penalty=self.penalty()).convert(self.program())
