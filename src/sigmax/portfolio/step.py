"""The allocation step: between the per-symbol decisions of one candle close and their orders.

The BUYs of one close want in together; each was sized alone by the risk agent (volatility
sizing under the per-symbol caps), so together they may ask for more than the profile's room:
the exposure left under ``max_exposure``, the cash, and the positions left under
``max_open_positions``. The step states that as one mean-variance problem
(:mod:`sigmax.portfolio.estimates`), solves it exactly (:mod:`sigmax.portfolio.classical`) and
gives each BUY its weight times equity, rounded down to the cent, never more than the risk
agent's size. It changes sizes, never a direction: a BUY stays a BUY (a zero weight means no
order, with the reason in the record), a SELL and a HOLD never reach it. When the quantum module
is on, the same problem's selection QUBO goes to the :class:`QuantumAdvisor` after the answer is
given; the engine does not wait for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

import numpy as np

from sigmax.agents.base import PortfolioView
from sigmax.config.settings import Settings
from sigmax.domain.candles import CandleSeries, ms_to_iso
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.portfolio.classical import solve_classical
from sigmax.portfolio.estimates import Candidate, aligned_returns, covariance, expected_returns
from sigmax.portfolio.problem import Problem, Solution
from sigmax.portfolio.worker import QuantumAdvisor

log = logging.getLogger("sigmax.portfolio")

CENT = Decimal("0.01")
_ZERO = Decimal(0)


def room(portfolio: PortfolioView, settings: Settings) -> tuple[Decimal, int]:
    """What the BUYs of one close may share: USD (exposure left under ``max_exposure``, and
    the cash) and positions (left under ``max_open_positions``)."""
    profile = settings.profile
    exposure_left = profile.max_exposure - portfolio.exposure_usd
    usd = max(_ZERO, min(exposure_left, portfolio.cash_usd))
    held = sum(1 for value in portfolio.positions_usd.values() if value > 0)
    return usd, max(0, profile.max_open_positions - held)


def build_problem(
    candidates: Sequence[Candidate],
    series: Callable[[str], CandleSeries],
    until_open_ms: int,
    budget: float,
    max_assets: int,
    settings: Settings,
) -> Problem:
    """The allocation problem of ``candidates`` at the candle opening at ``until_open_ms``."""
    section = settings.allocation
    symbols = [c.symbol for c in candidates]
    returns = aligned_returns(
        {s: series(s) for s in symbols}, symbols, until_open_ms, section.window
    )
    cov = covariance(returns, section.shrinkage)
    return Problem(
        symbols=tuple(symbols),
        mu=expected_returns(candidates, cov, section.information_coefficient),
        cov=cov,
        upper=np.array([c.cap for c in candidates], dtype=np.float64),
        budget=budget,
        max_assets=max_assets,
        risk_aversion=section.risk_aversion,
    )


class AllocationStep:
    """Sizes the BUYs of one candle close together (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        series: Callable[[str], CandleSeries],
        advisor: QuantumAdvisor | None = None,
    ) -> None:
        """``series``: a symbol's candles (the engine's histories); ``advisor``: the quantum
        solver beside the classical one (None in backtests: no wall clock in a result)."""
        self.settings = settings
        self.series = series
        self.advisor = advisor
        self.timeframe = settings.agents.analyzer.timeframes.primary

    def allocate(
        self, records: Sequence[DecisionRecord], portfolio: PortfolioView, close_ms: int
    ) -> list[DecisionRecord]:
        """The BUY ``records`` of the close at ``close_ms`` with their allocated sizes and
        their ``allocation`` part, in the same order."""
        for record in records:
            if record.decision is not Action.BUY:
                raise ValueError(f"the allocation step sizes BUYs only (got {record.decision})")
        equity = portfolio.equity_usd
        usd, slots = room(portfolio, self.settings)
        if not records:
            return []
        started = time.perf_counter()
        problem, solution, dropped = self._solve(records, equity, usd, slots, close_ms)
        seconds = time.perf_counter() - started
        quantum = "off"
        if self.advisor is not None and problem is not None and problem.picks > 0:
            label = f"{', '.join(problem.symbols)} at {ms_to_iso(close_ms)}"
            quantum = self.advisor.submit(problem, label)
        sizes = _sizes(records, solution, equity, usd)
        log.info(
            "ALLOCATION at %s: %s (room %s USD, %d positions left; %s in %.1f ms)",
            ms_to_iso(close_ms),
            ", ".join(
                f"{r.symbol} {_proposed(r)} -> {size} USD"
                for r, size in zip(records, sizes, strict=True)
            ),
            usd,
            slots,
            solution.method,
            seconds * 1000.0,
        )
        return [
            self._sized(record, size, solution, usd, slots, seconds, quantum, dropped)
            for record, size in zip(records, sizes, strict=True)
        ]

    def _solve(
        self,
        records: Sequence[DecisionRecord],
        equity: Decimal,
        usd: Decimal,
        slots: int,
        close_ms: int,
    ) -> tuple[Problem | None, Solution, list[str]]:
        """The optimum; a symbol whose weight is worth less than ``min_order_usd`` is dropped
        and the others solved again (an order that small is refused by the market, or not
        worth its fee), until every weight left is worth an order."""
        weights = {r.symbol: 0.0 for r in records}
        if equity <= 0:
            return None, Solution("classical", weights, (), 0.0, 0.0), []
        minimum = float(self.settings.allocation.min_order_usd)
        active = [
            Candidate(r.symbol, r.score, r.confidence, float(Decimal(repr(r.size_usd)) / equity))
            for r in records
        ]
        dropped: list[str] = []
        problem: Problem | None = None
        objective = 0.0
        while active:
            problem = build_problem(
                active,
                self.series,
                close_ms - self.timeframe.ms,
                float(usd / equity),
                slots,
                self.settings,
            )
            solution = solve_classical(problem)
            small = [
                c.symbol
                for c in active
                if 0.0 < solution.weights[c.symbol] * float(equity) < minimum
            ]
            if not small:
                weights.update(solution.weights)
                objective = solution.objective or 0.0
                break
            dropped += small
            active = [c for c in active if c.symbol not in small]
        selected = tuple(s for s, w in weights.items() if w > 0.0)
        return problem, Solution("classical", weights, selected, objective, 0.0), dropped

    def _sized(
        self,
        record: DecisionRecord,
        size: Decimal,
        solution: Solution,
        usd: Decimal,
        slots: int,
        seconds: float,
        quantum: str,
        dropped: list[str],
    ) -> DecisionRecord:
        proposed = _proposed(record)
        part: dict[str, Any] = {
            "method": solution.method,
            "weights": {s: round(w, 10) for s, w in solution.weights.items()},
            "selected": list(solution.selected),
            "objective": solution.objective,
            "solver_seconds": round(seconds, 6),
            "room_usd": str(usd),
            "positions_left": slots,
            "proposed_size_usd": str(proposed),
            "size_usd": str(size),
            "quantum": quantum,
        }
        if dropped:
            part["dropped_below_min_order"] = dropped
        if size <= 0:
            if record.symbol in dropped:
                why = (
                    "its weight is worth less than allocation.min_order_usd "
                    f"({self.settings.allocation.min_order_usd} USD)"
                )
            elif usd <= 0 or slots == 0:
                why = "no room left under the profile's limits"
            else:
                why = "the other candidates use the room better"
            part["reason"] = f"the allocation gives {record.symbol} no weight: {why}"
        return replace(record, size_usd=float(size), allocation=part)

    def close(self) -> None:
        if self.advisor is not None:
            self.advisor.close()


def _proposed(record: DecisionRecord) -> Decimal:
    """The risk agent's size, to the cent."""
    return Decimal(repr(record.size_usd)).quantize(CENT, ROUND_DOWN)


def _sizes(
    records: Sequence[DecisionRecord], solution: Solution, equity: Decimal, usd: Decimal
) -> list[Decimal]:
    """Each weight times equity to the nearest cent (a weight at its cap is the risk agent's
    size exactly, not a cent under it by floating point), never above the risk agent's size;
    should rounding up take the total over the room, the cents come off the largest sizes."""
    sizes = [
        max(
            _ZERO,
            min(
                _proposed(r),
                (Decimal(repr(solution.weights.get(r.symbol, 0.0))) * equity).quantize(CENT),
            ),
        )
        for r in records
    ]
    excess = sum(sizes, _ZERO) - usd
    while excess > 0:
        largest = max(range(len(sizes)), key=lambda i: sizes[i])
        cut = min(excess, sizes[largest])
        sizes[largest] -= cut
        excess -= cut
    return sizes
