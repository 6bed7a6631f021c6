"""The rows the operations read, loaded once: runs, orders, fills, positions, equity
snapshots, decisions (their numbers, not their explanation), control commands and the newest
run's resume point. Also the account replayed from its fills, which several checks compare to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sigmax.domain.candles import Timeframe
from sigmax.domain.ledger import Ledger, LedgerError
from sigmax.domain.orders import Fill, Liquidity, OrderPurpose, OrderSide, OrderType
from sigmax.errors import SigmaxError
from sigmax.ops.resume import ResumePoint, read_resume_point
from sigmax.storage.models import (
    ControlCommandRow,
    DecisionRow,
    EquitySnapshotRow,
    FillRow,
    OrderRow,
    PositionRow,
    RunRow,
    SafetyEventRow,
)


@dataclass(frozen=True, slots=True)
class RunView:
    id: str
    mode: str
    profile: str
    status: str
    started_at_ms: int
    config: dict[str, Any]

    @property
    def starting_capital(self) -> Decimal:
        value = self.config.get("starting_capital")
        if not isinstance(value, str):
            raise SigmaxError(f"run {self.id} config.starting_capital: expected a decimal string")
        return Decimal(value)

    @property
    def timeframe(self) -> Timeframe | None:
        value = self.config.get("timeframe")
        try:
            return Timeframe.parse(value) if isinstance(value, str) else None
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class OrderView:
    id: int
    client_order_id: str
    decision_id: str | None
    symbol: str
    side: OrderSide
    type: OrderType
    qty: Decimal
    price: Decimal | None
    filled_qty: Decimal
    status: str
    reject_reason: str | None
    policy_verdict: dict[str, Any] | None
    created_at_ms: int
    #: Why the order exists (``orders.purpose``; migration 0006 filled it in for the orders
    #: stored before, from their type and the id scheme of the time).
    purpose: OrderPurpose


@dataclass(frozen=True, slots=True)
class FillView:
    id: int
    order_id: int
    trade_seq: int
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    realized_pnl: Decimal
    filled_at_ms: int
    candle_open_ms: int | None
    decision_id: str | None


@dataclass(frozen=True, slots=True)
class DecisionView:
    id: str
    run_id: str | None
    symbol: str
    timeframe: str
    decided_at_ms: int
    action: str
    confidence: float
    size_usd: Decimal


@dataclass(frozen=True, slots=True)
class SafetyView:
    id: int
    occurred_at_ms: int
    kind: str
    trigger: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class StoreView:
    """Everything the checks read, copied out of one read session."""

    runs: list[RunView]
    orders: list[OrderView]
    fills: list[FillView]
    positions: list[tuple[str, Decimal, Decimal, Decimal]]
    equity: list[EquitySnapshotRow]
    decisions: list[DecisionView]
    commands: dict[int, tuple[str, str]]
    safety: list[SafetyView]
    resume: ResumePoint | None

    @property
    def account_run(self) -> RunView | None:
        """The run that owns the home's account: the newest one."""
        return max(self.runs, key=lambda r: (r.started_at_ms, r.id)) if self.runs else None


def load_store(session: Session) -> StoreView:
    runs = [
        RunView(r.id, r.mode.value, r.profile, r.status.value, r.started_at_ms, dict(r.config))
        for r in session.scalars(select(RunRow))
    ]
    orders = [
        OrderView(
            o.id, o.client_order_id, o.decision_id, o.symbol, o.side, o.type, o.qty, o.price,
            o.filled_qty, o.status.value, o.reject_reason,
            None if o.policy_verdict is None else dict(o.policy_verdict), o.created_at_ms,
            o.purpose,
        )
        for o in session.scalars(select(OrderRow).order_by(OrderRow.id))
    ]  # fmt: skip
    fills = [
        FillView(
            f.id, f.order_id, f.trade_seq, f.symbol, f.side, f.qty, f.price, f.fee,
            f.fee_currency, f.realized_pnl, f.filled_at_ms, f.candle_open_ms, f.decision_id,
        )
        for f in session.scalars(select(FillRow).order_by(FillRow.id))
    ]  # fmt: skip
    positions = [
        (p.symbol, p.qty, p.avg_price, p.realized_pnl)
        for p in session.scalars(select(PositionRow).order_by(PositionRow.symbol))
    ]
    equity = list(
        session.scalars(
            select(EquitySnapshotRow).order_by(EquitySnapshotRow.taken_at_ms, EquitySnapshotRow.id)
        )
    )
    for row in equity:
        session.expunge(row)
    decisions = [
        DecisionView(d_id, run_id, symbol, timeframe, at_ms, str(action), confidence, size)
        for d_id, run_id, symbol, timeframe, at_ms, action, confidence, size in session.execute(
            select(
                DecisionRow.id, DecisionRow.run_id, DecisionRow.symbol, DecisionRow.timeframe,
                DecisionRow.decided_at_ms, DecisionRow.action, DecisionRow.confidence,
                DecisionRow.size_usd,
            ).order_by(DecisionRow.decided_at_ms, DecisionRow.id)
        )
    ]  # fmt: skip
    commands = {
        c.id: (c.kind.value, c.status.value) for c in session.scalars(select(ControlCommandRow))
    }
    safety = [
        SafetyView(s.id, s.occurred_at_ms, s.kind.value, s.trigger, s.reason)
        for s in session.scalars(
            select(SafetyEventRow).order_by(SafetyEventRow.occurred_at_ms, SafetyEventRow.id)
        )
    ]
    view = StoreView(runs, orders, fills, positions, equity, decisions, commands, safety, None)
    run = view.account_run
    resume = None if run is None else read_resume_point(session, run.id)
    return StoreView(runs, orders, fills, positions, equity, decisions, commands, safety, resume)


def ledger_sequence(trade_seq: int) -> int:
    """The ledger's fill sequence of a fill row's ``trade_seq`` (the row counts from 1 more)."""
    return trade_seq - 1


def fill_of(row: FillView, client_order_id: str) -> Fill:
    """The domain fill a stored row records (the ledger does not use the liquidity)."""
    return Fill(
        client_order_id=client_order_id,
        symbol=row.symbol,
        side=row.side,
        qty=row.qty,
        price=row.price,
        fee=row.fee,
        timestamp_ms=row.filled_at_ms,
        liquidity=Liquidity.TAKER,
        sequence=ledger_sequence(row.trade_seq),
    )


@dataclass(frozen=True, slots=True)
class Replay:
    """The account as its fills make it: a ledger with every fill applied in recorded order,
    and the fills it refused (an oversell, a buy cash cannot pay) with the reason."""

    ledger: Ledger
    refused: list[tuple[FillView, str]]


def replay_fills(
    fills: Iterable[FillView], orders: dict[int, OrderView], starting_cash: Decimal
) -> Replay:
    ledger = Ledger(starting_cash)
    refused: list[tuple[FillView, str]] = []
    ordered = sorted(fills, key=lambda f: (f.filled_at_ms, f.id))
    for row in ordered:
        order = orders.get(row.order_id)
        if order is None:
            refused.append((row, f"its order {row.order_id} does not exist"))
            continue
        try:
            ledger.apply_fill(fill_of(row, order.client_order_id))
        except (LedgerError, ValueError) as error:
            refused.append((row, str(error)))
    return Replay(ledger, refused)
