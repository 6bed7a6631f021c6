"""Event bus errors, all :class:`BusError` so callers can catch one type.

Messages never contain credentials: NATS URLs are shown with the user, password or token
replaced by ``***`` and client messages are scrubbed before they are wrapped.
"""

from __future__ import annotations

from sigmax.errors import InputError, SigmaxError


class BusError(SigmaxError):
    """Base of the event bus errors."""


class BusConnectionError(BusError):
    """The message server could not be reached, refused the credentials or dropped a request."""


class BusStateError(BusError):
    """The bus was used before ``start()`` or after ``close()``."""


class BusOverflowError(BusError):
    """An awaited publish was dropped because the outgoing queue was full.

    Only the NATS bus has an outgoing queue; it drops its oldest entries so the engine is never
    held up by a slow or unreachable server.
    """


class EventError(BusError, InputError):
    """An event cannot be built or read. ``field`` names the offending part.

    ``field`` is a path such as ``payload['fills'][2]['price']``, ``type`` or ``v``.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class EventPayloadError(EventError):
    """A payload value is not JSON-ready (NaN, Decimal, bytes, a non-text key, ...)."""


class EventFormatError(EventError):
    """Serialised event text is malformed or has an unknown version or event type."""


class BusConfigError(BusError, InputError):
    """A bus or subscription was given an invalid parameter (URL, stream name, queue size...)."""
