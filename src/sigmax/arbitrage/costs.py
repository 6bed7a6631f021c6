"""Every cost an opportunity pays: taker fees per leg, a transfer or rebalancing cost, and the
slippage limit that bounds how deep a book may be walked.

Fees come from the exchange's market data when the scan is live (ccxt's ``taker`` of each
market) and from the configuration (``arbitrage.taker_fees``) or ``--fee EXCHANGE=RATE``
otherwise. An exchange with no known fee is an error naming where to set it: a scanner that
guessed a fee would report edges that are not there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sigmax.errors import InputError

_ONE = Decimal(1)
_HUNDRED = Decimal(100)


class FeeError(InputError):
    """A taker fee is missing or invalid; the message names the exchange and the rule."""


def parse_fee_overrides(items: Iterable[str]) -> dict[str, Decimal]:
    """``["kraken=0.0026", ...]`` as a mapping; each rate a fraction in [0, 0.1)."""
    fees: dict[str, Decimal] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            raise FeeError(f"--fee {item!r}: must be EXCHANGE=RATE, e.g. kraken=0.0026")
        try:
            rate = Decimal(text.strip())
        except InvalidOperation:
            raise FeeError(f"--fee {item!r}: RATE must be a decimal fraction, e.g. 0.001") from None
        _check_rate(f"--fee {name}", rate)
        fees[name] = rate
    return fees


def _check_rate(where: str, rate: Decimal) -> None:
    if not rate.is_finite() or not Decimal(0) <= rate < Decimal("0.1"):
        raise FeeError(f"{where}: a taker fee must be a fraction >= 0 and < 0.1 (got {rate})")


@dataclass(frozen=True, slots=True)
class FeeTable:
    """Taker fee rates: per market when the exchange published them, else per exchange."""

    per_exchange: Mapping[str, Decimal] = field(default_factory=dict)
    #: ``(exchange, "BASE/QUOTE") -> rate`` as the exchange's market data says.
    per_market: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, rate in self.per_exchange.items():
            _check_rate(f"taker fee of {name}", rate)
        for (name, market), rate in self.per_market.items():
            _check_rate(f"taker fee of {name} {market}", rate)

    def taker(self, exchange: str, market: str) -> Decimal:
        rate = self.per_market.get((exchange, market))
        if rate is not None:
            return rate
        rate = self.per_exchange.get(exchange)
        if rate is None:
            raise FeeError(
                f"no taker fee known for {exchange} ({market}): set "
                f"arbitrage.taker_fees.{exchange} in config.yaml or pass --fee {exchange}=RATE"
            )
        return rate

    def with_overrides(self, overrides: Mapping[str, Decimal]) -> FeeTable:
        """This table with ``overrides`` winning over both the exchange and market rates."""
        per_market = {k: v for k, v in self.per_market.items() if k[0] not in overrides}
        return FeeTable({**self.per_exchange, **overrides}, per_market)


@dataclass(frozen=True, slots=True)
class Costs:
    """The costs and limits every edge is judged with.

    ``transfer_pct`` (percent of the traded notional) and ``transfer_usd`` (a fixed amount per
    opportunity) price moving inventory back between venues after a cross-exchange trade;
    ``slippage_limit_pct`` is how far from the best price a leg may walk a book;
    ``min_profit_pct`` is the least net edge that counts.
    """

    fees: FeeTable
    transfer_pct: Decimal = Decimal(0)
    transfer_usd: Decimal = Decimal(0)
    slippage_limit_pct: Decimal = Decimal("0.5")
    min_profit_pct: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for name in ("transfer_pct", "transfer_usd", "slippage_limit_pct"):
            value = getattr(self, name)
            if not value.is_finite() or value < 0:
                raise InputError(f"{name} must be a finite number >= 0 (got {value})")
        if not self.min_profit_pct.is_finite() or self.min_profit_pct <= -100:
            raise InputError(f"min_profit_pct must be > -100 (got {self.min_profit_pct})")
        if self.slippage_limit_pct >= 100:
            raise InputError(f"slippage_limit_pct must be < 100 (got {self.slippage_limit_pct})")

    @property
    def min_profit(self) -> Decimal:
        """The minimum net edge as a fraction."""
        return self.min_profit_pct / _HUNDRED

    @property
    def transfer(self) -> Decimal:
        return self.transfer_pct / _HUNDRED

    def buy_limit(self, best_ask: Decimal) -> Decimal:
        """The highest price a buy may walk to."""
        return best_ask * (_ONE + self.slippage_limit_pct / _HUNDRED)

    def sell_limit(self, best_bid: Decimal) -> Decimal:
        """The lowest price a sell may walk to."""
        return best_bid * (_ONE - self.slippage_limit_pct / _HUNDRED)
