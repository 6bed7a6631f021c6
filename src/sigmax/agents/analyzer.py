"""The analyzer: technical analysis on the primary timeframe and the higher ones.

Per timeframe it scores five components, each in [-1, 1]:

- trend: EMA fast / slow / long alignment with the close, scaled by trend strength (ADX);
- momentum: RSI (oversold / overbought, otherwise its distance from 50) and the MACD histogram
  relative to ATR;
- volatility: a close outside the Bollinger bands (stretched: expect a pull back), ATR % reported;
- volume: the on-balance-volume slope and an unusual volume candle's direction;
- levels: nearness of the closest swing-low support and swing-high resistance, in ATRs.

A timeframe's score is the weighted sum of its components; the analyzer's score is the weighted
sum over timeframes (primary first). Every component is a :class:`Claim` whose signed weight is
its contribution to the final score, which is what the bull and the bear argue from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sigmax.agents.base import AnalysisContext, clip, evidence
from sigmax.agents.market_view import TimeframeView
from sigmax.domain.decisions import AgentReport, Claim, Evidence

#: Weights of the components within a timeframe.
COMPONENT_WEIGHTS = {
    "trend": 0.35,
    "momentum": 0.30,
    "volatility": 0.10,
    "volume": 0.15,
    "levels": 0.10,
}
#: Weights of the timeframes, primary first; renormalised over the timeframes present.
TIMEFRAME_WEIGHTS = (0.5, 0.3, 0.2)

RSI_OVERSOLD = 30.0
RSI_OVERBOUGHT = 70.0
#: ADX below this is no trend; at ADX_FULL and above the trend counts fully.
ADX_FLOOR, ADX_FULL = 15.0, 40.0
OBV_LOOKBACK = 10
#: A candle's volume is unusual from this z-score on.
VOLUME_Z_UNUSUAL = 1.0
#: Swing points are highs (lows) above (below) this many candles on each side.
SWING_WING = 3
SWING_LOOKBACK = 120
#: A close within this many ATRs of a level is "near" it.
LEVEL_NEAR_ATR = 1.0


@dataclass(frozen=True, slots=True)
class TimeframeScore:
    timeframe: str
    score: float
    claims: tuple[Claim, ...]
    coverage: float


class AnalyzerAgent:
    """Technical analysis over the snapshot's timeframes."""

    name = "analyzer"

    async def analyze(self, context: AnalysisContext) -> AgentReport:
        views = context.snapshot.views
        scored = [score_timeframe(view, context) for view in views]
        weights = TIMEFRAME_WEIGHTS[: len(scored)]
        total_weight = sum(weights)
        score = sum(w * s.score for w, s in zip(weights, scored, strict=True)) / total_weight
        claims = tuple(
            c.reweighted(c.weight * w / total_weight)
            for w, s in zip(weights, scored, strict=True)
            for c in s.claims
        )
        agreeing = (
            sum(w for w, s in zip(weights, scored, strict=True) if s.score * score > 0)
            / total_weight
        )
        coverage = sum(w * s.coverage for w, s in zip(weights, scored, strict=True)) / total_weight
        confidence = clip(agreeing * coverage, 0.0, 1.0)
        return AgentReport.from_claims(
            self.name,
            clip(score),
            confidence,
            claims,
            details={
                "timeframes": {s.timeframe: round(s.score, 6) for s in scored},
                "timeframe_weights": dict(zip((s.timeframe for s in scored), weights, strict=True)),
            },
        )


def score_timeframe(view: TimeframeView, context: AnalysisContext) -> TimeframeScore:
    """Score one timeframe; components whose indicators are still warming up are left out."""
    spec = context.agents.analyzer.indicators
    tf = view.timeframe.value
    components = {
        "trend": _trend(view, tf, spec.ema_fast, spec.ema_slow),
        "momentum": _momentum(view, tf, spec.rsi_period),
        "volatility": _volatility(view, tf, spec.atr_period, spec.bollinger_period),
        "volume": _volume(view, tf),
        "levels": _levels(view, tf),
    }
    score = 0.0
    claims: list[Claim] = []
    present = 0.0
    for name, found in components.items():
        if found is None:
            continue
        component_score, parts = found
        weight = COMPONENT_WEIGHTS[name]
        present += weight
        score += weight * component_score
        claims.append(Claim(parts, weight * component_score))
    return TimeframeScore(tf, clip(score), tuple(claims), present)


