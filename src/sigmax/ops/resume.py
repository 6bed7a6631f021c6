"""The resume point as the operations read it, behind one small function.

The engine writes a run's resume point as JSON under ``engine_state`` key ``run:<id>`` (the
ledger's head) and the ledger's entries in ``ledger_entries``; the layout belongs to the engine,
whose :func:`~sigmax.engine.run_store.read_run_state` puts them together. Everything here that
needs it (the ledger, the cursor, the marks) goes through :func:`read_resume_point`, and a
rebuilt ledger is written back through :func:`write_ledger`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from sigmax.domain.ledger import Ledger, LedgerError
from sigmax.engine.resume import ResumePointError as StoredResumePointError
from sigmax.engine.run_store import STATE_KEY, read_run_state, replace_run_ledger
from sigmax.errors import SigmaxError
from sigmax.storage.models import EngineStateRow


class ResumePointError(SigmaxError):
    """A run's resume point cannot be read (names the run and the field)."""


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """What the operations need of a run's resume point."""

    run_id: str
    raw: Mapping[str, Any]
    ledger_state: Mapping[str, Any]
    cursor: dict[str, int]
    marks: dict[str, Decimal]
    updated_at_ms: int

    def ledger(self) -> Ledger:
        try:
            return Ledger.restore(self.ledger_state)
        except LedgerError as error:
            raise ResumePointError(f"resume point of run {self.run_id}: ledger: {error}") from None


def resume_key(run_id: str) -> str:
    return STATE_KEY.format(run_id=run_id)


def read_resume_point(session: Session, run_id: str) -> ResumePoint | None:
    """The run's resume point, or None when it has none (no step committed yet)."""
    row = session.get(EngineStateRow, resume_key(run_id))
    if row is None:
        return None
    try:
        value = read_run_state(session, run_id)
    except StoredResumePointError as error:
        raise ResumePointError(str(error)) from None
    if not isinstance(value, dict):
        raise ResumePointError(f"resume point of run {run_id}: must be an object")
    ledger = value.get("ledger")
    cursor = value.get("cursor", {})
    marks = value.get("marks", {})
    if not isinstance(ledger, dict):
        raise ResumePointError(f"resume point of run {run_id}: ledger must be an object")
    if not isinstance(cursor, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in cursor.values()
    ):
        raise ResumePointError(f"resume point of run {run_id}: cursor must map symbols to integers")
    if not isinstance(marks, dict):
        raise ResumePointError(f"resume point of run {run_id}: marks must be an object")
    parsed: dict[str, Decimal] = {}
    for symbol, text in marks.items():
        try:
            parsed[str(symbol)] = Decimal(str(text))
        except InvalidOperation:
            raise ResumePointError(
                f"resume point of run {run_id}: marks.{symbol} must be a decimal string"
            ) from None
    return ResumePoint(
        run_id=run_id,
        raw=value,
        ledger_state=ledger,
        cursor={str(k): int(v) for k, v in cursor.items()},
        marks=parsed,
        updated_at_ms=row.updated_at_ms,
    )


def write_ledger(session: Session, point: ResumePoint, ledger: Ledger, now_ms: int) -> None:
    """Replace the ledger of ``point``, its head and its entries (the rest of the resume point
    is kept as it is)."""
    try:
        replace_run_ledger(session, point.run_id, ledger, now_ms)
    except StoredResumePointError as error:
        raise ResumePointError(str(error)) from None
