"""The Alembic migrations and the models describe the same schema, and they run both ways."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, select, text

from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import Fill, Liquidity, OrderSide
from sigmax.engine.run_store import read_run_state
from sigmax.storage import database as database_module
from sigmax.storage.database import MIGRATIONS_DIR, Database, alembic_config
from sigmax.storage.errors import MigrationError
from sigmax.storage.models import Base, LedgerEntryRow
from sigmax.storage.repositories import EngineStateRepository

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "instruments",
    "runs",
    "decisions",
    "orders",
    "fills",
    "positions",
    "safety_events",
    "equity_snapshots",
    "engine_state",
    "control_commands",
    "engine_lease",
    "ledger_entries",
}


def _schema(engine: Engine) -> dict[str, Any]:
    """Everything the database reports about each table, in a comparable form."""
    inspector = inspect(engine)
    schema: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (c["name"], " ".join(c["sqltext"].split()))
                for c in inspector.get_check_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "foreign_keys": sorted(
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
        }
    return schema


def test_migration_creates_exactly_the_model_tables(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert tables == TABLES | {"alembic_version"}
    assert set(Base.metadata.tables) == TABLES


def test_autogenerate_finds_no_difference_between_models_and_migrated_schema(
    db: Database,
) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrated_schema_equals_the_schema_the_models_create(
    db: Database, make_db_url: Callable[[], str]
) -> None:
    # compare_metadata ignores CHECK constraints and some type details; comparing what the
    # database itself reports for both schemas catches those too.
    from_models = create_engine(make_db_url())
    try:
        Base.metadata.create_all(from_models)
        expected = _schema(from_models)
    finally:
        from_models.dispose()
    assert _schema(db.engine) == expected


def test_downgrade_to_base_then_upgrade_to_head(db: Database) -> None:
    head = Database.head_revision()
    assert db.current_revision() == head

    db.downgrade("base")
    assert db.current_revision() is None
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}

    db.migrate()
    assert db.current_revision() == head
    assert set(inspect(db.engine).get_table_names()) == TABLES | {"alembic_version"}


FAILING_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))
    op.add_column("orders", sa.Column("half_done", sa.Integer()))
    raise RuntimeError("migration script failed halfway")


def downgrade() -> None:
    pass
"""


def test_a_migration_that_fails_halfway_leaves_the_schema_untouched(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    head = Database.head_revision()
    (scripts / "versions" / "9999_fails.py").write_text(FAILING_REVISION.format(head=head))
    monkeypatch.setattr(database_module, "MIGRATIONS_DIR", scripts)

    with pytest.raises(MigrationError, match="RuntimeError: migration script failed halfway"):
        db.migrate()

    assert db.current_revision() == head
    inspector = inspect(db.engine)
    assert "half_done" not in inspector.get_table_names()
    assert "half_done" not in {c["name"] for c in inspector.get_columns("orders")}


def test_opening_a_migrated_database_again_keeps_it_at_head(db_url: str) -> None:
    first = Database.open(db_url)
    first.dispose()
    second = Database.open(db_url)
    try:
        assert second.current_revision() == Database.head_revision()
    finally:
        second.dispose()


def test_open_without_migrate_leaves_an_empty_database_empty(db_url: str) -> None:
    database = Database.open(db_url, migrate=False)
    try:
        assert database.current_revision() is None
        assert inspect(database.engine).get_table_names() == []
    finally:
        database.dispose()


def test_revision_history_is_linear_with_one_head() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1
    assert Path(scripts.dir) == MIGRATIONS_DIR
    for revision in scripts.walk_revisions():
        assert not revision.is_merge_point, revision.revision


def test_repository_alembic_ini_migrates_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'cli.db'}"
    alembic = [sys.executable, "-m", "alembic", "-c", str(REPO_ROOT / "alembic.ini")]
    result = subprocess.run(
        [*alembic, "-x", f"url={url}", "upgrade", "head"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    database = Database.open(url, migrate=False)
    try:
        assert database.current_revision() == Database.head_revision()
    finally:
        database.dispose()


def _old_style_ledger() -> dict[str, Any]:
    """A ledger as resume points held it before revision 0007: every entry inline."""
    ledger = Ledger(Decimal(1_000))
    for index, side in enumerate((OrderSide.BUY, OrderSide.SELL, OrderSide.BUY)):
        ledger.apply_fill(
            Fill(f"sgx-old-{index}", "BTC/USDT", side, Decimal("0.001"), Decimal(20_000 + index),
                 Decimal("0.02"), 1_680_000_000_000 + index, Liquidity.TAKER)
        )  # fmt: skip
    state: dict[str, Any] = json.loads(json.dumps(ledger.snapshot()))
    return state


def test_upgrade_moves_the_entries_of_stored_resume_points_and_downgrade_puts_them_back(
    db: Database,
) -> None:
    db.downgrade("0006")
    full = _old_style_ledger()
    point = {"version": 2, "ledger": full, "venue": None, "cursor": {"BTC/USDT": 1}, "marks": {}}
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO runs (id, mode, profile, status, started_at_ms, config) "
                "VALUES ('old-run', 'replay', 'balanced', 'completed', 1, '{}')"
            )
        )
        connection.execute(
            text("INSERT INTO engine_state (key, value, updated_at_ms) VALUES (:k, :v, 1)"),
            {"k": "run:old-run", "v": json.dumps(point)},
        )

    db.migrate()

    with db.session() as session:
        head = EngineStateRepository(session).get("run:old-run")
        rows = session.execute(
            select(LedgerEntryRow.sequence, LedgerEntryRow.entry).order_by(LedgerEntryRow.sequence)
        ).all()
        state = read_run_state(session, "old-run")
    assert "entries" not in head["ledger"]
    assert head["ledger"]["entry_count"] == 3
    assert [(sequence, entry) for sequence, entry in rows] == list(enumerate(full["entries"]))
    assert state == point
    assert Ledger.restore(state["ledger"]).snapshot() == full

    db.downgrade("0006")
    with db.engine.connect() as connection:
        raw = connection.execute(
            text("SELECT value FROM engine_state WHERE key = 'run:old-run'")
        ).scalar_one()
    assert (json.loads(raw) if isinstance(raw, str) else raw) == point
    assert "ledger_entries" not in inspect(db.engine).get_table_names()
    db.migrate()
