"""The bull, the bear and their debate.

Both sides argue from the same evidence: the signed claims of the analyzer and the researcher.
The bull takes the claims that favour buying, the bear those that favour selling, each ordered
by weight. In every debate round each side answers the other's strongest point that has not yet
been answered, with its own strongest point that it has not yet used in a rebuttal. An answered
point keeps only part of its weight, in proportion to how strong the answer was. A side's score
is the strength of what survives, squashed into [0, 1] (bull) or [-1, 0] (bear).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sigmax.domain.decisions import AgentReport, Claim, DebateRound, Evidence

#: How many of its best points a side states in its opening argument.
OPENING_POINTS = 3
#: At most this share of an answered point's weight is removed by the strongest possible answer.
REBUTTAL_DISCOUNT = 0.5
#: Maps summed weight to a score: tanh(SCORE_GAIN * weight).
SCORE_GAIN = 2.0


@dataclass(slots=True)
class _Point:
    claim: Claim
    strength: float
    answered: bool = False
    used: bool = False


@dataclass(slots=True)
class _Side:
    name: str
    points: list[_Point] = field(default_factory=list)

    def strongest_unanswered(self) -> _Point | None:
        return next((p for p in self.points if not p.answered), None)

    def strongest_unused(self) -> _Point | None:
        return next((p for p in self.points if not p.used), None) or (
            self.points[0] if self.points else None
        )

    @property
    def total(self) -> float:
        return sum(p.strength for p in self.points)


@dataclass(frozen=True, slots=True)
class DebateOutcome:
    bull: AgentReport
    bear: AgentReport
    rounds: tuple[DebateRound, ...]


def run_debate(evidence_reports: Sequence[AgentReport], rounds: int) -> DebateOutcome:
    """Let the bull and the bear argue ``rounds`` rounds over the reports' claims."""
    claims = [c for report in evidence_reports if report.status == "ok" for c in report.claims]
    bull = _Side("bull", _points(claims, sign=1))
    bear = _Side("bear", _points(claims, sign=-1))
    opening_bull, opening_bear = bull.total, bear.total
    bull_opening = _opening(bull, "buy")
    bear_opening = _opening(bear, "sell")

    debate: list[DebateRound] = []
    for number in range(1, rounds + 1):
        bull_text, bull_evidence = _answer(bull, bear)
        bear_text, bear_evidence = _answer(bear, bull)
        debate.append(DebateRound(number, bull_text, bear_text, (*bull_evidence, *bear_evidence)))

    bull_report = _report("bull", bull, opening_bull, bull_opening, sign=1.0)
    bear_report = _report("bear", bear, opening_bear, bear_opening, sign=-1.0)
    return DebateOutcome(bull_report, bear_report, tuple(debate))


def _points(claims: Sequence[Claim], sign: int) -> list[_Point]:
    chosen = [c for c in claims if c.weight * sign > 0]
    chosen.sort(key=lambda c: -abs(c.weight))
    return [_Point(c, abs(c.weight)) for c in chosen]


def _opening(side: _Side, verb: str) -> tuple[Claim, ...]:
    if not side.points:
        return (Claim((f"No evidence favours a decision to {verb}.",)),)
    return tuple(p.claim for p in side.points[:OPENING_POINTS])


def _answer(speaker: _Side, opponent: _Side) -> tuple[str, tuple[Evidence, ...]]:
    """``speaker`` answers ``opponent``'s strongest unanswered point."""
    target = opponent.strongest_unanswered()
    reply = speaker.strongest_unused()
    if target is None:
        return f"The {speaker.name} has nothing left to answer.", ()
    if reply is None:
        target.answered = True
        return (
            f"The {speaker.name} has no evidence to answer: " + target.claim.render(),
            target.claim.evidence,
        )
    target.answered = True
    reply.used = True
    share = reply.strength / (reply.strength + target.strength)
    target.strength *= 1.0 - REBUTTAL_DISCOUNT * share
    text = f"Against \u201c{target.claim.render()}\u201d: {reply.claim.render()}"
    return text, (*target.claim.evidence, *reply.claim.evidence)


def _report(
    name: str,
    side: _Side,
    opening_total: float,
    opening: tuple[Claim, ...],
    sign: float,
) -> AgentReport:
    surviving = side.total
    score = sign * math.tanh(SCORE_GAIN * surviving)
    confidence = surviving / opening_total if opening_total > 0 else 0.0
    return AgentReport.from_claims(
        name,
        score,
        confidence,
        opening,
        details={
            "points": len(side.points),
            "opening_strength": round(opening_total, 6),
            "surviving_strength": round(surviving, 6),
        },
    )
