"""The allocation step: never beyond the profile's limits, never a flipped decision."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigmax.agents.base import PortfolioView
from sigmax.config.settings import AllocationSettings, ProfileSettings, Settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import CandleSeries
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.portfolio.step import AllocationStep, room

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT")
HOUR_MS = 3_600_000


@cache
def series(symbol: str) -> CandleSeries:
    return DatasetCatalog.bundled().load(symbol, "1h").series


def close_at(index: int) -> int:
    return int(series("BTC/USDT").timestamp[index]) + HOUR_MS


def buy(symbol: str, size: float, score: float, confidence: float, at_ms: int) -> DecisionRecord:
    return DecisionRecord(
        id=f"{symbol}|{at_ms}",
        symbol=symbol,
        timeframe="1h",
        profile="custom",
        timestamp_ms=at_ms,
        data_until_ms=at_ms - HOUR_MS,
        decision=Action.BUY,
        confidence=confidence,
        size_usd=size,
        stop_loss=1.0,
        take_profit=2.0,
        price=1.5,
        score=score,
        reasoning={},
        agents=(),
        debate=(),
        indicators={},
        inputs={},
        config_digest="digest",
    )


def step_for(profile: ProfileSettings, min_order_usd: int = 5) -> AllocationStep:
    section = AllocationSettings(enabled=True, min_order_usd=Decimal(min_order_usd))
    chosen = Settings(profile=profile, allocation=section)
    return AllocationStep(chosen, series)


def test_two_buys_wanting_more_than_the_room_share_it_without_exceeding_it() -> None:
    profile = ProfileSettings(
        max_position_size=Decimal(50), max_exposure=Decimal(80), max_open_positions=3
    )
    at = close_at(15_000)
    records = [buy("BTC/USDT", 50.0, 0.6, 0.8, at), buy("SOL/USDT", 50.0, 0.5, 0.7, at)]
    account = PortfolioView(Decimal(1000), Decimal(1000), {})
    sized = step_for(profile).allocate(records, account, at)
    assert [r.symbol for r in sized] == ["BTC/USDT", "SOL/USDT"]
    assert all(r.decision is Action.BUY for r in sized)
    total = sum(Decimal(repr(r.size_usd)) for r in sized)
    assert total <= Decimal(80)
    # The room is worth using: both want more than it, and the optimum spends all of it,
    # SOL (the stronger expected return per unit of risk here) at its cap.
    assert total == Decimal(80)
    assert sized[1].size_usd == 50.0
    part = sized[0].allocation
    assert part is not None
    assert part["method"] == "classical"
    assert part["proposed_size_usd"] == "50.00"
    assert part["room_usd"] == "80"
    assert part["quantum"] == "off"
    assert set(part["weights"]) == {"BTC/USDT", "SOL/USDT"}
    assert part["solver_seconds"] >= 0
    assert sized[0].to_dict()["allocation"] == dict(part)


def test_a_weight_worth_less_than_an_order_is_dropped_and_says_so() -> None:
    # 60 USD of room: BTC's share comes out just under 10 USD, here the least order.
    profile = ProfileSettings(
        max_position_size=Decimal(50), max_exposure=Decimal(60), max_open_positions=3
    )
    at = close_at(15_000)
    records = [buy("BTC/USDT", 50.0, 0.6, 0.8, at), buy("SOL/USDT", 50.0, 0.5, 0.7, at)]
    account = PortfolioView(Decimal(1000), Decimal(1000), {})
    btc, sol = step_for(profile, min_order_usd=10).allocate(records, account, at)
    assert (btc.decision, btc.size_usd) == (Action.BUY, 0.0)
    assert btc.allocation is not None
    assert btc.allocation["dropped_below_min_order"] == ["BTC/USDT"]
    assert btc.allocation["reason"] == (
        "the allocation gives BTC/USDT no weight: its weight is worth less than "
        "allocation.min_order_usd (10 USD)"
    )
    assert sol.size_usd == 50.0


def test_no_position_left_means_no_weight_with_the_reason() -> None:
    profile = ProfileSettings(max_open_positions=1, max_exposure=Decimal(100))
    at = close_at(12_000)
    account = PortfolioView(Decimal(1000), Decimal(990), {"ETH/USDT": Decimal(10)})
    sized = step_for(profile).allocate([buy("BTC/USDT", 10.0, 0.7, 0.9, at)], account, at)
    assert sized[0].decision is Action.BUY
    assert sized[0].size_usd == 0.0
    assert sized[0].allocation is not None
    assert "no room left under the profile's limits" in sized[0].allocation["reason"]


def test_the_step_refuses_anything_but_a_buy() -> None:
    at = close_at(12_000)
    record = buy("BTC/USDT", 10.0, 0.7, 0.9, at)
    sell = replace(record, decision=Action.SELL)
    with pytest.raises(ValueError, match="sizes BUYs only"):
        step_for(ProfileSettings()).allocate([sell], PortfolioView.starting(Decimal(1000)), at)


@st.composite
def situations(draw: st.DrawFn) -> tuple[ProfileSettings, PortfolioView, list[DecisionRecord], int]:
    max_position = Decimal(draw(st.integers(5, 200)))
    profile = ProfileSettings(
        max_position_size=max_position,
        max_exposure=max_position * draw(st.integers(1, 5)),
        max_open_positions=draw(st.integers(1, 4)),
        allowed_symbols=SYMBOLS,
    )
    equity = Decimal(draw(st.integers(100, 20_000)))
    wanting = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True))
    held: dict[str, Decimal] = {}
    for symbol in SYMBOLS:
        if symbol not in wanting and draw(st.booleans()):
            held[symbol] = Decimal(draw(st.integers(1, int(max_position))))
    invested = sum(held.values(), Decimal(0))
    cash = max(Decimal(0), equity - invested) * Decimal(draw(st.integers(0, 100))) / 100
    at = close_at(draw(st.integers(2_000, 21_000)))
    records = [
        buy(
            symbol,
            float(draw(st.integers(0, int(max_position) * 100)) / 100),
            draw(st.floats(0.05, 1.0)),
            draw(st.floats(0.05, 1.0)),
            at,
        )
        for symbol in wanting
    ]
    return profile, PortfolioView(equity, cash.quantize(Decimal("0.01")), held), records, at


@settings(max_examples=40, deadline=None)
@given(situations())
def test_allocation_never_exceeds_the_limits_and_never_flips_a_decision(
    situation: tuple[ProfileSettings, PortfolioView, list[DecisionRecord], int],
) -> None:
    profile, account, records, at = situation
    step = step_for(profile)
    sized = step.allocate(records, account, at)
    usd, slots = room(account, step.settings)
    assert [r.symbol for r in sized] == [r.symbol for r in records]
    assert [r.id for r in sized] == [r.id for r in records]
    sizes = [Decimal(repr(r.size_usd)) for r in sized]
    for before, after, size in zip(records, sized, sizes, strict=True):
        assert after.decision is before.decision is Action.BUY
        assert Decimal(0) <= size <= Decimal(repr(before.size_usd))
        assert size <= profile.max_position_size
    assert sum(sizes, Decimal(0)) <= usd
    assert account.exposure_usd + sum(sizes, Decimal(0)) <= max(
        profile.max_exposure, account.exposure_usd
    )
    assert sum(sizes, Decimal(0)) <= account.cash_usd
    assert sum(1 for s in sizes if s > 0) <= slots
    held = sum(1 for v in account.positions_usd.values() if v > 0)
    assert held + sum(1 for s in sizes if s > 0) <= max(profile.max_open_positions, held)
