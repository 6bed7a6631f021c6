"""Pause, resume and panic as an operator gives them: the `sigmax` command against real runs.

The runs are `sigmax run` processes on the bundled Binance candles; the commands are `sigmax
pause|resume|panic|safety` processes. Everything is read back from the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from conftest import CONFIG_VARIABLES
from sigmax.bus import Event, EventType
from sigmax.engine.account import open_account_home
from sigmax.engine.safety_service import CommandResult, request_command
from sigmax.storage.models import ControlKind, ControlStatus
from storage.conftest import throwaway_postgres_database

SIGMAX = str(Path(sys.executable).with_name("sigmax"))
HOUR = 3_600_000


def _env(home: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CONFIG_VARIABLES
        and (not k.startswith("SIGMAX_") or k == "SIGMAX_REQUIRE_SERVICES")
    }
    env["SIGMAX_HOME"] = str(home)
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def _run_args(until: str, speed: str = "max", profile: str = "aggressive") -> list[str]:
    return [
        "run", "--profile", profile, "--symbols", "BTC/USDT,ETH/USDT",
        "--speed", speed, "--from", "2022-11-01T00:00:00Z", "--until", until, "--no-api",
    ]  # fmt: skip


def _sigmax(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SIGMAX, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def _sqlite(home: Path) -> str:
    return f"sqlite:///{home / 'sigmax.db'}"


def _safety(env: dict[str, str]) -> dict[str, Any]:
    done = _sigmax(env, "safety", "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_a_pause_survives_a_restart_and_a_timed_pause_lifts_on_time(tmp_path: Path) -> None:
    env = _env(tmp_path, MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000")
    first = _sigmax(env, *_run_args("2022-11-02T00:00:00Z"))
    assert first.returncode == 0, first.stderr[-2000:]
    paused = _sigmax(env, "pause")
    assert paused.returncode == 0, paused.stderr
    assert "pause: applied: paused at 2022-11-02T00:00:00Z" in paused.stdout
    # A new process: the stored state is still paused.
    report = _safety(env)
    assert report["paused"]
    assert report["reason"] == "paused by the operator"

    # Resumed later by the operator with a timed pause in between: it counts in wall time.
    assert _sigmax(env, "resume").returncode == 0
    before = time.time() * 1000
    timed = _sigmax(env, "pause", "--duration", "2h")
    assert "for 7200 s, until " in timed.stdout
    assert "(wall clock)" in timed.stdout
    report = _safety(env)
    assert report["paused"]
    assert report["until_clock"] == "wall"
    assert before + 2 * HOUR <= report["until_ms"] <= time.time() * 1000 + 2 * HOUR
    bad = _sigmax(env, "pause", "--duration", "soon")
    assert bad.returncode == 2
    assert "--duration: must be a positive whole number" in bad.stderr


def test_the_engine_starts_paused_and_an_operators_timed_pause_counts_in_wall_time(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000")
    # A first run of the same command, stopped early: it is resumed below.
    until = "2022-11-05T00:00:00Z"
    process = subprocess.Popen(
        [SIGMAX, *_run_args(until, speed="40")], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _decided(tmp_path):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)  # Ctrl-C: the run stops cleanly, marked interrupted
    assert process.wait(timeout=30) == 130
    pause = _sigmax(env, "pause", "--duration", "6h")
    assert pause.returncode == 0, pause.stderr
    paused_at = _clock_of(pause.stdout)
    done = _sigmax(env, *_run_args(until))
    assert done.returncode == 0, done.stderr[-2000:]
    entries = _query(
        _sqlite(tmp_path),
        "SELECT created_at_ms FROM orders WHERE client_order_id LIKE 'sgx-entry-%'",
    )
    # The pause applies from the candle after the one the first run last processed (an entry
    # that run placed at that very close came before the pause). It lasts six hours of wall
    # time, so the whole replay at full speed (days of candles in seconds) stays paused.
    assert not [at for (at,) in entries if paused_at < at]
    lifted = _query(
        _sqlite(tmp_path),
        "SELECT occurred_at_ms FROM safety_events WHERE kind = 'resume' AND \"trigger\" = 'manual'",
    )
    assert lifted == []
    report = _safety(env)
    assert report["paused"]
    assert report["until_clock"] == "wall"


def _decided(home: Path) -> bool:
    if not (home / "sigmax.db").exists():
        return False
    try:
        rows = _query(_sqlite(home), "SELECT value FROM engine_state WHERE key LIKE 'run:%'")
    except Exception:  # the first run is still creating its tables
        return False
    return bool(rows)  # the run committed its first step


def _clock_of(message: str) -> int:
    from datetime import datetime

    stamp = message.split("paused at ")[1].split(" ")[0]
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def test_resume_is_refused_while_a_trigger_holds_and_a_forced_resume_is_audited(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)  # default thresholds: three losing trades pause this run
    done = _sigmax(env, *_run_args("2022-11-05T00:00:00Z"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert _safety(env)["paused"]
    refused = _sigmax(env, "resume")
    assert refused.returncode == 2
    assert "consecutive_losses" in refused.stdout
    assert "resume with force" in refused.stdout
    assert _safety(env)["paused"]
    forced = _sigmax(env, "resume", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["status"] == "applied"
    assert not _safety(env)["paused"]
    audit = _query(
        _sqlite(tmp_path), "SELECT kind, details FROM safety_events WHERE kind = 'force_resume'"
    )
    assert len(audit) == 1
    assert "consecutive_losses" in str(audit[0][1])


def _panic_while_running(home: Path, env: dict[str, str], url: str) -> None:
    """Panic a running engine while it holds a position.

    Seen held in the database, a position can be gone by the time a command arrives: a
    ``sigmax`` command takes seconds to start on a loaded machine, tens of candles at 20
    candles/s. So the pause is sent from this process through the same control queue (the
    engine applies it at its next step), which stops the run's signal exits, and the panic, sent
    by ``sigmax panic``, comes once a position is held under that pause. A pause that found
    nothing held is lifted and the run waits for the next entry.
    """
    process = subprocess.Popen(
        [SIGMAX, *_run_args("2022-12-01T00:00:00Z", speed="20")], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        held: list[tuple[Any, ...]] = []
        while time.monotonic() < deadline and not held:
            while time.monotonic() < deadline and not _held(url):
                assert process.poll() is None, process.communicate()[1][-2000:]
                time.sleep(0.05)
            paused = _command(
                env, ControlKind.PAUSE, duration_ms=6 * 3_600_000, reason="paused by the operator"
            )
            assert paused.status is ControlStatus.APPLIED, paused
            held = _held(url)
            if not held:
                assert (
                    _command(env, ControlKind.RESUME, force=False).status is ControlStatus.APPLIED
                )
        assert held, "the run never held a position under a pause"
        panic = _sigmax(env, "panic", "--yes", "--json")
        assert panic.returncode == 0, panic.stderr
        result = json.loads(panic.stdout)
        assert (result["status"], result["applied_by"]) == ("applied", "engine"), result
        closing = re.search(r"(\d+) positions closing at market", result["message"])
        assert closing is not None, result
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 130, errors[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
    assert _held(url) == []
    assert _query(url, "SELECT client_order_id FROM orders WHERE status = 'open'") == []
    # One filled close-out per position the panic found (a stop-loss or take-profit may have
    # closed one after the pause, and it is then not counted).
    panic_orders = _query(url, "SELECT status FROM orders WHERE purpose = 'panic'")
    assert len(panic_orders) == int(closing.group(1))
    assert {status for (status,) in panic_orders} <= {"filled"}
    assert _safety(env)["paused"]
    assert "ALERT PANIC at" in (home / "logs" / "sigmax.log").read_text(encoding="utf-8")


def _command(env: dict[str, str], kind: ControlKind, **arguments: Any) -> CommandResult:
    """``kind`` through the control queue of the home ``env`` names, from this process."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name not in env:
                patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        with open_account_home() as home:
            return request_command(home, kind, {**arguments, "reason": "paused by the operator"})


