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
from collections.abc import Awaitable, Callable, Mapping
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
from sigmax.domain.ledger import InsufficientCashError, Ledger, utc_day
from sigmax.domain.orders import (
    Fill,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    client_order_id,
)
from sigmax.engine.controls import ControlCommand, ControlQueue, pause_message
from sigmax.engine.decision_log import CompactDecision, wall_clock_ms
from sigmax.engine.events import publish_step
from sigmax.engine.feeds import CandleClosed, CandlesPassed
from sigmax.engine.gate import AccountView, GateResult, OrderGate, OrderOrigin
from sigmax.engine.manual_checks import ManualRequest, check_cash, check_position
from sigmax.engine.run_store import (
    EquityPoint,
    FillRecord,
    OrderUpdate,
    StepWrite,
)
from sigmax.errors import InputError
from sigmax.execution.instruments import OrderRules, size_to_qty
from sigmax.execution.paper import PaperVenue, VenueEvent
from sigmax.logging_setup import log_trade
from sigmax.safety.enforcer import ExitReason
from sigmax.safety.errors import ResumeRefusedError
from sigmax.safety.state import SafetyState
from sigmax.storage.models import ControlKind, ControlStatus

log = logging.getLogger("sigmax.engine")

AVG_PRICE_QUANTUM = Decimal("1e-12")

#: Steps that change nothing are committed at least this often (in steps) at full speed.
BATCH_STEPS = 500


