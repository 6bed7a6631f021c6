"""Crash recovery end to end, on SQLite and on the real PostgreSQL: a run stopped mid-way is
backed up, its store corrupted (a fill deleted, a position altered), ``sigmax verify`` names
both, ``sigmax restore`` puts the backup back, ``verify`` is clean, and the run resumed from the
restored store ends exactly as an uninterrupted run."""

from __future__ import annotations

import asyncio
import contextlib
import tarfile
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from engine.account_runs import (
    OPTIONS,
    STOP_SPEED,
    _protected_state,
    clean_home,
    complete_run,
)
from sigmax.cli import app
from sigmax.engine.runner import run_paper
from sigmax.ops.resume import read_resume_point
from sigmax.storage.database import Database
from sigmax.storage.models import EquitySnapshotRow, FillRow, OrderRow, PositionRow, RunRow
from storage.conftest import throwaway_postgres_database

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def recorded(url: str) -> dict[str, Any]:
    """What a run leaves that must not depend on how it got there (values, not ids)."""
    db = Database.open(url)
    try:
        with db.session() as session:
            fills = [
                (coid, f.symbol, f.side.value, Decimal(f.qty), Decimal(f.price), Decimal(f.fee),
                 Decimal(f.realized_pnl), f.filled_at_ms)
                for f, coid in session.execute(
                    select(FillRow, OrderRow.client_order_id)
                    .join(OrderRow, FillRow.order_id == OrderRow.id)
                    .order_by(FillRow.filled_at_ms, OrderRow.client_order_id)
                )
            ]  # fmt: skip
            orders = sorted(
                (o.client_order_id, o.status.value, Decimal(o.filled_qty))
                for o in session.scalars(select(OrderRow))
            )
            positions = sorted(
                (p.symbol, Decimal(p.qty), Decimal(p.realized_pnl))
                for p in session.scalars(select(PositionRow))
            )
            equity = [
                (e.taken_at_ms, Decimal(e.cash), Decimal(e.equity))
                for e in session.scalars(
                    select(EquitySnapshotRow).order_by(EquitySnapshotRow.taken_at_ms)
                )
            ]
            # The whole ledger, its head and every entry, as every reader reassembles it.
            ledgers = []
            for run_id in session.scalars(select(RunRow.id).order_by(RunRow.id)):
                point = read_resume_point(session, run_id)
                ledgers.append(None if point is None else point.ledger().snapshot())
    finally:
        db.dispose()
    return {
        "fills": fills,
        "orders": orders,
        "positions": positions,
        "equity": equity,
        "ledgers": ledgers,
    }


async def _stop_when_protected(url: str) -> None:
    task = asyncio.create_task(run_paper(replace(OPTIONS, speed=STOP_SPEED)))
    db = Database.open(url)
    try:
        while not task.done():
            await asyncio.sleep(0.02)
            if _protected_state(db) is not None:
                task.cancel()
                break
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("uninterrupted")
    with clean_home(home):
        complete_run()
    return recorded(f"sqlite:///{home / 'sigmax.db'}")


def _recover(home: Path, url: str, reference: dict[str, Any], patch: pytest.MonkeyPatch) -> None:
    if not url.startswith("sqlite"):
        patch.setenv("DATABASE_URL", url)
    asyncio.run(_stop_when_protected(url))
    assert recorded(url)["fills"], "the stopped run should have traded"

    backup = invoke("backup", "--to", str(home / "safe"))
    assert backup.exit_code == 0, backup.output
    (archive,) = (home / "safe").glob("sigmax-backup-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "manifest.json" in names
    assert any(name.startswith("store/") for name in names)
    assert "config/effective.json" in names

    db = Database.open(url)
    try:
        with db.transaction() as session:
            victim = session.execute(
                select(FillRow.id, OrderRow.client_order_id)
                .join(OrderRow, FillRow.order_id == OrderRow.id)
                .order_by(FillRow.id)
            ).first()
            assert victim is not None
            fill_id, client_order_id = victim
            session.execute(delete(FillRow).where(FillRow.id == fill_id))
            session.execute(
                update(PositionRow).where(PositionRow.symbol == "BTC/USDT").values(qty=Decimal("7"))
            )
    finally:
        db.dispose()

    broken = invoke("verify")
    assert broken.exit_code == 2, broken.output
    assert f"order {client_order_id}" in broken.output
    assert "fill_missing" in broken.output
    assert "position BTC/USDT: the positions table holds qty 7" in broken.output

    restored = invoke("restore", str(archive), "--yes")
    assert restored.exit_code == 0, restored.output
    clean = invoke("verify")
    assert clean.exit_code == 0, clean.output

    complete_run()
    assert recorded(url) == reference
    assert invoke("verify").exit_code == 0


def test_backup_corrupt_verify_restore_resume_on_sqlite(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    with clean_home(tmp_path), pytest.MonkeyPatch.context() as patch:
        _recover(tmp_path, f"sqlite:///{tmp_path / 'sigmax.db'}", reference, patch)
    # The corrupted database was kept aside, not destroyed.
    assert list(tmp_path.glob("sigmax.db.before-restore-*"))


@pytest.mark.postgres
def test_backup_corrupt_verify_restore_resume_on_postgresql(
    tmp_path: Path, reference: dict[str, Any], postgres_url: str
) -> None:
    with (
        throwaway_postgres_database(postgres_url) as url,
        clean_home(tmp_path),
        pytest.MonkeyPatch.context() as patch,
    ):
        _recover(tmp_path, url, reference, patch)
