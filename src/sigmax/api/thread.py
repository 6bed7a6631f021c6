"""The API of ``sigmax run`` on its own thread, with its own event loop.

The engine's work is synchronous between its awaits: a step, a durable SQLite commit (which
waits for the disk), the control queue's poll. On a shared event loop every request waits for
all of it, so the API's latency was the engine's longest stretch. On its own thread the API
answers while the engine waits for the disk (the GIL is released during I/O) and between the
engine's bytecode slices while it computes.

What crosses the thread boundary: the engine's events (:class:`~sigmax.bus.relay.BusRelay`),
its commits (:class:`~sigmax.api.read_cache.CommitSignal`), and the database, which each side
reads through its own pooled connections and sessions. Commands go through the database's
control queue, as from the CLI.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Final

from sigmax.api.server import ApiServer, ApiServerError

#: How long starting and stopping may take before it is an error.
START_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 30.0
_POLL_S: Final = 0.005

Hook = Callable[[], Awaitable[None]]


class ApiThread:
    """``server`` served in a thread of its own: :meth:`start`, then :meth:`stop`.

    ``before`` and ``after`` run on the API's loop, before serving and after it ends (even
    when it failed): what lives on that loop is set up and closed there.
    """

    def __init__(
        self, server: ApiServer, *, before: Hook | None = None, after: Hook | None = None
    ) -> None:
        self.server = server
        self._before = before
        self._after = after
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="sigmax-api", daemon=True)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The API's event loop (once :meth:`start` returned)."""
        if self._loop is None:
            raise ApiServerError("the API thread has not started")
        return self._loop

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    async def start(self) -> None:
        """Start the thread; return once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive():
                raise ApiServerError(
                    f"the API on {self.server.host}:{self.server.port} stopped while starting"
                    + ("" if self._error is None else f": {self._error}")
                )
            if time.monotonic() > deadline:
                self.server.stop()
                raise ApiServerError(
                    f"the API on {self.server.host}:{self.server.port} did not start within "
                    f"{START_TIMEOUT_S:.0f} s"
                )
            await asyncio.sleep(_POLL_S)

    async def stop(self) -> None:
        """Let the server finish its requests and the thread end."""
        self.server.stop()
        await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
        if self._thread.is_alive():
            raise ApiServerError(f"the API thread did not stop within {STOP_TIMEOUT_S:.0f} s")

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            if self._before is not None:
                await self._before()
            await self.server.serve()
        except BaseException as error:
            self._error = error
            raise
        finally:
            if self._after is not None:
                await self._after()
