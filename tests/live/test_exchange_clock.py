"""A live run signs with the exchange's clock (:class:`ExchangeClock`: the local clock plus the
offset last measured against ``/api/v3/time``). When the local clock steps between two readings
the exchange refuses the timestamp (``-1021``, outside ``recvWindow``): the clock is measured
again and the request sent once more, a placement included (refused before execution, so never
placed twice), instead of pausing trading."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from sigmax.data.feeds import CcxtFeed
from sigmax.data.feeds.retry import RetryPolicy
from sigmax.domain.orders import Order, OrderPurpose, OrderSide, OrderStatus, OrderType
from sigmax.engine.kernel import ExchangeClock
from sigmax.execution.ccxt_session import CcxtSession
from sigmax.execution.ccxt_venue import CcxtVenue
from sigmax.execution.exchange_errors import VenueError
from support.binance_spot import BinanceSpotStandIn

SYMBOLS = ("BTC/USDT",)
FAST_RETRY = RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.1)


@pytest.fixture
async def spot() -> AsyncIterator[BinanceSpotStandIn]:
    async with BinanceSpotStandIn(balances={"USDT": Decimal("1000")}) as stand_in:
        stand_in.run_clock()  # the exchange's time flows, as a real one's
        yield stand_in


async def _venue(spot: BinanceSpotStandIn, errors: list[str]) -> tuple[CcxtVenue, CcxtFeed]:
    feed = CcxtFeed("binance", api_base_url=spot.base_url)
    clock = ExchangeClock(feed)
    await clock.sync()
    session = CcxtSession(
        "binance",
        api_key=spot.api_key,
        api_secret=spot.api_secret,
        api_base_url=spot.base_url,
        retry=FAST_RETRY,
        clock=clock.now,
        on_api_error=lambda call, text: errors.append(f"{call}: {text}"),
    )
    session.resync = clock.sync
    venue = CcxtVenue(session, SYMBOLS)
    await venue.start()
    return venue, feed


async def test_a_refused_timestamp_measures_the_clock_again_and_sends_once_more(
    spot: BinanceSpotStandIn,
) -> None:
    errors: list[str] = []
    venue, feed = await _venue(spot, errors)
    try:
        # The local clock falls a minute behind the exchange's (a step, as NTP may make).
        spot.advance_to(spot.flowing_now_ms() + 60_000)
        balances = await venue.balances()
        assert balances["USDT"] == Decimal("1000")
        assert len(errors) == 1
        assert "-1021" in errors[0]

        spot.advance_to(spot.flowing_now_ms() + 60_000)
        order = Order(
            client_order_id="sgx-entry-clockstep0001",
            symbol="BTC/USDT",
            side=OrderSide.BUY,
            type=OrderType.MARKET,
            qty=Decimal("0.001"),
            created_ms=spot.now_ms,
            reference_price=spot.last_price("BTCUSDT"),
            purpose=OrderPurpose.ENTRY,
        )
        event = await venue.submit(order, spot.now_ms)
        assert event.status is OrderStatus.OPEN, event.reason
        assert len(spot.order_by_client_id(order.client_order_id)) == 1
        assert sum("-1021" in e for e in errors) == 2
    finally:
        await venue.close()
        await feed.close()


async def test_without_a_resync_the_refusal_stands_as_a_pause(spot: BinanceSpotStandIn) -> None:
    errors: list[str] = []
    venue, feed = await _venue(spot, errors)
    venue.session.resync = None
    try:
        spot.advance_to(spot.flowing_now_ms() + 60_000)
        with pytest.raises(VenueError) as refused:
            await venue.balances()
        assert refused.value.code == -1021
        assert refused.value.action.value == "pause"
    finally:
        await venue.close()
        await feed.close()
