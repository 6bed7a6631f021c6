"""The analyzer: technical analysis on the primary timeframe and the higher ones.

Per timeframe it scores five components, each in [-1, 1] (the numbers come from
:mod:`sigmax.agents.scoring`, computed over whole arrays):

- trend: EMA fast / slow / long alignment with the close, scaled by trend strength (ADX);
- momentum: RSI (oversold / overbought, otherwise its distance from 50) and the MACD histogram
  relative to ATR;
- volatility: a close outside the Bollinger bands (stretched: expect a pull back), ATR % reported;
- volume: the on-balance-volume slope and an unusual volume candle's direction;
- levels: nearness of the closest swing-low support and swing-high resistance, in ATRs.

A timeframe's score is the weighted sum of its components; the analyzer's score is the weighted
sum over timeframes (primary first). :func:`measure` gives the numbers alone (what a decision
needs); :class:`AnalyzerAgent` adds the explanation: every component becomes a :class:`Claim`
whose signed weight is its contribution to the final score, which is what the bull and the bear
argue from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sigmax.agents.base import AnalysisContext, clip, evidence
from sigmax.agents.market_view import TimeframeView
from sigmax.agents.scoring import (
    ADX_FLOOR,
    ADX_FULL,
    COMPONENT_WEIGHTS,
    COMPONENTS,
    LEVEL_NEAR_ATR,
    OBV_LOOKBACK,
    RSI_OVERBOUGHT,
    RSI_OVERSOLD,
    SWING_LOOKBACK,
    SWING_WING,
    VOLUME_Z_UNUSUAL,
)
from sigmax.config.settings import IndicatorPeriods
from sigmax.domain.decisions import AgentReport, Claim, Evidence

__all__ = [
    "ADX_FLOOR",
    "ADX_FULL",
    "COMPONENT_WEIGHTS",
    "SWING_LOOKBACK",
    "SWING_WING",
    "TIMEFRAME_WEIGHTS",
    "AnalyzerAgent",
    "AnalyzerNumbers",
    "TimeframeNumbers",
    "measure",
    "swing_levels",
]

#: Weights of the timeframes, primary first; renormalised over the timeframes present.
TIMEFRAME_WEIGHTS = (0.5, 0.3, 0.2)


@dataclass(frozen=True, slots=True)
class TimeframeNumbers:
    """One timeframe's score, the share of component weight present, and each present
    component's contribution (its weight times its score) in component order."""

    timeframe: str
    score: float
    coverage: float
    contributions: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class AnalyzerNumbers:
    score: float
    confidence: float
    timeframes: tuple[TimeframeNumbers, ...]
    weights: tuple[float, ...]
    total_weight: float

    def claim_weights(self) -> list[float]:
        """Each component's signed contribution to the analyzer's score, in claim order."""
        total = self.total_weight
        return [
            contribution * w / total
            for w, tf in zip(self.weights, self.timeframes, strict=True)
            for _, contribution in tf.contributions
        ]


def timeframe_numbers(view: TimeframeView) -> TimeframeNumbers:
    """One timeframe's numbers at the view's candle; components still warming up are absent."""
    index = view.index
    scores = view.scores
    row = scores.contributions[index].tolist()
    contributions = tuple(
        (name, value) for name, value in zip(COMPONENTS, row, strict=True) if value == value
    )  # NaN != NaN: an absent component
    return TimeframeNumbers(
        view.timeframe.value,
        float(scores.timeframe_score[index]),
        float(scores.coverage[index]),
        contributions,
    )


def measure(views: Sequence[TimeframeView]) -> AnalyzerNumbers:
    """The analyzer's score and confidence over ``views`` (primary first)."""
    scored = [timeframe_numbers(view) for view in views]
    weights = TIMEFRAME_WEIGHTS[: len(scored)]
    total_weight = sum(weights)
    score = sum(w * s.score for w, s in zip(weights, scored, strict=True)) / total_weight
    agreeing = (
        sum(w for w, s in zip(weights, scored, strict=True) if s.score * score > 0) / total_weight
    )
    coverage = sum(w * s.coverage for w, s in zip(weights, scored, strict=True)) / total_weight
    confidence = clip(agreeing * coverage, 0.0, 1.0)
    return AnalyzerNumbers(clip(score), confidence, tuple(scored), weights, total_weight)


