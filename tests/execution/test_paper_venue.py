"""The paper venue on real Binance candles and on hand-made ones for the edge cases."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from decimal import Decimal
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import Candle, CandleSeries
from sigmax.domain.market import MarketSpec
from sigmax.domain.orders import (
    Liquidity,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
)
from sigmax.execution.fill_model import FeeSchedule, SlippageModel
from sigmax.execution.instruments import bundled_market_specs
from sigmax.execution.paper import PaperVenue, SnapshotError, VenueEvent, slippage_pct
from sigmax.execution.venue import SimulatedVenue, Venue

HOUR = 3_600_000
BTC = "BTC/USDT"
#: The simulated account's starting cash: more than any order here costs.
CASH = Decimal("100000000")
BUY, SELL = OrderSide.BUY, OrderSide.SELL

BTC_SPEC = bundled_market_specs()[BTC]


@cache
def btc_1h() -> CandleSeries:
    return DatasetCatalog.from_path(None).load(BTC, "1h").series


def venue(spec: MarketSpec = BTC_SPEC) -> PaperVenue:
    return PaperVenue({BTC: spec}, FeeSchedule(), SlippageModel(), cash=CASH)


def make_order(
    cid: str,
    side: OrderSide,
    kind: OrderType,
    qty: str,
    created_ms: int,
    price: str | None = None,
    *,
    oco: str | None = None,
    reference: str | None = None,
    symbol: str = BTC,
) -> Order:
    return Order(
        client_order_id=cid,
        symbol=symbol,
        side=side,
        type=kind,
        qty=Decimal(qty),
        created_ms=created_ms,
        price=None if price is None else Decimal(price),
        reference_price=None if reference is None else Decimal(reference),
        oco_group=oco,
        purpose=OrderPurpose.MANUAL,
    )


def bar(
    hour: int, open_: float, high: float, low: float, close: float, vol: float = 10.0
) -> Candle:
    return Candle(hour * HOUR, open_, high, low, close, vol)


def only(events: list[VenueEvent]) -> VenueEvent:
    assert len(events) == 1, events
    return events[0]


# -- market orders on real candles --------------------------------------------------------------


def test_market_buy_fills_at_the_next_open_plus_half_spread_and_impact() -> None:
    series = btc_1h()
    first, second = series.candle(0), series.candle(1)
    close_ms = first.timestamp + HOUR
    paper = venue()
    assert paper.process_candle(BTC, first) == []
    order = make_order("buy-1", BUY, OrderType.MARKET, "0.5", close_ms, reference="57908.13")
    assert paper.accept(order, close_ms).status is OrderStatus.OPEN

    event = only(paper.process_candle(BTC, second))

    # Next candle (2021-04-05 01:00 UTC): open 57 908.14, volume 1 850.541826 BTC.
    # impact = 0.1 × 0.5 / 1850.541826 = 0.0000270191…; + half spread 0.0001 = 0.0001270191…
    # 57 908.14 × 1.0001270191… = 57 915.4954… -> up to the 0.01 tick: 57 915.50
    assert event.status is OrderStatus.FILLED
    assert event.fill is not None
    assert event.fill.price == Decimal("57915.50")
    assert event.fill.qty == Decimal("0.5")
    # 0.5 × 57 915.50 × 0.001 = 28.95775 USDT
    assert event.fill.fee == Decimal("28.95775")
    assert event.fill.liquidity is Liquidity.TAKER
    assert event.fill.timestamp_ms == second.timestamp == close_ms
    assert event.fill.sequence == 1
    # Expected 57 908.13 (the close it decided on); paid 57 915.50: (7.37 / 57 908.13) × 100.
    slip = slippage_pct(order, event.fill)
    assert slip is not None
    assert round(slip, 6) == Decimal("0.012727")
    assert paper.open_orders() == []


def test_zero_volume_candle_of_the_march_2023_halt_defers_the_market_order() -> None:
    series = btc_1h()
    halted_at = 1_679_659_200_000  # 2023-03-24 12:00 UTC, O=H=L=C, volume 0
    index = int((series.timestamp == halted_at).nonzero()[0][0])
    before, halted, after = (series.candle(index + k) for k in (-1, 0, 1))
    assert halted.volume == 0
    paper = venue()
    paper.process_candle(BTC, before)
    order = make_order("sell-halt", SELL, OrderType.MARKET, "0.1", halted_at)
    paper.accept(order, halted_at)

    assert paper.process_candle(BTC, halted) == []
    assert paper.open_orders(BTC) == [order]

    # 13:00 is missing (the halt), so the next candle is 14:00: open 28 079.99, volume 8983.24018
    # 0.0001 + 0.1 × 0.1 / 8983.24018 = 0.00010111318…; 28 079.99 × (1 − that) = 28 077.1507…
    event = only(paper.process_candle(BTC, after))
    assert event.fill is not None
    assert event.fill.timestamp_ms == after.timestamp == halted_at + 2 * HOUR
    assert event.fill.price == Decimal("28077.15")
    assert event.fill.fee == Decimal("2.807715")


def test_an_order_never_fills_on_a_candle_that_opened_before_it_was_submitted() -> None:
    series = btc_1h()
    candle = series.candle(10)
    close_ms = candle.timestamp + HOUR
    paper = venue()
    # The candle that triggered the decision arrives late: its prices are already history.
    paper.accept(make_order("late", BUY, OrderType.MARKET, "0.01", close_ms), close_ms)
    assert paper.process_candle(BTC, candle) == []
    event = only(paper.process_candle(BTC, series.candle(11)))
    assert event.fill is not None
    assert event.fill.timestamp_ms == close_ms


def test_market_orders_fill_exactly_on_the_next_real_candle_never_earlier() -> None:
    series = btc_1h()[:600]  # includes the maintenance gaps of 2021-04-20 and 2021-04-25
    paper = venue()
    submitted: dict[str, int] = {}
    for i in range(len(series)):
        candle = series.candle(i)
        for event in paper.process_candle(BTC, candle):
            assert event.fill is not None
            cid = event.order.client_order_id
            assert event.fill.timestamp_ms == candle.timestamp
            assert event.fill.timestamp_ms >= submitted[cid]
            # The order of candle i-1 fills on candle i, the next row even across a gap.
            assert cid == f"m-{i - 1}"
        close_ms = candle.timestamp + HOUR
        side = BUY if i % 2 == 0 else SELL
        cid = f"m-{i}"
        paper.accept(make_order(cid, side, OrderType.MARKET, "0.01", close_ms), close_ms)
        submitted[cid] = close_ms
    assert [o.client_order_id for o in paper.open_orders()] == [f"m-{len(series) - 1}"]


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(min_value=1, max_value=20_000),
    kind=st.sampled_from(list(OrderType)),
    side=st.sampled_from(list(OrderSide)),
    offset_bps=st.integers(min_value=-300, max_value=300),
)
def test_no_order_type_fills_before_its_submission(
    start: int, kind: OrderType, side: OrderSide, offset_bps: int
) -> None:
    series = btc_1h()
    decided_on = series.candle(start)
    close_ms = decided_on.timestamp + HOUR
    level = Decimal(repr(decided_on.close)) * (1 + Decimal(offset_bps) / 10_000)
    price = None if kind is OrderType.MARKET else str(level.quantize(Decimal("0.01")))
    paper = venue()
    paper.accept(make_order("p", side, kind, "0.01", close_ms, price), close_ms)
    for i in range(start - 1, min(start + 48, len(series))):
        candle = series.candle(i)
        for event in paper.process_candle(BTC, candle):
            assert event.fill is not None
            assert candle.timestamp >= close_ms
            assert event.fill.timestamp_ms == candle.timestamp


# -- limit, stop and take-profit orders ---------------------------------------------------------


def test_limit_buy_through_a_gap_fills_at_the_better_open() -> None:
    paper = venue()
    paper.accept(make_order("lim", BUY, OrderType.LIMIT, "1", HOUR, "100.00"), HOUR)
    assert paper.process_candle(BTC, bar(1, 101.0, 102.0, 100.5, 101.5)) == []
    event = only(paper.process_candle(BTC, bar(2, 97.3, 99.0, 96.0, 98.0)))
    assert event.fill is not None
    assert event.fill.price == Decimal("97.3")
    assert event.fill.liquidity is Liquidity.TAKER
    assert event.fill.fee == Decimal("0.0973")


def test_limit_sell_reached_within_the_candle_fills_at_its_price_as_maker() -> None:
    paper = PaperVenue(
        {BTC: BTC_SPEC}, FeeSchedule(maker=Decimal("0.00075")), SlippageModel(), cash=CASH
    )
    paper.accept(make_order("lim", SELL, OrderType.LIMIT, "2", HOUR, "105.00"), HOUR)
    event = only(paper.process_candle(BTC, bar(1, 103.0, 105.0, 102.0, 104.0)))
    assert event.fill is not None
    assert event.fill.price == Decimal("105.00")
    assert event.fill.liquidity is Liquidity.MAKER
    assert event.fill.fee == Decimal("0.1575")  # 2 × 105 × 0.00075


def test_stop_gap_fills_at_the_worse_open() -> None:
    paper = venue()
    paper.accept(make_order("stop", SELL, OrderType.STOP_LOSS, "1", HOUR, "100.00"), HOUR)
    # Opens at 90 below the stop: 90 × (1 − 0.0001 − 0.1 × 1 / 10) = 90 × 0.9899 = 89.091 -> 89.09
    event = only(paper.process_candle(BTC, bar(1, 90.0, 92.0, 88.0, 91.0)))
    assert event.fill is not None
    assert event.fill.price == Decimal("89.09")
    assert event.fill.liquidity is Liquidity.TAKER


def bracket(paper: PaperVenue, at_ms: int) -> tuple[Order, Order]:
    stop = make_order("sl", SELL, OrderType.STOP_LOSS, "1", at_ms, "95.00", oco="pos-1")
    target = make_order("tp", SELL, OrderType.TAKE_PROFIT, "1", at_ms, "110.00", oco="pos-1")
    assert paper.accept(stop, at_ms).status is OrderStatus.OPEN
    assert paper.accept(target, at_ms).status is OrderStatus.OPEN
    return stop, target


def test_stop_and_target_touched_in_one_candle_assumes_the_stop_came_first() -> None:
    paper = venue()
    stop, target = bracket(paper, HOUR)
    # Opens between the levels, then reaches both: which came first is unknown.
    events = paper.process_candle(BTC, bar(1, 100.0, 111.0, 94.0, 100.0))
    assert [(e.order, e.status) for e in events] == [
        (stop, OrderStatus.FILLED),
        (target, OrderStatus.CANCELLED),
    ]
    assert events[1].reason is not None
    assert "worse for the trader is assumed" in events[1].reason
    assert paper.open_orders() == []


def test_target_gapped_at_the_open_fills_before_a_later_stop_touch() -> None:
    paper = venue()
    stop, target = bracket(paper, HOUR)
    # The first trade of the candle is above the target: it certainly filled first.
    events = paper.process_candle(BTC, bar(1, 112.0, 113.0, 94.0, 96.0))
    assert [(e.order, e.status) for e in events] == [
        (target, OrderStatus.FILLED),
        (stop, OrderStatus.CANCELLED),
    ]
    assert events[0].fill is not None
    assert events[0].fill.price == Decimal("112.0")


def test_filling_one_order_of_an_oco_group_cancels_the_others() -> None:
    paper = venue()
    stop, target = bracket(paper, HOUR)
    assert paper.process_candle(BTC, bar(1, 100.0, 105.0, 96.0, 104.0)) == []
    events = paper.process_candle(BTC, bar(2, 104.0, 110.5, 103.0, 109.0))
    assert [(e.order, e.status) for e in events] == [
        (target, OrderStatus.FILLED),
        (stop, OrderStatus.CANCELLED),
    ]
    assert events[0].fill is not None
    assert events[0].fill.price == Decimal("110.00")
    assert events[0].fill.liquidity is Liquidity.MAKER
    assert events[1].reason == "oco group pos-1: tp filled"
    assert paper.process_candle(BTC, bar(3, 90.0, 91.0, 80.0, 85.0)) == []


def test_entry_and_its_bracket_can_fill_in_the_same_candle() -> None:
    paper = venue()
    entry = make_order("entry", BUY, OrderType.MARKET, "1", HOUR)
    paper.accept(entry, HOUR)
    stop, target = bracket(paper, HOUR)
    events = paper.process_candle(BTC, bar(1, 100.0, 101.0, 94.0, 95.0))
    assert [(e.order, e.status) for e in events] == [
        (entry, OrderStatus.FILLED),
        (stop, OrderStatus.FILLED),
        (target, OrderStatus.CANCELLED),
    ]


def test_cancel_removes_only_that_order_and_is_idempotent() -> None:
    paper = venue()
    stop, target = bracket(paper, HOUR)
    event = paper.withdraw("sl", 2 * HOUR)
    assert event is not None
    assert (event.order, event.status, event.reason) == (
        stop,
        OrderStatus.CANCELLED,
        "cancelled on request",
    )
    assert paper.open_orders() == [target]
    assert paper.withdraw("sl", 2 * HOUR) is None
    assert paper.withdraw("never-seen", 2 * HOUR) is None
    # The target now rests alone and fills without an OCO peer to cancel.
    events = paper.process_candle(BTC, bar(2, 100.0, 111.0, 90.0, 100.0))
    assert [(e.order, e.status) for e in events] == [(target, OrderStatus.FILLED)]


def test_a_cancel_cannot_precede_the_order() -> None:
    paper = venue()
    paper.accept(make_order("x", BUY, OrderType.LIMIT, "1", HOUR, "90.00"), 2 * HOUR)
    with pytest.raises(ValueError, match="precedes its submission"):
        paper.withdraw("x", HOUR)


def test_an_unfillable_sell_is_cancelled_with_the_reason() -> None:
    paper = venue()
    paper.accept(make_order("huge", SELL, OrderType.MARKET, "500", HOUR), HOUR)
    event = only(paper.process_candle(BTC, bar(1, 100.0, 101.0, 99.0, 100.0, vol=1.0)))
    assert event.status is OrderStatus.CANCELLED
    assert event.reason is not None
    assert "too large for this market" in event.reason


# -- submission rules ---------------------------------------------------------------------------


def test_duplicate_client_order_id_is_refused_even_after_the_first_filled() -> None:
    paper = venue()
    first = make_order("dup", BUY, OrderType.MARKET, "0.1", HOUR)
    assert paper.accept(first, HOUR).status is OrderStatus.OPEN
    again = paper.accept(replace(first, qty=Decimal("0.2")), HOUR)
    assert again.status is OrderStatus.REJECTED
    assert again.reason is not None
    assert "duplicate client_order_id dup" in again.reason
    assert paper.open_orders() == [first]
    paper.process_candle(BTC, bar(1, 100.0, 101.0, 99.0, 100.0))
    assert paper.accept(first, 2 * HOUR).status is OrderStatus.REJECTED


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        (
            make_order("eth", BUY, OrderType.MARKET, "1", HOUR, symbol="ETH/USDT"),
            "unknown symbol 'ETH/USDT': this venue trades BTC/USDT",
        ),
        (
            make_order("step", BUY, OrderType.MARKET, "0.000015", HOUR),
            "qty 0.000015 is not a multiple of the amount step 0.00001",
        ),
        (
            make_order("tick", BUY, OrderType.LIMIT, "1", HOUR, "100.005"),
            "price 100.005 is not a multiple of the price tick 0.01",
        ),
        (
            make_order("future", BUY, OrderType.MARKET, "1", 2 * HOUR),
            f"order created at {2 * HOUR}, after its submission at {HOUR}",
        ),
    ],
)
def test_bad_orders_are_rejected_with_the_reason(order: Order, reason: str) -> None:
    paper = venue()
    event = paper.accept(order, HOUR)
    assert event.status is OrderStatus.REJECTED
    assert event.reason == reason
    assert paper.open_orders() == []


def test_inactive_market_refuses_orders() -> None:
    paper = venue(replace(BTC_SPEC, active=False))
    event = paper.accept(make_order("x", BUY, OrderType.MARKET, "1", HOUR), HOUR)
    assert event.reason == "market BTC/USDT is not trading (inactive)"


def test_an_oco_group_holds_one_symbol_and_side() -> None:
    paper = venue()
    paper.accept(make_order("a", SELL, OrderType.STOP_LOSS, "1", HOUR, "90", oco="g"), HOUR)
    event = paper.accept(make_order("b", BUY, OrderType.LIMIT, "1", HOUR, "80", oco="g"), HOUR)
    assert event.status is OrderStatus.REJECTED
    assert event.reason is not None
    assert "oco group g holds sell orders of BTC/USDT" in event.reason


def test_a_spec_under_the_wrong_key_is_refused() -> None:
    with pytest.raises(ValueError, match=r"specs\['ETH/USDT'\] describes BTC/USDT"):
        PaperVenue({"ETH/USDT": BTC_SPEC}, FeeSchedule(), SlippageModel(), cash=CASH)


def test_candles_of_an_unknown_symbol_are_refused() -> None:
    with pytest.raises(ValueError, match="no market spec for 'ETH/USDT'"):
        venue().process_candle("ETH/USDT", bar(1, 1.0, 1.0, 1.0, 1.0))


def test_a_replayed_candle_changes_nothing() -> None:
    paper = venue()
    paper.accept(make_order("lim", BUY, OrderType.LIMIT, "1", HOUR, "95.00"), HOUR)
    paper.process_candle(BTC, bar(1, 100.0, 101.0, 96.0, 100.0))
    paper.accept(make_order("mkt", BUY, OrderType.MARKET, "1", 2 * HOUR), 2 * HOUR)
    # Fed again after a resume: the limit would fill on it, but it was already processed.
    assert paper.process_candle(BTC, bar(1, 100.0, 101.0, 90.0, 100.0)) == []
    assert len(paper.open_orders()) == 2


# -- crash-safe state ---------------------------------------------------------------------------


def run_candles(paper: PaperVenue, series: CandleSeries, lo: int, hi: int) -> list[VenueEvent]:
    """Feed candles lo..hi-1 and, at each close, submit a few orders the way an engine would."""
    events: list[VenueEvent] = []
    for i in range(lo, hi):
        candle = series.candle(i)
        events += paper.process_candle(BTC, candle)
        close_ms = candle.timestamp + HOUR
        close = Decimal(repr(candle.close))
        if i % 5 == 0:
            paper.accept(make_order(f"e{i}", BUY, OrderType.MARKET, "0.01", close_ms), close_ms)
            stop = str((close * Decimal("0.98")).quantize(Decimal("0.01")))
            target = str((close * Decimal("1.03")).quantize(Decimal("0.01")))
            for cid, kind, level in (
                ("s", OrderType.STOP_LOSS, stop),
                ("t", OrderType.TAKE_PROFIT, target),
            ):
                order = make_order(f"{cid}{i}", SELL, kind, "0.01", close_ms, level, oco=f"b{i}")
                paper.accept(order, close_ms)
        if i % 7 == 0:
            limit = str((close * Decimal("0.995")).quantize(Decimal("0.01")))
            paper.accept(
                make_order(f"l{i}", BUY, OrderType.LIMIT, "0.02", close_ms, limit), close_ms
            )
    return events


def test_snapshot_and_restore_resume_identically() -> None:
    series = btc_1h()
    straight = venue()
    run_candles(straight, series, 0, 61)
    expected = run_candles(straight, series, 61, 200)

    first = venue()
    run_candles(first, series, 0, 61)
    saved = json.loads(json.dumps(first.snapshot()))
    assert saved["orders"], "the snapshot should hold resting orders to make this test meaningful"
    resumed = venue()
    resumed.restore(saved)

    assert resumed.open_orders() == first.open_orders()
    assert run_candles(resumed, series, 61, 200) == expected
    assert any(e.status is OrderStatus.FILLED for e in expected)
    assert any(e.status is OrderStatus.CANCELLED for e in expected)
    assert resumed.snapshot() == straight.snapshot()


def test_restored_venue_still_refuses_used_ids_and_replayed_candles() -> None:
    paper = venue()
    order = make_order("once", BUY, OrderType.MARKET, "0.1", HOUR)
    paper.accept(order, HOUR)
    paper.process_candle(BTC, bar(1, 100.0, 101.0, 99.0, 100.0))
    resumed = venue()
    resumed.restore(json.loads(json.dumps(paper.snapshot())))
    assert resumed.accept(order, 2 * HOUR).status is OrderStatus.REJECTED
    resumed.accept(make_order("next", BUY, OrderType.MARKET, "0.1", HOUR), HOUR)
    assert resumed.process_candle(BTC, bar(1, 100.0, 101.0, 99.0, 100.0)) == []


def snapshot_with_one_order() -> dict[str, object]:
    paper = venue()
    paper.accept(make_order("a", BUY, OrderType.LIMIT, "1", HOUR, "90.00"), HOUR)
    return json.loads(json.dumps(paper.snapshot()))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda s: s.update(format=3), "snapshot format: expected 2 or 1 .got 3."),
        (lambda s: s.update(format=1), "snapshot balances: a format-1 snapshot holds none"),
        (lambda s: s["balances"].pop("USDT"), "snapshot balances: no USDT"),
        (lambda s: s["balances"].update(BTC="1e"), "snapshot balances.'BTC'.: must be a decimal"),
        (
            lambda s: s["orders"][0].update(qty="lots"),
            r"snapshot orders\[0\]\.qty: must be a decimal",
        ),
        (
            lambda s: s["orders"][0].update(side="short"),
            r"orders\[0\]\.side: must be one of buy, sell",
        ),
        (lambda s: s["orders"][0].update(symbol="DOGE/USDT"), "no market spec for 'DOGE/USDT'"),
        (lambda s: s["orders"][0].update(price=None), r"orders\[0\]: a limit order needs a price"),
        (lambda s: s["orders"][0].update(accepted_ms="soon"), r"accepted_ms: must be an integer"),
        (lambda s: s.update(accepted_ids=[]), r"resting orders \['a'\] are not listed"),
    ],
)
def test_a_damaged_snapshot_is_refused_naming_the_field(damage: object, message: str) -> None:
    state = snapshot_with_one_order()
    damage(state)  # type: ignore[operator]
    paper = venue()
    with pytest.raises(SnapshotError, match=message):
        paper.restore(state)
    assert paper.open_orders() == []


def test_an_oco_fill_cancels_a_peer_submitted_after_the_candle_opened() -> None:
    paper = venue()
    stop = make_order("sl", SELL, OrderType.STOP_LOSS, "1", HOUR, "95.00", oco="g")
    late_target = make_order("tp", SELL, OrderType.TAKE_PROFIT, "1", HOUR, "110.00", oco="g")
    paper.accept(stop, HOUR)
    paper.accept(late_target, HOUR + 1)  # too late to take part in the candle opening at HOUR
    events = paper.process_candle(BTC, bar(1, 100.0, 111.0, 94.0, 100.0))
    assert [(e.order, e.status) for e in events] == [
        (stop, OrderStatus.FILLED),
        (late_target, OrderStatus.CANCELLED),
    ]
    assert paper.open_orders() == []


# -- spending a cash amount --------------------------------------------------------------------


def _spend_order(cid: str, spend: str, created_ms: int) -> Order:
    return Order(
        client_order_id=cid,
        symbol=BTC,
        side=BUY,
        type=OrderType.MARKET,
        qty=Decimal("0.001"),
        created_ms=created_ms,
        reference_price=Decimal("20000"),
        spend=Decimal(spend),
        purpose=OrderPurpose.ENTRY,
    )


def test_a_spend_order_buys_what_the_cash_pays_at_the_fill_price_fee_included() -> None:
    book = PaperVenue({BTC: BTC_SPEC}, FeeSchedule(), SlippageModel.none(), cash=CASH)
    assert book.accept(_spend_order("s1", "1000", 0), 0).status is OrderStatus.OPEN
    event = only(book.process_candle(BTC, bar(1, 20500.0, 20600.0, 20400.0, 20550.0)))
    fill = event.fill
    assert fill is not None
    assert event.status is OrderStatus.FILLED
    assert fill.price == Decimal("20500")
    # 1000 / (20500 * 1.001) = 0.048731... -> whole steps of 0.00001 BTC.
    assert fill.qty == Decimal("0.04873")
    assert fill.qty * fill.price + fill.fee <= Decimal(1000)
    one_more = (fill.qty + Decimal("0.00001")) * fill.price
    assert one_more + FeeSchedule().fee(one_more, Liquidity.TAKER) > Decimal(1000)


def test_a_spend_too_small_for_the_market_is_cancelled_with_the_reason() -> None:
    book = PaperVenue({BTC: BTC_SPEC}, FeeSchedule(), SlippageModel.none(), cash=CASH)
    book.accept(_spend_order("s2", "3", 0), 0)
    event = only(book.process_candle(BTC, bar(1, 20500.0, 20600.0, 20400.0, 20550.0)))
    assert event.status is OrderStatus.CANCELLED
    assert event.fill is None
    assert "minimum quantity or notional" in (event.reason or "")


def test_a_resting_spend_order_survives_a_snapshot() -> None:
    book = PaperVenue({BTC: BTC_SPEC}, FeeSchedule(), SlippageModel.none(), cash=CASH)
    book.accept(_spend_order("s3", "1000", 0), 0)
    copy = PaperVenue({BTC: BTC_SPEC}, FeeSchedule(), SlippageModel.none(), cash=CASH)
    copy.restore(json.loads(json.dumps(book.snapshot())))
    assert copy.open_orders(BTC)[0].spend == Decimal("1000")


def test_spend_is_for_market_buys_only() -> None:
    with pytest.raises(ValueError, match="spend must be > 0 and is for market buys only"):
        Order("s4", BTC, SELL, OrderType.MARKET, Decimal("0.001"), 0, spend=Decimal(10),
              purpose=OrderPurpose.ENTRY)  # fmt: skip


# -- the Venue protocol and the simulated account ----------------------------------------------


def test_the_paper_venue_speaks_the_venue_protocol_and_its_account_follows_its_fills() -> None:
    book = PaperVenue({BTC: BTC_SPEC}, FeeSchedule(), SlippageModel.none(), cash=Decimal(1000))
    assert isinstance(book, Venue)
    assert isinstance(book, SimulatedVenue)

    async def trade() -> None:
        buy = make_order("b1", BUY, OrderType.MARKET, "0.01", 0)
        assert (await book.submit(buy, 0)).status is OrderStatus.OPEN
        assert await book.balances() == {"USDT": Decimal(1000)}  # nothing filled yet
        fill = only(await book.on_candle(BTC, bar(1, 20000.0, 20100.0, 19900.0, 20050.0))).fill
        assert fill is not None
        cost = fill.qty * fill.price + fill.fee
        assert await book.balances() == {"BTC": Decimal("0.01"), "USDT": Decimal(1000) - cost}
        sell = make_order("s1", SELL, OrderType.MARKET, "0.01", 2 * HOUR)
        await book.submit(sell, 2 * HOUR)
        out = only(await book.on_candle(BTC, bar(2, 21000.0, 21100.0, 20900.0, 21050.0))).fill
        assert out is not None
        proceeds = out.qty * out.price - out.fee
        assert await book.balances() == {"USDT": Decimal(1000) - cost + proceeds}

    asyncio.run(trade())
    copy = PaperVenue({BTC: BTC_SPEC}, FeeSchedule(), SlippageModel.none(), cash=Decimal(0))
    copy.restore(json.loads(json.dumps(book.snapshot())))
    assert copy.holdings() == book.holdings()


def test_a_buy_the_simulated_account_cannot_pay_at_the_fill_is_rejected_then() -> None:
    book = PaperVenue({BTC: BTC_SPEC}, FeeSchedule(), SlippageModel.none(), cash=Decimal(100))
    book.accept(make_order("b1", BUY, OrderType.MARKET, "0.01", 0), 0)
    event = only(book.process_candle(BTC, bar(1, 20000.0, 20100.0, 19900.0, 20050.0)))
    assert event.status is OrderStatus.REJECTED
    assert event.fill is None
    assert "rejected at fill: buy of 0.01 BTC/USDT at 20000" in (event.reason or "")
    assert "but cash is 100" in (event.reason or "")
    assert book.holdings() == {"USDT": Decimal(100)}
    assert book.open_orders() == []


def test_a_format_1_snapshot_takes_its_balances_from_the_caller() -> None:
    book = venue()
    book.accept(make_order("t1", SELL, OrderType.TAKE_PROFIT, "0.01", 0, "30000"), 0)
    old = book.snapshot()
    old["format"] = 1
    del old["balances"]
    for item in old["orders"]:
        del item["purpose"]  # orders did not carry their purpose then
    copy = venue()
    copy.restore(old, {"USDT": Decimal(5), "BTC": Decimal("0.01")})
    assert copy.holdings() == {"BTC": Decimal("0.01"), "USDT": Decimal(5)}
    # The purpose of an order stored before: read once from its type.
    assert copy.open_orders()[0].purpose is OrderPurpose.TAKE_PROFIT
