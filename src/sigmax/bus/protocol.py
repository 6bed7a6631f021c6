"""The event bus protocol every implementation follows."""

from __future__ import annotations

from collections.abc import Collection
from types import TracebackType
from typing import Protocol, Self

from sigmax.bus.events import Event, EventType
from sigmax.bus.subscription import DEFAULT_MAX_QUEUE, Subscription


class EventBus(Protocol):
    """Publish events, hand them to every interested subscriber, never hold up the publisher.

    Lifecycle: ``await bus.start()`` (or ``async with bus:``), then publish and subscribe,
    then ``await bus.close()``, which delivers what was published and ends every subscription.
    Publishing or subscribing outside that window is a :class:`~sigmax.bus.BusStateError`.
    """

    async def start(self) -> None:
        """Connect (when there is something to connect to); idempotent."""
        ...

    async def publish(self, event: Event) -> None:
        """Publish ``event``. Returns once the bus has taken it: in process at once, over NATS
        when the server has stored it. Never waits for a subscriber."""
        ...

    def publish_nowait(self, event: Event) -> None:
        """Publish from synchronous code running in the bus's event loop; never waits."""
        ...

    def subscribe(
        self,
        types: Collection[EventType | str] | None = None,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        name: str | None = None,
    ) -> Subscription:
        """Events of ``types`` (None: all) published from when the subscription is ready on.

        ``max_queue`` bounds this subscriber's backlog (the oldest events are dropped beyond
        it); ``name`` identifies the subscriber in log lines.
        """
        ...

    async def close(self) -> None:
        """Deliver what was published, end every subscription, disconnect; idempotent."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
