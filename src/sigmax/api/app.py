"""The REST API application: :func:`create_app` builds it from its dependencies.

``sigmax serve`` builds it over the stored state of SIGMAX_HOME; ``sigmax run`` can build it in
the engine's process with its own services (see :class:`~sigmax.api.services.ApiServices`) and
serve it on the engine's event loop with :class:`~sigmax.api.server.ApiServer`. The app owns
nothing it must close: the database and settings belong to the caller.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Final

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from sigmax import __version__
from sigmax.api.access import AccessBudgets, AccessGate, AccessLimits
from sigmax.api.auth import ApiToken, BearerAuth, Caller, caller_of
from sigmax.api.context import ApiContext, ConfigView, stored_config_view
from sigmax.api.dashboard import dashboard_router
from sigmax.api.errors import install_error_handlers
from sigmax.api.hosts import HostAllowList, allowed_hosts
from sigmax.api.json_body import JsonBodies
from sigmax.api.live import live_router
from sigmax.api.metrics import ApiMetrics, MetricsFeed, ResponseCounter, metrics_router
from sigmax.api.ratelimit import DEFAULT_MAX_BODY_BYTES, BodySizeLimit, RateLimit
from sigmax.api.read_cache import CommitSignal, CommittedReads, ReadCache, StoredReads
from sigmax.api.routes_actions import action_router
from sigmax.api.routes_read import read_router
from sigmax.api.schemas import ErrorResponse
from sigmax.api.services import ApiServices
from sigmax.bus import EventBus
from sigmax.data.catalog import DatasetCatalog
from sigmax.engine.account import AccountHome
from sigmax.logging_setup import SecretMasker

_ERROR: Final = {"model": ErrorResponse}
_COMMON_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {**_ERROR, "description": "The bearer token is missing or wrong."},
    421: {**_ERROR, "description": "The Host header names a host this API does not answer to."},
    429: {**_ERROR, "description": "Too many requests; see Retry-After."},
    500: {**_ERROR, "description": "A failure of SIGMAX; the details are in its log."},
    503: {**_ERROR, "description": "The stored state cannot be read."},
}
_ACTION_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    422: {**_ERROR, "description": "Bad input; the error names the field and the rule."},
    413: {**_ERROR, "description": "The request body is too large."},
}


def create_app(
    home: AccountHome,
    token: ApiToken,
    *,
    host: str | None = None,
    catalog: DatasetCatalog | None = None,
    services: ApiServices | None = None,
    config_view: ConfigView | None = None,
    rate_limit: RateLimit | None = None,
    limits: AccessLimits | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    clock: Callable[[], float] = time.monotonic,
    bus: EventBus | None = None,
    commits: CommitSignal | None = None,
) -> FastAPI:
    """The SIGMAX REST API over ``home`` (its settings and open database).

    ``token`` guards every request that changes anything, and every request when ``host``
    (default: ``settings.api.host``, where the API will listen) is not a loopback address.
    ``catalog`` is where candles are read (default: the bundled data); ``services`` are the
    actions (default: over the stored state, no engine in this process); ``config_view``
    gives ``/api/config`` (default: the configuration of the home, as ``sigmax config show``).
    ``limits`` are the rate-limit budgets (see :mod:`sigmax.api.access`); ``rate_limit``, when
    given, replaces their per-token limit on analyze, trade and resume (default 10/s, burst
    20). Bodies over ``max_body_bytes`` are refused with 413, and every body is read as JSON
    whatever its Content-Type. Requests whose Host header is not the bound host, a loopback
    name or one of ``settings.api.allowed_hosts`` are answered 421 (DNS rebinding).

    ``bus`` is the engine's event bus (started; ``sigmax run`` passes its own): ``/api/ws``
    streams its events and ``/metrics`` counts them in a task that runs with the app's lifespan
    (serve it with lifespan on). Without one, ``/metrics`` serves the process and stored-state
    metrics and ``/api/ws`` closes with a reason saying there is no event stream.
    ``app.state.metrics`` is the :class:`~sigmax.api.metrics.ApiMetrics` (venue errors are
    recorded through it).

    ``commits`` is told of every commit of an engine in this process (``sigmax run``): status
    and portfolio are then answered from memory, rebuilt after each commit. Without it they
    are cached per stored commit (see :mod:`sigmax.api.read_cache`).
    """
    settings = home.settings
    chosen_catalog = catalog if catalog is not None else DatasetCatalog.bundled()
    context = ApiContext(
        home=home,
        catalog=chosen_catalog,
        services=services if services is not None else ApiServices.stored(home, chosen_catalog),
        config_view=config_view if config_view is not None else stored_config_view(settings),
        masker=SecretMasker([*settings.secret_values(), token.value]),
        clock=clock,
        started_at=clock(),
    )
    bound = host if host is not None else settings.api.host
    auth = BearerAuth(token, bound)
    chosen_limits = limits or AccessLimits()
    if rate_limit is not None:
        chosen_limits = replace(chosen_limits, token=rate_limit)
    budgets = AccessBudgets(token, chosen_limits, clock)
    metrics = ApiMetrics((*settings.trading.symbols, *settings.profile.allowed_symbols))
    feed = None if bus is None else MetricsFeed(metrics, bus)
    reads: ReadCache = StoredReads(context) if commits is None else CommittedReads(context, commits)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await reads.start()
        try:
            if feed is None:
                yield
                return
            await feed.start()
            try:
                yield
            finally:
                await feed.stop()
        finally:
            await reads.stop()

    app = FastAPI(
        title="SIGMAX",
        version=__version__,
        summary="Status, decisions, the paper account and operator controls of SIGMAX.",
        # The interactive pages load scripts from a CDN; the schema is served below instead.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(
        app, context.mask, lambda request: caller_of(request, token) is Caller.OPERATOR
    )
    # Outermost last: the Host check, then the budgets, then the body's size, then its type.
    app.add_middleware(JsonBodies)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(AccessGate, budgets=budgets, exposed=auth.exposed)
    app.add_middleware(HostAllowList, allowed=allowed_hosts(bound, settings.api.allowed_hosts))
    app.add_middleware(ResponseCounter, metrics=metrics)

    app.include_router(
        read_router(context, reads),
        dependencies=[Depends(auth.require_if_exposed)],
        responses=_COMMON_ERRORS,
    )
    app.include_router(
        # Strangers were charged by the gate; the operator's changes are limited per token.
        action_router(context, Depends(budgets.limit_changes)),
        dependencies=[Depends(auth.require)],
        responses={**_COMMON_ERRORS, **_ACTION_ERRORS},
    )
    app.include_router(
        metrics_router(context, metrics, feed),
        dependencies=[Depends(auth.require_if_exposed)],
        responses=_COMMON_ERRORS,
    )
    # The stream authenticates inside the connection (see sigmax.api.live), always.
    app.include_router(live_router(bus, budgets, context.mask))
    app.include_router(_openapi_router(app, auth))
    app.include_router(dashboard_router())  # the web page at /, see sigmax.api.dashboard
    app.state.sigmax = context
    app.state.metrics = metrics
    return app


def _openapi_router(app: FastAPI, auth: BearerAuth) -> APIRouter:
    """``/openapi.json``, behind the same access rule as the read routes."""
    router = APIRouter()
    schema: dict[str, Any] = {}

    @router.get(
        "/openapi.json",
        include_in_schema=False,
        dependencies=[Depends(auth.require_if_exposed)],
    )
    def openapi() -> JSONResponse:
        if not schema:
            schema.update(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    routes=app.routes,
                )
            )
        return JSONResponse(schema)

    return router
