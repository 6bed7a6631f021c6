"""Thin, typed access to each table. No business logic: callers decide, repositories store.

Each repository wraps a :class:`~sqlalchemy.orm.Session` from
:meth:`~sigmax.storage.database.Database.transaction` (writes) or
:meth:`~sigmax.storage.database.Database.session` (reads)::

    with db.transaction() as session:
        orders = OrderRepository(session)
        if orders.get_by_client_id(client_id) is None:
            orders.add(OrderRow(...))

``add`` flushes, so database-assigned ids are set on return and a duplicate key fails at the
call that caused it (as :class:`~sigmax.storage.errors.DuplicateRecordError` once the
transaction context translates it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from sigmax.storage.models import (
    DecisionRow,
    EngineStateRow,
    EquitySnapshotRow,
    FillRow,
    InstrumentRow,
    LedgerEntryRow,
    OrderRow,
    PositionRow,
    RunRow,
    SafetyEventRow,
)


def _check_limit(limit: int) -> int:
    if limit < 1:
        raise ValueError(f"limit must be at least 1 (got {limit})")
    return limit


class InstrumentRepository:
    """Instruments by symbol."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, symbol: str) -> InstrumentRow | None:
        """The instrument for ``symbol``, or ``None``."""
        return self._session.scalars(
            select(InstrumentRow).where(InstrumentRow.symbol == symbol)
        ).one_or_none()

    def list(self, *, active_only: bool = False) -> Sequence[InstrumentRow]:
        """All instruments ordered by symbol; only tradable ones with ``active_only``."""
        query = select(InstrumentRow).order_by(InstrumentRow.symbol)
        if active_only:
            query = query.where(InstrumentRow.active.is_(True))
        return self._session.scalars(query).all()

    def upsert(self, instrument: InstrumentRow) -> InstrumentRow:
        """Insert ``instrument`` or overwrite the stored one with the same symbol."""
        existing = self.get(instrument.symbol)
        if existing is None:
            self._session.add(instrument)
            self._session.flush()
            return instrument
        for column in InstrumentRow.__table__.columns:
            if column.key != "id":
                setattr(existing, column.key, getattr(instrument, column.key))
        self._session.flush()
        return existing


class RunRepository:
    """Engine runs."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, run: RunRow) -> RunRow:
        """Record a new run."""
        self._session.add(run)
        self._session.flush()
        return run

    def get(self, run_id: str) -> RunRow | None:
        """The run with ``run_id``, or ``None``."""
        return self._session.get(RunRow, run_id)

    def latest(self) -> RunRow | None:
        """The most recently started run, or ``None``."""
        return self._session.scalars(
            select(RunRow).order_by(RunRow.started_at_ms.desc(), RunRow.id.desc()).limit(1)
        ).first()


class DecisionRepository:
    """Decisions and their full records."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, decision: DecisionRow) -> DecisionRow:
        """Record a decision; its id must be new."""
        self._session.add(decision)
        self._session.flush()
        return decision

    def get(self, decision_id: str) -> DecisionRow | None:
        """The decision with ``decision_id``, or ``None``."""
        return self._session.get(DecisionRow, decision_id)

    def latest_for_symbol(self, symbol: str) -> DecisionRow | None:
        """The newest decision for ``symbol``, or ``None``."""
        newest = self.list(symbol, limit=1)
        return newest[0] if newest else None

    def list(self, symbol: str | None = None, limit: int = 50) -> Sequence[DecisionRow]:
        """Up to ``limit`` decisions, newest first, for one symbol or all."""
        query = select(DecisionRow).order_by(
            DecisionRow.decided_at_ms.desc(), DecisionRow.created_at_ms.desc(), DecisionRow.id
        )
        if symbol is not None:
            query = query.where(DecisionRow.symbol == symbol)
        return self._session.scalars(query.limit(_check_limit(limit))).all()


class OrderRepository:
    """Orders, found by their idempotency key ``client_order_id``."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, order: OrderRow) -> OrderRow:
        """Record a new order; a repeated ``client_order_id`` is rejected by the database."""
        self._session.add(order)
        self._session.flush()
        return order

    def get(self, order_id: int) -> OrderRow | None:
        """The order with database id ``order_id``, or ``None``."""
        return self._session.get(OrderRow, order_id)

    def get_by_client_id(self, client_order_id: str) -> OrderRow | None:
        """The order with ``client_order_id``, or ``None``."""
        return self._session.scalars(
            select(OrderRow).where(OrderRow.client_order_id == client_order_id)
        ).one_or_none()

    def list_for_decision(self, decision_id: str) -> Sequence[OrderRow]:
        """Orders caused by one decision, oldest first."""
        return self._session.scalars(
            select(OrderRow).where(OrderRow.decision_id == decision_id).order_by(OrderRow.id)
        ).all()


class FillRepository:
    """Fills of orders."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, fill: FillRow) -> FillRow:
        """Record a fill; a repeated ``(order_id, trade_seq)`` is rejected by the database."""
        self._session.add(fill)
        self._session.flush()
        return fill

    def list(self, *, order_id: int | None = None, symbol: str | None = None) -> Sequence[FillRow]:
        """Fills in time order, optionally for one order or one symbol."""
        query = select(FillRow).order_by(FillRow.filled_at_ms, FillRow.id)
        if order_id is not None:
            query = query.where(FillRow.order_id == order_id)
        if symbol is not None:
            query = query.where(FillRow.symbol == symbol)
        return self._session.scalars(query).all()


