"""The decision record of a reference strategy (sma_cross, a learned policy run alone): its
numbers, one sentence of reasoning and the indicator values it read; no agents, no debate, no
stop-loss or take-profit."""

from __future__ import annotations

from collections.abc import Mapping

from sigmax.agents.market_view import MarketSnapshot
from sigmax.agents.orchestrator import Assessment
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.decisions import Action, DecisionRecord


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
