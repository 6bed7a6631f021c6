"""The safety triggers and protections through the real engine on the bundled Binance candles.

Each test runs `sigmax run`'s engine (in process) over real data with one threshold set so it
fires, then checks the PAUSE (or COOLDOWN) line in logs/sigmax.log, the safety state and journal
committed to the database, and that no order of the engine's own was sent while paused.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from sigmax.config.paths import source_config_dir
from sigmax.domain.candles import datetime_to_ms
from sigmax.engine.runner import RunOptions, RunReport, run_paper
from support.binance_server import BinanceLoopback, FaultKind

from .account_runs import clean_home

HOUR = 3_600_000
WINDOW = (datetime(2022, 11, 1, tzinfo=UTC), datetime(2022, 11, 10, tzinfo=UTC))
#: Thresholds that keep a trigger quiet so that only the one under test fires.
QUIET = {
    "MAX_CONSECUTIVE_LOSSES": "1000",
    "MAX_DAILY_LOSS": "100000",
    "MAX_SLIPPAGE_PCT": "50",
    "MAX_API_ERRORS_PER_MIN": "1000",
}


@dataclass
class Recorded:
    log: str
    state: dict[str, Any]
    events: list[tuple[str, str | None, str, int]]
    orders: list[tuple[str, str, str, int, str, str | None]]

    def entries(self) -> list[tuple[str, str, str, int, str, str | None]]:
        """The engine's own entries (market buys from a decision)."""
        return [o for o in self.orders if o[0].startswith("sgx-entry-")]

    def first_event(self, kind: str, trigger: str) -> int:
        return min(at for k, t, _, at in self.events if k == kind and t == trigger)


def _record(home: Path) -> Recorded:
    engine = create_engine(f"sqlite:///{home / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            state = connection.execute(
                text("SELECT value FROM engine_state WHERE key = 'safety'")
            ).scalar_one()
            events = connection.execute(
                text(
                    'SELECT kind, "trigger", reason, occurred_at_ms FROM safety_events ORDER BY id'
                )
            ).all()
            orders = connection.execute(
                text(
                    "SELECT client_order_id, symbol, side, created_at_ms, status, "
                    "reject_reason FROM orders ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    return Recorded(
        log=(home / "logs" / "sigmax.log").read_text(encoding="utf-8"),
        state=json.loads(state) if isinstance(state, str) else state,
        events=[tuple(row) for row in events],  # type: ignore[misc]
        orders=[tuple(row) for row in orders],  # type: ignore[misc]
    )


def _replay(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    *,
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT"),
    window: tuple[datetime, datetime] = WINDOW,
    config_dir: Path | None = None,
) -> RunReport:
    with clean_home(home):
        for name, value in {**QUIET, **env}.items():
            monkeypatch.setenv(name, value)
        if config_dir is not None:
            monkeypatch.setenv("SIGMAX_CONFIG_DIR", str(config_dir))
        return asyncio.run(
            run_paper(
                RunOptions(
                    profile="aggressive",
                    symbols=list(symbols),
                    speed=None,
                    start_ms=datetime_to_ms(window[0]),
                    until_ms=datetime_to_ms(window[1]),
                    home=home,
                    console_log=False,
                )
            )
        )


@pytest.fixture
def safety_config(tmp_path: Path) -> Any:
    """A copy of the configuration whose safety.yaml a test may change."""
    folder = tmp_path / "config"
    shutil.copytree(source_config_dir(), folder)

    def edit(**protections: Any) -> Path:
        path = folder / "safety.yaml"
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        document["protections"].update(protections)
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return folder

    return edit


def _no_entry_after(recorded: Recorded, paused_at: int) -> None:
    late = [o for o in recorded.entries() if o[3] >= paused_at]
    assert late == [], f"entries sent while paused: {late}"


def test_consecutive_losses_pause_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _replay(tmp_path, monkeypatch, {"MAX_CONSECUTIVE_LOSSES": "3"})
    recorded = _record(tmp_path)
    assert "PAUSE    sigmax.safety: PAUSE: Consecutive loss limit reached (3)" in recorded.log
    paused_at = recorded.first_event("trigger", "consecutive_losses")
    assert "consecutive_losses" in json.dumps(recorded.state["holds"])
    assert recorded.state["loss_streak"] >= 3
    assert [o for o in recorded.entries() if o[3] < paused_at], "it traded before the pause"
    _no_entry_after(recorded, paused_at)


def test_the_daily_loss_pauses_until_the_next_utc_midnight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _replay(tmp_path, monkeypatch, {"MAX_DAILY_LOSS": "1"})
    recorded = _record(tmp_path)
    assert "PAUSE: Daily loss limit exceeded (-$" in recorded.log
    assert "/ -$1.00)" in recorded.log
    paused_at = recorded.first_event("trigger", "daily_loss")
    midnight = (paused_at // (24 * HOUR) + 1) * 24 * HOUR
    # Lifted by itself at 00:00 UTC, journalled at that moment.
    lifted = [e for e in recorded.events if e[0] == "resume" and e[3] == midnight]
    assert lifted, recorded.events
    late = [o for o in recorded.entries() if paused_at <= o[3] < midnight]
    assert late == [], f"entries sent while paused: {late}"


def test_high_slippage_pauses_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every market fill pays half the spread and slippage over the decision's close: a limit of
    # 0.01 % is below what the first real fill costs.
    _replay(tmp_path, monkeypatch, {"MAX_SLIPPAGE_PCT": "0.01"})
    recorded = _record(tmp_path)
    assert "PAUSE: High slippage detected (" in recorded.log
    paused_at = recorded.first_event("trigger", "slippage")
    assert recorded.state["last_slippage_pct"] is not None
    assert len(recorded.entries()) == 1  # the entry whose fill slipped; nothing after it
    _no_entry_after(recorded, paused_at)


def test_a_stop_loss_exit_cools_the_symbol_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, safety_config: Any
) -> None:
    config = safety_config(stoploss_cooldown_minutes=24 * 60)
    _replay(tmp_path, monkeypatch, {}, config_dir=config)
    recorded = _record(tmp_path)
    assert "COOLDOWN: " in recorded.log
    cooldowns = [e for e in recorded.events if e[0] == "cooldown"]
    assert cooldowns
    for _, _, reason, at in cooldowns:
        symbol = reason.split(" ")[0]
        within = [o for o in recorded.entries() if o[1] == symbol and at <= o[3] < at + 24 * HOUR]
        assert within == [], f"{symbol} entered during its cooldown: {within}"
    # Other symbols were not blocked: the cooldown is per symbol, not a pause.
    assert not any(e[0] == "trigger" for e in recorded.events)


def test_max_drawdown_pauses_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, safety_config: Any
) -> None:
    config = safety_config(max_drawdown_pct=0.3, stoploss_cooldown_minutes=0)
    _replay(tmp_path, monkeypatch, {}, config_dir=config)
    recorded = _record(tmp_path)
    assert "PAUSE: Max drawdown reached (" in recorded.log
    paused_at = recorded.first_event("trigger", "max_drawdown")
    assert "max_drawdown" in json.dumps(recorded.state["holds"])
    _no_entry_after(recorded, paused_at)


