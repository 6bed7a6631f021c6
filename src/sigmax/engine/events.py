"""What the engine tells the event bus, after each commit.

Events are published only once their step is committed, so an observer never hears of a fill
the database does not hold. Ids derive from what they describe (decision id, client order id
and status, fill sequence), so a step redone after a crash publishes the same ids and a bus that
de-duplicates (NATS JetStream) stores them once. Money travels as exact decimal text.
"""

from __future__ import annotations

from collections.abc import Iterator

from sigmax.bus import Event, EventBus, EventType
from sigmax.domain.candles import ms_to_iso
from sigmax.engine.run_store import StepWrite
from sigmax.storage.models import SafetyEventKind

_SAFETY_TYPES = {
    SafetyEventKind.PAUSE: EventType.PAUSE,
    SafetyEventKind.TRIGGER: EventType.PAUSE,
    SafetyEventKind.RESUME: EventType.RESUME,
    SafetyEventKind.FORCE_RESUME: EventType.RESUME,
    SafetyEventKind.PANIC: EventType.PANIC,
}


def step_events(run_id: str, write: StepWrite) -> Iterator[Event]:
    """The events of one committed write, in the order things happened within it."""
    for record in write.decisions:
        yield Event(
            EventType.DECISION,
            record.timestamp_ms,
            {
                "run_id": run_id,
                "id": record.id,
                "symbol": record.symbol,
                "decision": record.decision.value,
                "confidence": round(record.confidence, 6),
                "score": round(record.score, 6),
                "size_usd": round(record.size_usd, 2),
                "price": record.price,
                # How long the decision took and what data it saw: the metrics' latency
                # histogram and a dashboard's staleness check read them.
                "latency_ms": round(record.latency_ms, 4),
                "data_until": ms_to_iso(record.data_until_ms),
            },
            id=f"decision-{record.id}",
        )
    for update in write.orders:
        order = update.order
        yield Event(
            EventType.ORDER,
            order.created_ms,
            {
                "run_id": run_id,
                "client_order_id": order.client_order_id,
                "decision_id": order.decision_id,
                "symbol": order.symbol,
                "side": order.side.value,
                "type": order.type.value,
                "qty": str(order.qty),
                "price": None if order.price is None else str(order.price),
                "status": update.status.value,
                "reason": update.reason,
            },
            id=f"order-{order.client_order_id}-{update.status.value}",
        )
    for item in write.fills:
        fill = item.fill
        yield Event(
            EventType.FILL,
            fill.timestamp_ms,
            {
                "run_id": run_id,
                "client_order_id": fill.client_order_id,
                "decision_id": item.decision_id,
                "symbol": fill.symbol,
                "side": fill.side.value,
                "qty": str(fill.qty),
                "price": str(fill.price),
                "fee": str(fill.fee),
                "realized_pnl": str(item.realized_pnl),
            },
            id=f"fill-{fill.client_order_id}-{fill.sequence}",
        )
    for number, event in enumerate(write.safety_events):
        kind = _SAFETY_TYPES.get(event.kind, EventType.SAFETY)
        payload = {
            "run_id": run_id,
            "kind": event.kind.value,
            "trigger": event.trigger,
            "reason": event.reason,
            # The figures behind it (a trigger's value and threshold), for the bot's wording.
            "details": dict(event.details),
        }
        yield Event(kind, event.at_ms, payload, id=f"safety-{run_id[:12]}-{event.at_ms}-{number}")
        if event.kind is SafetyEventKind.PANIC:
            yield Event(
                EventType.ALERT,
                event.at_ms,
                {**payload, "message": f"PANIC: {event.reason}"},
                id=f"alert-{run_id[:12]}-{event.at_ms}-{number}",
            )
    if write.equity:
        point = write.equity[-1]
        yield Event(
            EventType.EQUITY,
            point.taken_at_ms,
            {
                "run_id": run_id,
                "cash": str(point.cash),
                "equity": str(point.equity),
                "realized_pnl": str(point.realized_pnl),
                "unrealized_pnl": str(point.unrealized_pnl),
                "fees": str(point.fees),
                "daily_pnl": str(point.daily_pnl),
            },
            id=f"equity-{run_id[:12]}-{point.taken_at_ms}",
        )


def publish_step(bus: EventBus, run_id: str, write: StepWrite) -> None:
    """Hand a committed write's events to the bus without waiting for anyone."""
    for event in step_events(run_id, write):
        bus.publish_nowait(event)
