"""The relational schema: one mapped class per table.

Conventions (see :mod:`sigmax.storage.types` for why):

* money and quantities are :class:`~decimal.Decimal` in :class:`ExactDecimal` columns;
* every time is ``*_ms``: integer milliseconds since the epoch, UTC;
* enumerations are short strings with a CHECK constraint;
* constraint names follow :data:`NAMING_CONVENTION`, so migrations can address them by name.

The classes end in ``Row`` to keep them apart from the domain's value types: a row is what the
database holds, the domain decides what it means.

Changing a table here needs a new Alembic revision in ``sigmax/storage/migrations/versions``;
``tests/storage/test_migrations.py`` fails while the two disagree.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sigmax.domain.decisions import Action
from sigmax.domain.orders import OrderPurpose, OrderSide, OrderStatus, OrderType
from sigmax.storage.types import (
    EpochMillis,
    ExactDecimal,
    JsonDocument,
    SurrogateKey,
    string_enum,
)

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SYMBOL_LENGTH: Final = 32
ID_LENGTH: Final = 64
"""Decision and run ids: a UUID in any spelling fits, and so does a readable prefix."""
CLIENT_ORDER_ID_LENGTH: Final = 36
"""Binance, the strictest venue we target, caps client order ids at 36 characters."""


# The domain owns what an action, a side, an order type and a status are; the schema stores them.
DecisionAction = Action


class SafetyEventKind(StrEnum):
    """What the safety enforcer did or saw."""

    PAUSE = "pause"
    RESUME = "resume"
    TRIGGER = "trigger"
    VIOLATION = "violation"
    PANIC = "panic"
    FORCE_RESUME = "force_resume"
    COOLDOWN = "cooldown"
    """A protection blocked new entries on one symbol for a while (not a pause)."""


class ControlKind(StrEnum):
    """An operator's command to the engine."""

    PAUSE = "pause"
    RESUME = "resume"
    PANIC = "panic"
    ORDER = "order"
    """A manual market order, checked and sent by the running engine."""


class ControlStatus(StrEnum):
    """Where a control command is: waiting for the engine, done, or refused with a reason."""

    PENDING = "pending"
    APPLIED = "applied"
    REFUSED = "refused"


class RunMode(StrEnum):
    """The clock and venue an engine run used."""

    BACKTEST = "backtest"
    REPLAY = "replay"
    PAPER = "paper"
    LIVE = "live"


class RunStatus(StrEnum):
    """How an engine run ended (``running`` until it does)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class InstrumentRow(Base):
    """A tradable market and the exchange's rules for quantities and prices."""

    __tablename__ = "instruments"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LENGTH), unique=True)
    base: Mapped[str] = mapped_column(String(16))
    quote: Mapped[str] = mapped_column(String(16))
    exchange: Mapped[str] = mapped_column(String(32))
    price_precision: Mapped[int] = mapped_column(Integer)
    """Decimal places of a price."""
    qty_precision: Mapped[int] = mapped_column(Integer)
    """Decimal places of a quantity."""
    tick_size: Mapped[Decimal] = mapped_column(ExactDecimal)
    """Smallest price increment."""
    step_size: Mapped[Decimal] = mapped_column(ExactDecimal)
    """Smallest quantity increment."""
    min_qty: Mapped[Decimal] = mapped_column(ExactDecimal)
    min_notional: Mapped[Decimal] = mapped_column(ExactDecimal)
    """Smallest order value in the quote currency."""
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at_ms: Mapped[int] = mapped_column(EpochMillis)

    __table_args__ = (
        CheckConstraint("price_precision >= 0", name="price_precision_non_negative"),
        CheckConstraint("qty_precision >= 0", name="qty_precision_non_negative"),
    )


