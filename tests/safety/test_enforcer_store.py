"""The enforcer's state and journal in the database, on SQLite and on PostgreSQL: a paused
SIGMAX is still paused after a restart, a timed pause still lifts on time, and the state commits
or rolls back with the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sigmax.config.settings import SafetySettings
from sigmax.safety.enforcer import SafetyEnforcer
from sigmax.safety.errors import SafetyStateError
from sigmax.safety.store import SafetyStore
from sigmax.storage.database import Database
from sigmax.storage.errors import IntegrityViolationError
from sigmax.storage.models import RunRow, SafetyEventKind, SafetyEventRow
from sigmax.storage.repositories import EngineStateRepository, SafetyEventRepository
from storage.conftest import throwaway_postgres_database

T0 = 1_679_565_600_000  # 2023-03-23 10:00:00 UTC
HOUR = 3_600_000


class AbandonedStepError(Exception):
    """Raised inside a transaction to make it roll back, as a failing engine step would."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend (it outlives any one Database object)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sigmax.db'}"
        return
    with throwaway_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database.open(database_url)
    yield database
    database.dispose()


def journal(database: Database) -> list[tuple[SafetyEventKind, str | None, int]]:
    with database.session() as session:
        rows = session.scalars(select(SafetyEventRow).order_by(SafetyEventRow.id)).all()
        return [(row.kind, row.trigger, row.occurred_at_ms) for row in rows]


def restarted(database_url: str) -> tuple[Database, SafetyEnforcer]:
    """Open the database anew and rebuild the enforcer from what it holds, as a restart does."""
    database = Database.open(database_url)
    state = SafetyStore(database).load()
    assert state is not None
    return database, SafetyEnforcer(SafetySettings(), state)


def test_nothing_saved_loads_as_none(database: Database) -> None:
    assert SafetyStore(database).load() is None


def test_a_paused_sigmax_is_still_paused_after_a_restart(
    database: Database, database_url: str
) -> None:
    safety = SafetyEnforcer(SafetySettings())
    for i in range(3):
        safety.record_closed_trade("BTC/USDT", Decimal("-1.25"), T0 + i, "stop_loss")
    SafetyStore(database).save(safety.state, safety.take_events())
    database.dispose()

    reopened, again = restarted(database_url)
    try:
        assert again.state == safety.state
        assert again.state.to_json() == safety.state.to_json()
        refusal = again.check_entry("ETH/USDT", T0 + 10 * HOUR)
        assert refusal is not None
        assert refusal.trigger == "consecutive_losses"
        assert journal(reopened) == [
            (SafetyEventKind.COOLDOWN, "stoploss_cooldown", T0),
            (SafetyEventKind.COOLDOWN, "stoploss_cooldown", T0 + 1),
            (SafetyEventKind.TRIGGER, "consecutive_losses", T0 + 2),
            (SafetyEventKind.COOLDOWN, "stoploss_cooldown", T0 + 2),
        ]
        with reopened.session() as session:
            [trigger_row] = [
                row
                for row in SafetyEventRepository(session).recent()
                if row.kind is SafetyEventKind.TRIGGER
            ]
            assert trigger_row.reason == "Consecutive loss limit reached (3)"
            assert trigger_row.details == {
                "symbol": "BTC/USDT",
                "last_pnl": "-1.25",
                "value": 3,
                "threshold": 3,
                "until_ms": None,
            }
    finally:
        reopened.dispose()


def test_a_timed_pause_lifts_on_time_after_a_restart(database: Database, database_url: str) -> None:
    safety = SafetyEnforcer(SafetySettings())
    safety.pause("maintenance", T0, duration_ms=HOUR)
    safety.record_closed_trade("SOL/USDT", Decimal("-3"), T0, "stop_loss")
    SafetyStore(database).save(safety.state, safety.take_events())
    database.dispose()

    reopened, again = restarted(database_url)
    try:
        assert again.state.cooldowns == {"SOL/USDT": T0 + HOUR}
        assert again.check_entry("BTC/USDT", T0 + HOUR - 1) is not None
        assert again.check_entry("BTC/USDT", T0 + HOUR) is None
        assert again.state.cooldowns == {}
        SafetyStore(reopened).save(again.state, again.take_events())
        assert journal(reopened)[-1] == (SafetyEventKind.RESUME, "manual", T0 + HOUR)
        loaded = SafetyStore(reopened).load()
        assert loaded is not None
        assert loaded.holds == {}
    finally:
        reopened.dispose()


