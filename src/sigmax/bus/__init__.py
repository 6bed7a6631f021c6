"""The event bus: the engine publishes what happens; the API, Telegram and metrics subscribe.

Two implementations of one :class:`EventBus` protocol: :class:`InProcessBus` (the default,
asyncio fan-out in one process) and :class:`NatsJetStreamBus` (used when ``NATS_URL`` is set,
shared between processes through a JetStream stream). :func:`bus_from_settings` picks one.
Publishing never waits for a subscriber: each subscriber has a bounded queue that drops its
oldest events when full and counts them (:attr:`Subscription.dropped`).

Names are imported from their module when first used (PEP 562): a process that only needs the
protocol or the in-process bus, a backtest among them, does not import the NATS client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigmax.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sigmax.bus.errors import (
        BusConfigError,
        BusConnectionError,
        BusError,
        BusOverflowError,
        BusStateError,
        EventError,
        EventFormatError,
        EventPayloadError,
    )
    from sigmax.bus.events import WIRE_VERSION, Event, EventType, new_event_id
    from sigmax.bus.factory import bus_from_settings
    from sigmax.bus.jetstream import NatsJetStreamBus, redact_nats_url
    from sigmax.bus.memory import InProcessBus
    from sigmax.bus.protocol import EventBus
    from sigmax.bus.subscription import DEFAULT_MAX_QUEUE, Subscription

_HOMES = {
    "BusConfigError": "errors",
    "BusConnectionError": "errors",
    "BusError": "errors",
    "BusOverflowError": "errors",
    "BusStateError": "errors",
    "EventError": "errors",
    "EventFormatError": "errors",
    "EventPayloadError": "errors",
    "WIRE_VERSION": "events",
    "Event": "events",
    "EventType": "events",
    "new_event_id": "events",
    "bus_from_settings": "factory",
    "NatsJetStreamBus": "jetstream",
    "redact_nats_url": "jetstream",
    "InProcessBus": "memory",
    "EventBus": "protocol",
    "DEFAULT_MAX_QUEUE": "subscription",
    "Subscription": "subscription",
}


__all__ = [
    "DEFAULT_MAX_QUEUE",
    "WIRE_VERSION",
    "BusConfigError",
    "BusConnectionError",
    "BusError",
    "BusOverflowError",
    "BusStateError",
    "Event",
    "EventBus",
    "EventError",
    "EventFormatError",
    "EventPayloadError",
    "EventType",
    "InProcessBus",
    "NatsJetStreamBus",
    "Subscription",
    "bus_from_settings",
    "new_event_id",
    "redact_nats_url",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
