"""The engine lease: which process runs the engine of a home, and since when it last said so.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Column types are spelled out here rather than imported from the models: a migration is a
snapshot of one revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "engine_lease"


def upgrade() -> None:
    """Create ``engine_lease``."""
    op.create_table(
        _TABLE,
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f(f"pk_{_TABLE}")),
    )


def downgrade() -> None:
    """Drop ``engine_lease`` (a running engine loses its lease with it)."""
    op.drop_table(_TABLE)
