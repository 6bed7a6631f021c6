"""Token buckets, and a bound on request bodies.

:class:`RateLimiter` keeps a token bucket per key (a client address, the API token, or one
key for everyone): ``burst`` requests at once, then ``rate`` per second. Which requests are
charged to which bucket is decided in :mod:`sigmax.api.access`. :class:`BodySizeLimit`
answers 413 to a body over the limit before any route parses it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sigmax.api.errors import error_response
from sigmax.api.schemas import ErrorDetail

#: Request bodies larger than this are refused (the API's bodies are a few dozen bytes).
DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024
#: Clients whose buckets are remembered; the longest idle is forgotten first (a forgotten
#: client starts with a full bucket, which is what it would have after idling anyway).
MAX_TRACKED_CLIENTS: Final = 10_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` requests per second on average, ``burst`` at once."""

    rate: float = 10.0
    burst: int = 20

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1 (got {self.rate}, {self.burst})")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by key; safe to call from several threads."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def limit(self) -> RateLimit:
        return self._limit

    def take(self, client: str) -> float:
        """Spend one token of ``client``; 0.0 when allowed, else the seconds until one is due."""
        now = self._clock()
        rate, burst = self._limit.rate, float(self._limit.burst)
        with self._lock:
            bucket = self._buckets.pop(client, None) or _Bucket(burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
            self._buckets[client] = bucket
            while len(self._buckets) > MAX_TRACKED_CLIENTS:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate


class BodySizeLimit:
    """ASGI middleware: a request body over ``max_bytes`` is answered 413 unread.

    A declared ``Content-Length`` over the limit is refused at once; a body without one
    (chunked) is read up to the limit and refused when it goes over, so no route ever sees a
    body larger than the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._max_bytes:
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self._max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self._app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = ErrorDetail(
            field="body",
            rule="max_body_bytes",
            message=f"the request body is larger than {self._max_bytes} bytes",
        )
        await error_response(413, detail)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
