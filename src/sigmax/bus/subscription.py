"""A subscriber's view of the bus: a bounded queue of events, read as an async iterator.

The queue is what keeps a slow subscriber from ever holding up the publisher (the engine's
loop): delivering an event is an append to a bounded deque, never an await. When the queue is
full the *oldest* event is dropped, because a dashboard or a bot that fell behind wants to see
what is happening now, not work through a backlog. Drops are counted in :attr:`dropped` and
logged once per burst: a WARNING when the queue first overflows, an INFO line with the count
when the subscriber has caught up (emptied its queue).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from types import TracebackType
from typing import Self

from sigmax.bus.errors import BusConfigError
from sigmax.bus.events import Event, EventType

logger = logging.getLogger("sigmax.bus")

DEFAULT_MAX_QUEUE = 1000
_names = itertools.count(1)


def normalise_types(types: Collection[EventType | str] | None) -> frozenset[EventType] | None:
    """The event types a subscription wants; None means every type."""
    if types is None:
        return None
    if isinstance(types, str):
        # A single "fill" would otherwise be read as the types "f", "i", "l", "l".
        types = (types,)
    chosen: set[EventType] = set()
    for value in types:
        try:
            chosen.add(EventType(value))
        except ValueError:
            known = ", ".join(t.value for t in EventType)
            raise BusConfigError(f"types: unknown event type {value!r} (known: {known})") from None
    if not chosen:
        raise BusConfigError("types: must name at least one event type, or be None for all")
    return frozenset(chosen)


class Subscription:
    """Events of the chosen types, in publish order, from the moment the subscription is ready.

    Use it as ``async with bus.subscribe({EventType.FILL}) as fills: async for event in
    fills: ...``. Entering waits until the subscription receives events (immediate in process;
    a consumer has to be created on the NATS server); iterating without entering waits too.
    The iteration ends when the subscription or the bus is closed; after the bus closes the
    events already queued are still delivered.
    """

    def __init__(
        self,
        types: Collection[EventType | str] | None = None,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        name: str | None = None,
        on_close: Callable[[Subscription], Awaitable[None]] | None = None,
    ) -> None:
        if type(max_queue) is not int or max_queue < 1:
            raise BusConfigError(f"max_queue: must be a whole number >= 1 (got {max_queue!r})")
        self.types = normalise_types(types)
        self.max_queue = max_queue
        self.name = name or f"subscriber-{next(_names)}"
        #: Events dropped because this subscriber's queue was full, since it was created.
        self.dropped = 0
        self._queue: deque[Event] = deque(maxlen=max_queue)
        self._waiter: asyncio.Future[None] | None = None
        self._on_close = on_close
        self._closed = False
        self._ended = False
        self._burst_dropped = 0
        self._ready: asyncio.Task[None] | None = None
        self._is_ready = True

    # -- what the bus calls ---------------------------------------------------------------

    def wants(self, event_type: EventType) -> bool:
        return self.types is None or event_type in self.types

    def offer(self, event: Event) -> None:
        """Queue ``event`` if this subscription wants it; never blocks, drops the oldest."""
        if self._closed or self._ended:
            return
        if self.types is not None and event.type not in self.types:
            return
        queue = self._queue
        if len(queue) == self.max_queue:
            # The deque's maxlen drops the oldest event on append; count it here.
            self.dropped += 1
            if self._burst_dropped == 0:
                logger.warning(
                    "event subscriber %r cannot keep up: its queue of %d events is full, "
                    "dropping the oldest",
                    self.name,
                    self.max_queue,
                )
            self._burst_dropped += 1
        queue.append(event)
        self._wake()

    def end(self) -> None:
        """The bus is closing: deliver what is queued, then stop."""
        self._ended = True
        self._wake()

    def starting(self, task: asyncio.Task[None]) -> None:
        """The bus is still setting up delivery; ``ready()`` waits for ``task``."""
        self._ready = task
        self._is_ready = False

    # -- what the subscriber calls --------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events queued and not yet read."""
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    async def ready(self) -> None:
        """Wait until events published from now on will reach this subscription.

        Raises the bus's error (for example :class:`~sigmax.bus.BusConnectionError`) if
        delivery could not be set up.
        """
        if self._is_ready:
            return
        assert self._ready is not None
        await asyncio.shield(self._ready)
        self._is_ready = True

    async def close(self) -> None:
        """Stop receiving; queued events are discarded. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._wake()
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close(self)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        if not self._is_ready:
            await self.ready()
        queue = self._queue
        while not queue:
            if self._closed or self._ended:
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        if self._closed:
            raise StopAsyncIteration
        event = queue.popleft()
        if self._burst_dropped and not queue:
            logger.info(
                "event subscriber %r caught up after dropping %d events",
                self.name,
                self._burst_dropped,
            )
            self._burst_dropped = 0
        return event

    async def __aenter__(self) -> Self:
        try:
            await self.ready()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __repr__(self) -> str:
        types = "all" if self.types is None else ",".join(sorted(self.types))
        return (
            f"Subscription(name={self.name!r}, types={types}, pending={self.pending}, "
            f"dropped={self.dropped}, closed={self._closed})"
        )
