"""The NATS JetStream bus against the real server on 127.0.0.1:4222.

Every test uses its own stream and subject prefix, and deletes the stream afterwards, so tests
(and concurrent runs) never see each other's events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.js.errors
import pytest
from nats.js.api import StreamInfo

from sigmax.bus import (
    BusConfigError,
    BusConnectionError,
    BusStateError,
    Event,
    EventType,
    NatsJetStreamBus,
    Subscription,
)

DAY = 24 * 3600


@dataclass(frozen=True)
class Names:
    stream: str
    prefix: str


@pytest.fixture
async def names(nats_url: str) -> AsyncIterator[Names]:
    token = uuid.uuid4().hex[:12]
    chosen = Names(stream=f"SIGMAX_TEST_{token}", prefix=f"sigmax.test.{token}.events")
    yield chosen
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().delete_stream(chosen.stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


@pytest.fixture
def make_bus(nats_url: str, names: Names) -> Callable[..., NatsJetStreamBus]:
    def make(**options: object) -> NatsJetStreamBus:
        return NatsJetStreamBus(nats_url, names.stream, names.prefix, **options)  # type: ignore[arg-type]

    return make


async def _stream_info(nats_url: str, stream: str) -> StreamInfo:
    nc = await nats.connect(nats_url)
    try:
        return await nc.jetstream().stream_info(stream)
    finally:
        await nc.close()


async def _take(subscription: Subscription, count: int) -> list[Event]:
    taken: list[Event] = []
    async with asyncio.timeout(10):
        async for event in subscription:
            taken.append(event)
            if len(taken) == count:
                break
    return taken


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for something another connection delivers; fail after 10 s."""
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _events(count: int, kind: EventType = EventType.EQUITY, start: int = 0) -> list[Event]:
    return [
        Event(kind, start + i, {"n": start + i}, id=f"{kind}-{start + i}") for i in range(count)
    ]


async def test_published_events_reach_a_subscriber_in_order(
    make_bus: Callable[..., NatsJetStreamBus],
) -> None:
    async with make_bus() as bus, bus.subscribe() as subscription:
        sent = _events(20)
        for event in sent[:10]:
            await bus.publish(event)
        for event in sent[10:]:
            bus.publish_nowait(event)
        assert await _take(subscription, 20) == sent
    # Counted when acknowledged, which may come after a subscriber already has the event.
    assert (bus.published, bus.duplicates, bus.failed) == (20, 0, 0)


async def test_subscribers_see_only_their_types(
    make_bus: Callable[..., NatsJetStreamBus],
) -> None:
    async with make_bus() as bus:
        fills = bus.subscribe({EventType.FILL})  # one type: filtered by the server
        trading = bus.subscribe({EventType.ORDER, EventType.FILL})  # several: by the bus
        await fills.ready()
        await trading.ready()
        mixed = [
            Event(EventType.DECISION, 1, id="d"),
            Event(EventType.ORDER, 2, id="o"),
            Event(EventType.FILL, 3, id="f"),
            Event(EventType.PAUSE, 4, id="p"),
            Event(EventType.ORDER, 5, id="o2"),
            Event(EventType.FILL, 6, id="f2"),
        ]
        for event in mixed:
            await bus.publish(event)
        # Each subscription's last event is the last one published of its types, so anything
        # it should not have seen would have arrived before it.
        assert [e.id for e in await _take(fills, 2)] == ["f", "f2"]
        assert [e.id for e in await _take(trading, 4)] == ["o", "f", "o2", "f2"]
        assert (fills.pending, trading.pending) == (0, 0)


async def test_a_re_published_event_is_stored_once(
    make_bus: Callable[..., NatsJetStreamBus], nats_url: str, names: Names
) -> None:
    decision = Event(EventType.DECISION, 1_700_000_000_000, {"action": "BUY"}, id="dec-42")
    async with make_bus() as bus, bus.subscribe() as subscription:
        await bus.publish(decision)
        await bus.publish(decision)
        assert (bus.published, bus.duplicates) == (2, 1)
        # The engine after a crash and resume: a new connection publishing the same ids.
        async with make_bus() as resumed:
            await resumed.publish(decision)
            assert resumed.duplicates == 1
            sentinel = Event(EventType.RUN, 1_700_000_000_001, {"state": "resumed"}, id="run-2")
            await resumed.publish(sentinel)
        assert await _take(subscription, 2) == [decision, sentinel]
    info = await _stream_info(nats_url, names.stream)
    assert info.state.messages == 2


