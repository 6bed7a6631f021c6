"""``sigmax run``: build the engine from the configuration, start or resume the run, summarise.

One paper account lives in one SIGMAX_HOME. A run is identified by what defines its results
(mode, feed, symbols, timeframe, profile and configuration, the data's checksums, the time
range, fees and slippage) but not by its pace: re-running the same command after a crash resumes
after the last fully processed candle; re-running a finished run prints its summary again.

``--feed live`` runs the same engine, paper venue and ledger on candles that close in real time,
read from the public endpoints of ``trading.exchange`` (no API keys; the real market, since paper
trading is about real prices: ``trading.testnet`` concerns where real orders go). A live run is
identified by exchange, symbols, timeframe, profile, configuration, fees and slippage only (it
has no data checksums and ``--until`` only says when to stop): re-running the command resumes
after the last processed candle, catching up on candles that closed meanwhile like a replay.
A live run never completes; stopped at ``--until`` it is left ``interrupted``, ready to resume.
``SIGMAX_EXCHANGE_URL`` (environment) sends the exchange's REST calls to another origin: a
stand-in for tests or a proxy.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sigmax.agents.batch import assess_history
from sigmax.agents.orchestrator import Orchestrator, build_history, config_digest
from sigmax.api import create_app, mask_in_logs
from sigmax.api.auth import ApiToken
from sigmax.api.embedded import AnnouncedCommits, EmbeddedApi
from sigmax.api.read_cache import CommitSignal
from sigmax.bus import EventBus, bus_from_settings
from sigmax.config import Settings, load_settings
from sigmax.config.settings import timeframe_overrides
from sigmax.data.catalog import DatasetCatalog
from sigmax.data.feeds import CcxtFeed
from sigmax.domain.candles import CandleSeries, ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.domain.ledger import Ledger
from sigmax.engine.account import AccountHome
from sigmax.engine.controls import ControlQueue
from sigmax.engine.decision_log import StoredDecisionLog
from sigmax.engine.engine import Engine, Feed, RunTotals
from sigmax.engine.facade import log_agents_initialized
from sigmax.engine.feeds import ReplayFeed
from sigmax.engine.gate import OrderGate
from sigmax.engine.lease import EngineLease, LeaseLostError
from sigmax.engine.live_feed import LiveFeed, wall_clock_ms
from sigmax.engine.preflight import ApiPlan, check_api, check_home_writable, check_mode
from sigmax.engine.run_store import RunStore, run_identity
from sigmax.errors import ConfigError, ConfigProblem, InputError, SigmaxError
from sigmax.execution.fill_model import FeeSchedule, SlippageModel
from sigmax.execution.instruments import OrderRules, bundled_market_specs
from sigmax.execution.paper import PaperVenue
from sigmax.logging_setup import configure_logging, shutdown_logging
from sigmax.research.hub import research_file_digest, research_from_settings
from sigmax.research.llm.attach import LlmAttacher, reasoner_from_settings
from sigmax.safety.policy import PolicyEvaluator, policy_engine_from_settings
from sigmax.safety.store import SafetyStore
from sigmax.storage.check import mark_account, open_checked
from sigmax.storage.database import Database
from sigmax.storage.models import RunMode, RunStatus
from sigmax.url_secrets import mask_url

log = logging.getLogger("sigmax.engine")

FEEDS = ("replay", "live")
#: Environment variable: another origin for the exchange's REST calls (a test stand-in, a proxy).
EXCHANGE_URL_VAR = "SIGMAX_EXCHANGE_URL"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What the operator asked for on the command line."""

    #: ``None``: TRADING_MODE from the configuration (only paper runs).
    mode: str | None = None
    profile: str | None = None
    symbols: Sequence[str] | None = None
    feed: str = "replay"
    speed: float | None = 1.0
    start_ms: int | None = None
    until_ms: int | None = None
    data: Path | None = None
    #: The candles' timeframe (``--timeframe``): the agents' primary one for this run.
    timeframe: str | None = None
    home: Path | None = None
    log_json: bool = False
    console_log: bool = True
    #: Serve the REST API in this process while the engine runs (``None``: settings.api).
    api: bool = False
    api_host: str | None = None
    api_port: int | None = None
    #: Start a new account although the home shows an earlier one and the store is empty.
    new_account: bool = False
    #: A dated research file (``--research``): the researcher reads it instead of live feeds.
    research: Path | None = None
    #: Live feed only: "now" in ms, and the wait between polls (tests pass fake ones).
    clock: Callable[[], int] = wall_clock_ms
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass(frozen=True, slots=True)
class RunReport:
    """The outcome of ``sigmax run``: totals of this invocation and the account after it."""

    run_id: str
    resumed: bool
    already_complete: bool
    totals: RunTotals
    account: dict[str, Any]


