"""Throughput of the event bus: ``python -m sigmax.bus.bench [NATS_URL]``.

Prints one JSON object. For each bus: how fast the publisher hands events over
(``publish_per_s``: what the engine's loop pays) and how fast they reach one subscriber
(``delivered_per_s``: from the first publish until the subscriber has read the last event).
The NATS run uses a throw-away stream that it deletes afterwards. Building the events is timed
apart (``build_per_s``) because the engine pays it once whichever bus is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid

import nats
import nats.js.errors

from sigmax.bus.events import Event, EventType
from sigmax.bus.jetstream import NatsJetStreamBus
from sigmax.bus.memory import InProcessBus
from sigmax.bus.protocol import EventBus


def _payload(i: int) -> dict[str, object]:
    # About the size of a fill event: symbol, side, exact quantities as text, a few numbers.
    return {
        "symbol": "BTC/USDT",
        "side": "buy",
        "qty": "0.00020000",
        "price": "43012.55",
        "fee": "0.00860251",
        "order_id": f"ord-{i}",
        "slippage_pct": 0.012,
        "n": i,
    }


def build_events(count: int) -> tuple[list[Event], float]:
    started = time.perf_counter()
    events = [Event(EventType.FILL, i, _payload(i), id=f"bench-{i}") for i in range(count)]
    return events, time.perf_counter() - started


async def measure(bus: EventBus, events: list[Event]) -> dict[str, float]:
    """Publish ``events`` without waiting while one subscriber reads them all."""
    count = len(events)
    subscription = bus.subscribe(max_queue=count + 1, name="bench")
    await subscription.ready()

    async def read_all() -> None:
        seen = 0
        async for _ in subscription:
            seen += 1
            if seen == count:
                return

    reader = asyncio.create_task(read_all())
    started = time.perf_counter()
    for i, event in enumerate(events):
        bus.publish_nowait(event)
        if i % 1000 == 999:
            # An engine yields to the loop between candles; so does this publisher.
            await asyncio.sleep(0)
    handed_over = time.perf_counter() - started
    await asyncio.wait_for(reader, timeout=120)
    delivered = time.perf_counter() - started
    await subscription.close()
    return {
        "events": count,
        "publish_per_s": round(count / handed_over),
        "delivered_per_s": round(count / delivered),
        "dropped": subscription.dropped,
    }


async def measure_awaited(bus: EventBus, events: list[Event]) -> dict[str, float]:
    """``await publish`` one event at a time: each waits for the bus to take it."""
    started = time.perf_counter()
    for event in events:
        await bus.publish(event)
    elapsed = time.perf_counter() - started
    return {"events": len(events), "awaited_publish_per_s": round(len(events) / elapsed)}


async def run(nats_url: str | None, count: int) -> dict[str, object]:
    events, build_seconds = build_events(count)
    result: dict[str, object] = {"build_per_s": round(count / build_seconds)}
    async with InProcessBus() as memory_bus:
        result["in_process"] = await measure(memory_bus, events)
    if nats_url is not None:
        stream = f"SIGMAX_BENCH_{uuid.uuid4().hex[:8]}"
        prefix = f"sigmax.bench.{stream.lower()}"
        try:
            # The outgoing queue must hold the whole burst: with the default bound (10,000) a
            # publisher this much faster than the network drops the oldest, as designed.
            nats_bus = NatsJetStreamBus(nats_url, stream, prefix, max_outgoing=count + 1)
            async with nats_bus:
                result["nats"] = await measure(nats_bus, events)
                awaited = [
                    Event(EventType.FILL, i, _payload(i), id=f"awaited-{i}")
                    for i in range(min(count, 2000))
                ]
                result["nats_awaited"] = await measure_awaited(nats_bus, awaited)
        finally:
            nc = await nats.connect(nats_url)
            # Missing when the bus could not start; nothing to clean up then.
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await nc.jetstream().delete_stream(stream)
            await nc.close()
    return result


def main() -> None:
    nats_url = sys.argv[1] if len(sys.argv) > 1 else None
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    print(json.dumps(asyncio.run(run(nats_url, count))))


if __name__ == "__main__":
    main()
