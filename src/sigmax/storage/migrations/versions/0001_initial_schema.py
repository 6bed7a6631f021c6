"""Initial schema.

Tables: instruments, runs, decisions, orders, fills, positions, safety_events, equity_snapshots
and engine_state.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Column types are spelled out here rather than imported from the models: a migration is a
snapshot of the schema at one revision and must not change when the models do later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Exact money: NUMERIC(38, 18) on PostgreSQL, canonical decimal text on SQLite (whose NUMERIC
# affinity would store a binary float). See sigmax.storage.types.ExactDecimal.
MONEY = sa.Numeric(38, 18).with_variant(sa.String(40), "sqlite")
# SQLite auto-assigns ids only to INTEGER PRIMARY KEY columns.
KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
MILLIS = sa.BigInteger()


def _money(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, MONEY, nullable=nullable)


def _millis(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, MILLIS, nullable=nullable)


def _enum(table: str, column: str, *values: str) -> tuple[sa.Column[object], sa.CheckConstraint]:
    """A short string column and the CHECK constraint listing its allowed values."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return (
        sa.Column(column, sa.String(max(len(v) for v in values)), nullable=False),
        sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}")),
    )


def upgrade() -> None:
    """Create every table of the initial schema."""
    op.create_table(
        "instruments",
        sa.Column("id", KEY, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("base", sa.String(16), nullable=False),
        sa.Column("quote", sa.String(16), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("price_precision", sa.Integer(), nullable=False),
        sa.Column("qty_precision", sa.Integer(), nullable=False),
        _money("tick_size"),
        _money("step_size"),
        _money("min_qty"),
        _money("min_notional"),
        sa.Column("active", sa.Boolean(), nullable=False),
        _millis("updated_at_ms"),
        sa.CheckConstraint(
            "price_precision >= 0", name=op.f("ck_instruments_price_precision_non_negative")
        ),
        sa.CheckConstraint(
            "qty_precision >= 0", name=op.f("ck_instruments_qty_precision_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instruments")),
        sa.UniqueConstraint("symbol", name=op.f("uq_instruments_symbol")),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), nullable=False),
        *_enum("runs", "mode", "backtest", "replay", "paper", "live"),
        sa.Column("profile", sa.String(32), nullable=False),
        *_enum("runs", "status", "running", "completed", "failed", "interrupted"),
        _millis("started_at_ms"),
        _millis("ended_at_ms", nullable=True),
        sa.Column("config", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_started_at_ms"), "runs", ["started_at_ms"])

    op.create_table(
        "decisions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("timeframe", sa.String(8), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        _millis("decided_at_ms"),
        _millis("data_until_ms"),
        *_enum("decisions", "action", "BUY", "SELL", "HOLD"),
        sa.Column("confidence", sa.Float(), nullable=False),
        _money("size_usd"),
        sa.Column("record", JSON_DOC, nullable=False),
        _millis("created_at_ms"),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name=op.f("ck_decisions_confidence_range")
        ),
        sa.CheckConstraint(
            "data_until_ms <= decided_at_ms", name=op.f("ck_decisions_no_look_ahead")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_decisions_run_id_runs"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_run_id"), "decisions", ["run_id"])
    op.create_index(
        op.f("ix_decisions_symbol_decided_at_ms"), "decisions", ["symbol", "decided_at_ms"]
    )

    op.create_table(
        "orders",
        sa.Column("id", KEY, nullable=False),
        sa.Column("client_order_id", sa.String(36), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=True),
        sa.Column("venue", sa.String(32), nullable=False),
        sa.Column("exchange_order_id", sa.String(64), nullable=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        *_enum("orders", "side", "buy", "sell"),
        *_enum("orders", "type", "market", "limit", "stop_loss", "take_profit"),
        _money("qty"),
        _money("price", nullable=True),
        _money("filled_qty"),
        *_enum(
            "orders",
            "status",
            "new",
            "open",
            "partially_filled",
            "filled",
            "cancelled",
            "rejected",
        ),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("policy_verdict", JSON_DOC, nullable=True),
        _millis("created_at_ms"),
        _millis("updated_at_ms"),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_orders_decision_id_decisions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("client_order_id", name=op.f("uq_orders_client_order_id")),
        sa.UniqueConstraint(
            "venue", "exchange_order_id", name=op.f("uq_orders_venue_exchange_order_id")
        ),
    )
    op.create_index(op.f("ix_orders_decision_id"), "orders", ["decision_id"])
    op.create_index(op.f("ix_orders_symbol_status"), "orders", ["symbol", "status"])

    op.create_table(
        "fills",
        sa.Column("id", KEY, nullable=False),
        sa.Column("order_id", KEY, nullable=False),
        sa.Column("trade_seq", sa.Integer(), nullable=False),
        sa.Column("exchange_trade_id", sa.String(64), nullable=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        *_enum("fills", "side", "buy", "sell"),
        _money("qty"),
        _money("price"),
        _money("fee"),
        sa.Column("fee_currency", sa.String(16), nullable=False),
        _money("realized_pnl"),
        _millis("filled_at_ms"),
        _millis("candle_open_ms", nullable=True),
        sa.Column("decision_id", sa.String(64), nullable=True),
        sa.CheckConstraint("trade_seq >= 1", name=op.f("ck_fills_trade_seq_positive")),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_fills_decision_id_decisions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_fills_order_id_orders"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("order_id", "trade_seq", name=op.f("uq_fills_order_id_trade_seq")),
    )
    op.create_index(op.f("ix_fills_decision_id"), "fills", ["decision_id"])
    op.create_index(op.f("ix_fills_symbol_filled_at_ms"), "fills", ["symbol", "filled_at_ms"])

    op.create_table(
        "positions",
        sa.Column("id", KEY, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        _money("qty"),
        _money("avg_price"),
        _money("realized_pnl"),
        _millis("updated_at_ms"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
        sa.UniqueConstraint("symbol", name=op.f("uq_positions_symbol")),
    )

    op.create_table(
        "safety_events",
        sa.Column("id", KEY, nullable=False),
        _millis("occurred_at_ms"),
        *_enum(
            "safety_events",
            "kind",
            "pause",
            "resume",
            "trigger",
            "violation",
            "panic",
            "force_resume",
        ),
        sa.Column("trigger", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", JSON_DOC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_events")),
    )
    op.create_index(op.f("ix_safety_events_occurred_at_ms"), "safety_events", ["occurred_at_ms"])

    op.create_table(
        "equity_snapshots",
        sa.Column("id", KEY, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        _millis("taken_at_ms"),
        _money("cash"),
        _money("equity"),
        _money("realized_pnl"),
        _money("unrealized_pnl"),
        _money("fees"),
        _money("daily_pnl"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_equity_snapshots_run_id_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_snapshots")),
    )
    op.create_index(op.f("ix_equity_snapshots_taken_at_ms"), "equity_snapshots", ["taken_at_ms"])
    op.create_index(
        op.f("ix_equity_snapshots_run_id_taken_at_ms"),
        "equity_snapshots",
        ["run_id", "taken_at_ms"],
    )

    op.create_table(
        "engine_state",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", JSON_DOC, nullable=False),
        _millis("updated_at_ms"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_engine_state")),
    )


def downgrade() -> None:
    """Drop every table, dependants first (their indexes go with them)."""
    for table in (
        "engine_state",
        "equity_snapshots",
        "safety_events",
        "positions",
        "fills",
        "orders",
        "decisions",
        "runs",
        "instruments",
    ):
        op.drop_table(table)