_Found = tuple[float, tuple[str | Evidence, ...]] | None


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _trend(view: TimeframeView, tf: str, fast: int, slow: int) -> _Found:
    close, ema_f, ema_s, ema_l, adx = (
        view.close,
        view.value("ema_fast"),
        view.value("ema_slow"),
        view.value("ema_long"),
        view.value("adx"),
    )
    if not _finite(ema_f, ema_s, adx):
        return None
    long_period = view.columns.spec.ema_long
    e_close = evidence(f"close@{tf}", f"close {tf}", close)
    e_fast = evidence(f"ema_fast@{tf}", f"EMA({fast}) {tf}", ema_f)
    e_slow = evidence(f"ema_slow@{tf}", f"EMA({slow}) {tf}", ema_s)
    e_adx = evidence(f"adx@{tf}", f"ADX({view.columns.spec.adx}) {tf}", adx)
    steps = [np.sign(close - ema_f), np.sign(ema_f - ema_s)]
    parts: list[str | Evidence] = [f"Trend {tf}: ", e_close, " vs ", e_fast, ", ", e_slow]
    if math.isfinite(ema_l):
        steps.append(np.sign(ema_s - ema_l))
        parts += [", ", evidence(f"ema_long@{tf}", f"EMA({long_period}) {tf}", ema_l)]
    alignment = float(np.mean(steps))
    strength = clip((adx - ADX_FLOOR) / (ADX_FULL - ADX_FLOOR), 0.0, 1.0)
    score = alignment * (0.5 + 0.5 * strength)
    shape = "bullish" if alignment > 0.5 else "bearish" if alignment < -0.5 else "mixed"
    force = "a strong" if adx >= 25 else "a weak"
    parts += [f": {shape} alignment; ", e_adx, f" shows {force} trend."]
    return score, tuple(parts)


def _momentum(view: TimeframeView, tf: str, rsi_period: int) -> _Found:
    rsi, hist, signal, atr = (
        view.value("rsi"),
        view.value("macd_hist"),
        view.value("macd_signal"),
        view.value("atr"),
    )
    if not _finite(rsi, hist, atr) or atr <= 0:
        return None
    e_rsi = evidence(f"rsi@{tf}", f"RSI({rsi_period}) {tf}", rsi)
    parts: list[str | Evidence] = [f"Momentum {tf}: ", e_rsi]
    if rsi < RSI_OVERSOLD:
        rsi_score = clip((RSI_OVERSOLD - rsi) / 15.0)
        parts += [" < ", evidence("rsi_oversold", "oversold level", RSI_OVERSOLD), ": oversold"]
    elif rsi > RSI_OVERBOUGHT:
        rsi_score = -clip((rsi - RSI_OVERBOUGHT) / 15.0)
        parts += [
            " > ",
            evidence("rsi_overbought", "overbought level", RSI_OVERBOUGHT),
            ": overbought",
        ]
    else:
        rsi_score = (rsi - 50.0) / 40.0
        parts += [": " + ("buyers lead" if rsi >= 50 else "sellers lead")]
    macd_score = clip(hist / (0.25 * atr))
    parts += [
        "; ",
        evidence(f"macd_hist@{tf}", f"MACD histogram {tf}", hist),
        " against ",
        evidence(f"macd_signal@{tf}", f"MACD signal {tf}", signal),
        ": " + ("rising momentum." if hist > 0 else "falling momentum."),
    ]
    return 0.5 * rsi_score + 0.5 * macd_score, tuple(parts)


def _volatility(view: TimeframeView, tf: str, atr_period: int, bb_period: int) -> _Found:
    close, atr = view.close, view.value("atr")
    upper, lower = view.value("bb_upper"), view.value("bb_lower")
    middle = view.value("bb_middle")
    if not _finite(atr, upper, lower, middle) or close <= 0 or middle <= 0:
        return None
    e_atr = evidence(f"atr_pct@{tf}", f"ATR({atr_period}) {tf} as % of price", 100 * atr / close)
    e_width = evidence(
        f"bb_width_pct@{tf}", f"Bollinger({bb_period}) width {tf} %", 100 * (upper - lower) / middle
    )
    e_close = evidence(f"close@{tf}", f"close {tf}", close)
    parts: list[str | Evidence] = [f"Volatility {tf}: ", e_atr, ", ", e_width]
    if close > upper:
        score = -0.5
        band = evidence(f"bb_upper@{tf}", f"upper band {tf}", upper)
        parts += ["; ", e_close, " above ", band, ": stretched, a pull-back is likely."]
    elif close < lower:
        score = 0.5
        band = evidence(f"bb_lower@{tf}", f"lower band {tf}", lower)
        parts += ["; ", e_close, " below ", band, ": stretched, a rebound is likely."]
    else:
        score = 0.0
        parts += ["; the close is inside the bands."]
    return score, tuple(parts)


