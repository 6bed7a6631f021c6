"""Operator control commands (pause, resume, panic) queued for the running engine.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Column types are spelled out here rather than imported from the models: a migration is a
snapshot of one revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOC = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
_TABLE = "control_commands"


def _enum(column: str, *values: str) -> tuple[sa.Column[object], sa.CheckConstraint]:
    allowed = ", ".join(f"'{value}'" for value in values)
    return (
        sa.Column(column, sa.String(max(len(v) for v in values)), nullable=False),
        sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{_TABLE}_{column}")),
    )


def upgrade() -> None:
    """Create ``control_commands``."""
    op.create_table(
        _TABLE,
        sa.Column("id", KEY, nullable=False),
        *_enum("kind", "pause", "resume", "panic"),
        sa.Column("arguments", JSON_DOC, nullable=False),
        *_enum("status", "pending", "applied", "refused"),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("applied_by", sa.String(32), nullable=True),
        sa.Column("requested_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("applied_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{_TABLE}")),
    )
    op.create_index(op.f(f"ix_{_TABLE}_status_id"), _TABLE, ["status", "id"])


def downgrade() -> None:
    """Drop ``control_commands`` (pending commands are lost with it)."""
    op.drop_index(op.f(f"ix_{_TABLE}_status_id"), table_name=_TABLE)
    op.drop_table(_TABLE)
