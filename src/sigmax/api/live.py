"""``/api/ws``: the engine's events, live, over a WebSocket.

A client connects, authenticates, and receives each event as its JSON wire form
(:meth:`~sigmax.bus.Event.to_json`), one message per event::

    {"v": 1, "id": "...", "type": "fill", "at_ms": 1700000000000, "payload": {...}}

Authentication is the API's bearer token, always (the stream shows every decision and fill):
either an ``Authorization: Bearer <token>`` header on the handshake, or, for clients that
cannot set headers (browsers), a first message ``{"token": "<token>"}`` within
:data:`AUTH_TIMEOUT_S`. A token in the URL is refused: query strings end up in access logs.

``?types=fill,decision`` narrows the stream to those event types. Besides events the server
sends messages without a ``v`` field:

* ``{"type": "subscribed", "types": [...] | null}`` once the stream is live (null: all types);
* ``{"type": "dropped", "count": n, "total": t}`` before the next event when the client fell
  behind and its queue (:data:`~sigmax.bus.DEFAULT_MAX_QUEUE` events) dropped the oldest ``n``
  events (``t`` since it connected): a slow client never slows the engine, it misses events;
* ``{"type": "heartbeat"}`` after :data:`HEARTBEAT_S` without a message, so a client can tell
  a quiet engine from a dead connection (uvicorn also pings at the protocol level).

The connection is closed with a code and a reason (never the token) when it cannot go on:
:data:`CLOSE_POLICY_VIOLATION` (1008) for a missing, wrong or late token or an unknown event
type, :data:`CLOSE_TRY_AGAIN_LATER` (1013) for too many connection attempts,
:data:`CLOSE_NO_EVENT_STREAM` (4404) when the process has no event stream (``sigmax serve``:
events come from the engine's process, ``sigmax run``), :data:`CLOSE_GOING_AWAY` (1001) when
the event stream ends and :data:`CLOSE_INTERNAL_ERROR` (1011) when it cannot be set up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Final

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected

from sigmax.api.access import AccessBudgets
from sigmax.api.auth import Caller, identify
from sigmax.api.errors import ApiError
from sigmax.bus import BusError, Event, EventBus, EventType, Subscription
from sigmax.bus.subscription import DEFAULT_MAX_QUEUE, normalise_types

log = logging.getLogger("sigmax.api")

#: Seconds a client without an ``Authorization`` header has to send ``{"token": ...}``.
AUTH_TIMEOUT_S: Final = 5.0
#: Seconds without a message after which the server sends a heartbeat.
HEARTBEAT_S: Final = 20.0
#: Longest first message read as a token message (a token is a few dozen characters).
MAX_AUTH_MESSAGE_CHARS: Final = 1024

CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_INTERNAL_ERROR: Final = 1011
CLOSE_TRY_AGAIN_LATER: Final = 1013
#: Application-defined (4000-4999): there is no event stream to subscribe to here.
CLOSE_NO_EVENT_STREAM: Final = 4404

#: The WebSocket protocol limits a close reason to 123 bytes of UTF-8.
_MAX_REASON_BYTES: Final = 123
_AUTH_HINT: Final = (
    'send "Authorization: Bearer <token>" or {"token": "<token>"} as the first message'
)
_WRONG_TOKEN: Final = "the token is not the SIGMAX API token"
_NO_STREAM: Final = "no event stream in this process: connect to the API of 'sigmax run'"


class _CloseError(Exception):
    """The connection must be closed with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def close_reason(text: str) -> str:
    """``text`` cut to what a close frame can carry, on a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= _MAX_REASON_BYTES:
        return text
    return data[: _MAX_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


def _client_name(websocket: WebSocket) -> str:
    client = websocket.client
    return "unknown client" if client is None else f"{client.host}:{client.port}"


def live_router(
    bus: EventBus | None,
    budgets: AccessBudgets,
    mask: Callable[[str], str],
    *,
    auth_timeout_s: float = AUTH_TIMEOUT_S,
    heartbeat_s: float = HEARTBEAT_S,
    max_queue: int = DEFAULT_MAX_QUEUE,
) -> APIRouter:
    """``/api/ws`` over ``bus`` (None: the route says there is no event stream).

    Handshakes are charged to ``budgets`` as HTTP requests are: with the right token in the
    header to the token's budget, without a header to the anonymous one, with a wrong token
    (in the header or the first message) to the failed-token one. ``mask`` scrubs secrets
    from close reasons that quote the client's input.
    """
    router = APIRouter()

    @router.websocket("/api/ws")
    async def events(websocket: WebSocket) -> None:
        # Accept first: a refusal before accepting is a bare HTTP 403, and the client would
        # never see the close code and reason that tell it what to fix.
        await websocket.accept()
        name = _client_name(websocket)
        address = websocket.client.host if websocket.client else "unknown"
        try:
            caller = identify(budgets.token, websocket.headers.get("authorization"))
            if caller is Caller.OPERATOR:
                _refuse_if_over(budgets.charge_operator())
            else:
                _refuse_if_over(budgets.charge_stranger(caller, address, needs_token=True))
            if bus is None:
                raise _CloseError(CLOSE_NO_EVENT_STREAM, _NO_STREAM)
            await _authenticate(websocket, budgets, address, auth_timeout_s)
            types = _types_param(websocket, mask)
            subscription = bus.subscribe(types, max_queue=max_queue, name=f"websocket {name}")
            try:
                await subscription.ready()
            except BusError as error:
                await subscription.close()
                log.error("websocket %s: the event stream cannot be set up: %s", name, error)
                raise _CloseError(
                    CLOSE_INTERNAL_ERROR, "the event stream cannot be set up; see the SIGMAX log"
                ) from None
            await _stream(websocket, subscription, types, heartbeat_s, name)
        except _CloseError as closed:
            if closed.code == CLOSE_POLICY_VIOLATION:
                log.info("websocket %s refused: %s", name, closed.reason)
            with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected):
                await websocket.close(closed.code, close_reason(closed.reason))
        except (WebSocketDisconnect, WebSocketDisconnected):
            # The client left while being written to: nothing to close, nothing to report.
            pass

    return router


def _refuse_if_over(refused: ApiError | None) -> None:
    """Close with 1013 (try again later) when the handshake is over its budget."""
    if refused is not None:
        wait_s = float(refused.headers.get("Retry-After", "1"))
        raise _CloseError(
            CLOSE_TRY_AGAIN_LATER,
            f"too many connection attempts; retry in {math.ceil(wait_s)} s",
        )


async def _authenticate(
    websocket: WebSocket, budgets: AccessBudgets, address: str, timeout_s: float
) -> None:
    """Return when the client proved it has the token; otherwise raise :class:`_CloseError`."""
    token = budgets.token
    if "token" in websocket.query_params:
        raise _CloseError(
            CLOSE_POLICY_VIOLATION,
            "a token in the URL is refused (URLs are logged); " + _AUTH_HINT,
        )
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise _CloseError(
                CLOSE_POLICY_VIOLATION, "the Authorization header must be 'Bearer <token>'"
            )
        if not token.matches(credentials.strip()):
            raise _CloseError(CLOSE_POLICY_VIOLATION, _WRONG_TOKEN)
        return
    try:
        message = await asyncio.wait_for(websocket.receive(), timeout_s)
    except TimeoutError:
        raise _CloseError(
            CLOSE_POLICY_VIOLATION, f"no token within {timeout_s:g} s; " + _AUTH_HINT
        ) from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(int(message.get("code", 1000)))
    candidate = _token_message(message.get("text"))
    if candidate is None:
        raise _CloseError(CLOSE_POLICY_VIOLATION, 'the first message must be {"token": "<token>"}')
    if not token.matches(candidate):
        # A wrong token in the first message is a failed attempt like one in a header.
        _refuse_if_over(budgets.charge_stranger(Caller.WRONG_TOKEN, address, needs_token=True))
        raise _CloseError(CLOSE_POLICY_VIOLATION, _WRONG_TOKEN)


def _token_message(text: object) -> str | None:
    """The token of a ``{"token": "..."}`` text message, or None for anything else."""
    if not isinstance(text, str) or len(text) > MAX_AUTH_MESSAGE_CHARS:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) != {"token"} or not isinstance(data["token"], str):
        return None
    return data["token"].strip()


def _types_param(websocket: WebSocket, mask: Callable[[str], str]) -> frozenset[EventType] | None:
    raw = websocket.query_params.get("types")
    if raw is None:
        return None
    wanted = [part.strip() for part in raw.split(",") if part.strip()]
    try:
        return normalise_types(wanted)
    except BusError as error:
        raise _CloseError(CLOSE_POLICY_VIOLATION, mask(str(error))) from None


async def _next_event(subscription: Subscription) -> Event | None:
    """The next event, or None once the subscription has ended (the bus closed)."""
    try:
        return await anext(subscription)
    except StopAsyncIteration:
        return None


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it leaves: how a departure is noticed
    while no event is being written."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


def _discard(task: asyncio.Future[Any]) -> None:
    """Cancel ``task``, or retrieve its outcome if it ended, so nothing is reported lost.

    Not awaited: awaiting here could swallow a cancellation of the handler itself."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


