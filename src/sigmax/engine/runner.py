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
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sigmax.agents.batch import assess_history
from sigmax.agents.orchestrator import Orchestrator, build_history, config_digest
from sigmax.bus import EventBus, bus_from_settings
from sigmax.config import Settings, load_settings
from sigmax.config.settings import timeframe_overrides
from sigmax.data.catalog import DatasetCatalog
from sigmax.data.feeds import CcxtFeed
from sigmax.domain.candles import CandleSeries, ms_to_iso
from sigmax.domain.ledger import Ledger
from sigmax.engine.controls import ControlQueue
from sigmax.engine.decision_log import StoredDecisionLog
from sigmax.engine.engine import Engine, Feed, RunTotals
from sigmax.engine.facade import log_agents_initialized
from sigmax.engine.feeds import ReplayFeed
from sigmax.engine.gate import OrderGate
from sigmax.engine.kernel import (
    EXCHANGE_URL_VAR,
    ExchangeClock,
    exchange_feed,
    exchange_rules,
    exchange_url,
    live_trader,
    open_exchange_venue,
    paper_trader,
)
from sigmax.engine.lease import EngineLease, LeaseLostError
from sigmax.engine.live_feed import LiveFeed, wall_clock_ms
from sigmax.engine.preflight import check_home_writable, check_live, check_mode, live_limits
from sigmax.engine.resume import ResumePoint
from sigmax.engine.run_store import RunStore, run_identity
from sigmax.engine.symbols import parse_symbols
from sigmax.errors import InputError, SigmaxError
from sigmax.execution.ccxt_venue import CcxtVenue
from sigmax.execution.fill_model import FeeSchedule, SlippageModel
from sigmax.execution.instruments import bundled_market_specs
from sigmax.execution.reconcile import pause_on_mismatch, reconcile
from sigmax.logging_setup import configure_logging, shutdown_logging
from sigmax.research.hub import research_file_digest, research_from_settings
from sigmax.research.llm.attach import LlmAttacher, reasoner_from_settings
from sigmax.rl.voter import promoted_voter
from sigmax.safety.policy import PolicyEvaluator, policy_engine_from_settings
from sigmax.safety.store import SafetyStore
from sigmax.storage.check import mark_account, open_checked
from sigmax.storage.database import Database
from sigmax.storage.models import RunMode, RunStatus
from sigmax.url_secrets import mask_url

if TYPE_CHECKING:
    from sigmax.portfolio.step import AllocationStep

log = logging.getLogger("sigmax.engine")

FEEDS = ("replay", "live")


