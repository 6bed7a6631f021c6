"""Choosing the event bus from the configuration."""

from __future__ import annotations

from sigmax.bus.jetstream import NatsJetStreamBus
from sigmax.bus.memory import InProcessBus
from sigmax.bus.protocol import EventBus
from sigmax.config.settings import Settings


def bus_from_settings(settings: Settings) -> EventBus:
    """NATS JetStream when ``services.nats_url`` (``NATS_URL``) is set, in process otherwise.

    The bus is not started: ``await bus.start()`` (or ``async with bus:``) connects, and fails
    with :class:`~sigmax.bus.BusConnectionError` when NATS cannot be reached, rather than
    quietly falling back to an in-process bus that other processes cannot see.
    """
    nats_url = settings.services.nats_url
    if nats_url is None:
        return InProcessBus()
    return NatsJetStreamBus(nats_url.get_secret_value())
