"""``/api/ws``: the engine's events over a WebSocket, through a real uvicorn server.

The tests publish to an :class:`InProcessBus` the app was built with, as the engine does after
each commit, and read with the ``websockets`` client library.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.live_harness import TOKEN, Served, eventually, serve
from engine.account_runs import clean_home
from sigmax.api import AccessLimits, ApiToken, RateLimit, create_app, mask_in_logs
from sigmax.api.access import AccessBudgets
from sigmax.api.live import (
    CLOSE_GOING_AWAY,
    CLOSE_NO_EVENT_STREAM,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TRY_AGAIN_LATER,
    close_reason,
    live_router,
)
from sigmax.bus import Event, EventType, InProcessBus, Subscription
from sigmax.config import load_settings
from sigmax.config.settings import MASK
from sigmax.engine.account import AccountHome, open_account_home
from sigmax.logging_setup import configure_logging, shutdown_logging

WRONG = "wrong-token-0123456789abcdef"
#: Budgets these tests never reach (they send wrong tokens on purpose).
OPEN = AccessLimits(*(RateLimit(rate=1000, burst=1000),) * 5)


@pytest.fixture
def account(sigmax_home: Path) -> Iterator[AccountHome]:
    with open_account_home() as home:
        yield home


@pytest.fixture
async def served(account: AccountHome, bus: InProcessBus) -> AsyncIterator[Served]:
    app = create_app(
        account,
        ApiToken(TOKEN, "environment"),
        bus=bus,
        limits=OPEN,
    )
    async with serve(app) as live:
        yield live


def _fill(n: int, symbol: str = "BTC/USDT", **extra: Any) -> Event:
    payload = {"symbol": symbol, "side": "buy", "qty": "0.001", "price": "43000.5", "n": n}
    return Event(EventType.FILL, 1_700_000_000_000 + n, {**payload, **extra}, id=f"fill-{n}")


async def _message(ws: ClientConnection, timeout_s: float = 5.0) -> dict[str, Any]:
    data = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
    assert isinstance(data, dict)
    return data


async def _subscribed(ws: ClientConnection) -> dict[str, Any]:
    hello = await _message(ws)
    assert hello["type"] == "subscribed", hello
    return hello


async def _close_of(ws: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; the close code and reason it sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as closed:
        frame = closed.rcvd
        assert frame is not None, "the connection ended without a close frame"
        return frame.code, frame.reason


def _websocket_subscriptions(bus: InProcessBus) -> list[Subscription]:
    return [s for s in bus.subscriptions if s.name.startswith("websocket")]


# --- the stream ---------------------------------------------------------------------------------


async def test_a_client_receives_a_fill_published_after_it_connected(
    served: Served, bus: InProcessBus
) -> None:
    async with connect(served.ws, additional_headers=served.auth) as ws:
        assert (await _subscribed(ws))["types"] is None
        event = _fill(1)
        bus.publish_nowait(event)
        received = await _message(ws)
        assert received == event.to_dict()
        assert Event.from_dict(received) == event


async def test_the_token_may_come_as_the_first_message(served: Served, bus: InProcessBus) -> None:
    async with connect(served.ws) as ws:
        await ws.send(json.dumps({"token": TOKEN}))
        await _subscribed(ws)
        decision = Event(EventType.DECISION, 5, {"symbol": "ETH/USDT", "decision": "HOLD"})
        bus.publish_nowait(decision)
        assert await _message(ws) == decision.to_dict()


async def test_the_type_filter_passes_only_the_chosen_types(
    served: Served, bus: InProcessBus
) -> None:
    async with connect(f"{served.ws}?types=fill,%20decision", additional_headers=served.auth) as ws:
        assert (await _subscribed(ws))["types"] == ["decision", "fill"]
        published = [
            Event(EventType.EQUITY, 1, {"equity": "1000"}),
            Event(EventType.DECISION, 2, {"symbol": "BTC/USDT", "decision": "BUY"}),
            Event(EventType.ORDER, 3, {"status": "new"}),
            Event(EventType.PAUSE, 4, {"kind": "pause"}),
            _fill(5),
        ]
        for event in published:
            bus.publish_nowait(event)
        received = [await _message(ws), await _message(ws)]
        assert [r["type"] for r in received] == ["decision", "fill"]
        # Nothing else was queued: the next message is the next fill, not a skipped type.
        bus.publish_nowait(_fill(6))
        assert (await _message(ws))["id"] == "fill-6"


async def test_an_unknown_event_type_closes_with_the_known_ones(served: Served) -> None:
    async with connect(f"{served.ws}?types=fill,fills", additional_headers=served.auth) as ws:
        code, reason = await _close_of(ws)
    assert code == CLOSE_POLICY_VIOLATION
    assert "unknown event type 'fills'" in reason, reason
    assert "fill, equity" in reason, reason


async def test_a_departed_client_is_unsubscribed(served: Served, bus: InProcessBus) -> None:
    async with connect(served.ws, additional_headers=served.auth) as ws:
        await _subscribed(ws)
        assert len(_websocket_subscriptions(bus)) == 1
    await eventually(lambda: not _websocket_subscriptions(bus))
    bus.publish_nowait(_fill(1))  # nobody left to deliver to; the publisher does not notice


async def test_the_client_is_told_when_the_stream_ends(served: Served, bus: InProcessBus) -> None:
    async with connect(served.ws, additional_headers=served.auth) as ws:
        await _subscribed(ws)
        bus.publish_nowait(_fill(1))
        await bus.close()
        # What was published before the bus closed is still delivered.
        assert (await _message(ws))["id"] == "fill-1"
        code, reason = await _close_of(ws)
    assert (code, reason) == (CLOSE_GOING_AWAY, "the event stream ended: SIGMAX stops")


async def test_a_stuck_client_costs_the_engine_and_other_clients_nothing(
    served: Served, bus: InProcessBus
) -> None:
    total, pad = 2000, "x" * 32_000
    # max_queue=1: the stuck client's library stops reading the socket almost at once, so
    # the server's writes back up through the kernel buffers and its sends block. Without
    # compression the padding really takes that room.
    async with (
        connect(served.ws, additional_headers=served.auth, max_queue=1, compression=None) as stuck,
        connect(served.ws, additional_headers=served.auth, compression=None) as live,
    ):
        await _subscribed(stuck)
        await _subscribed(live)
        seen_live: list[dict[str, Any]] = []

        async def read_live() -> None:
            while True:
                message = await _message(live, 20)
                seen_live.append(message)
                if message.get("id") == f"fill-{total - 1}":
                    return

        reader = asyncio.create_task(read_live())
        slowest = 0.0
        for n in range(total):
            started = time.perf_counter()
            bus.publish_nowait(_fill(n, pad=pad))
            slowest = max(slowest, time.perf_counter() - started)
            if n % 50 == 49:
                await asyncio.sleep(0)  # an engine yields between candles
        assert slowest < 0.05, f"a publish took {slowest:.3f} s"
        await asyncio.wait_for(reader, 30)
        stuck_subscription = next(s for s in _websocket_subscriptions(bus) if s.dropped > 0)
        # The stuck client now reads everything it is sent: the events it could take and,
        # before them, how many it missed.
        events, reported = 0, 0
        while True:
            message = await _message(stuck, 20)
            if message["type"] == "dropped":
                assert message["total"] == reported + message["count"]
                reported = message["total"]
                continue
            assert message["type"] == "fill"
            events += 1
            if message["id"] == f"fill-{total - 1}":
                break
        assert reported == stuck_subscription.dropped > 0
        assert events + reported == total
    live_events = [m for m in seen_live if m["type"] == "fill"]
    assert live_events[-1]["payload"]["n"] == total - 1


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "first_message", "expected"),
    [
        ({"Authorization": f"Bearer {WRONG}"}, None, "the token is not the SIGMAX API token"),
        ({"Authorization": f"Basic {TOKEN}"}, None, "must be 'Bearer <token>'"),
        ({}, json.dumps({"token": WRONG}), "the token is not the SIGMAX API token"),
        ({}, json.dumps({"key": TOKEN}), 'the first message must be {"token": "<token>"}'),
        ({}, TOKEN, 'the first message must be {"token": "<token>"}'),
    ],
)
async def test_a_missing_or_wrong_token_closes_with_1008(
    served: Served,
    bus: InProcessBus,
    headers: dict[str, str],
    first_message: str | None,
    expected: str,
) -> None:
    async with connect(served.ws, additional_headers=headers) as ws:
        if first_message is not None:
            await ws.send(first_message)
        code, reason = await _close_of(ws)
    assert code == CLOSE_POLICY_VIOLATION
    assert expected in reason, reason
    assert TOKEN not in reason
    assert WRONG not in reason
    assert not _websocket_subscriptions(bus)


async def test_a_token_in_the_url_is_refused(served: Served) -> None:
    async with connect(f"{served.ws}?token={TOKEN}") as ws:
        code, reason = await _close_of(ws)
    assert code == CLOSE_POLICY_VIOLATION
    assert "URL" in reason
    assert TOKEN not in reason


async def _connect_every_way(served: Served, bus: InProcessBus) -> None:
    """Header and first-message authentication, right and wrong tokens."""
    async with connect(served.ws, additional_headers=served.auth) as ws:
        await _subscribed(ws)
    async with connect(served.ws) as ws:
        await ws.send(json.dumps({"token": TOKEN}))
        await _subscribed(ws)
        bus.publish_nowait(_fill(1))
        await _message(ws)
    async with connect(served.ws, additional_headers={"Authorization": f"Bearer {WRONG}"}) as ws:
        await _close_of(ws)
    async with connect(served.ws) as ws:
        await ws.send(json.dumps({"token": WRONG}))
        await _close_of(ws)
    await eventually(lambda: not _websocket_subscriptions(bus))


async def test_the_token_never_reaches_the_log(
    served: Served, bus: InProcessBus, caplog: pytest.LogCaptureFixture
) -> None:
    # INFO, SIGMAX's default: at DEBUG the websockets protocol library under uvicorn logs the
    # handshake headers and frames (the token among them); the next test shows SIGMAX's log
    # handlers mask them.
    caplog.set_level(logging.INFO)
    await _connect_every_way(served, bus)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "websocket" in logged
    assert "[accepted]" in logged
    assert TOKEN not in logged
    assert WRONG not in logged


async def test_the_token_is_masked_in_the_log_file_even_at_debug(
    served: Served, bus: InProcessBus, tmp_path: Path
) -> None:
    with clean_home(tmp_path):
        log_file = configure_logging(load_settings(), console=False, level="DEBUG")
        try:
            mask_in_logs(TOKEN)
            await _connect_every_way(served, bus)
        finally:
            shutdown_logging()
        text = log_file.read_text(encoding="utf-8")
    assert f"Bearer {MASK}" in text  # the handshake header, logged by the protocol library
    assert TOKEN not in text


async def test_connection_attempts_are_rate_limited(account: AccountHome) -> None:
    async with InProcessBus() as bus:
        app = create_app(
            account, ApiToken(TOKEN, "environment"), bus=bus, rate_limit=RateLimit(0.01, 2)
        )
        async with serve(app) as served:
            for _ in range(2):
                async with connect(served.ws, additional_headers=served.auth) as ws:
                    await _subscribed(ws)
            async with connect(served.ws, additional_headers=served.auth) as ws:
                code, reason = await _close_of(ws)
    assert code == CLOSE_TRY_AGAIN_LATER
    assert reason.startswith("too many connection attempts; retry in"), reason


async def test_without_a_bus_the_stream_says_there_is_none(account: AccountHome) -> None:
    app = create_app(account, ApiToken(TOKEN, "environment"))
    async with serve(app) as served, connect(served.ws, additional_headers=served.auth) as ws:
        code, reason = await _close_of(ws)
    assert code == CLOSE_NO_EVENT_STREAM
    assert "no event stream in this process" in reason
    assert "sigmax run" in reason


# --- timing, on the route alone with short timeouts ----------------------------------------------


@pytest.fixture
async def quick(bus: InProcessBus) -> AsyncIterator[Served]:
    app = FastAPI()
    app.include_router(
        live_router(
            bus,
            AccessBudgets(ApiToken(TOKEN, "environment"), OPEN),
            lambda text: text,
            auth_timeout_s=0.3,
            heartbeat_s=0.2,
        )
    )
    async with serve(app) as served:
        yield served


async def test_a_client_silent_past_the_auth_timeout_is_closed(quick: Served) -> None:
    started = time.monotonic()
    async with connect(quick.ws) as ws:
        code, reason = await _close_of(ws)
    assert code == CLOSE_POLICY_VIOLATION
    assert reason.startswith("no token within 0.3 s;"), reason
    assert 0.25 < time.monotonic() - started < 5


async def test_a_quiet_stream_sends_heartbeats(quick: Served, bus: InProcessBus) -> None:
    async with connect(quick.ws, additional_headers=quick.auth) as ws:
        await _subscribed(ws)
        assert await _message(ws, 2) == {"type": "heartbeat"}
        bus.publish_nowait(_fill(1))
        assert (await _message(ws, 2))["id"] == "fill-1"
        assert await _message(ws, 2) == {"type": "heartbeat"}


def test_close_reasons_fit_a_close_frame() -> None:
    assert close_reason("short") == "short"
    long = close_reason("é" * 200)
    assert len(long.encode("utf-8")) <= 123
    assert long.endswith("...")
