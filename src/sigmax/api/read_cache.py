"""``GET /api/status`` and ``GET /api/portfolio`` served from bytes built once per commit.

Building either answer reads the newest run, restores its ledger from the stored JSON and
checks the safety state: a few milliseconds of CPU, far too much to spend on every request
at hundreds of requests per second. Both answers change only when something is committed, so
each is built once per commit and kept as the JSON bytes of the response (see
:mod:`sigmax.api.read_bodies`):

* :class:`CommittedReads` (``sigmax run``, the engine in the same process): the engine's
  commits are announced on a :class:`CommitSignal`; a refresher thread rebuilds the bytes from
  the database after each one, so a request never waits for a rebuild and is answered from
  memory. What it serves was read back from the database after the commit, so it is always
  committed state, never the engine's work in progress. It also rebuilds every
  :data:`BACKSTOP_S` seconds, for what another process may have written, and never more than
  once per :data:`MIN_REBUILD_INTERVAL_S`, so a full-speed replay keeps its CPU.
* :class:`StoredReads` (``sigmax serve``, no engine here): the cache is keyed on the stored
  commit marker, the newest run with its resume point and the safety state, which is much
  cheaper to read than the answers are to build; a request rebuilds only after a change.

A build that fails is not cached: the request builds again and fails as it would without a
cache, with the same error answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from anyio import to_thread

from sigmax.api.context import ApiContext
from sigmax.api.read_bodies import portfolio_body, status_body
from sigmax.engine.account import RunInfo
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.lease import read_lease
from sigmax.engine.run_store import read_run_state
from sigmax.safety.store import DEFAULT_STATE_KEY
from sigmax.storage.repositories import EngineStateRepository, RunRepository

log = logging.getLogger("sigmax.api")

#: The refresher of :class:`CommittedReads` rebuilds at least this often (seconds).
BACKSTOP_S: Final = 1.0
#: ... and at most this often: an engine replaying at full speed commits back to back, and a
#: rebuild after every one of them would take a good part of the CPU (and the interpreter
#: lock) from it. The answers are then at most this far behind the newest commit.
MIN_REBUILD_INTERVAL_S: Final = 0.1
_STOP_TIMEOUT_S: Final = 10.0

BodyBuilder = Callable[[ApiContext], bytes]


class ReadCache(Protocol):
    """Where the status and portfolio routes get their JSON bytes."""

    async def status(self) -> bytes: ...

    async def portfolio(self) -> bytes: ...

    async def start(self) -> None:
        """Called when the app starts serving (its lifespan)."""
        ...

    async def stop(self) -> None:
        """Called when the app stops serving."""
        ...


class CommitSignal:
    """Counts the engine's commits: :meth:`committed` after each one, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._count = 0

    @property
    def count(self) -> int:
        """Commits announced so far."""
        with self._lock:
            return self._count

    def committed(self) -> None:
        """A transaction of the engine has just committed."""
        with self._lock:
            self._count += 1
            self._changed.notify_all()

    def wait_past(self, seen: int, timeout_s: float, stop: threading.Event) -> int:
        """Wait until more than ``seen`` commits were announced, ``stop`` is set (see
        :meth:`wake`) or ``timeout_s`` passed; the count."""
        with self._lock:
            self._changed.wait_for(lambda: self._count > seen or stop.is_set(), timeout_s)
            return self._count

    def wake(self) -> None:
        """Wake every waiter (one that should stop), without counting a commit."""
        with self._lock:
            self._changed.notify_all()


@dataclass(frozen=True, slots=True)
class _Built:
    status: bytes | None
    portfolio: bytes | None