def _symbols(options: RunOptions, settings: Settings) -> list[str]:
    return parse_symbols(options.symbols, settings)


def parse_symbols(chosen: Sequence[str] | None, settings: Settings) -> list[str]:
    """``--symbols`` (default: ``trading.symbols``) in canonical spelling: each a market the
    profile allows, none twice, at least one."""
    parsed: list[str] = []
    for text in list(chosen) if chosen else list(settings.trading.symbols):
        try:
            symbol = str(Symbol.parse(text))
        except ValueError as error:
            raise InputError(f"--symbols: {error}") from None
        if symbol not in settings.profile.allowed_symbols:
            raise InputError(
                f"--symbols: {symbol} is not allowed by the {settings.profile_name} profile "
                f"(allowed: {', '.join(settings.profile.allowed_symbols)})"
            )
        if symbol in parsed:
            raise InputError(f"--symbols: {symbol} is listed twice")
        parsed.append(symbol)
    if not parsed:
        raise InputError("--symbols: name at least one market, e.g. BTC/USDT")
    return parsed


def _fees(settings: Settings) -> FeeSchedule:
    rate = settings.trading.paper_fee_rate
    return FeeSchedule(maker=rate, taker=rate)


class RunTerminatedError(Exception):
    """SIGTERM stopped the run cleanly: what was committed stays, the same command resumes."""


async def run_paper(options: RunOptions) -> RunReport:
    """Start or resume the run the options describe, until the end of its data or ``until``
    (a live run: until ``until``, or until cancelled or the exchange fails).

    Everything the configuration can get wrong (mode, profile, symbols, data, policies, the
    API's token and address, a writable home) is checked before the store is opened; the store
    is checked before it is migrated; the engine lease is taken before anything is replayed.
    SIGTERM stops the run like Ctrl-C (:class:`RunTerminatedError`).
    """
    if options.feed not in FEEDS:
        raise InputError(f"--feed: must be one of {', '.join(FEEDS)} (got {options.feed})")
    live = options.feed == "live"
    if live and options.data is not None:
        raise InputError("--data: a live run reads candles from the exchange; --data is for replay")
    if live and options.start_ms is not None:
        raise InputError("--from: a live run starts now; --from is for replay")
    if options.mode is not None:
        check_mode(options.mode, None)
    try:
        settings = load_settings(
            home=options.home,
            profile=options.profile,
            overrides=timeframe_overrides(options.timeframe),
        )
    except ConfigError as error:
        # Live trading needs keys the loader asks for; the first thing to say is that it
        # does not exist yet, not which key is missing.
        if any(p.key == "TRADING_MODE" or "TRADING_MODE=live" in p.rule for p in error.problems):
            check_mode("live", None, where="TRADING_MODE")
        raise
    mode = check_mode(options.mode, settings)
    check_home_writable(settings.home)
    configure_logging(settings, json_lines=options.log_json, console=options.console_log)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    stop: list[str] = []

    def terminate(why: str) -> None:
        stop.append(why)
        if task is not None:
            task.cancel()

    signals = _on_sigterm(loop, lambda: terminate("SIGTERM"))
    try:
        return await _prepared_run(options, settings, mode, lambda: terminate("lease"))
    except asyncio.CancelledError:
        if "lease" in stop:
            raise _fatal(
                SigmaxError(
                    "another process took over the engine lease of this home; this run stopped "
                    "(what it committed is kept)"
                )
            ) from None
        if stop:
            raise RunTerminatedError("SIGTERM") from None
        raise
    except (KeyboardInterrupt, RunTerminatedError):
        raise
    except SigmaxError as error:
        raise _fatal(error) from None
    except Exception as error:
        log_to_file(logging.CRITICAL, f"ERROR sigmax run failed: {error!r}", error)
        raise
    finally:
        if signals:
            loop.remove_signal_handler(signal.SIGTERM)
        # The log file is closed and the handlers removed: a caller in the same process
        # (tests, the Python API) does not keep writing through them.
        shutdown_logging()