async def test_two_buses_see_each_others_events(
    make_bus: Callable[..., NatsJetStreamBus],
) -> None:
    async with make_bus() as engine_side, make_bus() as api_side:
        at_api = api_side.subscribe(name="websocket")
        at_engine = engine_side.subscribe({EventType.PAUSE}, name="engine-controls")
        await at_api.ready()
        await at_engine.ready()
        fill = Event(EventType.FILL, 10, {"symbol": "BTC/USDT", "qty": "0.0002"})
        await engine_side.publish(fill)  # awaited: two publishers have no order between them
        pause = Event(EventType.PAUSE, 11, {"by": "operator", "seconds": 3600})
        await api_side.publish(pause)
        assert await _take(at_api, 2) == [fill, pause]
        assert await _take(at_engine, 1) == [pause]


async def test_the_stream_has_the_configured_subjects_and_limits(
    make_bus: Callable[..., NatsJetStreamBus], nats_url: str, names: Names
) -> None:
    async with make_bus(max_age_seconds=DAY, max_msgs=5000, duplicate_window_seconds=600):
        info = await _stream_info(nats_url, names.stream)
        assert info.config.subjects == [f"{names.prefix}.>"]
        assert info.config.max_age == DAY
        assert info.config.max_msgs == 5000
        assert info.config.duplicate_window == 600
    # Starting again with other limits updates the stream in place; the same ones change nothing.
    async with make_bus(max_age_seconds=DAY, max_msgs=7000, duplicate_window_seconds=600) as bus:
        await bus.publish(Event(EventType.RUN, 0, id="r"))
    async with make_bus(max_age_seconds=DAY, max_msgs=7000, duplicate_window_seconds=600):
        info = await _stream_info(nats_url, names.stream)
        assert info.config.max_msgs == 7000
        assert info.state.messages == 1


async def test_close_flushes_events_published_without_waiting(
    make_bus: Callable[..., NatsJetStreamBus], nats_url: str, names: Names
) -> None:
    bus = make_bus()
    await bus.start()
    for event in _events(500):
        bus.publish_nowait(event)  # returns at once; a background task sends them
    await bus.close()
    assert bus.published == 500
    info = await _stream_info(nats_url, names.stream)
    assert info.state.messages == 500
    with pytest.raises(BusStateError, match="closed"):
        bus.publish_nowait(_events(1)[0])


async def test_a_slow_subscriber_drops_its_oldest_events(
    make_bus: Callable[..., NatsJetStreamBus],
) -> None:
    async with make_bus() as bus:
        slow = bus.subscribe(max_queue=5, name="slow")
        fast = bus.subscribe()
        await slow.ready()
        await fast.ready()
        sent = _events(50)
        for event in sent:
            bus.publish_nowait(event)
        assert await _take(fast, 50) == sent
        await _until(lambda: slow.dropped == 45, "45 drops at the slow subscriber")
        assert await _take(slow, 5) == sent[-5:]


