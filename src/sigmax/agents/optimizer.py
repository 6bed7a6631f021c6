"""The optimizer: one score, one action, one confidence.

The combined score is the confidence-weighted mean of the voting agents' scores, with the weights
of ``agents.yaml`` (agents that are disabled or whose sources are unavailable do not vote):

    S = sum(w_i * c_i * s_i) / sum(w_i * c_i)

The action follows the profile's thresholds: BUY when S >= buy_threshold, SELL when
S <= sell_threshold, HOLD otherwise. Confidence combines strength and agreement:

    strength  = min(1, |S| / threshold of the side S is on)
    agreement = sum(w_i * c_i over agents whose score has the sign of S) / sum(w_i * c_i)
    confidence = sqrt(strength * agreement)

A BUY or SELL below the profile's ``min_confidence`` becomes HOLD, and so does a BUY the risk
agent vetoed or a SELL with no position to sell (spot: SIGMAX never shorts).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from sigmax.agents.base import clip, evidence
from sigmax.config.settings import ProfileSettings
from sigmax.domain.decisions import Action, AgentReport, Claim, Evidence


@dataclass(frozen=True, slots=True)
class Vote:
    """One voter's numbers: ``ok`` is False when its sources were unavailable."""

    name: str
    ok: bool
    score: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Combined:
    score: float
    confidence: float
    strength: float
    agreement: float
    #: The voters that counted, in vote order.
    counted: tuple[Vote, ...]


class Reason(Enum):
    """Why the action is what it is; the explanation renders it."""

    BUY = "buy"
    SELL = "sell"
    BETWEEN = "between"
    BUY_LOW_CONFIDENCE = "buy_low_confidence"
    SELL_LOW_CONFIDENCE = "sell_low_confidence"
    VETOED = "vetoed"
    NOTHING_TO_SELL = "nothing_to_sell"


def combine(
    votes: Sequence[Vote], weights: Mapping[str, float], profile: ProfileSettings
) -> Combined:
    """The confidence-weighted mean score and the confidence (see the module's formulas)."""
    counted = tuple(v for v in votes if v.ok and weights.get(v.name, 0.0) > 0 and v.confidence > 0)
    mass = [weights[v.name] * v.confidence for v in counted]
    total = sum(mass)
    score = (
        sum(m * v.score for m, v in zip(mass, counted, strict=True)) / total if total > 0 else 0.0
    )
    score = clip(score)
    threshold = profile.buy_threshold if score >= 0 else abs(profile.sell_threshold)
    strength = min(1.0, abs(score) / threshold)
    agreeing = sum(m for m, v in zip(mass, counted, strict=True) if v.score * score > 0)
    agreement = agreeing / total if total > 0 else 0.0
    return Combined(score, math.sqrt(strength * agreement), strength, agreement, counted)


def choose(
    score: float,
    confidence: float,
    profile: ProfileSettings,
    vetoed: Callable[[], bool],
    position_usd: Decimal,
) -> tuple[Action, Reason]:
    """The action for a combined score; ``vetoed`` is asked only for a confident buy."""
    if score >= profile.buy_threshold:
        if confidence < profile.min_confidence:
            return Action.HOLD, Reason.BUY_LOW_CONFIDENCE
        if vetoed():
            return Action.HOLD, Reason.VETOED
        return Action.BUY, Reason.BUY
    if score <= profile.sell_threshold:
        if confidence < profile.min_confidence:
            return Action.HOLD, Reason.SELL_LOW_CONFIDENCE
        if position_usd <= 0:
            return Action.HOLD, Reason.NOTHING_TO_SELL
        return Action.SELL, Reason.SELL
    return Action.HOLD, Reason.BETWEEN


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    score: float
    confidence: float
    report: AgentReport


class OptimizerAgent:
    """Combines the voters' scores into the decision."""

    name = "optimizer"

    def decide(
        self,
        voters: Mapping[str, AgentReport],
        weights: Mapping[str, float],
        profile: ProfileSettings,
        risk: AgentReport,
        position_usd: Decimal,
    ) -> Verdict:
        votes = [Vote(name, r.status == "ok", r.score, r.confidence) for name, r in voters.items()]
        combined = combine(votes, weights, profile)
        score, confidence = combined.score, combined.confidence
        action, reason = choose(
            score, confidence, profile, lambda: risk.status == "veto", position_usd
        )
        parts: list[str | Evidence] = ["Votes: "]
        for i, vote in enumerate(combined.counted):
            parts += [
                ", " if i else "",
                evidence(f"vote_score@{vote.name}", f"{vote.name} score", vote.score),
                " (",
                evidence(f"vote_weight@{vote.name}", "weight", weights[vote.name]),
                ")",
            ]
        if not combined.counted:
            parts.append("no agent could vote")
        parts += [
            "; ",
            evidence("combined_score", "combined score", score),
            ", ",
            evidence("confidence", "confidence", confidence),
            " from strength and agreement. ",
            *_explain(reason, profile),
        ]
        report = AgentReport.from_claims(
            self.name,
            score,
            confidence,
            [Claim(tuple(parts))],
            details={
                "strength": round(combined.strength, 6),
                "agreement": round(combined.agreement, 6),
                "voters": sorted(v.name for v in combined.counted),
            },
        )
        return Verdict(action, score, confidence, report)


def _explain(reason: Reason, profile: ProfileSettings) -> tuple[str | Evidence, ...]:
    buy = evidence("buy_threshold", "buy threshold", profile.buy_threshold)
    sell = evidence("sell_threshold", "sell threshold", profile.sell_threshold)
    floor = evidence("min_confidence", "minimum confidence", profile.min_confidence)
    match reason:
        case Reason.BUY_LOW_CONFIDENCE:
            return (
                "HOLD: the score reaches the ",
                buy,
                " but confidence is under the ",
                floor,
                ".",
            )
        case Reason.VETOED:
            return ("HOLD: the buy signal is vetoed by the risk agent.",)
        case Reason.BUY:
            return ("BUY: the score reaches the ", buy, ".")
        case Reason.SELL_LOW_CONFIDENCE:
            return (
                "HOLD: the score reaches the ",
                sell,
                " but confidence is under the ",
                floor,
                ".",
            )
        case Reason.NOTHING_TO_SELL:
            return ("HOLD: a sell signal, but there is no position to sell (spot, no shorting).",)
        case Reason.SELL:
            return ("SELL: the score reaches the ", sell, ".")
        case Reason.BETWEEN:
            return ("HOLD: the score lies between the ", sell, " and the ", buy, ".")
