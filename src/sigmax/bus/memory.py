"""The in-process event bus: asyncio fan-out inside one process, the default.

Publishing appends the event to each interested subscriber's bounded queue and returns; it
never awaits anything, so the engine can publish from synchronous code in the loop
(``publish_nowait``) and a stuck subscriber costs it nothing but that subscriber's drops.
Everything happens on the event loop's thread: call it from that thread only.
"""

from __future__ import annotations

from collections.abc import Collection

from sigmax.bus.errors import BusStateError
from sigmax.bus.events import Event, EventType
from sigmax.bus.lifecycle import BusState, ManagedBus, require_event, require_started
from sigmax.bus.subscription import DEFAULT_MAX_QUEUE, Subscription


class InProcessBus(ManagedBus):
    """An :class:`~sigmax.bus.EventBus` whose subscribers live in the same process."""

    def __init__(self) -> None:
        self._state = BusState.NEW
        # A tuple replaced on every change: publishing iterates it without a copy.
        self._subscriptions: tuple[Subscription, ...] = ()
        #: Events published since the bus was made.
        self.published = 0

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return self._subscriptions

    async def start(self) -> None:
        if self._state is BusState.CLOSED:
            raise BusStateError("the event bus is closed; make a new one")
        self._state = BusState.STARTED

    async def publish(self, event: Event) -> None:
        self.publish_nowait(event)

    def publish_nowait(self, event: Event) -> None:
        if self._state is not BusState.STARTED:
            require_started(self._state, "publish")
        require_event(event)
        for subscription in self._subscriptions:
            subscription.offer(event)
        self.published += 1

    def subscribe(
        self,
        types: Collection[EventType | str] | None = None,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        name: str | None = None,
    ) -> Subscription:
        require_started(self._state, "subscribe")
        subscription = Subscription(types, max_queue=max_queue, name=name, on_close=self._detach)
        self._subscriptions = (*self._subscriptions, subscription)
        return subscription

    async def close(self) -> None:
        if self._state is BusState.CLOSED:
            return
        self._state = BusState.CLOSED
        subscriptions, self._subscriptions = self._subscriptions, ()
        for subscription in subscriptions:
            subscription.end()

    async def _detach(self, subscription: Subscription) -> None:
        self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)
