"""The operations commands against real runs: health of a live and a dead run (and the cron
line of docs/OPERATIONS.md as written), export row for row, an audit that finds an orphaned
fill, rebuild-history, restore's refusals, vacuum, report and win rate."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, insert, select, update
from typer.testing import CliRunner

from engine.account_runs import clean_home, complete_run
from sigmax.bench.run_process import free_port, sigmax_run
from sigmax.cli import app
from sigmax.engine.lease import EngineLease
from sigmax.storage.database import Database
from sigmax.storage.models import (
    DecisionRow,
    EquitySnapshotRow,
    FillRow,
    OrderRow,
    PositionRow,
)

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def completed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("completed")
    with clean_home(home):
        complete_run()
    return home


@pytest.fixture
def home(completed_home: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the completed run's home."""
    copy = tmp_path / "home"
    shutil.copytree(completed_home, copy)
    with clean_home(copy):
        yield copy


def _db(home: Path) -> Database:
    return Database.open(f"sqlite:///{home / 'sigmax.db'}")


# --- health ---------------------------------------------------------------------------------


def _cron_line() -> str:
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    (line,) = [x for x in text.splitlines() if x.startswith("*/5 * * * * ")]
    return line


def _run_cron(
    home: Path, tmp_path: Path, api_port: int | None = None
) -> tuple[int, str, dict[str, Any]]:
    """The cron line's command as cron runs it (sh -c), the install path being ``home``; a
    ``logger`` on PATH records what it is asked to log."""
    command = _cron_line().split(maxsplit=5)[5].replace("/srv/sigmax", str(home))
    if api_port is not None:
        command = command.replace(
            "sigmax health", f"sigmax health --api-url http://127.0.0.1:{api_port}"
        )
    shims = tmp_path / "shims"
    shims.mkdir(exist_ok=True)
    logged = tmp_path / "logger.out"
    logger = shims / "logger"
    logger.write_text(f'#!/bin/sh\necho "$@" >> {logged}\n')
    logger.chmod(0o755)
    env = {
        "PATH": f"{shims}:{Path(sys.executable).parent}:/usr/bin:/bin",
        # The cron line changes directory: the tested code's path must not be relative.
        "PYTHONPATH": os.pathsep.join(
            str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
        ),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120
    )
    body = json.loads((home / "logs" / "health.json").read_text())
    return result.returncode, logged.read_text() if logged.exists() else "", body


@pytest.mark.slow
def test_health_is_0_for_a_live_run_and_2_once_it_is_killed(tmp_path: Path) -> None:
    home = tmp_path / "live"
    home.mkdir()
    with clean_home(home):
        port = free_port()
        with sigmax_run(home, speed="1", profile="conservative", port=port, data=None) as run:
            code, logged, body = _run_cron(home, tmp_path, port)
            assert body["status"] == "healthy", body
            assert code == 0
            assert logged == ""
            checks = {c["name"]: c["level"] for c in body["checks"]}
            assert checks["process"] == checks["api"] == "ok"
            # /api/health says the same through the same function.
            import httpx

            api = httpx.get(f"{run.base_url}/api/health", timeout=5).json()
            assert api["status"] == "healthy"
            assert {c["name"] for c in api["checks"]} == set(checks)
            run.process.send_signal(signal.SIGKILL)
            run.process.wait(timeout=10)
        code, logged, body = _run_cron(home, tmp_path, port)
        assert body["status"] == "unhealthy", body
        assert code == 0  # the cron line's "||" handled the failure...
        assert "health check failed with exit 2" in logged  # ...by logging exit 2
        process = next(c for c in body["checks"] if c["name"] == "process")
        assert "stale" in process["detail"]
        assert invoke("health").exit_code == 2


def test_health_of_a_completed_paused_run_is_degraded(home: Path) -> None:
    result = invoke("health", "--json")
    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    levels = {c["name"]: c["level"] for c in body["checks"]}
    assert levels["process"] == "degraded"
    assert levels["paused"] == "degraded"


def test_health_counts_recent_error_lines_in_the_log(home: Path) -> None:
    from sigmax.domain.candles import ms_to_iso
    from sigmax.engine.decision_log import wall_clock_ms

    log = home / "logs" / "sigmax.log"
    log.parent.mkdir(exist_ok=True)
    stamp = ms_to_iso(wall_clock_ms()).replace("Z", ".000Z")
    with log.open("a") as handle:
        handle.write(f"{stamp} ERROR    sigmax.engine: exchange unreachable\n")
    body = json.loads(invoke("health", "--json").output)
    check = next(c for c in body["checks"] if c["name"] == "log")
    assert check["level"] == "degraded"
    assert "exchange unreachable" in check["detail"]


