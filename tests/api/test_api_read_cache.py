"""Status and portfolio built once per commit: the same answers, never uncommitted state; the
API of ``sigmax run`` on its own thread, fed the engine's events, stopping with the run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from api.live_harness import TOKEN
from engine.account_runs import OPTIONS, clean_home, complete_run
from sigmax.api import ApiToken, create_app
from sigmax.api.context import ApiContext
from sigmax.api.embedded import EmbeddedApi
from sigmax.api.read_bodies import portfolio_body, status_body
from sigmax.api.read_cache import CommitSignal, CommittedReads, StoredReads
from sigmax.app.beside import BesideEngine
from sigmax.bench.run_process import free_port
from sigmax.bus import Event, EventType, InProcessBus
from sigmax.engine.account import AccountHome, open_account_home
from sigmax.engine.runner import RunOptions, run_paper
from sigmax.safety.enforcer import SafetyEnforcer
from sigmax.safety.store import SafetyStore

#: Limits the run never reaches, so it ends unpaused and a test's pause shows.
NEVER_PAUSED = {"MAX_CONSECUTIVE_LOSSES": "1000", "MAX_DAILY_LOSS": "1000"}


@contextlib.contextmanager
def _home(home: Path) -> Iterator[Path]:
    with clean_home(home), pytest.MonkeyPatch.context() as patch:
        for name, value in NEVER_PAUSED.items():
            patch.setenv(name, value)
        yield home


@pytest.fixture(scope="module")
def completed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("completed")
    with _home(home):
        complete_run()
    return home


@pytest.fixture
def account(completed_home: Path, tmp_path: Path) -> Iterator[AccountHome]:
    """A copy of the completed home, which the test may change."""
    home = shutil.copytree(completed_home, tmp_path / "home")
    with _home(home), open_account_home() as opened:
        yield opened


def _context(account: AccountHome) -> ApiContext:
    context: ApiContext = create_app(account, ApiToken(TOKEN, "environment")).state.sigmax
    return context


def _pause(account: AccountHome) -> None:
    """Pause trading in the stored safety state, as `sigmax pause` does with no engine."""
    store = SafetyStore(account.db)
    enforcer = SafetyEnforcer(account.settings.safety, store.load())
    enforcer.pause("paused by the test", 1_700_000_000_000, trigger="manual")
    store.save(enforcer.state, enforcer.take_events())


def _wait_for_rebuild(reads: CommittedReads, past: int) -> None:
    deadline = time.monotonic() + 10
    while reads.rebuilds <= past:
        assert time.monotonic() < deadline, "the answers were not rebuilt"
        time.sleep(0.005)


# --- sigmax serve: cached per stored commit ---------------------------------------------------


async def test_stored_reads_answer_as_built_and_follow_a_stored_change(
    account: AccountHome,
) -> None:
    ctx = _context(account)
    reads = StoredReads(ctx)
    assert await reads.status() == status_body(ctx)
    assert await reads.portfolio() == portfolio_body(ctx)
    assert json.loads(await reads.status())["paused"] is False

    _pause(account)

    status = await reads.status()
    assert json.loads(status)["paused"] is True
    assert status == status_body(ctx)


# --- sigmax run: rebuilt after each commit ------------------------------------------------------


async def test_committed_reads_are_the_stored_answers_after_each_commit(
    account: AccountHome,
) -> None:
    ctx = _context(account)
    commits = CommitSignal()
    reads = CommittedReads(ctx, commits)
    await reads.start()
    try:
        assert await reads.status() == status_body(ctx)
        assert await reads.portfolio() == portfolio_body(ctx)
        before = reads.rebuilds

        _pause(account)
        commits.committed()
        await asyncio.to_thread(_wait_for_rebuild, reads, before)

        status = await reads.status()
        assert json.loads(status)["paused"] is True
        assert status == status_body(ctx)
        assert await reads.portfolio() == portfolio_body(ctx)
    finally:
        await reads.stop()


async def test_committed_reads_never_serve_a_transaction_in_flight(
    account: AccountHome,
) -> None:
    ctx = _context(account)
    commits = CommitSignal()
    reads = CommittedReads(ctx, commits)
    await reads.start()
    try:
        store = SafetyStore(account.db)
        enforcer = SafetyEnforcer(account.settings.safety, store.load())
        enforcer.pause("not committed yet", 1_700_000_000_000, trigger="manual")
        with account.db.transaction() as session:
            store.save(enforcer.state, enforcer.take_events(), session=session)
            # A rebuild while the write is in flight reads what was committed before it.
            before = reads.rebuilds
            commits.committed()
            await asyncio.to_thread(_wait_for_rebuild, reads, before)
            assert json.loads(await reads.status())["paused"] is False
        before = reads.rebuilds
        commits.committed()
        await asyncio.to_thread(_wait_for_rebuild, reads, before)
        assert json.loads(await reads.status())["paused"] is True
    finally:
        await reads.stop()


async def test_the_refresher_stops_with_the_app(account: AccountHome) -> None:
    reads = CommittedReads(_context(account), CommitSignal())
    await reads.start()
    assert any(t.name == "sigmax-api-reads" for t in threading.enumerate())
    await reads.stop()
    assert not any(t.name == "sigmax-api-reads" for t in threading.enumerate())


# --- the API on its own thread ------------------------------------------------------------------


async def test_the_api_thread_streams_the_engines_events_and_stops_cleanly(
    account: AccountHome,
) -> None:
    async with InProcessBus() as engine_bus:
        api = EmbeddedApi.build(
            lambda api_bus: create_app(
                account, ApiToken(TOKEN, "environment"), bus=api_bus, commits=CommitSignal()
            ),
            engine_bus,
            "127.0.0.1",
            0,
        )
        await api.start()
        base = f"http://127.0.0.1:{api.server.port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                status = await client.get("/api/status")
            assert status.status_code == 200
            assert status.content == status_body(_context(account))
            url = f"ws://127.0.0.1:{api.server.port}/api/ws"
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with connect(url, additional_headers=headers) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert hello["type"] == "subscribed"
                event = Event(EventType.FILL, 1_700_000_000_000, {"symbol": "BTC/USDT"}, id="f-1")
                # Published on the engine's loop, received through the API's.
                engine_bus.publish_nowait(event)
                received = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert received == event.to_dict()
        finally:
            await api.stop()
        assert not any(t.name.startswith("sigmax-api") for t in threading.enumerate())
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/api/status", timeout=2)


def test_a_run_serving_the_api_answers_as_it_commits_and_ends_its_threads(
    completed_home: Path, tmp_path: Path
) -> None:
    port = free_port()
    seen: list[str] = []
    done = threading.Event()

    def poll() -> None:
        # With the token: reads without it share the small budget of strangers.
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=5
        ) as client:
            while not done.is_set():
                try:
                    as_of = client.get("/api/portfolio").json()["as_of"]
                except httpx.HTTPError:
                    time.sleep(0.01)
                    continue
                if as_of is not None and (not seen or seen[-1] != as_of):
                    seen.append(as_of)

    options = RunOptions(
        **{
            **{f: getattr(OPTIONS, f) for f in ("profile", "symbols", "start_ms", "until_ms")},
            "console_log": False,
        },
        speed=40.0,
        companions=BesideEngine(api=True, host="127.0.0.1", port=port),
    )
    poller = threading.Thread(target=poll)
    with _home(tmp_path), pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIGMAX_API_TOKEN", TOKEN)
        poller.start()
        try:
            report = asyncio.run(run_paper(options))
        finally:
            done.set()
            poller.join(10)
    assert report.totals.candles > 0
    # Rebuilt after each commit, not only once a second: the answer moved with the run.
    assert len(seen) >= 5, seen
    assert seen == sorted(seen)
    assert not any(t.name.startswith("sigmax-api") for t in threading.enumerate())
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2)
