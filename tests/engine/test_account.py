"""The account services on real paper runs: portfolio, trades, status and manual orders.

Every figure is checked against what the engine itself committed (its run report, its resume
point, the fill and order rows), and a queued manual order is filled by resuming the real run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.account_runs import (
    START_MS,
    SYMBOLS,
    UNTIL_MS,
    clean_home,
    complete_run,
    stop_run_when_protected,
)
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.ledger import Ledger
from sigmax.domain.orders import OrderSide, OrderStatus, OrderType, client_order_id
from sigmax.engine.account import (
    AccountHome,
    open_account_home,
    read_portfolio,
    read_status,
    read_trades,
)
from sigmax.engine.manual_order import MANUAL_ORDER_PREFIX, queue_manual_order
from sigmax.engine.run_store import read_run_state
from sigmax.engine.runner import RunReport
from sigmax.engine.trader import command_key
from sigmax.errors import InputError
from sigmax.execution.instruments import bundled_market_specs
from sigmax.ops.store import load_store
from sigmax.ops.verify import origin_of, verify_store
from sigmax.storage.models import (
    ControlCommandRow,
    ControlStatus,
    DecisionRow,
    FillRow,
    OrderRow,
    RunStatus,
)
from sigmax.storage.repositories import EngineStateRepository

HOUR_MS = 3_600_000
PORTFOLIO_KEYS = {
    "run_id", "profile", "as_of", "cash", "equity", "realized_pnl", "unrealized_pnl", "fees",
    "daily_pnl", "daily_pnl_day", "positions",
}  # fmt: skip
POSITION_KEYS = {"symbol", "qty", "avg_price", "mark", "unrealized_pnl"}
TRADE_KEYS = {
    "decision_id", "symbol", "side", "qty", "price", "fee", "realized_pnl", "timestamp",
    "order_type", "client_order_id", "decision_data_until",
}  # fmt: skip


@dataclass(frozen=True)
class CompletedRun:
    home: Path
    report: RunReport


@pytest.fixture(scope="module")
def completed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompletedRun]:
    """One finished run, shared by the tests that only read."""
    home = tmp_path_factory.mktemp("completed")
    with clean_home(home):
        report = complete_run()
        assert report.totals.fills >= 6, "the run must trade for these tests to mean much"
        yield CompletedRun(home, report)


@pytest.fixture
def account(completed: CompletedRun) -> Iterator[AccountHome]:
    with clean_home(completed.home), open_account_home() as home:
        yield home


def _state(home: AccountHome) -> dict[str, Any]:
    """The run's resume point as every reader sees it (its ledger with all its entries)."""
    with home.db.session() as session:
        (key,) = EngineStateRepository(session).items("run:")
        state = read_run_state(session, key.removeprefix("run:"))
    assert state is not None
    return dict(state)


def _fill_rows(home: AccountHome) -> list[dict[str, Any]]:
    """Each fill row with its order's type, client id and decision, oldest first."""
    query = (
        select(
            FillRow.symbol,
            FillRow.side,
            FillRow.qty,
            FillRow.price,
            FillRow.fee,
            FillRow.realized_pnl,
            FillRow.filled_at_ms,
            OrderRow.type,
            OrderRow.client_order_id,
            OrderRow.decision_id,
        )
        .join(OrderRow, FillRow.order_id == OrderRow.id)
        .order_by(FillRow.filled_at_ms, FillRow.id)
    )
    with home.db.session() as session:
        return [dict(row._mapping) for row in session.execute(query)]


# --- portfolio ----------------------------------------------------------------------------------


def test_portfolio_is_the_committed_account_of_the_run(
    account: AccountHome, completed: CompletedRun
) -> None:
    portfolio = read_portfolio(account)
    expected = completed.report.account
    assert portfolio.run_id == completed.report.run_id
    assert portfolio.cash == expected["cash"]
    assert portfolio.equity == expected["equity"]
    assert portfolio.realized_pnl == expected["realized_pnl"]
    assert portfolio.unrealized_pnl == expected["unrealized_pnl"]
    assert portfolio.fees == expected["fees"]
    assert portfolio.as_of_ms == UNTIL_MS  # the last candle opens an hour before --until
    # equity == cash + Σ qty × mark, exactly, with the marks of the resume point
    marks = {s: Decimal(m) for s, m in _state(account)["marks"].items()}
    assert {p.mark for p in portfolio.positions} <= set(marks.values())
    held = sum((p.qty * marks[p.symbol] for p in portfolio.positions), start=Decimal(0))
    assert portfolio.equity == portfolio.cash + held
    assert portfolio.unrealized_pnl == sum(
        (p.unrealized_pnl for p in portfolio.positions), start=Decimal(0)
    )


