"""The allocation step inside the engine: a backtest of the four bundled markets with it on.

Each group of BUYs the step sized keeps its direction, stays within the room the profile left
at that close (exposure, cash, open positions) and never above the risk agent's sizes; a BUY
left without weight sends no order and says why. With the step off the result is the same
bytes as without the setting at all.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sigmax.backtest.result import build_result
from sigmax.backtest.runner import BacktestOptions, simulate
from sigmax.domain.candles import datetime_to_ms
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.domain.orders import OrderPurpose

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"]


def _ms(year: int, month: int, day: int) -> int:
    return datetime_to_ms(datetime(year, month, day, tzinfo=UTC))


def _backtest(overrides: dict[str, Any], until: int) -> Any:
    options = BacktestOptions(
        profile="aggressive",
        symbols=SYMBOLS,
        start_ms=_ms(2023, 1, 1),
        until_ms=until,
        overrides=overrides,
    )
    return asyncio.run(simulate(options))


def test_every_allocated_group_keeps_its_directions_and_the_profile_limits() -> None:
    # 250 USD of exposure for four 100 USD positions: the room binds when several want in.
    run = _backtest({"allocation.enabled": True, "profile.max_exposure": 250}, _ms(2023, 4, 1))
    groups: dict[int, list[DecisionRecord]] = defaultdict(list)
    for record in run.sink.decisions.values():
        if record.allocation is not None:
            groups[record.timestamp_ms].append(record)
    assert groups, "no BUY reached the allocation step"
    assert any(len(group) > 1 for group in groups.values()), "no close had several BUYs"
    entries = {
        update.order.decision_id: update.order
        for update in run.sink.orders
        if update.order.purpose is OrderPurpose.ENTRY
    }
    for group in groups.values():
        room = Decimal(group[0].allocation["room_usd"])  # type: ignore[index]
        left = group[0].allocation["positions_left"]  # type: ignore[index]
        sizes = [Decimal(record.allocation["size_usd"]) for record in group]  # type: ignore[index]
        assert sum(sizes, Decimal(0)) <= room
        assert sum(1 for size in sizes if size > 0) <= left
        for record, size in zip(group, sizes, strict=True):
            part = record.allocation
            assert part is not None
            assert record.decision is Action.BUY
            assert Decimal(repr(record.size_usd)) == size <= Decimal(part["proposed_size_usd"])
            assert part["method"] == "classical"
            assert part["quantum"] == "off"  # a backtest never consults the quantum solver
            if size > 0:
                assert size >= Decimal(5)  # allocation.min_order_usd
                order = entries[record.id]
                assert order.qty * order.reference_price <= size  # type: ignore[operator]
            else:
                assert record.id not in entries
                assert record.compliance == {"allowed": False, "reason": part["reason"]}


def test_with_the_step_off_the_result_is_the_same_bytes_as_without_the_setting() -> None:
    until = _ms(2023, 1, 20)
    default = build_result(_backtest({}, until)).to_json()
    off = build_result(_backtest({"allocation.enabled": False}, until)).to_json()
    assert off == default
    assert '"allocation"' not in default
