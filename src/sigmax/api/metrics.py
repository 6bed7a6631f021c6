"""Prometheus metrics: ``GET /metrics`` in the Prometheus text format.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (two apps in one process, as
in the tests, never share or double-register a metric). What the metrics come from:

* the engine's events, when the app is given the engine's bus: :class:`MetricsFeed` reads them
  through one subscription in a background task that starts and stops with the app (its
  lifespan) and updates the decision latency histogram, the decision, trade and safety trigger
  counters and the equity and day-PnL gauges;
* the stored state, at scrape time: ``sigmax_paused`` (the safety state, as ``sigmax safety``
  reports it) and, until an equity event has arrived (always, without a bus), the equity and
  day PnL of the newest run's newest snapshot;
* :meth:`ApiMetrics.record_venue_error`, which the process that embeds the API calls for each
  failed venue or feed request (single errors are not events: only a burst of them is, when it
  fires the ``api_error_burst`` trigger);
* the Telegram bot's outbox, when ``sigmax run`` starts a bot beside the API
  (:meth:`ApiMetrics.watch_telegram`): messages sent, dropped (outbox full, stale), refused by
  the Bot API, retried and redacted, and the messages waiting, read at scrape time;
* the process itself (CPU, memory, open files, garbage collection), from prometheus-client.

Label values are bounded so a stray value cannot create new series without end: symbols are
the configured ones (``trading.symbols`` and the profile's ``allowed_symbols``), actions,
sides and triggers are SIGMAX's own; anything else is counted as ``other``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from fastapi import APIRouter, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select

from sigmax.api.context import ApiContext
from sigmax.bus import Event, EventBus, EventType, Subscription
from sigmax.domain.decisions import Action
from sigmax.domain.orders import OrderSide
from sigmax.engine.account import newest_run
from sigmax.engine.safety_service import safety_report
from sigmax.errors import SigmaxError
from sigmax.ops.health import Check, collect_health
from sigmax.safety.triggers import TriggerName
from sigmax.storage.models import EquitySnapshotRow, SafetyEventKind

log = logging.getLogger("sigmax.api")

#: The text format generate_latest writes (what Prometheus asks for by default).
METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
#: The label value of anything outside the known set.
OTHER: Final = "other"
#: Decision latency buckets, seconds: a rule-based decision takes milliseconds, one that asks an
#: LLM several seconds.
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
#: The metrics subscription's backlog: a burst of a whole replay step fits, a stalled consumer
#: still cannot grow without bound.
FEED_MAX_QUEUE: Final = 10_000
_FEED_TYPES: Final = frozenset(
    {
        EventType.DECISION,
        EventType.FILL,
        EventType.EQUITY,
        EventType.PAUSE,
        EventType.SAFETY,
        EventType.PANIC,
    }
)
#: Safety events that count as a trigger firing (or a hold being taken); resumes do not.
_COUNTED_SAFETY_KINDS: Final = frozenset(
    {
        SafetyEventKind.TRIGGER.value,
        SafetyEventKind.VIOLATION.value,
        SafetyEventKind.COOLDOWN.value,
        SafetyEventKind.PAUSE.value,
        SafetyEventKind.PANIC.value,
    }
)
_ACTIONS: Final = tuple(action.value.lower() for action in Action)
_SIDES: Final = tuple(side.value for side in OrderSide)
_TRIGGERS: Final = tuple(trigger.value for trigger in TriggerName)


class MetricsUnavailableError(SigmaxError):
    """The metrics cannot be served truthfully (their event consumer is not running)."""


class _EventShapeError(Exception):
    """An event's payload lacks a field the metrics need (names the field)."""


def _bounded(value: object, known: Collection[str]) -> str:
    return value if isinstance(value, str) and value in known else OTHER


def _text(payload: Mapping[str, object], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str):
        raise _EventShapeError(f"payload[{key!r}] must be text")
    return value


def _money(payload: Mapping[str, object], key: str) -> float:
    """Exact decimal text (how events carry money) as the float a gauge holds."""
    try:
        return float(Decimal(_text(payload, key)))
    except InvalidOperation:
        raise _EventShapeError(f"payload[{key!r}] must be a decimal number") from None


class _AccountCollector(Collector):
    """Equity and day PnL: only once they are known (no run yet means no sample, not 0)."""

    def __init__(self) -> None:
        #: (equity, day PnL), replaced as one value: the event task writes it on the loop while
        #: a scrape reads it in a worker thread, and must never see half of an update.
        self.values: tuple[float, float] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = self.values
        if values is None:
            return
        equity, daily_pnl = values
        yield GaugeMetricFamily(
            "sigmax_equity_usd", "Account equity marked to market, USD.", value=equity
        )
        yield GaugeMetricFamily(
            "sigmax_daily_pnl_usd", "Profit and loss since the daily reset, USD.", value=daily_pnl
        )


#: The outbox's counters that count messages, by the outcome each is labelled with.
TELEGRAM_OUTCOMES: Final = ("sent", "dropped_full", "dropped_stale", "refused")


