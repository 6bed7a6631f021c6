"""The selection QUBO solved by qiskit: exactly (NumPyMinimumEigensolver) and by QAOA and
SamplingVQE on the Aer simulator's sampler.

qiskit is optional (the ``quantum`` extra): every import happens inside a call, and
:func:`availability` says why the solvers cannot run (a missing or blocked module) without
importing anything heavy. A variational solve is seeded (Aer's sampler and the optimizer's
starting point), so the same problem, seed and shots give the same answer; it is stopped when
its time budget runs out (the optimizer's callback raises between two evaluations).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
import warnings
from typing import Any, Literal

import numpy as np

from sigmax.config.settings import QuantumSettings
from sigmax.portfolio.problem import Problem, Solution, selected_of, weights_of
from sigmax.portfolio.qubo import Selection

Method = Literal["exact", "qaoa", "vqe"]

#: The modules the solvers import, and the distributions that ship them.
REQUIRED = (
    ("qiskit", "qiskit"),
    ("qiskit_optimization", "qiskit-optimization"),
    ("qiskit_aer", "qiskit-aer"),
)


class _OverBudgetError(Exception):
    """Raised from the optimizer's callback when the solve's time budget has run out."""


def availability() -> str | None:
    """None when the solvers can run, else why not (``no module named 'qiskit'``)."""
    for module, _ in REQUIRED:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError) as error:
            return f"{module} cannot be imported: {error}"
        if spec is None:
            return f"no module named {module!r} (pip install 'sigmax[quantum]')"
    return None


def versions() -> str:
    """``qiskit 2.6.2, qiskit-optimization 0.7.0, qiskit-aer 0.18.2``."""
    found = []
    for _, distribution in REQUIRED:
        try:
            found.append(f"{distribution} {importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{distribution} ?")
    return ", ".join(found)


def quantum_status(settings: QuantumSettings) -> str:
    """The quantum module's state for ``/api/status`` ``modules.quantum`` and the CLI."""
    reason = availability()
    if reason is not None:
        return f"unavailable ({reason})"
    if not settings.enabled:
        return f"off (QUANTUM_ENABLED=false; {versions()})"
    methods = "+".join(settings.methods)
    return (
        f"on ({methods} on Aer, {settings.shots} shots, {settings.time_budget_s:g} s budget; "
        f"{versions()})"
    )


def solve_selection(
    problem: Problem,
    method: Method,
    *,
    shots: int = 1024,
    seed: int = 7,
    reps: int = 2,
    max_iterations: int = 100,
    time_budget_s: float | None = None,
    cvar_alpha: float = 0.25,
) -> Solution:
    """The selection QUBO of ``problem`` solved by ``method``; the answer's ``objective`` is the
    mean-variance utility of the selection's weights (comparable with the classical one).

    ``cvar_alpha``: the variational solvers minimise the mean of the best ``cvar_alpha`` share
    of the sampled energies (CVaR, Barkoutsos et al. 2020) rather than the plain mean (1.0),
    which tells them apart from the ground state much sooner; ``reps``: QAOA's layers and the
    VQE ansatz's (``real_amplitudes``) repetitions."""
    started = time.perf_counter()
    reason = availability()
    if reason is not None:
        return Solution.failed(method, f"unavailable ({reason})")
    selection = Selection.of(problem)
    if selection.picks == 0 or problem.size == 0:
        bits = np.zeros(problem.size)
        return _answer(method, selection, bits, started, {})
    try:
        bits, details = _run(
            selection, method, shots, seed, reps, max_iterations, time_budget_s, started, cvar_alpha
        )
    except _OverBudgetError:
        return Solution.failed(
            method, f"over time budget ({time_budget_s:g} s)", time.perf_counter() - started
        )
    except ImportError as error:
        return Solution.failed(method, f"unavailable ({error})", time.perf_counter() - started)
    return _answer(method, selection, bits, started, details)


def _answer(
    method: str, selection: Selection, bits: Any, started: float, details: dict[str, Any]
) -> Solution:
    x = np.rint(np.asarray(bits, dtype=np.float64))
    problem = selection.problem
    weights = selection.portfolio(x)
    feasible = int(x.sum()) == selection.picks
    return Solution(
        method=method,
        weights=weights_of(problem, weights),
        selected=selected_of(problem, weights),
        objective=problem.objective(weights),
        seconds=time.perf_counter() - started,
        status="ok" if feasible else "failed (the answer breaks sum(x) = k)",
        details={"qubo_objective": selection.value(x), **details},
    )


def _run(
    selection: Selection,
    method: Method,
    shots: int,
    seed: int,
    reps: int,
    max_iterations: int,
    budget: float | None,
    started: float,
    cvar_alpha: float,
) -> tuple[Any, dict[str, Any]]:
    from qiskit_optimization.algorithms import MinimumEigenOptimizer
    from qiskit_optimization.minimum_eigensolvers import NumPyMinimumEigensolver

    qubo = selection.qubo()
    if method == "exact":
        result = MinimumEigenOptimizer(NumPyMinimumEigensolver()).solve(qubo)
        return result.x, {}
    from qiskit.circuit.library import real_amplitudes
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2
    from qiskit_optimization.minimum_eigensolvers import QAOA, SamplingVQE
    from qiskit_optimization.optimizers import COBYLA

    evaluations = 0

    def callback(*_: object) -> None:
        nonlocal evaluations
        evaluations += 1
        if budget is not None and time.perf_counter() - started > budget:
            raise _OverBudgetError

    rng = np.random.default_rng(seed)
    sampler = SamplerV2(seed=seed, default_shots=shots)
    passes = generate_preset_pass_manager(
        optimization_level=1, backend=AerSimulator(), seed_transpiler=seed
    )
    optimizer = COBYLA(maxiter=max_iterations)
    solver: QAOA | SamplingVQE
    if method == "qaoa":
        start = rng.uniform(-np.pi, np.pi, 2 * reps)
        solver = QAOA(
            sampler,
            optimizer,
            reps=reps,
            initial_point=start,
            aggregation=cvar_alpha,
            callback=callback,
            pass_manager=passes,
        )
    else:
        ansatz = real_amplitudes(selection.problem.size, reps=reps)
        start = rng.uniform(-np.pi, np.pi, ansatz.num_parameters)
        solver = SamplingVQE(
            sampler,
            ansatz,
            optimizer,
            initial_point=start,
            aggregation=cvar_alpha,
            callback=callback,
            pass_manager=passes,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        result = MinimumEigenOptimizer(solver).solve(qubo)
    return result.x, {"evaluations": evaluations, "shots": shots, "seed": seed}
