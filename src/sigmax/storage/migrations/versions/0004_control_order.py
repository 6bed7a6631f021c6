"""Operators' manual orders may go through the control queue to a running engine.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

The CHECK constraint on ``control_commands.kind`` gains ``order``. SQLite cannot alter a CHECK
constraint in place, so the table is rebuilt (batch mode, rows copied); PostgreSQL drops and
recreates the constraint. Values are spelled out: a migration is a snapshot of one revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "control_commands"
_CONSTRAINT = "ck_control_commands_kind"
_BEFORE = ("pause", "resume", "panic")
_AFTER = (*_BEFORE, "order")


def _replace_kind_check(values: Sequence[str]) -> None:
    allowed = ", ".join(f"'{value}'" for value in values)
    with op.batch_alter_table(_TABLE, recreate="auto") as batch:
        batch.drop_constraint(op.f(_CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(_CONSTRAINT), sa.text(f"kind IN ({allowed})"))


def upgrade() -> None:
    """Allow ``order`` as a control command."""
    _replace_kind_check(_AFTER)


def downgrade() -> None:
    """Forbid ``order`` again; queued order commands are deleted first (the older schema
    cannot hold them)."""
    op.execute(sa.text(f"DELETE FROM {_TABLE} WHERE kind = 'order'"))
    _replace_kind_check(_BEFORE)
