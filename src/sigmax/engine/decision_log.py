"""The decision history: every :class:`DecisionRecord` written to storage before anything acts.

:class:`StoredDecisionLog` is the orchestrator's :class:`~sigmax.agents.orchestrator.DecisionSink`
over the SQL database. A decision's id is a digest of what it depends on (symbol, timeframe,
profile, moment, configuration), so saving the same decision again is a no-op: the row written
first is kept, and an order derived from that id can never be sent twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from sigmax.domain.decisions import DecisionRecord
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError
from sigmax.storage import Database, DuplicateRecordError
from sigmax.storage.models import DecisionAction, DecisionRow
from sigmax.storage.repositories import DecisionRepository

log = logging.getLogger(__name__)

CENT: Final = Decimal("0.01")
#: Most decisions ``history`` returns at once.
MAX_HISTORY_LIMIT: Final = 1000
#: Keys whose values differ between two runs of the same decision (timing only).
VOLATILE_KEYS: Final = frozenset({"latency_ms"})


def wall_clock_ms() -> int:
    """Now, in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def usd_cents(amount: float) -> Decimal:
    """A USD amount held as a float, as an exact Decimal rounded to cents.

    ``repr`` gives the shortest text that reads back as the same float, so ``12.3`` becomes
    ``Decimal('12.30')`` and not the binary expansion ``12.300000000000000710...``.
    """
    return Decimal(repr(amount)).quantize(CENT, rounding=ROUND_HALF_EVEN)


def without_volatile(value: Any) -> Any:
    """``value`` with every key named in :data:`VOLATILE_KEYS` removed, at any depth."""
    if isinstance(value, Mapping):
        return {k: without_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list | tuple):
        return [without_volatile(v) for v in value]
    return value


def canonical_symbol(symbol: str) -> str:
    """``btc-usdt`` -> ``BTC/USDT``: the form decisions are stored under."""
    try:
        return str(Symbol.parse(symbol))
    except ValueError as error:
        raise InputError(str(error)) from None


class StoredDecisionLog:
    """Decisions in the ``decisions`` table: written once, read back as their record dicts."""

    def __init__(self, db: Database, clock: Callable[[], int] = wall_clock_ms) -> None:
        """``clock`` stamps ``created_at_ms`` (when the row was written, not the decision time)."""
        self._db = db
        self._clock = clock

    def save(self, record: DecisionRecord) -> None:
        """Persist ``record`` in one transaction; a decision already stored is kept as it is."""
        self.insert_if_new(record)

    def insert_if_new(self, record: DecisionRecord) -> bool:
        """Persist ``record``; ``True`` if a row was written, ``False`` if its id was stored."""
        document = record.to_dict()
        try:
            with self._db.transaction() as session:
                decisions = DecisionRepository(session)
                existing = decisions.get(record.id)
                if existing is None:
                    decisions.add(_row(record, document, self._clock()))
                    return True
                stored = existing.record
        except DuplicateRecordError:
            # Another writer inserted the same id between our read and our insert (possible
            # on PostgreSQL, where the read does not lock): the decision is stored either way.
            with self._db.session() as session:
                row = DecisionRepository(session).get(record.id)
                if row is None:
                    raise
                stored = row.record
        if without_volatile(stored) != without_volatile(document):
            # Same id means same symbol, moment, profile and configuration; a different
            # outcome means the candles changed underneath. The first record is what any
            # order was based on, so it stays, but an operator must hear about it.
            log.warning(
                "decision %s for %s at %s was already recorded with a different result "
                "(stored %s, now %s); keeping the stored record",
                record.id,
                record.symbol,
                document["timestamp"],
                stored.get("decision"),
                document["decision"],
            )
        return False

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The stored record with ``decision_id``, or ``None``."""
        with self._db.session() as session:
            row = DecisionRepository(session).get(decision_id)
            return None if row is None else dict(row.record)

    def latest(self, symbol: str) -> dict[str, Any] | None:
        """The newest stored record for ``symbol`` (by decision time), or ``None``."""
        newest = self.history(symbol, limit=1)
        return newest[0] if newest else None

    def history(self, symbol: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Up to ``limit`` stored records, newest decision first, for one symbol or all."""
        if not 1 <= limit <= MAX_HISTORY_LIMIT:
            raise InputError(f"limit must be between 1 and {MAX_HISTORY_LIMIT} (got {limit})")
        wanted = None if symbol is None else canonical_symbol(symbol)
        with self._db.session() as session:
            rows = DecisionRepository(session).list(wanted, limit=limit)
            return [dict(row.record) for row in rows]


def _row(record: DecisionRecord, document: dict[str, Any], created_at_ms: int) -> DecisionRow:
    return DecisionRow(
        id=record.id,
        symbol=record.symbol,
        timeframe=record.timeframe,
        profile=record.profile,
        decided_at_ms=record.timestamp_ms,
        data_until_ms=record.data_until_ms,
        action=DecisionAction(record.decision.value),
        confidence=record.confidence,
        size_usd=usd_cents(record.size_usd),
        record=document,
        created_at_ms=created_at_ms,
    )
