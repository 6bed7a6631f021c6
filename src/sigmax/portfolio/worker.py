"""The quantum solver off the decision's critical path.

The engine hands each allocation's selection problem to :class:`QuantumAdvisor` and goes on at
once: the solve runs in a separate process (spawned, so qiskit's Python work never competes with
the engine for the interpreter lock; at the lowest CPU priority, so it takes only the CPU the
engine leaves), one at a time; a problem arriving while one is being
solved is dropped and counted. Each solve has the time budget of ``quantum.time_budget_s``; its
answer is compared with the exact optimum of the same QUBO (every selection enumerated in the
worker): within ``quantum.tolerance`` it agrees, otherwise the gap is logged. In both cases the
classical allocation already stands: the engine never waits for, and never orders from, a
quantum answer. Backtests never start an advisor, so their results depend on no wall clock.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from sigmax.config.settings import QuantumSettings
from sigmax.portfolio.problem import Problem, Solution
from sigmax.portfolio.quantum import Method, availability, solve_selection
from sigmax.portfolio.qubo import Selection

log = logging.getLogger("sigmax.portfolio")


@dataclass(frozen=True, slots=True)
class Verdict:
    """A quantum answer against the exact optimum of the same selection QUBO."""

    solution: Solution
    exact_objective: float
    gap: float
    within_tolerance: bool


@dataclass(slots=True)
class AdvisorCounts:
    submitted: int = 0
    dropped: int = 0
    agreed: int = 0
    off: int = 0
    failed: int = 0


def judge(problem: Problem, solutions: list[Solution], tolerance: float) -> list[Verdict]:
    """Each answer's relative gap to the exact optimum (every selection enumerated)."""
    exact = -float(Selection.of(problem).feasible_values().min())
    verdicts = []
    for solution in solutions:
        if not solution.ok or solution.objective is None:
            verdicts.append(Verdict(solution, exact, float("inf"), False))
            continue
        gap = (exact - solution.objective) / max(abs(exact), 1e-300)
        verdicts.append(Verdict(solution, exact, gap, gap <= tolerance))
    return verdicts


def solve_in_worker(problem: Problem, settings: QuantumSettings) -> list[Verdict]:
    """What the worker process runs: each configured method within the time budget."""
    solutions = []
    for method in settings.methods:
        chosen: Method = "vqe" if method == "vqe" else "qaoa"
        solutions.append(
            solve_selection(
                problem,
                chosen,
                shots=settings.shots,
                seed=settings.seed,
                reps=settings.reps,
                max_iterations=settings.max_iterations,
                time_budget_s=settings.time_budget_s,
                cvar_alpha=settings.cvar_alpha,
            )
        )
    return judge(problem, solutions, settings.tolerance)


def _lowest_priority() -> None:
    """The worker process yields the CPU to the engine: its answers are never waited for."""
    try:
        os.nice(19)
    except OSError:  # not permitted here: the worker still runs, at normal priority
        log.debug("could not lower the quantum worker's priority")


class QuantumAdvisor:
    """Solves allocations' selection QUBOs in a worker process (see the module docstring)."""

    def __init__(self, settings: QuantumSettings) -> None:
        self.settings = settings
        self.counts = AdvisorCounts()
        self.unavailable = availability()
        self._pool: ProcessPoolExecutor | None = None
        self._busy: Future[list[Verdict]] | None = None
        self._lock = threading.Lock()
        if self.unavailable is not None:
            log.warning(
                "quantum solver unavailable (%s): the classical answer stands", self.unavailable
            )

    def busy(self) -> bool:
        """A solve is running (or waiting for the worker process to start)."""
        with self._lock:
            return self._busy is not None and not self._busy.done()

    def answers(self) -> int:
        """Solves that came back (agreeing, off the optimum, or failed)."""
        return self.counts.agreed + self.counts.off + self.counts.failed

    def state(self) -> str:
        if self.unavailable is not None:
            return f"unavailable ({self.unavailable})"
        return "on"

    def submit(self, problem: Problem, label: str) -> str:
        """Hand ``problem`` to the worker without waiting; what became of it."""
        if self.unavailable is not None:
            return f"unavailable ({self.unavailable})"
        with self._lock:
            if self._busy is not None and not self._busy.done():
                self.counts.dropped += 1
                return "dropped (the worker is busy with an earlier allocation)"
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_lowest_priority,
                )
            future = self._pool.submit(solve_in_worker, problem, self.settings)
            self._busy = future
            self.counts.submitted += 1
        future.add_done_callback(lambda done: self._report(done, label))
        return "submitted"

    def _report(self, done: Future[list[Verdict]], label: str) -> None:
        try:
            verdicts = done.result()
        except Exception as error:  # the worker died or qiskit raised: say so, never hide it
            self.counts.failed += 1
            log.warning("quantum solve of %s failed: %s: %s", label, type(error).__name__, error)
            return
        for verdict in verdicts:
            solution = verdict.solution
            if not solution.ok:
                self.counts.failed += 1
                log.warning(
                    "quantum %s for %s: %s; the classical allocation stands",
                    solution.method,
                    label,
                    solution.status,
                )
            elif verdict.within_tolerance:
                self.counts.agreed += 1
                log.info(
                    "quantum %s for %s selects %s, the exact optimum (objective %.6g) in %.2f s",
                    solution.method,
                    label,
                    ", ".join(solution.selected),
                    verdict.exact_objective,
                    solution.seconds,
                )
            else:
                self.counts.off += 1
                log.warning(
                    "quantum %s for %s selects %s, %.3g below the exact optimum (relative gap "
                    "%.3g > tolerance %.3g); the classical allocation stands",
                    solution.method,
                    label,
                    ", ".join(solution.selected),
                    verdict.exact_objective - (solution.objective or 0.0),
                    verdict.gap,
                    self.settings.tolerance,
                )

    def close(self, wait: bool = False) -> None:
        """Stop the worker (a solve in progress is abandoned unless ``wait``)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)
