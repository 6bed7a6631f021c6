"""The engine's events, handed over to a face that runs on another thread's event loop.

The in-process bus delivers on the loop it lives on, and ``sigmax run`` serves its API and its
Telegram bot each on a loop of its own (see :mod:`sigmax.api.thread`). :class:`BusRelay`
subscribes to the engine's bus on the engine's loop and re-publishes each event on
:attr:`BusRelay.bus`, an :class:`~sigmax.bus.InProcessBus` on the face's loop, through
``call_soon_threadsafe``: the engine still never waits for a subscriber, and ``/api/ws``,
``/metrics`` and the bot's notifications read that bus exactly as they would read the engine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from sigmax.bus.events import Event
from sigmax.bus.memory import InProcessBus
from sigmax.bus.protocol import EventBus
from sigmax.bus.subscription import Subscription

log = logging.getLogger("sigmax.bus")

#: Events the relay holds for the face's loop: the engine may publish a burst between two
#: chances of the relay to run (beyond it the oldest are dropped and counted, as any
#: subscriber's).
RELAY_QUEUE: Final = 10_000


class BusRelay:
    """Forwards every event of ``source`` (on the engine's loop) to :attr:`bus` (on the face's).

    On the face's loop: :meth:`open` before serving, :meth:`close` after. On the engine's loop:
    :meth:`start` once the face's loop runs, :meth:`stop` before it ends.
    """

    def __init__(self, source: EventBus, name: str = "api-relay") -> None:
        self._source = source
        self._name = name
        #: The bus the API reads; it lives on the face's loop.
        self.bus = InProcessBus()
        self._open = False
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Start :attr:`bus` (on the face's loop)."""
        await self.bus.start()
        self._open = True

    async def close(self) -> None:
        """End :attr:`bus` and its subscribers (on the face's loop)."""
        self._open = False
        await self.bus.close()

    async def start(self, api_loop: asyncio.AbstractEventLoop) -> None:
        """Subscribe to the engine's bus and forward from now on (on the engine's loop)."""
        subscription = self._source.subscribe(max_queue=RELAY_QUEUE, name=self._name)
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
                # The face's loop has ended: nobody is left to tell.
                log.debug("the face's event loop is closed; the relay stops")
                return

    def _deliver(self, event: Event) -> None:
        # Runs on the face's loop, like open() and close(): no race on _open.
        if self._open:
            self.bus.publish_nowait(event)