async def test_a_closed_subscription_stops_receiving(
    make_bus: Callable[..., NatsJetStreamBus],
) -> None:
    async with make_bus() as bus:
        leaving = bus.subscribe()
        staying = bus.subscribe()
        await leaving.ready()
        await leaving.close()
        assert [event async for event in leaving] == []
        sent = _events(3)
        for event in sent:
            await bus.publish(event)
        assert await _take(staying, 3) == sent
        assert leaving.pending == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "credentials", ["sigmaxuser:Hunter2-Secret-Pw@", "Tok3n-Secret-Value@"], ids=["user", "token"]
)
async def test_an_unreachable_server_fails_fast_without_leaking_credentials(
    credentials: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = _closed_port()
    bus = NatsJetStreamBus(f"nats://{credentials}127.0.0.1:{port}", stream="SIGMAX_UNUSED")
    started = time.monotonic()
    with pytest.raises(BusConnectionError) as caught:
        await bus.start()
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert message.startswith(f"cannot connect to NATS at nats://***@127.0.0.1:{port}: ")
    assert "connection refused: is nats-server running there?" in message
    for secret in ("Hunter2-Secret-Pw", "sigmaxuser", "Tok3n-Secret-Value"):
        assert secret not in message
        assert secret not in repr(caught.value)
        assert secret not in caplog.text
    with pytest.raises(BusStateError, match="not started"):
        bus.publish_nowait(_events(1)[0])


async def test_credentials_never_show_in_the_server_summary(nats_url: str, names: Names) -> None:
    with_password = nats_url.replace("nats://", "nats://bus:Pw-Not-Shown-77@", 1)
    bus = NatsJetStreamBus(with_password, names.stream, names.prefix)
    async with bus:
        assert "Pw-Not-Shown-77" not in bus.server_summary
        assert bus.server_summary.startswith("nats://***@")


class SpawnedNats:
    """A nats-server of our own on a free port, for what the shared server cannot show:
    refused credentials, and a server that goes away and comes back."""

    def __init__(self, store: Path, *args: str) -> None:
        self.port = _closed_port()
        self._command = [
            NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store), *args
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the spawned nats-server did not start")
                time.sleep(0.02)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


NATS_SERVER = shutil.which("nats-server") or ""


@pytest.fixture
def spawn_nats(tmp_path: Path) -> Iterator[Callable[..., SpawnedNats]]:
    if not NATS_SERVER:
        if os.environ.get("SIGMAX_REQUIRE_SERVICES") == "1":
            pytest.fail("nats-server is not installed and SIGMAX_REQUIRE_SERVICES=1")
        pytest.skip("nats-server is not installed")
    servers: list[SpawnedNats] = []

    def spawn(*args: str) -> SpawnedNats:
        server = SpawnedNats(tmp_path / f"store{len(servers)}", *args)
        servers.append(server)
        server.start()
        return server

    yield spawn
    for server in servers:
        server.stop()


async def test_refused_credentials_are_a_connection_error_without_the_password(
    spawn_nats: Callable[..., SpawnedNats], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = spawn_nats("--user", "sigmax", "--pass", "Right-Pass-123")
    wrong = NatsJetStreamBus(f"nats://sigmax:Wrong-Pass-456@127.0.0.1:{server.port}")
    with pytest.raises(BusConnectionError) as caught:
        await wrong.start()
    assert str(caught.value) == (
        f"cannot connect to NATS at nats://***@127.0.0.1:{server.port}: "
        "authorization refused: check the user and password or token in NATS_URL"
    )
    assert "Wrong-Pass-456" not in caplog.text
    right = NatsJetStreamBus(f"nats://sigmax:Right-Pass-123@127.0.0.1:{server.port}")
    async with right, right.subscribe() as subscription:
        event = Event(EventType.ALERT, 1, {"text": "authenticated"})
        await right.publish(event)
        assert await _take(subscription, 1) == [event]


async def test_events_published_while_the_server_is_down_are_sent_after_it_returns(
    spawn_nats: Callable[..., SpawnedNats], tmp_path: Path
) -> None:
    server = spawn_nats()
    url = f"nats://127.0.0.1:{server.port}"
    bus = NatsJetStreamBus(url, close_timeout=20)
    await bus.start()
    assert bus.connected
    before = _events(3)
    for event in before:
        await bus.publish(event)
    server.stop()
    await _until(lambda: not bus.connected, "the bus to notice the lost connection")
    during = _events(5, start=3)
    for event in during:
        bus.publish_nowait(event)  # the engine goes on; these wait in the outgoing queue
    server.start()  # same port and store: the stream and its messages are still there
    await bus.close()  # flushes after the reconnect
    assert (bus.published, bus.failed, bus.dropped) == (8, 0, 0)
    info = await _stream_info(url, "SIGMAX")
    assert info.state.messages == 8


@pytest.mark.parametrize(
    ("url", "options", "fragment"),
    [
        ("http://127.0.0.1:4222", {}, "must be a nats://, tls://, ws:// or wss:// URL"),
        ("nats://u:Secret-In-Url@h:notaport", {}, "invalid port"),
        ("", {}, "is empty"),
        ("nats://127.0.0.1:4222", {"stream": "has.dots"}, "stream: must be"),
        ("nats://127.0.0.1:4222", {"subject_prefix": "sigmax.>"}, "subject_prefix: must be"),
        ("nats://127.0.0.1:4222", {"max_msgs": 0}, "max_msgs: must be a whole number >= 1"),
        (
            "nats://127.0.0.1:4222",
            {"max_age_seconds": 60, "duplicate_window_seconds": 120},
            "duplicate_window_seconds: must be <= max_age_seconds",
        ),
        ("nats://127.0.0.1:4222", {"request_timeout": 0}, "request_timeout: must be > 0"),
    ],
)
def test_bad_parameters_are_config_errors(
    url: str, options: dict[str, object], fragment: str
) -> None:
    with pytest.raises(BusConfigError) as caught:
        NatsJetStreamBus(url, **options)  # type: ignore[arg-type]
    assert fragment in str(caught.value)
    assert "Secret-In-Url" not in str(caught.value)


async def test_subscribing_before_start_is_refused() -> None:
    bus = NatsJetStreamBus("nats://127.0.0.1:4222")
    with pytest.raises(BusStateError, match="not started"):
        bus.subscribe()
    await bus.close()
    with pytest.raises(BusStateError, match="closed"):
        await bus.start()
