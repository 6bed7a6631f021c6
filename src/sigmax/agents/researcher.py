"""The researcher: market context from every configured research source.

Sources sit behind the :class:`ResearchSource` protocol. Offline, the only source is the price
itself (trend and volatility regime). A source that is not configured is reported as
``unavailable`` with its reason and contributes nothing: an absent sentiment reading is not a
neutral 0, and the sentiment safety trigger never fires on it.

A source gives its numbers (:meth:`ResearchSource.measure`, called for every decision) apart
from its explanation (:meth:`ResearchSource.explain`, only for decisions that are explained).
Sources that need the network (news, social) keep their latest reading fetched in the
background, so measuring never waits on a remote service.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

from sigmax.agents.base import AnalysisContext, clip, evidence
from sigmax.agents.market_view import MarketSnapshot
from sigmax.agents.scoring import (
    HIGH_VOLATILITY_RATIO,
    LOW_VOLATILITY_RATIO,
    REGIME_SLOPE_CANDLES,
    VOLATILITY_BASELINE_DAYS,
    volatility_factor,
)
from sigmax.domain.decisions import AgentReport, Claim, Evidence

#: The researcher's details key listing what the privacy screen redacted in its items.
ITEM_REDACTIONS: Final = "item_redactions"
#: The texts of each research item a record publishes (screened when the item arrived).
ITEM_TEXTS: Final = ("title", "url", "source")


@dataclass(frozen=True, slots=True)
class SourceReading:
    """One source's numbers: a score in [-1, 1] with its confidence, or why there is none.

    ``claim_weights`` are the signed weights of the claims :meth:`ResearchSource.explain` makes,
    in order (what the bull and the bear argue from). ``sentiment`` is set only by sources that
    measure market sentiment (news, social).
    """

    source: str
    available: bool
    score: float = 0.0
    confidence: float = 0.0
    claim_weights: tuple[float, ...] = ()
    reason: str = ""
    sentiment: float | None = None
    #: How much ``sentiment`` counts in the researcher's aggregate (an item source gives the
    #: sum of its items' weights, so the aggregate is the weighted mean over every item).
    sentiment_weight: float = 1.0


class ResearchSource(Protocol):
    """A source of market context for the researcher."""

    name: str

    def measure(self, snapshot: MarketSnapshot) -> SourceReading: ...

    def explain(self, context: AnalysisContext, reading: SourceReading) -> tuple[Claim, ...]: ...


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One research item as a record keeps it (title, source, time, link, score, weight).

    Its texts were screened by the privacy scanner once, when the item arrived; ``redactions``
    says what was redacted, as (field, kind, preview), never the content.
    """

    fields: dict[str, Any]
    redactions: tuple[tuple[str, str, str], ...] = ()


@runtime_checkable
class ItemEvidence(Protocol):
    """A source made of dated items (news, posts, market readings): it lists its feeds' states
    and the items a reading counted, for the record's explanation."""

    def feed_statuses(self, symbol: str, decision_ms: int) -> dict[str, str]: ...

    def evidence_items(self, snapshot: MarketSnapshot) -> list[EvidenceItem]: ...


class PriceRegimeSource:
    """Trend regime (close against the slow EMA and its slope on the highest timeframe) and
    volatility regime (ATR % against its own recent median on the primary timeframe)."""

    name = "price_regime"

    def measure(self, snapshot: MarketSnapshot) -> SourceReading:
        regime_view = snapshot.views[-1]
        regime = regime_view.score("regime")
        if math.isnan(regime):
            return SourceReading(
                self.name,
                False,
                reason=f"not enough {regime_view.timeframe.value} history for the trend regime yet",
            )
        primary = snapshot.primary
        now, baseline = primary.score("atr_pct_now"), primary.score("atr_pct_baseline")
        factor = volatility_factor(now, baseline)
        weights = (regime, 0.0) if math.isfinite(baseline) else (regime,)
        return SourceReading(
            self.name,
            True,
            score=regime * factor,
            confidence=0.6 * factor,
            claim_weights=weights,
        )

    def explain(self, context: AnalysisContext, reading: SourceReading) -> tuple[Claim, ...]:
        snapshot = context.snapshot
        regime_view = snapshot.views[-1]
        tf = regime_view.timeframe.value
        period = context.agents.analyzer.indicators.ema_slow
        regime = reading.claim_weights[0]
        label = "uptrend" if regime > 0 else "downtrend" if regime < 0 else "range"
        claims = [
            Claim(
                (
                    "Regime: ",
                    evidence(f"close@{tf}", f"close {tf}", regime_view.close),
                    " vs ",
                    evidence(
                        f"ema_slow@{tf}", f"EMA({period}) {tf}", regime_view.value("ema_slow")
                    ),
                    " with ",
                    evidence(
                        f"ema_slow_slope_pct@{tf}",
                        f"EMA({period}) {tf} change over {REGIME_SLOPE_CANDLES} candles %",
                        regime_view.score("regime_slope_pct"),
                    ),
                    f": {label}.",
                ),
                regime,
            )
        ]
        if len(reading.claim_weights) > 1:
            claims.append(_volatility_claim(snapshot, reading.claim_weights[1]))
        return tuple(claims)


