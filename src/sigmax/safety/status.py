"""What the safety enforcer reports: :class:`SafetyStatus` and its JSON-ready form.

The CLI, the REST API and Telegram all show this one object, so ``to_dict()`` renders times as
ISO 8601 UTC (with the epoch ms alongside) and Decimals as plain decimal strings, never floats
nor exponents. Every hold's time says which clock it counts in (``market`` or ``wall``, see
:mod:`sigmax.safety.state`); each trigger carries its value and threshold also as text to show
(``shown_value``, ``shown_threshold``: ``0.00``, ``2.51 %``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeAlias

from sigmax.safety.state import Hold, JsonValue, Violation
from sigmax.safety.triggers import iso_ms

UntilClock: TypeAlias = Literal["market", "wall", "mixed"]
"""The clock of an overall ``until``: a hold's clock, or ``mixed`` when the timed holds count
in both (their times do not compare, so there is no single ``until``)."""

Figure = Decimal | int | float | str | None
"""A trigger's value or threshold: money and percentages are Decimal, counts int, sentiment
float, the privacy screen a description."""


def _figure(value: Figure) -> JsonValue:
    # Fixed-point text: the exact value, and never ``0E-8``.
    return f"{value:f}" if isinstance(value, Decimal) else value


def _time(at_ms: int | None) -> str | None:
    return None if at_ms is None else iso_ms(at_ms)


@dataclass(frozen=True, slots=True)
class TriggerStatus:
    """One trigger: what it watches now, its threshold, whether it is enabled and holds a pause."""

    name: str
    enabled: bool
    value: Figure
    threshold: Figure
    fired: bool
    """True while this trigger holds trading paused."""
    detail: str
    """The value and threshold in words, e.g. ``2 losing trades in a row (limit 3)``."""
    shown_value: str
    """``value`` as a person reads it (``0.00``, ``2.51 %``; ``-`` before any reading)."""
    shown_threshold: str

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "name": self.name,
            "enabled": self.enabled,
            "value": _figure(self.value),
            "threshold": _figure(self.threshold),
            "shown_value": self.shown_value,
            "shown_threshold": self.shown_threshold,
            "fired": self.fired,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class CooldownStatus:
    """A symbol that may not be entered before ``until_ms`` (after a stop-loss exit)."""

    symbol: str
    until_ms: int

    def to_dict(self) -> dict[str, JsonValue]:
        return {"symbol": self.symbol, "until": iso_ms(self.until_ms), "until_ms": self.until_ms}


@dataclass(frozen=True, slots=True)
class DrawdownStatus:
    """Equity against its running peak; ``value_pct`` is ``None`` before any equity was seen."""

    value_pct: Decimal | None
    threshold_pct: Decimal
    equity: Decimal | None
    equity_peak: Decimal | None
    fired: bool

    def to_dict(self) -> dict[str, JsonValue]:
        return {
            "value_pct": _figure(self.value_pct),
            "threshold_pct": _figure(self.threshold_pct),
            "equity": _figure(self.equity),
            "equity_peak": _figure(self.equity_peak),
            "fired": self.fired,
        }


@dataclass(frozen=True, slots=True)
class SafetyStatus:
    """The enforcer at one moment.

    ``reason`` joins the reasons of every hold (newest first); ``trigger`` is the hold that will
    last longest; ``until`` is when the last timed hold lifts, in ``until_clock``; ``None`` when
    any hold lasts until a resume (or when not paused; ``until_clock`` is then ``None``), or when
    the timed holds count in different clocks (``until_clock`` ``mixed``: each hold shows its
    own). ``at_ms`` is market time.
    """

    at_ms: int
    paused: bool
    reason: str | None
    trigger: str | None
    until: int | None
    until_clock: UntilClock | None
    holds: tuple[Hold, ...]
    triggers: tuple[TriggerStatus, ...]
    cooldowns: tuple[CooldownStatus, ...]
    drawdown: DrawdownStatus
    violations: tuple[Violation, ...]
    """The last (at most 20) violations, newest first."""

    def to_dict(self) -> dict[str, JsonValue]:
        """JSON-ready: ISO times with the epoch ms alongside, Decimals as strings."""
        return {
            "at": iso_ms(self.at_ms),
            "at_ms": self.at_ms,
            "paused": self.paused,
            "reason": self.reason,
            "trigger": self.trigger,
            "until": _time(self.until),
            "until_ms": self.until,
            "until_clock": self.until_clock,
            "holds": [
                {
                    "trigger": hold.trigger,
                    "reason": hold.reason,
                    "clock": hold.clock,
                    "since": iso_ms(hold.since_ms),
                    "since_ms": hold.since_ms,
                    "until": _time(hold.until_ms),
                    "until_ms": hold.until_ms,
                }
                for hold in self.holds
            ],
            "triggers": [trigger.to_dict() for trigger in self.triggers],
            "protections": {
                "cooldowns": [cooldown.to_dict() for cooldown in self.cooldowns],
                "drawdown": self.drawdown.to_dict(),
            },
            "violations": [
                {
                    "at": iso_ms(violation.at_ms),
                    "at_ms": violation.at_ms,
                    "trigger": violation.trigger,
                    "message": violation.message,
                }
                for violation in self.violations
            ],
        }
