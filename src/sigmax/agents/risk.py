"""The risk agent: how much to buy, where to stop, and when to refuse.

Size comes from volatility: the trade risks ``risk_per_trade`` of equity between entry and a
stop ``stop_atr_multiple`` ATRs below it, so ``size = equity * risk_per_trade / stop_distance *
price``. The size is then capped by the profile's max position (USD), max position as a percent
of equity, the room left under max exposure, and the cash available. The agent vetoes a buy when
the symbol is not allowed, when the maximum number of positions is open, when ATR is not known
yet, or when nothing is left after the caps. Its score is its stance on taking risk now: 0 when
it accepts, -1 when it vetoes; it does not vote with the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from sigmax.agents.base import AnalysisContext, evidence
from sigmax.domain.decisions import AgentReport, Claim

CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class RiskNumbers:
    """The risk agent's sizing, or why it vetoes (``veto`` set, nothing else meaningful)."""

    veto: str | None
    held: Decimal
    atr: float
    size: Decimal = Decimal("0.00")
    stop_loss: float = math.nan
    take_profit: float = math.nan
    risk_usd: float = math.nan
    uncapped: float = math.nan
    binding: str = ""
    cap: float = math.nan


def measure(context: AnalysisContext) -> RiskNumbers:
    """Size, stop and target for a buy now, or the veto."""
    profile = context.profile
    snapshot = context.snapshot
    price = snapshot.price
    atr = snapshot.primary.value("atr")
    portfolio = context.portfolio
    held = portfolio.positions_usd.get(snapshot.symbol, Decimal(0))
    veto = _veto_reason(context, atr, held)
    if veto is not None:
        return RiskNumbers(veto, held, atr)
    stop_distance = profile.stop_atr_multiple * atr
    risk_usd = float(portfolio.equity_usd) * profile.risk_per_trade
    uncapped = risk_usd / stop_distance * price
    caps = {
        "max position": float(profile.max_position_size),
        "max % of equity": float(portfolio.equity_usd) * profile.max_position_pct_of_equity / 100.0,
        "exposure room": float(profile.max_exposure - portfolio.exposure_usd),
        "cash": float(portfolio.cash_usd),
    }
    binding = min(caps, key=lambda k: caps[k])
    size = Decimal(str(max(0.0, min(uncapped, caps[binding])))).quantize(CENT, ROUND_DOWN)
    numbers = RiskNumbers(
        None,
        held,
        atr,
        size=size,
        stop_loss=price - stop_distance,
        take_profit=price + profile.take_profit_atr_multiple * atr,
        risk_usd=risk_usd,
        uncapped=uncapped,
        binding=binding,
        cap=caps[binding],
    )
    if size <= 0:
        return replace(numbers, veto=f"no room left: the {binding} limit is reached")
    return numbers


class RiskAgent:
    """Position sizing, stop-loss and take-profit, limits and veto."""

    name = "risk"

    async def analyze(self, context: AnalysisContext) -> AgentReport:
        numbers = measure(context)
        if numbers.veto is not None and math.isnan(numbers.stop_loss):
            return _veto(numbers.veto, numbers.held)  # vetoed before sizing: nothing to explain
        tf = context.snapshot.primary.timeframe.value
        e_atr = evidence(
            f"atr@{tf}", f"ATR({context.agents.analyzer.indicators.atr_period}) {tf}", numbers.atr
        )
        e_stop = evidence("stop_loss", "stop-loss", numbers.stop_loss)
        e_tp = evidence("take_profit", "take-profit", numbers.take_profit)
        e_risk = evidence("risk_usd", "risk per trade USD", numbers.risk_usd)
        e_uncapped = evidence("size_uncapped_usd", "volatility size USD", numbers.uncapped)
        e_cap = evidence("size_cap_usd", f"{numbers.binding} cap USD", numbers.cap)
        e_size = evidence("size_usd", "size USD", float(numbers.size))
        claims = [
            Claim(("Stops from volatility: ", e_atr, " gives ", e_stop, " and ", e_tp, ".")),
            Claim(
                (
                    "Sizing: ",
                    e_risk,
                    " over the stop distance gives ",
                    e_uncapped,
                    "; ",
                    e_cap,
                    " applies, so ",
                    e_size,
                    ".",
                )
            ),
        ]
        if numbers.veto is not None:
            return _veto(numbers.veto, numbers.held, claims)
        return AgentReport.from_claims(
            self.name,
            0.0,
            1.0,
            claims,
            details={
                "size_usd": str(numbers.size),
                "stop_loss": numbers.stop_loss,
                "take_profit": numbers.take_profit,
                "binding_limit": numbers.binding,
                "position_usd": str(numbers.held),
                "veto": None,
            },
        )


def _veto_reason(context: AnalysisContext, atr: float, held: Decimal) -> str | None:
    profile = context.profile
    symbol = context.snapshot.symbol
    if symbol not in profile.allowed_symbols:
        return f"{symbol} is not in the {context.profile_name} profile's allowed symbols"
    open_positions = sum(1 for v in context.portfolio.positions_usd.values() if v > 0)
    if held <= 0 and open_positions >= profile.max_open_positions:
        return (
            f"{open_positions} positions are open, the {context.profile_name} profile "
            f"allows {profile.max_open_positions}"
        )
    if not math.isfinite(atr) or atr <= 0:
        return "ATR is not known yet (too little history), so no stop can be placed"
    return None


def _veto(reason: str, held: Decimal, claims: list[Claim] | None = None) -> AgentReport:
    text = Claim((f"Veto: {reason}.",))
    return AgentReport.from_claims(
        "risk",
        -1.0,
        1.0,
        [*(claims or []), text],
        status="veto",
        details={
            "size_usd": "0.00",
            "stop_loss": None,
            "take_profit": None,
            "binding_limit": None,
            "position_usd": str(held),
            "veto": reason,
        },
    )