class CommittedReads:
    """The answers as of the engine's newest commit, rebuilt in a thread after each commit."""

    def __init__(self, ctx: ApiContext, commits: CommitSignal) -> None:
        self._ctx = ctx
        self._commits = commits
        self._built = _Built(None, None)
        #: Rebuilds so far (the first one included).
        self.rebuilds = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    async def status(self) -> bytes:
        body = self._built.status
        return body if body is not None else await to_thread.run_sync(status_body, self._ctx)

    async def portfolio(self) -> bytes:
        body = self._built.portfolio
        return body if body is not None else await to_thread.run_sync(portfolio_body, self._ctx)

    async def start(self) -> None:
        # The first build before the first request, so none waits for it.
        seen = self._commits.count
        await to_thread.run_sync(self._rebuild)
        self._thread = threading.Thread(
            target=self._refresh, args=(seen,), name="sigmax-api-reads", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        self._commits.wake()
        thread = self._thread
        if thread is not None:
            await to_thread.run_sync(thread.join, _STOP_TIMEOUT_S)

    def _refresh(self, seen: int) -> None:
        while not self._stopping.is_set():
            # The count is read BEFORE the database: what is built is at least this recent.
            seen = self._commits.wait_past(seen, BACKSTOP_S, self._stopping)
            if self._stopping.is_set():
                return
            self._rebuild()
            # Commits made meanwhile are picked up by the next round, after this pause.
            self._stopping.wait(MIN_REBUILD_INTERVAL_S)

    def _rebuild(self) -> None:
        self._built = _Built(_build(status_body, self._ctx), _build(portfolio_body, self._ctx))
        self.rebuilds += 1


def _build(builder: BodyBuilder, ctx: ApiContext) -> bytes | None:
    """The body, or None when it cannot be built now (the request then builds it and answers
    with the error, exactly as without a cache)."""
    try:
        return builder(ctx)
    except Exception:
        log.debug("the cached %s answer could not be rebuilt", builder.__name__, exc_info=True)
        return None


class StoredReads:
    """The answers cached per stored commit marker (no engine in this process)."""

    def __init__(self, ctx: ApiContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[object, bytes]] = {}

    async def status(self) -> bytes:
        return await to_thread.run_sync(self._current, status_body)

    async def portfolio(self) -> bytes:
        return await to_thread.run_sync(self._current, portfolio_body)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _current(self, builder: BodyBuilder) -> bytes:
        # Read before the answer is built: the answer is at least as recent as its marker.
        marker = stored_marker(self._ctx)
        name = builder.__name__
        with self._lock:
            cached = self._cached.get(name)
            if cached is not None and cached[0] == marker:
                return cached[1]
            body = builder(self._ctx)
            self._cached[name] = (marker, body)
            return body


def _timed_wall_hold(safety: object) -> bool:
    """Whether the stored safety state holds a pause that lifts by itself in wall time."""
    holds = safety.get("holds") if isinstance(safety, dict) else None
    return isinstance(holds, dict) and any(
        isinstance(hold, dict) and hold.get("clock") == "wall" and hold.get("until_ms")
        for hold in holds.values()
    )


def stored_marker(ctx: ApiContext) -> object:
    """What the status and portfolio answers depend on in the database: the newest run, its
    resume point, the safety state and whether an engine holds the lease alive (settings and
    the catalog do not change while served).

    Without a processed candle the safety clock is the wall clock, on which a timed pause
    expires; an operator's timed pause counts in wall time in any case. The marker then
    includes the wall clock, so such answers are never reused.
    """
    with ctx.home.db.session() as session:
        row = RunRepository(session).latest()
        run = None if row is None else RunInfo.of(row)
        # The head is enough to see a change: every entry booked moves its entry_count.
        resume = None if row is None else read_run_state(session, row.id, entries=False)
        safety = EngineStateRepository(session).get(DEFAULT_STATE_KEY)
        lease = read_lease(session)
    # Whether the engine lives changes with the wall clock alone (a heartbeat that stops).
    engine = None if lease is None else (lease.owner, lease.alive(wall_clock_ms()))
    cursor = resume.get("cursor") if isinstance(resume, dict) else None
    clock = None if cursor and not _timed_wall_hold(safety) else wall_clock_ms()
    # Compared by value (the JSON documents included), never hashed.
    return (run, resume, safety, engine, clock)