def test_portfolio_daily_pnl_is_the_change_since_the_utc_day_opened(account: AccountHome) -> None:
    portfolio = read_portfolio(account)
    ledger = Ledger.restore(_state(account)["ledger"])
    assert portfolio.day is not None
    assert portfolio.day.isoformat() == "2022-11-05"
    assert portfolio.daily_pnl == portfolio.equity - ledger.day_open_equity(portfolio.day)


def test_portfolio_json_holds_exact_decimals_as_strings(account: AccountHome) -> None:
    portfolio = read_portfolio(account)
    document = portfolio.as_json()
    assert set(document) == PORTFOLIO_KEYS
    for key in ("cash", "equity", "realized_pnl", "unrealized_pnl", "fees", "daily_pnl"):
        assert isinstance(document[key], str)
        assert Decimal(document[key]) == getattr(portfolio, key)
        assert "E" not in document[key]
    for line, position in zip(document["positions"], portfolio.positions, strict=True):
        assert set(line) == POSITION_KEYS
        assert Decimal(line["qty"]) == position.qty
        assert Decimal(line["unrealized_pnl"]) == position.unrealized_pnl
    assert document["as_of"] == ms_to_iso(UNTIL_MS)


def test_portfolio_without_a_run_is_the_profiles_starting_capital(sigmax_home: Path) -> None:
    with open_account_home() as home:
        portfolio = read_portfolio(home)
    assert portfolio.run_id is None
    assert portfolio.cash == portfolio.equity == home.settings.profile.starting_capital_usd
    assert portfolio.positions == ()
    assert portfolio.as_of_ms is None


# --- trades -------------------------------------------------------------------------------------


def test_trades_are_the_fills_with_their_orders_and_decisions(account: AccountHome) -> None:
    trades = read_trades(account)
    rows = _fill_rows(account)
    assert len(trades) == len(rows) >= 6
    for trade, row in zip(trades, rows, strict=True):
        assert trade.client_order_id == row["client_order_id"]
        assert (trade.symbol, trade.side, trade.qty, trade.price, trade.fee) == (
            row["symbol"],
            row["side"],
            row["qty"],
            row["price"],
            row["fee"],
        )
        assert trade.realized_pnl == row["realized_pnl"]
        assert trade.timestamp_ms == row["filled_at_ms"]
        assert trade.order_type is row["type"]
        assert trade.decision_id == row["decision_id"] is not None
        # no look-ahead: the decision saw only data older than the fill
        assert trade.decision_data_until_ms is not None
        assert trade.decision_data_until_ms < trade.timestamp_ms
    assert [t.timestamp_ms for t in trades] == sorted(t.timestamp_ms for t in trades)
    assert {t.order_type for t in trades} >= {OrderType.MARKET, OrderType.STOP_LOSS}


def test_trades_limit_keeps_the_newest_and_symbol_filters(account: AccountHome) -> None:
    everything = read_trades(account)
    assert read_trades(account, limit=3) == everything[-3:]
    eth = read_trades(account, symbol="ETH/USDT")
    assert eth == [t for t in everything if t.symbol == "ETH/USDT"]
    assert eth
    assert read_trades(account, symbol="SOL/USDT") == []
    with pytest.raises(ValueError, match="limit must be >= 1"):
        read_trades(account, limit=0)


def test_trades_json(account: AccountHome) -> None:
    trade = read_trades(account, limit=1)[0]
    document = trade.as_json()
    assert set(document) == TRADE_KEYS
    assert Decimal(document["price"]) == trade.price
    assert document["timestamp"] == ms_to_iso(trade.timestamp_ms)
    assert document["side"] in {"buy", "sell"}


# --- status -------------------------------------------------------------------------------------