class AnalyzerAgent:
    """Technical analysis over the snapshot's timeframes."""

    name = "analyzer"

    async def analyze(self, context: AnalysisContext) -> AgentReport:
        views = context.snapshot.views
        numbers = measure(views)
        periods = context.agents.analyzer.indicators
        claims: list[Claim] = []
        for view, tf_numbers, w in zip(views, numbers.timeframes, numbers.weights, strict=True):
            for name, contribution in tf_numbers.contributions:
                parts = _EXPLAIN[name](view, view.timeframe.value, periods)
                claims.append(Claim(parts, contribution * w / numbers.total_weight))
        return AgentReport.from_claims(
            self.name,
            numbers.score,
            numbers.confidence,
            claims,
            details={
                "timeframes": {s.timeframe: round(s.score, 6) for s in numbers.timeframes},
                "timeframe_weights": dict(
                    zip((s.timeframe for s in numbers.timeframes), numbers.weights, strict=True)
                ),
            },
        )


_Parts = tuple[str | Evidence, ...]


def _trend(view: TimeframeView, tf: str, periods: IndicatorPeriods) -> _Parts:
    close, ema_f, ema_s, ema_l, adx = (
        view.close,
        view.value("ema_fast"),
        view.value("ema_slow"),
        view.value("ema_long"),
        view.value("adx"),
    )
    spec = view.columns.spec
    parts: list[str | Evidence] = [
        f"Trend {tf}: ",
        evidence(f"close@{tf}", f"close {tf}", close),
        " vs ",
        evidence(f"ema_fast@{tf}", f"EMA({periods.ema_fast}) {tf}", ema_f),
        ", ",
        evidence(f"ema_slow@{tf}", f"EMA({periods.ema_slow}) {tf}", ema_s),
    ]
    steps = [_sign(close - ema_f), _sign(ema_f - ema_s)]
    if math.isfinite(ema_l):
        steps.append(_sign(ema_s - ema_l))
        parts += [", ", evidence(f"ema_long@{tf}", f"EMA({spec.ema_long}) {tf}", ema_l)]
    alignment = sum(steps) / len(steps)
    shape = "bullish" if alignment > 0.5 else "bearish" if alignment < -0.5 else "mixed"
    force = "a strong" if adx >= 25 else "a weak"
    parts += [
        f": {shape} alignment; ",
        evidence(f"adx@{tf}", f"ADX({spec.adx}) {tf}", adx),
        f" shows {force} trend.",
    ]
    return tuple(parts)


def _sign(value: float) -> float:
    return 1.0 if value > 0 else -1.0 if value < 0 else 0.0


def _momentum(view: TimeframeView, tf: str, periods: IndicatorPeriods) -> _Parts:
    rsi, hist, signal = view.value("rsi"), view.value("macd_hist"), view.value("macd_signal")
    parts: list[str | Evidence] = [
        f"Momentum {tf}: ",
        evidence(f"rsi@{tf}", f"RSI({periods.rsi_period}) {tf}", rsi),
    ]
    if rsi < RSI_OVERSOLD:
        parts += [" < ", evidence("rsi_oversold", "oversold level", RSI_OVERSOLD), ": oversold"]
    elif rsi > RSI_OVERBOUGHT:
        parts += [
            " > ",
            evidence("rsi_overbought", "overbought level", RSI_OVERBOUGHT),
            ": overbought",
        ]
    else:
        parts += [": " + ("buyers lead" if rsi >= 50 else "sellers lead")]
    parts += [
        "; ",
        evidence(f"macd_hist@{tf}", f"MACD histogram {tf}", hist),
        " against ",
        evidence(f"macd_signal@{tf}", f"MACD signal {tf}", signal),
        ": " + ("rising momentum." if hist > 0 else "falling momentum."),
    ]
    return tuple(parts)


