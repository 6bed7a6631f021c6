"""The read-only routes: status, health, portfolio, trades, equity, decisions, candles, safety,
configuration. They read what the engine committed, through the same services as the CLI.

Routes are plain functions: FastAPI runs them in its worker threads, so a database read never
blocks the event loop (and the engine sharing it, when the API is embedded in ``sigmax run``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from sigmax.agents.base import AGENT_NAMES
from sigmax.api.context import ApiContext
from sigmax.api.errors import ApiError
from sigmax.api.schemas import (
    AgentStatus,
    CandleOut,
    CandlesResponse,
    ConfigResponse,
    DecisionOut,
    EquityPoint,
    EquityResponse,
    ErrorResponse,
    HealthResponse,
    HistoryResponse,
    ModulesOut,
    PortfolioResponse,
    PositionOut,
    SafetyHealth,
    SafetyResponse,
    StatusResponse,
    TradeOut,
    TradesResponse,
)
from sigmax.domain.candles import Timeframe, ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.engine.account import (
    EXACT,
    AccountStateError,
    decimal_text,
    newest_run,
    read_portfolio,
    read_status,
    read_trades,
)
from sigmax.engine.decision_log import MAX_HISTORY_LIMIT, StoredDecisionLog
from sigmax.engine.safety_service import safety_report
from sigmax.errors import SigmaxError
from sigmax.safety.triggers import TriggerName
from sigmax.storage.models import DecisionRow, RunStatus
from sigmax.storage.repositories import EquitySnapshotRepository

#: Most trades, equity points and candles one request returns.
MAX_ROWS: Final = 10_000
DEFAULT_CANDLES: Final = 500
_PCT_QUANTUM: Final = Decimal("0.0001")
_HUNDRED: Final = Decimal(100)

SymbolQuery = Annotated[str | None, Query(max_length=32, description="A market such as BTC/USDT.")]
#: Routes with parameters answer bad ones with SIGMAX's error body (not FastAPI's default).
BAD_INPUT: Final[dict[int | str, dict[str, Any]]] = {
    422: {"model": ErrorResponse, "description": "Bad input; the error names the parameter."}
}
RowLimit = Annotated[int | None, Query(ge=1, le=MAX_ROWS, description="Only the newest N.")]


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


def read_router(ctx: ApiContext) -> APIRouter:
    """The read routes over ``ctx`` (access control is added by the caller)."""
    router = APIRouter(prefix="/api", tags=["read"])

    @router.get("/status", response_model=StatusResponse, summary="What runs, and how")
    def status() -> StatusResponse:
        settings = ctx.settings
        run = read_status(ctx.home)
        safety = safety_report(ctx.home)
        feed: Literal["replay", "live"] | None = None
        mode: Literal["paper", "live"] = settings.trading.mode
        if run is not None:
            feed = _feed(run.feed, run.run_id)
            mode = "live" if run.mode == "live" else "paper"
        agents = settings.agents
        return StatusResponse(
            mode=mode,
            running=run is not None and run.status is RunStatus.RUNNING,
            paused=bool(safety["paused"]),
            pause_reason=safety.get("reason"),
            feed=feed,
            profile=run.profile if run is not None else settings.profile_name,
            run_id=None if run is None else run.run_id,
            run_status=None if run is None else run.status.value,
            as_of=None if run is None or run.as_of_ms is None else ms_to_iso(run.as_of_ms),
            symbols=list(run.symbols if run is not None else settings.trading.symbols),
            agents=[
                AgentStatus(name=name, enabled=getattr(agents, name).enabled)
                for name in AGENT_NAMES
            ],
            modules=ModulesOut(
                storage="postgresql" if ctx.home.db.backend == "postgresql" else "sqlite",
                bus="nats" if settings.services.nats_url is not None else "in-process",
                news=("newsapi" if settings.credentials.newsapi_key is not None else "unavailable"),
                policy_evaluator="opa" if settings.safety.policy.opa_url else "embedded",
                candle_data=ctx.catalog.source,
            ),
        )

    @router.get(
        "/health",
        response_model=HealthResponse,
        summary="Healthy, degraded or unhealthy",
        responses={503: {"model": HealthResponse, "description": "The database cannot be read."}},
    )
    def health(response: Response) -> HealthResponse:
        uptime = round(max(0.0, ctx.clock() - ctx.started_at), 3)
        try:
            with ctx.home.db.session() as session:
                newest_ms = session.scalar(select(func.max(DecisionRow.decided_at_ms)))
                run = newest_run(session)
            safety = safety_report(ctx.home)
        except (SigmaxError, SQLAlchemyError) as error:
            response.status_code = 503
            return HealthResponse(
                status="unhealthy",
                uptime=uptime,
                last_decision=None,
                safety_status=None,
                problems=[ctx.mask(f"the stored state cannot be read: {error}")],
            )
        problems = []
        if run is None:
            problems.append("no run yet: start one with 'sigmax run'")
        elif run.info.status is not RunStatus.RUNNING:
            problems.append(f"the newest run ({run.info.id}) is {run.info.status.value}")
        if safety["paused"]:
            problems.append(f"trading is paused: {safety.get('reason')}")
        triggers = {item["name"]: item for item in safety["triggers"]}
        losses = triggers.get(TriggerName.CONSECUTIVE_LOSSES.value, {}).get("value")
        daily = triggers.get(TriggerName.DAILY_LOSS.value, {}).get("value")
        return HealthResponse(
            status="degraded" if problems else "healthy",
            uptime=uptime,
            last_decision=None if newest_ms is None else ms_to_iso(newest_ms),
            safety_status=SafetyHealth(
                paused=bool(safety["paused"]),
                consecutive_losses=losses if isinstance(losses, int) else 0,
                daily_pnl=None if daily is None else decimal_text(Decimal(str(daily))),
            ),
            problems=problems,
        )

    @router.get("/portfolio", response_model=PortfolioResponse, summary="Cash, equity, positions")
    def portfolio() -> PortfolioResponse:
        account = read_portfolio(ctx.home)
        positions = {}
        for line in account.positions:
            # A percentage is rounded on purpose: the exact context (which refuses to round)
            # only for the cost, then a plain one for the quotient.
            with localcontext(EXACT):
                cost = line.qty * line.avg_price
            with localcontext(prec=50):
                pct = (line.unrealized_pnl / cost * _HUNDRED).quantize(
                    _PCT_QUANTUM, rounding=ROUND_HALF_EVEN
                )
            positions[line.symbol] = PositionOut(
                size=decimal_text(line.qty),
                entry_price=decimal_text(line.avg_price),
                current_price=decimal_text(line.mark),
                pnl=decimal_text(line.unrealized_pnl),
                pnl_pct=decimal_text(pct),
            )
        day = account.day
        return PortfolioResponse(
            run_id=account.run_id,
            profile=account.profile,
            as_of=None if account.as_of_ms is None else ms_to_iso(account.as_of_ms),
            total_value_usd=decimal_text(account.equity),
            cash=decimal_text(account.cash),
            daily_pnl=decimal_text(account.daily_pnl),
            daily_pnl_day=None if day is None else day.isoformat(),
            realized_pnl=decimal_text(account.realized_pnl),
            unrealized_pnl=decimal_text(account.unrealized_pnl),
            fees=decimal_text(account.fees),
            positions=positions,
        )

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
        limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = 20,
    ) -> HistoryResponse:
        wanted = None if symbol is None else symbol_param(symbol)
        documents = StoredDecisionLog(ctx.home.db).history(wanted, limit)
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
        limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description="The newest N.")] = (
            DEFAULT_CANDLES
        ),
        until_ms: Annotated[
            int | None,
            Query(
                ge=0,
                le=253_402_300_799_999,  # the end of year 9999: numpy's int64 holds it
                description="Only candles closed by this time (ms since the epoch), such as a "
                "replay's as_of: the stored data runs ahead of a replay.",
            ),
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


def _feed(value: str, run_id: str) -> Literal["replay", "live"]:
    if value == "replay":
        return "replay"
    if value == "live":
        return "live"
    raise AccountStateError(f"run {run_id} config.feed: expected replay or live (got {value!r})")
