"""The engine lease: one engine per SIGMAX_HOME, and a dead one known to be dead.

A ``sigmax run`` takes the lease (one ``engine_lease`` row: pid, host, start time, a random
owner id) before it migrates nothing further, reads nothing and replays nothing, and renews its
heartbeat every :data:`HEARTBEAT_S` seconds from a timer thread, never per candle, so a
full-speed replay does not pay for it. The lease is *alive* while its heartbeat is younger than
:data:`STALE_AFTER_MS` and, on this host, its process exists; otherwise it is *stale*: the run
it names died (kill -9, a power cut) and nothing applies the operator's commands. A second
process finds an alive lease and is refused, naming the holder; a stale lease is taken over.

The CLI takes the lease too while it applies a command with no engine running, so a run starting
at that moment waits for it (it is refused, and the same command run again resumes after it).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from sigmax.domain.candles import ms_to_iso
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.errors import InputError, SigmaxError
from sigmax.storage.errors import DuplicateRecordError
from sigmax.storage.models import EngineLeaseRow

if TYPE_CHECKING:
    # Only named in signatures: the database layer (and Alembic) is not imported for it.
    from sigmax.storage.database import Database

log = logging.getLogger("sigmax.engine")

#: The one lease of a home.
LEASE_NAME: Final = "engine"
#: How often the holder renews its heartbeat (wall-clock seconds).
HEARTBEAT_S: Final = 2.0
#: A heartbeat older than this (ms) means its process stopped renewing it: dead or stuck.
STALE_AFTER_MS: Final = 10_000


class LeaseLostError(SigmaxError):
    """This process no longer holds the engine lease: another one took it over, so nothing
    this one would write may reach the store."""


class LeaseHeldError(InputError):
    """Another live process holds the engine lease of this home (exit 2)."""


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """The lease as stored, copied out of the session."""

    owner: str
    holder: str
    pid: int
    host: str
    started_at_ms: int
    heartbeat_ms: int

    @classmethod
    def of(cls, row: EngineLeaseRow) -> LeaseInfo:
        return cls(row.owner, row.holder, row.pid, row.host, row.started_at_ms, row.heartbeat_ms)

    def alive(self, now_ms: int) -> bool:
        """Renewed recently and, when on this host, its process still exists."""
        if now_ms - self.heartbeat_ms > STALE_AFTER_MS:
            return False
        return self.host != socket.gethostname() or pid_exists(self.pid)

    def describe(self) -> str:
        """``pid 123 on host-a since 2026-12-01T10:00:00Z (run abc...)``."""
        return (
            f"pid {self.pid} on {self.host} since {ms_to_iso(self.started_at_ms)} "
            f"({self._what()}, last heartbeat {ms_to_iso(self.heartbeat_ms)})"
        )

    def _what(self) -> str:
        return (
            "an operator command with no engine running"
            if self.holder == CLI_HOLDER
            else (f"run {self.holder}")
        )

    def as_json(self, now_ms: int) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "pid": self.pid,
            "host": self.host,
            "since": ms_to_iso(self.started_at_ms),
            "heartbeat": ms_to_iso(self.heartbeat_ms),
            "alive": self.alive(now_ms),
        }


#: The holder name of the CLI while it applies a command with no engine running.
CLI_HOLDER: Final = "cli"


def pid_exists(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (signal 0 sends nothing)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def read_lease(session: Session) -> LeaseInfo | None:
    """The stored lease of the home, alive or stale, or None when no process holds it."""
    row = session.get(EngineLeaseRow, LEASE_NAME)
    return None if row is None else LeaseInfo.of(row)


def engine_alive(db: Database, now_ms: int | None = None) -> LeaseInfo | None:
    """The lease when a live process holds it, else None."""
    with db.session() as session:
        lease = read_lease(session)
    now = wall_clock_ms() if now_ms is None else now_ms
    return lease if lease is not None and lease.alive(now) else None


class EngineLease:
    """The lease held by this process: acquire, renew from a timer thread, release."""

    def __init__(self, db: Database, info: LeaseInfo) -> None:
        self.db = db
        self.info = info
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_lost: Callable[[], None] | None = None

    @classmethod
    def acquire(cls, db: Database, holder: str) -> EngineLease:
        """Take the home's lease for ``holder`` or raise :class:`LeaseHeldError` naming the
        live process that holds it. A stale lease (its process died) is taken over."""
        now = wall_clock_ms()
        info = LeaseInfo(
            owner=uuid.uuid4().hex,
            holder=holder,
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at_ms=now,
            heartbeat_ms=now,
        )
        try:
            with db.transaction() as session:
                # FOR UPDATE on PostgreSQL; SQLite's writer already holds the database lock.
                row = session.get(EngineLeaseRow, LEASE_NAME, with_for_update=True)
                if row is not None:
                    current = LeaseInfo.of(row)
                    if current.alive(now):
                        raise _held(current)
                    log.warning(
                        "taking over the engine lease of a process that stopped: %s",
                        current.describe(),
                    )
                    session.delete(row)
                    session.flush()
                session.add(
                    EngineLeaseRow(
                        name=LEASE_NAME,
                        owner=info.owner,
                        holder=info.holder,
                        pid=info.pid,
                        host=info.host,
                        started_at_ms=info.started_at_ms,
                        heartbeat_ms=info.heartbeat_ms,
                    )
                )
        except DuplicateRecordError:
            # Another process inserted the lease between our read and our insert.
            with db.session() as session:
                current_or_none = read_lease(session)
            if current_or_none is None:
                raise
            raise _held(current_or_none) from None
        return cls(db, info)

    def renew(self) -> bool:
        """Write a new heartbeat; False when the lease is no longer ours (taken over)."""
        with self.db.transaction() as session:
            changed = session.execute(
                update(EngineLeaseRow)
                .where(EngineLeaseRow.name == LEASE_NAME, EngineLeaseRow.owner == self.info.owner)
                .values(heartbeat_ms=wall_clock_ms())
            )
            return bool(getattr(changed, "rowcount", 0))

    def fence(self, session: Session) -> None:
        """Inside a write transaction: prove the lease is still ours (renewing it), or raise
        :class:`LeaseLostError` so the transaction rolls back. The heartbeat thread only
        notices a take-over every few seconds; fencing each commit means a process that lost
        the lease can never write a step over the new holder's."""
        changed = session.execute(
            update(EngineLeaseRow)
            .where(EngineLeaseRow.name == LEASE_NAME, EngineLeaseRow.owner == self.info.owner)
            .values(heartbeat_ms=wall_clock_ms())
        )
        if not getattr(changed, "rowcount", 0):
            self.lost = True
            raise LeaseLostError(
                "another process took over the engine lease of this home; this run's last step "
                "was not written and it stops (what it committed before is kept)"
            )

    def start_heartbeat(self, on_lost: Callable[[], None] | None = None) -> None:
        """Renew every :data:`HEARTBEAT_S` on a daemon thread until :meth:`release`.

        ``on_lost`` is called (from that thread) once if another process took the lease over:
        this one must stop, it no longer owns the account."""
        self._on_lost = on_lost
        self._thread = threading.Thread(
            target=self._beat, name="sigmax-lease-heartbeat", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                owned = self.renew()
            except Exception as error:  # a busy or unreachable database: try again next beat
                log.warning("engine lease heartbeat not written: %s", error)
                continue
            if not owned:
                self.lost = True
                log.error("ERROR the engine lease was taken over by another process; stopping")
                if self._on_lost is not None:
                    self._on_lost()
                return

    def release(self) -> None:
        """Stop the heartbeat and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=HEARTBEAT_S * 5)
        with self.db.transaction() as session:
            session.execute(
                delete(EngineLeaseRow).where(
                    EngineLeaseRow.name == LEASE_NAME, EngineLeaseRow.owner == self.info.owner
                )
            )


def _held(current: LeaseInfo) -> LeaseHeldError:
    return LeaseHeldError(
        f"SIGMAX_HOME already has a running engine: {current.describe()}; stop it first "
        "(Ctrl-C or SIGTERM), or wait for it to finish"
    )
