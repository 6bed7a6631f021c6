"""Safety events may record a cooldown.

The safety enforcer's stop-loss cooldown (a per-symbol block on new entries, not a pause) is
journalled as ``safety_events.kind = 'cooldown'``; the CHECK constraint on ``kind`` gains it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

SQLite cannot alter a CHECK constraint in place, so the table is rebuilt (batch mode, rows
copied); PostgreSQL drops and recreates the constraint. Values are spelled out here rather than
read from the models: a migration is a snapshot of one revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "safety_events"
_CONSTRAINT = "ck_safety_events_kind"
_BEFORE = ("pause", "resume", "trigger", "violation", "panic", "force_resume")
_AFTER = (*_BEFORE, "cooldown")


def _replace_kind_check(values: Sequence[str]) -> None:
    allowed = ", ".join(f"'{value}'" for value in values)
    with op.batch_alter_table(_TABLE, recreate="auto") as batch:
        batch.drop_constraint(op.f(_CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(_CONSTRAINT), sa.text(f"kind IN ({allowed})"))


def upgrade() -> None:
    """Allow ``cooldown`` as a safety event kind."""
    _replace_kind_check(_AFTER)


def downgrade() -> None:
    """Forbid ``cooldown`` again; cooldown events are deleted first.

    They did not exist before this revision and the older schema cannot hold them. Pauses,
    resumes and triggers, the journal that matters for an audit, are kept.
    """
    op.execute(sa.text(f"DELETE FROM {_TABLE} WHERE kind = 'cooldown'"))
    _replace_kind_check(_BEFORE)