def _held(url: str) -> list[tuple[Any, ...]]:
    try:
        return _query(url, "SELECT symbol, qty FROM positions WHERE qty > 0")
    except Exception:  # the run is still creating its tables
        return []


@pytest.mark.slow
def test_panic_leaves_no_position_and_no_open_order_on_sqlite(
    tmp_path: Path, nats_url: str
) -> None:
    # With NATS_URL set the engine announces on NATS JetStream; the panic raises an alert.
    env = _env(tmp_path, MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000", NATS_URL=nats_url)
    _panic_while_running(tmp_path, env, _sqlite(tmp_path))
    (run_id,) = _query(_sqlite(tmp_path), "SELECT id FROM runs")[0]
    alert = asyncio.run(_last_alert(nats_url))
    assert alert.type is EventType.ALERT
    assert alert.payload["run_id"] == run_id
    assert str(alert.payload["message"]).startswith("PANIC: ")


async def _last_alert(url: str) -> Event:
    import nats

    connection = await nats.connect(url)
    try:
        message = await connection.jetstream().get_last_msg("SIGMAX", "sigmax.events.alert")
    finally:
        await connection.close()
    return Event.from_json(message.data or b"")


@pytest.mark.slow
@pytest.mark.postgres
def test_panic_leaves_no_position_and_no_open_order_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    with throwaway_postgres_database(postgres_url) as url:
        env = _env(tmp_path, url, MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000")
        _panic_while_running(tmp_path, env, url)


def test_a_manual_order_goes_through_the_running_engine(tmp_path: Path) -> None:
    # The reference profile leaves room under its limits for the manual buy. The replay is
    # long enough (a month at 10 candles/s) that it is still running however slowly the two
    # commands start; it is stopped once the manual order has filled.
    env = _env(tmp_path, MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000")
    process = subprocess.Popen(
        [SIGMAX, *_run_args("2022-12-01T00:00:00Z", speed="10", profile="reference")], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    manual_fills = (
        "SELECT o.client_order_id, f.side, f.qty FROM fills f JOIN orders o ON o.id = f.order_id "
        "WHERE o.purpose = 'manual'"
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _decided(tmp_path):
            time.sleep(0.05)
        refused = _sigmax(env, "trade", "BTC/USDT", "sell", "5")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "trade: refused:" in refused.stdout
        assert "no shorting" in refused.stdout
        placed = _sigmax(env, "trade", "ETH/USDT", "buy", "0.01", "--json")
        assert placed.returncode == 0, placed.stdout + placed.stderr
        result = json.loads(placed.stdout)
        assert (result["status"], result["applied_by"]) == ("applied", "engine"), result
        # It fills at the next candle's open.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _query(_sqlite(tmp_path), manual_fills):
            assert process.poll() is None, process.communicate()[1][-2000:]
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 130, errors[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
    fills = _query(_sqlite(tmp_path), manual_fills)
    assert [(side, str(qty)) for _, side, qty in fills] == [("buy", "0.01")]


# --- a run that dies: known dead at once, and panic closes its positions with no engine -----------


def _status(env: dict[str, str]) -> dict[str, Any]:
    done = _sigmax(env, "status", "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _kill_with_a_position_open(env: dict[str, str], url: str) -> None:
    """A real run that holds a position, killed with SIGKILL: no handler of its runs."""
    process = subprocess.Popen(
        [SIGMAX, *_run_args("2022-11-08T00:00:00Z", speed="10")], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not _held(url):
            time.sleep(0.05)
        assert _held(url), "the run never opened a position"
        assert _status(env)["status"] == "running"
    finally:
        process.kill()  # SIGKILL
        process.wait(timeout=30)


def _stale_within_15_s(env: dict[str, str], killed_at: float) -> None:
    while _status(env)["status"] != "stale":
        assert time.monotonic() - killed_at < 15, "the dead run is not reported stale"
        time.sleep(0.5)


def _marks(url: str) -> dict[str, float]:
    (state,) = _query(url, "SELECT value FROM engine_state WHERE key LIKE 'run:%'")[0]
    document = state if isinstance(state, dict) else json.loads(state)
    return {symbol: float(mark) for symbol, mark in document["marks"].items()}


def _offline_panic_closes_everything(env: dict[str, str], url: str) -> None:
    held = _held(url)
    assert held
    marks = _marks(url)
    panic = _sigmax(env, "panic", "--yes", "--json")
    assert panic.returncode == 0, panic.stderr
    result = json.loads(panic.stdout)
    assert (result["status"], result["applied_by"]) == ("applied", "cli"), result
    assert "applied to the stored account, positions closed at the last mark" in result["message"]
    # No engine ran: the panic closed the positions at once, and trading is paused.
    assert _held(url) == []
    assert _query(url, "SELECT client_order_id FROM orders WHERE status = 'open'") == []
    safety = _safety(env)
    assert (safety["paused"], safety["engine_running"]) == (True, False)
    assert json.loads(_sigmax(env, "portfolio", "--json").stdout)["positions"] == []
    # The close-out is orders and fills like any other: at the last mark less the modelled
    # slippage, with the taker fee.
    closes = _query(
        url,
        "SELECT f.symbol, f.qty, f.price, f.fee FROM fills f JOIN orders o ON o.id = f.order_id "
        "WHERE o.client_order_id LIKE 'sgx-panic-%' AND o.status = 'filled'",
    )
    assert sorted((s, str(q)) for s, q, _, _ in closes) == sorted((s, str(q)) for s, q in held)
    for symbol, _, price, fee in closes:
        assert 0 < marks[symbol] - float(price) < marks[symbol] * 0.01, (symbol, price)
        assert float(fee) > 0
    # The runbook greps the log: the panic's alert and each close-out's TRADE line are there.
    log_lines = (Path(env["SIGMAX_HOME"]) / "logs" / "sigmax.log").read_text().splitlines()
    assert any("PANIC at" in line for line in log_lines)
    panic_ids = _query(
        url, "SELECT client_order_id FROM orders WHERE client_order_id LIKE 'sgx-panic-%'"
    )
    for (client_id,) in panic_ids:
        assert any(" TRADE " in line and client_id in line for line in log_lines), client_id
    # A restarted run picks up the paused, flat account and completes without sending the
    # close-out again.
    done = _sigmax(env, *_run_args("2022-11-08T00:00:00Z"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert _safety(env)["paused"] is True
    panics = _query(url, "SELECT COUNT(*) FROM orders WHERE client_order_id LIKE 'sgx-panic-%'")
    assert panics[0][0] == len(closes)


@pytest.mark.slow
def test_a_killed_run_is_stale_and_panic_closes_its_positions_on_sqlite(tmp_path: Path) -> None:
    import httpx

    from sigmax.bench.run_process import free_port

    env = _env(tmp_path, MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000")
    url = _sqlite(tmp_path)
    _kill_with_a_position_open(env, url)
    _stale_within_15_s(env, time.monotonic())
    # sigmax serve says so too: at start, in /api/status and in /api/health (unhealthy, 503).
    port = free_port()
    serve = subprocess.Popen(
        [SIGMAX, "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "sigmax serve did not start"
                time.sleep(0.1)
        assert health.status_code == 503, health.text
        assert health.json()["status"] == "unhealthy"
        assert "is stale" in " ".join(health.json()["problems"])
        status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5).json()
        assert (status["run_status"], status["running"]) == ("stale", False)
    finally:
        serve.send_signal(signal.SIGINT)
        _, errors = serve.communicate(timeout=30)
    assert "is stale: its engine stopped" in errors
    _offline_panic_closes_everything(env, url)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_killed_run_is_stale_and_panic_closes_its_positions_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    with throwaway_postgres_database(postgres_url) as url:
        env = _env(tmp_path, url, MAX_CONSECUTIVE_LOSSES="1000", MAX_DAILY_LOSS="1000")
        _kill_with_a_position_open(env, url)
        _stale_within_15_s(env, time.monotonic())
        _offline_panic_closes_everything(env, url)
