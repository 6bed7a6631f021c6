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
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sigmax.agents.base import clip, evidence
from sigmax.config.settings import ProfileSettings
from sigmax.domain.decisions import Action, AgentReport, Claim, Evidence


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
        counted = {
            name: report
            for name, report in voters.items()
            if report.status == "ok" and weights.get(name, 0.0) > 0 and report.confidence > 0
        }
        mass = {name: weights[name] * r.confidence for name, r in counted.items()}
        total = sum(mass.values())
        score = sum(mass[n] * counted[n].score for n in counted) / total if total > 0 else 0.0
        score = clip(score)
        threshold = profile.buy_threshold if score >= 0 else abs(profile.sell_threshold)
        strength = min(1.0, abs(score) / threshold)
        agreeing = sum(m for n, m in mass.items() if counted[n].score * score > 0)
        agreement = agreeing / total if total > 0 else 0.0
        confidence = math.sqrt(strength * agreement)

        e_score = evidence("combined_score", "combined score", score)
        e_conf = evidence("confidence", "confidence", confidence)
        parts: list[str | Evidence] = ["Votes: "]
        for i, (name, report) in enumerate(counted.items()):
            parts += [
                ", " if i else "",
                evidence(f"vote_score@{name}", f"{name} score", report.score),
                " (",
                evidence(f"vote_weight@{name}", "weight", weights[name]),
                ")",
            ]
        if not counted:
            parts.append("no agent could vote")
        parts += ["; ", e_score, ", ", e_conf, " from strength and agreement. "]
        action, reason = _action(score, confidence, profile, risk, position_usd)
        parts += reason
        report = AgentReport.from_claims(
            self.name,
            score,
            confidence,
            [Claim(tuple(parts))],
            details={
                "strength": round(strength, 6),
                "agreement": round(agreement, 6),
                "voters": sorted(counted),
            },
        )
        return Verdict(action, score, confidence, report)


def _action(
    score: float,
    confidence: float,
    profile: ProfileSettings,
    risk: AgentReport,
    position_usd: Decimal,
) -> tuple[Action, tuple[str | Evidence, ...]]:
    buy = evidence("buy_threshold", "buy threshold", profile.buy_threshold)
    sell = evidence("sell_threshold", "sell threshold", profile.sell_threshold)
    floor = evidence("min_confidence", "minimum confidence", profile.min_confidence)
    if score >= profile.buy_threshold:
        if confidence < profile.min_confidence:
            return Action.HOLD, (
                "HOLD: the score reaches the ",
                buy,
                " but confidence is under the ",
                floor,
                ".",
            )
        if risk.status == "veto":
            return Action.HOLD, ("HOLD: the buy signal is vetoed by the risk agent.",)
        return Action.BUY, ("BUY: the score reaches the ", buy, ".")
    if score <= profile.sell_threshold:
        if confidence < profile.min_confidence:
            return Action.HOLD, (
                "HOLD: the score reaches the ",
                sell,
                " but confidence is under the ",
                floor,
                ".",
            )
        if position_usd <= 0:
            return (
                Action.HOLD,
                ("HOLD: a sell signal, but there is no position to sell (spot, no shorting).",),
            )
        return Action.SELL, ("SELL: the score reaches the ", sell, ".")
    return Action.HOLD, ("HOLD: the score lies between the ", sell, " and the ", buy, ".")
