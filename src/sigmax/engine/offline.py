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

The caller holds the engine lease meanwhile, so no run can start and overwrite the account.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sigmax.config import load_settings
from sigmax.engine.account import AccountHome, RunRecord, newest_run
from sigmax.engine.assembly import paper_trader
from sigmax.engine.controls import ControlQueue
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.gate import OrderGate
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


def apply_queued_offline(home: AccountHome, at_ms: int) -> OfflineOutcome | None:
    """Apply every pending command to the newest run's stored account at ``at_ms`` (the
    run's clock); None when the home holds no run (the caller applies what it can)."""
    with home.db.session() as session:
        run = newest_run(session)
    if run is None:
        return None
    return asyncio.run(_apply(home, run, at_ms))


async def _apply(home: AccountHome, run: RunRecord, at_ms: int) -> OfflineOutcome:
    trader = restore_trader(home, run)
    write = StepWrite()
    for command in ControlQueue(home.db).pending():
        status, result = await trader.command(command, at_ms, write, wall_clock_ms())
        write.controls.append((command.id, status, result))
    write.safety_events += trader.safety.take_events()
    waiting = await trader.fill_at_marks(at_ms, write)
    store = RunStore(home.db, run.info.id, applied_by="cli")
    store.commit(write, trader.resume_point().to_json(), at_ms, trader.safety.state)
    return OfflineOutcome(at_ms, tuple(waiting))


def restore_trader(home: AccountHome, run: RunRecord) -> Trader:
    """The run's account as its resume point left it, with the stored safety state."""
    if run.info.mode is RunMode.LIVE:
        # The account is on the exchange: only a running live engine acts on it.
        raise InputError(
            "the newest run trades live on the exchange: start `sigmax run --mode live` (the "
            "queued command is applied first, on the exchange) instead of acting offline"
        )
    settings = home.settings
    if settings.profile_name != run.info.profile:
        settings = load_settings(home=settings.home, profile=run.info.profile)
    specs = bundled_market_specs()
    point = ResumePoint.from_json(run.state) if run.state is not None else None
    gate = OrderGate.from_settings(settings, SafetyStore(home.db).load())
    return paper_trader(settings, specs, run.symbols, run.fees(), SlippageModel(), gate, point)
