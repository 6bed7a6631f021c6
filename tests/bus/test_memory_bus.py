"""The in-process bus: fan-out, filters, bounded queues that drop the oldest, lifecycle."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sigmax.bus import (
    BusConfigError,
    BusStateError,
    Event,
    EventError,
    EventType,
    InProcessBus,
    Subscription,
)


def _events(count: int, kind: EventType = EventType.EQUITY, start: int = 0) -> list[Event]:
    return [
        Event(kind, start + i, {"n": start + i}, id=f"{kind}-{start + i}") for i in range(count)
    ]


async def _take(subscription: Subscription, count: int) -> list[Event]:
    taken: list[Event] = []
    async with asyncio.timeout(5):
        async for event in subscription:
            taken.append(event)
            if len(taken) == count:
                break
    return taken


async def test_every_subscriber_gets_every_event_in_order() -> None:
    async with InProcessBus() as bus:
        first = bus.subscribe(name="websocket")
        second = bus.subscribe(name="telegram")
        sent = _events(5)
        for event in sent:
            await bus.publish(event)
        assert await _take(first, 5) == sent
        assert await _take(second, 5) == sent
        assert bus.published == 5


async def test_a_waiting_subscriber_is_woken_by_a_publish() -> None:
    async with InProcessBus() as bus, bus.subscribe() as subscription:
        reader = asyncio.create_task(_take(subscription, 2))
        await asyncio.sleep(0)  # the reader is now parked on an empty queue
        sent = _events(2)
        for event in sent:
            bus.publish_nowait(event)
        assert await reader == sent


async def test_subscribers_see_only_their_types() -> None:
    async with InProcessBus() as bus:
        fills = bus.subscribe({EventType.FILL})
        trading = bus.subscribe([EventType.ORDER, "fill"])
        single = bus.subscribe("pause")
        everything = bus.subscribe(None)
        mixed = [
            Event(EventType.DECISION, 1, id="d"),
            Event(EventType.ORDER, 2, id="o"),
            Event(EventType.FILL, 3, id="f"),
            Event(EventType.PAUSE, 4, id="p"),
            Event(EventType.FILL, 5, id="f2"),
        ]
        for event in mixed:
            bus.publish_nowait(event)
        assert [e.id for e in await _take(fills, 2)] == ["f", "f2"]
        assert [e.id for e in await _take(trading, 3)] == ["o", "f", "f2"]
        assert [e.id for e in await _take(single, 1)] == ["p"]
        assert await _take(everything, 5) == mixed
        assert (fills.pending, trading.pending, single.pending) == (0, 0, 0)


async def test_a_full_queue_drops_the_oldest_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sigmax.bus")
    async with InProcessBus() as bus:
        slow = bus.subscribe(max_queue=3, name="slow-dashboard")
        sent = _events(10)
        for event in sent:
            bus.publish_nowait(event)
        assert slow.dropped == 7
        assert slow.pending == 3
        assert await _take(slow, 3) == sent[-3:]

        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # one line per burst, not one per dropped event
        assert "'slow-dashboard' cannot keep up" in warnings[0].getMessage()
        caught_up = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
        assert caught_up == ["event subscriber 'slow-dashboard' caught up after dropping 7 events"]

        # A second burst after catching up is reported again, and the count keeps growing.
        for event in _events(5, start=10):
            bus.publish_nowait(event)
        assert slow.dropped == 9
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
        assert [e.at_ms for e in await _take(slow, 3)] == [12, 13, 14]


async def test_a_stuck_subscriber_never_blocks_the_publisher() -> None:
    async with InProcessBus() as bus:
        stuck = bus.subscribe(max_queue=1000, name="stuck")  # never read
        live = bus.subscribe(max_queue=20_000)
        sent = _events(10_000)
        # Synchronous publishing: if a publish needed the subscriber, this could not finish.
        for event in sent[:5000]:
            bus.publish_nowait(event)
        for event in sent[5000:]:
            await bus.publish(event)
        assert bus.published == 10_000
        assert stuck.dropped == 9000
        assert stuck.pending == 1000
        assert live.dropped == 0
        assert await _take(live, 10_000) == sent
        assert await _take(stuck, 1000) == sent[-1000:]


async def test_closing_the_bus_delivers_what_is_queued_then_ends() -> None:
    bus = InProcessBus()
    await bus.start()
    subscription = bus.subscribe()
    sent = _events(3)
    for event in sent:
        bus.publish_nowait(event)
    await bus.close()
    received = [event async for event in subscription]
    assert received == sent
    await bus.close()  # idempotent


async def test_closing_a_subscription_stops_it_and_detaches_it() -> None:
    async with InProcessBus() as bus:
        subscription = bus.subscribe()
        other = bus.subscribe()
        bus.publish_nowait(_events(1)[0])
        reader = asyncio.create_task(_take(other, 2))
        await subscription.close()
        assert subscription.closed
        assert subscription.pending == 0
        assert [event async for event in subscription] == []
        assert bus.subscriptions == (other,)
        bus.publish_nowait(_events(1, start=1)[0])
        assert [e.at_ms for e in await reader] == [0, 1]
        await subscription.close()  # idempotent


async def test_async_with_subscription_closes_it() -> None:
    async with InProcessBus() as bus:
        async with bus.subscribe({EventType.ALERT}) as alerts:
            bus.publish_nowait(Event(EventType.ALERT, 1, {"text": "daily loss limit"}))
            (alert,) = await _take(alerts, 1)
            assert alert.payload["text"] == "daily loss limit"
        assert alerts.closed
        assert bus.subscriptions == ()


async def test_close_wakes_a_waiting_reader() -> None:
    bus = InProcessBus()
    await bus.start()
    subscription = bus.subscribe()
    reader = asyncio.create_task(_take(subscription, 1))
    await asyncio.sleep(0)
    await bus.close()
    assert await reader == []


async def test_use_outside_start_and_close_is_refused() -> None:
    bus = InProcessBus()
    event = _events(1)[0]
    with pytest.raises(BusStateError, match="not started"):
        bus.publish_nowait(event)
    with pytest.raises(BusStateError, match="not started"):
        await bus.publish(event)
    with pytest.raises(BusStateError, match="not started"):
        bus.subscribe()
    await bus.start()
    await bus.start()  # idempotent
    await bus.close()
    with pytest.raises(BusStateError, match="closed"):
        bus.publish_nowait(event)
    with pytest.raises(BusStateError, match="closed"):
        bus.subscribe()
    with pytest.raises(BusStateError, match="closed"):
        await bus.start()


async def test_bad_subscriptions_and_events_are_typed_errors() -> None:
    async with InProcessBus() as bus:
        with pytest.raises(BusConfigError, match="max_queue"):
            bus.subscribe(max_queue=0)
        with pytest.raises(BusConfigError, match="unknown event type 'trade'"):
            bus.subscribe({"trade"})
        with pytest.raises(BusConfigError, match="at least one event type"):
            bus.subscribe(set())
        with pytest.raises(EventError, match="must be an Event, not dict"):
            bus.publish_nowait({"type": "fill"})  # type: ignore[arg-type]
        assert bus.published == 0
