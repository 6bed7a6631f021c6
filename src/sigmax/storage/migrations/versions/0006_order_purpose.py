"""Orders say why they exist: ``orders.purpose`` (entry, stop_loss, take_profit, exit,
manual, panic), filled in for the orders already stored from their type and the id scheme of
the time (``sgx-panic-``, ``sgx-manual-``, ``sgx-entry-``, ``sgx-exit-``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08

Column types are spelled out here rather than imported from the models: a migration is a
snapshot of one revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "orders"
_PURPOSES = ("entry", "stop_loss", "take_profit", "exit", "manual", "panic")


def upgrade() -> None:
    """Add ``orders.purpose``, fill it for the stored orders, then make it required."""
    with op.batch_alter_table(_TABLE, recreate="auto") as batch:
        batch.add_column(sa.Column("purpose", sa.String(11), nullable=True))
    op.execute(
        sa.text(
            f"UPDATE {_TABLE} SET purpose = CASE "
            "WHEN type = 'stop_loss' THEN 'stop_loss' "
            "WHEN type = 'take_profit' THEN 'take_profit' "
            "WHEN client_order_id LIKE 'sgx-panic-%' THEN 'panic' "
            "WHEN client_order_id LIKE 'sgx-entry-%' THEN 'entry' "
            "WHEN client_order_id LIKE 'sgx-exit-%' THEN 'exit' "
            "ELSE 'manual' END"
        )
    )
    allowed = ", ".join(f"'{value}'" for value in _PURPOSES)
    with op.batch_alter_table(_TABLE, recreate="auto") as batch:
        batch.alter_column("purpose", existing_type=sa.String(11), nullable=False)
        batch.create_check_constraint(op.f("ck_orders_purpose"), sa.text(f"purpose IN ({allowed})"))


def downgrade() -> None:
    """Drop ``orders.purpose`` (the older schema reads it from the id)."""
    with op.batch_alter_table(_TABLE, recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_orders_purpose"), type_="check")
        batch.drop_column("purpose")
