"""Decisions and the evidence behind them.

Every number an agent quotes is an :class:`Evidence` item, and arguments are rendered from
evidence with :func:`format_value`, so a reader (or a test) can check each claim against the
record: the text never holds a number that the record does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sigmax.domain.candles import ms_to_iso


class Action(StrEnum):
    """What the orchestrator decided."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


def format_value(value: float) -> str:
    """How SIGMAX writes a number in an explanation.

    Two decimals for ordinary magnitudes, more for small ones so that a price of 0.0123 or an
    ATR of 0.004 keeps its meaning. ``-0.00`` is written ``0.00``.
    """
    if math.isnan(value):
        return "n/a"
    magnitude = abs(value)
    decimals = 2 if magnitude >= 1 or magnitude == 0 else 4 if magnitude >= 0.01 else 6
    text = f"{value:.{decimals}f}"
    if text[0] == "-" and not text.strip("-0."):
        return text[1:]  # a tiny negative number rounds to -0.00: write 0.00
    return text


@dataclass(frozen=True, slots=True)
class Evidence:
    """One number an agent used: ``key`` is stable (``rsi_14@4h``), ``label`` is for people."""

    key: str
    label: str
    value: float

    @property
    def text(self) -> str:
        return format_value(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "value": _json_float(self.value)}


@dataclass(frozen=True, slots=True)
class Claim:
    """A sentence of an argument, made of text and evidence.

    Evidence renders as ``label = value`` (``RSI(14) 4h = 28.40``), so every number in the text
    sits next to the name of what it measures. ``weight`` is the claim's signed contribution to
    the agent's score (+ bullish, - bearish).
    """

    parts: tuple[str | Evidence, ...]
    weight: float = 0.0
    #: The rendered sentence, computed once: a claim is quoted in several places of a record.
    text: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.text:
            rendered = "".join(
                p if isinstance(p, str) else f"{p.label} = {p.text}" for p in self.parts
            )
            object.__setattr__(self, "text", rendered)

    def render(self) -> str:
        return self.text

    def reweighted(self, weight: float) -> Claim:
        """The same sentence with another weight (no re-rendering)."""
        return Claim(self.parts, weight, self.text)

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        return tuple(p for p in self.parts if isinstance(p, Evidence))


@dataclass(frozen=True, slots=True)
class AgentReport:
    """What one agent concluded and why.

    ``status`` is ``ok``, ``unavailable`` (a source it needs is not configured or failed: its
    score then does not count) or ``veto`` (the risk agent refuses the trade). ``claims`` are
    the signed points the agent made; ``argument`` is their rendered text.
    """

    name: str
    score: float
    confidence: float
    argument: str
    evidence: tuple[Evidence, ...]
    claims: tuple[Claim, ...] = ()
    latency_ms: float = 0.0
    status: str = "ok"
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_claims(
        cls,
        name: str,
        score: float,
        confidence: float,
        claims: Sequence[Claim],
        *,
        status: str = "ok",
        details: Mapping[str, Any] | None = None,
    ) -> AgentReport:
        """A report whose argument is its claims rendered in order."""
        seen: dict[str, Evidence] = {}
        for claim in claims:
            for item in claim.evidence:
                seen.setdefault(item.key, item)
        return cls(
            name=name,
            score=score,
            confidence=confidence,
            argument=" ".join(claim.render() for claim in claims),
            evidence=tuple(seen.values()),
            claims=tuple(claims),
            status=status,
            details=dict(details or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "score": round(self.score, 6),
            "confidence": round(self.confidence, 6),
            "argument": self.argument,
            "evidence": [e.to_dict() for e in self.evidence],
            "details": dict(self.details),
            "latency_ms": round(self.latency_ms, 4),
        }


@dataclass(frozen=True, slots=True)
class DebateRound:
    """One round of the debate: each side answers the other's strongest point."""

    number: int
    bull: str
    bear: str
    evidence: tuple[Evidence, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.number,
            "bull": self.bull,
            "bear": self.bear,
            "evidence": [e.to_dict() for e in self.evidence],
        }


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """The whole explanation of one decision, persisted before anything acts on it."""

    id: str
    symbol: str
    timeframe: str
    profile: str
    timestamp_ms: int
    data_until_ms: int
    decision: Action
    confidence: float
    size_usd: float
    stop_loss: float | None
    take_profit: float | None
    price: float
    score: float
    reasoning: Mapping[str, str]
    agents: Sequence[AgentReport]
    debate: Sequence[DebateRound]
    indicators: Mapping[str, float]
    inputs: Mapping[str, Any]
    config_digest: str
    latency_ms: float = 0.0
    #: The gate's answer for the order this decision caused: ``allowed``, ``reason`` (why it
    #: was not sent: paused, cooling down, a broken policy rule) and the policy ``verdict``.
    compliance: Mapping[str, Any] | None = None
    #: ``run``: made by a run's engine; ``ad_hoc``: an analysis an operator asked for, which
    #: acts on nothing (``sigmax analyze``, ``POST /api/analyze``).
    source: str = "run"
    #: The allocation step's part (``docs/PORTFOLIO.md``): method, weights, objective, solver
    #: time, and the size the risk agent proposed; None when the step did not run.
    allocation: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data (the shape of ``--json`` and the API)."""
        document: dict[str, Any] = {
            "id": self.id,
            "symbol": self.symbol,
            "timestamp": ms_to_iso(self.timestamp_ms),
            "data_until": ms_to_iso(self.data_until_ms),
            "timeframe": self.timeframe,
            "profile": self.profile,
            "decision": self.decision.value,
            "confidence": round(self.confidence, 6),
            "size_usd": round(self.size_usd, 2),
            "stop_loss": _json_float(self.stop_loss),
            "take_profit": _json_float(self.take_profit),
            "price": _json_float(self.price),
            "score": round(self.score, 6),
            "reasoning": dict(self.reasoning),
            "agents": [a.to_dict() for a in self.agents],
            "debate": [r.to_dict() for r in self.debate],
            "indicators": {k: _json_float(v) for k, v in self.indicators.items()},
            "inputs": dict(self.inputs),
            "config_digest": self.config_digest,
            "latency_ms": round(self.latency_ms, 4),
            "compliance": None if self.compliance is None else dict(self.compliance),
            "source": self.source,
        }
        if self.allocation is not None:
            # Only a decision the allocation step sized says so: every other record's document
            # is what it was.
            document["allocation"] = dict(self.allocation)
        return document


def _json_float(value: float | None) -> float | None:
    """JSON has no NaN: an indicator still warming up is reported as null."""
    if value is None or math.isnan(value):
        return None
    return float(value)
