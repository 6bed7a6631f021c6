"""The decision record of a reference strategy (sma_cross, a learned policy run alone): its
numbers, one sentence of reasoning and the indicator values it read; no agents, no debate, no
stop-loss or take-profit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from sigmax.agents.base import PortfolioView
from sigmax.agents.market_view import MarketSnapshot
from sigmax.agents.orchestrator import Assessment, decision_id
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.decisions import Action, DecisionRecord


def all_in_size(
    action: Action,
    snapshot: MarketSnapshot,
    portfolio: PortfolioView,
    sleeve_cash: Callable[[str], Decimal] | None,
) -> float:
    """The USD size of an all-in strategy's action: a BUY spends all the cash (of the symbol's
    sleeve when the capital is split), a SELL closes the whole position, a HOLD is 0."""
    if action is Action.BUY:
        cash = portfolio.cash_usd if sleeve_cash is None else sleeve_cash(snapshot.symbol)
        return float(cash)
    if action is Action.SELL:
        return float(portfolio.positions_usd[snapshot.symbol])
    return 0.0


def strategy_decision_id(snapshot: MarketSnapshot, profile: str, digest: str) -> str:
    """A reference strategy's decision id: the agents' scheme, with the strategy's digest."""
    return decision_id(
        snapshot.symbol, snapshot.primary.timeframe.value, profile, snapshot.decision_ms, digest
    )


def strategy_assessment(
    decision_id: str, snapshot: MarketSnapshot, action: Action, score: float, size_usd: float
) -> Assessment:
    """A reference strategy's numbers at the close: confidence |score|, no stops, no sentiment."""
    view = snapshot.primary
    return Assessment(
        id=decision_id,
        symbol=snapshot.symbol,
        timestamp_ms=snapshot.decision_ms,
        data_until_ms=view.open_time_ms,
        decision=action,
        score=score,
        confidence=abs(score),
        size_usd=size_usd,
        stop_loss=None,
        take_profit=None,
        price=view.close,
        sentiment=None,
    )


def strategy_record(
    numbers: Assessment,
    snapshot: MarketSnapshot,
    *,
    profile: str,
    digest: str,
    text: str,
    strategy: str,
    indicators: Mapping[str, float],
) -> DecisionRecord:
    view = snapshot.primary
    return DecisionRecord(
        id=numbers.id,
        symbol=snapshot.symbol,
        timeframe=view.timeframe.value,
        profile=profile,
        timestamp_ms=snapshot.decision_ms,
        data_until_ms=view.open_time_ms,
        decision=numbers.decision,
        confidence=numbers.confidence,
        size_usd=numbers.size_usd,
        stop_loss=None,
        take_profit=None,
        price=numbers.price,
        score=numbers.score,
        reasoning={"decision": text, "strategy": strategy},
        agents=[],
        debate=[],
        indicators=dict(indicators),
        inputs={"decision_time": ms_to_iso(snapshot.decision_ms)},
        config_digest=digest,
    )
