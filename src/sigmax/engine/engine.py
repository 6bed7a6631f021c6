"""The engine: one loop for replay, paper and (later) live trading.

At each closed candle of each symbol, in time order:

1. the venue processes resting orders against the new candle (market orders placed at the
   previous close fill at this candle's open; stops and targets are checked within it), and the
   ledger applies every fill;
2. the ledger is marked to the candle's close;
3. the orchestrator decides on the market as it was at that close;
4. a BUY becomes a market order sized by the risk agent (protected by a stop-loss and a
   take-profit once it fills), a SELL closes the position;
5. the step is committed: decision, orders, fills, positions, ledger and the resume point in one
   transaction (steps that changed nothing may be batched; see :mod:`sigmax.engine.run_store`).

The clock is the candles' close times, so the same candles give the same run whatever the pace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from sigmax.agents.base import PortfolioView
from sigmax.agents.batch import BatchAssessment
from sigmax.agents.market_view import MarketSnapshot, SymbolHistory
from sigmax.agents.orchestrator import Assessment, build_history, decision_id
from sigmax.bus import EventBus
from sigmax.config import Settings
from sigmax.domain.candles import CandleSeries, ms_to_iso
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.domain.ledger import Ledger, utc_day
from sigmax.engine.controls import ControlQueue
from sigmax.engine.decision_log import CompactDecision, wall_clock_ms
from sigmax.engine.events import publish_step
from sigmax.engine.feeds import CandleClosed, CandlesPassed
from sigmax.engine.run_store import (
    StepWrite,
)
from sigmax.engine.trader import Trader
from sigmax.safety.state import SafetyState

log = logging.getLogger("sigmax.engine")

AVG_PRICE_QUANTUM = Decimal("1e-12")

#: Steps that change nothing are committed at least this often (in steps) at full speed.
BATCH_STEPS = 500


class DecisionSource(Protocol):
    """What decides: the agents' :class:`Orchestrator`, or a reference strategy.

    ``protects_entries``: entries get a stop-loss and a take-profit (a strategy without them
    exits on its own signal). ``spends_cash``: a BUY invests its symbol's sleeve of the cash,
    the starting capital split into ``cash_sleeves`` equal sleeves (all the cash with one).
    """

    settings: Settings
    protects_entries: bool
    spends_cash: bool
    cash_sleeves: int
    #: The digest of the configuration decisions depend on (part of every decision id).
    digest: str

    def assess(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> Assessment: ...

    async def decide(
        self, snapshot: MarketSnapshot, portfolio: PortfolioView
    ) -> DecisionRecord: ...


class Allocator(Protocol):
    """The allocation step (:class:`sigmax.portfolio.step.AllocationStep`): the BUYs of one
    candle close sized together, in the same order, each with its ``allocation`` part; a size
    of 0 means no order (the part's ``reason`` says why)."""

    def allocate(
        self, records: Sequence[DecisionRecord], portfolio: PortfolioView, close_ms: int
    ) -> list[DecisionRecord]: ...


class StepSink(Protocol):
    """Where committed steps go: the run's database (:class:`RunStore`) or, for a backtest,
    memory. ``keeps_resume_point``: whether it stores the state a restart resumes from."""

    run_id: str
    keeps_resume_point: bool

    def commit(
        self,
        write: StepWrite,
        state: Mapping[str, Any],
        now_ms: int,
        safety: SafetyState | None = None,
        ledger: Ledger | None = None,
    ) -> None: ...


class Feed(Protocol):
    kind: str

    def events(self) -> Any: ...


@dataclass(slots=True)
class RunTotals:
    """What a run did, for the closing summary."""

    candles: int = 0
    decisions: dict[str, int] = field(default_factory=lambda: {"BUY": 0, "SELL": 0, "HOLD": 0})
    orders: int = 0
    rejected: int = 0
    fills: int = 0
    #: Of ``candles``, those the engine passed over without a step (a backtest's stretches
    #: where nothing can happen, and the inert candles of the groups it steps; see
    #: :meth:`Engine.pass_candles`).
    passed: int = 0
    last_close_ms: int | None = None
    elapsed_s: float = 0.0


class Engine:
    """Drives a feed through the orchestrator, the venue and the ledger."""

    def __init__(
        self,
        *,
        orchestrator: DecisionSource,
        histories: Mapping[str, SymbolHistory],
        trader: Trader,
        store: StepSink | None,
        persist_holds: bool,
        history_for: Callable[[CandleSeries], SymbolHistory] | None = None,
    ) -> None:
        """``trader`` owns the account (ledger, venue, protective orders, marks) and every
        order; the engine decides and drives it. ``history_for`` builds a symbol's history from
        the candles an event brings when they are newer than the history knows (live
        candles); by default with the analyzer's timeframes and indicators from the
        orchestrator's settings."""
        self.orchestrator = orchestrator
        self.histories = dict(histories)
        self.history_for: Callable[[CandleSeries], SymbolHistory] = history_for or (
            lambda series: build_history(series, orchestrator.settings)
        )
        self.trader = trader
        self.store = store
        #: Explain (run every agent's text for) every decision, not only those that order:
        #: a watchable pace, where the operator reads each decision as it comes.
        self.persist_holds = persist_holds
        #: Store every decision: a run's database keeps its whole decision history, whatever
        #: the pace (those not explained as their numbers, :class:`CompactDecision`); a
        #: backtest keeps in memory only the decisions behind its orders.
        self.records_every_decision = store is not None and store.keeps_resume_point
        #: The safety enforcer and the compliance policies every order passes.
        self.gate = trader.gate
        self.safety = trader.gate.safety
        self.totals = RunTotals()
        #: The operator's queued commands (pause, resume, panic); None: no store to read.
        self.controls: ControlQueue | None = None
        #: Per symbol, the whole-history assessment of a replay (candles that cannot act
        #: skip their assessment); empty for a live run, whose history grows.
        self.batch: dict[str, BatchAssessment] = {}
        #: Where committed steps are announced (decisions, orders, fills, safety, equity).
        self.bus: EventBus | None = None
        self.run_id = store.run_id if store is not None else ""
        #: Told of every failed exchange or news request (the API's error counter).
        self.on_api_error: Callable[[], None] | None = None
        #: Work before each group of candles closing together (a live run refreshes its
        #: research sources here), given the group's close time.
        self.before_group: Callable[[int], Awaitable[None]] | None = None
        #: ``replay`` or ``live``: every operator-facing line says which.
        self.feed_kind = "replay"
        #: The wall clock (epoch ms), in which an operator's pause counts (see
        #: :mod:`sigmax.safety.enforcer`); replaceable so tests can move it.
        self.wall_clock: Callable[[], int] = wall_clock_ms
        self._pending = StepWrite()
        self._pending_steps = 0
        #: The allocation step; None (the default): each BUY keeps the risk agent's size.
        self.allocation: Allocator | None = None
        #: The BUYs of the group being stepped that wait for the allocation step.
        self._deferred: list[DecisionRecord] | None = None

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, feed: Feed, *, paced: bool) -> RunTotals:
        """Process every event of ``feed``; commit as the run goes; return the totals."""
        started = time.perf_counter()
        self.feed_kind = feed.kind
        async for group in feed.events():
            if isinstance(group, CandlesPassed):
                self.pass_candles(group)
                if self._pending.changes_state or self._pending_steps >= BATCH_STEPS:
                    self.commit(group.close_ms)
                continue
            if self.before_group is not None:
                await self.before_group(group[0].close_ms)
            await self._step_group(group)
            last = group[-1].close_ms
            point = self.trader.equity_point(last)
            self._pending.equity.append(point)
            self.safety.observe_account(point.equity, point.daily_pnl, last)
            self._pending.safety_events += self.safety.take_events()
            if self.controls is not None and self.controls.due(paced):
                await self.apply_controls(last)
            if paced or self._pending.changes_state or self._pending_steps >= BATCH_STEPS:
                self.commit(last)
        if self._pending_steps:
            self.commit(self.totals.last_close_ms or 0)
        self.totals.elapsed_s = time.perf_counter() - started
        orders = self.trader.totals
        self.totals.orders, self.totals.rejected, self.totals.fills = (
            orders.orders,
            orders.rejected,
            orders.fills,
        )
        return self.totals

    @property
    def pending_changes(self) -> bool:
        return self._pending.changes_state

    def clock_ms(self) -> int:
        """The engine's clock: the close of the newest candle processed (wall time before the
        first one)."""
        if self.totals.last_close_ms is not None:
            return self.totals.last_close_ms
        cursor = self.trader.cursor
        if cursor:
            timeframe = self.orchestrator.settings.agents.analyzer.timeframes.primary
            return max(cursor.values()) + timeframe.ms
        return wall_clock_ms()

    def commit(self, now_ms: int) -> None:
        """Write what is pending with the resume point, in one transaction."""
        if self.store is not None:
            state = self.state() if self.store.keeps_resume_point else {}
            # The ledger goes with its head: the store inserts the entries it lacks.
            self.store.commit(
                self._pending, state, now_ms, self.safety.state, ledger=self.trader.ledger
            )
        if self.bus is not None:
            publish_step(self.bus, self.run_id, self._pending)
        self._pending = StepWrite()
        self._pending_steps = 0

    def state(self) -> dict[str, Any]:
        """The resume point as stored (see :class:`~sigmax.engine.resume.ResumePoint`)."""
        return self.trader.resume_point().to_json()

    async def _step_group(self, group: list[CandleClosed]) -> None:
        """Step the candles of one group; runs of inert ones are passed together.

        Before each candle that is stepped, the inert candles ahead of it in the group have
        been applied, so it sees the very state (marks, ledger, safety clock) it would have
        seen after stepping them one by one.
        """
        if self.allocation is not None:
            self._deferred = []
        inert: list[CandleClosed] = []
        for event in group:
            if event.inert and self._holds_unassessed(event):
                inert.append(event)
                continue
            if inert:
                self._pass_inert(inert)
                inert = []
            self._pending.merge(await self.step(event))
            self._pending_steps += 1
        if inert:
            self._pass_inert(inert)
        if self._deferred:
            await self._allocate(self._deferred, group[-1].close_ms)
        self._deferred = None

    def _pass_inert(self, events: list[CandleClosed]) -> None:
        """Apply candles of one group that the feed flagged inert (no resting order of theirs
        can fill, each a HOLD known from the whole-history assessment) as stepping each would.

        Stepping one notes it at the venue, moves its mark, marks the ledger to market, ticks
        the safety clock and counts a HOLD. Marking the ledger again at the same close only
        replaces the marks, unless the call opens a UTC day: the ledger opens it at the marks
        after the group's first candle, so that candle is marked on its own. The safety clock
        ticks once: ticking again at the same moment lifts nothing more.
        """
        close_ms = events[0].close_ms
        trader = self.trader
        ledger = trader.ledger
        opened = ledger.current_day
        rest = events
        if opened is None or utc_day(close_ms) > opened:
            trader.note_inert(events[0].symbol, events[0].candle)
            ledger.mark_to_market(close_ms, trader.marks)
            rest = events[1:]
        if rest:
            for event in rest:
                trader.note_inert(event.symbol, event.candle)
            ledger.mark_to_market(close_ms, trader.marks)
        self.safety.tick(close_ms, self.wall_clock())
        self._pending.safety_events += self.safety.take_events()
        self._count_passed(len(events), close_ms)

    def _count_passed(self, count: int, close_ms: int) -> None:
        """``count`` candles up to ``close_ms`` applied without a step, each a HOLD."""
        self.totals.candles += count
        self.totals.passed += count
        self.totals.decisions["HOLD"] += count
        self.totals.last_close_ms = close_ms
        self._pending_steps += count

    def _holds_unassessed(self, event: CandleClosed) -> bool:
        """The candle's decision is a HOLD whatever the account, known from the
        whole-history assessment: its score or confidence is short of a threshold."""
        batch = self.batch.get(event.symbol)
        if batch is None or self.persist_holds or not 0 <= event.index < len(batch.score):
            return False
        history = self.histories.get(event.symbol)
        return (
            history is not None
            and event.series is history.series
            and not batch.candidate[event.index]
        )

    # -- one candle ---------------------------------------------------------------------------

    async def step(self, event: CandleClosed) -> StepWrite:
        write = StepWrite()
        symbol = event.symbol
        await self.trader.on_candle(symbol, event.candle, event.close_ms, write, event.inert)
        # Market time for the triggers, the wall clock for an operator's pause.
        self.safety.tick(event.close_ms, self.wall_clock())

        history = self._history(event)
        batch = self.batch.get(symbol)
        if (
            batch is not None
            and not self.persist_holds
            and event.series is history.series
            and 0 <= event.index < len(batch.score)
            and not batch.candidate[event.index]
        ):
            # Score or confidence short of a threshold: a HOLD whatever the account, known
            # from the whole-history assessment (equal to assess(), tested).
            self.totals.decisions["HOLD"] += 1
            if self.records_every_decision:
                write.compact.append(self._batch_hold(event, batch))
            self._finish_step(event, write)
            return write
        snapshot = history.snapshot(event.close_ms)
        portfolio = self.trader.portfolio()
        # The numbers first; the explained record only when it leads to an order or is shown.
        assessment = self.orchestrator.assess(snapshot, portfolio)
        self.totals.decisions[assessment.decision.value] += 1
        self.safety.observe_sentiment(assessment.sentiment, event.close_ms)
        if self.persist_holds or (
            self.trader.would_order(assessment.symbol, assessment.decision)
            # Paused or cooling down: the order would be refused, so it needs no explanation.
            and self.gate.refusal(assessment.symbol, assessment.decision, event.close_ms) is None
        ):
            record = await self.orchestrator.decide(snapshot, portfolio)
            self._screened(record)
            # Every explained decision is shown with its latency: at a watchable pace that is
            # every decision, at full speed those that order.
            if log.isEnabledFor(logging.INFO):  # a backtest logs at WARNING: no date formatted
                log.info(
                    "%s %s at %s: %s, confidence %.2f, score %+.3f, size %.2f USD, "
                    "decided in %.1f ms",
                    self.feed_kind.upper(),
                    symbol,
                    ms_to_iso(event.close_ms),
                    record.decision.value,
                    record.confidence,
                    record.score,
                    record.size_usd,
                    record.latency_ms,
                )
            if self._deferred is not None and self._allocated(record):
                # Sized with the other BUYs of this close by the allocation step, then ordered.
                self._deferred.append(record)
                self._finish_step(event, write)
                return write
            acted, compliance = await self.trader.act(
                record,
                event.close_ms,
                write,
                protects_entries=self.orchestrator.protects_entries,
                spends_cash=self.orchestrator.spends_cash,
                cash_sleeves=self.orchestrator.cash_sleeves,
            )
            if compliance is not None:
                record = replace(record, compliance=compliance)
            if acted or self.persist_holds or self.records_every_decision:
                write.decisions.insert(0, record)
        elif self.records_every_decision:
            write.compact.append(self._compact(assessment, history))
        self._finish_step(event, write)
        return write

    # -- the allocation step (sigmax.portfolio) ----------------------------------------------

    def _allocated(self, record: DecisionRecord) -> bool:
        """A BUY that orders goes through the allocation step; a strategy that spends its
        cash sleeve sizes itself."""
        return (
            record.decision is Action.BUY
            and not self.orchestrator.spends_cash
            and self.trader.would_order(record.symbol, record.decision)
        )

    async def _allocate(self, records: list[DecisionRecord], close_ms: int) -> None:
        """The BUYs of the close at ``close_ms`` sized together, then ordered in turn."""
        assert self.allocation is not None
        write = StepWrite()
        for record in self.allocation.allocate(records, self.trader.portfolio(), close_ms):
            compliance: Mapping[str, Any] | None
            if record.size_usd > 0:
                _, compliance = await self.trader.act(
                    record,
                    close_ms,
                    write,
                    protects_entries=self.orchestrator.protects_entries,
                    spends_cash=False,
                )
            else:
                reason = (record.allocation or {}).get("reason", "the allocation gave no weight")
                compliance = {"allowed": False, "reason": reason}
            write.decisions.append(replace(record, compliance=compliance))
        self._pending.merge(write)

    def _compact(self, assessment: Assessment, history: SymbolHistory) -> CompactDecision:
        """A decision that is not explained, as its numbers."""
        return CompactDecision(
            id=assessment.id,
            symbol=assessment.symbol,
            timeframe=history.timeframe.value,
            profile=self.orchestrator.settings.profile_name,
            timestamp_ms=assessment.timestamp_ms,
            data_until_ms=assessment.data_until_ms,
            decision=assessment.decision,
            confidence=assessment.confidence,
            score=assessment.score,
            size_usd=assessment.size_usd,
            price=assessment.price,
            stop_loss=assessment.stop_loss,
            take_profit=assessment.take_profit,
        )

    def _batch_hold(self, event: CandleClosed, batch: BatchAssessment) -> CompactDecision:
        """The HOLD of a candle short of a threshold, from the whole-history assessment: the
        numbers ``assess`` would give (equal bit for bit, tested)."""
        settings = self.orchestrator.settings
        timeframe = settings.agents.analyzer.timeframes.primary.value
        profile = settings.profile_name
        return CompactDecision(
            id=decision_id(
                event.symbol, timeframe, profile, event.close_ms, self.orchestrator.digest
            ),
            symbol=event.symbol,
            timeframe=timeframe,
            profile=profile,
            timestamp_ms=event.close_ms,
            data_until_ms=event.candle.timestamp,
            decision=Action.HOLD,
            confidence=float(batch.confidence[event.index]),
            score=float(batch.score[event.index]),
            size_usd=0.0,
            price=float(event.candle.close),
            stop_loss=None,
            take_profit=None,
        )

    def pass_candles(self, passed: CandlesPassed) -> None:
        """Leave the state that stepping each candle of ``passed`` would leave, in one go.

        The feed has shown that those candles fill nothing, decide nothing and fire no
        trigger, so stepping them would only have: noted each candle at the venue, moved the
        marks (the ledger opening each new UTC day at the marks of its first candle), counted
        a HOLD per candle, and shown the safety enforcer each group's equity (which moves its
        equity peak and its last day PnL). That is what is applied here; the equity point of
        each group is recorded by the feed, from the same figures.
        """
        trader = self.trader
        ledger = trader.ledger
        for at_ms, closes in passed.day_opens:
            ledger.mark_to_market(
                at_ms, {symbol: Decimal(repr(close)) for symbol, close in closes.items()}
            )
        for symbol, (open_ms, close) in passed.last.items():
            trader.pass_candle(symbol, open_ms, close)
        ledger.mark_to_market(passed.close_ms, trader.marks)
        if passed.peak is not None:
            at_ms, closes = passed.peak
            marks = {**trader.marks, **{s: Decimal(repr(c)) for s, c in closes.items()}}
            equity = ledger.equity(marks)
            self.safety.observe_account(
                equity, ledger.pnl_since_day_open(utc_day(at_ms), equity), at_ms
            )
        point = trader.equity_point(passed.close_ms)
        self.safety.observe_account(point.equity, point.daily_pnl, passed.close_ms)
        self._pending.safety_events += self.safety.take_events()
        self._count_passed(passed.candles, passed.close_ms)

    def _finish_step(self, event: CandleClosed, write: StepWrite) -> None:
        write.safety_events += self.safety.take_events()
        self.trader.cursor[event.symbol] = event.candle.timestamp
        self.totals.candles += 1
        self.totals.last_close_ms = event.close_ms

    def _history(self, event: CandleClosed) -> SymbolHistory:
        """The symbol's history, rebuilt when the event's series has candles it lacks.

        In a replay the history already holds the whole series, so nothing is rebuilt; a live
        feed's series grows by a candle per close, and indicators must cover it.
        """
        history = self.histories.get(event.symbol)
        if history is None or event.series.last_ms > history.series.last_ms:
            history = self.history_for(event.series)
            self.histories[event.symbol] = history
        return history

    def _screened(self, record: DecisionRecord) -> None:
        """A privacy finding in a record's text pauses trading (the text is already redacted)."""
        for report in record.agents:
            if report.name == "privacy" and report.status == "violation":
                for violation in report.details.get("violations", []):
                    self.safety.record_privacy_violation(
                        str(violation["kind"]), str(violation["where"]), record.timestamp_ms
                    )

    def record_api_error(self, source: str, kind: str) -> None:
        """A feed or venue request failed (wall time: errors happen now, whatever the candle)."""
        self.safety.record_api_error(wall_clock_ms(), source, kind)
        if self.on_api_error is not None:
            self.on_api_error()
        self._pending.safety_events += self.safety.take_events()

    # -- operator control ---------------------------------------------------------------------

    async def apply_venue_events(self, events: list[Any], now_ms: int) -> None:
        """Apply venue events learnt outside a candle (an exchange's fills while the run was
        down, drained before a reconciliation) to the pending step."""
        for event in events:
            await self.trader.apply(event, now_ms, self._pending, now_ms)
        self._pending.safety_events += self.safety.take_events()

    async def apply_controls(self, now_ms: int) -> None:
        """Apply the operator's queued pause / resume / order / panic commands at ``now_ms``,
        each through :meth:`Trader.command`."""
        assert self.controls is not None
        for command in self.controls.pending():
            status, result = await self.trader.command(
                command, now_ms, self._pending, self.wall_clock()
            )
            self._pending.controls.append((command.id, status, result))
        self._pending.safety_events += self.safety.take_events()
