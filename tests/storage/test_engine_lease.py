"""The engine lease on SQLite and PostgreSQL: one holder per home, a dead holder known dead."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from sqlalchemy import update

from sigmax.engine import lease as lease_module
from sigmax.engine.lease import (
    STALE_AFTER_MS,
    EngineLease,
    LeaseHeldError,
    LeaseLostError,
    engine_alive,
    read_lease,
)
from sigmax.engine.run_store import STATE_KEY, RunStore, StepWrite
from sigmax.storage.database import Database
from sigmax.storage.models import EngineLeaseRow, RunMode, RunStatus
from sigmax.storage.repositories import EngineStateRepository, RunRepository


@pytest.fixture
def db(db_url: str) -> Database:
    database = Database.open(db_url)
    yield database  # type: ignore[misc]
    database.dispose()


def _age(db: Database, by_ms: int) -> None:
    """Move the stored heartbeat ``by_ms`` into the past, as a holder that stopped would."""
    with db.transaction() as session:
        session.execute(
            update(EngineLeaseRow).values(heartbeat_ms=EngineLeaseRow.heartbeat_ms - by_ms)
        )


def test_a_second_holder_is_refused_naming_the_first(db: Database) -> None:
    first = EngineLease.acquire(db, "run-a")
    with pytest.raises(LeaseHeldError) as refused:
        EngineLease.acquire(db, "run-b")
    message = str(refused.value)
    assert f"pid {os.getpid()} on {socket.gethostname()} since " in message
    assert "run run-a" in message
    assert refused.value.exit_code == 2
    alive = engine_alive(db)
    assert alive is not None
    assert alive.holder == "run-a"
    first.release()
    assert engine_alive(db) is None
    EngineLease.acquire(db, "run-b").release()


def test_a_lease_whose_heartbeat_stopped_is_stale_and_taken_over(db: Database) -> None:
    first = EngineLease.acquire(db, "run-a")
    _age(db, STALE_AFTER_MS + 1_000)
    assert engine_alive(db) is None
    second = EngineLease.acquire(db, "run-b")
    # The first holder learns that it lost the lease at its next heartbeat.
    assert not first.renew()
    assert second.renew()
    first.release()  # releases nothing of the second holder's
    with db.session() as session:
        stored = read_lease(session)
    assert stored is not None
    assert stored.holder == "run-b"
    second.release()


def test_a_holder_whose_process_is_gone_is_stale_at_once(db: Database) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    held = EngineLease.acquire(db, "run-a")
    with db.transaction() as session:
        session.execute(update(EngineLeaseRow).values(pid=int(gone.stdout)))
    assert engine_alive(db) is None  # the heartbeat is fresh, but its process has exited
    EngineLease.acquire(db, "run-b").release()
    held.release()


def test_the_heartbeat_is_renewed_from_a_timer(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lease_module, "HEARTBEAT_S", 0.05)
    held = EngineLease.acquire(db, "run-a")
    _age(db, STALE_AFTER_MS + 1_000)
    held.start_heartbeat()
    deadline = time.monotonic() + 5
    while engine_alive(db) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine_alive(db) is not None
    held.release()
    assert engine_alive(db) is None


def test_a_holder_that_lost_the_lease_writes_no_step_and_no_status(db: Database) -> None:
    """The heartbeat notices a take-over only every few seconds; each commit is fenced, so a
    process whose lease was taken over cannot write a step (or its end) over the new holder's."""
    first = EngineLease.acquire(db, "run-a")
    store = RunStore(db, "run-a", fence=first.fence)
    store.start(RunMode.REPLAY, "balanced", {"symbols": ["BTC/USDT"]})
    store.commit(StepWrite(), {"cursor": {"BTC/USDT": 1}}, 1)
    _age(db, STALE_AFTER_MS + 1_000)
    second = EngineLease.acquire(db, "run-a")
    with pytest.raises(LeaseLostError):
        store.commit(StepWrite(), {"cursor": {"BTC/USDT": 2}}, 2)
    assert first.lost
    with pytest.raises(LeaseLostError):
        store.finish(RunStatus.INTERRUPTED)
    with db.session() as session:
        state = EngineStateRepository(session).get(STATE_KEY.format(run_id="run-a"))
        run = RunRepository(session).get("run-a")
        assert run is not None
        assert run.status is RunStatus.RUNNING
    assert state == {"cursor": {"BTC/USDT": 1}}
    second.release()
