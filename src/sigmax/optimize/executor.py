"""Where trials run: in this process, or on Dask workers.

``--jobs 0`` evaluates each trial in this process. ``--jobs J`` (J >= 1) starts a
``distributed.LocalCluster`` of J single-threaded worker processes; ``--scheduler tcp://...``
connects to a cluster started with ``dask scheduler`` / ``dask worker``. On Dask every worker
gets the :class:`CandleCache` plugin: it loads and validates the candles when the worker joins
(a worker that replaces a lost one too), so every trial the worker runs reuses them, and the
compiled policies stay in the worker's process between trials.

A worker lost mid-trial costs only that trial: the scheduler hands its task to another worker
(``distributed.scheduler.allowed-failures`` times), and should the task still fail with
``KilledWorker`` the driver submits it again, up to :data:`MAX_ATTEMPTS` times. Each trial is a
pure function of its parameters, so running it twice is harmless.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sigmax.errors import InputError, SigmaxError
from sigmax.optimize.trial import (
    Thresholds,
    TrialSpec,
    evaluate,
    quiet_engine_logs,
    warm_catalog,
)

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

PLUGIN_NAME = "sigmax-candles"
MAX_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class Done:
    """A finished trial: its outcome, and how many times it was submitted."""

    number: int
    outcome: dict[str, Any]
    attempts: int


class Executor(Protocol):
    description: str

    @property
    def workers(self) -> int: ...

    def submit(
        self, number: int, params: Mapping[str, Any], thresholds: Thresholds | None = None
    ) -> None: ...

    def next_done(self) -> Done: ...

    def pending(self) -> int: ...

    def close(self) -> None: ...


class InProcess:
    """Trials one after another in this process (``--jobs 0``)."""

    description = "this process"

    @property
    def workers(self) -> int:
        return 1

    def __init__(self, spec: TrialSpec) -> None:
        self._spec = spec
        self._queue: deque[tuple[int, Mapping[str, Any], Thresholds | None]] = deque()
        # This process goes on after the study: its level comes back at close().
        self._log_level = quiet_engine_logs()
        warm_catalog(spec.data)

    def submit(
        self, number: int, params: Mapping[str, Any], thresholds: Thresholds | None = None
    ) -> None:
        self._queue.append((number, params, thresholds))

    def next_done(self) -> Done:
        number, params, thresholds = self._queue.popleft()
        return Done(number, evaluate(self._spec, params, thresholds), 1)

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self._queue.clear()
        logging.getLogger("sigmax").setLevel(self._log_level)


def run_trial(
    spec: TrialSpec, params: Mapping[str, Any], thresholds: Thresholds | None = None
) -> dict[str, Any]:
    """The task a Dask worker runs (module level, so workers import it by name)."""
    quiet_engine_logs()
    return evaluate(spec, params, thresholds)


class OnDask:
    """Trials on a Dask cluster: a new ``LocalCluster`` or an existing scheduler."""

    def __init__(
        self, spec: TrialSpec, *, jobs: int | None = None, scheduler: str | None = None
    ) -> None:
        from distributed import Client, LocalCluster

        from sigmax.optimize.dask_plugin import CandleCache

        self._spec = spec
        self._cluster: LocalCluster | None = None
        if scheduler is not None:
            if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
                raise InputError(
                    f"--scheduler: must be a Dask address like tcp://HOST:PORT (got {scheduler})"
                )
            try:
                self._client: Client = Client(scheduler, timeout="15s")
            except (OSError, TimeoutError) as error:
                raise SigmaxError(f"--scheduler: cannot reach {scheduler}: {error}") from None
            self.description = f"Dask scheduler {scheduler}"
        else:
            count = jobs if jobs is not None else (os.cpu_count() or 1)
            self._cluster = LocalCluster(
                n_workers=count,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=40,
            )
            self._client = Client(self._cluster)
            self.description = f"local Dask cluster of {count} worker processes"
        self._client.register_plugin(
            CandleCache(None if spec.data is None else str(spec.data)),
            # One plugin per data source: a cluster shared by studies of other data loads each.
            name=f"{PLUGIN_NAME}-{hashlib.sha256(str(spec.data).encode()).hexdigest()[:12]}",
        )
        self._futures: dict[Future, tuple[int, Mapping[str, Any], Thresholds | None, int]] = {}

    @property
    def workers(self) -> int:
        count = len(self._client.scheduler_info(n_workers=-1).get("workers", {}))
        return max(count, 1)

    def submit(
        self,
        number: int,
        params: Mapping[str, Any],
        thresholds: Thresholds | None = None,
        attempt: int = 1,
    ) -> None:
        future = self._client.submit(
            run_trial,
            self._spec,
            dict(params),
            None if thresholds is None else tuple(thresholds),
            pure=False,
            key=f"sigmax-trial-{number}-{attempt}",
        )
        self._futures[future] = (number, params, thresholds, attempt)

    def pending(self) -> int:
        return len(self._futures)

    def next_done(self) -> Done:
        from distributed import wait
        from distributed.scheduler import KilledWorker

        while True:
            finished = wait(list(self._futures), return_when="FIRST_COMPLETED").done
            # The lowest trial number first, so a run is as reproducible as the cluster allows.
            future = min(finished, key=lambda f: self._futures[f][0])
            number, params, thresholds, attempt = self._futures.pop(future)
            try:
                outcome = future.result()
            except KilledWorker:
                if attempt >= MAX_ATTEMPTS:
                    raise SigmaxError(
                        f"trial {number}: its workers died {attempt} times; the study stops "
                        "(the finished trials are stored and the same command resumes it)"
                    ) from None
                self.submit(number, params, thresholds, attempt + 1)
                continue
            return Done(number, outcome, attempt)

    def close(self) -> None:
        for future in self._futures:
            future.cancel()
        self._futures.clear()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
