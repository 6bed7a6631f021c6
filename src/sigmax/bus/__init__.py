"""The event bus: the engine publishes what happens; the API, Telegram and metrics subscribe.

Two implementations of one :class:`EventBus` protocol: :class:`InProcessBus` (the default,
asyncio fan-out in one process) and :class:`NatsJetStreamBus` (used when ``NATS_URL`` is set,
shared between processes through a JetStream stream). :func:`bus_from_settings` picks one.
Publishing never waits for a subscriber: each subscriber has a bounded queue that drops its
oldest events when full and counts them (:attr:`Subscription.dropped`).
"""

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