def _volume(view: TimeframeView, tf: str) -> _Found:
    if view.index < OBV_LOOKBACK:
        return None
    obv_now, obv_then = view.value("obv"), view.value("obv", OBV_LOOKBACK)
    zscore = view.value("volume_zscore")
    traded = float(np.sum(view.window("volume", OBV_LOOKBACK)))
    if not _finite(obv_now, obv_then, zscore) or traded <= 0:
        return None
    slope = (obv_now - obv_then) / traded
    e_slope = evidence(f"obv_slope@{tf}", f"OBV slope ({OBV_LOOKBACK} candles) {tf}", slope)
    e_z = evidence(f"volume_z@{tf}", f"volume z-score {tf}", zscore)
    candle_direction = float(np.sign(view.close - float(view.series.open[view.index])))
    unusual = zscore > VOLUME_Z_UNUSUAL
    score = 0.6 * clip(slope) + (0.4 * candle_direction * clip(zscore / 3.0) if unusual else 0.0)
    flow = "accumulation" if slope > 0 else "distribution"
    tail = (
        f": unusual volume on a {'rising' if candle_direction > 0 else 'falling'} candle."
        if unusual and candle_direction != 0
        else ": ordinary volume."
    )
    return score, (f"Volume {tf}: ", e_slope, f" ({flow}); ", e_z, tail)


def swing_levels(view: TimeframeView) -> tuple[float, float]:
    """Nearest confirmed swing-low support below and swing-high resistance above the close.

    A swing point needs ``SWING_WING`` candles on its right, so only candles up to the view's
    index are used and the newest ``SWING_WING`` cannot yet be swing points. NaN when none.
    """
    highs = view.window("high", SWING_LOOKBACK)
    lows = view.window("low", SWING_LOOKBACK)
    wing = SWING_WING
    if len(highs) < 2 * wing + 1:
        return math.nan, math.nan
    # Rolling max/min over each centre's 2*wing+1 neighbours, as 2*wing+1 shifted slices:
    # a few small vector operations, much cheaper than a strided window view at this size.
    inner = len(highs) - 2 * wing
    centre_high, centre_low = highs[wing : wing + inner], lows[wing : wing + inner]
    neighbours_high = centre_high.copy()
    neighbours_low = centre_low.copy()
    for shift in range(2 * wing + 1):
        np.maximum(neighbours_high, highs[shift : shift + inner], out=neighbours_high)
        np.minimum(neighbours_low, lows[shift : shift + inner], out=neighbours_low)
    swing_highs = centre_high[centre_high >= neighbours_high]
    swing_lows = centre_low[centre_low <= neighbours_low]
    close = view.close
    above = swing_highs[swing_highs > close]
    below = swing_lows[swing_lows < close]
    resistance = float(above.min()) if len(above) else math.nan
    support = float(below.max()) if len(below) else math.nan
    return support, resistance


def _levels(view: TimeframeView, tf: str) -> _Found:
    atr = view.value("atr")
    if not _finite(atr) or atr <= 0:
        return None
    support, resistance = swing_levels(view)
    if not _finite(support) and not _finite(resistance):
        return None
    close = view.close
    parts: list[str | Evidence] = [f"Levels {tf}: "]
    score = 0.0
    if _finite(support):
        distance = (close - support) / atr
        parts += [
            evidence(f"support@{tf}", f"support {tf}", support),
            " (",
            evidence(f"support_atr@{tf}", "distance in ATRs", distance),
            ")",
        ]
        if distance <= LEVEL_NEAR_ATR:
            score += 0.5
            parts += [": near support"]
    if _finite(resistance):
        distance = (resistance - close) / atr
        parts += [
            "; " if _finite(support) else "",
            evidence(f"resistance@{tf}", f"resistance {tf}", resistance),
            " (",
            evidence(f"resistance_atr@{tf}", "distance in ATRs", distance),
            ")",
        ]
        if distance <= LEVEL_NEAR_ATR:
            score -= 0.5
            parts += [": near resistance"]
    parts.append(".")
    return score, tuple(parts)
