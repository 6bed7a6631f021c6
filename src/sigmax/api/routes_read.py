"""The read-only routes: status, health, portfolio, trades, equity, decisions, candles, safety,
configuration. They read what the engine committed, through the same services as the CLI.

Routes are plain functions: FastAPI runs them in its worker threads, so a database read never
blocks the event loop. Status and portfolio, the two most polled, are the exception: their
answers are built once per commit by a :class:`~sigmax.api.read_cache.ReadCache` and sent as
bytes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Response
from pydantic import BeforeValidator
from sqlalchemy.exc import SQLAlchemyError

from sigmax.api.context import ApiContext
from sigmax.api.errors import ApiError
from sigmax.api.read_cache import ReadCache
from sigmax.api.schemas import (
    CandleOut,
    CandlesResponse,
    ConfigResponse,
    DecisionOut,
    EquityPoint,
    EquityResponse,
    ErrorResponse,
    HealthCheckOut,
    HealthResponse,
    HistoryResponse,
    PortfolioResponse,
    SafetyHealth,
    SafetyResponse,
    StatusResponse,
    TradeOut,
    TradesResponse,
    strict_query_integer,
)
from sigmax.domain.candles import Timeframe, ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.engine.account import (
    decimal_text,
    newest_run,
    read_trades,
)
from sigmax.engine.decision_log import MAX_HISTORY_LIMIT, Source, StoredDecisionLog
from sigmax.engine.safety_service import safety_report
from sigmax.errors import SigmaxError
from sigmax.ops.health import Check, collect_health
from sigmax.safety.triggers import TriggerName
from sigmax.storage.repositories import EquitySnapshotRepository

#: Most trades, equity points and candles one request returns.
MAX_ROWS: Final = 10_000
DEFAULT_CANDLES: Final = 500
_JSON: Final = "application/json"

SymbolQuery = Annotated[str | None, Query(max_length=32, description="A market such as BTC/USDT.")]
#: Routes with parameters answer bad ones with SIGMAX's error body (not FastAPI's default).
BAD_INPUT: Final[dict[int | str, dict[str, Any]]] = {
    422: {"model": ErrorResponse, "description": "Bad input; the error names the parameter."}
}
RowLimit = Annotated[
    int | None,
    Query(ge=1, le=MAX_ROWS, description="Only the newest N."),
    BeforeValidator(strict_query_integer),
]


def symbol_param(text: str, field: str = "symbol") -> str:
    """A market in its canonical spelling, or 422 naming ``field``."""
    try:
        return str(Symbol.parse(text))
    except ValueError as error:
        raise ApiError(422, "symbol", str(error), field=field) from None


def _timeframe_param(text: str) -> Timeframe:
    try:
        return Timeframe.parse(text)
    except ValueError as error:
        raise ApiError(422, "timeframe", str(error), field="timeframe") from None


def read_router(ctx: ApiContext, reads: ReadCache) -> APIRouter:
    """The read routes over ``ctx``, status and portfolio from ``reads`` (access control is
    added by the caller)."""
    router = APIRouter(prefix="/api", tags=["read"])

    @router.get("/status", response_model=StatusResponse, summary="What runs, and how")
    async def status() -> Response:
        # Built once per commit (see sigmax.api.read_cache): a request costs only HTTP.
        return Response(await reads.status(), media_type=_JSON)

    @router.get(
        "/health",
        response_model=HealthResponse,
        summary="Healthy, degraded or unhealthy",
        responses={
            503: {
                "model": HealthResponse,
                "description": "The database cannot be read, or the newest run is stale.",
            }
        },
    )
    def health(response: Response) -> HealthResponse:
        uptime = round(max(0.0, ctx.clock() - ctx.started_at), 3)
        # The same checks as ``sigmax health``; this API answering is the API check.
        try:
            safety: dict[str, Any] | None = safety_report(ctx.home)
        except (SigmaxError, SQLAlchemyError):
            safety = None
        report = collect_health(
            ctx.home,
            api_check=lambda _settings: Check("api", "ok", "this API answers"),
            safety=safety,
        )
        if report.exit_code == 2:
            response.status_code = 503
        checks = [HealthCheckOut(**check.as_json()) for check in report.checks]
        problems = [ctx.mask(check.detail) for check in report.checks if check.level != "ok"]
        if safety is None:
            return HealthResponse(
                status="unhealthy",
                uptime=uptime,
                last_decision=None,
                safety_status=None,
                problems=problems,
                checks=checks,
            )
        triggers = {item["name"]: item for item in safety["triggers"]}
        losses = triggers.get(TriggerName.CONSECUTIVE_LOSSES.value, {}).get("value")
        daily = triggers.get(TriggerName.DAILY_LOSS.value, {}).get("value")
        return HealthResponse(
            status=report.status,
            uptime=uptime,
            last_decision=None
            if report.last_decision_ms is None
            else ms_to_iso(report.last_decision_ms),
            safety_status=SafetyHealth(
                paused=bool(safety["paused"]),
                consecutive_losses=losses if isinstance(losses, int) else 0,
                daily_pnl=None if daily is None else decimal_text(Decimal(str(daily))),
            ),
            problems=problems,
            checks=checks,
        )

    @router.get("/portfolio", response_model=PortfolioResponse, summary="Cash, equity, positions")
    async def portfolio() -> Response:
        return Response(await reads.portfolio(), media_type=_JSON)

    @router.get(
        "/trades", response_model=TradesResponse, responses=BAD_INPUT, summary="Fills, oldest first"
    )
    def trades(symbol: SymbolQuery = None, limit: RowLimit = None) -> TradesResponse:
        wanted = None if symbol is None else symbol_param(symbol)
        fills = read_trades(ctx.home, symbol=wanted, limit=limit)
        return TradesResponse(trades=[TradeOut(**trade.as_json()) for trade in fills])

    @router.get(
        "/equity",
        response_model=EquityResponse,
        responses=BAD_INPUT,
        summary="The newest run's equity curve",
    )
    def equity(limit: RowLimit = None) -> EquityResponse:
        with ctx.home.db.session() as session:
            run = newest_run(session)
            if run is None:
                return EquityResponse(run_id=None, points=[])
            rows = EquitySnapshotRepository(session).series(run_id=run.info.id)
            chosen = rows if limit is None else rows[-limit:]
            points = [
                EquityPoint(
                    time=ms_to_iso(row.taken_at_ms),
                    equity=decimal_text(row.equity),
                    cash=decimal_text(row.cash),
                    daily_pnl=decimal_text(row.daily_pnl),
                    realized_pnl=decimal_text(row.realized_pnl),
                    unrealized_pnl=decimal_text(row.unrealized_pnl),
                    fees=decimal_text(row.fees),
                )
                for row in chosen
            ]
        return EquityResponse(run_id=run.info.id, points=points)

    @router.get(
        "/history", response_model=HistoryResponse, responses=BAD_INPUT, summary="Stored decisions"
    )
    def history(
        symbol: SymbolQuery = None,
        limit: Annotated[
            int, Query(ge=1, le=MAX_HISTORY_LIMIT), BeforeValidator(strict_query_integer)
        ] = 20,
        source: Annotated[
            Source,
            Query(
                description="run: the decisions runs recorded (default); ad_hoc: the ad-hoc "
                "analyses (POST /api/analyze, sigmax analyze); all: both."
            ),
        ] = "run",
    ) -> HistoryResponse:
        wanted = None if symbol is None else symbol_param(symbol)
        documents = StoredDecisionLog(ctx.home.db).history(wanted, limit, source=source)
        return HistoryResponse(
            symbol=wanted, decisions=[DecisionOut(**document) for document in documents]
        )

    @router.get(
        "/candles",
        response_model=CandlesResponse,
        summary="Stored candles",
        responses={
            **BAD_INPUT,
            404: {"model": ErrorResponse, "description": "No candle data for the market."},
        },
    )
    def candles(
        symbol: Annotated[str, Query(max_length=32, description="A market such as BTC/USDT.")],
        timeframe: Annotated[
            str | None, Query(max_length=8, description="Default: trading.timeframe.")
        ] = None,
        limit: Annotated[
            int,
            Query(ge=1, le=MAX_ROWS, description="The newest N."),
            BeforeValidator(strict_query_integer),
        ] = DEFAULT_CANDLES,
        until_ms: Annotated[
            int | None,
            Query(
                ge=0,
                le=253_402_300_799_999,  # the end of year 9999: numpy's int64 holds it
                description="Only candles closed by this time (ms since the epoch), such as a "
                "replay's as_of: the stored data runs ahead of a replay.",
            ),
            BeforeValidator(strict_query_integer),
        ] = None,
    ) -> CandlesResponse:
        wanted = symbol_param(symbol)
        frame = ctx.settings.trading.timeframe if timeframe is None else _timeframe_param(timeframe)
        series = ctx.catalog.load(wanted, frame).series
        if until_ms is not None:
            series = series.until(until_ms - series.timeframe.ms)
        series = series[-limit:]
        rows = [
            CandleOut(
                time=ms_to_iso(int(ms)),
                timestamp_ms=int(ms),
                open=float(o),
                high=float(h),
                low=float(low),
                close=float(c),
                volume=float(v),
            )
            for ms, o, h, low, c, v in zip(
                series.timestamp.tolist(),
                series.open.tolist(),
                series.high.tolist(),
                series.low.tolist(),
                series.close.tolist(),
                series.volume.tolist(),
                strict=True,
            )
        ]
        return CandlesResponse(
            symbol=str(series.symbol),
            timeframe=series.timeframe.value,
            exchange=series.exchange,
            source=ctx.catalog.source,
            candles=rows,
        )

    @router.get("/safety", response_model=SafetyResponse, summary="The safety report")
    def safety() -> SafetyResponse:
        return SafetyResponse(**safety_report(ctx.home))

    @router.get("/config", response_model=ConfigResponse, summary="Settings, secrets masked")
    def config() -> ConfigResponse:
        view: dict[str, Any] = ctx.config_view()
        return ConfigResponse(**view)

    return router
