"""``sigmax portfolio optimize``: one allocation at a moment, every solver side by side.

The candidates are the requested symbols at the close ``at`` (default: the newest close all of
them have), each with the agents' score and confidence for a fresh account of the profile
(:meth:`Orchestrator.assess`); their caps are the profile's per-symbol limit (the smaller of
``max_position_size`` and ``max_position_pct_of_equity`` of the starting capital), the budget
its ``max_exposure`` (within the capital) and ``max_assets`` its ``max_open_positions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sigmax.agents.base import PortfolioView
from sigmax.config.settings import Settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import CandleSeries
from sigmax.errors import InputError
from sigmax.portfolio.classical import solve_classical
from sigmax.portfolio.estimates import Candidate
from sigmax.portfolio.problem import Problem, Solution
from sigmax.portfolio.quantum import Method, solve_selection
from sigmax.portfolio.step import build_problem
from sigmax.portfolio.worker import judge

MethodChoice = Literal["classical", "exact", "qaoa", "vqe", "all"]
METHODS: tuple[str, ...] = ("classical", "exact", "qaoa", "vqe", "all")


@dataclass(frozen=True, slots=True)
class Optimized:
    """The problem at ``at_ms`` and each method's answer, in the order asked."""

    at_ms: int
    problem: Problem
    candidates: tuple[Candidate, ...]
    solutions: tuple[Solution, ...]


def optimize(
    settings: Settings,
    catalog: DatasetCatalog,
    symbols: Sequence[str],
    at_ms: int | None,
    method: str,
    seed: int,
) -> Optimized:
    """Solve the allocation of ``symbols`` at ``at_ms`` by ``method`` (or every one)."""
    from sigmax.agents.orchestrator import Orchestrator, build_history

    if method not in METHODS:
        raise InputError(f"--method: must be one of {', '.join(METHODS)} (got {method!r})")
    timeframe = settings.agents.analyzer.timeframes.primary
    series: dict[str, CandleSeries] = {s: catalog.load(s, timeframe).series for s in symbols}
    newest = min(s.last_ms for s in series.values()) + timeframe.ms
    moment = newest if at_ms is None else at_ms
    if moment > newest:
        raise InputError(
            f"--at: must be at or before the newest close all symbols have "
            f"({newest} ms; got {moment} ms)"
        )
    histories = {s: build_history(series[s], settings) for s in symbols}
    orchestrator = Orchestrator(settings, lambda symbol: histories[symbol])
    profile = settings.profile
    capital = profile.starting_capital_usd
    account = PortfolioView.starting(capital)
    per_symbol = min(
        profile.max_position_size,
        capital * Decimal(repr(profile.max_position_pct_of_equity)) / 100,
    )
    cap = float(per_symbol / capital)
    candidates = []
    for symbol in symbols:
        assessment = orchestrator.assess(histories[symbol].snapshot(moment), account)
        candidates.append(Candidate(symbol, assessment.score, assessment.confidence, cap))
    budget = float(min(profile.max_exposure, capital) / capital)
    problem = build_problem(
        candidates,
        lambda symbol: series[symbol],
        moment - timeframe.ms,
        budget,
        profile.max_open_positions,
        settings,
    )
    wanted = ("classical", "exact", "qaoa", "vqe") if method == "all" else (method,)
    quantum = settings.quantum
    solutions: list[Solution] = []
    for name in wanted:
        if name == "classical":
            solutions.append(solve_classical(problem))
            continue
        chosen: Method = "exact" if name == "exact" else "qaoa" if name == "qaoa" else "vqe"
        solution = solve_selection(
            problem,
            chosen,
            shots=quantum.shots,
            seed=seed,
            reps=quantum.reps,
            max_iterations=quantum.max_iterations,
            cvar_alpha=quantum.cvar_alpha,
        )
        if solution.ok and name in ("qaoa", "vqe"):
            verdict = judge(problem, [solution], quantum.tolerance)[0]
            solution = Solution(
                solution.method,
                solution.weights,
                solution.selected,
                solution.objective,
                solution.seconds,
                solution.status,
                {
                    **solution.details,
                    "gap_to_exact": verdict.gap,
                    "within_tolerance": verdict.within_tolerance,
                },
            )
        solutions.append(solution)
    return Optimized(moment, problem, tuple(candidates), tuple(solutions))
