"""``sigmax backtest --safety off``: a run without the auto-pause triggers and protections.

Comparing SIGMAX's engine with another engine (or with a textbook computation) needs the same
trades, and the safety enforcer would pause them: a $10 daily-loss limit stops a $10,000
account most days. With the switch off, the enforcer hears nothing it could pause on: no loss
streak, daily loss, drawdown, slippage, sentiment, API error or privacy finding, and no
stop-loss cooldown. Its clock still moves, and the compliance policies still check every order
(they sit behind it in the :class:`~sigmax.engine.gate.OrderGate`). Only backtests offer this;
paper and live runs always run with the enforcer on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from sigmax.config import Settings
from sigmax.engine.gate import OrderGate
from sigmax.errors import InputError
from sigmax.safety.enforcer import ExitReason, Firing, SafetyEnforcer
from sigmax.safety.policy import policy_engine_from_settings
from sigmax.safety.policy_input import PolicyLimits

SafetySwitch = Literal["on", "off"]
SAFETY_SWITCHES: tuple[SafetySwitch, ...] = ("on", "off")
SAFETY_OFF_NOTICE = (
    "safety off: the six auto-pause triggers and the protections (max drawdown, stop-loss "
    "cooldown) are off for this backtest; compliance policies still check every order"
)


def parse_safety_switch(text: str) -> SafetySwitch:
    """``on`` or ``off``.

    Raises:
        InputError: anything else, naming the option.
    """
    value = text.strip().lower()
    if value == "on":
        return "on"
    if value == "off":
        return "off"
    raise InputError(f"--safety: must be on or off (got {text!r})")


class SafetyOff(SafetyEnforcer):
    """An enforcer whose triggers and protections never fire; pause, resume and panic remain."""

    def record_closed_trade(
        self, symbol: str, realized_pnl: Decimal, at_ms: int, exit_reason: ExitReason
    ) -> list[Firing]:
        self.tick(at_ms)
        return []

    def observe_account(self, equity: Decimal, day_pnl: Decimal, at_ms: int) -> list[Firing]:
        self.tick(at_ms)
        return []

    def record_api_error(self, at_ms: int, source: str, message: str) -> list[Firing]:
        self.tick(at_ms)
        return []

    def record_fill(
        self, symbol: str, expected_price: Decimal, fill_price: Decimal, at_ms: int
    ) -> list[Firing]:
        self.tick(at_ms)
        return []

    def observe_sentiment(self, value: float | None, at_ms: int) -> list[Firing]:
        self.tick(at_ms)
        return []

    def record_privacy_violation(self, kind: str, where: str, at_ms: int) -> list[Firing]:
        self.tick(at_ms)
        return []


def backtest_gate(settings: Settings, switch: SafetySwitch) -> OrderGate:
    """The order gate of a backtest: the configured enforcer, or one with the switch off."""
    if switch == "on":
        return OrderGate.from_settings(settings)
    return OrderGate(
        SafetyOff(settings.safety),
        policy_engine_from_settings(settings),
        PolicyLimits.from_settings(settings),
    )


__all__ = [
    "SAFETY_OFF_NOTICE",
    "SAFETY_SWITCHES",
    "SafetyOff",
    "SafetySwitch",
    "backtest_gate",
    "parse_safety_switch",
]