class RunRow(Base):
    """One engine run: which mode, which profile, when, how it ended."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    mode: Mapped[RunMode] = mapped_column(string_enum(RunMode, "mode"))
    profile: Mapped[str] = mapped_column(String(32))
    status: Mapped[RunStatus] = mapped_column(string_enum(RunStatus, "status"))
    started_at_ms: Mapped[int] = mapped_column(EpochMillis)
    ended_at_ms: Mapped[int | None] = mapped_column(EpochMillis)
    config: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    """The effective configuration, secrets removed, so a run can be reproduced."""

    __table_args__ = (Index(None, "started_at_ms"),)


class DecisionRow(Base):
    """A decision and its full explanation, written before any order it causes is sent."""

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LENGTH))
    timeframe: Mapped[str] = mapped_column(String(8))
    profile: Mapped[str] = mapped_column(String(32))
    decided_at_ms: Mapped[int] = mapped_column(EpochMillis)
    data_until_ms: Mapped[int] = mapped_column(EpochMillis)
    """Time of the newest input the decision saw."""
    action: Mapped[DecisionAction] = mapped_column(string_enum(DecisionAction, "action"))
    confidence: Mapped[float] = mapped_column(Float)
    size_usd: Mapped[Decimal] = mapped_column(ExactDecimal)
    record: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    """The complete DecisionRecord: agents, debate, risk, policy verdict, safety state."""
    created_at_ms: Mapped[int] = mapped_column(EpochMillis)

    __table_args__ = (
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        # The no-look-ahead rule, enforced where it cannot be bypassed.
        CheckConstraint("data_until_ms <= decided_at_ms", name="no_look_ahead"),
        Index(None, "symbol", "decided_at_ms"),
        Index(None, "run_id"),
    )


class OrderRow(Base):
    """An order as sent to (or refused before) a venue.

    ``client_order_id`` is unique and derived from the decision id, so a restart that replays a
    decision finds the existing order instead of sending a second one.
    """

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(CLIENT_ORDER_ID_LENGTH), unique=True)
    decision_id: Mapped[str | None] = mapped_column(ForeignKey("decisions.id", ondelete="RESTRICT"))
    """``None`` for manual orders (API, Telegram, panic close-out)."""
    venue: Mapped[str] = mapped_column(String(32))
    """``paper`` or the exchange id (``binance``)."""
    exchange_order_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LENGTH))
    side: Mapped[OrderSide] = mapped_column(string_enum(OrderSide, "side"))
    type: Mapped[OrderType] = mapped_column(string_enum(OrderType, "type"))
    qty: Mapped[Decimal] = mapped_column(ExactDecimal)
    price: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    """Limit or trigger price; ``None`` for market orders."""
    filled_qty: Mapped[Decimal] = mapped_column(ExactDecimal)
    status: Mapped[OrderStatus] = mapped_column(string_enum(OrderStatus, "status"))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    policy_verdict: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    created_at_ms: Mapped[int] = mapped_column(EpochMillis)
    updated_at_ms: Mapped[int] = mapped_column(EpochMillis)
    purpose: Mapped[OrderPurpose] = mapped_column(string_enum(OrderPurpose, "purpose"))
    """Why the order exists: entry, stop_loss, take_profit, exit, manual or panic."""

    __table_args__ = (
        UniqueConstraint("venue", "exchange_order_id"),
        Index(None, "decision_id"),
        Index(None, "symbol", "status"),
    )


class FillRow(Base):
    """One execution against an order; the ledger changes only through fills."""

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    trade_seq: Mapped[int] = mapped_column(Integer)
    """1, 2, … within the order; with ``order_id`` it makes recording a fill idempotent."""
    exchange_trade_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LENGTH))
    side: Mapped[OrderSide] = mapped_column(string_enum(OrderSide, "side"))
    qty: Mapped[Decimal] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal)
    fee: Mapped[Decimal] = mapped_column(ExactDecimal)
    fee_currency: Mapped[str] = mapped_column(String(16))
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)
    filled_at_ms: Mapped[int] = mapped_column(EpochMillis)
    candle_open_ms: Mapped[int | None] = mapped_column(EpochMillis)
    """Open time of the candle whose price filled this order (simulated venues)."""
    decision_id: Mapped[str | None] = mapped_column(ForeignKey("decisions.id", ondelete="RESTRICT"))

    __table_args__ = (
        UniqueConstraint("order_id", "trade_seq"),
        CheckConstraint("trade_seq >= 1", name="trade_seq_positive"),
        Index(None, "symbol", "filled_at_ms"),
        Index(None, "decision_id"),
    )


class PositionRow(Base):
    """The current holding in one symbol."""

    __tablename__ = "positions"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(SYMBOL_LENGTH), unique=True)
    qty: Mapped[Decimal] = mapped_column(ExactDecimal)
    avg_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)
    updated_at_ms: Mapped[int] = mapped_column(EpochMillis)


class SafetyEventRow(Base):
    """Something the safety enforcer did or observed: pause, resume, trigger, panic…"""

    __tablename__ = "safety_events"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    occurred_at_ms: Mapped[int] = mapped_column(EpochMillis)
    kind: Mapped[SafetyEventKind] = mapped_column(string_enum(SafetyEventKind, "kind"))
    trigger: Mapped[str | None] = mapped_column(String(64))
    """Which trigger fired (``consecutive_losses``, ``daily_loss``…), if any."""
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument)

    __table_args__ = (Index(None, "occurred_at_ms"),)


class EquitySnapshotRow(Base):
    """The account marked to market at one moment."""

    __tablename__ = "equity_snapshots"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    taken_at_ms: Mapped[int] = mapped_column(EpochMillis)
    cash: Mapped[Decimal] = mapped_column(ExactDecimal)
    equity: Mapped[Decimal] = mapped_column(ExactDecimal)
    realized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)
    unrealized_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)
    fees: Mapped[Decimal] = mapped_column(ExactDecimal)
    daily_pnl: Mapped[Decimal] = mapped_column(ExactDecimal)

    __table_args__ = (
        Index(None, "taken_at_ms"),
        Index(None, "run_id", "taken_at_ms"),
    )


class EngineStateRow(Base):
    """Key-value state the engine needs to resume after a crash.

    For example ``last_candle:BTC/USDT:1h`` → the open time of the last candle fully processed,
    so a restart continues with the next one instead of deciding twice.
    """

    __tablename__ = "engine_state"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JsonDocument)
    updated_at_ms: Mapped[int] = mapped_column(EpochMillis)


class LedgerEntryRow(Base):
    """One entry of a run's ledger (:meth:`sigmax.domain.ledger.LedgerEntry.to_dict`).

    The run's resume point (``engine_state``) holds the ledger's head only (totals, positions,
    days, marks and ``entry_count``); the entries are written here once each, in the
    transaction that commits the step which booked them, so a commit costs what it adds and
    not the whole history. ``sequence`` is the entry's own, from 0 without a gap.
    """

    __tablename__ = "ledger_entries"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="RESTRICT"), primary_key=True
    )
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class ControlCommandRow(Base):
    """An operator's pause, resume or panic, queued for the running engine.

    The CLI (another process) inserts it; the engine applies it between two steps and records
    the outcome. When no engine is running the CLI applies it to the stored safety state itself.
    Exactly one of them moves it out of ``pending`` (a conditional update), so it is applied once.
    """

    __tablename__ = "control_commands"

    id: Mapped[int] = mapped_column(SurrogateKey, primary_key=True)
    kind: Mapped[ControlKind] = mapped_column(string_enum(ControlKind, "kind"))
    arguments: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    status: Mapped[ControlStatus] = mapped_column(string_enum(ControlStatus, "status"))
    result: Mapped[str | None] = mapped_column(Text)
    applied_by: Mapped[str | None] = mapped_column(String(32))
    """``engine`` or ``cli``."""
    requested_at_ms: Mapped[int] = mapped_column(EpochMillis)
    """Wall-clock time of the request."""
    applied_at_ms: Mapped[int | None] = mapped_column(EpochMillis)

    __table_args__ = (Index(None, "status", "id"),)


class EngineLeaseRow(Base):
    """Who runs the engine of this home: one row (``name`` ``engine``) while a process holds it.

    The holder writes ``heartbeat_ms`` every few seconds; a row whose heartbeat stopped (or
    whose process is gone on this host) is stale, so a run that died is known to be dead, and
    a second process cannot take the lease while the first one lives.
    """

    __tablename__ = "engine_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    """A random id of the holding process, so only it can renew or release the lease."""
    holder: Mapped[str] = mapped_column(String(ID_LENGTH))
    """The run id of a ``sigmax run``, or what else holds it (``panic`` of the CLI)."""
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    started_at_ms: Mapped[int] = mapped_column(EpochMillis)
    heartbeat_ms: Mapped[int] = mapped_column(EpochMillis)
