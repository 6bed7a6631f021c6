"""A real uvicorn server on the test's own event loop, for the WebSocket and metrics tests.

The API's event stream and metrics read an :class:`~sigmax.bus.InProcessBus`, which lives on
one event loop; the server runs as a task on the test's loop so the test can publish to the
same bus the app reads. The server runs the app's lifespan, which starts the metrics' event
consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from sigmax.api.server import bind_socket

TOKEN = "live-token-4e2b9c7d1a0f3e8b6c5d"
_START_TIMEOUT_S = 10.0


class _NoSignals(uvicorn.Server):
    """uvicorn leaving the test process's signal handling alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass(frozen=True)
class Served:
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/ws"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[Served]:
    """``app`` on a free port of 127.0.0.1, on the running loop, until the block ends."""
    sock = bind_socket("127.0.0.1", 0)
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", server_header=False
    )
    server = _NoSignals(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + _START_TIMEOUT_S
    try:
        while not server.started:
            assert not task.done(), "the API server stopped while starting"
            assert time.monotonic() < deadline, "the API server did not start"
            await asyncio.sleep(0.005)
        yield Served(port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, _START_TIMEOUT_S)
        sock.close()


async def eventually(check: Callable[[], Any], timeout_s: float = 5.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


async def scrape(served: Served, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=served.http, timeout=10) as client:
        return await client.get("/metrics", **kwargs)
