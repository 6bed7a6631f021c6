"""Every candle's combined score and confidence at once, for replays and backtests.

:meth:`Orchestrator.assess` combines the per-candle numbers of :mod:`sigmax.agents.scoring`
for one decision. :func:`assess_history` does the same for every closed candle of a history in
whole-array steps: the analyzer's weighting over the timeframes visible at each close, the
researcher's price regime, the bull and bear debate over the signed claim weights, and the
optimizer's vote. Each step performs the same floating-point operations in the same order as
the scalar path (sums left to right from zero, ``math.tanh``, ``sqrt``), so the results are
equal bit for bit; a test checks it at sampled candles.

The action also depends on the account (a buy the risk agent vetoes, a sell with nothing to
sell), but only when the score crosses a threshold with enough confidence: every other candle
is a HOLD whatever the account. :attr:`BatchAssessment.candidate` marks the candles that may
act; an engine that knows a candle is not a candidate can skip its assessment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sigmax.agents.analyzer import TIMEFRAME_WEIGHTS
from sigmax.agents.debate import REBUTTAL_DISCOUNT, SCORE_GAIN
from sigmax.agents.market_view import SymbolHistory
from sigmax.agents.policy_vote import PolicyVoter
from sigmax.agents.scoring import HIGH_VOLATILITY_RATIO, LayerScores
from sigmax.config.settings import Settings
from sigmax.domain.candles import FloatArray

BoolArray = np.ndarray[tuple[int], np.dtype[np.bool_]]
IntArray = np.ndarray[tuple[int], np.dtype[np.int64]]


@dataclass(frozen=True, slots=True)
class BatchAssessment:
    """Per primary candle (decision at its close): the combined score and confidence."""

    score: FloatArray
    confidence: FloatArray
    #: The candle may lead to a BUY (score and confidence over the buy bar) or a SELL.
    buy_candidate: BoolArray
    sell_candidate: BoolArray
    #: Either: the candle may act (computed once; the engine reads it every candle).
    candidate: BoolArray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidate", self.buy_candidate | self.sell_candidate)


def _clip(values: FloatArray, low: float = -1.0, high: float = 1.0) -> FloatArray:
    clipped: FloatArray = np.minimum(high, np.maximum(low, values))
    return clipped


def _add(total: FloatArray, term: FloatArray, present: BoolArray) -> FloatArray:
    """``total + term`` where present: Python's ``sum`` adds only the terms it is given."""
    summed: FloatArray = np.where(present, total + term, total)
    return summed


