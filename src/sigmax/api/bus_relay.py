"""The engine's events, handed over to an API that runs on another thread's event loop.

The in-process bus delivers on the loop it lives on, and ``sigmax run`` serves its API on a
loop of its own (see :mod:`sigmax.api.thread`). :class:`BusRelay` subscribes to the engine's
bus on the engine's loop and re-publishes each event on :attr:`BusRelay.bus`, an
:class:`~sigmax.bus.InProcessBus` on the API's loop, through ``call_soon_threadsafe``: the
engine still never waits for a subscriber, and ``/api/ws`` and ``/metrics`` read the API's
bus exactly as they would read the engine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from sigmax.bus import Event, EventBus, InProcessBus, Subscription

log = logging.getLogger("sigmax.api")

#: Events the relay holds for the API's loop: the engine may publish a burst between two
#: chances of the relay to run (beyond it the oldest are dropped and counted, as any
#: subscriber's).
RELAY_QUEUE: Final = 10_000


class BusRelay:
    """Forwards every event of ``source`` (on the engine's loop) to :attr:`bus` (on the API's).

    On the API's loop: :meth:`open` before serving, :meth:`close` after. On the engine's loop:
    :meth:`start` once the API's loop runs, :meth:`stop` before it ends.
    """

    def __init__(self, source: EventBus) -> None:
        self._source = source
        #: The bus the API reads; it lives on the API's loop.
        self.bus = InProcessBus()
        self._open = False
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Start :attr:`bus` (on the API's loop)."""
        await self.bus.start()
        self._open = True

    async def close(self) -> None:
        """End :attr:`bus` and its subscribers (on the API's loop)."""
        self._open = False
        await self.bus.close()

    async def start(self, api_loop: asyncio.AbstractEventLoop) -> None:
        """Subscribe to the engine's bus and forward from now on (on the engine's loop)."""
        subscription = self._source.subscribe(max_queue=RELAY_QUEUE, name="api-relay")
        await subscription.ready()
        self._subscription = subscription
        self._task = asyncio.create_task(self._forward(subscription, api_loop))

    async def stop(self) -> None:
        """Stop forwarding (on the engine's loop); events still queued are not delivered."""
        if self._subscription is not None:
            await self._subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def dropped(self) -> int:
        """Events the relay could not keep up with."""
        return 0 if self._subscription is None else self._subscription.dropped

    async def _forward(self, events: Subscription, api_loop: asyncio.AbstractEventLoop) -> None:
        async for event in events:
            try:
                api_loop.call_soon_threadsafe(self._deliver, event)
            except RuntimeError:
                # The API's loop has ended: nobody is left to tell.
                log.debug("the API's event loop is closed; the relay stops")
                return

    def _deliver(self, event: Event) -> None:
        # Runs on the API's loop, like open() and close(): no race on _open.
        if self._open:
            self.bus.publish_nowait(event)