class _TelegramCollector(Collector):
    """The bot's outbox figures, read when Prometheus scrapes (the bot counts on its own thread;
    each figure is one int read, so a scrape never sees a torn value)."""

    def __init__(self, read: Callable[[], Mapping[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        figures = self._read()
        if not figures:
            return  # the bot has not started yet: no sample rather than a false 0
        messages = CounterMetricFamily(
            "sigmax_telegram_messages",
            "Telegram messages by outcome: sent, dropped because the outbox was full, dropped "
            "as stale, refused for good by the Bot API.",
            labels=["outcome"],
        )
        for outcome in TELEGRAM_OUTCOMES:
            messages.add_metric([outcome], figures.get(outcome, 0))
        yield messages
        yield CounterMetricFamily(
            "sigmax_telegram_retries",
            "Bot API sends retried after an error, a timeout or a 429.",
            value=figures.get("retries", 0),
        )
        yield CounterMetricFamily(
            "sigmax_telegram_redacted",
            "Telegram messages whose text the privacy screen redacted before sending.",
            value=figures.get("redacted", 0),
        )
        yield GaugeMetricFamily(
            "sigmax_telegram_outbox_queued",
            "Telegram messages waiting in the outbox.",
            value=figures.get("queued", 0),
        )


class ApiMetrics:
    """The metrics of one app, in their own registry.

    ``symbols`` are the label values allowed for markets; any other market is ``other``.
    """

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols = frozenset(symbols)
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.decision_latency = Histogram(
            "sigmax_decision_latency_seconds",
            "Time the orchestrator took to reach a decision (agents, debate, risk).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "sigmax_decisions",
            "Decisions made, by market and action (buy, sell, hold).",
            ["symbol", "action"],
            registry=registry,
        )
        self.trades = Counter(
            "sigmax_trades",
            "Fills (whole or partial), by market and side.",
            ["symbol", "side"],
            registry=registry,
        )
        self.safety_triggers = Counter(
            "sigmax_safety_triggers",
            "Safety triggers that fired and holds taken (pauses, cooldowns, panics), by trigger.",
            ["trigger"],
            registry=registry,
        )
        self.venue_errors = Counter(
            "sigmax_venue_errors",
            "Failed venue and feed requests (what the api_error_burst trigger counts).",
            registry=registry,
        )
        self.paused = Gauge(
            "sigmax_paused",
            "1 while trading is paused (any hold), else 0; read from the stored safety state.",
            registry=registry,
        )
        self.consecutive_losses = Gauge(
            "sigmax_consecutive_losses",
            "Closed trades lost in a row (what the consecutive_losses trigger counts).",
            registry=registry,
        )
        self.health_status = Gauge(
            "sigmax_health_status",
            "The checks of 'sigmax health' at scrape time: 0 healthy, 1 degraded, 2 unhealthy.",
            registry=registry,
        )
        self.http_responses = Counter(
            "sigmax_http_responses",
            "Responses of the REST API by status class (2xx, 3xx, 4xx, 5xx).",
            ["code"],
            registry=registry,
        )
        for code in ("2xx", "3xx", "4xx", "5xx"):
            self.http_responses.labels(code)
        self.events_dropped = Counter(
            "sigmax_metrics_events_dropped",
            "Engine events the metrics missed because their queue was full (counts undercount).",
            registry=registry,
        )
        self.events_unreadable = Counter(
            "sigmax_metrics_events_unreadable",
            "Engine events the metrics could not read (a payload field missing or malformed).",
            registry=registry,
        )
        self._account = _AccountCollector()
        registry.register(self._account)
        #: True once an equity event has set the account gauges (the store is not read then).
        self.equity_from_events = False
        # Known series start at 0, so a rate over them exists from the first scrape on.
        for symbol in sorted(self.symbols):
            for action in _ACTIONS:
                self.decisions.labels(symbol, action)
            for side in _SIDES:
                self.trades.labels(symbol, side)
        for trigger in _TRIGGERS:
            self.safety_triggers.labels(trigger)

    # -- updates ----------------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """Count ``event``; one with a payload the metrics cannot read is counted as such."""
        try:
            self._observe(event)
        except _EventShapeError as problem:
            self.events_unreadable.inc()
            log.warning("metrics: cannot read %s event %s: %s", event.type, event.id, problem)

    def _observe(self, event: Event) -> None:
        payload = event.payload
        kind = event.type
        if kind is EventType.DECISION:
            action = _text(payload, "decision").lower()
            self.decisions.labels(
                _bounded(payload.get("symbol"), self.symbols), _bounded(action, _ACTIONS)
            ).inc()
            latency_ms = payload.get("latency_ms")
            if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float):
                raise _EventShapeError("payload['latency_ms'] must be a number")
            self.decision_latency.observe(max(0.0, float(latency_ms)) / 1000.0)
        elif kind is EventType.FILL:
            self.trades.labels(
                _bounded(payload.get("symbol"), self.symbols),
                _bounded(payload.get("side"), _SIDES),
            ).inc()
        elif kind is EventType.EQUITY:
            self._account.values = (_money(payload, "equity"), _money(payload, "daily_pnl"))
            self.equity_from_events = True
        elif (
            kind in (EventType.PAUSE, EventType.SAFETY, EventType.PANIC)
            and payload.get("kind") in _COUNTED_SAFETY_KINDS
        ):
            # An operator's pause names no trigger: it is a manual hold.
            trigger = payload.get("trigger") or TriggerName.MANUAL.value
            self.safety_triggers.labels(_bounded(trigger, _TRIGGERS)).inc()

    def record_venue_error(self) -> None:
        """One venue or feed request failed (call it where the engine records API errors)."""
        self.venue_errors.inc()

    def refresh_from_store(self, ctx: ApiContext) -> None:
        """Read what the scrape shows from the stored state (blocking: call it off the loop)."""
        safety = safety_report(ctx.home)
        self.paused.set(1 if safety["paused"] else 0)
        for trigger in safety["triggers"]:
            value = trigger.get("value")
            if trigger.get("name") == TriggerName.CONSECUTIVE_LOSSES.value and isinstance(
                value, int
            ):
                self.consecutive_losses.set(value)
        report = collect_health(
            ctx.home, api_check=lambda _settings: Check("api", "ok", "answering"), safety=safety
        )
        self.health_status.set(report.exit_code)
        if self.equity_from_events:
            return
        with ctx.home.db.session() as session:
            run = newest_run(session)
            if run is None:
                return
            row = session.scalars(
                select(EquitySnapshotRow)
                .where(EquitySnapshotRow.run_id == run.info.id)
                .order_by(EquitySnapshotRow.taken_at_ms.desc(), EquitySnapshotRow.id.desc())
                .limit(1)
            ).first()
            # An equity event may have arrived during the read; it is at least as new.
            if row is not None and not self.equity_from_events:
                self._account.values = (float(row.equity), float(row.daily_pnl))

    def watch_telegram(self, read: Callable[[], Mapping[str, int]]) -> None:
        """Report the bot's outbox: ``read`` returns its counters (``sent``, ``dropped_full``,
        ``dropped_stale``, ``refused``, ``retries``, ``redacted``, ``queued``), or nothing before
        the bot has started."""
        self.registry.register(_TelegramCollector(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsFeed:
    """The background task that turns the bus's events into metrics.

    :meth:`start` subscribes (so no event published after it returns is missed) and starts
    the task; :meth:`stop` ends both. The app's lifespan calls them.
    """

    def __init__(self, metrics: ApiMetrics, bus: EventBus) -> None:
        self._metrics = metrics
        self._bus = bus
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._reported_drops = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        subscription = self._bus.subscribe(_FEED_TYPES, max_queue=FEED_MAX_QUEUE, name="metrics")
        try:
            await subscription.ready()
        except BaseException:
            await subscription.close()
            raise
        self._subscription = subscription
        self._task = asyncio.get_running_loop().create_task(
            self._consume(subscription), name="sigmax-metrics-feed"
        )

    async def stop(self) -> None:
        task, subscription = self._task, self._subscription
        if subscription is not None:
            await subscription.close()  # ends the iteration: the task returns
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def check(self) -> None:
        """Raise :class:`MetricsUnavailableError` unless the consumer is running."""
        if self._task is None:
            raise MetricsUnavailableError(
                "the metrics' event consumer was never started: serve the app with its "
                "lifespan on (uvicorn lifespan='on')"
            )
        if self._task.done():
            raise MetricsUnavailableError(
                "the metrics' event consumer stopped (the event bus closed or it failed; "
                "see the SIGMAX log)"
            )

    async def _consume(self, subscription: Subscription) -> None:
        metrics = self._metrics
        async for event in subscription:
            metrics.observe(event)
            dropped = subscription.dropped
            if dropped > self._reported_drops:
                metrics.events_dropped.inc(dropped - self._reported_drops)
                self._reported_drops = dropped


def metrics_router(ctx: ApiContext, metrics: ApiMetrics, feed: MetricsFeed | None) -> APIRouter:
    """``GET /metrics`` (access control is added by the caller)."""
    router = APIRouter(tags=["metrics"])

    @router.get(
        "/metrics",
        # A class without a media type: the OpenAPI document then shows the 200 content below
        # (text) and the error responses as what they are (JSON bodies).
        response_class=Response,
        summary="Prometheus metrics",
        description=(
            "Decisions, fills, decision latency, equity, day PnL, pause state, safety "
            "triggers, venue errors and process metrics, in the Prometheus text format."
        ),
        responses={
            200: {
                "description": "The metrics in the Prometheus text format (version 0.0.4).",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    def scrape() -> Response:
        # A plain function: FastAPI runs it in a worker thread, so the database reads below
        # never block the event loop the engine may share.
        if feed is not None:
            feed.check()
        metrics.refresh_from_store(ctx)
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    return router


class ResponseCounter:
    """ASGI middleware counting the API's responses by status class for ``/metrics``."""

    def __init__(self, app: Any, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Any) -> None:
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
                self.metrics.http_responses.labels(f"{min(max(status // 100, 2), 5)}xx").inc()
            await send(message)

        await self.app(scope, receive, counting_send)