def test_save_joins_the_callers_transaction_and_rolls_back_with_it(database: Database) -> None:
    store = SafetyStore(database)
    safety = SafetyEnforcer(SafetySettings())
    safety.panic(T0, "operator")
    events = safety.take_events()

    def failing_step() -> None:
        with database.transaction() as session:
            store.save(safety.state, events, session=session)
            raise AbandonedStepError

    with pytest.raises(AbandonedStepError):
        failing_step()
    assert store.load() is None
    assert journal(database) == []

    with database.transaction() as session:
        session.add(
            RunRow(
                id="run-1",
                mode="paper",
                profile="conservative",
                status="running",
                started_at_ms=T0,
                ended_at_ms=None,
                config={},
            )
        )
        store.save(safety.state, events, session=session)
        # Inside the transaction the caller reads what it wrote.
        loaded = store.load(session)
        assert loaded is not None
        assert "panic" in loaded.holds
    assert journal(database) == [(SafetyEventKind.PANIC, "panic", T0)]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(RunRow)) == 1


def test_each_save_replaces_the_state_and_appends_only_the_new_events(
    database: Database,
) -> None:
    store = SafetyStore(database)
    safety = SafetyEnforcer(SafetySettings())
    safety.pause("first", T0)
    store.save(safety.state, safety.take_events())
    safety.resume(T0 + 1)
    store.save(safety.state, safety.take_events())

    loaded = store.load()
    assert loaded is not None
    assert loaded.holds == {}
    assert loaded.updated_at_ms == T0 + 1
    assert journal(database) == [
        (SafetyEventKind.PAUSE, None, T0),
        (SafetyEventKind.RESUME, None, T0 + 1),
    ]
    with database.session() as session:
        assert set(EngineStateRepository(session).items()) == {"safety"}


def test_states_under_different_keys_are_independent(database: Database) -> None:
    paused = SafetyEnforcer(SafetySettings())
    paused.panic(T0, "run one only")
    SafetyStore(database, key="safety:run-1").save(paused.state)
    assert SafetyStore(database, key="safety:run-2").load() is None
    loaded = SafetyStore(database, key="safety:run-1").load()
    assert loaded is not None
    assert "panic" in loaded.holds


def test_a_damaged_stored_state_is_an_error_not_an_unpaused_start(database: Database) -> None:
    with database.transaction() as session:
        EngineStateRepository(session).set("safety", {"version": 99, "holds": {}}, updated_at_ms=T0)
    with pytest.raises(SafetyStateError, match="version 99 is not supported"):
        SafetyStore(database).load()


# --- Migration 0002 -------------------------------------------------------------------------------


def _event(kind: SafetyEventKind, at_ms: int) -> SafetyEventRow:
    return SafetyEventRow(
        occurred_at_ms=at_ms, kind=kind, trigger=None, reason=kind.value, details={"n": at_ms}
    )


def test_migration_0002_keeps_the_journal_and_admits_cooldown_events(
    database: Database,
) -> None:
    database.downgrade("0001")
    with database.transaction() as session:
        SafetyEventRepository(session).add(_event(SafetyEventKind.PAUSE, T0))
        SafetyEventRepository(session).add(_event(SafetyEventKind.FORCE_RESUME, T0 + 1))
    with pytest.raises(IntegrityViolationError), database.transaction() as session:
        SafetyEventRepository(session).add(_event(SafetyEventKind.COOLDOWN, T0 + 2))

    database.migrate()
    with database.transaction() as session:
        SafetyEventRepository(session).add(_event(SafetyEventKind.COOLDOWN, T0 + 2))
    assert journal(database) == [
        (SafetyEventKind.PAUSE, None, T0),
        (SafetyEventKind.FORCE_RESUME, None, T0 + 1),
        (SafetyEventKind.COOLDOWN, None, T0 + 2),
    ]

    # Downgrading removes only what the older schema cannot hold.
    database.downgrade("0001")
    assert journal(database) == [
        (SafetyEventKind.PAUSE, None, T0),
        (SafetyEventKind.FORCE_RESUME, None, T0 + 1),
    ]
    with database.session() as session:
        details = [row.details for row in SafetyEventRepository(session).recent()]
    assert details == [{"n": T0 + 1}, {"n": T0}]
