"""The orchestrator: seven agents, one debate, one explained decision.

Order of work for one symbol at one moment:

1. the researcher and the analyzer read the market concurrently;
2. the bull and the bear build their cases from those reports and debate;
3. the risk agent sizes the trade and places stops (or vetoes);
4. the optimizer combines the votes into an action and a confidence;
5. the privacy agent screens every text the record will publish;
6. the :class:`DecisionRecord` is handed to the sink (persisted) before it is returned, so
   nothing can act on a decision that was not recorded.

:meth:`Orchestrator.assess` runs the same steps on numbers alone (no claims, no text, no
screening): it is what the engine calls on every candle, and :meth:`Orchestrator.decide` (the
explained record) is built only for decisions that lead to an order or are shown. Both read
the same per-candle arrays and combine them with the same functions, so their action, score,
confidence, size and stops are equal (a test checks it over the bundled data).

With the same candles, configuration and moment, the record is the same apart from latencies:
no randomness, no wall clock, and the id is a digest of what the decision depends on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from sigmax.agents import analyzer as analyzer_numbers
from sigmax.agents import risk as risk_numbers
from sigmax.agents.analyzer import AnalyzerAgent
from sigmax.agents.base import AnalysisContext, PortfolioView, timed
from sigmax.agents.debate import debate_numbers, run_debate
from sigmax.agents.market_view import MarketSnapshot, SymbolHistory
from sigmax.agents.optimizer import OptimizerAgent, Vote, choose, combine
from sigmax.agents.policy_vote import PolicyVote, PolicyVoter
from sigmax.agents.privacy_agent import PrivacyAgent
from sigmax.agents.researcher import (
    ITEM_REDACTIONS,
    ITEM_TEXTS,
    ResearcherAgent,
    ResearchSource,
    sentiment_summary,
)
from sigmax.agents.risk import RiskAgent
from sigmax.config.settings import Settings
from sigmax.data.indicators import IndicatorSpec
from sigmax.domain.candles import CandleSeries, ms_to_iso
from sigmax.domain.decisions import (
    Action,
    AgentReport,
    Claim,
    DebateRound,
    DecisionRecord,
    Evidence,
)
from sigmax.errors import InputError
from sigmax.safety.privacy import PrivacyScanner


class DecisionSink(Protocol):
    """Where decisions are recorded before anything acts on them."""

    def save(self, record: DecisionRecord) -> None: ...


def config_digest(settings: Settings) -> str:
    """A digest of every setting a decision depends on (agents and the risk profile)."""
    relevant = {
        "profile_name": settings.profile_name,
        "profile": settings.profile.model_dump(mode="json"),
        # The time limit changes when a request gives up, not what the data decides.
        "agents": settings.agents.model_dump(mode="json", exclude={"timeout_ms"}),
    }
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def decision_id(symbol: str, timeframe: str, profile: str, decision_ms: int, digest: str) -> str:
    """Deterministic: the same decision made again has the same id (orders derive from it)."""
    key = f"{symbol}|{timeframe}|{profile}|{decision_ms}|{digest}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def ad_hoc_id(run_decision_id: str) -> str:
    """The id of an ad-hoc analysis made at the moment of the run decision ``run_decision_id``.

    Different from the run's id on purpose: stored first, an analysis with the run's own id
    would be taken for the run's decision, and the run's row (and its orders) never written.
    """
    return hashlib.sha256(f"{run_decision_id}|ad_hoc".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Assessment:
    """A decision's numbers without its explanation (see :meth:`Orchestrator.assess`)."""

    id: str
    symbol: str
    timestamp_ms: int
    data_until_ms: int
    decision: Action
    score: float
    confidence: float
    size_usd: float
    stop_loss: float | None
    take_profit: float | None
    price: float
    #: The researcher's aggregate sentiment, when a sentiment source is available.
    sentiment: float | None


