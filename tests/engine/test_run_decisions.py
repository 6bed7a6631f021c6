"""A run's decision history: every decision stored at any pace, ad-hoc analyses kept apart.

Runs here are real ``run_paper`` replays over a few days of the bundled data, in a home of
their own; the ad-hoc analyses go through the same services as ``sigmax analyze`` and ``POST
/api/analyze`` while a replay is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.account_runs import OPTIONS, clean_home
from sigmax.cli import app
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import ms_to_iso
from sigmax.engine.account import AccountHome, newest_run
from sigmax.engine.decision_log import StoredDecisionLog
from sigmax.engine.runner import RunOptions, run_paper
from sigmax.engine.services import Decider
from sigmax.storage.database import Database

#: What a decision is, whatever the detail it is stored with.
NUMBERS = (
    "id", "symbol", "timestamp", "data_until", "timeframe", "profile", "decision",
    "confidence", "size_usd", "stop_loss", "take_profit", "price", "score", "source",
)  # fmt: skip


def _open(home: Path) -> Database:
    return Database.open(f"sqlite:///{home / 'sigmax.db'}")


def _history(home: Path, source: str = "run") -> list[dict[str, Any]]:
    db = _open(home)
    try:
        return StoredDecisionLog(db).history(limit=1000, source=source)  # type: ignore[arg-type]
    finally:
        db.dispose()


def _run(home: Path, options: RunOptions) -> int:
    with clean_home(home):
        report = asyncio.run(run_paper(replace(options, home=home)))
    return report.totals.candles


@pytest.fixture(scope="module")
def full_speed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("max")
    _run(home, OPTIONS)
    return home


def test_every_decision_is_stored_and_the_same_at_full_speed_and_paced(
    full_speed_home: Path, tmp_path: Path
) -> None:
    candles = _run(tmp_path, replace(OPTIONS, speed=2000.0))
    fast = _history(full_speed_home)
    paced = _history(tmp_path)
    assert len(paced) == candles
    # The same decisions with the same numbers; only the explanation's detail differs.
    assert [{k: d[k] for k in NUMBERS} for d in fast] == [{k: d[k] for k in NUMBERS} for d in paced]
    actions = {d["decision"] for d in fast}
    assert "HOLD" in actions, actions
    assert len(actions) >= 2, actions
    # At full speed the decisions that ordered are explained, the others are numbers only.
    explained = [d for d in fast if d.get("explained", True)]
    assert explained
    assert all(d["agents"] for d in explained)
    assert all(d["agents"] == [] for d in fast if not d.get("explained", True))
    assert all(d.get("explained", True) for d in paced)


def test_the_run_log_has_the_runbooks_lines(full_speed_home: Path) -> None:
    log = (full_speed_home / "logs" / "sigmax.log").read_text(encoding="utf-8")
    for agent in ("Researcher", "Bull", "Bear", "Analyzer", "Risk", "Privacy", "Optimizer"):
        assert f"✓ {agent} agent initialized" in log, agent
    trades = [line for line in log.splitlines() if "TRADE" in line]
    assert trades
    assert all(" action: buy" in line or " action: sell" in line for line in trades), trades
    assert any("decided in " in line and " ms" in line for line in log.splitlines())
    assert "WARNING WARNING" not in log
    assert "CRITICAL ERROR" not in log


def test_history_today_is_the_replays_market_day(full_speed_home: Path) -> None:
    with clean_home(full_speed_home):
        result = CliRunner().invoke(app, ["history", "--today", "--json", "--limit", "1000"])
    assert result.exit_code == 0, result.output

    today = json.loads(result.stdout)
    last_day = ms_to_iso(OPTIONS.until_ms or 0)[:10]
    assert today
    assert all(d["timestamp"].startswith(last_day) for d in today)
    everything = _history(full_speed_home)
    assert today == [d for d in everything if d["timestamp"].startswith(last_day)]


def test_an_ad_hoc_analysis_during_a_replay_is_made_at_the_runs_market_time(
    tmp_path: Path,
) -> None:
    with clean_home(tmp_path):
        asyncio.run(_analyse_while_replaying(tmp_path))
        run_decisions = _history(tmp_path)
        analyses = _history(tmp_path, "ad_hoc")
        assert len(analyses) == 2
        assert all(d["source"] == "ad_hoc" for d in analyses)
        assert all(d["source"] == "run" for d in run_decisions)
        assert not {d["id"] for d in analyses} & {d["id"] for d in run_decisions}
        # why / history show the run's own decision unless asked for the ad-hoc ones.
        why = CliRunner().invoke(app, ["why", "BTC/USDT", "--json"])
        assert why.exit_code == 0, why.output

        assert json.loads(why.stdout)["source"] == "run"
        adhoc = CliRunner().invoke(app, ["why", "BTC/USDT", "--ad-hoc", "--json"])
        assert json.loads(adhoc.stdout)["source"] == "ad_hoc"


async def _analyse_while_replaying(home: Path) -> None:
    settings = load_settings(home=home)
    task = asyncio.create_task(run_paper(replace(OPTIONS, speed=20.0, home=home)))
    db = _open(home)
    try:
        as_of = None
        while as_of is None or as_of < (OPTIONS.start_ms or 0) + 6 * 3_600_000:
            await asyncio.sleep(0.05)
            assert not task.done(), "the replay ended before it could be analysed"
            with db.session() as session:
                run = newest_run(session)
            as_of = None if run is None else run.as_of_ms()
        decider = Decider(AccountHome(settings, db), DatasetCatalog.from_path(None))
        api_record = await decider("BTC/USDT")
        with db.session() as session:
            run = newest_run(session)
        assert run is not None
        after = run.as_of_ms()
        assert after is not None
        # The run's market time (a moment of the replayed window), not the data's end.
        assert ms_to_iso(as_of) <= api_record["timestamp"] <= ms_to_iso(after)
        from sigmax.engine.facade import SIGMAX

        async with SIGMAX(home=home, console_log=False) as sigmax:
            record = await sigmax.analyze("ETH/USDT")
        assert OPTIONS.start_ms is not None
        assert OPTIONS.until_ms is not None
        assert OPTIONS.start_ms < record.timestamp_ms <= OPTIONS.until_ms
        assert record.source == "ad_hoc"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        db.dispose()


def test_retention_keeps_the_newest_ad_hoc_analyses_and_every_run_decision(
    full_speed_home: Path, tmp_path: Path
) -> None:

    home = tmp_path / "home"
    shutil.copytree(full_speed_home, home)
    with clean_home(home):
        settings = load_settings(home=home)
        db = _open(home)
        try:
            run_before = _history(home)
            from sigmax.agents.orchestrator import Orchestrator
            from sigmax.engine.facade import HistoryCache

            histories = HistoryCache(DatasetCatalog.from_path(None), settings)
            ticks = iter(range(1, 100))
            log = StoredDecisionLog(db, clock=lambda: next(ticks), max_ad_hoc=2)
            orchestrator = Orchestrator(settings, histories, log)
            moments = [OPTIONS.start_ms + hours * 3_600_000 for hours in (1, 2, 3)]  # type: ignore[operator]
            for moment in moments:
                asyncio.run(orchestrator.analyze_symbol("BTC/USDT", moment))
            kept = log.history(limit=10, source="ad_hoc")
            assert [d["timestamp"] for d in kept] == [ms_to_iso(m) for m in moments[:0:-1]]
            assert _history(home) == run_before
        finally:
            db.dispose()
