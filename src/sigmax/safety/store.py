"""Persistence of the safety enforcer: its state in ``engine_state``, its journal in
``safety_events``.

The state is one JSON document under a key (``safety`` by default; a caller that keeps one state
per run can pass its own key). :meth:`SafetyStore.save` writes the state and appends the events
in one transaction, or inside the caller's open transaction so the engine commits them together
with the step that caused them: after a crash the state and the journal never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

from sqlalchemy.orm import Session

from sigmax.safety.errors import InvalidSafetyInputError
from sigmax.safety.state import SafetyEvent, SafetyState
from sigmax.storage.models import SafetyEventRow
from sigmax.storage.repositories import EngineStateRepository, SafetyEventRepository

if TYPE_CHECKING:
    # Only named in signatures: the database layer (and Alembic) is not imported for it.
    from sigmax.storage.database import Database

DEFAULT_STATE_KEY: Final = "safety"


class SafetyStore:
    """Loads and saves a :class:`SafetyState` and appends :class:`SafetyEvent` rows."""

    def __init__(self, database: Database, key: str = DEFAULT_STATE_KEY) -> None:
        if not key.strip():
            raise InvalidSafetyInputError("the safety state key must not be blank")
        self._database = database
        self._key = key

    @property
    def key(self) -> str:
        return self._key

    def load(self, session: Session | None = None) -> SafetyState | None:
        """The saved state, or ``None`` when none was ever saved under this key.

        A stored state that cannot be read raises
        :class:`~sigmax.safety.state.SafetyStateError`: starting unpaused instead could undo a
        pause the operator relies on.
        """
        if session is not None:
            return self._read(session)
        with self._database.session() as own:
            return self._read(own)

    def save(
        self,
        state: SafetyState,
        events: Iterable[SafetyEvent] = (),
        session: Session | None = None,
    ) -> None:
        """Write ``state`` and append ``events``.

        With ``session`` (an open :meth:`~sigmax.storage.database.Database.transaction`) the
        writes join it and commit or roll back with it; without, they commit on their own.
        """
        if session is not None:
            self._write(session, state, list(events))
            return
        with self._database.transaction() as own:
            self._write(own, state, list(events))

    def recent_events(self, limit: int = 50) -> Sequence[SafetyEventRow]:
        """The newest journal rows, newest first."""
        with self._database.session() as session:
            return SafetyEventRepository(session).recent(limit)

    def _read(self, session: Session) -> SafetyState | None:
        value = EngineStateRepository(session).get(self._key)
        return None if value is None else SafetyState.from_dict(value)

    def _write(self, session: Session, state: SafetyState, events: list[SafetyEvent]) -> None:
        # The row's time is the enforcer's own (candle time in a replay), never the wall clock,
        # so a replay writes the same rows whenever it runs.
        newest = max((event.at_ms for event in events), default=0)
        updated_at_ms = max(state.updated_at_ms or 0, newest)
        EngineStateRepository(session).set(self._key, state.to_dict(), updated_at_ms=updated_at_ms)
        journal = SafetyEventRepository(session)
        for event in events:
            journal.add(
                SafetyEventRow(
                    occurred_at_ms=event.at_ms,
                    kind=event.kind,
                    trigger=event.trigger,
                    reason=event.reason,
                    details=event.details,
                )
            )
