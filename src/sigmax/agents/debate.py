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
from dataclasses import dataclass

from sigmax.domain.decisions import AgentReport, Claim, DebateRound, Evidence

#: How many of its best points a side states in its opening argument.
OPENING_POINTS = 3
#: At most this share of an answered point's weight is removed by the strongest possible answer.
REBUTTAL_DISCOUNT = 0.5
#: Maps summed weight to a score: tanh(SCORE_GAIN * weight).
SCORE_GAIN = 2.0


@dataclass(slots=True)
class _Side:
    """One side's points, strongest first. Answered and used points always form a prefix (each
    round answers the strongest unanswered point with the strongest unused one), so two
    counters say which points are answered and used."""

    indexes: list[int]
    strengths: list[float]
    answered: int = 0
    used: int = 0

    @classmethod
    def of(cls, weights: Sequence[float], sign: int) -> _Side:
        chosen = [i for i, w in enumerate(weights) if w * sign > 0]
        chosen.sort(key=lambda i: -abs(weights[i]))
        return cls(chosen, [abs(weights[i]) for i in chosen])

    @property
    def total(self) -> float:
        return sum(self.strengths)


#: One answer in a round: the opponent's point answered (index into the claims) and the
#: speaker's point used to answer it (None when the speaker had no evidence), or None when
#: there was nothing left to answer.
_Answer = tuple[int, int | None] | None


@dataclass(frozen=True, slots=True)
class SideNumbers:
    score: float
    confidence: float
    points: int
    opening_strength: float
    surviving_strength: float
    #: Indexes of the side's points, strongest first.
    order: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DebateNumbers:
    """The debate's result without its text: both sides' scores and who answered what."""

    bull: SideNumbers
    bear: SideNumbers
    #: Per round: the bull's answer, then the bear's.
    rounds: tuple[tuple[_Answer, _Answer], ...]


@dataclass(frozen=True, slots=True)
class DebateOutcome:
    bull: AgentReport
    bear: AgentReport
    rounds: tuple[DebateRound, ...]


def debate_numbers(weights: Sequence[float], rounds: int) -> DebateNumbers:
    """Let the bull and the bear argue ``rounds`` rounds over claims of these signed weights."""
    bull = _Side.of(weights, sign=1)
    bear = _Side.of(weights, sign=-1)
    opening_bull, opening_bear = bull.total, bear.total
    answers = tuple((_answer(bull, bear), _answer(bear, bull)) for _ in range(rounds))
    return DebateNumbers(
        _side_numbers(bull, opening_bull, 1.0), _side_numbers(bear, opening_bear, -1.0), answers
    )


def run_debate(evidence_reports: Sequence[AgentReport], rounds: int) -> DebateOutcome:
    """The debate over the reports' claims, with every side's argument and every round's text."""
    claims = [c for report in evidence_reports if report.status == "ok" for c in report.claims]
    numbers = debate_numbers([c.weight for c in claims], rounds)
    debate: list[DebateRound] = []
    for number, (bull_answer, bear_answer) in enumerate(numbers.rounds, start=1):
        bull_text, bull_evidence = _render_answer("bull", bull_answer, claims)
        bear_text, bear_evidence = _render_answer("bear", bear_answer, claims)
        debate.append(DebateRound(number, bull_text, bear_text, (*bull_evidence, *bear_evidence)))
    return DebateOutcome(
        _report("bull", numbers.bull, claims, "buy"),
        _report("bear", numbers.bear, claims, "sell"),
        tuple(debate),
    )


def _answer(speaker: _Side, opponent: _Side) -> _Answer:
    """``speaker`` answers ``opponent``'s strongest unanswered point with its own strongest
    point not yet used (or its strongest, once all are used); the answered point keeps part of
    its strength."""
    target = opponent.answered
    if target >= len(opponent.strengths):
        return None
    opponent.answered += 1
    if not speaker.strengths:
        return opponent.indexes[target], None
    reply = speaker.used if speaker.used < len(speaker.strengths) else 0
    speaker.used = min(speaker.used + 1, len(speaker.strengths))
    reply_strength, target_strength = speaker.strengths[reply], opponent.strengths[target]
    share = reply_strength / (reply_strength + target_strength)
    opponent.strengths[target] = target_strength * (1.0 - REBUTTAL_DISCOUNT * share)
    return opponent.indexes[target], speaker.indexes[reply]


def _side_numbers(side: _Side, opening_total: float, sign: float) -> SideNumbers:
    surviving = side.total
    return SideNumbers(
        score=sign * math.tanh(SCORE_GAIN * surviving),
        confidence=surviving / opening_total if opening_total > 0 else 0.0,
        points=len(side.strengths),
        opening_strength=opening_total,
        surviving_strength=surviving,
        order=tuple(side.indexes),
    )


def _render_answer(
    speaker: str, answer: _Answer, claims: Sequence[Claim]
) -> tuple[str, tuple[Evidence, ...]]:
    if answer is None:
        return f"The {speaker} has nothing left to answer.", ()
    target, reply = claims[answer[0]], answer[1]
    if reply is None:
        return f"The {speaker} has no evidence to answer: " + target.render(), target.evidence
    rebuttal = claims[reply]
    text = f"Against \u201c{target.render()}\u201d: {rebuttal.render()}"
    return text, (*target.evidence, *rebuttal.evidence)


def _report(name: str, side: SideNumbers, claims: Sequence[Claim], verb: str) -> AgentReport:
    opening = (
        tuple(claims[i] for i in side.order[:OPENING_POINTS])
        if side.order
        else (Claim((f"No evidence favours a decision to {verb}.",)),)
    )
    return AgentReport.from_claims(
        name,
        side.score,
        side.confidence,
        opening,
        details={
            "points": side.points,
            "opening_strength": round(side.opening_strength, 6),
            "surviving_strength": round(side.surviving_strength, 6),
        },
    )