def test_status_of_a_completed_run(account: AccountHome, completed: CompletedRun) -> None:
    report = read_status(account)
    assert report is not None
    assert report.run_id == completed.report.run_id
    assert (report.mode, report.feed, report.status) == ("paper", "replay", RunStatus.COMPLETED)
    assert report.profile == "aggressive"
    assert report.symbols == SYMBOLS
    assert report.last_candles == dict.fromkeys(SYMBOLS, UNTIL_MS - HOUR_MS)
    assert report.fills == completed.report.totals.fills == len(_fill_rows(account))
    assert report.orders == completed.report.totals.orders
    with account.db.session() as session:
        recorded = session.scalars(select(DecisionRow.run_id)).all()
    # at full speed the engine records the decisions that acted (HOLDs are not stored)
    assert report.decisions == len(recorded) > 0
    assert set(recorded) == {report.run_id}
    resting = _state(account)["venue"]["orders"]
    assert [o.client_order_id for o in report.open_orders] == [
        o["client_order_id"] for o in resting
    ]
    assert report.equity == completed.report.account["equity"]
    document = report.as_json()
    assert document["last_candle"] == {s: ms_to_iso(UNTIL_MS - HOUR_MS) for s in SYMBOLS}
    assert document["status"] == "completed"


def test_status_without_a_run(sigmax_home: Path) -> None:
    with open_account_home() as home:
        assert read_status(home) is None
        assert read_trades(home) == []
        with pytest.raises(InputError, match="no paper run in SIGMAX_HOME"):
            queue_manual_order(home, "BTC/USDT", "buy", "0.001")


# --- manual orders: refusals --------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A run stopped mid-way with a protected position; tests here must not change it."""
    home = tmp_path_factory.mktemp("stopped")
    with clean_home(home):
        stop_run_when_protected(home)
        yield home


@pytest.fixture
def stopped_account(stopped: Path) -> Iterator[AccountHome]:
    with clean_home(stopped), open_account_home() as home:
        yield home


def _protected_symbol(state: dict[str, Any]) -> str:
    return str(next(o["symbol"] for o in state["venue"]["orders"] if o["type"] == "stop_loss"))


@pytest.mark.parametrize(
    ("symbol", "side", "qty", "message"),
    [
        ("DOGE/USDT", "buy", "1", "policy: allowed_assets: DOGE/USDT may not be bought"),
        ("SOL/USDT", "buy", "1", "SOL/USDT is not traded by run"),
        ("BTC/USDT", "buy", "-1", r"QTY: must be > 0 \(got -1\)"),
        ("BTC/USDT", "buy", "0", r"QTY: must be > 0 \(got 0\)"),
        ("BTC/USDT", "buy", "abc", "QTY: must be a decimal number"),
        ("BTC/USDT", "buy", "NaN", "QTY: must be a finite decimal number"),
        ("BTC/USDT", "hold", "1", "SIDE: must be buy or sell"),
        ("BTC/USDT", "buy", "0.0001", r"below min notional 5 USDT \(NOTIONAL\)"),
        ("BTC/USDT", "buy", "0.000015", r"not a multiple of step size 0.00001 \(LOT_SIZE\)"),
        ("BTC/USDT", "buy", "1", "cash: buy 1 BTC/USDT needs .* but cash is"),
    ],
)
def test_manual_orders_breaking_a_rule_are_refused_with_the_reason(
    stopped_account: AccountHome, symbol: str, side: str, qty: str, message: str
) -> None:
    before = _state(stopped_account)
    with pytest.raises(InputError, match=message) as refused:
        queue_manual_order(stopped_account, symbol, side, qty)
    assert refused.value.exit_code == 2
    assert _state(stopped_account) == before


def test_selling_more_than_held_is_refused(stopped_account: AccountHome) -> None:
    state = _state(stopped_account)
    ledger = Ledger.restore(state["ledger"])
    for symbol in SYMBOLS:
        held = ledger.position(symbol).qty
        step = bundled_market_specs()[symbol].amount_step
        assert step is not None
        too_much = held + step * 1000  # enough for the market's minimum notional
        with pytest.raises(InputError, match=f"exceeds the {held:f} {symbol} held"):
            queue_manual_order(stopped_account, symbol, "sell", f"{too_much:f}")
    assert _state(stopped_account) == state


def test_a_partial_sell_cannot_take_what_the_stop_loss_covers(
    stopped_account: AccountHome,
) -> None:
    state = _state(stopped_account)
    symbol = _protected_symbol(state)
    held = Ledger.restore(state["ledger"]).position(symbol).qty
    step = bundled_market_specs()[symbol].amount_step
    assert step is not None
    with pytest.raises(InputError, match="is promised to resting sell orders") as refused:
        queue_manual_order(stopped_account, symbol, "sell", f"{held - step:f}")
    assert f"sell all {held:f} to close the position" in str(refused.value)