def assess_history(
    history: SymbolHistory, settings: Settings, voter: PolicyVoter | None = None
) -> BatchAssessment:
    """The combined score and confidence at the close of every candle of ``history``;
    ``voter``: a promoted learned policy voting last, as :class:`Orchestrator` has it."""
    layers = history.layers()
    primary = layers[0]
    n = len(primary.series)
    decision_ms = primary.series.timestamp + np.int64(primary.timeframe_ms)
    # The candle of each layer visible at each primary close (-1: none closed yet).
    indexes: list[IntArray] = [np.arange(n, dtype=np.int64)]
    for layer in layers[1:]:
        found = np.searchsorted(layer.opens, decision_ms - layer.timeframe_ms, "right") - 1
        indexes.append(found.astype(np.int64))
    present = [index >= 0 for index in indexes]
    count = sum(p.astype(np.int64) for p in present)
    safe = [np.maximum(index, 0) for index in indexes]

    # -- analyzer ------------------------------------------------------------------------
    # A view's weight is that of its place among the visible timeframes (primary first).
    place = [np.zeros(n, dtype=np.int64)]
    for here in present[:-1]:
        place.append(place[-1] + here.astype(np.int64))
    view_weight = [
        np.asarray(TIMEFRAME_WEIGHTS)[np.minimum(p, len(TIMEFRAME_WEIGHTS) - 1)] for p in place
    ]
    tf_scores = [layer.scores.timeframe_score[i] for layer, i in zip(layers, safe, strict=True)]
    coverages = [layer.scores.coverage[i] for layer, i in zip(layers, safe, strict=True)]
    total_weight = np.zeros(n)
    for k in range(1, len(layers) + 1):
        total_weight = np.where(count == k, sum(TIMEFRAME_WEIGHTS[:k]), total_weight)
    raw = np.zeros(n)
    for weight, score, here in zip(view_weight, tf_scores, present, strict=True):
        raw = _add(raw, weight * score, here)
    raw = raw / total_weight
    agreeing = np.zeros(n)
    covered = np.zeros(n)
    for weight, score, coverage, here in zip(
        view_weight, tf_scores, coverages, present, strict=True
    ):
        agreeing = _add(agreeing, weight, here & (score * raw > 0))
        covered = _add(covered, weight * coverage, here)
    analyzer_confidence = _clip((agreeing / total_weight) * (covered / total_weight), 0.0, 1.0)
    analyzer_score = _clip(raw)

    # Claim weights in the scalar order: timeframe by timeframe, component by component.
    columns: list[FloatArray] = []
    for layer, index, here, weight in zip(layers, safe, present, view_weight, strict=True):
        contributions = layer.scores.contributions[index]
        for column in range(contributions.shape[1]):
            value = contributions[:, column] * weight / total_weight
            columns.append(np.where(here, value, np.nan))

    # -- researcher: the price regime on the highest visible timeframe ---------------------
    regime = np.full(n, np.nan)
    for layer, index, here in zip(layers, safe, present, strict=True):
        regime = np.where(here, layer.scores.regime[index], regime)
    available = ~np.isnan(regime)
    factor = _volatility_factor(primary.scores)
    reading_score = regime * factor
    reading_confidence = 0.6 * factor
    research_score = _clip(
        np.where(available, reading_score * reading_confidence / reading_confidence, 0.0)
    )
    research_confidence = _clip(np.where(available, reading_confidence / 1, 0.0), 0.0, 1.0)
    columns.append(np.where(available, regime, np.nan))

    # -- the debate ----------------------------------------------------------------------
    weights = np.column_stack(columns)
    (bull_score, bull_confidence), (bear_score, bear_confidence) = _debate(
        weights, settings.agents.debate_rounds
    )

    # -- the optimizer -------------------------------------------------------------------
    voting = settings.agents.voting_weights()
    votes: tuple[tuple[str, BoolArray, FloatArray, FloatArray], ...] = (
        ("researcher", available, research_score, research_confidence),
        ("bull", np.ones(n, dtype=bool), bull_score, bull_confidence),
        ("bear", np.ones(n, dtype=bool), bear_score, bear_confidence),
        ("analyzer", np.ones(n, dtype=bool), analyzer_score, analyzer_confidence),
    )
    if voter is not None:
        policy = voter.votes(history)
        voting = {**voting, voter.name: voter.weight}
        votes += ((voter.name, np.ones(n, dtype=bool), policy.score, policy.confidence),)
    counted = [
        (ok & (confidence > 0), voting[name] * confidence, score)
        for name, ok, score, confidence in votes
        if voting.get(name, 0.0) > 0
    ]
    mass_total = np.zeros(n)
    weighted = np.zeros(n)
    for here, mass, _ in counted:
        mass_total = _add(mass_total, mass, here)
    for here, mass, score in counted:
        weighted = _add(weighted, mass * score, here)
    with np.errstate(invalid="ignore", divide="ignore"):
        combined = _clip(np.where(mass_total > 0, weighted / mass_total, 0.0))
    profile = settings.profile
    threshold = np.where(combined >= 0, profile.buy_threshold, abs(profile.sell_threshold))
    strength = np.minimum(1.0, np.abs(combined) / threshold)
    agreeing_mass = np.zeros(n)
    for here, mass, score in counted:
        agreeing_mass = _add(agreeing_mass, mass, here & (score * combined > 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(mass_total > 0, agreeing_mass / mass_total, 0.0)
    confidence = np.sqrt(strength * agreement)
    enough = confidence >= profile.min_confidence
    return BatchAssessment(
        score=combined,
        confidence=confidence,
        buy_candidate=(combined >= profile.buy_threshold) & enough,
        sell_candidate=(combined <= profile.sell_threshold) & enough,
    )


def _volatility_factor(scores: LayerScores) -> FloatArray:
    now, baseline = scores.atr_pct_now, scores.atr_pct_baseline
    known = np.isfinite(now) & np.isfinite(baseline)
    with np.errstate(invalid="ignore", divide="ignore"):
        high = known & (now / baseline > HIGH_VOLATILITY_RATIO)
    factor: FloatArray = np.where(high, 0.5, 1.0)
    return factor


def _debate(
    weights: np.ndarray[tuple[int, int], np.dtype[np.float64]], rounds: int
) -> tuple[tuple[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]:
    """Both sides' score and confidence after the debate (see :mod:`sigmax.agents.debate`):
    each round the bull answers, then the bear, so a reply sees the reductions before it."""
    bull = _sorted_strengths(weights, 1.0)
    bear = _sorted_strengths(weights, -1.0)
    n = len(weights)
    bull_count = np.sum(~np.isnan(bull), axis=1).astype(np.int64)
    bear_count = np.sum(~np.isnan(bear), axis=1).astype(np.int64)
    opening = (_total(bull), _total(bear))
    bull_answered, bear_answered = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    bull_used, bear_used = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for _ in range(rounds):
        _answer(bull, bull_count, bull_used, bear, bear_count, bear_answered)
        _answer(bear, bear_count, bear_used, bull, bull_count, bull_answered)
    return (
        _outcome(_total(bull), opening[0], 1.0),
        _outcome(_total(bear), opening[1], -1.0),
    )


def _outcome(
    surviving: FloatArray, opening: FloatArray, sign: float
) -> tuple[FloatArray, FloatArray]:
    # math.tanh, as the scalar debate: a vectorised tanh may round differently.
    score = np.array([sign * math.tanh(SCORE_GAIN * value) for value in surviving.tolist()])
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(opening > 0, surviving / opening, 0.0)
    return score, confidence


def _sorted_strengths(
    weights: np.ndarray[tuple[int, int], np.dtype[np.float64]], sign: float
) -> np.ndarray[tuple[int, int], np.dtype[np.float64]]:
    """Each row's points of one side, strongest first, NaN-padded on the right."""
    with np.errstate(invalid="ignore"):
        strengths = np.where(weights * sign > 0, np.abs(weights), np.nan)
    # Sorting -strength puts NaN last; equal strengths are interchangeable in the debate.
    ordered: np.ndarray[tuple[int, int], np.dtype[np.float64]] = -np.sort(-strengths, axis=1)
    return ordered


def _total(strengths: np.ndarray[tuple[int, int], np.dtype[np.float64]]) -> FloatArray:
    """Row sums added left to right from zero, as Python's ``sum`` does."""
    total = np.zeros(len(strengths))
    for column in range(strengths.shape[1]):
        value = strengths[:, column]
        total = np.where(np.isnan(value), total, total + value)
    return total


def _answer(
    speaker: np.ndarray[tuple[int, int], np.dtype[np.float64]],
    speaker_count: IntArray,
    speaker_used: IntArray,
    opponent: np.ndarray[tuple[int, int], np.dtype[np.float64]],
    opponent_count: IntArray,
    opponent_answered: IntArray,
) -> None:
    """The speaker answers the opponent's strongest unanswered point, in place."""
    rows = np.nonzero(opponent_answered < opponent_count)[0]
    target = opponent_answered[rows]
    opponent_answered[rows] += 1
    replying = rows[speaker_count[rows] > 0]
    if len(replying) == 0:
        return
    target = opponent_answered[replying] - 1
    reply = np.where(speaker_used[replying] < speaker_count[replying], speaker_used[replying], 0)
    speaker_used[replying] = np.minimum(speaker_used[replying] + 1, speaker_count[replying])
    reply_strength = speaker[replying, reply]
    target_strength = opponent[replying, target]
    share = reply_strength / (reply_strength + target_strength)
    opponent[replying, target] = target_strength * (1.0 - REBUTTAL_DISCOUNT * share)
