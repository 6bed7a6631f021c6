"""Every route of the REST API through a real uvicorn server, over a real completed paper run.

The figures are checked against the services the CLI uses on the same home (read_portfolio,
read_trades, the decision log, the safety report), and every action against the stored state
it changes. Tests that change anything work on their own copy of the home.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api.api_harness import LiveApi, copy_home, serving
from engine.account_runs import clean_home, stop_run_when_protected
from sigmax.agents.base import AGENT_NAMES
from sigmax.config.settings import MASK, QuantumSettings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import ms_to_iso
from sigmax.engine.account import read_portfolio, read_trades
from sigmax.engine.decision_log import StoredDecisionLog
from sigmax.engine.safety_service import safety_report
from sigmax.portfolio.quantum import quantum_status
from sigmax.storage.models import DecisionRow, EquitySnapshotRow, OrderRow


@pytest.fixture(scope="module")
def api(completed_home: Path) -> Iterator[LiveApi]:
    """The API over the completed run, shared by the tests that only read."""
    with serving(completed_home) as live:
        yield live


@pytest.fixture
def writable(completed_home: Path, tmp_path: Path) -> Iterator[LiveApi]:
    """The API over a copy of the completed run, for tests that change it."""
    with serving(copy_home(completed_home, tmp_path / "home")) as live:
        yield live


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert {"field", "rule", "message"} <= set(body["error"])
    return dict(body["error"])


# --- reads --------------------------------------------------------------------------------------


def test_status_says_what_runs_and_how(api: LiveApi) -> None:
    body = _ok(api.client.get("/api/status"))
    assert body["mode"] == "paper"
    assert body["running"] is False  # the run completed
    assert body["paused"] is True
    assert body["pause_reason"] == "Consecutive loss limit reached (3)"
    assert body["feed"] == "replay"
    assert body["profile"] == "aggressive"
    assert body["run_status"] == "completed"
    assert body["as_of"] == "2022-11-05T00:00:00Z"
    assert body["symbols"] == ["BTC/USDT", "ETH/USDT"]
    assert body["agents"] == [{"name": name, "enabled": True} for name in AGENT_NAMES]
    assert body["modules"] == {
        "storage": "sqlite",
        "bus": "in-process",
        "news": "unavailable",
        "policy_evaluator": "embedded",
        "candle_data": "bundled data",
        "quantum": quantum_status(QuantumSettings()),
    }
    # The real state: qiskit is installed with the quantum extra, and the module is off.
    assert body["modules"]["quantum"].startswith("off (QUANTUM_ENABLED=false; qiskit ")


def test_health_is_degraded_while_paused_and_no_run_is_running(api: LiveApi) -> None:
    body = _ok(api.client.get("/api/health"))
    with api.account.db.session() as session:
        newest_ms = session.scalar(select(func.max(DecisionRow.decided_at_ms)))
    assert newest_ms is not None
    assert body["status"] == "degraded"
    assert body["last_decision"] == ms_to_iso(newest_ms)
    assert 0 <= body["uptime"] < 600
    assert body["safety_status"] == {
        "paused": True,
        "consecutive_losses": 3,
        "daily_pnl": "0.00000000",
    }
    assert any("is completed" in problem for problem in body["problems"])
    assert any("trading is paused" in problem for problem in body["problems"])


def test_health_is_unhealthy_when_the_database_cannot_be_read(writable: LiveApi) -> None:
    home = writable.account.settings.home
    writable.account.db.dispose()
    for suffix in ("-wal", "-shm"):
        (home / f"sigmax.db{suffix}").unlink(missing_ok=True)
    (home / "sigmax.db").write_bytes(b"this is not a database" * 100)
    response = writable.client.get("/api/health")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["safety_status"] is None
    assert "cannot be read" in body["problems"][0]
    # The other routes say the same without internals, as a JSON error.
    error = _error(writable.client.get("/api/portfolio"), 503)
    assert error["rule"] == "storage"


def test_portfolio_is_the_committed_account(api: LiveApi) -> None:
    body = _ok(api.client.get("/api/portfolio"))
    account = read_portfolio(api.account)
    assert body["run_id"] == account.run_id
    assert Decimal(body["total_value_usd"]) == account.equity
    assert Decimal(body["cash"]) == account.cash
    assert Decimal(body["daily_pnl"]) == account.daily_pnl
    assert Decimal(body["fees"]) == account.fees
    assert isinstance(body["cash"], str)
    assert body["positions"] == {}  # flat at the end of the run


def test_trades_are_the_fills_oldest_first(api: LiveApi) -> None:
    body = _ok(api.client.get("/api/trades"))
    expected = [trade.as_json() for trade in read_trades(api.account)]
    assert body["trades"] == expected
    assert len(expected) >= 6
    newest = _ok(api.client.get("/api/trades", params={"limit": 2}))["trades"]
    assert newest == expected[-2:]
    eth = _ok(api.client.get("/api/trades", params={"symbol": "eth-usdt"}))["trades"]
    assert eth
    assert all(trade["symbol"] == "ETH/USDT" for trade in eth)


def test_equity_is_the_newest_runs_curve(api: LiveApi) -> None:
    body = _ok(api.client.get("/api/equity"))
    with api.account.db.session() as session:
        count = session.scalar(select(func.count(EquitySnapshotRow.id)))
    assert len(body["points"]) == count > 0
    last = _ok(api.client.get("/api/equity", params={"limit": 1}))["points"]
    assert last == body["points"][-1:]
    assert set(last[0]) == {
        "time", "equity", "cash", "daily_pnl", "realized_pnl", "unrealized_pnl", "fees",
    }  # fmt: skip
    assert Decimal(last[0]["equity"]) == read_portfolio(api.account).equity


def test_history_is_the_stored_decisions_newest_first(api: LiveApi) -> None:
    body = _ok(api.client.get("/api/history", params={"symbol": "BTC/USDT", "limit": 1}))
    expected = StoredDecisionLog(api.account.db).history("BTC/USDT", 1)
    assert body["symbol"] == "BTC/USDT"
    assert body["decisions"] == expected
    # Every decision of the run is stored; those that ordered carry the agents' explanation.
    every = _ok(api.client.get("/api/history", params={"limit": 1000}))["decisions"]
    explained = [decision for decision in every if decision.get("explained", True)]
    assert explained[0]["reasoning"]["bull_argument"]
    assert all(decision["source"] == "run" for decision in every)
    several = _ok(api.client.get("/api/history", params={"limit": 5}))["decisions"]
    times = [decision["timestamp"] for decision in several]
    assert times == sorted(times, reverse=True)


def test_candles_come_from_the_catalog(api: LiveApi) -> None:
    body = _ok(api.client.get("/api/candles", params={"symbol": "BTC/USDT", "limit": 3}))
    series = DatasetCatalog.bundled().load("BTC/USDT", "1h").series
    assert body["symbol"] == "BTC/USDT"
    assert body["timeframe"] == "1h"
    assert [c["timestamp_ms"] for c in body["candles"]] == series.timestamp[-3:].tolist()
    assert [c["close"] for c in body["candles"]] == series.close[-3:].tolist()
    two_hour = _ok(api.client.get("/api/candles", params={"symbol": "BTC/USDT", "timeframe": "2h"}))
    assert two_hour["timeframe"] == "2h"
    assert len(two_hour["candles"]) == 500


def test_safety_is_the_safety_report(api: LiveApi) -> None:
    body = _ok(api.client.get("/api/safety"))
    assert body == safety_report(api.account)
    assert body["paused"] is True
    assert body["engine_running"] is False


def test_config_masks_every_secret(api: LiveApi, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-live-0123456789abcdef"
    monkeypatch.setenv("API_KEY", secret)
    response = api.client.get("/api/config")
    body = _ok(response)
    assert body["values"]["credentials.api_key"] == {
        "value": MASK,
        "source": "env",
        "env": "API_KEY",
    }
    assert body["values"]["api.host"]["value"] == "127.0.0.1"
    assert secret not in response.text


# --- actions ------------------------------------------------------------------------------------


def test_analyze_decides_and_stores_the_decision(writable: LiveApi) -> None:
    record = _ok(writable.post("/api/analyze", {"symbol": "btc-usdt"}))
    assert record["symbol"] == "BTC/USDT"
    assert record["decision"] in ("BUY", "SELL", "HOLD")
    assert {agent["name"] for agent in record["agents"]} >= {"researcher", "analyzer"}
    stored = StoredDecisionLog(writable.account.db).get(record["id"])
    assert stored is not None
    assert stored["decision"] == record["decision"]
    assert record["source"] == "ad_hoc"
    # The history shows the run's decisions unless asked for the ad-hoc analyses.
    query = {"symbol": "BTC/USDT", "limit": 1}
    latest = _ok(writable.client.get("/api/history", params=query))
    assert latest["decisions"][0]["source"] == "run"
    ad_hoc = _ok(writable.client.get("/api/history", params={**query, "source": "ad_hoc"}))
    assert ad_hoc["decisions"][0]["id"] == record["id"]
    both = _ok(writable.client.get("/api/history", params={**query, "source": "all"}))
    assert both["decisions"][0]["id"] in (record["id"], latest["decisions"][0]["id"])
    bad = writable.client.get("/api/history", params={"source": "mine"})
    assert bad.status_code == 422, bad.text


def test_pause_and_resume_round_trip(writable: LiveApi) -> None:
    paused = _ok(writable.post("/api/control/pause", {"duration": 3600}))
    assert paused["command"] == "pause"
    assert paused["status"] == "applied"
    # An operator's pause counts in wall time: an hour from now, not from the candle.
    assert paused["message"].startswith(
        "paused at 2022-11-05T00:00:00Z (market time) for 3600 s, until "
    )
    assert paused["message"].endswith("(wall clock)")
    # The loss streak of the run still holds: a plain resume is refused with the reason.
    refused = _error(writable.post("/api/control/resume"), 409)
    assert refused["rule"] == "resume_refused"
    assert "consecutive_losses" in refused["message"]
    resumed = _ok(writable.post("/api/control/resume", {"force": True}))
    assert resumed["status"] == "applied"
    assert _ok(writable.client.get("/api/status"))["paused"] is False
    assert safety_report(writable.account)["paused"] is False
    again = _ok(writable.post("/api/control/pause"))
    assert again["message"] == "paused at 2022-11-05T00:00:00Z (market time) until a resume"
    assert _ok(writable.client.get("/api/status"))["paused"] is True


def test_panic_needs_confirmation(writable: LiveApi) -> None:
    assert _error(writable.post("/api/control/panic"), 422)["field"] == "body"
    assert _error(writable.post("/api/control/panic", {"confirm": False}), 422)["field"] == (
        "confirm"
    )
    assert _error(writable.post("/api/control/panic", {"confirm": "yes"}), 422)["field"] == (
        "confirm"
    )
    _ok(writable.post("/api/control/resume", {"force": True}))
    done = _ok(writable.post("/api/control/panic", {"confirm": True}))
    assert done["command"] == "panic"
    # No engine runs: applied at once to the stored account (paused, positions closed).
    assert (done["status"], done["applied_by"]) == ("applied", "cli")
    assert safety_report(writable.account)["paused"] is True


def test_trade_refusals_name_the_rule_or_the_field(writable: LiveApi) -> None:
    # While paused, a buy is refused by the safety enforcer before any policy looks at it.
    paused = _error(
        writable.post("/api/trade", {"symbol": "DOGE/USDT", "action": "buy", "size": 1}), 409
    )
    assert paused["rules"] == ["safety"]
    assert "trading paused" in paused["message"]
    _ok(writable.post("/api/control/resume", {"force": True}))
    doge = _error(
        writable.post("/api/trade", {"symbol": "DOGE/USDT", "action": "buy", "size": "1"}), 409
    )
    assert doge["rule"] == "allowed_assets"
    assert "allowed_assets" in doge["rules"]
    assert doge["violations"][0]["rule"] == "allowed_assets"
    assert "DOGE/USDT may not be bought" in doge["message"]
    with writable.account.db.session() as session:
        rejected = session.scalars(
            select(OrderRow.status).where(OrderRow.symbol == "DOGE/USDT")
        ).all()
    assert [status.value for status in rejected] == ["rejected", "rejected"]
    completed = _error(
        writable.post("/api/trade", {"symbol": "BTC/USDT", "action": "buy", "size": "0.001"}), 409
    )
    assert completed["rule"] == "account_state"
    assert "is completed" in completed["message"]


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"symbol": "BTC/USDT", "action": "buy", "size": -1}, "size", "greater_than"),
        ({"symbol": "BTC/USDT", "action": "buy", "size": "0"}, "size", "greater_than"),
        ({"symbol": "BTC/USDT", "action": "buy", "size": "abc"}, "size", "decimal_parsing"),
        ({"symbol": "BTC/USDT", "action": "buy", "size": "NaN"}, "size", "finite_number"),
        ({"symbol": "BTC/USDT", "action": "buy", "size": "1e400"}, "size", "decimal_max_digits"),
        ({"symbol": "BTC/USDT", "action": "buy", "size": "2000000000"}, "size", "less_than_equal"),
        ({"symbol": "BTC/USDT", "action": "buy", "size": "1e-30"}, "size", "decimal_max_places"),
        ({"symbol": "BTC/USDT", "action": "buy", "size": True}, "size", "decimal_type"),
        ({"symbol": "BTC/USDT", "action": "hold", "size": "1"}, "action", "literal_error"),
        ({"symbol": "BTCUSDT", "action": "buy", "size": "1"}, "symbol", "value_error"),
        ({"symbol": "BTC/USDT", "action": "buy"}, "size", "missing"),
        ({"symbol": "BTC/USDT", "action": "buy", "size": "1", "leverage": 3}, "leverage",
         "extra_forbidden"),
    ],
)  # fmt: skip
def test_bad_trade_input_is_422_naming_the_field(
    api: LiveApi, body: dict[str, Any], field: str, rule: str
) -> None:
    error = _error(api.post("/api/trade", body), 422)
    assert (error["field"], error["rule"]) == (field, rule)


def test_malformed_json_and_bad_queries_are_422(api: LiveApi) -> None:
    raw = api.client.post(
        "/api/trade", content=b"{not json", headers={**api.auth, "Content-Type": "application/json"}
    )
    assert _error(raw, 422)["field"] == "body"
    assert _error(api.client.get("/api/history", params={"limit": 0}), 422)["field"] == "limit"
    assert _error(api.client.get("/api/trades", params={"symbol": "x"}), 422)["field"] == "symbol"
    bad_frame = api.client.get("/api/candles", params={"symbol": "BTC/USDT", "timeframe": "7q"})
    assert _error(bad_frame, 422)["field"] == "timeframe"
    missing = _error(api.client.get("/api/candles", params={"symbol": "DOGE/USDT"}), 404)
    assert missing["rule"] == "no_dataset"
    assert _error(api.client.get("/api/nothing"), 404)["rule"] == "not_found"
    assert _error(api.post("/api/analyze", {"symbol": "DOGE/USDT"}), 404)["field"] == "symbol"


@pytest.fixture(scope="module")
def stopped_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A run stopped mid-way with a protected position: orders can still be queued on it."""
    home = tmp_path_factory.mktemp("stopped")
    with clean_home(home):
        stop_run_when_protected(home)
    return home


def test_trade_queues_a_manual_order_on_a_stopped_run(stopped_home: Path) -> None:
    with serving(stopped_home) as live:
        held = _ok(live.client.get("/api/portfolio"))["positions"]
        symbol = next(iter(held))
        size = held[symbol]["size"]
        queued = _ok(
            live.post("/api/trade", {"symbol": symbol, "action": "sell", "size": size}), 202
        )
        assert queued["symbol"] == symbol
        assert queued["side"] == "sell"
        assert queued["qty"] == size
        assert queued["type"] == "market"
        assert queued["client_order_id"].startswith("sgx-manual-")
        assert len(queued["cancelled"]) == 2  # the stop-loss and take-profit it replaces
        with live.account.db.session() as session:
            status = session.scalars(
                select(OrderRow.status).where(OrderRow.client_order_id == queued["client_order_id"])
            ).one()
        assert status.value == "open"