def test_no_order_is_queued_on_a_completed_run(account: AccountHome) -> None:
    with pytest.raises(InputError, match="is completed: it has no candle left"):
        queue_manual_order(account, "BTC/USDT", "buy", "0.001")


# --- manual orders: queued, then filled by resuming the run -------------------------------------


def test_queued_orders_fill_at_the_next_open_when_the_run_resumes(sigmax_home: Path) -> None:
    state = stop_run_when_protected(sigmax_home)
    closed = _protected_symbol(state)
    other = next(s for s in SYMBOLS if s != closed)
    held = Ledger.restore(state["ledger"]).position(closed).qty
    protection = [o["client_order_id"] for o in state["venue"]["orders"] if o["symbol"] == closed]
    buy_qty = "0.001" if other == "BTC/USDT" else "0.01"

    with open_account_home() as home:
        stopped_status = read_status(home)
        assert stopped_status is not None
        assert stopped_status.status is RunStatus.INTERRUPTED
        sell = queue_manual_order(home, closed, "sell", f"{held:f}")
        buy = queue_manual_order(home, other, "BUY", buy_qty)
        queued_state = _state(home)
        with home.db.session() as session:
            rows = {
                row.client_order_id: (row.status, row.decision_id, row.reject_reason)
                for row in session.scalars(select(OrderRow))
            }
            # Each order's id derives from its control command, applied by the CLI.
            commands = {
                client_order_id(command_key(row.id), "manual"): (row.status, row.applied_by)
                for row in session.scalars(select(ControlCommandRow))
            }

    cursor = queued_state["cursor"]
    assert sell.queued_at_ms == cursor[closed] + HOUR_MS
    assert buy.queued_at_ms == cursor[other] + HOUR_MS
    for queued in (sell, buy):
        assert queued.client_order_id.startswith(MANUAL_ORDER_PREFIX)
        assert commands[queued.client_order_id] == (ControlStatus.APPLIED, "cli")
        assert rows[queued.client_order_id] == (OrderStatus.OPEN, None, None)
    assert (buy.side, buy.qty) == (OrderSide.BUY, Decimal(buy_qty))
    # closing the whole position replaced its stop-loss and take-profit
    assert sorted(sell.cancelled) == sorted(protection)
    for protective in protection:
        order_status, _, reason = rows[protective]
        assert order_status is OrderStatus.CANCELLED
        assert reason == f"replaced by manual order {sell.client_order_id}"
    resting = {o["client_order_id"]: o for o in queued_state["venue"]["orders"]}
    assert sell.client_order_id in resting
    assert buy.client_order_id in resting
    assert not set(protection) & set(resting)
    assert resting[buy.client_order_id]["accepted_ms"] == buy.queued_at_ms
    # only the venue changed: ledger, cursor and marks are the run's own
    assert {k: v for k, v in queued_state.items() if k != "venue"} == {
        k: v for k, v in state.items() if k != "venue"
    }

    report = complete_run()
    assert report.resumed
    assert not report.already_complete

    with open_account_home() as home:
        status = read_status(home)
        trades = {t.client_order_id: t for t in read_trades(home)}
        final_state = _state(home)
    assert status is not None
    assert status.status is RunStatus.COMPLETED
    for queued in (sell, buy):
        trade = trades[queued.client_order_id]
        assert trade.timestamp_ms == queued.queued_at_ms  # the open of the next candle
        assert (trade.decision_id, trade.decision_data_until_ms) == (None, None)
        assert (trade.symbol, trade.side, trade.qty) == (queued.symbol, queued.side, queued.qty)
        assert trade.order_type is OrderType.MARKET
        assert trade.as_json()["decision_data_until"] is None
    assert trades[sell.client_order_id].qty == held
    ledger_orders = {e["client_order_id"] for e in final_state["ledger"]["entries"]}
    assert {sell.client_order_id, buy.client_order_id} <= ledger_orders
    assert START_MS < sell.queued_at_ms < UNTIL_MS
    # `sigmax verify` traces each manual order, by its purpose, to the command it came from.
    with open_account_home() as home:
        with home.db.session() as session:
            view = load_store(session)
        report = verify_store(home.db)
    origins = {o.client_order_id: origin_of(o, view)[0] for o in view.orders}
    assert origins[sell.client_order_id].startswith("command ")
    assert origins[buy.client_order_id].startswith("command ")
    assert origins[sell.client_order_id] != origins[buy.client_order_id]
    assert not [p for p in report.problems if p.code == "order_without_origin"], report.problems
