"""The researcher: market context from every configured research source.

Sources sit behind the :class:`ResearchSource` protocol. Offline, the only source is the price
itself (trend and volatility regime). A source that is not configured is reported as
``unavailable`` with its reason and contributes nothing: an absent sentiment reading is not a
neutral 0, and the sentiment safety trigger never fires on it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sigmax.agents.base import AnalysisContext, clip, evidence
from sigmax.domain.decisions import AgentReport, Claim, Evidence

#: How far back the volatility regime compares today's ATR %, in days.
VOLATILITY_BASELINE_DAYS = 30
#: ATR % above this multiple of its baseline is a high-volatility regime.
HIGH_VOLATILITY_RATIO = 1.5
LOW_VOLATILITY_RATIO = 0.67
#: EMA slope look-back on the regime timeframe, in candles.
REGIME_SLOPE_CANDLES = 5
REGIME_SCORE = 0.4


@dataclass(frozen=True, slots=True)
class SourceReading:
    """One source's contribution: a score in [-1, 1] and its claims, or why there is none.

    ``sentiment`` is set only by sources that measure market sentiment (news, social).
    """

    source: str
    available: bool
    score: float = 0.0
    confidence: float = 0.0
    claims: tuple[Claim, ...] = ()
    reason: str = ""
    sentiment: float | None = None


class ResearchSource(Protocol):
    """A source of market context for the researcher."""

    name: str

    async def read(self, context: AnalysisContext) -> SourceReading: ...


class PriceRegimeSource:
    """Trend regime (close against the slow EMA and its slope on the highest timeframe) and
    volatility regime (ATR % against its own recent median on the primary timeframe)."""

    name = "price_regime"

    async def read(self, context: AnalysisContext) -> SourceReading:
        snapshot = context.snapshot
        regime_view = snapshot.views[-1]
        tf = regime_view.timeframe.value
        slow = regime_view.value("ema_slow")
        slow_before = regime_view.value("ema_slow", REGIME_SLOPE_CANDLES)
        if not (math.isfinite(slow) and math.isfinite(slow_before)) or slow_before <= 0:
            return SourceReading(
                self.name, False, reason=f"not enough {tf} history for the trend regime yet"
            )
        period = context.agents.analyzer.indicators.ema_slow
        slope_pct = 100.0 * (slow / slow_before - 1.0)
        e_close = evidence(f"close@{tf}", f"close {tf}", regime_view.close)
        e_slow = evidence(f"ema_slow@{tf}", f"EMA({period}) {tf}", slow)
        e_slope = evidence(
            f"ema_slow_slope_pct@{tf}",
            f"EMA({period}) {tf} change over {REGIME_SLOPE_CANDLES} candles %",
            slope_pct,
        )
        if regime_view.close > slow and slope_pct > 0:
            regime, score = "uptrend", REGIME_SCORE
        elif regime_view.close < slow and slope_pct < 0:
            regime, score = "downtrend", -REGIME_SCORE
        else:
            regime, score = "range", 0.0
        claims = [
            Claim(
                ("Regime: ", e_close, " vs ", e_slow, " with ", e_slope, f": {regime}."),
                score,
            )
        ]
        ratio_claim, volatility_factor = _volatility_regime(context)
        if ratio_claim is not None:
            claims.append(ratio_claim)
        return SourceReading(
            self.name,
            True,
            score=score * volatility_factor,
            confidence=0.6 * volatility_factor,
            claims=tuple(claims),
        )


def _volatility_regime(context: AnalysisContext) -> tuple[Claim | None, float]:
    """How today's ATR % compares with its median over the baseline; high volatility halves
    the regime's weight because trends break more often then."""
    view = context.snapshot.primary
    candles = max(1, VOLATILITY_BASELINE_DAYS * 86_400_000 // view.timeframe.ms)
    start = max(0, view.index + 1 - candles)
    atr = view.columns.atr[start : view.index + 1]
    close = view.series.close[start : view.index + 1]
    atr_pct = 100.0 * atr / close
    atr_pct = atr_pct[np.isfinite(atr_pct)]
    if len(atr_pct) < candles // 2:
        return None, 1.0
    baseline = float(np.median(atr_pct))
    now = float(atr_pct[-1])
    if baseline <= 0:
        return None, 1.0
    ratio = now / baseline
    tf = view.timeframe.value
    e_now = evidence(f"atr_pct@{tf}", f"ATR {tf} as % of price", now)
    e_base = evidence(
        f"atr_pct_median@{tf}", f"its {VOLATILITY_BASELINE_DAYS}-day median", baseline
    )
    if ratio > HIGH_VOLATILITY_RATIO:
        label, factor = "high volatility: trend signals are less reliable", 0.5
    elif ratio < LOW_VOLATILITY_RATIO:
        label, factor = "quiet market: a breakout can follow", 1.0
    else:
        label, factor = "normal volatility", 1.0
    return Claim(("Volatility regime: ", e_now, " against ", e_base, f": {label}.")), factor


class UnconfiguredSource:
    """A kind of research input SIGMAX has no configured source for."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._reason = reason

    async def read(self, context: AnalysisContext) -> SourceReading:
        return SourceReading(self.name, False, reason=self._reason)


def default_sources() -> tuple[ResearchSource, ...]:
    """The sources available offline: the price regime; sentiment inputs are not configured."""
    return (
        PriceRegimeSource(),
        UnconfiguredSource("news", "no news source is configured"),
        UnconfiguredSource("social", "no social-sentiment source is configured"),
        UnconfiguredSource("onchain", "no on-chain data source is configured"),
    )


class ResearcherAgent:
    """Gathers every source concurrently and summarises them."""

    name = "researcher"

    def __init__(self, sources: Sequence[ResearchSource] | None = None) -> None:
        self.sources = tuple(sources) if sources is not None else default_sources()

    async def analyze(self, context: AnalysisContext) -> AgentReport:
        readings = await asyncio.gather(*(s.read(context) for s in self.sources))
        available = [r for r in readings if r.available]
        claims: list[Claim] = [c for r in available for c in r.claims]
        sentiments = [r.sentiment for r in available if r.sentiment is not None]
        sentiment = float(np.mean(sentiments)) if sentiments else None
        missing = [r for r in readings if not r.available]
        if missing:
            listed = "; ".join(f"{r.source} ({r.reason})" for r in missing)
            claims.append(Claim((f"Unavailable: {listed}.",)))
        weight = sum(r.confidence for r in available)
        score = sum(r.score * r.confidence for r in available) / weight if weight > 0 else 0.0
        confidence = weight / len(available) if available else 0.0
        sources = {
            r.source: ("available" if r.available else f"unavailable: {r.reason}") for r in readings
        }
        return AgentReport.from_claims(
            self.name,
            clip(score),
            clip(confidence, 0.0, 1.0),
            claims,
            status="ok" if available else "unavailable",
            details={"sources": sources, "sentiment": sentiment},
        )


def sentiment_summary(report: AgentReport) -> str:
    """The record's ``reasoning.sentiment``: the sentiment reading, or why there is none, and
    the market regime the researcher found."""
    value = report.details.get("sentiment")
    if value is None:
        head = "Sentiment: unavailable, no sentiment source (news, social) is configured."
    else:
        head = Claim(("Sentiment: ", Evidence("sentiment", "score", float(value)), ".")).render()
    return f"{head} {report.argument}"