def _volatility_claim(snapshot: MarketSnapshot, weight: float) -> Claim:
    """Today's ATR % against its median over the baseline; high volatility halves the regime's
    weight because trends break more often then."""
    view = snapshot.primary
    now, baseline = view.score("atr_pct_now"), view.score("atr_pct_baseline")
    ratio = now / baseline
    tf = view.timeframe.value
    if ratio > HIGH_VOLATILITY_RATIO:
        label = "high volatility: trend signals are less reliable"
    elif ratio < LOW_VOLATILITY_RATIO:
        label = "quiet market: a breakout can follow"
    else:
        label = "normal volatility"
    return Claim(
        (
            "Volatility regime: ",
            evidence(f"atr_pct@{tf}", f"ATR {tf} as % of price", now),
            " against ",
            evidence(
                f"atr_pct_median@{tf}", f"its {VOLATILITY_BASELINE_DAYS}-day median", baseline
            ),
            f": {label}.",
        ),
        weight,
    )


class UnconfiguredSource:
    """A kind of research input SIGMAX has no configured source for."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._reading = SourceReading(name, False, reason=reason)

    def measure(self, snapshot: MarketSnapshot) -> SourceReading:
        return self._reading

    def explain(self, context: AnalysisContext, reading: SourceReading) -> tuple[Claim, ...]:
        return ()


def default_sources(news: ResearchSource | None = None) -> tuple[ResearchSource, ...]:
    """The price regime, the news source when one is configured (NEWSAPI_KEY), and the kinds
    of input SIGMAX has no source for, reported as unavailable."""
    return (
        PriceRegimeSource(),
        news
        if news is not None
        else UnconfiguredSource("news", "no news source is configured (NEWSAPI_KEY is not set)"),
        UnconfiguredSource("social", "no social-sentiment source is configured"),
        UnconfiguredSource("onchain", "no on-chain data source is configured"),
    )


@dataclass(frozen=True, slots=True)
class ResearchNumbers:
    """The researcher's combined numbers over every source's reading."""

    readings: tuple[SourceReading, ...]
    score: float
    confidence: float
    sentiment: float | None

    @property
    def available(self) -> bool:
        return any(r.available for r in self.readings)

    @property
    def status(self) -> str:
        return "ok" if self.available else "unavailable"

    def claim_weights(self) -> list[float]:
        return [w for r in self.readings if r.available for w in r.claim_weights]


class ResearcherAgent:
    """Gathers every source and summarises them."""

    name = "researcher"

    def __init__(self, sources: Sequence[ResearchSource] | None = None) -> None:
        self.sources = tuple(sources) if sources is not None else default_sources()
        # Checked once: a runtime protocol check costs tens of microseconds per call.
        self._item_sources: dict[str, ItemEvidence] = {
            s.name: s for s in self.sources if isinstance(s, ItemEvidence)
        }

    def measure(self, snapshot: MarketSnapshot) -> ResearchNumbers:
        """The numbers alone: the confidence-weighted mean of the available sources' scores."""
        readings = tuple(source.measure(snapshot) for source in self.sources)
        available = [r for r in readings if r.available]
        sentiments = [
            (r.sentiment, r.sentiment_weight)
            for r in available
            if r.sentiment is not None and r.sentiment_weight > 0
        ]
        total = sum(w for _, w in sentiments)
        sentiment = sum(s * w for s, w in sentiments) / total if sentiments else None
        weight = sum(r.confidence for r in available)
        score = sum(r.score * r.confidence for r in available) / weight if weight > 0 else 0.0
        confidence = weight / len(available) if available else 0.0
        return ResearchNumbers(readings, clip(score), clip(confidence, 0.0, 1.0), sentiment)

    async def analyze(self, context: AnalysisContext) -> AgentReport:
        numbers = self.measure(context.snapshot)
        claims: list[Claim] = [
            claim
            for source, reading in zip(self.sources, numbers.readings, strict=True)
            if reading.available
            for claim in source.explain(context, reading)
        ]
        missing = [r for r in numbers.readings if not r.available]
        if missing:
            listed = "; ".join(f"{r.source} ({r.reason})" for r in missing)
            claims.append(Claim((f"Unavailable: {listed}.",)))
        sources = {
            r.source: ("available" if r.available else f"unavailable: {r.reason}")
            for r in numbers.readings
        }
        snapshot = context.snapshot
        details: dict[str, Any] = {"sources": sources, "sentiment": numbers.sentiment}
        feeds: dict[str, str] = {}
        items: list[EvidenceItem] = []
        for source, reading in zip(self.sources, numbers.readings, strict=True):
            if source.name in self._item_sources:
                item_source = self._item_sources[source.name]
                feeds.update(item_source.feed_statuses(snapshot.symbol, snapshot.decision_ms))
                if reading.available:
                    items.extend(item_source.evidence_items(snapshot))
        if feeds:
            items.sort(key=lambda i: str(i.fields["published_at"]), reverse=True)
            details["feeds"] = feeds
            details["items"] = [i.fields for i in items]
            # Where the screen redacted an item's text, by the place the record shows it at:
            # the privacy agent counts these with the texts it screens itself.
            redactions = [
                {"where": f"{self.name}.items.{n}.{field}", "kind": kind, "preview": preview}
                for n, item in enumerate(items)
                for field, kind, preview in item.redactions
            ]
            if redactions:
                details[ITEM_REDACTIONS] = redactions
        return AgentReport.from_claims(
            self.name,
            numbers.score,
            numbers.confidence,
            claims,
            status=numbers.status,
            details=details,
        )


def sentiment_summary(report: AgentReport) -> str:
    """The record's ``reasoning.sentiment``: the sentiment reading, or why there is none, and
    the market regime the researcher found."""
    value = report.details.get("sentiment")
    if value is None:
        head = "Sentiment: unavailable, no sentiment source (news, social) is configured."
    else:
        items = report.details.get("items")
        counted = f" from {len(items)} items (recency- and source-weighted)" if items else ""
        head = Claim(
            ("Sentiment: ", Evidence("sentiment", "score", float(value)), f"{counted}.")
        ).render()
    return f"{head} {report.argument}"
