"""The median pruner's decision, taken where the trial runs so that a pruned trial stops.

Optuna's :class:`~optuna.pruners.MedianPruner` (``n_startup_trials`` complete trials first, no
warm-up step) prunes a trial at step ``k`` when the best of its values at steps ``1..k`` is
below the median of the complete trials' values at step ``k``. Those medians depend only on
the trials already complete, so the driver works them out when it hands a trial to a worker
(:func:`thresholds`), and the worker compares the trial's figure with them at the end of each
fold (:func:`prunes`): a trial below the median stops its backtest there instead of running the
whole window.

With one trial in flight (``--jobs 0`` or one worker) the complete trials when a trial starts
are those when it ends, and the decisions are Optuna's own (a test compares them). With several
workers, a trial is judged against the trials complete when it started.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import optuna

#: The median pruner's start-up: no pruning until this many trials are complete.
N_STARTUP_TRIALS = 5


def thresholds(study: optuna.Study, folds: int) -> tuple[float | None, ...]:
    """Per fold ``k`` in ``1..folds-1``: the median of the complete trials' figures at step
    ``k``, or None where the pruner would not prune (too few complete trials, no figure)."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < max(N_STARTUP_TRIALS, 1):
        return (None,) * (folds - 1)
    found: list[float | None] = []
    for step in range(1, folds):
        values = np.array(
            [t.intermediate_values[step] for t in complete if step in t.intermediate_values],
            dtype=float,
        )
        if len(values) == 0 or bool(np.isnan(values).all()):
            found.append(None)
        else:
            found.append(float(np.nanpercentile(values, 50.0)))
    return tuple(found)


def prunes(values: Sequence[float], threshold: float | None) -> bool:
    """Whether a trial whose figures so far are ``values`` is pruned against ``threshold``:
    the best of them below it (all undefined: pruned, as Optuna has it)."""
    if threshold is None or math.isnan(threshold):
        return False
    array = np.asarray(values, dtype=float)
    if bool(np.isnan(array).all()):
        return True
    return bool(np.nanmax(array) < threshold)