class Orchestrator:
    """Runs the agents for a symbol and produces the decision record."""

    #: Entries get the risk agent's stop-loss and take-profit; sizes come from the risk agent.
    protects_entries = True
    spends_cash = False
    cash_sleeves = 1

    def __init__(
        self,
        settings: Settings,
        history: Callable[[str], SymbolHistory],
        sink: DecisionSink | None = None,
        sources: Sequence[ResearchSource] | None = None,
        voter: PolicyVoter | None = None,
    ) -> None:
        """``sources``: the researcher's sources (default: those available offline).
        ``voter``: a promoted learned policy, one more vote (none: the agents alone)."""
        self.settings = settings
        self._history = history
        self._sink = sink
        self.researcher = ResearcherAgent(sources)
        self.analyzer = AnalyzerAgent()
        self.risk = RiskAgent()
        self.optimizer = OptimizerAgent()
        self.privacy = PrivacyAgent(PrivacyScanner(settings.secret_values()))
        self.digest = config_digest(settings)
        self._voting_weights = settings.agents.voting_weights()
        # -- the policy's vote: nothing changes without one --------------------------------
        self.voter = voter
        if voter is not None:
            self.digest = policy_digest(self.digest, voter)
            self._voting_weights = {**self._voting_weights, voter.name: voter.weight}

    def decision_id(self, snapshot: MarketSnapshot) -> str:
        return decision_id(
            snapshot.symbol,
            snapshot.primary.timeframe.value,
            self.settings.profile_name,
            snapshot.decision_ms,
            self.digest,
        )

    def assess(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> Assessment:
        """The decision's numbers alone: what :meth:`decide` would conclude, much faster."""
        settings = self.settings
        analyzer = analyzer_numbers.measure(snapshot.views)
        research = self.researcher.measure(snapshot)
        weights = analyzer.claim_weights()
        if research.available:
            weights += research.claim_weights()
        debate = debate_numbers(weights, settings.agents.debate_rounds)
        votes: tuple[Vote, ...] = (
            Vote("researcher", research.available, research.score, research.confidence),
            Vote("bull", True, debate.bull.score, debate.bull.confidence),
            Vote("bear", True, debate.bear.score, debate.bear.confidence),
            Vote("analyzer", True, analyzer.score, analyzer.confidence),
        )
        if self.voter is not None:
            policy = self.voter.vote(snapshot)
            votes += (Vote(self.voter.name, True, policy.score, policy.confidence),)
        combined = combine(votes, self._voting_weights, settings.profile)
        position = portfolio.positions_usd.get(snapshot.symbol, Decimal(0))
        sized: list[risk_numbers.RiskNumbers] = []

        def vetoed() -> bool:
            context = AnalysisContext(
                snapshot, settings.profile_name, settings.profile, settings.agents, portfolio
            )
            sized.append(risk_numbers.measure(context))
            return sized[0].veto is not None

        action, _ = choose(combined.score, combined.confidence, settings.profile, vetoed, position)
        size, stop, target = 0.0, None, None
        if action is Action.BUY:
            size, stop, target = float(sized[0].size), sized[0].stop_loss, sized[0].take_profit
        elif action is Action.SELL:
            size = float(position)
        return Assessment(
            id=self.decision_id(snapshot),
            symbol=snapshot.symbol,
            timestamp_ms=snapshot.decision_ms,
            data_until_ms=snapshot.primary.open_time_ms,
            decision=action,
            score=combined.score,
            confidence=combined.confidence,
            size_usd=size,
            stop_loss=stop,
            take_profit=target,
            price=snapshot.price,
            sentiment=research.sentiment,
        )

    async def analyze_symbol(
        self,
        symbol: str,
        at_ms: int | None = None,
        portfolio: PortfolioView | None = None,
    ) -> DecisionRecord:
        """An ad-hoc analysis of ``symbol`` at ``at_ms`` (default: when the newest known candle
        closed), marked ``source: ad_hoc`` with an id of its own: it acts on nothing and never
        stands in for a run's decision at the same moment."""
        history = self._history(symbol)
        moment = history.latest_decision_ms if at_ms is None else at_ms
        snapshot = history.snapshot(moment)
        account = portfolio or PortfolioView.starting(self.settings.profile.starting_capital_usd)
        decided = await self.decide(snapshot, account)
        record = replace(decided, id=ad_hoc_id(decided.id), source="ad_hoc")
        if self._sink is not None:
            self._sink.save(record)
        return record

    async def decide(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> DecisionRecord:
        """The decision for one snapshot (not persisted: :meth:`analyze_symbol` does that)."""
        started = time.perf_counter()
        settings = self.settings
        context = AnalysisContext(
            snapshot, settings.profile_name, settings.profile, settings.agents, portfolio
        )
        researcher, analyzer = await asyncio.gather(
            timed(lambda: self.researcher.analyze(context)),
            timed(lambda: self.analyzer.analyze(context)),
        )
        debate_started = time.perf_counter()
        outcome = run_debate((analyzer, researcher), settings.agents.debate_rounds)
        debate_ms = (time.perf_counter() - debate_started) * 1000.0
        bull = replace(outcome.bull, latency_ms=debate_ms / 2)
        bear = replace(outcome.bear, latency_ms=debate_ms / 2)
        risk = await timed(lambda: self.risk.analyze(context))
        position = portfolio.positions_usd.get(snapshot.symbol, Decimal(0))

        voters = {"researcher": researcher, "bull": bull, "bear": bear, "analyzer": analyzer}
        policy = None if self.voter is None else await timed(lambda: self._policy_report(snapshot))
        if policy is not None:
            voters[policy.name] = policy
        optimizer_started = time.perf_counter()
        verdict = self.optimizer.decide(
            voters,
            self._voting_weights,
            settings.profile,
            risk,
            position,
        )
        optimizer = replace(
            verdict.report, latency_ms=(time.perf_counter() - optimizer_started) * 1000.0
        )

        reports = {r.name: r for r in (*voters.values(), risk, optimizer)}
        reasoning = {
            "bull_argument": bull.argument,
            "bear_argument": bear.argument,
            "risk_assessment": risk.argument,
            "technical_analysis": analyzer.argument,
            "sentiment": sentiment_summary(researcher),
            "decision": optimizer.argument,
        }
        privacy_started = time.perf_counter()
        reports, rounds, reasoning, privacy = self._screen(reports, outcome.rounds, reasoning)
        privacy = replace(privacy, latency_ms=(time.perf_counter() - privacy_started) * 1000.0)

        action = verdict.action
        size, stop, target = _sizing(action, risk, position)
        primary = snapshot.primary
        agents = [
            reports["researcher"],
            reports["bull"],
            reports["bear"],
            reports["analyzer"],
            *([reports[policy.name]] if policy is not None else []),
            reports["risk"],
            privacy,
            reports["optimizer"],
        ]
        record = DecisionRecord(
            id=self.decision_id(snapshot),
            symbol=snapshot.symbol,
            timeframe=primary.timeframe.value,
            profile=settings.profile_name,
            timestamp_ms=snapshot.decision_ms,
            data_until_ms=primary.open_time_ms,
            decision=action,
            confidence=verdict.confidence,
            size_usd=size,
            stop_loss=stop,
            take_profit=target,
            price=snapshot.price,
            score=verdict.score,
            reasoning=reasoning,
            agents=agents,
            debate=rounds,
            indicators=snapshot.record.columns.record_values(snapshot.record.index),
            inputs=_inputs(snapshot, researcher),
            config_digest=self.digest,
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
        return record

    async def _policy_report(self, snapshot: MarketSnapshot) -> AgentReport:
        """The policy's vote as a report: its action and that action's probability."""
        assert self.voter is not None
        vote = self.voter.vote(snapshot)
        return policy_report(self.voter, vote)

    def _screen(
        self,
        reports: Mapping[str, AgentReport],
        rounds: tuple[DebateRound, ...],
        reasoning: Mapping[str, str],
    ) -> tuple[dict[str, AgentReport], tuple[DebateRound, ...], dict[str, str], AgentReport]:
        """Redact every text the record publishes; report what was found."""
        texts = {f"{name}.argument": r.argument for name, r in reports.items()}
        for r in rounds:
            texts[f"debate.{r.number}.bull"] = r.bull
            texts[f"debate.{r.number}.bear"] = r.bear
        texts.update({f"reasoning.{k}": v for k, v in reasoning.items()})
        # The research items a decision quotes are outside text too: each was screened once,
        # when it arrived (it never changes), and is counted here with what was redacted.
        researcher = reports.get("researcher")
        items = _research_items(researcher)
        redactions = researcher.details.get(ITEM_REDACTIONS, []) if researcher else []
        screening = self.privacy.screen(
            texts, screened_before=len(ITEM_TEXTS) * len(items), found_before=redactions
        )
        clean = screening.texts
        # Rebuild only what the screen changed: almost every decision has nothing to redact.
        return (
            {
                name: r
                if clean[f"{name}.argument"] == r.argument
                else replace(r, argument=clean[f"{name}.argument"])
                for name, r in reports.items()
            },
            tuple(
                r
                if clean[f"debate.{r.number}.bull"] == r.bull
                and clean[f"debate.{r.number}.bear"] == r.bear
                else replace(
                    r,
                    bull=clean[f"debate.{r.number}.bull"],
                    bear=clean[f"debate.{r.number}.bear"],
                )
                for r in rounds
            ),
            {k: clean[f"reasoning.{k}"] for k in reasoning},
            screening.report,
        )


def policy_digest(digest: str, voter: PolicyVoter) -> str:
    """The configuration digest with the policy's model and weight: its decisions differ."""
    return hashlib.sha256(f"{digest}|{voter.identity}".encode()).hexdigest()[:16]


def policy_report(voter: PolicyVoter, vote: PolicyVote) -> AgentReport:
    """The policy's vote in the record: action (a fraction policy's target), probability, model,
    weight."""
    if vote.target is not None and vote.target > 0:
        wants: tuple[str | Evidence, ...] = (
            f"The learned policy (model {vote.model}) would hold a position, ",
            Evidence("policy_target", "target fraction of equity", vote.target),
            ", with ",
        )
    else:
        wants = (f"The learned policy (model {vote.model}) would be {vote.action} with ",)
    claim = Claim(
        (
            *wants,
            Evidence("policy_probability", "probability", vote.probability),
            "; as a vote: ",
            Evidence("policy_score", "score", vote.score),
            ", ",
            Evidence("policy_weight", "weight", voter.weight),
            ".",
        ),
        weight=vote.score,
    )
    details: dict[str, Any] = {
        "action": vote.action,
        "probability": round(vote.probability, 6),
        "long_probability": round(vote.long_probability, 6),
        "model": vote.model,
        "weight": voter.weight,
    }
    if vote.target is not None:
        details["target"] = round(vote.target, 6)
    return AgentReport.from_claims(
        voter.name, vote.score, vote.confidence, [claim], details=details
    )


def _research_items(report: AgentReport | None) -> list[dict[str, Any]]:
    items = report.details.get("items") if report is not None else None
    return list(items) if isinstance(items, list) else []


def _sizing(
    action: Action, risk: AgentReport, position_usd: Decimal
) -> tuple[float, float | None, float | None]:
    if action is Action.BUY:
        return (
            float(Decimal(risk.details["size_usd"])),
            float(risk.details["stop_loss"]),
            float(risk.details["take_profit"]),
        )
    if action is Action.SELL:
        return float(position_usd), None, None
    return 0.0, None, None


def _inputs(snapshot: MarketSnapshot, researcher: AgentReport) -> dict[str, object]:
    """When each input was last updated: the proof of what the decision could see."""
    return {
        "decision_time": ms_to_iso(snapshot.decision_ms),
        "timeframes": {
            view.timeframe.value: {
                "data_until": ms_to_iso(view.open_time_ms),
                "closed_at": ms_to_iso(view.close_time_ms),
                "candles": view.candles,
            }
            for view in snapshot.views
        },
        "sources": dict(researcher.details.get("sources", {})),
    }


def indicator_spec(settings: Settings) -> IndicatorSpec:
    """The analyzer's configured indicator periods."""
    periods = settings.agents.analyzer.indicators
    return IndicatorSpec(
        rsi=periods.rsi_period,
        macd_fast=periods.macd_fast,
        macd_slow=periods.macd_slow,
        macd_signal=periods.macd_signal,
        bollinger_period=periods.bollinger_period,
        bollinger_stddev=periods.bollinger_stddev,
        atr=periods.atr_period,
        ema_fast=periods.ema_fast,
        ema_slow=periods.ema_slow,
    )


def build_history(series: CandleSeries, settings: Settings) -> SymbolHistory:
    """A symbol's history with the analyzer's configured timeframes and periods."""
    analyzer = settings.agents.analyzer
    if series.timeframe != analyzer.timeframes.primary:
        raise InputError(
            f"{series.symbol}: the data is {series.timeframe.value} candles but the analyzer's "
            f"primary timeframe is {analyzer.timeframes.primary.value} "
            "(agents.yaml: analyzer.timeframes.primary)"
        )
    return SymbolHistory(series, analyzer.timeframes.higher_timeframes, indicator_spec(settings))
