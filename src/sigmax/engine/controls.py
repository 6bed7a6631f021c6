"""Operator commands to the engine: pause, resume, panic.

The CLI runs in another process than the engine, so a command is a row of ``control_commands``.
A running engine reads the pending rows between two steps, applies them on its own clock (the
close of the last candle it processed: candle time in a replay, about wall time live) and
records the outcome in the same transaction as the step; an operator's pause lasts its
duration in wall time, whatever the replay's pace. When no live engine holds the lease, the
service applies the command itself, at once (see :mod:`sigmax.engine.safety_service`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from sigmax.domain.candles import ms_to_iso
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.errors import InputError
from sigmax.safety.state import Hold
from sigmax.safety.triggers import until_text
from sigmax.storage.models import ControlCommandRow, ControlKind, ControlStatus

if TYPE_CHECKING:
    # Only named in signatures: the database layer (and Alembic) is not imported for it.
    from sigmax.storage.database import Database

#: At full replay speed the queue is read at most this often (wall-clock seconds).
POLL_INTERVAL_S = 0.25


@dataclass(frozen=True, slots=True)
class ControlCommand:
    """One operator command as the engine applies it."""

    id: int
    kind: ControlKind
    duration_ms: int | None = None
    force: bool = False
    reason: str | None = None
    #: A manual order: market, side and base quantity (exact decimal text).
    symbol: str | None = None
    side: str | None = None
    qty: str | None = None

    @classmethod
    def from_row(cls, row: ControlCommandRow) -> ControlCommand:
        arguments: dict[str, Any] = dict(row.arguments)
        duration = arguments.get("duration_ms")
        reason = arguments.get("reason")
        return cls(
            id=row.id,
            kind=row.kind,
            duration_ms=int(duration) if duration is not None else None,
            force=bool(arguments.get("force", False)),
            reason=str(reason) if reason else None,
            symbol=_text(arguments.get("symbol")),
            side=_text(arguments.get("side")),
            qty=_text(arguments.get("qty")),
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class ControlOutcome:
    """What became of a command: ``pending`` when nothing has applied it yet."""

    id: int
    kind: ControlKind
    status: ControlStatus
    result: str | None
    applied_by: str | None


class ControlQueue:
    """The engine's side: read pending commands, no more often than needed."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self._clock = clock
        self._next_poll = 0.0

    def due(self, paced: bool) -> bool:
        """Whether to read the queue now: every candle group when paced, else every
        POLL_INTERVAL_S, so a full-speed replay does not query the database per candle."""
        if paced:
            return True
        now = self._clock()
        if now < self._next_poll:
            return False
        self._next_poll = now + POLL_INTERVAL_S
        return True

    def pending(self) -> list[ControlCommand]:
        with self.db.session() as session:
            rows = session.scalars(
                select(ControlCommandRow)
                .where(ControlCommandRow.status == ControlStatus.PENDING)
                .order_by(ControlCommandRow.id)
            ).all()
            return [ControlCommand.from_row(row) for row in rows]


def pause_message(at_ms: int, hold: Hold) -> str:
    """What an applied pause answers: when (market time) and until when, in its own clock."""
    if hold.until_ms is None:
        return f"paused at {ms_to_iso(at_ms)} (market time) until a resume"
    seconds = (hold.until_ms - hold.since_ms) // 1000
    return (
        f"paused at {ms_to_iso(at_ms)} (market time) for {seconds} s, "
        f"until {until_text(hold.until_ms, hold.clock)}"
    )


def parse_duration(text: str, field: str = "--duration") -> int:
    """``--duration``: ``90`` (seconds), ``30s``, ``30m``, ``1h``, ``2d`` -> milliseconds.

    ``field`` names the input in an error (``/pause`` for the Telegram bot)."""
    value = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    multiplier = 1
    if value and value[-1] in units:
        multiplier = units[value[-1]]
        value = value[:-1]
    if not value.isdigit() or int(value) <= 0:
        raise InputError(
            f"{field}: must be a positive whole number of seconds or a number with s, m, h "
            f"or d (like 3600, 30m, 1h) (got {text!r})"
        )
    seconds = int(value) * multiplier
    if seconds > 366 * 86_400:
        raise InputError(f"{field}: must be at most a year (got {text!r})")
    return seconds * 1000


def request(db: Database, kind: ControlKind, arguments: dict[str, Any]) -> int:
    """Queue a command; returns its id."""
    with db.transaction() as session:
        row = ControlCommandRow(
            kind=kind,
            arguments=arguments,
            status=ControlStatus.PENDING,
            result=None,
            applied_by=None,
            requested_at_ms=wall_clock_ms(),
            applied_at_ms=None,
        )
        session.add(row)
        session.flush()
        return row.id


def outcome(db: Database, command_id: int) -> ControlOutcome:
    with db.session() as session:
        row = session.get(ControlCommandRow, command_id)
        if row is None:
            raise InputError(f"no control command {command_id}")
        return ControlOutcome(row.id, row.kind, row.status, row.result, row.applied_by)


def wait_for(
    db: Database,
    command_id: int,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> ControlOutcome:
    """Poll until the engine applied (or refused) the command, or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = outcome(db, command_id)
        if found.status is not ControlStatus.PENDING or time.monotonic() >= deadline:
            return found
        sleep(0.1)


def settle(db: Database, command_id: int, status: ControlStatus, result: str) -> bool:
    """Mark a pending command done by the CLI; False when the engine got to it first."""
    with db.transaction() as session:
        changed = session.execute(
            update(ControlCommandRow)
            .where(
                ControlCommandRow.id == command_id,
                ControlCommandRow.status == ControlStatus.PENDING,
            )
            .values(status=status, result=result, applied_by="cli", applied_at_ms=wall_clock_ms())
        )
        return bool(getattr(changed, "rowcount", 0))