# --- export ---------------------------------------------------------------------------------


def _rows(home: Path, model: Any, order: Any) -> list[dict[str, Any]]:
    db = _db(home)
    try:
        with db.session() as session:
            columns = list(model.__table__.columns)
            return [
                dict(zip([c.name for c in columns], row, strict=True))
                for row in session.execute(select(*columns).order_by(order, columns[0]))
            ]
    finally:
        db.dispose()


def _same(stored: Any, exported: Any) -> bool:
    if isinstance(stored, Decimal):
        return Decimal(str(exported)) == stored and str(exported) == format(stored, "f")
    if hasattr(stored, "value"):
        return exported == stored.value
    if isinstance(stored, dict):
        return (json.loads(exported) if isinstance(exported, str) else exported) == stored
    return (
        exported == stored
        or str(exported) == str(stored)
        or (stored is None and exported in ("", None))
    )


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_equity_and_decisions_match_the_database_row_for_row(
    home: Path, tmp_path: Path, fmt: str
) -> None:
    for dataset, model, order in (
        ("equity", EquitySnapshotRow, EquitySnapshotRow.taken_at_ms),
        ("decisions", DecisionRow, DecisionRow.decided_at_ms),
    ):
        out = tmp_path / f"{dataset}.{fmt}"
        result = invoke("export", dataset, "--format", fmt, "--output", str(out))
        assert result.exit_code == 0, result.output
        stored = _rows(home, model, order)
        exported = _read(out, fmt)
        assert len(exported) == len(stored) > 0
        for have, want in zip(exported, stored, strict=True):
            assert set(have) == set(want)
            for key, value in want.items():
                got = have[key]
                if fmt == "parquet" and isinstance(value, Decimal):
                    assert got == value, key
                else:
                    assert _same(value, got), (dataset, key, value, got)


def _read(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(path.read_text())))
    if fmt == "json":
        loaded: list[dict[str, Any]] = json.loads(path.read_text())
        return loaded
    return pq.read_table(path).to_pylist()  # type: ignore[no-any-return]


def test_export_trades_carries_every_fill_and_order_column_in_the_window(
    home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "trades.csv"
    result = invoke(
        "export",
        "trades",
        "--format",
        "csv",
        "--output",
        str(out),
        "--from",
        "2022-11-02T00:00:00Z",
        "--to",
        "2022-11-05T00:00:00Z",
    )
    assert result.exit_code == 0, result.output
    exported = _read(out, "csv")
    stored = [
        r for r in _rows(home, FillRow, FillRow.filled_at_ms) if r["filled_at_ms"] >= 1667347200000
    ]
    assert [int(r["id"]) for r in exported] == [r["id"] for r in stored]
    for have, want in zip(exported, stored, strict=True):
        for key, value in want.items():
            assert _same(value, have[key]), key
        assert have["order_client_order_id"].startswith("sgx-")
    assert invoke("export", "fills", "--output", str(out)).exit_code == 2


# --- audit ----------------------------------------------------------------------------------


def test_audit_finds_an_orphaned_fill(home: Path) -> None:
    clean = invoke("audit", "--month", "2022-11", "--json")
    assert clean.exit_code == 0, clean.output
    body = json.loads(clean.output)
    assert body["orphans"] == []
    assert body["mismatches"] == []
    assert all(line["policy_verdict"]["allowed"] for line in body["fills"])
    assert all(line["origin"] == "decision" and line["decision_action"] for line in body["fills"])
    db = _db(home)
    try:
        with db.transaction() as session:
            # An order no decision, command, operator or panic explains, and its fill.
            order_id = session.execute(insert(OrderRow).values(
                client_order_id="rogue-1", decision_id=None, venue="paper",
                exchange_order_id=None, symbol="BTC/USDT", side="buy", type="market",
                qty=Decimal("0.001"), price=None, filled_qty=Decimal("0.001"), status="filled",
                reject_reason=None, policy_verdict=None, created_at_ms=1667500000000,
                updated_at_ms=1667500000000, purpose="entry",
            )).inserted_primary_key[0]  # fmt: skip
            session.execute(insert(FillRow).values(
                order_id=order_id, trade_seq=1, exchange_trade_id=None, symbol="BTC/USDT",
                side="buy", qty=Decimal("0.001"), price=Decimal("20000"), fee=Decimal("0.02"),
                fee_currency="USDT", realized_pnl=Decimal(0), filled_at_ms=1667500000000,
                candle_open_ms=None, decision_id=None,
            ))  # fmt: skip
    finally:
        db.dispose()
    found = invoke("audit", "--month", "2022-11", "--json")
    assert found.exit_code == 2
    body = json.loads(found.output)
    (orphan,) = body["orphans"]
    assert orphan["client_order_id"] == "rogue-1"
    assert any(p["code"] == "order_without_verdict" for p in body["mismatches"])
    # Another month has none of it.
    assert json.loads(invoke("audit", "--month", "2022-12", "--json").output)["fills"] == []
    assert invoke("audit", "--month", "2022-13").exit_code == 2


# --- rebuild --------------------------------------------------------------------------------


def test_rebuild_history_repairs_a_deleted_fill_and_an_altered_position(home: Path) -> None:
    db = _db(home)
    try:
        with db.transaction() as session:
            first = session.scalar(select(FillRow.id).order_by(FillRow.id))
            session.execute(delete(FillRow).where(FillRow.id == first))
            session.execute(
                update(PositionRow).where(PositionRow.symbol == "ETH/USDT").values(qty=Decimal("3"))
            )
    finally:
        db.dispose()
    assert invoke("verify").exit_code == 2
    rebuilt = invoke("rebuild-history", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    body = json.loads(rebuilt.output)
    assert any("written back from the ledger" in line for line in body["rebuilt"])
    assert any(line.startswith("position ETH/USDT: 3 ->") for line in body["rebuilt"])
    assert invoke("verify").exit_code == 0
    assert json.loads(invoke("rebuild-history", "--json").output)["rebuilt"] == []


# --- backup and restore ---------------------------------------------------------------------


def _backup(home: Path) -> Path:
    result = invoke("backup", "--json")
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.output)["archive"])