async def test_an_api_error_burst_pauses_a_live_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, binance_loopback: BinanceLoopback
) -> None:
    server = binance_loopback
    start = server.now_ms
    klines = "/api/v3/klines"
    bursts = 0

    def clock() -> int:
        # Whenever the exchange has no failure lined up, it fails the next three candle
        # requests (three times in all): every fetch needs retries, each of which succeeds in
        # the end, so the errors pile up during the warm-up, before any decision.
        nonlocal bursts
        if bursts < 3 and server.pending_faults(klines) == 0:
            server.fail_next(klines, FaultKind.UNAVAILABLE, count=3)
            bursts += 1
        return server.now_ms

    async def sleep(seconds: float) -> None:
        server.now_ms += round(seconds * 1000)

    options = RunOptions(
        profile="aggressive",
        symbols=["BTC/USDT", "ETH/USDT"],
        feed="live",
        until_ms=(start // HOUR + 4) * HOUR,
        home=tmp_path,
        console_log=False,
        clock=clock,
        sleep=sleep,
    )
    with clean_home(tmp_path):
        # Three failed requests in a minute: the first fetch's retries reach it before any
        # decision is made.
        for name, value in {**QUIET, "MAX_API_ERRORS_PER_MIN": "3"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SIGMAX_EXCHANGE_URL", server.base_url)
        report = await run_paper(options)
    assert report.totals.candles > 0  # the run went on, paused
    assert sum(report.totals.decisions.values()) > 0
    recorded = _record(tmp_path)
    assert "PAUSE: API error burst detected (3 errors in 60s)" in recorded.log
    assert "api_error_burst" in json.dumps(recorded.state["holds"])
    assert len(recorded.state["api_errors"]) >= 3
    assert recorded.entries() == []
