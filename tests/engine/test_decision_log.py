"""StoredDecisionLog: one row per decision, exact money, idempotent saves, history order.

Records are real decisions of the orchestrator over the bundled Binance candles, written to a
real database: SQLite in a temporary folder, and a throwaway PostgreSQL database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sigmax.agents.orchestrator import Orchestrator, build_history
from sigmax.config import Settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import Timeframe
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.engine.decision_log import StoredDecisionLog, usd_cents, without_volatile
from sigmax.errors import InputError
from sigmax.storage import Database
from sigmax.storage.models import DecisionAction, DecisionRow
from storage.conftest import throwaway_postgres_database

HOUR = 3_600_000
#: Candle closes (ms UTC) inside the bundled 1h data.
JUNE_1_NOON = 1_685_620_800_000  # 2023-06-01T12:00:00Z
CREATED_AT = 1_790_000_000_000


class StepClock:
    """A wall clock that moves only when told, so ``created_at_ms`` can be asserted."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture(scope="module")
def orchestrator() -> Orchestrator:
    settings = Settings()
    catalog = DatasetCatalog.bundled()
    histories = {
        symbol: build_history(catalog.load(symbol, Timeframe.H1).series, settings)
        for symbol in ("BTC/USDT", "ETH/USDT")
    }
    # No sink: these tests save the records themselves.
    return Orchestrator(settings, histories.__getitem__)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
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


@pytest.fixture
def clock() -> StepClock:
    return StepClock(CREATED_AT)


@pytest.fixture
def decision_log(database: Database, clock: StepClock) -> StoredDecisionLog:
    return StoredDecisionLog(database, clock)


def rows(database: Database) -> list[DecisionRow]:
    with database.session() as session:
        found = list(session.scalars(select(DecisionRow)))
        # Detach them loaded: closing a read session expires what is still attached.
        session.expunge_all()
        return found


def row_count(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(DecisionRow)) or 0)


async def test_save_writes_one_row_with_every_column(
    orchestrator: Orchestrator, decision_log: StoredDecisionLog, database: Database
) -> None:
    record = await orchestrator.analyze_symbol("BTC/USDT", at_ms=JUNE_1_NOON)
    decision_log.save(record)

    [row] = rows(database)
    assert row.id == record.id
    assert row.run_id is None
    assert (row.symbol, row.timeframe, row.profile) == ("BTC/USDT", "1h", "conservative")
    assert row.decided_at_ms == JUNE_1_NOON
    assert row.data_until_ms == JUNE_1_NOON - HOUR
    assert row.action is DecisionAction(record.decision.value)
    assert row.confidence == pytest.approx(record.confidence)
    assert row.size_usd == usd_cents(record.size_usd)
    assert row.created_at_ms == CREATED_AT
    assert row.record == record.to_dict()
    assert decision_log.get(record.id) == record.to_dict()
    assert decision_log.get("no-such-id") is None


async def test_size_is_stored_as_exact_cents(
    orchestrator: Orchestrator, decision_log: StoredDecisionLog, database: Database
) -> None:
    record = await orchestrator.analyze_symbol("BTC/USDT", at_ms=JUNE_1_NOON)
    sized = replace(record, decision=Action.BUY, size_usd=1234.5678)
    decision_log.save(sized)
    [row] = rows(database)
    assert row.size_usd == Decimal("1234.57")


def test_usd_cents_reads_the_float_as_written() -> None:
    assert usd_cents(12.3) == Decimal("12.30")
    assert usd_cents(10.0) == Decimal("10.00")
    assert usd_cents(0.0) == Decimal("0.00")
    # Half-even, from the decimal text: 0.125 -> 0.12, 0.135 -> 0.14.
    assert usd_cents(0.125) == Decimal("0.12")
    assert usd_cents(0.135) == Decimal("0.14")
    assert str(usd_cents(99999.999)) == "100000.00"


