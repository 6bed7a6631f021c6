"""``sma_cross``: the reference strategy to compare SIGMAX's engine with other engines.

Long when SMA(fast) crosses above SMA(slow), flat when it crosses below. The signal is taken at
a candle's close and filled at the next candle's open (the engine's market orders always are);
an entry invests all the cash of its symbol's sleeve (the quantity is worked out at the fill
price, in whole amount steps), an exit sells the whole position. There is no stop-loss or
take-profit.

Sleeves: with N symbols each trades its own sleeve of the capital, as the peers' per-market
backtests do: capital / N (rounded down to the quote precision) plus what its own fills made or
lost, never more than the account's cash. A crossing in one market is then never refused
because the cash sits in another, and each market makes its textbook round trips. With one
symbol the sleeve is the whole account.

The crossings are decided exactly: prices are decimal numbers with at most eight places, so
the window sums are compared as integers (``slow * sum_fast`` against ``fast * sum_slow``), and
a moving average a rounding error away from the other never makes or misses a cross.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from sigmax.agents.base import PortfolioView
from sigmax.agents.batch import BatchAssessment
from sigmax.agents.market_view import MarketSnapshot, SymbolHistory
from sigmax.agents.orchestrator import Assessment, config_digest
from sigmax.backtest.strategy_record import (
    all_in_size,
    strategy_assessment,
    strategy_decision_id,
    strategy_record,
)
from sigmax.config import Settings
from sigmax.data.indicators import sma
from sigmax.domain.candles import CandleSeries, FloatArray, ms_to_iso
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.errors import InputError

#: Prices are scaled to whole units of 1e-8 (the finest decimal place of exchange prices).
PRICE_SCALE = 10**8
MAX_PERIOD = 500

BoolArray = np.ndarray[tuple[int], np.dtype[np.bool_]]


@dataclass(frozen=True, slots=True)
class Crossings:
    """Per candle: SMA(fast) crossed above (``up``) or below (``down``) SMA(slow) at its close."""

    up: BoolArray
    down: BoolArray
    fast: FloatArray
    slow: FloatArray


def crossings(close: FloatArray, fast: int, slow: int) -> Crossings:
    scaled = np.rint(close * PRICE_SCALE).astype(np.int64)
    running = np.concatenate(([0], np.cumsum(scaled)))
    n = len(close)
    sum_fast = np.zeros(n, dtype=np.int64)
    sum_slow = np.zeros(n, dtype=np.int64)
    sum_fast[fast - 1 :] = running[fast:] - running[: n - fast + 1]
    sum_slow[slow - 1 :] = running[slow:] - running[: n - slow + 1]
    defined = np.arange(n) >= slow - 1
    left, right = slow * sum_fast, fast * sum_slow
    above = defined & (left > right)
    below = defined & (left < right)
    known_before = np.concatenate(([False], defined[:-1]))
    up = known_before & above & ~np.concatenate(([False], above[:-1]))
    down = known_before & below & ~np.concatenate(([False], below[:-1]))
    return Crossings(up, down, sma(close, fast), sma(close, slow))


class SmaCrossStrategy:
    """The engine's decision source for ``sma_cross``."""

    protects_entries = False
    spends_cash = True

    def __init__(self, settings: Settings, fast: int, slow: int, sleeves: int = 1) -> None:
        if not 2 <= fast <= MAX_PERIOD:
            raise InputError(f"--fast: must be between 2 and {MAX_PERIOD} (got {fast})")
        if not fast < slow <= MAX_PERIOD:
            raise InputError(
                f"--slow: must be greater than --fast ({fast}) and at most {MAX_PERIOD} "
                f"(got {slow})"
            )
        if sleeves < 1:
            raise InputError(f"sleeves: must be at least 1 (got {sleeves})")
        self.settings = settings
        #: One sleeve of the capital per symbol (see the module docstring).
        self.cash_sleeves = sleeves
        #: The cash of a symbol's sleeve, from the account (bound by the run); without it, a
        #: decision's size is the portfolio's cash.
        self.sleeve_cash: Callable[[str], Decimal] | None = None
        self.fast = fast
        self.slow = slow
        key = f"{config_digest(settings)}|sma_cross|{fast}|{slow}"
        self.digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self._crossings: dict[int, tuple[CandleSeries, Crossings]] = {}

    def history(self, series: CandleSeries) -> SymbolHistory:
        """A history with the primary timeframe only: the strategy reads nothing else."""
        return SymbolHistory(series, higher=())

    def crossings_of(self, series: CandleSeries) -> Crossings:
        cached = self._crossings.get(id(series))
        if cached is None or cached[0] is not series:
            cached = (series, crossings(series.close, self.fast, self.slow))
            self._crossings[id(series)] = cached
        return cached[1]

    def batch(self, series: CandleSeries) -> BatchAssessment:
        """Which candles may act: the crossings (every other candle is a HOLD)."""
        found = self.crossings_of(series)
        score = np.where(found.up, 1.0, np.where(found.down, -1.0, 0.0))
        return BatchAssessment(
            score=score,
            confidence=np.abs(score),
            buy_candidate=found.up,
            sell_candidate=found.down,
        )

    def assess(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> Assessment:
        view = snapshot.primary
        found = self.crossings_of(view.series)
        index = view.index
        held = portfolio.positions_usd.get(snapshot.symbol, 0) > 0
        action = Action.HOLD
        if found.up[index] and not held:
            action = Action.BUY
        elif found.down[index] and held:
            action = Action.SELL
        size = all_in_size(action, snapshot, portfolio, self.sleeve_cash)
        score = 1.0 if found.up[index] else -1.0 if found.down[index] else 0.0
        return strategy_assessment(self.decision_id(snapshot), snapshot, action, score, size)

    def decision_id(self, snapshot: MarketSnapshot) -> str:
        return strategy_decision_id(snapshot, self.settings.profile_name, self.digest)

    async def decide(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> DecisionRecord:
        numbers = self.assess(snapshot, portfolio)
        view = snapshot.primary
        found = self.crossings_of(view.series)
        fast, slow = float(found.fast[view.index]), float(found.slow[view.index])
        verb = {
            Action.BUY: "crossed above: BUY with all the cash at the next open."
            if self.cash_sleeves == 1
            else f"crossed above: BUY with all the cash of its sleeve (1/{self.cash_sleeves}) "
            "at the next open.",
            Action.SELL: "crossed below: SELL the whole position at the next open.",
            Action.HOLD: "did not cross: HOLD.",
        }[numbers.decision]
        text = (
            f"SMA({self.fast}) = {fast:.2f} against SMA({self.slow}) = {slow:.2f} at the close "
            f"{view.close:.2f} of {ms_to_iso(view.open_time_ms)}: the fast average {verb}"
        )
        return strategy_record(
            numbers,
            snapshot,
            profile=self.settings.profile_name,
            digest=self.digest,
            text=text,
            strategy=f"sma_cross({self.fast}, {self.slow})",
            indicators={f"sma_{self.fast}": fast, f"sma_{self.slow}": slow},
        )