def _volatility(view: TimeframeView, tf: str, periods: IndicatorPeriods) -> _Parts:
    close, atr = view.close, view.value("atr")
    upper, lower = view.value("bb_upper"), view.value("bb_lower")
    middle = view.value("bb_middle")
    e_close = evidence(f"close@{tf}", f"close {tf}", close)
    parts: list[str | Evidence] = [
        f"Volatility {tf}: ",
        evidence(
            f"atr_pct@{tf}", f"ATR({periods.atr_period}) {tf} as % of price", 100 * atr / close
        ),
        ", ",
        evidence(
            f"bb_width_pct@{tf}",
            f"Bollinger({periods.bollinger_period}) width {tf} %",
            100 * (upper - lower) / middle,
        ),
    ]
    if close > upper:
        band = evidence(f"bb_upper@{tf}", f"upper band {tf}", upper)
        parts += ["; ", e_close, " above ", band, ": stretched, a pull-back is likely."]
    elif close < lower:
        band = evidence(f"bb_lower@{tf}", f"lower band {tf}", lower)
        parts += ["; ", e_close, " below ", band, ": stretched, a rebound is likely."]
    else:
        parts += ["; the close is inside the bands."]
    return tuple(parts)


def _volume(view: TimeframeView, tf: str, periods: IndicatorPeriods) -> _Parts:
    obv_now, obv_then = view.value("obv"), view.value("obv", OBV_LOOKBACK)
    zscore = view.value("volume_zscore")
    traded = float(sum(view.window("volume", OBV_LOOKBACK)))
    slope = (obv_now - obv_then) / traded
    candle_direction = _sign(view.close - float(view.series.open[view.index]))
    unusual = zscore > VOLUME_Z_UNUSUAL
    flow = "accumulation" if slope > 0 else "distribution"
    tail = (
        f": unusual volume on a {'rising' if candle_direction > 0 else 'falling'} candle."
        if unusual and candle_direction != 0
        else ": ordinary volume."
    )
    return (
        f"Volume {tf}: ",
        evidence(f"obv_slope@{tf}", f"OBV slope ({OBV_LOOKBACK} candles) {tf}", slope),
        f" ({flow}); ",
        evidence(f"volume_z@{tf}", f"volume z-score {tf}", zscore),
        tail,
    )


def swing_levels(view: TimeframeView) -> tuple[float, float]:
    """Nearest confirmed swing-low support below and swing-high resistance above the close,
    among the view's last SWING_LOOKBACK candles (NaN when none)."""
    return view.score("support"), view.score("resistance")


def _levels(view: TimeframeView, tf: str, periods: IndicatorPeriods) -> _Parts:
    atr = view.value("atr")
    support, resistance = swing_levels(view)
    close = view.close
    parts: list[str | Evidence] = [f"Levels {tf}: "]
    if math.isfinite(support):
        distance = (close - support) / atr
        parts += [
            evidence(f"support@{tf}", f"support {tf}", support),
            " (",
            evidence(f"support_atr@{tf}", "distance in ATRs", distance),
            ")",
        ]
        if distance <= LEVEL_NEAR_ATR:
            parts += [": near support"]
    if math.isfinite(resistance):
        distance = (resistance - close) / atr
        parts += [
            "; " if math.isfinite(support) else "",
            evidence(f"resistance@{tf}", f"resistance {tf}", resistance),
            " (",
            evidence(f"resistance_atr@{tf}", "distance in ATRs", distance),
            ")",
        ]
        if distance <= LEVEL_NEAR_ATR:
            parts += [": near resistance"]
    parts.append(".")
    return tuple(parts)


#: How each component explains itself (its score comes from the arrays).
_EXPLAIN: dict[str, Callable[[TimeframeView, str, IndicatorPeriods], _Parts]] = {
    "trend": _trend,
    "momentum": _momentum,
    "volatility": _volatility,
    "volume": _volume,
    "levels": _levels,
}