def test_backup_manifest_checksums_and_no_secrets(home: Path) -> None:
    (home / ".env").write_text("API_KEY=supersecretkey123456\nAPI_SECRET=anothersecret987654\n")
    archive = _backup(home)
    assert archive.parent == home / "backups"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers())  # type: ignore[union-attr]
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["format"] == "sigmax-backup"
    assert manifest["backend"] == "sqlite"
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert "config/files/config.yaml" in names
    assert "config/files/safety.yaml" in names
    assert b"supersecretkey123456" not in blob
    assert b"anothersecret987654" not in blob


def test_restore_refuses_a_damaged_a_foreign_archive_and_a_running_engine(
    home: Path, tmp_path: Path
) -> None:
    archive = _backup(home)
    # Damaged: one byte of the database changed, the manifest left as it was.
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(damaged, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "store/sigmax.db":
                data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
            target.addfile(member, io.BytesIO(data))
    result = invoke("restore", str(damaged), "--yes")
    assert result.exit_code == 2
    assert "store/sigmax.db has SHA-256" in result.output
    # Foreign: a tar.gz that is not a backup.
    foreign = tmp_path / "foreign.tar.gz"
    with tarfile.open(foreign, "w:gz") as target:
        info = tarfile.TarInfo("manifest.json")
        data = b'{"format": "something-else"}'
        info.size = len(data)
        target.addfile(info, io.BytesIO(data))
    result = invoke("restore", str(foreign), "--yes")
    assert result.exit_code == 2
    assert "not a SIGMAX backup" in result.output
    not_tar = tmp_path / "x.tar.gz"
    not_tar.write_bytes(b"hello")
    assert "not a readable .tar.gz" in invoke("restore", str(not_tar), "--yes").output
    # No confirmation, not a terminal: refused naming --yes.
    assert "--yes" in invoke("restore", str(archive)).output
    # A running engine holds the lease.
    db = _db(home)
    lease = EngineLease.acquire(db, "test-run")
    try:
        result = invoke("restore", str(archive), "--yes")
        assert result.exit_code == 2
        assert "an engine is running" in result.output
    finally:
        lease.release()
        db.dispose()
    assert invoke("restore", str(archive), "--yes").exit_code == 0


def test_backup_of_postgresql_without_pg_dump_names_the_package(
    home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage.conftest import throwaway_postgres_database

    with throwaway_postgres_database(postgres_url) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("PATH", "/nonexistent")
        result = invoke("backup")
    assert result.exit_code == 1
    assert "pg_dump is not installed" in result.output
    assert "postgresql-client" in result.output


# --- vacuum, report, stats --------------------------------------------------------------------


def test_vacuum_sqlite_and_refused_while_an_engine_runs(home: Path) -> None:
    assert invoke("db", "vacuum").exit_code == 0
    db = _db(home)
    lease = EngineLease.acquire(db, "test-run")
    try:
        assert invoke("db", "vacuum").exit_code == 2
    finally:
        lease.release()
        db.dispose()


def test_report_and_win_rate_come_from_the_fills(home: Path, tmp_path: Path) -> None:
    db = _db(home)
    try:
        with db.session() as session:
            fills = list(
                session.scalars(select(FillRow).order_by(FillRow.filled_at_ms, FillRow.id))
            )
            fees = sum((f.fee for f in fills), Decimal(0))
            # Round trips from flat to flat, net of every fee.
            held: dict[str, Decimal] = {}
            net: dict[str, Decimal] = {}
            results = []
            for f in fills:
                held[f.symbol] = held.get(f.symbol, Decimal(0)) + (
                    f.qty if f.side.value == "buy" else -f.qty
                )
                net[f.symbol] = net.get(f.symbol, Decimal(0)) + f.realized_pnl - f.fee
                if held[f.symbol] == 0:
                    results.append(net.pop(f.symbol))
    finally:
        db.dispose()
    html = tmp_path / "r.html"
    result = invoke("report", "--period", "week", "--json", "--html", str(html))
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["fills"] == len(fills)
    assert Decimal(body["fees"]) == fees
    assert body["trades"] == len(results)
    assert body["wins"] == sum(1 for r in results if r > 0)
    assert Decimal(body["pnl"]) == Decimal(body["end_equity"]) - Decimal(body["start_equity"])
    assert body["pauses"]
    assert body["pauses"][0]["trigger"] == "consecutive_losses"
    assert body["buy_and_hold_pnl"] is not None
    assert "SIGMAX week report" in html.read_text()
    stats = json.loads(invoke("stats", "win-rate", "--json").output)
    assert (stats["trades"], stats["wins"]) == (body["trades"], body["wins"])
    assert invoke("report", "--period", "year").exit_code == 2


# --- the runbook --------------------------------------------------------------------------------


def test_every_sigmax_command_of_the_runbook_exists_with_its_options() -> None:
    """Each ``sigmax ...`` line of docs/OPERATIONS.md names a command and options the CLI has
    (the commands themselves are run by the tests above and in tests/ops/test_recovery.py)."""
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    blocks = re.findall(r"```\n(.*?)```", text, re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    commands = [line for line in lines if line.startswith("sigmax ")]
    commands += re.findall(r"(sigmax health --json)", _cron_line())
    assert len(commands) >= 20
    for command in commands:
        words = command.split()[1:]
        path = [w for w in words if not w.startswith("-")][:2]
        options = [w.split("=")[0] for w in words if w.startswith("--")]
        result = invoke(*path, "--help")
        if result.exit_code != 0 or "Usage:" not in result.output:
            result = invoke(path[0], "--help")
        assert result.exit_code == 0, (command, result.output)
        for option in options:
            assert option in result.output, (command, option)


def test_verify_names_a_skipped_step_and_notes_a_gap_in_the_market_data(home: Path) -> None:
    db = _db(home)
    try:
        with db.transaction() as session:
            referenced = set(session.scalars(select(OrderRow.decision_id)))
            moments = sorted(set(session.scalars(select(DecisionRow.decided_at_ms))))
            # A moment of the replay where nothing ordered: the feed "had no candle" there.
            gap = next(
                at
                for at in moments[10:]
                if not referenced
                & set(
                    session.scalars(select(DecisionRow.id).where(DecisionRow.decided_at_ms == at))
                )
            )
            session.execute(delete(DecisionRow).where(DecisionRow.decided_at_ms == gap))
            session.execute(delete(EquitySnapshotRow).where(EquitySnapshotRow.taken_at_ms == gap))
        noted = json.loads(invoke("verify", "--json").output)
        assert noted["ok"], noted["problems"]
        assert len(noted["notes"]) == 1
        # One symbol's decision gone where the other decided: a skipped step.
        skipped = next(at for at in moments[20:] if at != gap)
        with db.transaction() as session:
            victim = session.scalar(
                select(DecisionRow.id).where(
                    DecisionRow.decided_at_ms == skipped,
                    DecisionRow.symbol == "ETH/USDT",
                    DecisionRow.id.not_in([d for d in referenced if d is not None]),
                )
            )
            assert victim is not None
            session.execute(delete(DecisionRow).where(DecisionRow.id == victim))
    finally:
        db.dispose()
    result = invoke("verify", "--json")
    assert result.exit_code == 2
    (problem,) = json.loads(result.output)["problems"]
    assert problem["code"] == "step_gap"
    assert problem["ids"]["symbol"] == "ETH/USDT"