class Companions(Protocol):
    """What runs beside the engine (the API, the bot: :class:`sigmax.app.beside.BesideEngine`),
    given to the runner by the CLI so that ``sigmax.engine`` never imports them."""

    def prepare(self, settings: Settings) -> None:
        """Checks made before the store is opened."""
        ...

    async def start(
        self, settings: Settings, db: Database, bus: EventBus, engine: Engine, data: Path | None
    ) -> Callable[[], Awaitable[None]]:
        """Start beside ``engine``; the function that stops them."""
        ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What the operator asked for on the command line."""

    #: ``None``: TRADING_MODE from the configuration (paper or live).
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
    #: What runs beside the engine (the API and the bot); None: the engine alone.
    companions: Companions | None = None
    #: ``--confirm-live``: a live run on the real exchange (TESTNET=false) was confirmed.
    confirm_live: bool = False
    #: A live run: the longest wait between two readings of the exchange's clock.
    clock_sync_s: float = 30.0
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
    if options.mode is not None:
        check_mode(options.mode, None)
    settings = load_settings(
        home=options.home,
        profile=options.profile,
        overrides=timeframe_overrides(options.timeframe),
    )
    mode = check_mode(options.mode, settings)
    live = options.feed == "live" or mode == "live"
    if live and options.data is not None:
        raise InputError("--data: a live run reads candles from the exchange; --data is for replay")
    if live and options.start_ms is not None:
        raise InputError("--from: a live run starts now; --from is for replay")
    if mode == "live":
        # The limits in force first, then the confirmation they were read.
        print("SIGMAX live trading, limits in force:", file=sys.stderr)
        for line in live_limits(settings):
            print(f"  {line}", file=sys.stderr)
        sys.stderr.flush()
        check_live(settings, options.confirm_live)
        options = replace(options, feed="live")
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
    if mode == "live":
        identity["testnet"] = settings.trading.testnet
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
    if settings.allocation.enabled:
        # Only a run with the allocation step says so: a default run's id stays what it was.
        identity["allocation"] = settings.allocation.model_dump(mode="json")
    identity["fees"] = [str(fees.maker), str(fees.taker)]
    identity["slippage"] = repr(slippage)
    voter = promoted_voter(settings)
    if voter is not None:
        # A promoted policy changes decisions; without one the identity is what it was.
        identity["rl"] = voter.identity
    run_id = run_identity(identity)
    # Fail closed: no policies, no trading (a load error names the file and the problem).
    policy = policy_engine_from_settings(settings)
    # The API's token and address, before the store: a bad one leaves nothing behind.
    if options.companions is not None:
        options.companions.prepare(settings)
    exchange = (
        exchange_feed(settings, testnet=mode == "live" and settings.trading.testnet)
        if live
        else None
    )
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
                    fees, slippage, policy, lease, mode,
                )  # fmt: skip
            finally:
                lease.release()
        finally:
            db.dispose()
    finally:
        if exchange is not None:
            await exchange.close()


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
    lease: EngineLease,
    mode: str,
) -> RunReport:
    # Every write proves the lease is still ours: a process that lost it writes nothing more.
    store = RunStore(db, run_id, fence=lease.fence)
    others = store.other_runs()
    if others:
        raise InputError(
            f"SIGMAX_HOME ({settings.home}) already holds another run ({others[0]}) with its own "
            "paper account; use another SIGMAX_HOME for a different run"
        )
    run_mode = (
        RunMode.LIVE
        if mode == "live"
        else RunMode.PAPER
        if exchange is not None
        else RunMode.REPLAY
    )
    status, state = store.start(run_mode, settings.profile_name, identity)
    mark_account(settings.home, run_id, db.url, wall_clock_ms())
    point = None if state is None else ResumePoint.from_json(state)
    gate = OrderGate.from_settings(settings, SafetyStore(db).load(), policy)
    venue: CcxtVenue | None = None
    clock = options.clock
    exchange_clock: ExchangeClock | None = None
    if mode == "live":
        assert exchange is not None
        if clock is wall_clock_ms:
            exchange_clock = ExchangeClock(exchange, sync_s=options.clock_sync_s)
            await exchange_clock.sync()
            clock = exchange_clock.now
            options = replace(options, clock=clock, sleep=exchange_clock.sleep)
        venue = open_exchange_venue(
            settings,
            symbols,
            base_url=exchange_url(),
            clock=clock,
            on_api_error=None,  # the engine's, once it exists
        )
        if exchange_clock is not None:
            # A timestamp refused as outside recvWindow: the clock is measured again.
            venue.session.resync = exchange_clock.sync
    try:
        return await _run_with(
            options, settings, db, store, lease, run_id, identity, symbols, series, exchange,
            specs, fees, slippage, gate, point, status, state, venue,
        )  # fmt: skip
    finally:
        if venue is not None:
            await venue.close()


async def _run_with(
    options: RunOptions,
    settings: Settings,
    db: Database,
    store: RunStore,
    lease: EngineLease,
    run_id: str,
    identity: dict[str, Any],
    symbols: list[str],
    series: dict[str, CandleSeries],
    exchange: CcxtFeed | None,
    specs: Any,
    fees: FeeSchedule,
    slippage: SlippageModel,
    gate: OrderGate,
    point: ResumePoint | None,
    status: RunStatus,
    state: Any,
    venue: CcxtVenue | None,
) -> RunReport:
    if venue is not None:
        assert exchange is not None
        await venue.start()
        trader = await live_trader(
            settings, venue, await exchange_rules(exchange, symbols), fees, gate, point
        )
    else:
        trader = paper_trader(settings, specs, symbols, fees, slippage, gate, point)
    fresh_live = exchange is not None and not trader.cursor
    if fresh_live:
        # A new run on live candles trades from the newest closed candle: its cursor starts
        # just before that candle and is committed before the first step, so a crash inside
        # that step (orders sent, nothing committed) resumes by redoing it.
        step = settings.agents.analyzer.timeframes.primary.ms
        start = options.clock() // step * step - 2 * step
        trader.cursor.update(dict.fromkeys(symbols, start))
    ledger, marks, cursor = trader.ledger, trader.marks, dict(trader.cursor)
    if status is RunStatus.COMPLETED:
        log.info("run %s is already complete; nothing to do", run_id)
        return RunReport(run_id, True, True, RunTotals(), account(ledger, marks))
    if state is not None:
        log.info(
            "resuming run %s after %s",
            run_id,
            ", ".join(f"{s} {ms_to_iso(ms)}" for s, ms in sorted(cursor.items())),
        )
    log_agents_initialized(settings)
    voter = promoted_voter(settings)
    if identity.get("rl") != (None if voter is None else voter.identity):
        raise InputError("the promoted RL model changed while the run started; start it again")
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
            voter=voter,
        ),
        histories=histories,
        trader=trader,
        store=store,
        persist_holds=exchange is not None or options.speed is not None,
    )
    if exchange is None and not research.active:
        # A replay knows its whole history: candles that cannot act skip their assessment.
        # (With research every candle's sentiment is observed, so all are assessed.)
        engine.batch = {s: assess_history(h, settings, voter) for s, h in histories.items()}
    engine.controls = ControlQueue(db)
    allocation = _allocation_step(settings, engine)
    if exchange is not None:
        # Errors happen in wall time, whatever candle the engine is on.
        exchange.on_failure = lambda kind: engine.record_api_error(
            f"{exchange.exchange_id} feed", kind
        )
    if venue is not None:
        # Every failed exchange call counts towards the API-error-burst trigger.
        venue.session.on_api_error = lambda call, summary: engine.record_api_error(
            f"{venue.name} {call}", summary
        )
    timeframe = settings.agents.analyzer.timeframes.primary
    feed: Feed
    checks: Reconciliation | None = None
    if exchange is not None:
        url = exchange_url()
        log.info(
            "LIVE %s on %s %s candles from %s (%s%s), profile %s",
            "paper trading" if venue is None else "TRADING",
            ", ".join(symbols),
            timeframe.value,
            exchange.exchange_id,
            "public data" if venue is None else (
                "testnet" if settings.trading.testnet else "REAL MONEY"
            ),
            f" via {mask_url(url)}, set by {EXCHANGE_URL_VAR}" if url else "",
            settings.profile_name,
        )  # fmt: skip
        live_research = research if research.live else None
        # A resumed run's first group redoes the step a crash may have cut short (its orders
        # are looked up on the exchange by client id and adopted): it is reconciled after it.
        redo_close = min(cursor.values()) + 2 * timeframe.ms if state is not None else None
        checks = None if venue is None else Reconciliation(
            venue, engine, settings.trading.reconcile_minutes * 60_000, options.clock,
            after_close_ms=redo_close, step_ms=timeframe.ms,
        )  # fmt: skip
        feed = LiveFeed(
            exchange,
            symbols,
            timeframe,
            clock=options.clock,
            # Waits for a close apply the operator's commands and due reconciliations.
            sleep=BetweenCandles(engine, checks, options.sleep).sleep,
            # A new run's feed starts fresh (the newest closed candle, with a full warm-up);
            # its committed starting cursor serves a restart.
            after_ms=None if fresh_live else cursor,
            until_ms=options.until_ms,
        )

        async def before_group(close_ms: int) -> None:
            if live_research is not None:
                await live_research.refresh(symbols, close_ms)
            if checks is not None:
                await checks.due(close_ms)

        engine.before_group = before_group
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
    stop_companions = None
    # Optional LLM text, attached to records after they are committed, beside the engine.
    reasoner = reasoner_from_settings(settings, research.cache)
    attacher = (
        None
        if reasoner is None
        else LlmAttacher(
            reasoner, StoredDecisionLog(db), research.llm_stances(live=exchange is not None)
        )
    )
    if attacher is not None:
        attacher.start(bus)
    try:
        if options.companions is not None:
            stop_companions = await options.companions.start(
                settings, db, bus, engine, options.data if exchange is None else None
            )
        if checks is not None:
            # What the exchange did while no engine ran, then the start's reconciliation
            # (a resumed run's after the redone step).
            await checks.start(engine.clock_ms())
        # Commands queued while no engine ran (a panic's close-out) come first.
        await engine.apply_controls(engine.clock_ms())
        if engine.pending_changes or fresh_live:
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
        if stop_companions is not None:
            await stop_companions()
        if attacher is not None:
            await attacher.stop()
        await research.close()
        await bus.close()  # flushes what is queued
        if allocation is not None:
            allocation.close()
    # A replay ends with its data; a live run only stops (at --until) and can be resumed.
    store.finish(RunStatus.INTERRUPTED if exchange is not None else RunStatus.COMPLETED)
    return RunReport(run_id, state is not None, False, totals, account(ledger, trader.marks))


def _allocation_step(settings: Settings, engine: Engine) -> AllocationStep | None:
    """The allocation step when ``allocation.enabled``, with the quantum solver beside it when
    ``quantum.enabled`` (imported only then: scipy, scikit-learn and qiskit are not small)."""
    if not settings.allocation.enabled:
        return None
    from sigmax.portfolio.step import AllocationStep
    from sigmax.portfolio.worker import QuantumAdvisor

    advisor = QuantumAdvisor(settings.quantum) if settings.quantum.enabled else None
    step = AllocationStep(settings, lambda symbol: engine.histories[symbol].series, advisor)
    engine.allocation = step
    return step


def _finish_unless_lost(store: RunStore, lease: EngineLease, status: RunStatus) -> None:
    """Record how the run stopped, unless another process took the lease over: the run is
    then that process's, and its status is not this one's to write."""
    if lease.lost:
        return
    try:
        store.finish(status)
    except LeaseLostError:
        return


class Reconciliation:
    """A live run's reconciliation: at start and every ``every_ms`` of the exchange's clock,
    the exchange's pending events are applied first, then balances, open orders and fills are
    compared with the ledger; any mismatch pauses trading with the report."""

    def __init__(
        self,
        venue: CcxtVenue,
        engine: Engine,
        every_ms: int,
        clock: Callable[[], int],
        *,
        after_close_ms: int | None = None,
        step_ms: int = 0,
    ) -> None:
        self.venue = venue
        self.engine = engine
        self.every_ms = every_ms
        self.clock = clock
        self.last_ms: int | None = None
        #: A resumed run: the first reconciliation waits until the group closing then (the
        #: step a crash may have cut short, ``step_ms`` long) is redone, or the run waits for
        #: a candle.
        self.after_close_ms = after_close_ms
        #: Trades before the run's first start are not SIGMAX's; those after the close of
        #: the last step it committed may be (the step a crash cut short).
        times = [e.timestamp_ms for e in engine.trader.ledger.entries]
        if after_close_ms is not None:
            times.append(after_close_ms - step_ms)
        self.since_ms = min(times) if times else clock()

    async def start(self, now_ms: int) -> None:
        """At the run's start: the events of the orders it follows, then the reconciliation
        unless the run is resumed (then after its redone step, see :meth:`due`)."""
        if self.after_close_ms is None:
            await self.run(now_ms)
            return
        await self._catch_up(now_ms)
        self.engine.commit(now_ms)
        log.info(
            "reconciliation with %s waits until the step closing at %s is redone (a stop may "
            "have cut it short after its orders reached the exchange)",
            self.venue.name,
            ms_to_iso(self.after_close_ms),
        )

    async def due(self, now_ms: int, *, caught_up: bool = False) -> None:
        """Reconcile when ``every_ms`` has passed, or for the first time. ``caught_up``: the
        run waits for a candle to close (every step is done)."""
        if self.last_ms is None:
            if self.after_close_ms is not None and now_ms <= self.after_close_ms and not caught_up:
                return
            await self.run(now_ms)
        elif self.clock() - self.last_ms >= self.every_ms:
            await self.run(now_ms)

    async def _catch_up(self, now_ms: int) -> None:
        for symbol in self.venue.symbols:
            await self.engine.apply_venue_events(await self.venue.catch_up(symbol), now_ms)

    async def run(self, now_ms: int) -> None:
        await self._catch_up(now_ms)
        self.last_ms = self.clock()
        report = await reconcile(
            self.venue, self.engine.trader.ledger, since_ms=self.since_ms, at_ms=now_ms,
            quote=symbols_quote(self.venue.symbols),
        )  # fmt: skip
        if report.ok:
            log.info("reconciliation with %s: %s", self.venue.name, report.summary())
        else:
            log.warning("PAUSE reconciliation with %s: %s", self.venue.name, report.summary())
            pause_on_mismatch(report, self.engine.safety)
        # The safety events (a pause) and what the catch-up applied, committed now.
        await self.engine.apply_venue_events([], now_ms)
        self.engine.commit(now_ms)


class BetweenCandles:
    """What a run on live candles does while it waits for the next close: the operator's
    commands (a panic cannot wait an hour for the next candle) and a due reconciliation, at
    least every ``poll_s`` seconds, around the feed's own wait."""

    def __init__(
        self,
        engine: Engine,
        checks: Reconciliation | None,
        sleep: Callable[[float], Awaitable[None]],
        *,
        poll_s: float = 1.0,
    ) -> None:
        self.engine = engine
        self.checks = checks
        self._sleep = sleep
        self.poll_s = poll_s

    async def sleep(self, seconds: float) -> None:
        waiting = asyncio.ensure_future(self._sleep(seconds))
        try:
            while True:
                await self.work()
                if waiting.done():
                    break
                await asyncio.wait({waiting}, timeout=self.poll_s)
            waiting.result()
        finally:
            waiting.cancel()

    async def work(self) -> None:
        """Every step is done: apply the queued commands and reconcile when due, committed."""
        engine = self.engine
        now_ms = engine.clock_ms()
        if engine.controls is not None:
            await engine.apply_controls(now_ms)
        if self.checks is not None:
            await self.checks.due(now_ms, caught_up=True)
        if engine.pending_changes:
            engine.commit(now_ms)


def symbols_quote(symbols: Sequence[str]) -> str:
    return symbols[0].split("/")[1]


def account(ledger: Ledger, marks: dict[str, Decimal]) -> dict[str, Any]:
    """The account as the summary and `sigmax portfolio` show it."""
    return {
        "cash": ledger.cash,
        "equity": ledger.equity(marks),
        "realized_pnl": ledger.realized_pnl,
        "unrealized_pnl": ledger.unrealized_pnl(marks),
        "fees": ledger.fees_total,
    }