class DecisionSource(Protocol):
    """What decides: the agents' :class:`Orchestrator`, or a reference strategy.

    ``protects_entries``: entries get a stop-loss and a take-profit (a strategy without them
    exits on its own signal). ``spends_cash``: a BUY invests all the cash.
    """

    settings: Settings
    protects_entries: bool
    spends_cash: bool
    #: The digest of the configuration decisions depend on (part of every decision id).
    digest: str

    def assess(self, snapshot: MarketSnapshot, portfolio: PortfolioView) -> Assessment: ...

    async def decide(
        self, snapshot: MarketSnapshot, portfolio: PortfolioView
    ) -> DecisionRecord: ...


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
        venue: PaperVenue,
        ledger: Ledger,
        rules: Mapping[str, OrderRules],
        store: StepSink | None,
        persist_holds: bool,
        cursor: Mapping[str, int] | None = None,
        marks: Mapping[str, Decimal] | None = None,
        protection: Mapping[str, tuple[str, str]] | None = None,
        history_for: Callable[[CandleSeries], SymbolHistory] | None = None,
        gate: OrderGate,
        trades: Mapping[str, tuple[str, str]] | None = None,
        volumes: Mapping[str, float] | None = None,
    ) -> None:
        """``history_for`` builds a symbol's history from the candles an event brings when they
        are newer than the history knows (live candles); by default with the analyzer's
        timeframes and indicators from the orchestrator's settings."""
        self.orchestrator = orchestrator
        self.histories = dict(histories)
        self.history_for: Callable[[CandleSeries], SymbolHistory] = history_for or (
            lambda series: build_history(series, orchestrator.settings)
        )
        self.venue = venue
        self.ledger = ledger
        self.rules = dict(rules)
        self.store = store
        #: Explain (run every agent's text for) every decision, not only those that order:
        #: a watchable pace, where the operator reads each decision as it comes.
        self.persist_holds = persist_holds
        #: Store every decision: a run's database keeps its whole decision history, whatever
        #: the pace (those not explained as their numbers, :class:`CompactDecision`); a
        #: backtest keeps in memory only the decisions behind its orders.
        self.records_every_decision = store is not None and store.keeps_resume_point
        self.cursor: dict[str, int] = dict(cursor or {})
        self.marks: dict[str, Decimal] = dict(marks or {})
        #: The last processed candle's volume per symbol: what prices the market impact of a
        #: close at the mark when no candle comes (an offline panic).
        self.volumes: dict[str, float] = dict(volumes or {})
        #: Entry order id -> (stop-loss, take-profit) to place once the entry fills.
        self.protection: dict[str, tuple[str, str]] = dict(protection or {})
        #: The safety enforcer and the compliance policies every order passes.
        self.gate = gate
        self.safety = gate.safety
        #: Per open position: gross PnL realised and fees paid since it opened, so a closed
        #: trade's result (what the loss-streak trigger counts) includes both fees.
        self.trades: dict[str, tuple[Decimal, Decimal]] = {
            symbol: (Decimal(realized), Decimal(fees))
            for symbol, (realized, fees) in (trades or {}).items()
        }
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
        #: The pause (or cooldown) whose refusals were last logged: one line per pause, not
        #: one per candle while it lasts.
        self._quiet_refusals: tuple[object, ...] | None = None
        self._pending = StepWrite()
        self._pending_steps = 0

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
            point = self._equity_point(last)
            self._pending.equity.append(point)
            self.safety.observe_account(point.equity, point.daily_pnl, last)
            self._pending.safety_events += self.safety.take_events()
            if self.controls is not None and self.controls.due(paced):
                self.apply_controls(last)
            if paced or self._pending.changes_state or self._pending_steps >= BATCH_STEPS:
                self.commit(last)
        if self._pending_steps:
            self.commit(self.totals.last_close_ms or 0)
        self.totals.elapsed_s = time.perf_counter() - started
        return self.totals

    @property
    def pending_changes(self) -> bool:
        return self._pending.changes_state

    def clock_ms(self) -> int:
        """The engine's clock: the close of the newest candle processed (wall time before the
        first one)."""
        if self.totals.last_close_ms is not None:
            return self.totals.last_close_ms
        if self.cursor:
            timeframe = self.orchestrator.settings.agents.analyzer.timeframes.primary
            return max(self.cursor.values()) + timeframe.ms
        return wall_clock_ms()

    def commit(self, now_ms: int) -> None:
        """Write what is pending with the resume point, in one transaction."""
        if self.store is not None:
            state = self.state() if self.store.keeps_resume_point else {}
            self.store.commit(self._pending, state, now_ms, self.safety.state)
        if self.bus is not None:
            publish_step(self.bus, self.run_id, self._pending)
        self._pending = StepWrite()
        self._pending_steps = 0

    def state(self) -> dict[str, Any]:
        """The resume point: ledger, resting orders, last processed candle per symbol, marks."""
        return {
            "ledger": self.ledger.snapshot(),
            "venue": self.venue.snapshot(),
            "cursor": dict(self.cursor),
            "marks": {symbol: str(mark) for symbol, mark in self.marks.items()},
            "volumes": {symbol: repr(volume) for symbol, volume in self.volumes.items()},
            "protection": {key: list(value) for key, value in self.protection.items()},
            "trades": {
                symbol: [str(realized), str(fees)]
                for symbol, (realized, fees) in self.trades.items()
            },
        }

    async def _step_group(self, group: list[CandleClosed]) -> None:
        """Step the candles of one group; runs of inert ones are passed together.

        Before each candle that is stepped, the inert candles ahead of it in the group have
        been applied, so it sees the very state (marks, ledger, safety clock) it would have
        seen after stepping them one by one.
        """
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
        ledger = self.ledger
        opened = ledger.current_day
        rest = events
        if opened is None or utc_day(close_ms) > opened:
            self._note_inert(events[0])
            ledger.mark_to_market(close_ms, self.marks)
            rest = events[1:]
        if rest:
            for event in rest:
                self._note_inert(event)
            ledger.mark_to_market(close_ms, self.marks)
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

    def _note_inert(self, event: CandleClosed) -> None:
        candle = event.candle
        self.venue.pass_candle(event.symbol, candle.timestamp)
        self.marks[event.symbol] = Decimal(repr(candle.close))
        self.volumes[event.symbol] = candle.volume
        self.cursor[event.symbol] = candle.timestamp

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
        symbol, candle = event.symbol, event.candle
        if event.inert:
            self.venue.pass_candle(symbol, candle.timestamp)
        else:
            for venue_event in self.venue.on_candle(symbol, candle):
                self._apply(venue_event, candle.timestamp, write, event.close_ms)
        self.marks[symbol] = Decimal(repr(candle.close))
        self.volumes[symbol] = candle.volume
        self.ledger.mark_to_market(event.close_ms, self.marks)
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
        portfolio = self._portfolio()
        # The numbers first; the explained record only when it leads to an order or is shown.
        assessment = self.orchestrator.assess(snapshot, portfolio)
        self.totals.decisions[assessment.decision.value] += 1
        self.safety.observe_sentiment(assessment.sentiment, event.close_ms)
        if self.persist_holds or (
            self._would_order(assessment)
            # Paused or cooling down: the order would be refused, so it needs no explanation.
            and self.gate.refusal(assessment.symbol, assessment.decision, event.close_ms) is None
        ):
            record = await self.orchestrator.decide(snapshot, portfolio)
            self._screened(record)
            # Every explained decision is shown with its latency: at a watchable pace that is
            # every decision, at full speed those that order.
            log.info(
                "%s %s at %s: %s, confidence %.2f, score %+.3f, size %.2f USD, decided in %.1f ms",
                self.feed_kind.upper(),
                symbol,
                ms_to_iso(event.close_ms),
                record.decision.value,
                record.confidence,
                record.score,
                record.size_usd,
                record.latency_ms,
            )
            acted, record = self._act(record, event.close_ms, write)
            if acted or self.persist_holds or self.records_every_decision:
                write.decisions.insert(0, record)
        elif self.records_every_decision:
            write.compact.append(self._compact(assessment, history))
        self._finish_step(event, write)
        return write

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
        for at_ms, closes in passed.day_opens:
            self.ledger.mark_to_market(
                at_ms, {symbol: Decimal(repr(close)) for symbol, close in closes.items()}
            )
        for symbol, (open_ms, close) in passed.last.items():
            self.venue.pass_candle(symbol, open_ms)
            self.marks[symbol] = Decimal(repr(close))
            self.cursor[symbol] = open_ms
        self.ledger.mark_to_market(passed.close_ms, self.marks)
        if passed.peak is not None:
            at_ms, closes = passed.peak
            marks = {**self.marks, **{s: Decimal(repr(c)) for s, c in closes.items()}}
            self.safety.observe_account(
                self.ledger.equity(marks), self.ledger.daily_pnl(utc_day(at_ms), marks), at_ms
            )
        point = self._equity_point(passed.close_ms)
        self.safety.observe_account(point.equity, point.daily_pnl, passed.close_ms)
        self._pending.safety_events += self.safety.take_events()
        self._count_passed(passed.candles, passed.close_ms)

    def _finish_step(self, event: CandleClosed, write: StepWrite) -> None:
        write.safety_events += self.safety.take_events()
        self.cursor[event.symbol] = event.candle.timestamp
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

    def _portfolio(self) -> PortfolioView:
        account = self._account()
        return PortfolioView(
            equity_usd=account.equity_usd,
            cash_usd=account.cash_usd,
            positions_usd=account.positions_usd,
        )

    def _apply(
        self, event: VenueEvent, candle_open_ms: int, write: StepWrite, known_ms: int
    ) -> None:
        """Record a venue event; apply its fill to the ledger; protect a new position.

        ``known_ms`` is when the engine learns of the fill (the candle's close): a stop that
        triggered somewhere inside the candle starts its cooldown then, not at the open.
        """
        order = event.order
        fill = event.fill
        if fill is not None:
            try:
                entry = self.ledger.apply_fill(fill)
            except InsufficientCashError as refused:
                # A gap up at the open can make a buy cost more than the cash it was sized
                # on: the account cannot pay, so the order is rejected, never half-booked.
                reason = f"rejected at fill: {refused}"
                write.orders.append(OrderUpdate(order, OrderStatus.REJECTED, Decimal(0), reason))
                self.protection.pop(order.client_order_id, None)
                self.totals.rejected += 1
                log.warning("order %s %s", order.client_order_id, reason)
                return
        filled = fill.qty if fill is not None else Decimal(0)
        write.orders.append(OrderUpdate(order, event.status, filled, event.reason))
        if fill is None:
            return
        self.totals.fills += 1
        write.fills.append(FillRecord(fill, entry.realized_pnl, candle_open_ms, order.decision_id))
        position = self.ledger.position(order.symbol)
        write.positions[order.symbol] = (
            position.qty,
            # The ledger keeps the exact cost basis; the table shows the average to 1e-12.
            position.avg_price.quantize(AVG_PRICE_QUANTUM),
            position.realized_pnl,
        )
        log_trade(
            log,
            # "action: buy|sell" is what the runbook's recipes grep for.
            "%s %s %s @ %s fee %s realized %s (%s, order %s), action: %s",
            fill.side.value.upper(),
            fill.qty,
            fill.symbol,
            fill.price,
            fill.fee,
            entry.realized_pnl,
            order.type.value,
            order.client_order_id,
            fill.side.value,
        )
        expected = order.price if order.type is not OrderType.MARKET else order.reference_price
        if expected is not None and expected > 0:
            self.safety.record_fill(order.symbol, expected, fill.price, known_ms)
        self._count_trade(order, fill, entry.realized_pnl, position.qty, known_ms)
        if order.type is OrderType.MARKET and order.side is OrderSide.BUY:
            self._protect(order, fill.qty, fill.timestamp_ms, write)

    def _count_trade(
        self, order: Order, fill: Fill, realized: Decimal, left: Decimal, known_ms: int
    ) -> None:
        """Add a fill to its position's trade; report the trade when the position is flat."""
        gross, fees = self.trades.get(order.symbol, (Decimal(0), Decimal(0)))
        gross, fees = gross + realized, fees + fill.fee
        if left > 0:
            self.trades[order.symbol] = (gross, fees)
            return
        self.trades.pop(order.symbol, None)
        self.safety.record_closed_trade(order.symbol, gross - fees, known_ms, _exit_reason(order))

    def _account(self) -> AccountView:
        return AccountView.of(self.ledger, self.marks)

    def _screened(self, record: DecisionRecord) -> None:
        """A privacy finding in a record's text pauses trading (the text is already redacted)."""
        for report in record.agents:
            if report.name == "privacy" and report.status == "violation":
                for violation in report.details.get("violations", []):
                    self.safety.record_privacy_violation(
                        str(violation["kind"]), str(violation["where"]), record.timestamp_ms
                    )

    def _protect(self, entry: Order, qty: Decimal, now_ms: int, write: StepWrite) -> None:
        """A stop-loss and a take-profit, one cancelling the other, for a filled entry."""
        levels = self.protection.pop(entry.client_order_id, None)
        if entry.decision_id is None or levels is None:
            return
        stop, target = levels
        rules = self.rules[entry.symbol]
        for role, kind, price in (
            ("stop", OrderType.STOP_LOSS, Decimal(stop)),
            ("target", OrderType.TAKE_PROFIT, Decimal(target)),
        ):
            order = Order(
                client_order_id=client_order_id(entry.decision_id, role),
                symbol=entry.symbol,
                side=OrderSide.SELL,
                type=kind,
                qty=qty,
                created_ms=now_ms,
                price=rules.quantize_price(price, OrderSide.SELL),
                reference_price=rules.quantize_price(price, OrderSide.SELL),
                decision_id=entry.decision_id,
                oco_group=f"oco-{entry.decision_id[:16]}",
            )
            self._send(order, order.price or price, now_ms, write, "protective")

    def _send(
        self,
        order: Order,
        price: Decimal,
        now_ms: int,
        write: StepWrite,
        origin: OrderOrigin,
        checked: GateResult | None = None,
    ) -> GateResult:
        """Pass ``order`` through the gate, then to the venue; record what happened.

        ``checked``: the gate's answer for this very order, asked by the caller at ``now_ms``
        with nothing changed since that it reads (the account and the safety state), so it is
        not evaluated twice.
        """
        verdict = (
            checked
            if checked is not None
            else self.gate.check(order, price, self._account(), now_ms, origin)
        )
        if verdict.policy_failed:
            self.safety.pause(verdict.reason, now_ms, trigger="policy")
        if not verdict.allowed:
            self._log_not_sent(order, verdict, origin)
            if verdict.policy is not None or verdict.policy_failed:
                # Refused by compliance: recorded as a rejected order with its reasons.
                write.orders.append(
                    OrderUpdate(
                        order, OrderStatus.REJECTED, Decimal(0), verdict.reason, verdict.policy
                    )
                )
                self.totals.orders += 1
                self.totals.rejected += 1
            return verdict
        event = self.venue.submit(order, now_ms)
        write.orders.append(
            OrderUpdate(order, event.status, Decimal(0), event.reason, verdict.policy)
        )
        self.totals.orders += 1
        if event.status is OrderStatus.REJECTED:
            self.totals.rejected += 1
            log.warning("order %s rejected: %s", order.client_order_id, event.reason)
            return GateResult(False, event.reason or "rejected by the venue", verdict.policy)
        return verdict

    def _log_not_sent(self, order: Order, verdict: GateResult, origin: OrderOrigin) -> None:
        """Log a refused order; the engine's own orders refused by one pause (or one symbol's
        cooldown) only once, since a watched run decides again at every candle it lasts."""
        side = order.side.value.upper()
        safety_refusal = verdict.policy is None and not verdict.policy_failed
        if origin != "engine" or not safety_refusal:
            log.warning("%s %s not sent: %s", side, order.symbol, verdict.reason)
            return
        holds = self.safety.state.holds
        key: tuple[object, ...] = (
            tuple(sorted((hold.trigger, hold.since_ms) for hold in holds.values()))
            if holds
            else ("cooldown", order.symbol, self.safety.state.cooldowns.get(order.symbol))
        )
        if key == self._quiet_refusals:
            log.debug("%s %s not sent: %s", side, order.symbol, verdict.reason)
            return
        self._quiet_refusals = key
        what = "pause" if holds else "cooldown"
        log.warning(
            "%s %s not sent during the %s: %s; the engine's further orders refused by this "
            "%s are not logged",
            side,
            order.symbol,
            what,
            verdict.reason,
            what,
        )

    def _would_order(self, assessment: Assessment) -> bool:
        """Whether :meth:`_act` would place an order for this decision."""
        if assessment.decision is Action.HOLD:
            return False
        held = self.ledger.position(assessment.symbol).qty
        if assessment.decision is Action.SELL:
            return held > 0
        return held <= 0 and not any(
            o.side is OrderSide.BUY for o in self.venue.open_orders(assessment.symbol)
        )

    def _act(
        self, record: DecisionRecord, now_ms: int, write: StepWrite
    ) -> tuple[bool, DecisionRecord]:
        """Turn a decision into orders; True when it led to one (sent or refused), with the
        record completed by the gate's answer."""
        symbol = record.symbol
        held = self.ledger.position(symbol).qty
        resting = self.venue.open_orders(symbol)
        rules = self.rules[symbol]
        price = Decimal(repr(record.price))
        if record.decision is Action.BUY:
            if held > 0 or any(o.side is OrderSide.BUY for o in resting):
                return False, record  # one entry per symbol: already open or opening
            source = self.orchestrator
            # A strategy that invests all its cash buys what the cash pays for at the fill
            # price; the quantity here is the estimate at the decision's close.
            spend = self.ledger.cash if source.spends_cash else None
            size = spend if spend is not None else Decimal(repr(record.size_usd))
            qty = size_to_qty(size, price, rules)
            unprotected = record.stop_loss is None or record.take_profit is None
            if qty <= 0:
                # All the cash is in other positions: nothing to buy with.
                reasons = [f"{size} USD buys no {symbol} at {price}"]
            else:
                reasons = list(rules.check(qty, price, OrderType.MARKET).reasons)
            if reasons or (source.protects_entries and unprotected):
                reason = "; ".join(reasons) or "no stop-loss or take-profit"
                self.totals.rejected += 1
                log.warning("BUY %s at %s not sent: %s", symbol, ms_to_iso(now_ms), reason)
                return True, replace(record, compliance={"allowed": False, "reason": reason})
            order = Order(
                client_order_id=client_order_id(record.id, "entry"),
                symbol=symbol,
                side=OrderSide.BUY,
                type=OrderType.MARKET,
                qty=qty,
                created_ms=now_ms,
                reference_price=price,
                decision_id=record.id,
                spend=spend,
            )
            verdict = self._send(order, price, now_ms, write, "engine")
            if verdict.allowed and source.protects_entries:
                self.protection[order.client_order_id] = (
                    repr(record.stop_loss),
                    repr(record.take_profit),
                )
            return True, replace(record, compliance=_compliance(verdict))
        if record.decision is Action.SELL and held > 0:
            exit_order = Order(
                client_order_id=client_order_id(record.id, "exit"),
                symbol=symbol,
                side=OrderSide.SELL,
                type=OrderType.MARKET,
                qty=held,
                created_ms=now_ms,
                reference_price=price,
                decision_id=record.id,
            )
            verdict = self.gate.check(exit_order, price, self._account(), now_ms, "engine")
            if verdict.allowed:
                # The exit replaces the position's stop and target. Cancelling them changes
                # neither the account nor the safety state, so the answer still holds.
                for order in resting:
                    if self.venue.cancel(order.client_order_id, now_ms) is not None:
                        write.orders.append(OrderUpdate(order, OrderStatus.CANCELLED))
                verdict = self._send(exit_order, price, now_ms, write, "engine", verdict)
            else:
                # Records the refusal.
                self._send(exit_order, price, now_ms, write, "engine", verdict)
            return True, replace(record, compliance=_compliance(verdict))
        return False, record

    def record_api_error(self, source: str, kind: str) -> None:
        """A feed or venue request failed (wall time: errors happen now, whatever the candle)."""
        self.safety.record_api_error(wall_clock_ms(), source, kind)
        if self.on_api_error is not None:
            self.on_api_error()
        self._pending.safety_events += self.safety.take_events()

    # -- operator control ---------------------------------------------------------------------

    def apply_controls(self, now_ms: int) -> None:
        """Apply the operator's queued pause / resume / panic commands at ``now_ms``."""
        assert self.controls is not None
        for command in self.controls.pending():
            status, result = self._control(command, now_ms)
            self._pending.controls.append((command.id, status, result))
        self._pending.safety_events += self.safety.take_events()

    def _control(self, command: ControlCommand, now_ms: int) -> tuple[ControlStatus, str]:
        if command.kind is ControlKind.PAUSE:
            # An operator's pause lasts its duration in wall time, however fast the replay.
            hold = self.safety.pause(
                command.reason or "paused by the operator",
                now_ms,
                duration_ms=command.duration_ms,
                trigger="manual",
                wall_ms=self.wall_clock(),
            )
            return ControlStatus.APPLIED, pause_message(now_ms, hold)
        if command.kind is ControlKind.RESUME:
            try:
                self.safety.resume(now_ms, force=command.force, wall_ms=self.wall_clock())
            except ResumeRefusedError as refused:
                return ControlStatus.REFUSED, str(refused)
            return ControlStatus.APPLIED, f"resumed at {ms_to_iso(now_ms)}"
        if command.kind is ControlKind.ORDER:
            return self._manual_order(command, now_ms)
        closed = self.panic(now_ms, command.reason or "panic by the operator", f"cmd{command.id}")
        return ControlStatus.APPLIED, closed

    def _manual_order(self, command: ControlCommand, now_ms: int) -> tuple[ControlStatus, str]:
        """An operator's market order, through the same checks as the engine's own: the
        market's rules, the account, the safety enforcer and the policies."""
        symbol, side_text, qty_text = command.symbol, command.side, command.qty
        if symbol is None or side_text not in ("buy", "sell") or qty_text is None:
            return ControlStatus.REFUSED, "an order needs a symbol, a side (buy/sell) and a qty"
        side = OrderSide(side_text)
        qty = Decimal(qty_text)
        rules = self.rules.get(symbol)
        mark = self.marks.get(symbol)
        if rules is None:
            traded = ", ".join(sorted(self.rules))
            return ControlStatus.REFUSED, f"{symbol} is not traded by this run (it trades {traded})"
        if mark is None:
            return (
                ControlStatus.REFUSED,
                f"no candle of {symbol} processed yet: no price to check at",
            )
        check = rules.check(qty, mark, OrderType.MARKET)
        if not check.ok:
            return ControlStatus.REFUSED, "; ".join(check.reasons)
        request = ManualRequest(symbol, side, qty)
        cancelled: tuple[Order, ...] = ()
        try:
            if side is OrderSide.BUY:
                check_cash(
                    self.orchestrator.settings.safety.max_slippage_pct,
                    self.ledger,
                    self.venue,
                    self.marks,
                    request,
                    mark,
                )
            else:
                cancelled = check_position(self.ledger, self.venue, request)
        except InputError as refused:
            return ControlStatus.REFUSED, str(refused)
        order = Order(
            client_order_id=f"sgx-manual-cmd{command.id}",
            symbol=symbol,
            side=side,
            type=OrderType.MARKET,
            qty=qty,
            created_ms=now_ms,
            reference_price=mark,
        )
        # Selling the whole position replaces its stop-loss and take-profit.
        for resting in cancelled:
            if self.venue.cancel(resting.client_order_id, now_ms) is not None:
                self._pending.orders.append(
                    OrderUpdate(resting, OrderStatus.CANCELLED, reason="replaced by a manual sell")
                )
        verdict = self._send(order, mark, now_ms, self._pending, "manual")
        if not verdict.allowed:
            return ControlStatus.REFUSED, verdict.reason
        return ControlStatus.APPLIED, (
            f"{side.value} {qty} {symbol} sent at {ms_to_iso(now_ms)} as {order.client_order_id}; "
            "it fills at the next candle's open"
        )

    def panic(self, now_ms: int, reason: str, key: str) -> str:
        """Stop trading: pause, cancel every resting order, close every position at market.

        The close-out orders fill at each symbol's next candle open. ``key`` names this panic
        so a redone step (after a crash) sends the same client order ids, never new ones.
        """
        self.safety.panic(now_ms, reason)
        write = self._pending
        cancelled = 0
        for order in self.venue.open_orders():
            if self.venue.cancel(order.client_order_id, now_ms) is not None:
                write.orders.append(OrderUpdate(order, OrderStatus.CANCELLED, reason="panic"))
                cancelled += 1
        self.protection.clear()
        closing = 0
        for symbol, position in sorted(self.ledger.open_positions().items()):
            order = Order(
                client_order_id=client_order_id(f"panic|{key}|{symbol}", "panic"),
                symbol=symbol,
                side=OrderSide.SELL,
                type=OrderType.MARKET,
                qty=position.qty,
                created_ms=now_ms,
                reference_price=self.marks.get(symbol, position.avg_price),
                decision_id=None,
            )
            self._send(order, order.reference_price or position.avg_price, now_ms, write, "panic")
            closing += 1
        message = (
            f"PANIC at {ms_to_iso(now_ms)}: trading paused, {cancelled} open orders cancelled, "
            f"{closing} positions closing at market"
        )
        log.critical("ALERT %s", message)
        return message

    def fill_at_marks(self, now_ms: int) -> list[str]:
        """Fill the resting market orders now, each at its symbol's last mark, through the
        venue's fill model (slippage priced on the last candle's volume, fees), and apply the
        fills like a candle's; the equity is marked at ``now_ms``. For a panic with no feed
        to bring the next candle. Returns the symbols whose orders stay resting for the next
        candle (no mark or volume known)."""
        waiting: list[str] = []
        symbols = sorted({o.symbol for o in self.venue.open_orders() if o.type is OrderType.MARKET})
        for symbol in symbols:
            mark, volume = self.marks.get(symbol), self.volumes.get(symbol)
            if mark is None or volume is None or not volume > 0:
                waiting.append(symbol)
                continue
            for event in self.venue.fill_market_at(symbol, mark, Decimal(repr(volume)), now_ms):
                self._apply(event, now_ms, self._pending, now_ms)
        point = self._equity_point(now_ms)
        self._pending.equity.append(point)
        self._pending.safety_events += self.safety.take_events()
        return waiting

    def _equity_point(self, now_ms: int) -> EquityPoint:
        ledger = self.ledger
        return EquityPoint(
            taken_at_ms=now_ms,
            cash=ledger.cash,
            equity=ledger.equity(self.marks),
            realized_pnl=ledger.realized_pnl,
            unrealized_pnl=ledger.unrealized_pnl(self.marks),
            fees=ledger.fees_total,
            daily_pnl=ledger.daily_pnl(utc_day(now_ms), self.marks),
        )


def _exit_reason(order: Order) -> ExitReason:
    if order.type is OrderType.STOP_LOSS:
        return "stop_loss"
    if order.type is OrderType.TAKE_PROFIT:
        return "take_profit"
    if order.client_order_id.startswith("sgx-panic-"):
        return "panic"
    if order.decision_id is None:
        return "manual"
    return "signal"


def _compliance(verdict: GateResult) -> dict[str, Any]:
    return {"allowed": verdict.allowed, "reason": verdict.reason, "verdict": verdict.policy}
