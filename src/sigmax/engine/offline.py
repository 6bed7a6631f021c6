"""The operator's queued commands applied to the stored account when no engine runs.

A run whose process died (kill -9, a power cut) leaves its account as it last committed: open
positions, resting stops. Waiting for the next start to honour a panic would leave the money at
risk exactly when the operator reaches for it, so the CLI applies the queued commands itself,
with the engine's own code: an :class:`~sigmax.engine.engine.Engine` restored from the run's
resume point (ledger, venue, marks, safety state) applies them through
:meth:`~sigmax.engine.engine.Engine.apply_controls`, exactly as a running engine between two
candles (a panic's client order ids derive from the command), then fills the panic's market
orders at each symbol's last mark through the paper venue's fill model
(:meth:`~sigmax.engine.engine.Engine.fill_at_marks`) and commits everything in one transaction
through the run's :class:`~sigmax.engine.run_store.RunStore`. A restarted run resumes from it.

The caller holds the engine lease meanwhile, so no run can start and overwrite the account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigmax.agents.base import PortfolioView
from sigmax.agents.market_view import MarketSnapshot
from sigmax.agents.orchestrator import Assessment, config_digest
from sigmax.config import Settings, load_settings
from sigmax.domain.decisions import DecisionRecord
from sigmax.engine.account import AccountHome, RunRecord, newest_run
from sigmax.engine.controls import ControlQueue
from sigmax.engine.engine import Engine
from sigmax.engine.gate import OrderGate
from sigmax.engine.run_store import RunStore
from sigmax.errors import SigmaxError
from sigmax.execution.instruments import OrderRules, bundled_market_specs
from sigmax.safety.store import SafetyStore


class NoDecisions:
    """The decision source of an engine that only applies commands: it never decides (no
    candle is fed to it), so asking it is a bug, not a HOLD."""

    protects_entries = False
    spends_cash = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.digest = config_digest(settings)

    def assess(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> Assessment:
        raise SigmaxError("the offline engine makes no decisions")

    async def decide(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> DecisionRecord:
        raise SigmaxError("the offline engine makes no decisions")


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
    engine = _restore(home, run)
    engine.apply_controls(at_ms)
    waiting = engine.fill_at_marks(at_ms)
    engine.commit(at_ms)
    return OfflineOutcome(at_ms, tuple(waiting))


def _restore(home: AccountHome, run: RunRecord) -> Engine:
    """The run's engine as its resume point left it, committing through its store."""
    settings = home.settings
    if settings.profile_name != run.info.profile:
        settings = load_settings(home=settings.home, profile=run.info.profile)
    specs = bundled_market_specs()
    state = run.state or {}
    trades = {str(k): (str(v[0]), str(v[1])) for k, v in dict(state.get("trades", {})).items()}
    volumes = {str(k): float(v) for k, v in dict(state.get("volumes", {})).items()}
    protection = {
        str(k): (str(v[0]), str(v[1])) for k, v in dict(state.get("protection", {})).items()
    }
    engine = Engine(
        orchestrator=NoDecisions(settings),
        histories={},
        venue=run.venue(),
        ledger=run.ledger(),
        rules={s: OrderRules(specs[s]) for s in run.symbols if s in specs},
        store=RunStore(home.db, run.info.id, applied_by="cli"),
        persist_holds=True,
        cursor=run.cursor,
        marks=run.marks,
        protection=protection,
        gate=OrderGate.from_settings(settings, SafetyStore(home.db).load()),
        trades=trades,
        volumes=volumes,
    )
    engine.controls = ControlQueue(home.db)
    return engine
