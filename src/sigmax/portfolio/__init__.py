"""Portfolio allocation across symbols: how the BUYs of one candle close share the profile's room.

``problem.py`` states one allocation (expected returns, covariance, per-symbol caps, budget, the
number of positions allowed); ``estimates.py`` builds it from candles and the agents' scores;
``classical.py`` solves it exactly (mean-variance over every admissible selection);
``qubo.py`` states the asset selection as a QUBO (qiskit-optimization) and ``quantum.py`` solves
it with QAOA and SamplingVQE on the Aer simulator; ``worker.py`` runs those off the engine's
critical path; ``step.py`` is the engine's allocation step. It depends on ``config``, ``domain``
and ``agents`` only; the engine calls it through :class:`~sigmax.portfolio.step.AllocationStep`.
"""
