"""``GET /metrics``: Prometheus metrics from the engine's events and the stored state.

Through a real uvicorn server (running the app's lifespan, which starts the event consumer);
the events are the engine's own (:func:`sigmax.engine.events.publish_step` over domain objects)
published to an :class:`InProcessBus`, the scrape is parsed with prometheus-client's parser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.api_harness import copy_home
from api.live_harness import TOKEN, Served, eventually, scrape, serve
from engine.account_runs import clean_home
from sigmax.api import ApiToken, create_app
from sigmax.api.metrics import FEED_MAX_QUEUE, METRICS_CONTENT_TYPE
from sigmax.bus import Event, EventType, InProcessBus
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.domain.orders import Fill, Liquidity, OrderSide
from sigmax.engine.account import AccountHome, open_account_home
from sigmax.engine.events import publish_step
from sigmax.engine.run_store import EquityPoint, FillRecord, StepWrite
from sigmax.engine.safety_service import safety_report
from sigmax.safety.state import SafetyEvent
from sigmax.storage.models import EquitySnapshotRow, SafetyEventKind

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SECRET = "exchange-secret-5f1e9a2c7b3d"
T0 = 1_700_000_000_000


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _decision(symbol: str, action: Action, latency_ms: float, n: int) -> DecisionRecord:
    return DecisionRecord(
        id=f"d{n}",
        symbol=symbol,
        timeframe="1h",
        profile="conservative",
        timestamp_ms=T0 + n,
        data_until_ms=T0 + n,
        decision=action,
        confidence=0.8,
        size_usd=10.0,
        stop_loss=None,
        take_profit=None,
        price=43000.0,
        score=0.6,
        reasoning={},
        agents=(),
        debate=(),
        indicators={},
        inputs={},
        config_digest="digest",
        latency_ms=latency_ms,
    )


def _fill(symbol: str, side: OrderSide, n: int) -> FillRecord:
    fill = Fill(
        client_order_id=f"o{n}",
        symbol=symbol,
        side=side,
        qty=Decimal("0.001"),
        price=Decimal("43000"),
        fee=Decimal("0.043"),
        timestamp_ms=T0 + n,
        liquidity=Liquidity.TAKER,
    )
    return FillRecord(fill, Decimal(0), T0, f"d{n}")


def _safety(kind: SafetyEventKind, trigger: str | None, n: int) -> SafetyEvent:
    return SafetyEvent(kind=kind, trigger=trigger, reason="test", details={}, at_ms=T0 + n)


def _step() -> StepWrite:
    """One committed write with a bit of everything the metrics count."""
    return StepWrite(
        decisions=[
            _decision("BTC/USDT", Action.BUY, 12.5, 1),
            _decision("ETH/USDT", Action.HOLD, 250.0, 2),
            _decision("DOGE/USDT", Action.SELL, 3.0, 3),  # not a configured market
        ],
        fills=[_fill("BTC/USDT", OrderSide.BUY, 1), _fill("ETH/USDT", OrderSide.SELL, 2)],
        equity=[
            EquityPoint(
                taken_at_ms=T0,
                cash=Decimal("900"),
                equity=Decimal("1012.5"),
                realized_pnl=Decimal("1"),
                unrealized_pnl=Decimal("11.5"),
                fees=Decimal("0.2"),
                daily_pnl=Decimal("-3.25"),
            )
        ],
        safety_events=[
            _safety(SafetyEventKind.TRIGGER, "daily_loss", 1),
            _safety(SafetyEventKind.PAUSE, None, 2),  # an operator's pause
            _safety(SafetyEventKind.PANIC, "panic", 3),
            _safety(SafetyEventKind.RESUME, None, 4),  # not a trigger
            _safety(SafetyEventKind.VIOLATION, "privacy_breach", 5),
            _safety(SafetyEventKind.COOLDOWN, "stoploss_cooldown", 6),
            _safety(SafetyEventKind.TRIGGER, "made_up_trigger", 7),
        ],
    )


def _decisions_seen(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "sigmax_decisions_total")


@pytest.fixture
def account(sigmax_home: Path) -> Iterator[AccountHome]:
    (sigmax_home / ".env").write_text(f"API_SECRET={SECRET}\n", encoding="utf-8")
    with open_account_home() as home:
        assert SECRET in home.settings.secret_values()
        yield home


@pytest.fixture
async def served(account: AccountHome, bus: InProcessBus) -> AsyncIterator[Served]:
    async with serve(create_app(account, ApiToken(TOKEN, "environment"), bus=bus)) as live:
        yield live


@pytest.fixture
def completed(completed_home: Path, tmp_path: Path) -> Iterator[AccountHome]:
    home = copy_home(completed_home, tmp_path / "home")
    with clean_home(home), open_account_home() as account:
        yield account


# --- from the engine's events -------------------------------------------------------------------


async def test_the_engine_events_become_metrics(served: Served, bus: InProcessBus) -> None:
    publish_step(bus, "run-1", _step())

    async def scraped() -> Samples | None:
        samples = _samples((await scrape(served)).text)
        return samples if _decisions_seen(samples) == 3 else None

    samples: Samples = await eventually(scraped)
    assert _value(samples, "sigmax_decisions_total", symbol="BTC/USDT", action="buy") == 1
    assert _value(samples, "sigmax_decisions_total", symbol="ETH/USDT", action="hold") == 1
    assert _value(samples, "sigmax_decisions_total", symbol="other", action="sell") == 1
    # Configured markets are there from the start, at 0.
    assert _value(samples, "sigmax_decisions_total", symbol="SOL/USDT", action="buy") == 0

    assert _value(samples, "sigmax_decision_latency_seconds_count") == 3
    assert _value(samples, "sigmax_decision_latency_seconds_sum") == pytest.approx(0.2655)
    assert _value(samples, "sigmax_decision_latency_seconds_bucket", le="0.01") == 1
    assert _value(samples, "sigmax_decision_latency_seconds_bucket", le="0.025") == 2
    assert _value(samples, "sigmax_decision_latency_seconds_bucket", le="0.25") == 3

    assert _value(samples, "sigmax_trades_total", symbol="BTC/USDT", side="buy") == 1
    assert _value(samples, "sigmax_trades_total", symbol="ETH/USDT", side="sell") == 1
    assert _value(samples, "sigmax_trades_total", symbol="BTC/USDT", side="sell") == 0

    assert _value(samples, "sigmax_equity_usd") == 1012.5
    assert _value(samples, "sigmax_daily_pnl_usd") == -3.25

    triggers = {
        dict(labels)["trigger"]: value
        for (name, labels), value in samples.items()
        if name == "sigmax_safety_triggers_total" and value
    }
    assert triggers == {
        "daily_loss": 1,
        "manual": 1,
        "panic": 1,
        "privacy_breach": 1,
        "stoploss_cooldown": 1,
        "other": 1,
    }
    assert _value(samples, "sigmax_paused") == 0  # the stored state: this home never paused
    assert _value(samples, "sigmax_metrics_events_unreadable_total") == 0
    assert _value(samples, "sigmax_metrics_events_dropped_total") == 0


async def test_an_unreadable_event_is_counted_not_lost(served: Served, bus: InProcessBus) -> None:
    # A decision from a publisher that does not send its latency: counted, and flagged.
    bus.publish_nowait(Event(EventType.DECISION, T0, {"symbol": "BTC/USDT", "decision": "BUY"}))
    bus.publish_nowait(Event(EventType.EQUITY, T0, {"equity": "lots", "daily_pnl": "0"}))

    async def scraped() -> Samples | None:
        samples = _samples((await scrape(served)).text)
        return samples if _value(samples, "sigmax_metrics_events_unreadable_total") == 2 else None

    samples: Samples = await eventually(scraped)
    assert _value(samples, "sigmax_decisions_total", symbol="BTC/USDT", action="buy") == 1
    assert _value(samples, "sigmax_decision_latency_seconds_count") == 0
    assert ("sigmax_equity_usd", frozenset()) not in samples  # no run, no readable equity


async def test_events_the_metrics_could_not_keep_up_with_are_counted(
    served: Served, bus: InProcessBus
) -> None:
    # Published without yielding: the consumer cannot run until the burst is over.
    extra = 25
    for n in range(FEED_MAX_QUEUE + extra):
        bus.publish_nowait(Event(EventType.FILL, T0 + n, {"symbol": "BTC/USDT", "side": "buy"}))

    async def scraped() -> Samples | None:
        samples = _samples((await scrape(served)).text)
        seen = _value(samples, "sigmax_trades_total", symbol="BTC/USDT", side="buy")
        return samples if seen == FEED_MAX_QUEUE else None

    samples: Samples = await eventually(scraped)
    assert _value(samples, "sigmax_metrics_events_dropped_total") == extra


async def test_the_consumer_runs_with_the_app(account: AccountHome, bus: InProcessBus) -> None:
    app = create_app(account, ApiToken(TOKEN, "environment"), bus=bus)
    assert not bus.subscriptions  # nothing before the app starts
    async with serve(app) as served:
        assert [s.name for s in bus.subscriptions] == ["metrics"]
        assert (await scrape(served)).status_code == 200
    assert not bus.subscriptions  # unsubscribed when the app stopped


async def test_metrics_say_so_when_their_events_stopped(served: Served, bus: InProcessBus) -> None:
    await bus.close()
    response = await eventually(
        lambda: _status_503(served), timeout_s=5
    )  # the consumer ends with the bus
    error = response.json()["error"]
    assert error["rule"] == "unavailable"
    assert "event consumer stopped" in error["message"]


async def _status_503(served: Served) -> httpx.Response | None:
    response = await scrape(served)
    return response if response.status_code == 503 else None


# --- without a bus: the process and the stored state --------------------------------------------


async def test_without_a_bus_the_stored_state_is_served(completed: AccountHome) -> None:
    app = create_app(completed, ApiToken(TOKEN, "environment"))
    async with serve(app) as served:
        response = await scrape(served)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == METRICS_CONTENT_TYPE
    samples = _samples(response.text)
    with completed.db.session() as session:
        newest = session.query(EquitySnapshotRow).order_by(EquitySnapshotRow.taken_at_ms).all()[-1]
        equity, daily_pnl = float(newest.equity), float(newest.daily_pnl)
    assert _value(samples, "sigmax_equity_usd") == equity
    assert _value(samples, "sigmax_daily_pnl_usd") == daily_pnl
    assert _value(samples, "sigmax_paused") == (1 if safety_report(completed)["paused"] else 0)
    # Nothing was published: the counters exist, at 0.
    assert _decisions_seen(samples) == 0
    # The process itself.
    assert _value(samples, "process_resident_memory_bytes") > 0
    assert any(name == "python_info" for name, _ in samples)


async def test_the_pause_gauge_follows_the_stored_safety_state(completed: AccountHome) -> None:
    app = create_app(completed, ApiToken(TOKEN, "environment"))
    seen: list[float] = []
    async with serve(app) as served, httpx.AsyncClient(base_url=served.http) as client:
        # The run ended paused by its loss streak; the operator overrides it, then pauses.
        seen.append(_value(_samples((await client.get("/metrics")).text), "sigmax_paused"))
        for path, body in [
            ("/api/control/resume", {"force": True}),
            ("/api/control/pause", {"duration": 3600}),
        ]:
            response = await client.post(path, json=body, headers=served.auth)
            assert response.status_code == 200, response.text
            seen.append(_value(_samples((await client.get("/metrics")).text), "sigmax_paused"))
    assert seen == [1, 0, 1]


async def test_no_run_means_no_equity_sample(account: AccountHome) -> None:
    async with serve(create_app(account, ApiToken(TOKEN, "environment"))) as served:
        samples = _samples((await scrape(served)).text)
    assert ("sigmax_equity_usd", frozenset()) not in samples
    assert _value(samples, "sigmax_paused") == 0


# --- access and the documents -------------------------------------------------------------------


async def test_no_secret_or_token_in_the_metrics(served: Served, bus: InProcessBus) -> None:
    # A payload holding the secrets: none of it may reach a label or a value.
    publish_step(bus, "run-1", _step())
    bus.publish_nowait(Event(EventType.FILL, T0, {"symbol": TOKEN, "side": SECRET}))
    text = ""

    async def scraped() -> str | None:
        nonlocal text
        text = (await scrape(served, headers=served.auth)).text
        return text if _decisions_seen(_samples(text)) == 3 else None

    await eventually(scraped)
    assert TOKEN not in text
    assert SECRET not in text
    assert _value(_samples(text), "sigmax_trades_total", symbol="other", side="other") == 1


async def test_beyond_loopback_metrics_need_the_token(account: AccountHome) -> None:
    app = create_app(account, ApiToken(TOKEN, "environment"), host="0.0.0.0")
    async with serve(app) as served:
        refused = await scrape(served)
        wrong = await scrape(served, headers={"Authorization": "Bearer not-the-token-at-all"})
        allowed = await scrape(served, headers=served.auth)
    assert refused.status_code == 401
    assert wrong.status_code == 401
    assert allowed.status_code == 200
    assert TOKEN not in refused.text + wrong.text + allowed.text


async def test_openapi_documents_metrics_as_text(account: AccountHome) -> None:
    async with (
        serve(create_app(account, ApiToken(TOKEN, "environment"))) as served,
        httpx.AsyncClient(base_url=served.http) as client,
    ):
        document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/metrics"]["get"]
    assert set(document["paths"]["/metrics"]) == {"get"}
    assert operation["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}
    }
    for status in ("401", "500", "503"):
        assert operation["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }
    assert operation["security"] == [{"SIGMAX API token": []}]
    assert "/api/ws" not in document["paths"]  # WebSocket routes are not in OpenAPI
