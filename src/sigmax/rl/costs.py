"""The paper venue's trading costs in float arithmetic, for the training environment.

The environment takes hundreds of thousands of steps, so it cannot price each one in exact
decimals as :mod:`sigmax.execution.fill_model` does. :class:`TradeCosts` is built *from* the
venue's own :class:`FeeSchedule` and :class:`SlippageModel` (never from numbers of its own) and
applies the same formulas: a market order fills at the next candle's open moved against the
trader by ``half_spread_bps / 10 000 + impact_coefficient * qty / candle_volume`` (capped at
``max_slippage_bps``), pays the taker fee on its notional, and does not fill on a candle that
traded nothing. A test prices trades both ways and finds them equal to float precision (the
venue also rounds to the tick, a fraction of a basis point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sigmax.execution.fill_model import FeeSchedule, SlippageModel

_BPS = 10_000.0


@dataclass(frozen=True, slots=True)
class TradeCosts:
    """A taker's fee rate and slippage, as floats taken from the venue's models."""

    taker_fee: float
    half_spread: float
    impact_coefficient: float
    #: The cap on the slippage fraction (``inf``: none).
    max_slippage: float

    @classmethod
    def from_venue(cls, fees: FeeSchedule, slippage: SlippageModel) -> TradeCosts:
        cap = slippage.max_slippage_bps
        return cls(
            taker_fee=float(fees.taker),
            half_spread=float(slippage.half_spread_bps) / _BPS,
            impact_coefficient=float(slippage.impact_coefficient),
            max_slippage=math.inf if cap is None else float(cap) / _BPS,
        )

    def slippage(self, qty: float, volume: float) -> float:
        """The adverse fraction of a market order of ``qty`` on a candle of ``volume`` (> 0)."""
        fraction = self.half_spread + self.impact_coefficient * qty / volume
        return fraction if fraction < self.max_slippage else self.max_slippage

    def buy_price(self, open_: float, qty: float, volume: float) -> float:
        return open_ * (1.0 + self.slippage(qty, volume))

    def sell_price(self, open_: float, qty: float, volume: float) -> float:
        return open_ * (1.0 - self.slippage(qty, volume))

    def to_dict(self) -> dict[str, float | None]:
        return {
            "taker_fee": self.taker_fee,
            "half_spread": self.half_spread,
            "impact_coefficient": self.impact_coefficient,
            "max_slippage": None if math.isinf(self.max_slippage) else self.max_slippage,
        }