async def _stream(
    websocket: WebSocket,
    subscription: Subscription,
    types: frozenset[EventType] | None,
    heartbeat_s: float,
    name: str,
) -> None:
    shown = None if types is None else sorted(t.value for t in types)
    sent = 0
    try:
        await websocket.send_text(json.dumps({"type": "subscribed", "types": shown}))
        log.info("websocket %s subscribed to %s events", name, "all" if shown is None else shown)
        client_gone = asyncio.ensure_future(_until_disconnect(websocket))
        waiting: asyncio.Future[Event | None] | None = None
        reported = 0
        last_sent = time.monotonic()
        try:
            while not client_gone.done():
                if waiting is None and subscription.pending:
                    # Queued already: returns without waiting, no task needed.
                    event = await _next_event(subscription)
                else:
                    if waiting is None:
                        waiting = asyncio.ensure_future(_next_event(subscription))
                    timeout = max(0.0, last_sent + heartbeat_s - time.monotonic())
                    watched: set[asyncio.Future[Any]] = {waiting, client_gone}
                    done, _ = await asyncio.wait(
                        watched, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    if client_gone in done:
                        break
                    if waiting not in done:
                        await websocket.send_text('{"type":"heartbeat"}')
                        last_sent = time.monotonic()
                        continue
                    event, waiting = waiting.result(), None
                if event is None:
                    raise _CloseError(CLOSE_GOING_AWAY, "the event stream ended: SIGMAX stops")
                dropped = subscription.dropped
                if dropped > reported:
                    await websocket.send_text(
                        json.dumps(
                            {"type": "dropped", "count": dropped - reported, "total": dropped}
                        )
                    )
                    reported = dropped
                await websocket.send_text(event.to_json())
                sent += 1
                last_sent = time.monotonic()
        finally:
            _discard(client_gone)
            if waiting is not None:
                _discard(waiting)
    finally:
        await subscription.close()
        log.info(
            "websocket %s unsubscribed after %d events (%d dropped)",
            name,
            sent,
            subscription.dropped,
        )
