"""What the scanner reports: opportunities, their legs, and a summary.

Money and rates are exact :class:`~decimal.Decimal` values, shown in JSON as decimal text (the
project's convention for money); percentages are kept to six decimals (a ten-thousandth of a
basis point), rounded towards zero so a reported edge is never larger than the computed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from sigmax.domain.candles import ms_to_iso

OpportunityKind = Literal["cross_exchange", "cycle"]
LegSide = Literal["buy", "sell"]

PCT_QUANTUM = Decimal("0.000001")
USD_QUANTUM = Decimal("0.01")
#: Currencies counted as US dollars when sizing in USD (the project's convention: USDT is USD).
USD_LIKE: frozenset[str] = frozenset({"USD", "USDT", "USDC"})


def pct(value: Decimal) -> str:
    """A percentage as decimal text, six decimals, rounded towards zero."""
    return str(value.quantize(PCT_QUANTUM, rounding=ROUND_DOWN))


def usd(value: Decimal) -> str:
    """A USD amount as decimal text, to the cent, rounded towards zero."""
    return str(value.quantize(USD_QUANTUM, rounding=ROUND_DOWN))


@dataclass(frozen=True, slots=True)
class Leg:
    """One trade of an opportunity: ``side`` the base of ``market`` on ``exchange``."""

    exchange: str
    market: str
    side: LegSide
    #: The price the leg is quoted at (best level, or the candle's quote).
    price: Decimal
    #: The taker fee rate charged on the leg (fraction of notional).
    fee: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "exchange": self.exchange,
            "market": self.market,
            "side": self.side,
            "price": str(self.price),
            "fee": str(self.fee),
        }


@dataclass(frozen=True, slots=True)
class Opportunity:
    """An edge that was there from ``start_ms`` to ``end_ms`` (end exclusive).

    ``gross_pct`` is the edge before any cost at the best quotes; ``net_pct`` after fees on
    every leg and the transfer cost, at the size actually taken (``min(size, max_size_usd)``, or
    the best level when no size was asked). ``max_size_usd`` is what the books (or, in a
    backtest, the candles' traded volume) could take within the slippage limit while the
    marginal edge stayed at least the minimum profit; ``profit_usd`` is the net profit at the
    size taken.
    """

    kind: OpportunityKind
    legs: tuple[Leg, ...]
    start_ms: int
    end_ms: int
    gross_pct: Decimal
    net_pct: Decimal
    max_size_usd: Decimal
    profit_usd: Decimal
    #: The size the profit was computed at (USD).
    size_usd: Decimal

    @property
    def duration_s(self) -> Decimal:
        return Decimal(self.end_ms - self.start_ms) / 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "legs": [leg.to_dict() for leg in self.legs],
            "start": ms_to_iso(self.start_ms),
            "end": ms_to_iso(self.end_ms),
            "duration_s": float(self.duration_s),
            "gross_pct": pct(self.gross_pct),
            "net_pct": pct(self.net_pct),
            "max_size_usd": usd(self.max_size_usd),
            "profit_usd": usd(self.profit_usd),
            "size_usd": usd(self.size_usd),
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """How many opportunities, their total net profit at the size, and how often per day."""

    count: int
    total_profit_usd: Decimal
    per_day: Decimal
    days: Decimal
    size_usd: Decimal

    @classmethod
    def of(cls, opportunities: Sequence[Opportunity], days: Decimal, size_usd: Decimal) -> Summary:
        total = sum((o.profit_usd for o in opportunities), Decimal(0))
        per_day = Decimal(len(opportunities)) / days if days > 0 else Decimal(0)
        return cls(len(opportunities), total, per_day, days, size_usd)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "total_profit_usd": usd(self.total_profit_usd),
            "per_day": str(self.per_day.quantize(Decimal("0.01"), rounding=ROUND_DOWN)),
            "days": str(self.days.quantize(Decimal("0.0001"), rounding=ROUND_DOWN)),
            "size_usd": usd(self.size_usd),
        }
