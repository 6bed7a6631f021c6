"""The numbers read from whole arrays equal the ones the live path computes on its last candle,
and the fast assessment equals the explained decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal

import numpy as np
import pytest

from sigmax.agents.base import PortfolioView
from sigmax.agents.orchestrator import Orchestrator, build_history
from sigmax.agents.scoring import LayerScores
from sigmax.config import Settings
from sigmax.domain.candles import CandleSeries

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")


def _same(a: object, b: object) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_array_scores_at_a_candle_equal_scores_computed_on_the_history_cut_there(
    settings: Settings, bundled_series: Callable[[str], CandleSeries], symbol: str
) -> None:
    series = bundled_series(symbol)
    whole = build_history(series, settings)
    # Early candles (warm-up, first swing levels, first baseline) and a spread over the rest.
    sampled = [5, 40, 130, 400, 800, *range(1500, len(series), 4111), len(series) - 1]
    for index in sampled:
        moment = int(series.timestamp[index]) + series.timeframe.ms
        live = build_history(series.until(int(series.timestamp[index])), settings)
        for from_whole, from_live in zip(
            whole.snapshot(moment).views, live.snapshot(moment).views, strict=True
        ):
            assert from_live.index == len(from_live.series) - 1  # the live path's last candle
            for field in fields(LayerScores):
                a = getattr(from_whole.scores, field.name)[from_whole.index]
                b = getattr(from_live.scores, field.name)[from_live.index]
                assert _same(a, b), (symbol, index, from_whole.timeframe, field.name, a, b)


def _portfolios(symbol: str) -> list[PortfolioView]:
    return [
        PortfolioView.starting(Decimal("1000")),
        PortfolioView(Decimal("1003.5"), Decimal("993.5"), {symbol: Decimal("10")}),
        PortfolioView(
            Decimal("990"),
            Decimal("970"),
            {"XRP/USDT": Decimal("10"), "ADA/USDT": Decimal("10")},
        ),
    ]


@pytest.mark.parametrize("symbol", SYMBOLS)
async def test_assessment_equals_the_explained_decision(
    orchestrator: Orchestrator, symbol: str
) -> None:
    history = orchestrator._history(symbol)
    moments = history.decision_moments()
    actions: set[str] = set()
    for moment in moments[30::97]:
        snapshot = history.snapshot(int(moment))
        for portfolio in _portfolios(symbol):
            fast = orchestrator.assess(snapshot, portfolio)
            record = await orchestrator.decide(snapshot, portfolio)
            assert (
                fast.id,
                fast.decision,
                fast.score,
                fast.confidence,
                fast.size_usd,
                fast.stop_loss,
                fast.take_profit,
                fast.price,
                fast.data_until_ms,
            ) == (
                record.id,
                record.decision,
                record.score,
                record.confidence,
                record.size_usd,
                record.stop_loss,
                record.take_profit,
                record.price,
                record.data_until_ms,
            ), (symbol, int(moment))
            actions.add(fast.decision.value)
    # The sample covers buying and selling, not only holding.
    assert {"BUY", "SELL", "HOLD"} <= actions


@pytest.mark.parametrize("profile", ["conservative", "aggressive"])
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_whole_history_assessment_equals_the_per_decision_one(
    bundled_series: Callable[[str], CandleSeries], symbol: str, profile: str
) -> None:
    from sigmax.agents.batch import assess_history
    from sigmax.config import load_settings

    from .conftest import REPO_CONFIG

    settings = load_settings(config_dir=REPO_CONFIG, env={}, profile=profile)
    history = build_history(bundled_series(symbol), settings)
    orchestrator = Orchestrator(settings, lambda _: history)
    batch = assess_history(history, settings)
    moments = history.decision_moments()
    portfolio = PortfolioView.starting(Decimal("1000"))
    sampled = [0, 1, 5, 30, 100, 170, 500, 721, *range(1000, len(moments), 53), len(moments) - 1]
    candidates = 0
    for index in sampled:
        fast = orchestrator.assess(history.snapshot(int(moments[index])), portfolio)
        assert (batch.score[index], batch.confidence[index]) == (fast.score, fast.confidence), (
            symbol,
            index,
        )
        if fast.decision.value != "HOLD":
            assert batch.candidate[index]
        candidates += int(batch.candidate[index])
    # Every candle that is not a candidate is a HOLD whatever the account.
    assert not batch.candidate.all()
    assert candidates > 0
