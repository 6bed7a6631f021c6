"""Database: URL resolution, connection settings, transactions, exact money, error translation."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from sigmax.errors import InputError, StorageError
from sigmax.storage.database import Database, normalise_database_url, resolve_database_url
from sigmax.storage.errors import (
    DatabaseUnreachableError,
    DuplicateRecordError,
    IntegrityViolationError,
    InvalidDatabaseUrlError,
    ReadOnlySessionError,
)
from sigmax.storage.models import (
    DecisionAction,
    DecisionRow,
    EngineStateRow,
    FillRow,
    OrderPurpose,
    OrderRow,
    OrderSide,
    OrderStatus,
    OrderType,
)
from sigmax.storage.repositories import (
    DecisionRepository,
    EngineStateRepository,
    FillRepository,
    OrderRepository,
)
from sigmax.storage.types import canonical_decimal_text

EXACT_VALUES = [
    Decimal("0.000000012345678901"),
    Decimal("123456789012.123456789012345678"),
    Decimal("99999999999999999999.999999999999999999"),
    Decimal("-99999999999999999999.999999999999999999"),
    Decimal("0.1"),
    Decimal("-0.000000000000000001"),
    Decimal("0"),
    Decimal("1E+19"),
    Decimal("42.500000000000000000000000"),
]


def _order(client_order_id: str, qty: Decimal = Decimal("1"), **changes: object) -> OrderRow:
    order = OrderRow(
        client_order_id=client_order_id,
        decision_id=None,
        venue="paper",
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        type=OrderType.MARKET,
        purpose=OrderPurpose.MANUAL,
        qty=qty,
        price=None,
        filled_qty=Decimal("0"),
        status=OrderStatus.NEW,
        created_at_ms=1_700_000_000_000,
        updated_at_ms=1_700_000_000_000,
    )
    for name, value in changes.items():
        setattr(order, name, value)
    return order


def _decision(
    decision_id: str, *, decided_at_ms: int = 2_000, data_until_ms: int = 1_000
) -> DecisionRow:
    return DecisionRow(
        id=decision_id,
        symbol="BTC/USDT",
        timeframe="1h",
        profile="conservative",
        decided_at_ms=decided_at_ms,
        data_until_ms=data_until_ms,
        action=DecisionAction.BUY,
        confidence=0.7,
        size_usd=Decimal("10"),
        record={"action": "BUY"},
        created_at_ms=decided_at_ms,
    )


def _count_orders(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(OrderRow)) or 0


# --- URL resolution (no database needed) ---------------------------------------------------


def test_database_url_wins_over_postgres_url_and_sqlite(tmp_path: Path) -> None:
    url = resolve_database_url(
        tmp_path, postgres_url="postgresql://a@h1/one", database_url="postgresql://b@h2/two"
    )
    assert url == "postgresql+psycopg://b@h2/two"


def test_postgres_url_is_used_when_database_url_is_unset_or_blank(tmp_path: Path) -> None:
    for database_url in (None, "", "   "):
        url = resolve_database_url(tmp_path, "postgres://u:pw@db:5433/sigmax", database_url)
        assert url == "postgresql+psycopg://u:pw@db:5433/sigmax"


def test_sqlite_file_in_home_is_the_default(tmp_path: Path) -> None:
    url = resolve_database_url(tmp_path)
    assert url == f"sqlite+pysqlite:///{tmp_path.resolve() / 'sigmax.db'}"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///x.db", "sqlite+pysqlite:///x.db"),
        ("sqlite+pysqlite:////abs/x.db", "sqlite+pysqlite:////abs/x.db"),
    ],
)
def test_urls_are_normalised_to_the_installed_drivers(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:hunter2-secret@localhost/sigmax",
        "postgresql+psycopg2://root:hunter2-secret@localhost/sigmax",
        "not a url with hunter2-secret",
    ],
)
def test_unsupported_or_malformed_urls_are_input_errors_without_password(url: str) -> None:
    with pytest.raises(InvalidDatabaseUrlError) as caught:
        Database.open(url)
    assert isinstance(caught.value, StorageError)
    assert isinstance(caught.value, InputError)
    assert caught.value.exit_code == 2
    if "://" in url:
        assert "hunter2-secret" not in str(caught.value)


def test_unreachable_postgres_raises_storage_error_without_password() -> None:
    url = "postgresql://trader:hunter2-secret@127.0.0.1:1/sigmax"
    with pytest.raises(DatabaseUnreachableError) as caught:
        Database.open(url)
    message = str(caught.value)
    assert isinstance(caught.value, StorageError)
    assert "hunter2-secret" not in message
    assert "trader:***@127.0.0.1:1/sigmax" in message
    assert caught.value.__cause__ is None  # the driver error (and its repr) is not chained


def test_sqlite_creates_a_missing_home_directory(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    database = Database.open(resolve_database_url(home))
    try:
        assert (home / "sigmax.db").is_file()
    finally:
        database.dispose()


def test_sqlite_home_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseUnreachableError, match="cannot create the directory"):
        Database.open(resolve_database_url(blocker / "home"))


def test_sqlite_pragmas_are_set_on_every_connection(tmp_path: Path) -> None:
    database = Database.open(resolve_database_url(tmp_path))
    try:
        with database.engine.connect() as first, database.engine.connect() as second:
            for connection in (first, second):
                pragma = connection.exec_driver_sql
                assert pragma("PRAGMA journal_mode").scalar() == "wal"
                assert pragma("PRAGMA foreign_keys").scalar() == 1
                assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
                assert pragma("PRAGMA busy_timeout").scalar() == 5000
    finally:
        database.dispose()


def test_sqlite_stores_money_as_exact_text(tmp_path: Path) -> None:
    database = Database.open(resolve_database_url(tmp_path))
    try:
        with database.transaction() as session:
            OrderRepository(session).add(_order("a", qty=Decimal("0.000000012345678901")))
        with database.engine.connect() as connection:
            row = connection.execute(text("SELECT typeof(qty), qty FROM orders")).one()
        assert tuple(row) == ("text", "0.000000012345678901")
    finally:
        database.dispose()


def test_a_second_sqlite_writer_waits_for_the_first_instead_of_failing(tmp_path: Path) -> None:
    # Both writers read before they write. With a deferred BEGIN the second would fail at once
    # with "database is locked"; BEGIN IMMEDIATE makes it wait (busy_timeout) and then succeed.
    database = Database.open(resolve_database_url(tmp_path))
    first_has_lock = threading.Event()
    errors: list[BaseException] = []

    def first_writer() -> None:
        try:
            with database.transaction() as session:
                OrderRepository(session).add(_order("first"))
                first_has_lock.set()
                threading.Event().wait(0.3)
        except BaseException as exc:
            errors.append(exc)
            first_has_lock.set()

    try:
        thread = threading.Thread(target=first_writer)
        thread.start()
        assert first_has_lock.wait(10)
        with database.transaction() as session:
            orders = OrderRepository(session)
            assert orders.get_by_client_id("second") is None
            orders.add(_order("second"))
        thread.join(10)
        assert errors == []
        assert _count_orders(database) == 2
    finally:
        database.dispose()


# --- both backends ------------------------------------------------------------------------


def test_open_migrates_to_head(db: Database) -> None:
    assert db.current_revision() == Database.head_revision()


def test_url_property_hides_the_password(db: Database) -> None:
    assert db.url.startswith(("sqlite+pysqlite:///", "postgresql+psycopg://"))
    assert db.backend in ("sqlite", "postgresql")


def test_money_round_trips_exactly(db: Database) -> None:
    with db.transaction() as session:
        orders = OrderRepository(session)
        for number, value in enumerate(EXACT_VALUES):
            orders.add(_order(f"exact-{number}", qty=value, price=value))
    with db.session() as session:
        orders = OrderRepository(session)
        for number, value in enumerate(EXACT_VALUES):
            stored = orders.get_by_client_id(f"exact-{number}")
            assert stored is not None
            assert (stored.qty, stored.price) == (value, value)
            # No float anywhere: the digits that come back are the digits that went in.
            assert format(stored.qty, "f") == canonical_decimal_text(value)
            # Equality in SQL works too: both backends compare the same canonical value.
            found = session.scalar(select(OrderRow.client_order_id).where(OrderRow.qty == value))
            assert found == f"exact-{number}"


MONEY_REFUSED = [
    (Decimal("0.0000000000000000001"), "more than 18 fractional digits"),
    (Decimal("100000000000000000000"), "more than 20 integer digits"),
    (Decimal("NaN"), "finite"),
    (Decimal("Infinity"), "finite"),
    (0.1, "must be a decimal.Decimal"),
]


def test_money_that_cannot_be_stored_exactly_is_refused_not_rounded(db: Database) -> None:
    for value, rule in MONEY_REFUSED:
        with pytest.raises(StorageError, match=rule), db.transaction() as session:
            OrderRepository(session).add(_order("inexact", qty=value))  # type: ignore[arg-type]
    assert _count_orders(db) == 0


def test_transaction_commits_on_success(db: Database) -> None:
    with db.transaction() as session:
        DecisionRepository(session).add(_decision("d-1"))
        OrderRepository(session).add(_order("c-1", decision_id="d-1"))
    with db.session() as session:
        assert DecisionRepository(session).get("d-1") is not None
        assert OrderRepository(session).get_by_client_id("c-1") is not None


def test_transaction_that_raises_leaves_nothing_written(db: Database) -> None:
    class VenueDownError(Exception):
        pass

    def record_decision_then_fail() -> None:
        with db.transaction() as session:
            DecisionRepository(session).add(_decision("d-1"))
            OrderRepository(session).add(_order("c-1", decision_id="d-1"))
            raise VenueDownError

    with pytest.raises(VenueDownError):
        record_decision_then_fail()
    with db.session() as session:
        assert DecisionRepository(session).get("d-1") is None
        assert OrderRepository(session).get_by_client_id("c-1") is None


def test_duplicate_client_order_id_is_rejected_with_a_clear_error(db: Database) -> None:
    with db.transaction() as session:
        OrderRepository(session).add(_order("sigmax-d1-0", qty=Decimal("1")))
    with (
        pytest.raises(DuplicateRecordError, match="client_order_id") as caught,
        db.transaction() as session,
    ):
        OrderRepository(session).add(_order("sigmax-d1-0", qty=Decimal("2")))
    assert str(caught.value).startswith("duplicate record rejected:")
    with db.session() as session:
        kept = OrderRepository(session).get_by_client_id("sigmax-d1-0")
        assert kept is not None
        assert kept.qty == Decimal("1")
    assert _count_orders(db) == 1


def test_foreign_keys_are_enforced(db: Database) -> None:
    fill = FillRow(
        order_id=999_999,
        trade_seq=1,
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        qty=Decimal("1"),
        price=Decimal("1"),
        fee=Decimal("0"),
        fee_currency="USDT",
        realized_pnl=Decimal("0"),
        filled_at_ms=1,
    )
    with pytest.raises(IntegrityViolationError) as caught, db.transaction() as session:
        FillRepository(session).add(fill)
    assert not isinstance(caught.value, DuplicateRecordError)


def test_a_decision_cannot_see_data_from_after_it_was_made(db: Database) -> None:
    with pytest.raises(IntegrityViolationError, match="no_look_ahead"), db.transaction() as s:
        DecisionRepository(s).add(_decision("future", decided_at_ms=1_000, data_until_ms=1_001))


def test_enum_values_outside_the_set_are_refused_by_the_database(db: Database) -> None:
    with db.transaction() as session:
        OrderRepository(session).add(_order("a"))
    with pytest.raises(IntegrityViolationError), db.transaction() as session:
        session.execute(text("UPDATE orders SET status = 'lost'"))


def test_read_session_refuses_writes(db: Database) -> None:
    with db.session() as session:
        session.add(EngineStateRow(key="k", value=1, updated_at_ms=1))
        with pytest.raises(ReadOnlySessionError):
            session.flush()
    with db.session() as session:
        assert session.get(EngineStateRow, "k") is None


def test_json_documents_refuse_nan(db: Database) -> None:
    with pytest.raises(StorageError, match="not JSON compliant"), db.transaction() as session:
        EngineStateRepository(session).set("k", {"x": float("nan")}, updated_at_ms=1)
    with pytest.raises(StorageError, match="Decimal"), db.transaction() as session:
        EngineStateRepository(session).set("k", {"x": Decimal("1")}, updated_at_ms=1)