async def test_the_same_decision_saved_twice_keeps_the_first_row(
    orchestrator: Orchestrator,
    decision_log: StoredDecisionLog,
    database: Database,
    clock: StepClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = await orchestrator.analyze_symbol("BTC/USDT", at_ms=JUNE_1_NOON)
    assert decision_log.insert_if_new(first) is True

    # The same decision made again: same id, only the latencies differ.
    again = await orchestrator.analyze_symbol("BTC/USDT", at_ms=JUNE_1_NOON)
    assert again.id == first.id
    clock.now_ms += 60_000
    with caplog.at_level(logging.WARNING, logger="sigmax.engine.decision_log"):
        assert decision_log.insert_if_new(again) is False
        decision_log.save(again)

    assert row_count(database) == 1
    [row] = rows(database)
    assert row.created_at_ms == CREATED_AT
    assert row.record == first.to_dict()
    assert caplog.records == []


async def test_a_different_outcome_under_a_stored_id_is_kept_out_and_reported(
    orchestrator: Orchestrator,
    decision_log: StoredDecisionLog,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = await orchestrator.analyze_symbol("BTC/USDT", at_ms=JUNE_1_NOON)
    decision_log.save(first)
    changed = replace(first, decision=Action.SELL, confidence=0.99)
    with caplog.at_level(logging.WARNING, logger="sigmax.engine.decision_log"):
        decision_log.save(changed)

    assert row_count(database) == 1
    assert decision_log.get(first.id) == first.to_dict()
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    message = warning.getMessage()
    assert first.id in message
    assert f"stored {first.decision.value}, now SELL" in message


async def test_history_is_newest_first_per_symbol_and_bounded(
    orchestrator: Orchestrator, decision_log: StoredDecisionLog
) -> None:
    saved: list[DecisionRecord] = []
    # Saved out of time order: history orders by decision time, not by insertion.
    for symbol, at_ms in [
        ("BTC/USDT", JUNE_1_NOON + HOUR),
        ("ETH/USDT", JUNE_1_NOON + 5 * HOUR),
        ("BTC/USDT", JUNE_1_NOON),
        ("BTC/USDT", JUNE_1_NOON + 2 * HOUR),
    ]:
        record = await orchestrator.analyze_symbol(symbol, at_ms=at_ms)
        decision_log.save(record)
        saved.append(record)

    everything = decision_log.history(None, 10)
    assert [d["timestamp"] for d in everything] == [
        "2023-06-01T17:00:00Z",
        "2023-06-01T14:00:00Z",
        "2023-06-01T13:00:00Z",
        "2023-06-01T12:00:00Z",
    ]
    btc = decision_log.history("btc-usdt", 2)
    assert [d["timestamp"] for d in btc] == ["2023-06-01T14:00:00Z", "2023-06-01T13:00:00Z"]
    assert {d["symbol"] for d in btc} == {"BTC/USDT"}
    assert decision_log.latest("BTC/USDT") == saved[3].to_dict()
    assert decision_log.latest("ETH/USDT") == saved[1].to_dict()
    assert decision_log.latest("SOL/USDT") is None

    for bad_limit in (0, 1001):
        with pytest.raises(InputError, match="limit must be between 1 and 1000"):
            decision_log.history(None, bad_limit)
    with pytest.raises(InputError, match="BASE/QUOTE"):
        decision_log.latest("bitcoin")


async def test_a_saved_decision_survives_reopening_the_database(
    orchestrator: Orchestrator, database_url: str
) -> None:
    record = await orchestrator.analyze_symbol("ETH/USDT", at_ms=JUNE_1_NOON)
    first = Database.open(database_url)
    StoredDecisionLog(first).save(record)
    first.dispose()

    reopened = Database.open(database_url)
    try:
        assert StoredDecisionLog(reopened).latest("ETH/USDT") == record.to_dict()
    finally:
        reopened.dispose()


def test_without_volatile_drops_latency_at_every_depth() -> None:
    document = {
        "latency_ms": 1.0,
        "agents": [{"name": "bull", "latency_ms": 2.0, "details": {"latency_ms": 3}}],
        "nested": {"keep": (1, {"latency_ms": 4, "x": 5})},
    }
    assert without_volatile(document) == {
        "agents": [{"name": "bull", "details": {}}],
        "nested": {"keep": [1, {"x": 5}]},
    }
