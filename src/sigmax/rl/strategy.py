"""The policy alone as the engine's decision source, to judge it with the backtest's metrics.

Long when the policy's action is long (a fraction policy: a target of one half or more, the
nearer of flat and all in), flat otherwise: a BUY invests its symbol's sleeve of the cash
(capital / number of symbols, as ``sma_cross``), a SELL exits the whole position,
filled at the next open by the paper venue with its fees and slippage, as the training
environment assumed. There is no stop-loss or take-profit: the policy exits on its own signal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from sigmax.agents.base import PortfolioView
from sigmax.agents.batch import BatchAssessment
from sigmax.agents.market_view import MarketSnapshot, SymbolHistory
from sigmax.agents.orchestrator import Assessment, build_history, config_digest
from sigmax.backtest.strategy_record import (
    all_in_size,
    strategy_assessment,
    strategy_decision_id,
    strategy_record,
)
from sigmax.config import Settings
from sigmax.domain.candles import CandleSeries, ms_to_iso
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.rl.features import observations
from sigmax.rl.policy import PolicyNetwork, PolicyOutput


class PolicyStrategy:
    """The engine's decision source for a trained policy."""

    protects_entries = False
    spends_cash = True

    def __init__(
        self, settings: Settings, network: PolicyNetwork, model: str, sleeves: int = 1
    ) -> None:
        self.settings = settings
        self.network = network
        self.model = model
        self.cash_sleeves = sleeves
        self.sleeve_cash: Callable[[str], Decimal] | None = None
        key = f"{config_digest(settings)}|rl|{model}"
        self.digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self._outputs: dict[int, tuple[CandleSeries, PolicyOutput]] = {}
        self._histories: dict[int, tuple[CandleSeries, SymbolHistory]] = {}

    def history(self, series: CandleSeries) -> SymbolHistory:
        history = build_history(series, self.settings)
        self._histories[id(series)] = (series, history)
        return history

    def batch(self, series: CandleSeries) -> BatchAssessment:
        """Long candles may buy, flat candles may sell (the account decides which acts)."""
        cached = self._histories.get(id(series))
        history = cached[1] if cached is not None and cached[0] is series else self.history(series)
        return self.batch_of(history)

    def describe(self) -> dict[str, Any]:
        return {"kind": "rl_policy", "model": self.model, "sha256": self.network.sha256()}

    def output_of(self, history: SymbolHistory) -> PolicyOutput:
        series = history.series
        cached = self._outputs.get(id(series))
        if cached is None or cached[0] is not series:
            cached = (series, self.network.forward(observations(history)))
            self._outputs[id(series)] = cached
        return cached[1]

    def batch_of(self, history: SymbolHistory) -> BatchAssessment:
        output = self.output_of(history)
        long = output.all_in
        score = output.score
        return BatchAssessment(
            score=score, confidence=np.abs(score), buy_candidate=long, sell_candidate=~long
        )

    def assess(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> Assessment:
        view = snapshot.primary
        output = self._output_at(snapshot)
        long = bool(output.all_in[view.index])
        held = portfolio.positions_usd.get(snapshot.symbol, 0) > 0
        action = (
            Action.BUY if long and not held else Action.SELL if held and not long else Action.HOLD
        )
        size = all_in_size(action, snapshot, portfolio, self.sleeve_cash)
        score = float(output.score[view.index])
        return strategy_assessment(self.decision_id(snapshot), snapshot, action, score, size)

    def _output_at(self, snapshot: MarketSnapshot) -> PolicyOutput:
        cached = self._outputs.get(id(snapshot.primary.series))
        if cached is None or cached[0] is not snapshot.primary.series:
            raise RuntimeError(f"{snapshot.symbol}: the policy's history was not prepared")
        return cached[1]

    def decision_id(self, snapshot: MarketSnapshot) -> str:
        return strategy_decision_id(snapshot, self.settings.profile_name, self.digest)

    async def decide(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> DecisionRecord:
        numbers = self.assess(snapshot, portfolio)
        view = snapshot.primary
        output = self._output_at(snapshot)
        p_long = float(output.long_probability[view.index])
        target = float(output.target[view.index])
        wants = (
            f"a target of {target:.2f} of equity and " if self.network.kind == "fraction" else ""
        )
        text = (
            f"The policy (model {self.model}) gives {wants}long a probability of {p_long:.4f} "
            f"at the close {view.close:.2f} of {ms_to_iso(view.open_time_ms)}: "
            f"{numbers.decision.value}."
        )
        return strategy_record(
            numbers,
            snapshot,
            profile=self.settings.profile_name,
            digest=self.digest,
            text=text,
            strategy=f"rl({self.model})",
            indicators={"long_probability": p_long, "target": target},
        )
