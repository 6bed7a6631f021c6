"""A real uvicorn server with the SIGMAX API, on a free port of 127.0.0.1, for the API tests.

The app is the one ``sigmax serve`` builds, over a SIGMAX_HOME holding a real paper run (see
``engine/account_runs.py``); the server runs on its own event loop in a background thread and
the tests talk to it with httpx, as any client would.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from engine.account_runs import clean_home
from sigmax.api import AccessLimits, ApiServer, ApiToken, RateLimit, create_app
from sigmax.engine.account import AccountHome, open_account_home

TOKEN = "test-token-9d1c3f0b6a2e4f58b7c1"
_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LiveApi:
    """A running API: ``client`` sends no token, ``auth`` is the header that carries it."""

    client: httpx.Client
    account: AccountHome
    port: int
    token: str = TOKEN

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.auth, **kwargs)


@contextmanager
def serving(
    home: Path,
    *,
    host: str | None = None,
    rate_limit: RateLimit | None = None,
    limits: AccessLimits | None = None,
    max_body_bytes: int | None = None,
) -> Iterator[LiveApi]:
    """The API over ``home`` on a free port until the block ends."""
    with clean_home(home), open_account_home() as account:
        extra: dict[str, Any] = {}
        if max_body_bytes is not None:
            extra["max_body_bytes"] = max_body_bytes
        app = create_app(
            account,
            ApiToken(TOKEN, "environment"),
            host=host,
            rate_limit=rate_limit,
            limits=limits,
            **extra,
        )
        server = ApiServer(app, "127.0.0.1", 0)
        thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            assert thread.is_alive(), "the API server stopped while starting"
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.005)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
                yield LiveApi(client, account, server.port)
        finally:
            server.stop()
            thread.join(timeout=_START_TIMEOUT_S)
            assert not thread.is_alive(), "the API server did not stop"


def copy_home(source: Path, target: Path) -> Path:
    """A copy of a home (its database included) that a test may change."""
    shutil.copytree(source, target)
    return target
