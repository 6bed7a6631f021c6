"""The NATS JetStream event bus: events shared between processes and machines.

Used when ``NATS_URL`` is configured. Events go to the subject ``<prefix>.<type>``
(``sigmax.events.fill``) of one JetStream stream that the bus creates, or brings to the
configured subjects and limits, on start. Each event is published with ``Nats-Msg-Id`` set to
its id, so an event re-published after a crash and resume (same deterministic id) is stored
once, as long as it comes within the stream's duplicate window.

The engine never waits on the network: :meth:`NatsJetStreamBus.publish_nowait` appends to a
bounded outgoing queue that a background task sends in order, pipelined, and retries when an
acknowledgement is lost (safe because of the de-duplication). While the connection is down the
queue fills; beyond ``max_outgoing`` the oldest entries are dropped and counted, as for a slow
subscriber. ``close()`` flushes the queue, bounded by ``close_timeout``.

Each subscription is an ephemeral ordered push consumer delivering only new messages, filtered
on the server by subject when it asks for one type (NATS 2.9 consumers take a single filter
subject, so several types are filtered here). Reconnecting is nats-py's job; an ordered consumer
re-creates itself after a gap.

Messages never carry the URL's credentials: servers are shown as ``nats://***@host:port`` and
client messages are scrubbed of the user, password and token before they are logged or raised.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    DeliverPolicy,
    DiscardPolicy,
    Header,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from sigmax.bus.errors import (
    BusConfigError,
    BusConnectionError,
    BusError,
    BusOverflowError,
    BusStateError,
    EventFormatError,
)
from sigmax.bus.events import Event, EventType
from sigmax.bus.lifecycle import BusState, ManagedBus, require_event, require_started
from sigmax.bus.subscription import DEFAULT_MAX_QUEUE, Subscription
from sigmax.url_secrets import url_secrets

logger = logging.getLogger("sigmax.bus")

DEFAULT_STREAM = "SIGMAX"
DEFAULT_SUBJECT_PREFIX = "sigmax.events"
_NATS_SCHEMES = ("nats", "tls", "ws", "wss")
_STREAM_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
#: Events sent before waiting for their acknowledgements: enough to fill a round trip.
_BATCH = 256
#: Sends of one event whose acknowledgement never came before it counts as failed.
_MAX_ATTEMPTS = 3
#: JetStream's "stream name already in use with a different configuration".
_STREAM_NAME_IN_USE = 10058


# -- URLs ---------------------------------------------------------------------------------


def nats_servers(url: str) -> list[str]:
    """The server URLs in ``url`` (several may be separated by commas), checked.

    Raises :class:`BusConfigError` without repeating the URL, which may hold a password.
    """
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise BusConfigError("NATS URL: is empty")
    for number, server in enumerate(servers, start=1):
        where = "NATS URL" if len(servers) == 1 else f"NATS URL (server {number})"
        try:
            parts = urlsplit(server)
            port = parts.port
        except ValueError:
            raise BusConfigError(f"{where}: has an invalid port") from None
        if parts.scheme not in _NATS_SCHEMES or not parts.hostname:
            raise BusConfigError(
                f"{where}: must be a nats://, tls://, ws:// or wss:// URL with a host, "
                "such as nats://127.0.0.1:4222"
            )
        if port == 0:
            raise BusConfigError(f"{where}: has an invalid port")
    return servers


def redact_nats_url(url: str) -> str:
    """``url`` with any user, password or token shown as ``***``."""
    shown = []
    for server in url.split(","):
        server = server.strip()
        if not server:
            continue
        try:
            parts = urlsplit(server)
            hostname = parts.hostname or ""
            port = parts.port
        except ValueError:
            shown.append("(unreadable URL)")
            continue
        host = f"[{hostname}]" if ":" in hostname else hostname
        credentials = "***@" if "@" in parts.netloc else ""
        suffix = f":{port}" if port is not None else ""
        shown.append(f"{parts.scheme}://{credentials}{host}{suffix}")
    return ",".join(shown)


def nats_url_secrets(url: str) -> list[str]:
    """The credentials inside ``url``: users, passwords and tokens, as written and decoded.

    A NATS URL with a user but no password (``nats://TOKEN@host``) carries a token, so the user
    part counts as secret too.
    """
    found: set[str] = set()
    for server in url.split(","):
        try:
            parts = urlsplit(server.strip())
            user, password = parts.username, parts.password
        except ValueError:
            continue
        for value in (user, password):
            if value:
                found.update((value, unquote(value)))
        # And any secret in its query or fragment.
        found.update(url_secrets(server.strip()))
    return sorted(found, key=lambda s: (-len(s), s))


# -- the bus ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Outgoing:
    event: Event
    #: Set for ``await publish(...)``: resolved when the server stored the event.
    done: asyncio.Future[None] | None
    attempts: int = 0


class NatsJetStreamBus(ManagedBus):
    """An :class:`~sigmax.bus.EventBus` over a NATS JetStream stream.

    ``url`` may list several servers separated by commas and may hold credentials
    (``nats://user:password@host:4222``, ``nats://token@host:4222``). The stream keeps events for
    ``max_age_seconds`` and at most ``max_msgs`` / ``max_bytes``, discarding the oldest. A second
    bus on the same stream (another process) sees the same events.
    """

    def __init__(
        self,
        url: str,
        stream: str = DEFAULT_STREAM,
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        *,
        max_age_seconds: float = 24 * 3600,
        max_msgs: int = 1_000_000,
        max_bytes: int = 1024**3,
        duplicate_window_seconds: float = 3600,
        replicas: int = 1,
        connect_timeout: float = 5.0,
        request_timeout: float = 5.0,
        max_outgoing: int = 10_000,
        close_timeout: float = 5.0,
        client_name: str = "sigmax",
    ) -> None:
        self._servers = nats_servers(url)
        self._secrets = nats_url_secrets(url)
        #: The servers, for messages: credentials shown as ``***``.
        self.server_summary = redact_nats_url(url)
        if not _STREAM_RE.match(stream):
            raise BusConfigError(
                f"stream: must be 1-64 letters, digits, '_' or '-' (got {stream!r})"
            )
        if not _PREFIX_RE.match(subject_prefix):
            raise BusConfigError(
                "subject_prefix: must be dot-separated tokens of letters, digits, '_' or '-' "
                f"(got {subject_prefix!r})"
            )
        _check_positive("max_age_seconds", max_age_seconds)
        _check_positive("duplicate_window_seconds", duplicate_window_seconds)
        if duplicate_window_seconds > max_age_seconds:
            raise BusConfigError("duplicate_window_seconds: must be <= max_age_seconds")
        for key, count in (
            ("max_msgs", max_msgs),
            ("max_bytes", max_bytes),
            ("replicas", replicas),
            ("max_outgoing", max_outgoing),
        ):
            if type(count) is not int or count < 1:
                raise BusConfigError(f"{key}: must be a whole number >= 1 (got {count!r})")
        for key, seconds in (
            ("connect_timeout", connect_timeout),
            ("request_timeout", request_timeout),
            ("close_timeout", close_timeout),
        ):
            _check_positive(key, seconds)
        self.stream = stream
        self.subject_prefix = subject_prefix
        self._stream_config = StreamConfig(
            name=stream,
            subjects=[f"{subject_prefix}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=max_age_seconds,
            max_msgs=max_msgs,
            max_bytes=max_bytes,
            duplicate_window=duplicate_window_seconds,
            num_replicas=replicas,
        )
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._close_timeout = close_timeout
        self._max_outgoing = max_outgoing
        self._client_name = client_name

        self._state = BusState.NEW
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._link_up = asyncio.Event()
        self._ever_connected = False
        self._outbox: deque[_Outgoing] = deque()
        self._work = asyncio.Event()
        self._closing = False
        self._pump_task: asyncio.Task[None] | None = None
        self._outbox_burst = 0
        self._consumers: dict[Subscription, JetStreamContext.PushSubscription | None] = {}

        #: Events the server acknowledged (duplicates included).
        self.published = 0
        #: Acknowledged events the server already had (same id within the duplicate window).
        self.duplicates = 0
        #: Events dropped from the outgoing queue because it was full.
        self.dropped = 0
        #: Events given up on: refused by the server or unacknowledged after every attempt.
        self.failed = 0
        #: Messages on the subjects that were not readable events (skipped, logged).
        self.undecodable = 0

    @property
    def connected(self) -> bool:
        """True while the connection to NATS is up (False before start, while reconnecting)."""
        return self._link_up_really()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and make sure the stream exists with the configured subjects and limits."""
        if self._state is BusState.STARTED:
            return
        if self._state is BusState.CLOSED:
            raise BusStateError("the event bus is closed; make a new one")
        nc = await self._connect()
        js = nc.jetstream(timeout=self._request_timeout)
        try:
            await self._ensure_stream(js)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js
        self._pump_task = asyncio.get_running_loop().create_task(
            self._pump(), name=f"sigmax-bus-publisher-{self.stream}"
        )
        self._pump_task.add_done_callback(_log_crash)
        self._state = BusState.STARTED
        logger.info(
            "event bus: NATS JetStream at %s, stream %s, subjects %s.>",
            self.server_summary,
            self.stream,
            self.subject_prefix,
        )

    async def close(self) -> None:
        """Send what is queued (waiting at most ``close_timeout``), end subscriptions,
        disconnect."""
        if self._state is BusState.CLOSED:
            return
        was_started = self._state is BusState.STARTED
        self._state = BusState.CLOSED
        if not was_started:
            return
        self._closing = True
        self._work.set()
        self._link_up.set()  # wakes a publisher waiting for a reconnect; it gives up below
        assert self._pump_task is not None
        assert self._nc is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._pump_task), self._close_timeout)
        except TimeoutError:
            self._pump_task.cancel()
        except Exception:  # a crash is logged by the task's callback; still disconnect
            pass
        self._fail_outbox(
            BusConnectionError(
                f"the event bus closed before NATS at {self.server_summary} stored the event"
            )
        )
        consumers, self._consumers = self._consumers, {}
        for subscription, consumer in consumers.items():
            subscription.end()
            await self._unsubscribe(subscription, consumer)
        await self._nc.close()

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Publish and wait until the server stored ``event`` (or already had it).

        Raises :class:`BusConnectionError` when it could not be stored, :class:`BusError` when
        the server refused it, :class:`BusOverflowError` when the outgoing queue dropped it.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._enqueue(event, done)
        await done

    def publish_nowait(self, event: Event) -> None:
        """Queue ``event`` for the background sender and return at once."""
        self._enqueue(event, None)

    def _enqueue(self, event: Event, done: asyncio.Future[None] | None) -> None:
        if self._state is not BusState.STARTED:
            require_started(self._state, "publish")
        require_event(event)
        outbox = self._outbox
        if len(outbox) >= self._max_outgoing:
            oldest = outbox.popleft()
            self.dropped += 1
            if self._outbox_burst == 0:
                logger.warning(
                    "event bus: %d events wait for NATS at %s; dropping the oldest",
                    self._max_outgoing,
                    self.server_summary,
                )
            self._outbox_burst += 1
            if oldest.done is not None and not oldest.done.done():
                oldest.done.set_exception(
                    BusOverflowError(
                        f"event {oldest.event.id} was dropped: {self._max_outgoing} events "
                        "were waiting for NATS"
                    )
                )
        outbox.append(_Outgoing(event, done))
        self._work.set()

    async def _pump(self) -> None:
        """Send the outgoing queue in order, in pipelined batches, until closed and empty."""
        outbox = self._outbox
        while True:
            if not outbox:
                if self._outbox_burst:
                    logger.info(
                        "event bus: NATS caught up after %d events were dropped",
                        self._outbox_burst,
                    )
                    self._outbox_burst = 0
                if self._closing:
                    return
                self._work.clear()
                await self._work.wait()
                continue
            if not self._link_up.is_set():
                await self._link_up.wait()
                if self._closing and not self._link_up_really():
                    return
                continue
            batch = [outbox.popleft() for _ in range(min(len(outbox), _BATCH))]
            await self._send(batch)

    def _link_up_really(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def _send(self, batch: list[_Outgoing]) -> None:
        assert self._js is not None
        js = self._js
        acks: list[asyncio.Future[PubAck] | None] = []
        for entry in batch:
            event = entry.event
            try:
                ack = await js.publish_async(
                    f"{self.subject_prefix}.{event.type.value}",
                    event.to_json().encode(),
                    stream=self.stream,
                    headers={Header.MSG_ID.value: event.id},
                )
            except nats.errors.Error:
                # Closed connection or full reconnect buffer: this entry is retried below.
                ack = None
            acks.append(ack)
        in_flight = [ack for ack in acks if ack is not None]
        if in_flight:
            _, late = await asyncio.wait(in_flight, timeout=self._request_timeout)
            for ack in late:
                ack.cancel()  # frees the client's slot for an in-flight publish
        link_lost = not self._link_up_really()
        retry: list[_Outgoing] = []
        failures: list[tuple[_Outgoing, BusError]] = []
        for entry, ack in zip(batch, acks, strict=True):
            error = None if ack is None or ack.cancelled() else ack.exception()
            if ack is not None and not ack.cancelled() and error is None:
                self.published += 1
                if ack.result().duplicate:
                    self.duplicates += 1
                if entry.done is not None and not entry.done.done():
                    entry.done.set_result(None)
            elif isinstance(error, nats.js.errors.APIError) and not isinstance(
                error, nats.js.errors.ServiceUnavailableError
            ):
                # The server looked at it and said no (wrong stream, limits): resending the
                # same message will get the same answer.
                failures.append(
                    (entry, BusError(f"NATS refused event {entry.event.id}: {_describe(error)}"))
                )
            else:
                # No answer in time. Resending is safe: the server drops a repeated Nats-Msg-Id.
                # Attempts made while the connection was down do not count.
                if not link_lost:
                    entry.attempts += 1
                if entry.attempts < _MAX_ATTEMPTS:
                    retry.append(entry)
                else:
                    failures.append(
                        (
                            entry,
                            BusConnectionError(
                                f"NATS at {self.server_summary} did not acknowledge event "
                                f"{entry.event.id} after {_MAX_ATTEMPTS} attempts"
                            ),
                        )
                    )
        if retry:
            self._outbox.extendleft(reversed(retry))
        if failures:
            self._report_failures(failures)

    def _report_failures(self, failures: list[tuple[_Outgoing, BusError]]) -> None:
        unawaited = 0
        for entry, error in failures:
            if entry.done is not None and not entry.done.done():
                entry.done.set_exception(error)
            else:
                unawaited += 1
        self.failed += len(failures)
        if unawaited:
            # One line per batch, not per event: an outage would otherwise flood the log.
            logger.error("event bus: %d events were not published: %s", unawaited, failures[-1][1])

    def _fail_outbox(self, error: BusError) -> None:
        if not self._outbox:
            return
        entries = list(self._outbox)
        self._outbox.clear()
        self._report_failures([(entry, error) for entry in entries])

    # -- subscribing ----------------------------------------------------------------------

    def subscribe(
        self,
        types: Collection[EventType | str] | None = None,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        name: str | None = None,
    ) -> Subscription:
        require_started(self._state, "subscribe")
        subscription = Subscription(types, max_queue=max_queue, name=name, on_close=self._detach)
        self._consumers[subscription] = None
        task = asyncio.get_running_loop().create_task(
            self._open_consumer(subscription), name=f"sigmax-bus-consumer-{subscription.name}"
        )
        subscription.starting(task)
        return subscription

    async def _open_consumer(self, subscription: Subscription) -> None:
        assert self._js is not None
        types = subscription.types
        if types is not None and len(types) == 1:
            (only,) = types
            subject = f"{self.subject_prefix}.{only.value}"
        else:
            subject = f"{self.subject_prefix}.>"

        async def deliver(msg: Msg) -> None:
            try:
                event = Event.from_json(msg.data)
            except EventFormatError as error:
                self.undecodable += 1
                logger.error(
                    "event bus: skipped an unreadable message on %s: %s", msg.subject, error
                )
                return
            subscription.offer(event)

        try:
            consumer = await self._js.subscribe(
                subject,
                stream=self.stream,
                cb=deliver,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
            )
        except nats.js.errors.APIError as error:
            raise BusError(
                f"NATS refused a consumer on {subject} in stream {self.stream}: {_describe(error)}"
            ) from None
        except (nats.errors.Error, TimeoutError) as error:
            raise BusConnectionError(
                f"cannot subscribe to {subject} on NATS at {self.server_summary}: "
                f"{self._scrub(error)}"
            ) from None
        if subscription.closed or subscription not in self._consumers:
            await self._unsubscribe(subscription, consumer)
            return
        self._consumers[subscription] = consumer

    async def _detach(self, subscription: Subscription) -> None:
        if subscription in self._consumers:
            await self._unsubscribe(subscription, self._consumers.pop(subscription))

    async def _unsubscribe(
        self, subscription: Subscription, consumer: JetStreamContext.PushSubscription | None
    ) -> None:
        if consumer is None:
            return
        try:
            await consumer.unsubscribe()
        except nats.errors.Error as error:
            # The server removes an ephemeral consumer without interest by itself.
            logger.debug(
                "event bus: unsubscribing %s failed: %s", subscription.name, self._scrub(error)
            )

    # -- connection -----------------------------------------------------------------------

    async def _connect(self) -> NatsClient:
        nc = NatsClient()
        failures: list[BaseException] = []
        every_server_failed = asyncio.Event()

        async def on_error(error: Exception) -> None:
            if not self._ever_connected:
                failures.append(error)
                if len(failures) >= len(self._servers):
                    every_server_failed.set()
                return
            logger.warning("event bus: NATS connection problem: %s", self._scrub(error))

        async def on_disconnected() -> None:
            self._link_up.clear()
            if self._ever_connected and not self._closing:
                logger.warning(
                    "event bus: lost the connection to NATS at %s; reconnecting",
                    self.server_summary,
                )

        async def on_reconnected() -> None:
            self._link_up.set()
            logger.info("event bus: reconnected to NATS at %s", self.server_summary)

        connecting = asyncio.ensure_future(
            nc.connect(
                servers=self._servers,
                name=self._client_name,
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                allow_reconnect=True,
                # Once connected, keep trying for as long as the process runs: the engine goes
                # on trading while events wait in the outgoing queue.
                max_reconnect_attempts=-1,
                connect_timeout=max(1, math.ceil(self._connect_timeout)),
                reconnect_time_wait=1,
            )
        )
        gave_up = asyncio.ensure_future(every_server_failed.wait())
        try:
            await asyncio.wait(
                {connecting, gave_up},
                timeout=self._connect_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            gave_up.cancel()
        if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
            self._ever_connected = True
            self._link_up.set()
            return nc
        if connecting.done() and not connecting.cancelled():
            failures.append(connecting.exception() or BusConnectionError("no reason given"))
        connecting.cancel()
        # Wait for the abandoned attempt to unwind without re-raising its cancellation (which
        # would look like our own) or its error (already in ``failures``).
        await asyncio.wait({connecting})
        await nc.close()
        if failures:
            # A refused login is what the operator must fix; the connection reset that follows
            # it, and anything later, is noise.
            refused = [f for f in failures if _is_auth_refusal(f)]
            reason = self._reason(refused[0] if refused else failures[0])
        else:
            reason = f"no answer within {self._connect_timeout:g} s"
        raise BusConnectionError(f"cannot connect to NATS at {self.server_summary}: {reason}")

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        config = self._stream_config
        try:
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError as error:
                if error.err_code != _STREAM_NAME_IN_USE:
                    raise
                # The stream exists with other subjects or limits: bring it to ours.
                await js.update_stream(config)
        except (nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError):
            raise BusError(
                f"NATS at {self.server_summary} has no JetStream: start nats-server with -js"
            ) from None
        except nats.js.errors.APIError as error:
            raise BusError(
                f"cannot create or update the NATS stream {self.stream}: {_describe(error)}"
            ) from None
        except (nats.errors.Error, TimeoutError) as error:
            raise BusConnectionError(
                f"cannot create the NATS stream {self.stream} at {self.server_summary}: "
                f"{self._scrub(error)}"
            ) from None

    def _reason(self, error: BaseException) -> str:
        """Why a connection attempt failed, in words an operator can act on."""
        if isinstance(error, ConnectionRefusedError):
            return "connection refused: is nats-server running there?"
        if _is_auth_refusal(error):
            return "authorization refused: check the user and password or token in NATS_URL"
        if isinstance(error, TimeoutError):
            return f"no answer within {self._connect_timeout:g} s"
        return self._scrub(error)

    def _scrub(self, error: BaseException) -> str:
        text = str(error) or type(error).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _is_auth_refusal(error: BaseException) -> bool:
    # During the handshake nats-py reports a refusal as a plain Error with the server's text.
    return isinstance(error, nats.errors.AuthorizationError) or (
        "authorization violation" in str(error).lower()
    )


def _describe(error: nats.js.errors.APIError) -> str:
    code = f" (error {error.err_code})" if error.err_code else ""
    return f"{error.description or 'no description'}{code}"


def _check_positive(key: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BusConfigError(f"{key}: must be a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise BusConfigError(f"{key}: must be > 0 seconds (got {value})")


def _log_crash(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.error("event bus: the NATS publisher stopped: %r", error, exc_info=error)
