"""The ccxt venue through the real ccxt client against the Binance spot stand-in on 127.0.0.1.

Every request below is a real signed Binance request built by ccxt (HMAC-SHA256 of the query
under the secret, ``timestamp`` and ``recvWindow``) and verified by the stand-in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from sigmax.data.feeds.retry import RetryPolicy
from sigmax.domain.candles import Candle
from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import (
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    client_order_id,
)
from sigmax.execution.ccxt_session import CcxtSession
from sigmax.execution.ccxt_venue import CcxtVenue
from sigmax.execution.exchange_errors import ErrorAction, VenueError, VenueUnavailableError
from sigmax.execution.venue import Venue, VenueEvent
from support.binance_server import HOUR_MS, FaultKind, bundled_candles
from support.binance_spot import BinanceSpotStandIn

SYMBOLS = ("BTC/USDT", "ETH/USDT")
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
async def server() -> AsyncIterator[BinanceSpotStandIn]:
    async with BinanceSpotStandIn() as stand_in:
        yield stand_in


def make_venue(
    server: BinanceSpotStandIn,
    *,
    secret: str | None = None,
    errors: list[tuple[str, str]] | None = None,
    timeout_s: float = 2.0,
    clock_offset_ms: int = 0,
) -> CcxtVenue:
    session = CcxtSession(
        "binance",
        api_key=server.api_key,
        api_secret=server.api_secret if secret is None else secret,
        api_base_url=server.base_url,
        timeout_s=timeout_s,
        retry=FAST_RETRY,
        clock=lambda: server.now_ms + clock_offset_ms,
        on_api_error=None if errors is None else (lambda call, text: errors.append((call, text))),
    )
    return CcxtVenue(session, SYMBOLS)


@pytest.fixture
async def venue(server: BinanceSpotStandIn) -> AsyncIterator[CcxtVenue]:
    built = make_venue(server)
    await built.start()
    yield built
    await built.close()


def candle_at(server: BinanceSpotStandIn, symbol: str = "BTCUSDT") -> Candle:
    """The last hourly candle that closed at or before the server's clock."""
    closed = [c for c in bundled_candles(symbol, "1h") if c.open_ms + HOUR_MS <= server.now_ms]
    last = closed[-1]
    return Candle(
        timestamp=last.open_ms,
        open=float(last.open),
        high=float(last.high),
        low=float(last.low),
        close=float(last.close),
        volume=float(last.volume),
    )


def market_buy(qty: str, role: str = "entry", decision: str = "d1") -> Order:
    return Order(
        client_order_id=client_order_id(decision, role),
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        type=OrderType.MARKET,
        qty=Decimal(qty),
        created_ms=0,
        reference_price=Decimal("27000"),
        decision_id=decision,
        purpose=OrderPurpose.ENTRY,
    )


def apply(ledger: Ledger, events: list[VenueEvent]) -> None:
    for event in events:
        if event.fill is not None:
            ledger.apply_fill(event.fill)


def test_the_venue_is_a_venue(venue: CcxtVenue) -> None:
    checked: Venue = venue
    assert checked.name == "binance"


async def test_market_order_placed_and_filled_matches_the_exchange_balances(
    server: BinanceSpotStandIn, venue: CcxtVenue
) -> None:
    ledger = Ledger(Decimal("10000"))
    order = market_buy("0.01")
    ack = await venue.submit(order, server.now_ms)
    assert ack.status is OrderStatus.OPEN
    events = await venue.on_candle("BTC/USDT", candle_at(server))
    fills = [e.fill for e in events if e.fill is not None]
    assert len(fills) == 1
    fill = fills[0]
    price = server.last_price("BTCUSDT")
    # Binance charged 0.1 % of the BTC received: the fill is what arrived, the fee in USDT.
    assert fill.qty == Decimal("0.01") - Decimal("0.00001")
    assert fill.price == price
    assert fill.fee == Decimal("0.00001") * price
    assert events[-1].status is OrderStatus.FILLED
    apply(ledger, events)
    assert ledger.cash == server.total("USDT")
    assert ledger.position("BTC/USDT").qty == server.total("BTC")
    assert await venue.balances() == {"BTC": server.total("BTC"), "USDT": server.total("USDT")}
    # Nothing new on the next candle: each trade is counted once.
    server.advance()
    assert await venue.on_candle("BTC/USDT", candle_at(server)) == []


