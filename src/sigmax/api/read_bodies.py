"""The answers of ``GET /api/status`` and ``GET /api/portfolio``, built from the stored state.

Both read what the engine committed, through the same services as ``sigmax status`` and
``sigmax portfolio``. :func:`status_body` and :func:`portfolio_body` give them as the JSON bytes
FastAPI would send for the response model (pydantic's serialiser, by alias), so a cache can
keep the bytes and answer a request without rebuilding anything
(see :mod:`sigmax.api.read_cache`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Final, Literal

from pydantic import TypeAdapter

from sigmax.agents.base import AGENT_NAMES
from sigmax.api.context import ApiContext
from sigmax.api.performance import performance
from sigmax.api.schemas import (
    AgentStatus,
    ModulesOut,
    PortfolioResponse,
    PositionOut,
    StatusResponse,
)
from sigmax.domain.candles import ms_to_iso
from sigmax.engine.account import (
    EXACT,
    AccountStateError,
    decimal_text,
    read_portfolio,
    read_status,
)
from sigmax.engine.safety_service import safety_report
from sigmax.portfolio.quantum import quantum_status

_PCT_QUANTUM: Final = Decimal("0.0001")
_HUNDRED: Final = Decimal(100)
_STATUS_JSON: Final = TypeAdapter(StatusResponse)
_PORTFOLIO_JSON: Final = TypeAdapter(PortfolioResponse)


def status_response(ctx: ApiContext) -> StatusResponse:
    """What runs and how: the newest run, its safety state, the configured modules."""
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
        running=run is not None and run.state == "running",
        paused=bool(safety["paused"]),
        pause_reason=safety.get("reason"),
        pause_until=safety.get("until"),
        pause_until_clock=safety.get("until_clock"),
        feed=feed,
        profile=run.profile if run is not None else settings.profile_name,
        run_id=None if run is None else run.run_id,
        run_status=None if run is None else run.state,
        as_of=None if run is None or run.as_of_ms is None else ms_to_iso(run.as_of_ms),
        symbols=list(run.symbols if run is not None else settings.trading.symbols),
        agents=[
            AgentStatus(name=name, enabled=getattr(agents, name).enabled) for name in AGENT_NAMES
        ],
        modules=ModulesOut(
            storage="postgresql" if ctx.home.db.backend == "postgresql" else "sqlite",
            bus="nats" if settings.services.nats_url is not None else "in-process",
            news=("newsapi" if settings.credentials.newsapi_key is not None else "unavailable"),
            policy_evaluator="opa" if settings.safety.policy.opa_url else "embedded",
            candle_data=ctx.catalog.source,
            quantum=quantum_status(settings.quantum),
        ),
        performance=performance(ctx.home),
    )


def portfolio_response(ctx: ApiContext) -> PortfolioResponse:
    """Cash, equity and open positions after the newest run's last committed step."""
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


def status_body(ctx: ApiContext) -> bytes:
    """:func:`status_response` as the JSON bytes of the response."""
    return _STATUS_JSON.dump_json(status_response(ctx), by_alias=True)


def portfolio_body(ctx: ApiContext) -> bytes:
    """:func:`portfolio_response` as the JSON bytes of the response."""
    return _PORTFOLIO_JSON.dump_json(portfolio_response(ctx), by_alias=True)


def _feed(value: str, run_id: str) -> Literal["replay", "live"]:
    if value == "replay":
        return "replay"
    if value == "live":
        return "live"
    raise AccountStateError(f"run {run_id} config.feed: expected replay or live (got {value!r})")
