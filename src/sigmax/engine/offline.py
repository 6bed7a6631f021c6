"""The operator's queued commands applied to the stored account when no engine runs.

A run whose process died (kill -9, a power cut) leaves its account as it last committed: open
positions, resting stops. Waiting for the next start to honour a panic would leave the money at
risk exactly when the operator reaches for it, so the CLI applies the queued commands itself,
through the account's one owner: the run's :class:`~sigmax.engine.trader.Trader`, restored from
its resume point (ledger, venue, marks) with the stored safety state, applies each command
through :meth:`~sigmax.engine.trader.Trader.command`, exactly as a running engine does between
two candles (a command's client order ids derive from the command), then fills the resulting
market orders at each symbol's last mark through the venue's fill model
(:meth:`~sigmax.engine.trader.Trader.fill_at_marks`) and commits everything in one transaction
through the run's :class:`~sigmax.engine.run_store.RunStore`. A restarted run resumes from it.

A live run's account is on the exchange: there the trader is the live one
(:func:`~sigmax.engine.kernel.live_trader`), connected with the configured ``API_KEY`` /
``API_SECRET`` to the exchange (and testnet or not) the run traded on, on the exchange's clock;
a panic cancels and sells on the exchange and books what the exchange reports, exactly as a
running engine's panic (nothing is filled at a mark). Refusing to act offline on a live account
would leave the positions open exactly when the operator reaches for the panic.

The caller holds the engine lease meanwhile, so no run can start and overwrite the account.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sigmax.config import Settings, load_settings
from sigmax.engine.account import AccountHome, RunRecord, newest_run
from sigmax.engine.assembly import paper_trader
from sigmax.engine.controls import ControlQueue
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.gate import OrderGate
from sigmax.engine.kernel import (
    ExchangeClock,
    exchange_feed,
    exchange_rules,
    exchange_url,
    live_trader,
    open_exchange_venue,
)
from sigmax.engine.resume import ResumePoint
from sigmax.engine.run_store import RunStore, StepWrite
from sigmax.engine.trader import Trader
from sigmax.errors import InputError
from sigmax.execution.fill_model import SlippageModel
from sigmax.execution.instruments import bundled_market_specs
from sigmax.safety.store import SafetyStore
from sigmax.storage.models import RunMode


@dataclass(frozen=True, slots=True)
class OfflineOutcome:
    """What applying the queue came to: the clock it was applied at, and the symbols whose
    close-out still waits for a candle (no mark or volume known)."""

    at_ms: int
    waiting: tuple[str, ...]
    #: The account is on an exchange: the commands were applied there.
    on_exchange: bool = False


def apply_queued_offline(home: AccountHome, at_ms: int) -> OfflineOutcome | None:
    """Apply every pending command to the newest run's stored account at ``at_ms`` (the
    run's clock); None when the home holds no run (the caller applies what it can)."""
    with home.db.session() as session:
        run = newest_run(session)
    if run is None:
        return None
    return asyncio.run(_apply(home, run, at_ms))


async def _apply(home: AccountHome, run: RunRecord, at_ms: int) -> OfflineOutcome:
    if run.info.mode is RunMode.LIVE:
        return await _apply_live(home, run, at_ms)
    trader = restore_trader(home, run)
    write = await _commands(home, trader, at_ms)
    waiting = await trader.fill_at_marks(at_ms, write)
    _commit(home, run, trader, write, at_ms)
    return OfflineOutcome(at_ms, tuple(waiting))


async def _commands(home: AccountHome, trader: Trader, at_ms: int) -> StepWrite:
    write = StepWrite()
    for command in ControlQueue(home.db).pending():
        status, result = await trader.command(command, at_ms, write, wall_clock_ms())
        write.controls.append((command.id, status, result))
    write.safety_events += trader.safety.take_events()
    return write


def _commit(
    home: AccountHome, run: RunRecord, trader: Trader, write: StepWrite, at_ms: int
) -> None:
    store = RunStore(home.db, run.info.id, applied_by="cli")
    store.commit(
        write, trader.resume_point().to_json(), at_ms, trader.safety.state, ledger=trader.ledger
    )


async def _apply_live(home: AccountHome, run: RunRecord, at_ms: int) -> OfflineOutcome:
    """The queue applied on the exchange account of a live run (see the module docstring)."""
    settings = _run_settings(home, run)
    check_same_exchange(settings, run)
    credentials = settings.credentials
    if credentials.api_key is None or credentials.api_secret is None:
        raise InputError(
            "API_KEY and API_SECRET (or API_SECRET_FILE): required to act on the live account "
            f"of run {run.info.id} with no engine running (a panic cancels and sells on "
            f"{settings.trading.exchange})"
        )
    feed = exchange_feed(settings, testnet=settings.trading.testnet)
    try:
        clock = ExchangeClock(feed)
        await clock.sync()
        venue = open_exchange_venue(
            settings, run.symbols, base_url=exchange_url(), clock=clock.now, on_api_error=None
        )
        venue.session.resync = clock.sync
        try:
            await venue.start()
            point = ResumePoint.from_json(run.state) if run.state is not None else None
            gate = OrderGate.from_settings(settings, SafetyStore(home.db).load())
            rules = await exchange_rules(feed, run.symbols)
            trader = await live_trader(settings, venue, rules, run.fees(), gate, point)
            write = await _commands(home, trader, at_ms)
            # What the commands sent, as the exchange reports it now.
            await trader.catch_up(at_ms, write)
            write.equity.append(trader.equity_point(at_ms))
            write.safety_events += trader.safety.take_events()
            _commit(home, run, trader, write, at_ms)
        finally:
            await venue.close()
    finally:
        await feed.close()
    return OfflineOutcome(at_ms, (), on_exchange=True)


def check_same_exchange(settings: Settings, run: RunRecord) -> None:
    """The configured exchange (and testnet or not) must be the one the live run traded on:
    keys for another account would act on the wrong money."""
    exchange, testnet = run.config.get("exchange"), run.config.get("testnet")
    if exchange != settings.trading.exchange or bool(testnet) != settings.trading.testnet:
        raise InputError(
            f"EXCHANGE / TESTNET: run {run.info.id} trades on {exchange} (testnet {testnet}); "
            f"the configuration names {settings.trading.exchange} (testnet "
            f"{settings.trading.testnet}): act on the run's own account"
        )


def _run_settings(home: AccountHome, run: RunRecord) -> Settings:
    settings = home.settings
    if settings.profile_name != run.info.profile:
        settings = load_settings(home=settings.home, profile=run.info.profile)
    return settings


def restore_trader(home: AccountHome, run: RunRecord) -> Trader:
    """The run's account as its resume point left it, with the stored safety state."""
    if run.info.mode is RunMode.LIVE:
        raise InputError(
            "the newest run trades live on the exchange: its account is restored by "
            "connecting to the exchange (apply_queued_offline), not from the store alone"
        )
    settings = _run_settings(home, run)
    specs = bundled_market_specs()
    point = ResumePoint.from_json(run.state) if run.state is not None else None
    gate = OrderGate.from_settings(settings, SafetyStore(home.db).load())
    return paper_trader(settings, specs, run.symbols, run.fees(), SlippageModel(), gate, point)
