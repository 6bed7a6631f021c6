"""The API inside ``sigmax run``: on its own thread, told of the engine's commits and events.

:class:`AnnouncedCommits` wraps the engine's step sink and announces each commit once its
transaction is durable; the status and portfolio answers are rebuilt from the database after
it (:class:`~sigmax.api.read_cache.CommittedReads`), so they never show what the engine has
not committed. :class:`EmbeddedApi` runs the server on an :class:`~sigmax.api.thread.ApiThread`
and relays the engine's bus to it (:class:`~sigmax.bus.relay.BusRelay`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

from sigmax.api.server import ApiServer
from sigmax.api.thread import ApiThread
from sigmax.bus import EventBus
from sigmax.bus.relay import BusRelay
from sigmax.domain.ledger import Ledger
from sigmax.engine.engine import StepSink
from sigmax.engine.run_store import StepWrite
from sigmax.safety.state import SafetyState


class AnnouncedCommits:
    """``sink``, calling ``announce`` after each commit it makes (from the engine's thread)."""

    def __init__(self, sink: StepSink, announce: Callable[[], None]) -> None:
        self._sink = sink
        self._announce = announce
        self.run_id = sink.run_id
        self.keeps_resume_point = sink.keeps_resume_point

    def commit(
        self,
        write: StepWrite,
        state: Mapping[str, Any],
        now_ms: int,
        safety: SafetyState | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self._sink.commit(write, state, now_ms, safety, ledger)
        # Only once the commit returned: a failed one announces nothing.
        self._announce()


class EmbeddedApi:
    """``app`` (built over :attr:`relay`'s bus) on its own thread until :meth:`stop`."""

    def __init__(self, server: ApiServer, relay: BusRelay) -> None:
        self.server = server
        self.relay = relay
        self._thread = ApiThread(server, before=relay.open, after=relay.close)

    @classmethod
    def build(
        cls, make_app: Callable[[EventBus], FastAPI], engine_bus: EventBus, host: str, port: int
    ) -> EmbeddedApi:
        """Bind ``host:port`` now (a busy port fails before the run starts) and build the app
        with ``make_app``, over the bus relayed from ``engine_bus``."""
        relay = BusRelay(engine_bus)
        return cls(ApiServer(make_app(relay.bus), host, port), relay)

    async def start(self) -> None:
        """Serve, and relay the engine's events, from now on (call it on the engine's loop)."""
        await self._thread.start()
        await self.relay.start(self._thread.loop)

    async def stop(self) -> None:
        """Stop relaying, let the server finish its requests, end the thread."""
        await self.relay.stop()
        await self._thread.stop()