class PositionRepository:
    """Current positions by symbol."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, symbol: str) -> PositionRow | None:
        """The position in ``symbol``, or ``None`` when there never was one."""
        return self._session.scalars(
            select(PositionRow).where(PositionRow.symbol == symbol)
        ).one_or_none()

    def list(self) -> Sequence[PositionRow]:
        """All positions ordered by symbol, flat ones included."""
        return self._session.scalars(select(PositionRow).order_by(PositionRow.symbol)).all()

    def upsert(self, position: PositionRow) -> PositionRow:
        """Insert ``position`` or overwrite the stored one with the same symbol."""
        existing = self.get(position.symbol)
        if existing is None:
            self._session.add(position)
            self._session.flush()
            return position
        for column in PositionRow.__table__.columns:
            if column.key != "id":
                setattr(existing, column.key, getattr(position, column.key))
        self._session.flush()
        return existing


class SafetyEventRepository:
    """The safety enforcer's journal."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, event: SafetyEventRow) -> SafetyEventRow:
        """Record an event."""
        self._session.add(event)
        self._session.flush()
        return event

    def recent(self, limit: int = 50) -> Sequence[SafetyEventRow]:
        """Up to ``limit`` events, newest first."""
        return self._session.scalars(
            select(SafetyEventRow)
            .order_by(SafetyEventRow.occurred_at_ms.desc(), SafetyEventRow.id.desc())
            .limit(_check_limit(limit))
        ).all()


class EquitySnapshotRepository:
    """The equity curve."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, snapshot: EquitySnapshotRow) -> EquitySnapshotRow:
        """Record a snapshot."""
        self._session.add(snapshot)
        self._session.flush()
        return snapshot

    def series(
        self,
        *,
        run_id: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> Sequence[EquitySnapshotRow]:
        """Snapshots in time order; bounds are inclusive, ``run_id`` narrows to one run."""
        query = select(EquitySnapshotRow).order_by(
            EquitySnapshotRow.taken_at_ms, EquitySnapshotRow.id
        )
        if run_id is not None:
            query = query.where(EquitySnapshotRow.run_id == run_id)
        if since_ms is not None:
            query = query.where(EquitySnapshotRow.taken_at_ms >= since_ms)
        if until_ms is not None:
            query = query.where(EquitySnapshotRow.taken_at_ms <= until_ms)
        return self._session.scalars(query).all()


class EngineStateRepository:
    """Key-value state for crash-resume (JSON values)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, key: str) -> Any | None:
        """The value stored under ``key``, or ``None`` when there is none."""
        row = self._session.get(EngineStateRow, key)
        return None if row is None else row.value

    def set(self, key: str, value: Any, *, updated_at_ms: int) -> None:
        """Store ``value`` (any JSON value except null) under ``key``, replacing what was there."""
        if value is None:
            raise ValueError(f"engine state {key!r}: value must not be None; use delete()")
        row = self._session.get(EngineStateRow, key)
        if row is None:
            self._session.add(EngineStateRow(key=key, value=value, updated_at_ms=updated_at_ms))
        else:
            row.value = value
            row.updated_at_ms = updated_at_ms
            # SQLAlchemy does not track in-place changes to a JSON value, and a caller may pass
            # back the very dict it read and mutated; mark it changed so the UPDATE never
            # depends on which other columns happened to change.
            flag_modified(row, "value")
        self._session.flush()

    def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it existed."""
        row = self._session.get(EngineStateRow, key)
        if row is None:
            return False
        self._session.delete(row)
        self._session.flush()
        return True

    def items(self, prefix: str = "") -> dict[str, Any]:
        """Every key starting with ``prefix`` and its value, ordered by key."""
        query = select(EngineStateRow).order_by(EngineStateRow.key)
        if prefix:
            query = query.where(EngineStateRow.key.startswith(prefix, autoescape=True))
        return {row.key: row.value for row in self._session.scalars(query)}


class LedgerEntryRepository:
    """A run's ledger entries (each a :meth:`~sigmax.domain.ledger.LedgerEntry.to_dict`),
    numbered by their ``sequence`` from 0."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def count(self, run_id: str) -> int:
        """How many entries the run holds, read as the highest sequence + 1 (an index lookup,
        not a count: the sequences have no gap)."""
        highest = self._session.scalar(
            select(func.max(LedgerEntryRow.sequence)).where(LedgerEntryRow.run_id == run_id)
        )
        return 0 if highest is None else highest + 1

    def add_many(self, run_id: str, entries: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``entries`` (each with its ``sequence``) in one multi-row INSERT; a sequence
        already stored fails as a duplicate key."""
        if not entries:
            return
        self._session.execute(
            insert(LedgerEntryRow),
            [
                {"run_id": run_id, "sequence": entry["sequence"], "entry": dict(entry)}
                for entry in entries
            ],
        )

    def entries(self, run_id: str) -> list[dict[str, Any]]:
        """Every entry of the run, in sequence order."""
        rows: Sequence[dict[str, Any]] = self._session.scalars(
            select(LedgerEntryRow.entry)
            .where(LedgerEntryRow.run_id == run_id)
            .order_by(LedgerEntryRow.sequence)
        ).all()
        return [dict(entry) for entry in rows]

    def delete_all(self, run_id: str) -> int:
        """Remove every entry of the run (a ledger rebuilt from the fills replaces them);
        the number removed."""
        result = self._session.execute(
            delete(LedgerEntryRow).where(LedgerEntryRow.run_id == run_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)
