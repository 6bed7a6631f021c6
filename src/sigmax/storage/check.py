"""The store checked before it is trusted: corruption and a lost account are refused.

A SQLite file damaged on disk can still answer simple queries, so ``sigmax run`` would trade on
top of it, and a database truncated to nothing looks like a new account (cash back at the
starting capital, the replay from the start). So, before the schema is migrated:

* SQLite: ``PRAGMA quick_check`` must answer ``ok``;
* both backends: the schema is one this version knows, every table is there after the
  migration, and the rows agree (orders, fills and decisions belong to a run; a run that traded
  has its resume point);
* an empty store (no run) while the home holds earlier state (an account marker written by a
  run, backups, log lines of a run) is refused unless the operator asks for a new account.

Every refusal is a :class:`StoreCheckError` (exit 2) that names the next step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from sqlalchemy import func, inspect, select

from sigmax.errors import InputError, StorageError
from sigmax.storage.database import Database, redact_url
from sigmax.storage.models import (
    Base,
    DecisionRow,
    EngineStateRow,
    FillRow,
    OrderRow,
    RunRow,
)

#: What the operator does about a damaged store.
RESTORE_STEP: Final = (
    "check it with 'sigmax verify' and repair it with 'sigmax rebuild-history', or restore a "
    "backup with 'sigmax restore FILE' ('sigmax backup' writes them to SIGMAX_HOME/backups), or "
    "move it aside and start a new account with 'sigmax run --new-account'"
)
#: Written by ``sigmax run`` into SIGMAX_HOME when it starts an account there.
ACCOUNT_MARKER: Final = "account.json"
#: Driver messages that mean the file is not a sound database.
_CORRUPT_SIGNS: Final = ("malformed", "not a database", "file is encrypted", "corrupt")


class StoreCheckError(StorageError, InputError):
    """The store is damaged, or empty where the home shows an earlier account (exit 2)."""

    exit_code = 2


def open_checked(url: str, home: Path, *, new_account: bool = False) -> Database:
    """Open the database at ``url``, check it, migrate it, check it again; see the module."""
    try:
        db = Database.open(url, migrate=False)
    except StorageError as error:
        raise _corrupt_or(error, redact_url(url)) from None
    try:
        quick_check(db)
        _check_revision(db)
        try:
            db.migrate()
        except StorageError as error:
            raise _corrupt_or(error, db.url) from None
        check_schema_and_rows(db)
        if not new_account:
            refuse_lost_account(db, home)
    except BaseException:
        db.dispose()
        raise
    return db


def quick_check(db: Database) -> None:
    """SQLite's ``PRAGMA quick_check`` (PostgreSQL checks its pages itself)."""
    if db.backend != "sqlite":
        return
    try:
        with db.engine.connect() as connection:
            rows = [str(row[0]) for row in connection.exec_driver_sql("PRAGMA quick_check")]
    except Exception as error:  # the driver may fail outright on a damaged file
        raise StoreCheckError(
            f"the database {db.url} is damaged ({_first_line(error)}); {RESTORE_STEP}"
        ) from None
    if rows != ["ok"]:
        found = "; ".join(rows[:3]) + (f" (and {len(rows) - 3} more)" if len(rows) > 3 else "")
        raise StoreCheckError(
            f"the database {db.url} is damaged (PRAGMA quick_check: {found}); {RESTORE_STEP}"
        )


def _check_revision(db: Database) -> None:
    revision = db.current_revision()
    if revision is None:
        return
    if revision > Database.head_revision():
        raise StoreCheckError(
            f"the database {db.url} has schema revision {revision}, newer than this SIGMAX "
            f"knows ({Database.head_revision()}); upgrade SIGMAX rather than run an older one"
        )


def check_schema_and_rows(db: Database) -> None:
    """Every table is there and the rows agree with each other."""
    with db.engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
    missing = sorted(set(Base.metadata.tables) - present)
    if missing:
        raise StoreCheckError(
            f"the database {db.url} lacks the tables {', '.join(missing)} although its schema "
            f"is at the newest revision; {RESTORE_STEP}"
        )
    with db.session() as session:
        runs = session.scalar(select(func.count(RunRow.id))) or 0
        orders = session.scalar(select(func.count(OrderRow.id))) or 0
        fills = session.scalar(select(func.count(FillRow.id))) or 0
        decisions = session.scalar(select(func.count(DecisionRow.id))) or 0
        resume_points = (
            session.scalar(
                select(func.count(EngineStateRow.key)).where(EngineStateRow.key.like("run:%"))
            )
            or 0
        )
    problems = []
    if runs == 0 and (orders or fills or decisions):
        problems.append(
            f"{orders} orders, {fills} fills and {decisions} decisions but no run they belong to"
        )
    if fills and not resume_points:
        problems.append(f"{fills} fills but no run's resume point (the account's ledger)")
    if problems:
        raise StoreCheckError(
            f"the database {db.url} does not hold together: {'; '.join(problems)}; {RESTORE_STEP}"
        )


def earlier_state(home: Path) -> list[str]:
    """What in ``home`` shows that an account lived here before (empty: nothing)."""
    found = []
    marker = home / ACCOUNT_MARKER
    if marker.is_file():
        found.append(f"{marker} (written when the account was started)")
    backups = home / "backups"
    if backups.is_dir() and any(backups.iterdir()):
        found.append(f"backups in {backups}")
    logs = home / "logs"
    if logs.is_dir():
        for path in sorted(logs.glob("sigmax.log*")):
            if _mentions_a_run(path):
                found.append(f"run log lines in {path}")
                break
    return found


def _mentions_a_run(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return any(
                " TRADE " in line or "REPLAY of " in line or "LIVE paper trading" in line
                for line in handle
            )
    except OSError:
        return False


def refuse_lost_account(db: Database, home: Path) -> None:
    """An empty store where ``home`` shows an earlier account is refused."""
    with db.session() as session:
        runs = session.scalar(select(func.count(RunRow.id))) or 0
    if runs:
        return
    evidence = earlier_state(home)
    if evidence:
        raise StoreCheckError(
            f"the database {db.url} holds no account, but SIGMAX_HOME ({home}) shows an "
            f"earlier one: {'; '.join(evidence)}. The store may have been lost or replaced: "
            f"{RESTORE_STEP}"
        )


def mark_account(home: Path, run_id: str, database: str, started_ms: int) -> None:
    """Note in ``home`` that an account lives here (see :func:`earlier_state`)."""
    marker = home / ACCOUNT_MARKER
    if marker.exists():
        return
    body = {"run_id": run_id, "database": database, "started_at_ms": started_ms}
    temporary = marker.with_suffix(".tmp")
    temporary.write_text(json.dumps(body, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(marker)


def _corrupt_or(error: StorageError, where: str) -> StorageError:
    """A driver error that says the file is damaged becomes a :class:`StoreCheckError`."""
    message = str(error)
    if any(sign in message.lower() for sign in _CORRUPT_SIGNS):
        return StoreCheckError(f"the database {where} is damaged ({message}); {RESTORE_STEP}")
    return error


def _first_line(error: BaseException) -> str:
    return (str(getattr(error, "orig", None) or error).splitlines() or [type(error).__name__])[0]


__all__ = [
    "ACCOUNT_MARKER",
    "RESTORE_STEP",
    "StoreCheckError",
    "check_schema_and_rows",
    "earlier_state",
    "mark_account",
    "open_checked",
    "quick_check",
    "refuse_lost_account",
]
