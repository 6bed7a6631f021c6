"""The REST API and the Telegram bot beside a running engine.

``sigmax run`` hands a :class:`BesideEngine` to the runner (``RunOptions.companions``): the
runner asks it to :meth:`~BesideEngine.prepare` before the store is opened (the API's token and
address are checked then, so a bad one leaves nothing behind) and to
:meth:`~BesideEngine.start` once the engine is assembled. The engine package itself never
imports ``sigmax.api`` or ``sigmax.telegram``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sigmax.api import create_app, mask_in_logs, resolve_api_token
from sigmax.api.auth import ApiToken
from sigmax.api.embedded import AnnouncedCommits, EmbeddedApi
from sigmax.api.read_cache import CommitSignal
from sigmax.bus import EventBus
from sigmax.config import Settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.engine.account import AccountHome
from sigmax.engine.engine import Engine
from sigmax.engine.preflight import check_bindable
from sigmax.storage.database import Database
from sigmax.telegram.app import start_beside_engine

log = logging.getLogger("sigmax.engine")


@dataclass(frozen=True, slots=True)
class ApiPlan:
    """The API's token and address, checked."""

    token: ApiToken
    host: str
    port: int


def check_api(settings: Settings, host: str | None, port: int | None) -> ApiPlan:
    """The token (SIGMAX_API_TOKEN, the .env, or the token file: created if missing) and the
    address: ``host`` must resolve and ``host:port`` be free to bind."""
    token = resolve_api_token(settings.home)
    chosen_host = host or settings.api.host
    chosen_port = port if port is not None else settings.api.port
    check_bindable(chosen_host, chosen_port)
    return ApiPlan(token, chosen_host, chosen_port)


@dataclass(slots=True)
class BesideEngine:
    """The API (unless ``api`` is False) and the bot (when TELEGRAM_BOT_TOKEN is set)."""

    api: bool = True
    host: str | None = None
    port: int | None = None
    _plan: ApiPlan | None = field(default=None, init=False)

    def prepare(self, settings: Settings) -> None:
        """Check the API's token and address now, before the store is touched."""
        self._plan = check_api(settings, self.host, self.port) if self.api else None

    async def start(
        self,
        settings: Settings,
        db: Database,
        bus: EventBus,
        engine: Engine,
        data: Path | None,
    ) -> Callable[[], Awaitable[None]]:
        """Start the API and the bot; the function that stops them both."""
        stops: list[Callable[[], Awaitable[None]]] = []
        try:
            api = None
            if self._plan is not None:
                api = await _start_api(settings, db, bus, engine, self._plan, data)
                stops.append(api.stop)
            bot = await start_beside_engine(
                settings, AccountHome(settings, db), DatasetCatalog.from_path(data), bus
            )
            if bot is not None:
                stops.append(bot.stop)
                if api is not None:
                    api.server.app.state.metrics.watch_telegram(bot.outbox_figures)
        except BaseException:
            for stop in reversed(stops):
                await stop()
            raise

        async def stop_all() -> None:
            for stop in reversed(stops):
                await stop()

        return stop_all


async def _start_api(
    settings: Settings,
    db: Database,
    bus: EventBus,
    engine: Engine,
    plan: ApiPlan,
    data: Path | None,
) -> EmbeddedApi:
    """The REST API on a thread of its own: it answers status and portfolio from what the
    engine last committed, streams the engine's events, and sends commands through the same
    control queue as the CLI."""
    token = plan.token
    mask_in_logs(token.value)
    host, port = plan.host, plan.port
    commits = CommitSignal()
    if engine.store is not None:
        engine.store = AnnouncedCommits(engine.store, commits.committed)
    catalog = DatasetCatalog.from_path(data)
    # Binds now: a port taken since the check stops the run before it trades.
    api = EmbeddedApi.build(
        lambda api_bus: create_app(
            AccountHome(settings, db), token, host=host, catalog=catalog, bus=api_bus,
            commits=commits,
        ),
        bus,
        host,
        port,
    )  # fmt: skip
    # Every failed exchange or news request, not only a burst, is counted for /metrics.
    engine.on_api_error = api.server.app.state.metrics.record_venue_error
    await api.start()
    if token.origin == "created":
        # The path, not the token: a run's terminal output is often kept (nohup, a service
        # journal), so the token stays in its 0600 file.
        print(
            f"SIGMAX API token generated and stored in {token.path} (mode 0600); "
            "the dashboard and the API's actions ask for it",
            file=sys.stderr,
            flush=True,
        )
    log.info(
        "API on http://%s:%d/api/status (bearer token %s)", host, api.server.port,
        token_source(token),
    )  # fmt: skip
    return api


def token_source(token: ApiToken) -> str:
    """Where the API token is, never the token: the file's path or the variable's origin."""
    if token.path is not None:
        return f"in {token.path}"
    if token.origin == "dotenv":
        return "from SIGMAX_API_TOKEN in the home's .env"
    return "from SIGMAX_API_TOKEN in the environment"