def _on_sigterm(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> bool:
    """Stop on SIGTERM like on Ctrl-C; False where the loop cannot take signals (a thread)."""
    try:
        loop.add_signal_handler(signal.SIGTERM, handler)
    except (NotImplementedError, RuntimeError, ValueError):
        return False
    return True


def _fatal(error: SigmaxError) -> SigmaxError:
    """Write a fatal error to the log file too (the terminal shows it once, as the CLI prints
    it); the error itself is returned for the caller to raise."""
    log_to_file(logging.ERROR, f"ERROR sigmax run stopped: {error}")
    return error


def log_to_file(level: int, message: str, error: BaseException | None = None) -> None:
    """A record for the log files only: the console already gets the CLI's own line."""
    record = log.makeRecord(
        log.name,
        level,
        __file__,
        0,
        message,
        (),
        None if error is None else (type(error), error, error.__traceback__),
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and record.levelno >= handler.level:
            handler.handle(record)


async def _prepared_run(
    options: RunOptions, settings: Settings, mode: str, on_lost: Callable[[], None]
) -> RunReport:
    live = options.feed == "live"
    symbols = _symbols(options, settings)
    timeframe = settings.agents.analyzer.timeframes.primary
    series: dict[str, CandleSeries] = {}
    checksums: dict[str, str] = {}
    if not live:
        catalog = DatasetCatalog.from_path(options.data)
        loaded = {s: catalog.load(s, timeframe) for s in symbols}
        series = {s: item.series for s, item in loaded.items()}
        checksums = {s: item.sha256 for s, item in loaded.items()}
    specs = bundled_market_specs()
    missing = [s for s in symbols if s not in specs]
    if missing:
        raise InputError(f"--symbols: no trading rules are known for {', '.join(missing)}")
    fees = _fees(settings)
    slippage = SlippageModel()
    identity: dict[str, Any] = {
        "mode": mode,
        "feed": options.feed,
        "symbols": symbols,
        "timeframe": timeframe.value,
        "profile": settings.profile_name,
        "config": config_digest(settings),
        "starting_capital": str(settings.profile.starting_capital_usd),
    }
    if live:
        identity["exchange"] = settings.trading.exchange
    else:
        identity["data"] = checksums
        identity["start_ms"] = options.start_ms
        identity["until_ms"] = options.until_ms
    # The news source changes decisions: a run with it is another run than one without.
    identity["news"] = settings.credentials.newsapi_key is not None
    if options.research is not None:
        identity["research"] = research_file_digest(options.research)
    identity["fees"] = [str(fees.maker), str(fees.taker)]
    identity["slippage"] = repr(slippage)
    run_id = run_identity(identity)
    # Fail closed: no policies, no trading (a load error names the file and the problem).
    policy = policy_engine_from_settings(settings)
    # The API's token and address, before the store: a bad one leaves nothing behind.
    api_plan = check_api(settings, options.api_host, options.api_port) if options.api else None
    exchange = _exchange_feed(settings) if live else None
    try:
        db = open_checked(
            settings.effective_database_url(), settings.home, new_account=options.new_account
        )
        try:
            lease = EngineLease.acquire(db, run_id)
            try:
                lease.start_heartbeat(on_lost)
                return await _run(
                    options, settings, db, run_id, identity, symbols, series, exchange, specs,
                    fees, slippage, policy, api_plan, lease,
                )  # fmt: skip
            finally:
                lease.release()
        finally:
            db.dispose()
    finally:
        if exchange is not None:
            await exchange.close()


def _exchange_url() -> str | None:
    """``SIGMAX_EXCHANGE_URL`` from the environment; empty counts as not set."""
    return os.environ.get(EXCHANGE_URL_VAR, "").strip() or None


def _exchange_feed(settings: Settings) -> CcxtFeed:
    """Public market data of ``trading.exchange``, at ``SIGMAX_EXCHANGE_URL`` when it is set."""
    url = _exchange_url()
    try:
        return CcxtFeed(settings.trading.exchange, api_base_url=url)
    except ConfigError as error:
        # The feed names its own parameter; the operator set an environment variable.
        raise ConfigError(
            [
                ConfigProblem(EXCHANGE_URL_VAR, p.rule, p.value) if p.key == "api_base_url" else p
                for p in error.problems
            ]
        ) from None


async def _run(
    options: RunOptions,
    settings: Settings,
    db: Database,
    run_id: str,
    identity: dict[str, Any],
    symbols: list[str],
    series: dict[str, CandleSeries],
    exchange: CcxtFeed | None,
    specs: Any,
    fees: FeeSchedule,
    slippage: SlippageModel,
    policy: PolicyEvaluator,
    api_plan: ApiPlan | None,
    lease: EngineLease,
) -> RunReport:
    # Every write proves the lease is still ours: a process that lost it writes nothing more.
    store = RunStore(db, run_id, fence=lease.fence)
    others = store.other_runs()
    if others:
        raise InputError(
            f"SIGMAX_HOME ({settings.home}) already holds another run ({others[0]}) with its own "
            "paper account; use another SIGMAX_HOME for a different run"
        )
    mode = RunMode.PAPER if exchange is not None else RunMode.REPLAY
    status, state = store.start(mode, settings.profile_name, identity)
    mark_account(settings.home, run_id, db.url, wall_clock_ms())
    ledger = Ledger(settings.profile.starting_capital_usd)
    venue = PaperVenue({s: specs[s] for s in symbols}, fees, slippage)
    cursor: dict[str, int] = {}
    marks: dict[str, Decimal] = {}
    protection: dict[str, tuple[str, str]] = {}
    trades: dict[str, tuple[str, str]] = {}
    volumes: dict[str, float] = {}
    if state is not None:
        ledger = Ledger.restore(state["ledger"])
        venue.restore(state["venue"])
        cursor = {k: int(v) for k, v in state["cursor"].items()}
        marks = {k: Decimal(v) for k, v in state["marks"].items()}
        protection = {k: (v[0], v[1]) for k, v in state.get("protection", {}).items()}
        trades = {k: (v[0], v[1]) for k, v in state.get("trades", {}).items()}
        volumes = {k: float(v) for k, v in state.get("volumes", {}).items()}
    if status is RunStatus.COMPLETED:
        log.info("run %s is already complete; nothing to do", run_id)
        return RunReport(run_id, True, True, RunTotals(), account(ledger, marks))
    if state is not None:
        log.info(
            "resuming run %s after %s",
            run_id,
            ", ".join(f"{s} {ms_to_iso(ms)}" for s, ms in sorted(cursor.items())),
        )
    gate = OrderGate.from_settings(settings, SafetyStore(db).load(), policy)
    log_agents_initialized(settings)
    # A live run builds each history from the candles its first event brings.
    histories = {s: build_history(series[s], settings) for s in series}
    for history in histories.values():
        history.require_higher_timeframes()
    research = research_from_settings(
        settings,
        research_file=options.research,
        on_error=lambda failure: engine.record_api_error(failure.source, "fetch failed"),
    )
    engine = Engine(
        orchestrator=Orchestrator(
            settings,
            lambda symbol: engine.histories[symbol],
            sources=research.researcher_sources(),
        ),
        histories=histories,
        venue=venue,
        ledger=ledger,
        rules={s: OrderRules(specs[s]) for s in symbols},
        store=store,
        persist_holds=exchange is not None or options.speed is not None,
        cursor=cursor,
        marks=marks,
        protection=protection,
        gate=gate,
        trades=trades,
        volumes=volumes,
    )
    if exchange is None and not research.active:
        # A replay knows its whole history: candles that cannot act skip their assessment.
        # (With research every candle's sentiment is observed, so all are assessed.)
        engine.batch = {s: assess_history(h, settings) for s, h in histories.items()}
    engine.controls = ControlQueue(db)
    if exchange is not None:
        # Errors happen in wall time, whatever candle the engine is on.
        exchange.on_failure = lambda kind: engine.record_api_error(
            f"{exchange.exchange_id} feed", kind
        )
    timeframe = settings.agents.analyzer.timeframes.primary
    feed: Feed
    if exchange is not None:
        feed = LiveFeed(
            exchange,
            symbols,
            timeframe,
            clock=options.clock,
            sleep=options.sleep,
            after_ms=cursor,
            until_ms=options.until_ms,
        )
        url = _exchange_url()
        log.info(
            "LIVE paper trading on %s %s candles from %s (public data%s), profile %s",
            ", ".join(symbols),
            timeframe.value,
            exchange.exchange_id,
            f" via {mask_url(url)}, set by {EXCHANGE_URL_VAR}" if url else "",
            settings.profile_name,
        )
        if research.live:

            async def refresh(close_ms: int) -> None:
                await research.refresh(symbols, close_ms)

            engine.before_group = refresh
    else:
        feed = ReplayFeed(
            series,
            start_ms=options.start_ms,
            until_ms=options.until_ms,
            speed=options.speed,
            after_ms=cursor,
        )
        if research.live:
            # The whole window's news at once: decisions read only what was published by then.
            first = min(int(series[s].timestamp[0]) for s in series)
            last = max(series[s].last_ms for s in series) + timeframe.ms
            await research.load(
                symbols,
                max(first, options.start_ms or first),
                min(last, options.until_ms or last),
            )
        pace = "max speed" if options.speed is None else f"{options.speed:g} candles/s per symbol"
        log.info(
            "REPLAY of %s %s candles (%s), %d candles to go, profile %s",
            ", ".join(series),
            timeframe.value,
            pace,
            feed.total_candles(),
            settings.profile_name,
        )
    bus = bus_from_settings(settings)
    await bus.start()  # fails closed: a configured NATS that does not answer stops the run
    engine.bus = bus
    # Optional LLM text, attached to records after they are committed, beside the engine.
    reasoner = reasoner_from_settings(settings, research.cache)
    attacher = None if reasoner is None else LlmAttacher(reasoner, StoredDecisionLog(db))
    if attacher is not None:
        attacher.start(bus)
    api = (
        await _start_api(options, settings, db, bus, engine, api_plan)
        if api_plan is not None
        else None
    )
    try:
        # Commands queued while no engine ran (a panic's close-out) come first.
        engine.apply_controls(engine.clock_ms())
        if engine.pending_changes:
            engine.commit(engine.clock_ms())
        totals = await engine.run(feed, paced=exchange is not None or options.speed is not None)
    except (KeyboardInterrupt, asyncio.CancelledError):
        # The operator stopped it: what was committed stays, the same command resumes.
        _finish_unless_lost(store, lease, RunStatus.INTERRUPTED)
        raise
    except BaseException:
        _finish_unless_lost(store, lease, RunStatus.FAILED)
        raise
    finally:
        if api is not None:
            await api.stop()
        if attacher is not None:
            await attacher.stop()
        await research.close()
        await bus.close()  # flushes what is queued
    # A replay ends with its data; a live run only stops (at --until) and can be resumed.
    store.finish(RunStatus.INTERRUPTED if exchange is not None else RunStatus.COMPLETED)
    return RunReport(run_id, state is not None, False, totals, account(ledger, engine.marks))


def _finish_unless_lost(store: RunStore, lease: EngineLease, status: RunStatus) -> None:
    """Record how the run stopped, unless another process took the lease over: the run is
    then that process's, and its status is not this one's to write."""
    if lease.lost:
        return
    try:
        store.finish(status)
    except LeaseLostError:
        return


async def _start_api(
    options: RunOptions,
    settings: Settings,
    db: Database,
    bus: EventBus,
    engine: Engine,
    plan: ApiPlan,
) -> EmbeddedApi:
    """The REST API on a thread of its own: it answers status and portfolio from what the
    engine last committed, streams the engine's events, and sends commands through the same
    control queue as the CLI."""
    token = plan.token
    mask_in_logs(token.value)
    host, port = plan.host, plan.port
    commits = CommitSignal()
    if engine.store is not None:
        engine.store = AnnouncedCommits(engine.store, commits.committed)
    catalog = DatasetCatalog.from_path(options.data if options.feed == "replay" else None)
    # Binds now: a port taken since the check stops the run before it trades.
    api = EmbeddedApi.build(
        lambda api_bus: create_app(
            AccountHome(settings, db), token, host=host, catalog=catalog, bus=api_bus,
            commits=commits,
        ),
        bus,
        host,
        port,
    )  # fmt: skip
    # Every failed exchange or news request, not only a burst, is counted for /metrics.
    engine.on_api_error = api.server.app.state.metrics.record_venue_error
    await api.start()
    if token.origin == "created":
        # The path, not the token: a run's terminal output is often kept (nohup, a service
        # journal), so the token stays in its 0600 file.
        print(
            f"SIGMAX API token generated and stored in {token.path} (mode 0600); "
            "the dashboard and the API's actions ask for it",
            file=sys.stderr,
            flush=True,
        )
    log.info(
        "API on http://%s:%d/api/status (bearer token %s)", host, api.server.port,
        token_source(token),
    )  # fmt: skip
    return api


def token_source(token: ApiToken) -> str:
    """Where the API token is, never the token: the file's path or the variable's origin."""
    if token.path is not None:
        return f"in {token.path}"
    if token.origin == "dotenv":
        return "from SIGMAX_API_TOKEN in the home's .env"
    return "from SIGMAX_API_TOKEN in the environment"


def account(ledger: Ledger, marks: dict[str, Decimal]) -> dict[str, Any]:
    """The account as the summary and `sigmax portfolio` show it."""
    return {
        "cash": ledger.cash,
        "equity": ledger.equity(marks),
        "realized_pnl": ledger.realized_pnl,
        "unrealized_pnl": ledger.unrealized_pnl(marks),
        "fees": ledger.fees_total,
    }
