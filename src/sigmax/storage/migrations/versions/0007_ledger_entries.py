"""A run's ledger entries get a table of their own: ``ledger_entries`` (run, sequence, entry).

Until now the resume point of a run (``engine_state`` key ``run:<id>``) held every entry of the
ledger, and each commit rewrote them all. From this revision it holds the ledger's head (totals,
positions, days, marks and ``entry_count``) and each entry is inserted once. The upgrade moves
the entries of the resume points already stored into the table and leaves ``entry_count`` in
their place; the downgrade puts them back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Column types are spelled out here rather than imported from the models: a migration is a
snapshot of one revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "ledger_entries"
JSON_DOC = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
#: Rows per INSERT while moving entries (a long run holds thousands).
_CHUNK = 1000

_states = sa.table(
    "engine_state",
    sa.column("key", sa.String(128)),
    sa.column("value", JSON_DOC),
)
_runs = sa.table("runs", sa.column("id", sa.String(64)))
_entries = sa.table(
    _TABLE,
    sa.column("run_id", sa.String(64)),
    sa.column("sequence", sa.Integer()),
    sa.column("entry", JSON_DOC),
)


def upgrade() -> None:
    """Create ``ledger_entries`` and move the stored resume points' entries into it."""
    op.create_table(
        _TABLE,
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("entry", JSON_DOC, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f(f"fk_{_TABLE}_run_id_runs"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("run_id", "sequence", name=op.f(f"pk_{_TABLE}")),
    )
    bind = op.get_bind()
    runs: set[str] = set(bind.scalars(sa.select(_runs.c.id)))
    for key, value in list(_run_states(bind)):
        run_id = key.removeprefix("run:")
        ledger = value.get("ledger")
        if run_id not in runs or not isinstance(ledger, dict):
            # A resume point of no stored run keeps its entries inline; the reader takes both.
            continue
        entries = ledger.get("entries")
        if not isinstance(entries, list):
            continue
        rows = [
            {"run_id": run_id, "sequence": index, "entry": entry}
            for index, entry in enumerate(entries)
        ]
        for start in range(0, len(rows), _CHUNK):
            bind.execute(sa.insert(_entries), rows[start : start + _CHUNK])
        head = {k: v for k, v in ledger.items() if k != "entries"}
        head["entry_count"] = len(entries)
        _write(bind, key, {**value, "ledger": head})


def downgrade() -> None:
    """Put each run's entries back into its resume point, then drop ``ledger_entries``."""
    bind = op.get_bind()
    for key, value in list(_run_states(bind)):
        ledger = value.get("ledger")
        if not isinstance(ledger, dict) or "entry_count" not in ledger:
            continue
        entries: list[Any] = list(
            bind.scalars(
                sa.select(_entries.c.entry)
                .where(_entries.c.run_id == key.removeprefix("run:"))
                .order_by(_entries.c.sequence)
            )
        )
        full = {k: v for k, v in ledger.items() if k != "entry_count"}
        full["entries"] = entries
        _write(bind, key, {**value, "ledger": full})
    op.drop_table(_TABLE)


def _run_states(bind: sa.Connection) -> list[tuple[str, dict[str, Any]]]:
    rows = bind.execute(
        sa.select(_states.c.key, _states.c.value).where(_states.c.key.like("run:%"))
    ).all()
    return [(str(key), value) for key, value in rows if isinstance(value, dict)]


def _write(bind: sa.Connection, key: str, value: dict[str, Any]) -> None:
    bind.execute(sa.update(_states).where(_states.c.key == key).values(value=value))
