"""Crash-safe persistence of an engine run.

Every step that changes something (a decision that causes an order, an order, a fill, a ledger
change) is written in ONE transaction together with the run's resume point: the ledger and the
venue's resting orders as they are after the step, and the last fully processed candle of each
symbol. A process killed at any moment leaves either the whole step or none of it.

Steps that change nothing (a HOLD with no fill) may be committed in batches: decisions are
deterministic, so redoing them after a crash gives the same HOLDs and nothing is lost.

The resume point holds the ledger's head only (:meth:`~sigmax.domain.ledger.Ledger.snapshot_head`:
totals, positions, days, marks and ``entry_count``); the entries go to ``ledger_entries``, each
inserted once by the commit of the step that booked it, in the same transaction as the head. A
commit therefore costs what the steps added, not the whole history. Every reader takes the
resume point through :func:`read_run_state`, which puts the two back together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from sigmax.domain.decisions import DecisionRecord
from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import Fill, Order, OrderStatus
from sigmax.engine.decision_log import CompactDecision, usd_cents, wall_clock_ms
from sigmax.engine.resume import ResumePointError
from sigmax.safety.state import SafetyEvent, SafetyState
from sigmax.safety.store import SafetyStore
from sigmax.storage.models import (
    ControlCommandRow,
    ControlStatus,
    DecisionRow,
    EngineStateRow,
    EquitySnapshotRow,
    FillRow,
    OrderRow,
    PositionRow,
    RunMode,
    RunRow,
    RunStatus,
)
from sigmax.storage.repositories import (
    EngineStateRepository,
    LedgerEntryRepository,
    PositionRepository,
    RunRepository,
)

if TYPE_CHECKING:
    # Only named in signatures: the database layer (and Alembic) is not imported for it.
    from sigmax.storage.database import Database

STATE_KEY = "run:{run_id}"


def read_run_state(
    session: Session, run_id: str, *, for_update: bool = False, entries: bool = True
) -> dict[str, Any] | None:
    """The run's resume point as it was last committed, or None before its first commit.

    Its ledger is whole again: the head stored in ``engine_state`` with the entries of
    ``ledger_entries`` (a head whose ``entry_count`` disagrees with the rows is refused naming
    the run and both counts). ``entries=False``: the head alone, for a reader that only needs
    to see whether the resume point changed. ``for_update``: lock the resume point's row
    (PostgreSQL; SQLite locks the database at BEGIN) so two writers cannot both read it.
    """
    key = STATE_KEY.format(run_id=run_id)
    if for_update:
        row = session.get(EngineStateRow, key, with_for_update=True)
        value: Any = None if row is None else row.value
    else:
        value = EngineStateRepository(session).get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ResumePointError(
            f"resume point of run {run_id}: must be an object (got {type(value).__name__})"
        )
    head = value.get("ledger")
    if not entries or not isinstance(head, dict) or "entry_count" not in head:
        # No ledger, or one stored before the entries had their table (kept inline).
        return value
    count = head["entry_count"]
    rows = LedgerEntryRepository(session).entries(run_id)
    if count != len(rows):
        raise ResumePointError(
            f"resume point of run {run_id}: the ledger's head counts {count!r} entries but "
            f"ledger_entries holds {len(rows)} for the run"
        )
    ledger = {name: part for name, part in head.items() if name != "entry_count"}
    ledger["entries"] = rows
    return {**value, "ledger": ledger}


def replace_run_ledger(session: Session, run_id: str, ledger: Ledger, now_ms: int) -> None:
    """Replace the whole ledger of the run's resume point (its head and every entry), keeping
    the rest of the resume point: the operations' rebuild from the fills."""
    key = STATE_KEY.format(run_id=run_id)
    state = EngineStateRepository(session).get(key)
    if not isinstance(state, dict):
        raise ResumePointError(f"run {run_id} has no resume point to write")
    entries = LedgerEntryRepository(session)
    entries.delete_all(run_id)
    entries.add_many(run_id, [entry.to_dict() for entry in ledger.entries])
    EngineStateRepository(session).set(
        key, {**state, "ledger": ledger.snapshot_head()}, updated_at_ms=now_ms
    )


