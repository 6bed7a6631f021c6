"""The decision history: every :class:`DecisionRecord` written to storage before anything acts.

:class:`StoredDecisionLog` is the orchestrator's :class:`~sigmax.agents.orchestrator.DecisionSink`
over the SQL database. A decision's id is a digest of what it depends on (symbol, timeframe,
profile, moment, configuration), so saving the same decision again is a no-op: the row written
first is kept, and an order derived from that id can never be sent twice.

Two kinds of decision share the table. A *run's* decisions (the engine's, with the run's id)
are the record of what a run did. An *ad-hoc* analysis (``sigmax analyze``, ``POST
/api/analyze``, the facade) is asked for by an operator, acts on nothing, has no run id and is
marked ``"source": "ad_hoc"``; its id is derived from the run decision's id at the same moment
but differs from it, so an analysis can never stand in for the run's own decision.
``history`` and ``latest`` choose between them (:data:`SOURCES`). ``decision_history.max_entries``
caps how many ad-hoc analyses are kept; a run's decisions are never dropped (its orders point
at them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sigmax.domain.candles import ms_to_iso
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.domain.instruments import Symbol
from sigmax.errors import InputError
from sigmax.storage.errors import DuplicateRecordError
from sigmax.storage.models import DecisionAction, DecisionRow
from sigmax.storage.repositories import DecisionRepository

if TYPE_CHECKING:
    # Only named in signatures: the database layer (and Alembic) is not imported for it.
    from sigmax.storage.database import Database

log = logging.getLogger(__name__)

CENT: Final = Decimal("0.01")
#: Most decisions ``history`` returns at once.
MAX_HISTORY_LIMIT: Final = 1000
#: Keys whose values differ between two runs of the same decision (timing only).
VOLATILE_KEYS: Final = frozenset({"latency_ms"})

#: The row's action for each decision action, looked up once (an Enum call per row is not free).
_ROW_ACTIONS: Final = {action: DecisionAction(action.value) for action in Action}

Source = Literal["run", "ad_hoc", "all"]
#: Which decisions ``history`` and ``latest`` read: a run's, the ad-hoc analyses, or both.
SOURCES: Final[tuple[Source, ...]] = get_args(Source)
#: The ``source`` of a record made by a run's engine and of an ad-hoc analysis.
RUN_SOURCE: Final = "run"
AD_HOC_SOURCE: Final = "ad_hoc"


def check_source(value: str, name: str = "source") -> Source:
    """``value`` as a :data:`Source`; :class:`InputError` naming ``name`` otherwise."""
    for source in SOURCES:
        if value == source:
            return source
    raise InputError(f"{name}: must be one of {', '.join(SOURCES)} (got {value!r})")


@dataclass(frozen=True, slots=True)
class CompactDecision:
    """A run's decision stored with its numbers only, without the agents' explanation.

    At full speed the engine explains (runs every agent's text for) only the decisions that
    lead to an order; every other decision is still stored, as these numbers, so a run's
    decision history is the same whatever its pace. The numbers are those the explained
    record would carry (the orchestrator's ``assess`` equals ``decide``, tested).
    """

    id: str
    symbol: str
    timeframe: str
    profile: str
    timestamp_ms: int
    data_until_ms: int
    decision: Action
    confidence: float
    score: float
    size_usd: float
    price: float
    stop_loss: float | None
    take_profit: float | None

    def to_dict(self) -> dict[str, Any]:
        """The stored document: the explained record's keys for these numbers."""
        return {
            "id": self.id,
            "symbol": self.symbol,
            "timestamp": ms_to_iso(self.timestamp_ms),
            "data_until": ms_to_iso(self.data_until_ms),
            "timeframe": self.timeframe,
            "profile": self.profile,
            "decision": self.decision.value,
            "confidence": round(self.confidence, 6),
            "size_usd": round(self.size_usd, 2),
            "stop_loss": self.stop_loss,
            "take_profit": self.take_profit,
            "price": self.price,
            "score": round(self.score, 6),
            # The explained record's sections, empty: the agents' texts were not produced.
            "reasoning": {},
            "agents": [],
            "debate": [],
            "indicators": {},
            "source": RUN_SOURCE,
            "explained": False,
        }

    def row(self, run_id: str) -> dict[str, Any]:
        """The ``decisions`` row, as the values of a multi-row INSERT."""
        return {
            "id": self.id,
            "run_id": run_id,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "profile": self.profile,
            "decided_at_ms": self.timestamp_ms,
            "data_until_ms": self.data_until_ms,
            "action": _ROW_ACTIONS[self.decision],
            "confidence": self.confidence,
            "size_usd": usd_cents(self.size_usd),
            "record": self.to_dict(),
            "created_at_ms": self.timestamp_ms,
        }


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

    def __init__(
        self,
        db: Database,
        clock: Callable[[], int] = wall_clock_ms,
        *,
        max_ad_hoc: int | None = None,
    ) -> None:
        """``clock`` stamps ``created_at_ms`` (when the row was written, not the decision time).

        ``max_ad_hoc`` (``decision_history.max_entries``): after saving an ad-hoc analysis,
        the oldest ones beyond this many are deleted (``None``: all are kept).
        """
        if max_ad_hoc is not None and max_ad_hoc < 1:
            raise ValueError(f"max_ad_hoc must be >= 1 (got {max_ad_hoc})")
        self._db = db
        self._clock = clock
        self._max_ad_hoc = max_ad_hoc

    @property
    def db(self) -> Database:
        return self._db

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
                    if self._max_ad_hoc is not None and record.source == AD_HOC_SOURCE:
                        _trim_ad_hoc(session, self._max_ad_hoc)
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

    def attach_llm(self, decision_id: str, annotation: Mapping[str, Any]) -> bool:
        """Add the LLM's reasoning to a stored record as its ``llm`` entry (the decision's
        numbers are untouched); ``False`` when no record has that id."""
        with self._db.transaction() as session:
            row = DecisionRepository(session).get(decision_id)
            if row is None:
                return False
            row.record = {**row.record, "llm": dict(annotation)}
            return True

    def get(self, decision_id: str) -> dict[str, Any] | None:
        """The stored record with ``decision_id``, or ``None``."""
        with self._db.session() as session:
            row = DecisionRepository(session).get(decision_id)
            return None if row is None else dict(row.record)

    def latest(self, symbol: str, source: Source = "all") -> dict[str, Any] | None:
        """The newest stored record for ``symbol`` (by decision time) of ``source``, or ``None``."""
        newest = self.history(symbol, limit=1, source=source)
        return newest[0] if newest else None

    def history(
        self,
        symbol: str | None = None,
        limit: int = 20,
        *,
        source: Source = "all",
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` stored records, newest decision first, for one symbol or all.

        ``source``: a run's decisions, the ad-hoc analyses or both; ``since_ms`` /
        ``until_ms``: only decisions made at or after / before these moments.
        """
        if not 1 <= limit <= MAX_HISTORY_LIMIT:
            raise InputError(f"limit must be between 1 and {MAX_HISTORY_LIMIT} (got {limit})")
        wanted = None if symbol is None else canonical_symbol(symbol)
        query = select(DecisionRow.record).order_by(
            DecisionRow.decided_at_ms.desc(), DecisionRow.created_at_ms.desc(), DecisionRow.id
        )
        if wanted is not None:
            query = query.where(DecisionRow.symbol == wanted)
        if check_source(source) == RUN_SOURCE:
            query = query.where(DecisionRow.run_id.is_not(None))
        elif source == AD_HOC_SOURCE:
            query = query.where(DecisionRow.run_id.is_(None))
        if since_ms is not None:
            query = query.where(DecisionRow.decided_at_ms >= since_ms)
        if until_ms is not None:
            query = query.where(DecisionRow.decided_at_ms < until_ms)
        with self._db.session() as session:
            records: list[dict[str, Any]] = list(session.scalars(query.limit(limit)))
            return [dict(record) for record in records]


def _trim_ad_hoc(session: Session, keep: int) -> None:
    """Delete the ad-hoc analyses beyond the newest ``keep`` (a run's decisions stay)."""
    stale = (
        select(DecisionRow.id)
        .where(DecisionRow.run_id.is_(None))
        .order_by(DecisionRow.created_at_ms.desc(), DecisionRow.decided_at_ms.desc())
        .offset(keep)
    )
    ids = list(session.scalars(stale))
    if ids:
        session.execute(delete(DecisionRow).where(DecisionRow.id.in_(ids)))


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
