"""One allocation problem and its solutions, with no solver in sight.

Weights are fractions of equity. The problem: maximise the mean-variance utility
``f(w) = mu'w - lambda/2 w'Sigma w`` subject to ``0 <= w_i <= upper_i`` (long-only, each symbol's
cap), ``sum(w) <= budget`` (the exposure room and the cash) and at most ``max_assets`` non-zero
weights (the open positions the profile still allows).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sigmax.errors import InputError

FloatArray = npt.NDArray[np.float64]

#: Weights below this (a hundredth of a basis point of equity) are no position.
WEIGHT_EPSILON = 1e-9


class PortfolioInputError(InputError):
    """An allocation problem that breaks a rule: names the field and the rule."""

    def __init__(self, field_name: str, rule: str, got: object = None) -> None:
        shown = "" if got is None else f" (got {got})"
        super().__init__(f"{field_name}: {rule}{shown}")
        self.field = field_name
        self.rule = rule


@dataclass(frozen=True, slots=True, eq=False)
class Problem:
    """Expected returns ``mu`` and covariance ``cov`` per candle, per-symbol caps ``upper``,
    the ``budget`` all weights share and ``max_assets`` positions at most."""

    symbols: tuple[str, ...]
    mu: FloatArray
    cov: FloatArray
    upper: FloatArray
    budget: float
    max_assets: int
    risk_aversion: float

    def __post_init__(self) -> None:
        n = len(self.symbols)
        if n == 0:
            raise PortfolioInputError("symbols", "must name at least one symbol")
        if len(set(self.symbols)) != n:
            raise PortfolioInputError("symbols", "must not repeat a symbol", list(self.symbols))
        if self.mu.shape != (n,) or not np.all(np.isfinite(self.mu)):
            raise PortfolioInputError("mu", f"must be {n} finite numbers", self.mu.tolist())
        if self.cov.shape != (n, n) or not np.all(np.isfinite(self.cov)):
            raise PortfolioInputError("cov", f"must be a finite {n}x{n} matrix")
        if not np.allclose(self.cov, self.cov.T, rtol=1e-9, atol=1e-15):
            raise PortfolioInputError("cov", "must be symmetric")
        if float(np.linalg.eigvalsh(self.cov).min()) < -1e-12 * max(1.0, float(self.cov.max())):
            raise PortfolioInputError("cov", "must be positive semi-definite")
        if self.upper.shape != (n,) or not np.all(np.isfinite(self.upper)):
            raise PortfolioInputError("upper", f"must be {n} finite numbers")
        if np.any(self.upper < 0):
            raise PortfolioInputError("upper", "must be >= 0 (long-only)", self.upper.tolist())
        if not math.isfinite(self.budget) or self.budget < 0:
            raise PortfolioInputError("budget", "must be a finite number >= 0", self.budget)
        if self.max_assets < 0:
            raise PortfolioInputError("max_assets", "must be >= 0", self.max_assets)
        if not math.isfinite(self.risk_aversion) or self.risk_aversion <= 0:
            raise PortfolioInputError("risk_aversion", "must be > 0", self.risk_aversion)

    @property
    def size(self) -> int:
        return len(self.symbols)

    @property
    def picks(self) -> int:
        """How many symbols a selection holds: ``max_assets``, or all when fewer."""
        return min(self.max_assets, self.size)

    def objective(self, weights: FloatArray) -> float:
        """The mean-variance utility ``mu'w - lambda/2 w'Sigma w`` (higher is better)."""
        w = np.asarray(weights, dtype=np.float64)
        return float(self.mu @ w - 0.5 * self.risk_aversion * (w @ self.cov @ w))

    def violations(self, weights: FloatArray, tolerance: float = 1e-9) -> list[str]:
        """The constraints ``weights`` break (empty: feasible)."""
        w = np.asarray(weights, dtype=np.float64)
        found: list[str] = []
        if np.any(w < -tolerance):
            found.append("long-only: a weight is negative")
        over = [
            s for s, wi, ui in zip(self.symbols, w, self.upper, strict=True) if wi > ui + tolerance
        ]
        if over:
            found.append(f"per-symbol cap exceeded for {', '.join(over)}")
        if float(w.sum()) > self.budget + tolerance:
            found.append(f"budget exceeded: {float(w.sum())} > {self.budget}")
        held = int(np.count_nonzero(w > WEIGHT_EPSILON))
        if held > self.max_assets:
            found.append(f"{held} positions, at most {self.max_assets} allowed")
        return found


@dataclass(frozen=True, slots=True)
class Solution:
    """A solver's answer: weights per symbol, the symbols held, the utility and the time.

    ``status``: ``ok``, or why there is no answer (``unavailable (reason)``, ``over time
    budget``, ``failed (reason)``); ``details`` holds what the solver wants to show (the
    QUBO's objective, evaluations, the gap to the exact optimum).
    """

    method: str
    weights: Mapping[str, float]
    selected: tuple[str, ...]
    objective: float | None
    seconds: float
    status: str = "ok"
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(cls, method: str, status: str, seconds: float = 0.0) -> Solution:
        return cls(method, {}, (), None, seconds, status)

    def to_json(self) -> dict[str, Any]:
        """``{method, weights: {symbol: weight}, selected: [symbols], objective, seconds}``."""
        return {
            "method": self.method,
            "weights": {s: round(w, 10) for s, w in self.weights.items()},
            "selected": list(self.selected),
            "objective": None if self.objective is None else round(self.objective, 12),
            "seconds": round(self.seconds, 6),
            "status": self.status,
            **({"details": dict(self.details)} if self.details else {}),
        }


def weights_of(problem: Problem, weights: FloatArray) -> dict[str, float]:
    """Weights by symbol, tiny ones (solver noise) as exactly 0."""
    return {
        s: (float(w) if w > WEIGHT_EPSILON else 0.0)
        for s, w in zip(problem.symbols, weights, strict=True)
    }


def selected_of(problem: Problem, weights: FloatArray) -> tuple[str, ...]:
    return tuple(s for s, w in zip(problem.symbols, weights, strict=True) if w > WEIGHT_EPSILON)
