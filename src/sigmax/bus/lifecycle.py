"""The life of a bus, shared by the implementations: new, started, closed."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from sigmax.bus.errors import BusStateError, EventError
from sigmax.bus.events import Event


class ManagedBus(ABC):
    """``async with bus:`` starts the bus and closes it (flushing) on the way out."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class BusState(enum.Enum):
    NEW = "new"
    STARTED = "started"
    CLOSED = "closed"


def require_started(state: BusState, action: str) -> None:
    """Raise :class:`BusStateError` unless the bus is started."""
    if state is BusState.STARTED:
        return
    if state is BusState.NEW:
        raise BusStateError(
            f"cannot {action}: the event bus is not started (await bus.start() first)"
        )
    raise BusStateError(f"cannot {action}: the event bus is closed")


def require_event(event: object) -> None:
    # The type checker catches this in the package; a caller without one (a plugin, a
    # notebook) gets a clear error at the publisher instead of a crash in a background task.
    if not isinstance(event, Event):
        raise EventError("event", f"must be an Event, not {type(event).__name__}")
