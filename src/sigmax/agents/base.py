"""What every agent receives, and the helpers agents share."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from sigmax.agents.market_view import MarketSnapshot
from sigmax.config.settings import AgentsSettings, ProfileSettings
from sigmax.domain.decisions import AgentReport, Evidence

#: The agents in the order they are introduced at start-up and listed in a record.
AGENT_NAMES = ("researcher", "bull", "bear", "analyzer", "risk", "privacy", "optimizer")


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """What the risk agent needs to know of the account: equity, cash and open exposure (USD)."""

    equity_usd: Decimal
    cash_usd: Decimal
    positions_usd: Mapping[str, Decimal] = field(default_factory=dict)

    @classmethod
    def starting(cls, capital: Decimal) -> PortfolioView:
        """A fresh paper account holding only cash."""
        return cls(equity_usd=capital, cash_usd=capital)

    @property
    def exposure_usd(self) -> Decimal:
        return sum(self.positions_usd.values(), Decimal(0))


@dataclass(frozen=True, slots=True)
class AnalysisContext:
    """Everything an agent may use for one decision."""

    snapshot: MarketSnapshot
    profile_name: str
    profile: ProfileSettings
    agents: AgentsSettings
    portfolio: PortfolioView


def clip(value: float, low: float = -1.0, high: float = 1.0) -> float:
    """``value`` limited to [low, high]; NaN counts as no signal (0)."""
    if math.isnan(value):
        return 0.0
    return max(low, min(high, value))


def evidence(key: str, label: str, value: float) -> Evidence:
    return Evidence(key=key, label=label, value=float(value))


async def timed(work: Callable[[], Awaitable[AgentReport]]) -> AgentReport:
    """Run an agent and stamp its report with how long it took."""
    started = time.perf_counter()
    report = await work()
    return replace(report, latency_ms=(time.perf_counter() - started) * 1000.0)
