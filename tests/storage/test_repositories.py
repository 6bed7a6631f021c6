"""Repository round trips on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from sigmax.storage.database import Database
from sigmax.storage.errors import DuplicateRecordError
from sigmax.storage.models import (
    DecisionAction,
    DecisionRow,
    EquitySnapshotRow,
    FillRow,
    InstrumentRow,
    OrderPurpose,
    OrderRow,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionRow,
    RunMode,
    RunRow,
    RunStatus,
    SafetyEventKind,
    SafetyEventRow,
)
from sigmax.storage.repositories import (
    DecisionRepository,
    EngineStateRepository,
    EquitySnapshotRepository,
    FillRepository,
    InstrumentRepository,
    OrderRepository,
    PositionRepository,
    RunRepository,
    SafetyEventRepository,
)

HOUR_MS = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def _instrument(symbol: str, *, active: bool = True, min_notional: str = "5") -> InstrumentRow:
    base, quote = symbol.split("/")
    return InstrumentRow(
        symbol=symbol,
        base=base,
        quote=quote,
        exchange="binance",
        price_precision=2,
        qty_precision=5,
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.00001"),
        min_qty=Decimal("0.00001"),
        min_notional=Decimal(min_notional),
        active=active,
        updated_at_ms=T0,
    )


def _decision(decision_id: str, symbol: str, decided_at_ms: int, **changes: object) -> DecisionRow:
    decision = DecisionRow(
        id=decision_id,
        run_id=None,
        symbol=symbol,
        timeframe="1h",
        profile="conservative",
        decided_at_ms=decided_at_ms,
        data_until_ms=decided_at_ms,
        action=DecisionAction.HOLD,
        confidence=0.5,
        size_usd=Decimal("0"),
        record={"agents": []},
        created_at_ms=decided_at_ms,
    )
    for name, value in changes.items():
        setattr(decision, name, value)
    return decision


def _order(client_order_id: str, decision_id: str | None = None) -> OrderRow:
    return OrderRow(
        client_order_id=client_order_id,
        decision_id=decision_id,
        venue="paper",
        exchange_order_id=None,
        symbol="BTC/USDT",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        purpose=OrderPurpose.ENTRY,
        qty=Decimal("0.00023"),
        price=Decimal("43000.12"),
        filled_qty=Decimal("0"),
        status=OrderStatus.OPEN,
        reject_reason=None,
        policy_verdict=None,
        created_at_ms=T0,
        updated_at_ms=T0,
    )


def _fill(order_id: int, trade_seq: int, filled_at_ms: int, symbol: str = "BTC/USDT") -> FillRow:
    return FillRow(
        order_id=order_id,
        trade_seq=trade_seq,
        exchange_trade_id=None,
        symbol=symbol,
        side=OrderSide.BUY,
        qty=Decimal("0.0001"),
        price=Decimal("43000.12"),
        fee=Decimal("0.0043000120"),
        fee_currency="USDT",
        realized_pnl=Decimal("0"),
        filled_at_ms=filled_at_ms,
        candle_open_ms=filled_at_ms - filled_at_ms % HOUR_MS,
        decision_id=None,
    )


def _snapshot(taken_at_ms: int, equity: str, run_id: str | None = None) -> EquitySnapshotRow:
    return EquitySnapshotRow(
        run_id=run_id,
        taken_at_ms=taken_at_ms,
        cash=Decimal("100"),
        equity=Decimal(equity),
        realized_pnl=Decimal("0"),
        unrealized_pnl=Decimal(equity) - Decimal("100"),
        fees=Decimal("0.01"),
        daily_pnl=Decimal("-0.01"),
    )


def test_instruments_upsert_get_and_list(db: Database) -> None:
    with db.transaction() as session:
        instruments = InstrumentRepository(session)
        instruments.upsert(_instrument("ETH/USDT"))
        instruments.upsert(_instrument("BTC/USDT"))
        instruments.upsert(_instrument("SOL/USDT", active=False))
    with db.transaction() as session:
        updated = InstrumentRepository(session).upsert(_instrument("BTC/USDT", min_notional="10"))
        assert updated.min_notional == Decimal("10")
    with db.session() as session:
        instruments = InstrumentRepository(session)
        btc = instruments.get("BTC/USDT")
        assert btc is not None
        assert (btc.base, btc.quote, btc.min_notional, btc.step_size) == (
            "BTC",
            "USDT",
            Decimal("10"),
            Decimal("0.00001"),
        )
        assert instruments.get("DOGE/USDT") is None
        assert [i.symbol for i in instruments.list()] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
        assert [i.symbol for i in instruments.list(active_only=True)] == ["BTC/USDT", "ETH/USDT"]


def test_runs_add_get_latest(db: Database) -> None:
    with db.transaction() as session:
        runs = RunRepository(session)
        for number, started in enumerate((T0, T0 + HOUR_MS)):
            runs.add(
                RunRow(
                    id=f"run-{number}",
                    mode=RunMode.PAPER,
                    profile="conservative",
                    status=RunStatus.RUNNING,
                    started_at_ms=started,
                    ended_at_ms=None,
                    config={"max_position_size_usd": "10"},
                )
            )
    with db.session() as session:
        runs = RunRepository(session)
        latest = runs.latest()
        assert latest is not None
        assert latest.id == "run-1"
        first = runs.get("run-0")
        assert first is not None
        assert (first.mode, first.status) == (RunMode.PAPER, RunStatus.RUNNING)
        assert first.config == {"max_position_size_usd": "10"}
        assert runs.get("missing") is None


def test_decisions_round_trip_and_newest_first(db: Database) -> None:
    record = {
        "agents": [{"name": "bull", "score": 0.61, "argument": "RSI 28.4 < 30 → oversold"}],
        "debate": {"rounds": 2},
        "inputs_until_ms": T0 + 2 * HOUR_MS,
    }
    with db.transaction() as session:
        decisions = DecisionRepository(session)
        decisions.add(_decision("btc-1", "BTC/USDT", T0 + HOUR_MS))
        decisions.add(
            _decision(
                "btc-2",
                "BTC/USDT",
                T0 + 2 * HOUR_MS,
                action=DecisionAction.BUY,
                confidence=0.72,
                size_usd=Decimal("9.99"),
                record=record,
            )
        )
        decisions.add(_decision("eth-1", "ETH/USDT", T0 + 3 * HOUR_MS))
    with db.session() as session:
        decisions = DecisionRepository(session)
        latest = decisions.latest_for_symbol("BTC/USDT")
        assert latest is not None
        assert latest.id == "btc-2"
        assert (latest.action, latest.confidence, latest.size_usd) == (
            DecisionAction.BUY,
            0.72,
            Decimal("9.99"),
        )
        assert latest.record == record
        assert decisions.latest_for_symbol("SOL/USDT") is None
        assert [d.id for d in decisions.list("BTC/USDT")] == ["btc-2", "btc-1"]
        assert [d.id for d in decisions.list(limit=2)] == ["eth-1", "btc-2"]
        got = decisions.get("btc-1")
        assert got is not None
        assert got.symbol == "BTC/USDT"
        with pytest.raises(ValueError, match="limit must be at least 1"):
            decisions.list(limit=0)


def test_orders_add_and_find_by_client_id(db: Database) -> None:
    verdict = {"allowed": True, "policies": ["max_position"], "reasons": []}
    with db.transaction() as session:
        DecisionRepository(session).add(_decision("d-1", "BTC/USDT", T0))
        orders = OrderRepository(session)
        placed = orders.add(_order("sigmax-d-1-0", decision_id="d-1"))
        manual = orders.add(_order("manual-1"))
        manual.policy_verdict = verdict
        assert placed.id is not None
        placed_id = placed.id
    with db.session() as session:
        orders = OrderRepository(session)
        found = orders.get_by_client_id("sigmax-d-1-0")
        assert found is not None
        assert found.id == placed_id
        assert (found.side, found.type, found.status) == (
            OrderSide.BUY,
            OrderType.LIMIT,
            OrderStatus.OPEN,
        )
        assert (found.qty, found.price, found.policy_verdict) == (
            Decimal("0.00023"),
            Decimal("43000.12"),
            None,
        )
        assert orders.get(placed_id) is not None
        assert orders.get_by_client_id("nope") is None
        assert [o.client_order_id for o in orders.list_for_decision("d-1")] == ["sigmax-d-1-0"]
        by_client = orders.get_by_client_id("manual-1")
        assert by_client is not None
        assert by_client.decision_id is None
        assert by_client.policy_verdict == verdict


def test_enums_are_stored_as_their_short_string_values(db: Database) -> None:
    with db.transaction() as session:
        DecisionRepository(session).add(_decision("d-1", "BTC/USDT", T0))
        order = _order("c-1")
        order.status = OrderStatus.PARTIALLY_FILLED
        OrderRepository(session).add(order)
    with db.engine.connect() as connection:
        assert tuple(connection.execute(text("SELECT side, type, status FROM orders")).one()) == (
            "buy",
            "limit",
            "partially_filled",
        )
        assert connection.execute(text("SELECT action FROM decisions")).scalar() == "HOLD"


def test_fills_add_list_and_idempotent_sequence(db: Database) -> None:
    with db.transaction() as session:
        order = OrderRepository(session).add(_order("c-1"))
        other = OrderRepository(session).add(_order("c-2"))
        order_id, other_id = order.id, other.id
        fills = FillRepository(session)
        fills.add(_fill(order_id, 2, T0 + 2_000))
        fills.add(_fill(order_id, 1, T0 + 1_000))
        fills.add(_fill(other_id, 1, T0 + 500, symbol="ETH/USDT"))
    with pytest.raises(DuplicateRecordError, match="trade_seq"), db.transaction() as session:
        FillRepository(session).add(_fill(order_id, 1, T0 + 3_000))
    with db.session() as session:
        fills = FillRepository(session)
        first, second = fills.list(order_id=order_id)
        assert (first.trade_seq, second.trade_seq) == (1, 2)
        assert first.fee == Decimal("0.004300012")
        assert first.candle_open_ms == T0
        assert [f.symbol for f in fills.list()] == ["ETH/USDT", "BTC/USDT", "BTC/USDT"]
        assert [f.order_id for f in fills.list(symbol="ETH/USDT")] == [other_id]


def test_positions_upsert_overwrites_by_symbol(db: Database) -> None:
    with db.transaction() as session:
        PositionRepository(session).upsert(
            PositionRow(
                symbol="BTC/USDT",
                qty=Decimal("0.001"),
                avg_price=Decimal("43000"),
                realized_pnl=Decimal("0"),
                updated_at_ms=T0,
            )
        )
    with db.transaction() as session:
        PositionRepository(session).upsert(
            PositionRow(
                symbol="BTC/USDT",
                qty=Decimal("0"),
                avg_price=Decimal("0"),
                realized_pnl=Decimal("1.234567890123456789"),
                updated_at_ms=T0 + HOUR_MS,
            )
        )
    with db.session() as session:
        positions = PositionRepository(session)
        (position,) = positions.list()
        assert position.symbol == "BTC/USDT"
        assert (position.qty, position.realized_pnl, position.updated_at_ms) == (
            Decimal("0"),
            Decimal("1.234567890123456789"),
            T0 + HOUR_MS,
        )
        assert positions.get("ETH/USDT") is None


def test_safety_events_recent_newest_first(db: Database) -> None:
    with db.transaction() as session:
        events = SafetyEventRepository(session)
        events.add(
            SafetyEventRow(
                occurred_at_ms=T0,
                kind=SafetyEventKind.TRIGGER,
                trigger="consecutive_losses",
                reason="3 consecutive losing trades",
                details={"losses": 3},
            )
        )
        events.add(
            SafetyEventRow(
                occurred_at_ms=T0,
                kind=SafetyEventKind.PAUSE,
                trigger="consecutive_losses",
                reason="paused for 3600 s",
                details={"duration_s": 3600},
            )
        )
        events.add(
            SafetyEventRow(
                occurred_at_ms=T0 + HOUR_MS,
                kind=SafetyEventKind.RESUME,
                trigger=None,
                reason="pause expired",
                details={},
            )
        )
    with db.session() as session:
        events = SafetyEventRepository(session)
        assert [e.kind for e in events.recent()] == [
            SafetyEventKind.RESUME,
            SafetyEventKind.PAUSE,
            SafetyEventKind.TRIGGER,
        ]
        (newest,) = events.recent(limit=1)
        assert (newest.trigger, newest.details) == (None, {})


def test_equity_series_in_time_order_with_bounds_and_run(db: Database) -> None:
    with db.transaction() as session:
        RunRepository(session).add(
            RunRow(
                id="r",
                mode=RunMode.BACKTEST,
                profile="balanced",
                status=RunStatus.COMPLETED,
                started_at_ms=T0,
                ended_at_ms=T0 + 3 * HOUR_MS,
                config={},
            )
        )
        snapshots = EquitySnapshotRepository(session)
        snapshots.add(_snapshot(T0 + 2 * HOUR_MS, "101.5", run_id="r"))
        snapshots.add(_snapshot(T0, "100", run_id="r"))
        snapshots.add(_snapshot(T0 + HOUR_MS, "99.999999999999999999", run_id="r"))
        snapshots.add(_snapshot(T0 + HOUR_MS, "50"))
    with db.session() as session:
        snapshots = EquitySnapshotRepository(session)
        assert [s.equity for s in snapshots.series(run_id="r")] == [
            Decimal("100"),
            Decimal("99.999999999999999999"),
            Decimal("101.5"),
        ]
        window = snapshots.series(since_ms=T0 + HOUR_MS, until_ms=T0 + HOUR_MS)
        assert sorted(s.equity for s in window) == [Decimal("50"), Decimal("99.999999999999999999")]
        assert len(snapshots.series()) == 4


def test_engine_state_get_set_delete_and_prefix(db: Database) -> None:
    with db.transaction() as session:
        state = EngineStateRepository(session)
        assert state.get("last_candle:BTC/USDT:1h") is None
        state.set("last_candle:BTC/USDT:1h", {"open_ms": T0}, updated_at_ms=T0)
        state.set("last_candle:ETH/USDT:1h", {"open_ms": T0}, updated_at_ms=T0)
        state.set("lastXcandle:BTC", 1, updated_at_ms=T0)
        state.set("run_id", "run-7", updated_at_ms=T0)
    with db.transaction() as session:
        state = EngineStateRepository(session)
        cursor = state.get("last_candle:BTC/USDT:1h")
        assert cursor is not None
        cursor["open_ms"] += HOUR_MS  # the same dict, changed in place, then stored again
        state.set("last_candle:BTC/USDT:1h", cursor, updated_at_ms=T0)
        with pytest.raises(ValueError, match="must not be None"):
            state.set("run_id", None, updated_at_ms=T0)
    with db.transaction() as session:
        state = EngineStateRepository(session)
        assert state.get("last_candle:BTC/USDT:1h") == {"open_ms": T0 + HOUR_MS}
        assert state.get("run_id") == "run-7"
        # "_" must match itself, not any character as in SQL LIKE.
        assert state.items("last_candle:") == {
            "last_candle:BTC/USDT:1h": {"open_ms": T0 + HOUR_MS},
            "last_candle:ETH/USDT:1h": {"open_ms": T0},
        }
        assert state.delete("run_id") is True
        assert state.delete("run_id") is False
    with db.session() as session:
        assert EngineStateRepository(session).get("run_id") is None