def run_identity(config: Mapping[str, Any]) -> str:
    """The id of a run: a digest of everything that defines it (same command, same id)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(slots=True)
class OrderUpdate:
    """An order to record, or a status change of one already recorded."""

    order: Order
    status: OrderStatus
    filled_qty: Decimal = Decimal(0)
    reason: str | None = None
    #: The compliance verdict the order was checked against (``PolicyVerdict.to_dict()``).
    policy: dict[str, Any] | None = None


@dataclass(slots=True)
class FillRecord:
    fill: Fill
    realized_pnl: Decimal
    candle_open_ms: int
    decision_id: str | None


@dataclass(slots=True)
class EquityPoint:
    taken_at_ms: int
    cash: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    daily_pnl: Decimal


@dataclass(slots=True)
class StepWrite:
    """Everything one or more engine steps produced, written together."""

    decisions: list[DecisionRecord] = field(default_factory=list)
    #: Decisions stored as their numbers only (not explained: full speed, no order).
    compact: list[CompactDecision] = field(default_factory=list)
    orders: list[OrderUpdate] = field(default_factory=list)
    fills: list[FillRecord] = field(default_factory=list)
    positions: dict[str, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)
    equity: list[EquityPoint] = field(default_factory=list)
    safety_events: list[SafetyEvent] = field(default_factory=list)
    #: Control commands handled: (id, status, result).
    controls: list[tuple[int, ControlStatus, str]] = field(default_factory=list)

    @property
    def changes_state(self) -> bool:
        return bool(self.orders or self.fills or self.safety_events or self.controls)

    def merge(self, other: StepWrite) -> None:
        self.decisions += other.decisions
        self.compact += other.compact
        self.orders += other.orders
        self.fills += other.fills
        self.positions.update(other.positions)
        self.equity += other.equity
        self.safety_events += other.safety_events
        self.controls += other.controls


class RunStore:
    """Reads and writes one run's rows and resume point."""

    keeps_resume_point = True

    def __init__(
        self,
        db: Database,
        run_id: str,
        applied_by: str = "engine",
        fence: Callable[[Session], None] | None = None,
    ) -> None:
        """``applied_by``: who is recorded as applying the operator's commands it commits
        (``engine``, or ``cli`` when the CLI acts on the stored account with no engine).
        ``fence``: called first in every write transaction; it raises (rolling the write
        back) when this process may no longer write the run (its engine lease was lost)."""
        self.db = db
        self.run_id = run_id
        self.applied_by = applied_by
        self._fence = fence
        self._key = STATE_KEY.format(run_id=run_id)
        #: How many of the run's ledger entries are stored, once known (read at the first
        #: commit that writes a ledger; unknown again after a commit that failed).
        self._stored_entries: int | None = None

    def start(
        self, mode: RunMode, profile: str, config: Mapping[str, Any]
    ) -> tuple[RunStatus, dict[str, Any] | None]:
        """Register the run, or find it again: its status before this start and, when it had
        started before, its resume point."""
        with self.db.transaction() as session:
            runs = RunRepository(session)
            existing = runs.get(self.run_id)
            if existing is None:
                runs.add(
                    RunRow(
                        id=self.run_id,
                        mode=mode,
                        profile=profile,
                        status=RunStatus.RUNNING,
                        started_at_ms=wall_clock_ms(),
                        ended_at_ms=None,
                        config=dict(config),
                    )
                )
                return RunStatus.RUNNING, None
            previous = existing.status
            if previous is not RunStatus.COMPLETED:
                existing.status = RunStatus.RUNNING
            return previous, read_run_state(session, self.run_id)

    def other_runs(self) -> list[str]:
        """Runs in this home that are not this one (one paper account per home)."""
        with self.db.session() as session:
            ids = session.scalars(select(RunRow.id).where(RunRow.id != self.run_id)).all()
            return list(ids)

    def commit(
        self,
        write: StepWrite,
        state: Mapping[str, Any],
        now_ms: int,
        safety: SafetyState | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        """Write the steps, the resume point and the safety state in one transaction.

        ``state``'s ledger is the head (:meth:`~sigmax.domain.ledger.Ledger.snapshot_head`) of
        ``ledger``, whose entries not stored yet are inserted with it."""
        try:
            with self.db.transaction() as session:
                stored = self._commit(session, write, state, now_ms, safety, ledger)
        except BaseException:
            self._stored_entries = None
            raise
        self._stored_entries = stored

    def _commit(
        self,
        session: Session,
        write: StepWrite,
        state: Mapping[str, Any],
        now_ms: int,
        safety: SafetyState | None,
        ledger: Ledger | None,
    ) -> int | None:
        """The body of :meth:`commit`; the number of ledger entries stored after it."""
        if self._fence is not None:
            self._fence(session)
        entries_stored = self._write_entries(session, state, ledger)
        # One query per table for what already exists: a resumed step finds its rows.
        decision_ids = {record.id for record in write.decisions}
        decision_ids.update(numbers.id for numbers in write.compact)
        stored = set(
            session.scalars(select(DecisionRow.id).where(DecisionRow.id.in_(decision_ids)))
            if decision_ids
            else ()
        )
        for record in write.decisions:
            if record.id not in stored:
                session.add(_decision_row(record, self.run_id))
                stored.add(record.id)
        compact = []
        for numbers in write.compact:
            if numbers.id not in stored:
                compact.append(numbers.row(self.run_id))
                stored.add(numbers.id)
        if compact:
            # One multi-row INSERT: at full speed a batch holds a decision per candle.
            session.execute(insert(DecisionRow), compact)
        client_ids = {u.order.client_order_id for u in write.orders} | {
            f.fill.client_order_id for f in write.fills
        }
        rows = {
            row.client_order_id: row
            for row in (
                session.scalars(select(OrderRow).where(OrderRow.client_order_id.in_(client_ids)))
                if client_ids
                else ()
            )
        }
        for update in write.orders:
            row = rows.get(update.order.client_order_id)
            if row is None:
                row = rows[update.order.client_order_id] = order_row(update, now_ms)
                session.add(row)
            else:
                row.status = update.status
                row.filled_qty = update.filled_qty
                row.reject_reason = update.reason or row.reject_reason
                row.policy_verdict = update.policy or row.policy_verdict
                row.updated_at_ms = now_ms
        session.flush()
        for item in write.fills:
            order = rows.get(item.fill.client_order_id)
            if order is None:
                raise RuntimeError(f"fill for unknown order {item.fill.client_order_id}")
            session.add(_fill_row(item, order.id))
        positions = PositionRepository(session)
        for symbol, (qty, avg, realized) in write.positions.items():
            positions.upsert(
                PositionRow(
                    symbol=symbol,
                    qty=qty,
                    avg_price=avg,
                    realized_pnl=realized,
                    updated_at_ms=now_ms,
                )
            )
        if write.equity:
            # One multi-row INSERT: a batch holds a mark per candle group, hundreds of rows.
            session.execute(
                insert(EquitySnapshotRow),
                [
                    {
                        "run_id": self.run_id,
                        "taken_at_ms": point.taken_at_ms,
                        "cash": point.cash,
                        "equity": point.equity,
                        "realized_pnl": point.realized_pnl,
                        "unrealized_pnl": point.unrealized_pnl,
                        "fees": point.fees,
                        "daily_pnl": point.daily_pnl,
                    }
                    for point in write.equity
                ],
            )
        EngineStateRepository(session).set(self._key, dict(state), updated_at_ms=now_ms)
        if safety is not None:
            SafetyStore(self.db).save(safety, write.safety_events, session=session)
        for command_id, status, result in write.controls:
            session.execute(
                sql_update(ControlCommandRow)
                .where(ControlCommandRow.id == command_id)
                .values(
                    status=status,
                    result=result,
                    applied_by=self.applied_by,
                    applied_at_ms=wall_clock_ms(),
                )
            )
        return entries_stored

    def _write_entries(
        self, session: Session, state: Mapping[str, Any], ledger: Ledger | None
    ) -> int | None:
        """Insert the entries of ``ledger`` the store lacks (one multi-row INSERT), after
        checking that they bring the stored ones to the head's ``entry_count``."""
        head = state.get("ledger")
        if head is None:
            return self._stored_entries
        if not isinstance(head, Mapping) or "entries" in head or "entry_count" not in head:
            raise ResumePointError(
                f"resume point of run {self.run_id}: its ledger must be the head "
                "(Ledger.snapshot_head), the entries are stored apart"
            )
        count = head["entry_count"]
        if ledger is None or ledger.entry_count != count:
            raise ResumePointError(
                f"resume point of run {self.run_id}: the ledger's head counts {count!r} entries; "
                f"the ledger to store them from has "
                f"{'none given' if ledger is None else ledger.entry_count}"
            )
        repository = LedgerEntryRepository(session)
        stored = self._stored_entries
        if stored is None:
            stored = repository.count(self.run_id)
        if stored > count:
            raise ResumePointError(
                f"resume point of run {self.run_id}: ledger_entries holds {stored} entries for "
                f"the run, more than the {count} of the ledger being committed"
            )
        repository.add_many(
            self.run_id, [entry.to_dict() for entry in ledger.entries_since(stored)]
        )
        return ledger.entry_count

    def finish(self, status: RunStatus) -> None:
        with self.db.transaction() as session:
            if self._fence is not None:
                self._fence(session)
            run = RunRepository(session).get(self.run_id)
            if run is not None:
                run.status = status
                run.ended_at_ms = wall_clock_ms()


def _decision_row(record: DecisionRecord, run_id: str) -> DecisionRow:
    return DecisionRow(
        id=record.id,
        run_id=run_id,
        symbol=record.symbol,
        timeframe=record.timeframe,
        profile=record.profile,
        decided_at_ms=record.timestamp_ms,
        data_until_ms=record.data_until_ms,
        action=record.decision,
        confidence=record.confidence,
        size_usd=usd_cents(record.size_usd),
        record=record.to_dict(),
        created_at_ms=record.timestamp_ms,
    )


def order_row(update: OrderUpdate, now_ms: int) -> OrderRow:
    """The row of a new paper order (``now_ms``: when it was recorded)."""
    order = update.order
    return OrderRow(
        client_order_id=order.client_order_id,
        decision_id=order.decision_id,
        venue="paper",
        exchange_order_id=None,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        purpose=order.purpose,
        qty=order.qty,
        price=order.price,
        filled_qty=update.filled_qty,
        status=update.status,
        reject_reason=update.reason,
        policy_verdict=update.policy,
        created_at_ms=order.created_ms,
        updated_at_ms=now_ms,
    )


def _fill_row(item: FillRecord, order_id: int) -> FillRow:
    fill = item.fill
    return FillRow(
        order_id=order_id,
        trade_seq=fill.sequence + 1,
        exchange_trade_id=None,
        symbol=fill.symbol,
        side=fill.side,
        qty=fill.qty,
        price=fill.price,
        fee=fill.fee,
        fee_currency="USDT",
        realized_pnl=item.realized_pnl,
        filled_at_ms=fill.timestamp_ms,
        candle_open_ms=item.candle_open_ms,
        decision_id=item.decision_id,
    )