async def test_submitting_the_same_client_id_again_never_makes_a_second_order(
    server: BinanceSpotStandIn, venue: CcxtVenue
) -> None:
    order = market_buy("0.01")
    await venue.submit(order, server.now_ms)
    again = await venue.submit(order, server.now_ms)
    assert again.status is not OrderStatus.REJECTED
    assert len(server.order_by_client_id(order.client_order_id)) == 1
    # A new process (a restart) asks the exchange first and adopts the order.
    fresh = make_venue(server)
    await fresh.start()
    try:
        await fresh.submit(order, server.now_ms)
    finally:
        await fresh.close()
    assert len(server.order_by_client_id(order.client_order_id)) == 1


@pytest.mark.parametrize("mode", ["timeout", "disconnect"])
async def test_a_lost_placement_answer_is_resolved_by_lookup_without_a_duplicate(
    server: BinanceSpotStandIn, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[tuple[str, str]] = []
    venue = make_venue(server, errors=errors, timeout_s=0.5)
    await venue.start()
    try:
        server.lose_responses("POST", "/api/v3/order", mode=mode, delay_s=1.5)  # type: ignore[arg-type]
        order = market_buy("0.01")
        ack = await venue.submit(order, server.now_ms)
        assert ack.status is OrderStatus.OPEN
        placed = server.order_by_client_id(order.client_order_id)
        assert len(placed) == 1
        assert server.executed.count(("POST", "/api/v3/order")) == 1
        events = await venue.on_candle("BTC/USDT", candle_at(server))
        assert sum(e.fill.qty for e in events if e.fill) == Decimal("0.00999")
        assert [call for call, _ in errors] == ["create_order"]
        shown = caplog.text + "".join(text for _, text in errors)
        assert server.api_secret not in shown
        assert server.api_key not in shown
    finally:
        await venue.close()


async def test_a_placement_that_never_reached_the_exchange_is_retried_once(
    server: BinanceSpotStandIn,
) -> None:
    venue = make_venue(server)
    await venue.start()
    try:
        server.fail_next("/api/v3/order", FaultKind.UNAVAILABLE, count=1)
        order = market_buy("0.01")
        ack = await venue.submit(order, server.now_ms)
        assert ack.status is OrderStatus.OPEN
        assert len(server.order_by_client_id(order.client_order_id)) == 1
    finally:
        await venue.close()


async def test_partial_fills_are_counted_by_trade_id(
    server: BinanceSpotStandIn, venue: CcxtVenue
) -> None:
    ledger = Ledger(Decimal("10000"))
    server.liquidity["BTCUSDT"] = Decimal("0.004")
    price = server.last_price("BTCUSDT")
    order = Order(
        client_order_id=client_order_id("d2", "entry"),
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        qty=Decimal("0.01"),
        price=price + Decimal("100"),
        created_ms=0,
        purpose=OrderPurpose.ENTRY,
    )
    assert (await venue.submit(order, server.now_ms)).status is OrderStatus.OPEN
    first = await venue.on_candle("BTC/USDT", candle_at(server))
    assert [e.status for e in first] == [OrderStatus.PARTIALLY_FILLED]
    assert venue.open_orders("BTC/USDT") == [order]
    # Asking again before anything happened reports nothing twice.
    assert await venue.on_candle("BTC/USDT", candle_at(server)) == []
    apply(ledger, first)
    server.advance()  # the next candle trades through the limit: 0.004 more
    server.advance()  # and the last 0.002
    rest = await venue.on_candle("BTC/USDT", candle_at(server))
    assert [e.status for e in rest] == [
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    apply(ledger, rest)
    sequences = [e.fill.sequence for e in first + rest if e.fill]
    assert len(set(sequences)) == 3
    assert ledger.position("BTC/USDT").qty == server.total("BTC")
    assert ledger.cash == server.total("USDT")
    assert venue.open_orders() == []


@pytest.mark.parametrize(
    ("qty", "reason"),
    [
        ("0.5", "-2010 Account has insufficient balance for requested action."),
        ("0.0001", "-1013 Filter failure: NOTIONAL"),
    ],
)
async def test_a_rejection_is_recorded_with_the_exchange_reason(
    server: BinanceSpotStandIn, venue: CcxtVenue, qty: str, reason: str
) -> None:
    # The venue checks the minimum notional itself; send past it to see the exchange refuse.
    order = Order(
        client_order_id=client_order_id("d3", qty),
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        type=OrderType.MARKET,
        qty=Decimal(qty),
        created_ms=0,
        reference_price=Decimal("1000000"),
        purpose=OrderPurpose.ENTRY,
    )
    event = await venue.submit(order, server.now_ms)
    assert event.status is OrderStatus.REJECTED
    assert event.reason == reason
    assert server.executed.count(("POST", "/api/v3/order")) == 0
    assert venue.orders.get(order.client_order_id) is not None


async def test_the_venue_refuses_below_the_markets_minimum_before_sending(
    server: BinanceSpotStandIn, venue: CcxtVenue
) -> None:
    event = await venue.submit(market_buy("0.0001"), server.now_ms)
    assert event.status is OrderStatus.REJECTED
    assert event.reason is not None
    assert "below the market's minimum 5" in event.reason
    requests = [r for r in server.requests if r.path == "/api/v3/order"]
    assert requests == []


async def test_a_wrong_secret_is_refused_by_the_server_and_pauses(
    server: BinanceSpotStandIn,
) -> None:
    venue = make_venue(server, secret="not-the-secret-Q9")
    await venue.start()  # markets are public
    try:
        with pytest.raises(VenueError) as caught:
            await venue.balances()
    finally:
        await venue.close()
    assert caught.value.action is ErrorAction.PAUSE
    assert caught.value.code == -1022
    assert "not-the-secret-Q9" not in str(caught.value)


async def test_a_stale_timestamp_is_refused_outside_recv_window(
    server: BinanceSpotStandIn,
) -> None:
    venue = make_venue(server, clock_offset_ms=-15_000)  # ccxt sends recvWindow 10000
    await venue.start()
    try:
        with pytest.raises(VenueError) as caught:
            await venue.balances()
        assert caught.value.code == -1021
        inside = make_venue(server, clock_offset_ms=-9_000)
        await inside.start()
        try:
            assert "USDT" in await inside.balances()
        finally:
            await inside.close()
    finally:
        await venue.close()


async def test_a_burst_of_5xx_is_retried_and_reported_to_the_error_trigger(
    server: BinanceSpotStandIn,
) -> None:
    from sigmax.config.settings import SafetySettings
    from sigmax.safety.enforcer import SafetyEnforcer

    enforcer = SafetyEnforcer(SafetySettings(max_api_errors=3, api_error_window_seconds=60))
    session = CcxtSession(
        "binance",
        api_key=server.api_key,
        api_secret=server.api_secret,
        api_base_url=server.base_url,
        retry=FAST_RETRY,
        clock=lambda: server.now_ms,
        on_api_error=lambda call, text: enforcer.record_api_error(server.now_ms, "binance", text),
    )
    venue = CcxtVenue(session, SYMBOLS)
    await venue.start()
    try:
        server.fail_next("/api/v3/account", FaultKind.UNAVAILABLE, count=3)
        balances = await venue.balances()  # the fourth attempt succeeds
        assert balances["USDT"] == Decimal("10000")
        assert enforcer.is_paused(server.now_ms)
        server.fail_next("/api/v3/account", FaultKind.UNAVAILABLE, count=4)
        with pytest.raises(VenueUnavailableError):
            await venue.balances()
    finally:
        await venue.close()


async def test_cancel_all_leaves_no_open_order_and_holdings_say_what_is_left(
    server: BinanceSpotStandIn, venue: CcxtVenue
) -> None:
    ledger = Ledger(Decimal("10000"))
    await venue.submit(market_buy("0.02"), server.now_ms)
    apply(ledger, await venue.on_candle("BTC/USDT", candle_at(server)))
    price = server.last_price("BTCUSDT")
    target = Order(
        client_order_id=client_order_id("d1", "target"),
        symbol="BTC/USDT",
        side=OrderSide.SELL,
        type=OrderType.TAKE_PROFIT,
        qty=Decimal("0.01"),
        price=price + Decimal("2000"),
        created_ms=0,
        oco_group="g1",
        purpose=OrderPurpose.TAKE_PROFIT,
    )
    stop = Order(
        client_order_id=client_order_id("d1", "stop"),
        symbol="BTC/USDT",
        side=OrderSide.SELL,
        type=OrderType.STOP_LOSS,
        qty=Decimal("0.01"),
        price=price - Decimal("2000"),
        created_ms=0,
        oco_group="g1",
        purpose=OrderPurpose.STOP_LOSS,
    )
    assert (await venue.submit(target, server.now_ms)).status is OrderStatus.OPEN
    assert (await venue.submit(stop, server.now_ms)).status is OrderStatus.OPEN
    # What a panic asks of the venue (the trader then sells the positions, see
    # tests/live): every open order cancelled, the exchange's cancels confirmed.
    cancelled, still_open = await venue.cancel_all()
    assert still_open == []
    assert {target.client_order_id, stop.client_order_id} <= set(cancelled)
    assert server.open_orders_now() == []
    assert venue.open_orders() == []
    now = await venue.holdings()
    assert now.open_orders == ()
    assert now.balances["BTC"] == server.total("BTC") > 0
    # The cancels reach the ledger as events, outside a candle too.
    events = await venue.catch_up("BTC/USDT")
    ended = [(e.order.client_order_id, e.status) for e in events]
    assert (target.client_order_id, OrderStatus.CANCELLED) in ended
    assert (stop.client_order_id, OrderStatus.CANCELLED) in ended
    apply(ledger, events)
    assert ledger.position("BTC/USDT").qty == server.total("BTC")


async def test_reconciliation_matches_then_a_balance_changed_behind_sigmax_pauses(
    server: BinanceSpotStandIn, venue: CcxtVenue
) -> None:
    from sigmax.config.settings import SafetySettings
    from sigmax.execution.reconcile import pause_on_mismatch, reconcile
    from sigmax.safety.enforcer import SafetyEnforcer

    start = server.now_ms
    ledger = Ledger(Decimal("10000"))
    await venue.submit(market_buy("0.01"), server.now_ms)
    apply(ledger, await venue.on_candle("BTC/USDT", candle_at(server)))
    clean = await reconcile(venue, ledger, since_ms=start, at_ms=server.now_ms)
    assert clean.ok, clean.summary()
    assert clean.fills_checked == 1
    enforcer = SafetyEnforcer(SafetySettings())
    assert pause_on_mismatch(clean, enforcer) is None

    server.set_balance("USDT", server.free["USDT"] - Decimal("25"))  # withdrawn by hand
    report = await reconcile(venue, ledger, since_ms=start, at_ms=server.now_ms)
    assert [(m.kind, m.subject) for m in report.mismatches] == [("balance", "USDT")]
    assert report.mismatches[0].exchange == str(ledger.cash - 25)
    assert "difference -25" in report.summary()
    assert pause_on_mismatch(report, enforcer) is not None
    assert enforcer.is_paused(server.now_ms)
    assert '"kind": "balance"' in report.to_json()


async def test_reconciliation_names_an_order_and_a_trade_made_behind_sigmax(
    server: BinanceSpotStandIn, venue: CcxtVenue
) -> None:
    from sigmax.execution.reconcile import reconcile

    start = server.now_ms
    ledger = Ledger(Decimal("10000"))
    outsider = make_venue(server)  # the same account, used by someone else
    await outsider.start()
    try:
        await outsider.submit(market_buy("0.01", decision="by-hand"), server.now_ms)
        price = server.last_price("BTCUSDT")
        resting = Order(
            client_order_id="by-hand-limit",
            symbol="BTC/USDT",
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            qty=Decimal("0.001"),
            price=price - Decimal("3000"),
            created_ms=0,
            purpose=OrderPurpose.MANUAL,
        )
        await outsider.submit(resting, server.now_ms)
    finally:
        await outsider.close()
    report = await reconcile(venue, ledger, since_ms=start, at_ms=server.now_ms)
    kinds = sorted(m.kind for m in report.mismatches)
    assert kinds == ["balance", "balance", "unknown_open_order", "unrecorded_fill"]
    assert any(m.subject == "by-hand-limit" for m in report.mismatches)


async def test_a_triggered_stop_cancels_its_target_and_sells_under_its_own_id(
    server: BinanceSpotStandIn, venue: CcxtVenue
) -> None:
    ledger = Ledger(Decimal("10000"))
    await venue.submit(market_buy("0.02"), server.now_ms)
    apply(ledger, await venue.on_candle("BTC/USDT", candle_at(server)))
    held = ledger.position("BTC/USDT").qty  # 0.01998 after the fee in BTC
    price = server.last_price("BTCUSDT")
    server.advance()
    low = Decimal(repr(candle_at(server).low))
    server.now_ms -= HOUR_MS
    target = Order(client_order_id="sgx-target-1", symbol="BTC/USDT", side=OrderSide.SELL,
                   type=OrderType.TAKE_PROFIT, qty=Decimal("0.01998"),
                   price=price + Decimal("3000"), created_ms=0, oco_group="g",
                   purpose=OrderPurpose.TAKE_PROFIT)  # fmt: skip
    stop = Order(client_order_id="sgx-stop-1", symbol="BTC/USDT", side=OrderSide.SELL,
                 type=OrderType.STOP_LOSS, qty=Decimal("0.01998"),
                 price=low.quantize(Decimal("0.01")) + Decimal("0.01"), created_ms=0,
                 oco_group="g", purpose=OrderPurpose.STOP_LOSS)  # fmt: skip
    assert held == Decimal("0.01998")
    assert (await venue.submit(target, server.now_ms)).status is OrderStatus.OPEN
    assert (await venue.submit(stop, server.now_ms)).status is OrderStatus.OPEN
    server.advance()  # the candle whose low reaches the stop
    events = await venue.on_candle("BTC/USDT", candle_at(server))
    assert (events[0].order.client_order_id, events[0].status) == (
        "sgx-target-1",
        OrderStatus.CANCELLED,
    )
    fills = [e.fill for e in events if e.fill is not None]
    assert [f.client_order_id for f in fills] == ["sgx-stop-1"]
    apply(ledger, events)
    assert ledger.position("BTC/USDT").qty == 0 == server.total("BTC")
    assert ledger.cash == server.total("USDT")
    assert server.open_orders_now() == []
    assert venue.open_orders() == []


@pytest.mark.parametrize(("max_delay_s", "placed"), [(2.0, True), (0.05, False)])
async def test_a_rate_limited_order_call_waits_for_retry_after_or_gives_up(
    server: BinanceSpotStandIn, max_delay_s: float, placed: bool
) -> None:
    import time

    session = CcxtSession(
        "binance",
        api_key=server.api_key,
        api_secret=server.api_secret,
        api_base_url=server.base_url,
        retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=max_delay_s),
        clock=lambda: server.now_ms,
    )
    venue = CcxtVenue(session, SYMBOLS)
    await venue.start()
    try:
        server.fail_next("/api/v3/order", FaultKind.RATE_LIMITED, count=1, retry_after_s=1)
        order = market_buy("0.01")
        started = time.monotonic()
        if placed:
            assert (await venue.submit(order, server.now_ms)).status is OrderStatus.OPEN
            assert time.monotonic() - started >= 1.0
        else:
            with pytest.raises(VenueUnavailableError, match="wait 1 s"):
                await venue.submit(order, server.now_ms)
    finally:
        await venue.close()
    assert len(server.order_by_client_id(order.client_order_id)) == (1 if placed else 0)
