"""A run's ledger is stored as a head in the resume point and its entries in ``ledger_entries``,
each inserted once by the commit that booked it; every reader puts the two back together."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import Fill, Liquidity, OrderSide
from sigmax.engine.assembly import restored_ledger
from sigmax.engine.resume import ResumePoint, ResumePointError
from sigmax.engine.run_store import STATE_KEY, RunStore, StepWrite, read_run_state
from sigmax.ops.resume import read_resume_point, write_ledger
from sigmax.storage.database import Database
from sigmax.storage.models import LedgerEntryRow, RunMode
from sigmax.storage.repositories import EngineStateRepository

RUN = "run-ledger"
T0 = 1_700_000_000_000  # 2023-11-14 22:13 UTC; every fill below stays inside that UTC day


def _fill(ledger: Ledger, index: int) -> None:
    """Alternately buy and sell 0.01 BTC, a minute apart (one UTC day for 60 fills)."""
    side = OrderSide.BUY if index % 2 == 0 else OrderSide.SELL
    ledger.apply_fill(
        Fill(
            client_order_id=f"sgx-test-{index}",
            symbol="BTC/USDT",
            side=side,
            qty=Decimal("0.01"),
            price=Decimal(30_000 + index),
            fee=Decimal("0.3"),
            timestamp_ms=T0 + index * 1_000,
            liquidity=Liquidity.TAKER,
        )
    )


def _state(ledger: Ledger) -> dict[str, Any]:
    return {
        "ledger": ledger.snapshot_head(),
        "venue": None,
        "cursor": {"BTC/USDT": T0},
        "marks": {},
    }


def _stored_head(db: Database) -> Any:
    with db.session() as session:
        return EngineStateRepository(session).get(STATE_KEY.format(run_id=RUN))


def _stored_rows(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(LedgerEntryRow)) or 0


def _started(db: Database) -> RunStore:
    store = RunStore(db, RUN)
    store.start(RunMode.REPLAY, "balanced", {"symbols": ["BTC/USDT"]})
    return store


def test_the_stored_resume_point_does_not_grow_with_the_entries(db: Database) -> None:
    store = _started(db)
    ledger = Ledger(Decimal(10_000))
    sizes = {}
    for index in range(60):
        _fill(ledger, index)
        store.commit(StepWrite(), _state(ledger), T0, ledger=ledger)
        if index + 1 in (10, 60):
            head = _stored_head(db)
            assert "entries" not in head["ledger"]
            assert head["ledger"]["entry_count"] == index + 1
            sizes[index + 1] = len(json.dumps(head, sort_keys=True))
    # Six times the entries, the same head: only a few more digits in the totals.
    assert sizes[60] - sizes[10] < 16, sizes
    assert _stored_rows(db) == 60
    with db.session() as session:
        state = read_run_state(session, RUN)
    assert state is not None
    assert state["ledger"] == json.loads(json.dumps(ledger.snapshot()))
    assert restored_ledger(ResumePoint.from_json(state)).snapshot() == ledger.snapshot()


def test_each_commit_inserts_only_what_was_booked_since_and_a_new_store_finds_its_place(
    db: Database,
) -> None:
    store = _started(db)
    ledger = Ledger(Decimal(10_000))
    for index in range(3):
        _fill(ledger, index)
    store.commit(StepWrite(), _state(ledger), T0, ledger=ledger)
    # A commit with nothing booked inserts nothing (the primary key would refuse a repeat).
    store.commit(StepWrite(), _state(ledger), T0, ledger=ledger)
    assert _stored_rows(db) == 3
    # A restarted process: its store learns from the table how many entries it holds.
    with db.session() as session:
        state = read_run_state(session, RUN)
    assert state is not None
    resumed = Ledger.restore(state["ledger"])
    for index in range(3, 5):
        _fill(resumed, index)
    RunStore(db, RUN).commit(StepWrite(), _state(resumed), T0, ledger=resumed)
    assert _stored_rows(db) == 5
    with db.session() as session:
        point = read_resume_point(session, RUN)
    assert point is not None
    assert [e.sequence for e in point.ledger().entries] == [0, 1, 2, 3, 4]


def test_a_failed_commit_writes_neither_the_head_nor_the_entries(db: Database) -> None:
    store = _started(db)
    ledger = Ledger(Decimal(10_000))
    _fill(ledger, 0)
    store.commit(StepWrite(), _state(ledger), T0, ledger=ledger)
    _fill(ledger, 1)
    _fill(ledger, 2)

    def refuse(_: object) -> None:
        raise RuntimeError("lease lost")

    store._fence = refuse
    with pytest.raises(RuntimeError, match="lease lost"):
        store.commit(StepWrite(), _state(ledger), T0 + 1, ledger=ledger)
    assert _stored_rows(db) == 1
    assert _stored_head(db)["ledger"]["entry_count"] == 1
    store._fence = None
    store.commit(StepWrite(), _state(ledger), T0 + 2, ledger=ledger)
    assert _stored_rows(db) == 3
    assert _stored_head(db)["ledger"]["entry_count"] == 3


def test_a_head_that_disagrees_with_the_stored_entries_is_refused_naming_both_counts(
    db: Database,
) -> None:
    store = _started(db)
    ledger = Ledger(Decimal(10_000))
    for index in range(4):
        _fill(ledger, index)
    store.commit(StepWrite(), _state(ledger), T0, ledger=ledger)
    with db.transaction() as session:
        session.execute(delete(LedgerEntryRow).where(LedgerEntryRow.sequence == 3))
    with db.session() as session, pytest.raises(ResumePointError) as refused:
        read_run_state(session, RUN)
    message = str(refused.value)
    assert RUN in message
    assert "counts 4 entries" in message
    assert "holds 3" in message


def test_a_commit_refuses_a_whole_ledger_in_the_resume_point_or_a_head_without_its_ledger(
    db: Database,
) -> None:
    store = _started(db)
    ledger = Ledger(Decimal(10_000))
    _fill(ledger, 0)
    with pytest.raises(ResumePointError, match="must be the head"):
        store.commit(StepWrite(), {"ledger": ledger.snapshot()}, T0, ledger=ledger)
    with pytest.raises(ResumePointError, match="counts 1 entries"):
        store.commit(StepWrite(), _state(ledger), T0)
    assert _stored_head(db) is None
    assert _stored_rows(db) == 0


def test_a_ledger_rebuilt_by_the_operations_replaces_head_and_entries(db: Database) -> None:
    store = _started(db)
    ledger = Ledger(Decimal(10_000))
    for index in range(4):
        _fill(ledger, index)
    store.commit(StepWrite(), _state(ledger), T0, ledger=ledger)
    rebuilt = Ledger(Decimal(10_000))
    for index in range(2):
        _fill(rebuilt, index)
    with db.transaction() as session:
        point = read_resume_point(session, RUN)
        assert point is not None
        write_ledger(session, point, rebuilt, T0 + 5)
    assert _stored_rows(db) == 2
    with db.session() as session:
        again = read_resume_point(session, RUN)
    assert again is not None
    assert again.ledger().snapshot() == rebuilt.snapshot()
    assert again.cursor == {"BTC/USDT": T0}
