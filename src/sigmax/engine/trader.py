"""The trader: the one owner of the account.

It holds the ledger, the venue (any :class:`~sigmax.execution.venue.Venue`: it never names a
concrete one), the protective orders waiting for their entry to fill, the per-position totals
(gross PnL and fees since the position opened) and the marks. Everything that changes the
account goes through it: the engine loop (decisions turned into orders, venue events applied
at each candle), and the operator's commands, whether a running engine applies them between
two candles or the CLI applies them to the stored account with no engine running
(:mod:`sigmax.engine.offline`). Commands go through :meth:`Trader.command`, the one command
function; every order's client id is derived from what caused it (a decision and a role, or
an operator's command), so a step redone after a crash names the same orders.

A venue is asynchronous: :meth:`Trader.send` awaits its acknowledgement, and fills arrive as
events at a later candle (:meth:`Trader.on_candle`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sigmax.agents.base import PortfolioView
from sigmax.domain.candles import Candle, ms_to_iso
from sigmax.domain.decisions import Action, DecisionRecord
from sigmax.domain.ledger import InsufficientCashError, Ledger, utc_day
from sigmax.domain.orders import (
    Fill,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    client_order_id,
)
from sigmax.engine.controls import ControlCommand, pause_message
from sigmax.engine.gate import AccountView, GateResult, OrderGate, OrderOrigin
from sigmax.engine.manual_checks import ManualRequest, check_cash, check_position
from sigmax.engine.resume import ResumePoint
from sigmax.engine.run_store import EquityPoint, FillRecord, OrderUpdate, StepWrite
from sigmax.errors import InputError
from sigmax.execution.fill_model import FeeSchedule
from sigmax.execution.instruments import OrderRules, size_to_qty
from sigmax.execution.venue import ExchangeVenue, SimulatedVenue, Venue, VenueEvent
from sigmax.execution.venue_errors import VenueError
from sigmax.logging_setup import log_trade
from sigmax.safety.enforcer import ExitReason
from sigmax.safety.errors import ResumeRefusedError
from sigmax.storage.models import ControlKind, ControlStatus

_ZERO = Decimal(0)

log = logging.getLogger("sigmax.engine")

AVG_PRICE_QUANTUM = Decimal("1e-12")

#: Why a closed trade ended, from the purpose of the order that closed it.
_EXIT_REASONS: Mapping[OrderPurpose, ExitReason] = {
    OrderPurpose.STOP_LOSS: "stop_loss",
    OrderPurpose.TAKE_PROFIT: "take_profit",
    OrderPurpose.PANIC: "panic",
    OrderPurpose.MANUAL: "manual",
    OrderPurpose.EXIT: "signal",
    OrderPurpose.ENTRY: "signal",
}


@dataclass(slots=True)
class OrderTotals:
    """What the trader sent and what came back, for a run's closing summary."""

    orders: int = 0
    rejected: int = 0
    fills: int = 0


@dataclass(slots=True)
class Trader:
    """The account and everything that acts on it (see the module docstring).

    ``max_slippage_pct`` and ``fees`` price a manual buy's worst cost before it is accepted.
    """

    ledger: Ledger
    venue: Venue
    rules: dict[str, OrderRules]
    gate: OrderGate
    fees: FeeSchedule
    max_slippage_pct: float
    #: The open time of the last processed candle per symbol.
    cursor: dict[str, int] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    #: The last processed candle's volume per symbol: what prices the market impact of a
    #: close at the mark when no candle comes (an offline panic).
    volumes: dict[str, float] = field(default_factory=dict)
    #: Entry order id -> (stop-loss, take-profit) to place once the entry fills.
    protection: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    #: Per open position: gross PnL realised and fees paid since it opened, so a closed
    #: trade's result (what the loss-streak trigger counts) includes both fees.
    trades: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    totals: OrderTotals = field(default_factory=OrderTotals)
    #: The pause (or cooldown) whose refusals were last logged: one line per pause, not
    #: one per candle while it lasts.
    _quiet_refusals: tuple[object, ...] | None = None
    #: The venue's simulation members when it has them (a backtest's passed candles, an
    #: offline panic's fills at the mark, the venue's part of the resume point).
    _simulated: SimulatedVenue | None = None
    #: The venue's exchange members when its account is on an exchange (a panic asks it
    #: what it confirmed).
    _exchange: ExchangeVenue | None = None

    def __post_init__(self) -> None:
        self._simulated = self.venue if isinstance(self.venue, SimulatedVenue) else None
        self._exchange = self.venue if isinstance(self.venue, ExchangeVenue) else None

    @property
    def safety(self) -> Any:
        return self.gate.safety

    # -- the resume point ---------------------------------------------------------------------

    def resume_point(self) -> ResumePoint:
        return ResumePoint(
            # The head only: the entries are stored apart, each once (RunStore.commit).
            ledger=self.ledger.snapshot_head(),
            venue=self._venue_snapshot(),
            cursor=dict(self.cursor),
            marks=dict(self.marks),
            volumes=dict(self.volumes),
            protection=dict(self.protection),
            trades=dict(self.trades),
        )

    def _venue_snapshot(self) -> dict[str, Any] | None:
        """The venue's part of the resume point (an exchange venue's stops and open orders)."""
        if self._simulated is not None:
            return self._simulated.snapshot()
        snapshot = getattr(self.venue, "snapshot", None)
        return None if snapshot is None else dict(snapshot())

    # -- views --------------------------------------------------------------------------------

    def account(self) -> AccountView:
        """The account the risk agent sizes against and the policies check: the ledger at the
        marks, with the buys resting at the venue counted as committed."""
        return AccountView.of(self.ledger, self.marks, self.venue.open_orders())

    def portfolio(self) -> PortfolioView:
        account = self.account()
        return PortfolioView(
            equity_usd=account.equity_usd,
            cash_usd=account.cash_usd,
            positions_usd=account.positions_usd,
        )

    def equity_point(self, now_ms: int) -> EquityPoint:
        ledger = self.ledger
        marks = self.marks
        # The equity is valued once: the daily PnL is it minus the day's opening equity.
        equity = ledger.equity(marks)
        return EquityPoint(
            taken_at_ms=now_ms,
            cash=ledger.cash,
            equity=equity,
            realized_pnl=ledger.realized_pnl,
            unrealized_pnl=ledger.unrealized_pnl(marks),
            fees=ledger.fees_total,
            daily_pnl=ledger.pnl_since_day_open(utc_day(now_ms), equity),
        )

    # -- candles ------------------------------------------------------------------------------

    async def on_candle(
        self, symbol: str, candle: Candle, close_ms: int, write: StepWrite, inert: bool
    ) -> None:
        """The venue's events up to ``candle``'s close applied, then the mark moved to its
        close. ``inert``: the caller knows no resting order can fill on it."""
        if inert and self._simulated is not None:
            self._simulated.pass_candle(symbol, candle.timestamp)
        else:
            for event in await self.venue.on_candle(symbol, candle):
                await self.apply(event, candle.timestamp, write, close_ms)
        self.marks[symbol] = Decimal(repr(candle.close))
        self.volumes[symbol] = candle.volume
        self.ledger.mark_to_market(close_ms, self.marks)

    def note_inert(self, symbol: str, candle: Candle) -> None:
        """A candle no resting order can fill on (a backtest's, from a simulated venue)."""
        self.pass_candle(symbol, candle.timestamp, candle.close)
        self.volumes[symbol] = candle.volume

    def pass_candle(self, symbol: str, open_ms: int, close: float) -> None:
        if self._simulated is None:
            raise RuntimeError(f"the {self.venue.name} venue cannot pass over candles")
        self._simulated.pass_candle(symbol, open_ms)
        self.marks[symbol] = Decimal(repr(close))
        self.cursor[symbol] = open_ms

    # -- decisions ----------------------------------------------------------------------------

    def held(self, symbol: str) -> Decimal:
        """The part of ``symbol``'s position an order can sell: its quantity down to the
        market's amount step. An exchange that charges a buy's fee in the base asset leaves a
        position off the step; what remains after selling the rest is dust, not a position
        (it neither blocks an entry nor keeps a trade open). A simulated venue fills on the
        step grid, so its positions are taken as they are."""
        qty = self.ledger.position(symbol).qty
        if qty > 0 and self._exchange is not None:
            return self.rules[symbol].quantize_qty(qty)
        return qty

    def would_order(self, symbol: str, decision: Action) -> bool:
        """Whether :meth:`act` would place an order for this decision."""
        if decision is Action.HOLD:
            return False
        held = self.held(symbol)
        if decision is Action.SELL:
            return held > 0
        return held <= 0 and not any(
            o.side is OrderSide.BUY for o in self.venue.open_orders(symbol)
        )

    def sleeve_cash(self, symbol: str, sleeves: int) -> Decimal:
        """The cash of ``symbol``'s sleeve when the starting capital is split into ``sleeves``
        equal sleeves, one per symbol: its share (rounded down to the quote precision) plus
        the cash that symbol's fills and fees moved since, never more than the account's cash.
        With one sleeve, all the cash."""
        ledger = self.ledger
        if sleeves < 1:
            raise InputError(f"cash_sleeves: must be at least 1 (got {sleeves})")
        if sleeves == 1:
            return ledger.cash
        share = (ledger.starting_cash / sleeves).quantize(ledger.quote_precision, ROUND_FLOOR)
        return max(_ZERO, min(ledger.cash, share + ledger.symbol_cash_flow(symbol)))

    async def act(
        self,
        record: DecisionRecord,
        now_ms: int,
        write: StepWrite,
        *,
        protects_entries: bool,
        spends_cash: bool,
        cash_sleeves: int = 1,
    ) -> tuple[bool, dict[str, Any] | None]:
        """Turn a decision into orders; True when it led to one (sent or refused), with the
        compliance part of its record (the gate's answer, or the reason it never reached the
        gate); None when nothing was ordered. ``spends_cash``: a BUY spends the symbol's sleeve
        of the cash (:meth:`sleeve_cash`, all of it with one sleeve)."""
        symbol = record.symbol
        held = self.held(symbol)
        resting = self.venue.open_orders(symbol)
        rules = self.rules[symbol]
        price = Decimal(repr(record.price))
        if record.decision is Action.BUY:
            if held > 0 or any(o.side is OrderSide.BUY for o in resting):
                return False, None  # one entry per symbol: already open or opening
            # A strategy that invests all its cash buys what the cash pays for at the fill
            # price; the quantity here is the estimate at the decision's close.
            spend = self.sleeve_cash(symbol, cash_sleeves) if spends_cash else None
            size = spend if spend is not None else Decimal(repr(record.size_usd))
            qty = size_to_qty(size, price, rules)
            unprotected = record.stop_loss is None or record.take_profit is None
            if qty <= 0:
                # All the cash is in other positions: nothing to buy with.
                reasons = [f"{size} USD buys no {symbol} at {price}"]
            else:
                reasons = list(rules.check(qty, price, OrderType.MARKET).reasons)
            if reasons or (protects_entries and unprotected):
                reason = "; ".join(reasons) or "no stop-loss or take-profit"
                self.totals.rejected += 1
                log.warning("BUY %s at %s not sent: %s", symbol, ms_to_iso(now_ms), reason)
                return True, {"allowed": False, "reason": reason}
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
                purpose=OrderPurpose.ENTRY,
            )
            verdict = await self.send(order, price, now_ms, write, "engine")
            if verdict.allowed and protects_entries:
                assert record.stop_loss is not None
                assert record.take_profit is not None
                self.protection[order.client_order_id] = (
                    Decimal(repr(record.stop_loss)),
                    Decimal(repr(record.take_profit)),
                )
            return True, compliance(verdict)
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
                purpose=OrderPurpose.EXIT,
            )
            verdict = self.gate.check(exit_order, price, self.account(), now_ms, "engine")
            if verdict.allowed:
                # The exit replaces the position's stop and target. Cancelling them changes
                # neither the account nor the safety state, so the answer still holds.
                await self._cancel(resting, now_ms, write, None)
            # Sends the exit, or records its refusal.
            verdict = await self.send(exit_order, price, now_ms, write, "engine", verdict)
            return True, compliance(verdict)
        return False, None

    # -- the operator's commands --------------------------------------------------------------

    async def command(
        self, command: ControlCommand, now_ms: int, write: StepWrite, wall_ms: int
    ) -> tuple[ControlStatus, str]:
        """Apply one operator command (pause, resume, manual order, panic) at ``now_ms``: the
        one path for a running engine and for the CLI with no engine. ``wall_ms``: the wall
        clock, in which an operator's pause counts."""
        safety = self.safety
        if command.kind is ControlKind.PAUSE:
            # An operator's pause lasts its duration in wall time, however fast the replay.
            hold = safety.pause(
                command.reason or "paused by the operator",
                now_ms,
                duration_ms=command.duration_ms,
                trigger="manual",
                wall_ms=wall_ms,
            )
            return ControlStatus.APPLIED, pause_message(now_ms, hold)
        if command.kind is ControlKind.RESUME:
            try:
                safety.resume(now_ms, force=command.force, wall_ms=wall_ms)
            except ResumeRefusedError as refused:
                return ControlStatus.REFUSED, str(refused)
            return ControlStatus.APPLIED, f"resumed at {ms_to_iso(now_ms)}"
        if command.kind is ControlKind.ORDER:
            return await self._manual_order(command, now_ms, write)
        closed = await self.panic(
            now_ms, command.reason or "panic by the operator", command_key(command.id), write
        )
        return ControlStatus.APPLIED, closed

    async def _manual_order(
        self, command: ControlCommand, now_ms: int, write: StepWrite
    ) -> tuple[ControlStatus, str]:
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
        resting = self.venue.open_orders()
        try:
            if side is OrderSide.BUY:
                check_cash(
                    self.max_slippage_pct,
                    self.ledger,
                    self.fees,
                    resting,
                    self.marks,
                    request,
                    mark,
                )
            else:
                cancelled = check_position(self.ledger, resting, request)
        except InputError as refused:
            return ControlStatus.REFUSED, str(refused)
        order = Order(
            client_order_id=client_order_id(command_key(command.id), "manual"),
            symbol=symbol,
            side=side,
            type=OrderType.MARKET,
            qty=qty,
            created_ms=now_ms,
            reference_price=mark,
            purpose=OrderPurpose.MANUAL,
        )
        # Selling the whole position replaces its stop-loss and take-profit.
        await self._cancel(
            cancelled, now_ms, write, f"replaced by manual order {order.client_order_id}"
        )
        verdict = await self.send(order, mark, now_ms, write, "manual")
        if not verdict.allowed:
            return ControlStatus.REFUSED, verdict.reason
        return ControlStatus.APPLIED, (
            f"{side.value} {qty} {symbol} sent at {ms_to_iso(now_ms)} as {order.client_order_id}; "
            "it fills at the next candle's open"
        )

    async def panic(self, now_ms: int, reason: str, key: str, write: StepWrite) -> str:
        """Stop trading: pause, cancel every resting order, close every position at market.

        The close-out orders fill at each symbol's next candle open. ``key`` names this panic
        so a redone step (after a crash) sends the same client order ids, never new ones.
        """
        self.safety.panic(now_ms, reason)
        if self._exchange is not None:
            try:
                return await self._panic_on_exchange(self._exchange, now_ms, key, write)
            except VenueError as failed:
                # The pause holds whatever the exchange does; the operator must know the
                # close-out is not confirmed.
                message = (
                    f"PANIC at {ms_to_iso(now_ms)}: trading paused, but {failed.exchange} "
                    f"failed before confirming the close-out ({failed.reason}); NOT FLAT as far "
                    "as SIGMAX knows: check and close what is left on the exchange"
                )
                log.critical("ALERT %s", message)
                return message
        cancelled = await self._cancel(self.venue.open_orders(), now_ms, write, "panic")
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
                purpose=OrderPurpose.PANIC,
            )
            price = order.reference_price or position.avg_price
            await self.send(order, price, now_ms, write, "panic")
            closing += 1
        message = (
            f"PANIC at {ms_to_iso(now_ms)}: trading paused, {cancelled} open orders cancelled, "
            f"{closing} positions closing at market"
        )
        log.critical("ALERT %s", message)
        return message

    async def _panic_on_exchange(
        self, exchange: ExchangeVenue, now_ms: int, key: str, write: StepWrite
    ) -> str:
        """The panic on an exchange account, reported as the exchange confirms it: what it
        did meanwhile is applied first; every open order of the traded markets is cancelled
        (SIGMAX's or not); every position is sold at market down to the amount step; the
        fills come back from the exchange and are booked; then the exchange is asked what is
        still open and held."""
        await self._catch_up(exchange, now_ms, write)
        cancelled, _ = await exchange.cancel_all()
        await self._catch_up(exchange, now_ms, write)
        self.protection.clear()
        sent: set[str] = set()
        for symbol, position in sorted(self.ledger.open_positions().items()):
            qty = self.held(symbol)
            if qty <= 0:
                continue  # dust below the amount step: nothing an order can sell
            mark = self.marks.get(symbol, position.avg_price)
            order = Order(
                client_order_id=client_order_id(f"panic|{key}|{symbol}", "panic"),
                symbol=symbol,
                side=OrderSide.SELL,
                type=OrderType.MARKET,
                qty=qty,
                created_ms=now_ms,
                reference_price=mark,
                decision_id=None,
                purpose=OrderPurpose.PANIC,
            )
            verdict = await self.send(order, mark, now_ms, write, "panic")
            if verdict.allowed:
                sent.add(order.client_order_id)
        await self._catch_up(exchange, now_ms, write)
        now = await exchange.holdings()
        sold = [
            f"{item.fill.qty} {item.fill.symbol} at {item.fill.price}"
            for item in write.fills
            if item.fill.client_order_id in sent
        ]
        held: list[str] = []
        flat = not now.open_orders
        for symbol in exchange.symbols:
            base = symbol.split("/")[0]
            amount = now.balances.get(base, _ZERO)
            if amount <= 0:
                continue
            if self.rules[symbol].quantize_qty(amount) > 0:
                flat = False
                held.append(f"{amount} {base}")
            else:
                held.append(f"{amount} {base} (dust below the amount step)")
        message = (
            f"PANIC at {ms_to_iso(now_ms)}: trading paused; {len(cancelled)} open orders "
            f"cancelled{' (' + ', '.join(cancelled) + ')' if cancelled else ''} and "
            f"{len(sold)} market sells filled ({'; '.join(sold) or 'none'}); {exchange.name} "
            f"now reports open orders: {', '.join(now.open_orders) or 'none'}; "
            f"held: {', '.join(held) or 'none'}"
        )
        if not flat:
            message += "; NOT FLAT: close the rest on the exchange"
        log.critical("ALERT %s", message)
        return message

    async def catch_up(self, now_ms: int, write: StepWrite) -> None:
        """Apply what an exchange venue reports of each market's orders now (fills, cancels):
        what commands sent outside a candle did. Nothing for a simulated venue, whose fills
        come with candles (:meth:`fill_at_marks`)."""
        if self._exchange is not None:
            await self._catch_up(self._exchange, now_ms, write)

    @property
    def on_exchange(self) -> bool:
        """Whether the account lives on an exchange (its venue is an exchange venue)."""
        return self._exchange is not None

    async def _catch_up(self, exchange: ExchangeVenue, now_ms: int, write: StepWrite) -> None:
        """Apply what the exchange reports of each market's orders now (fills, cancels)."""
        for symbol in exchange.symbols:
            for event in await exchange.catch_up(symbol):
                await self.apply(event, now_ms, write, now_ms)

    async def fill_at_marks(self, now_ms: int, write: StepWrite) -> list[str]:
        """Fill the resting market orders now, each at its symbol's last mark, through the
        venue's fill model (slippage priced on the last candle's volume, fees), and apply the
        fills like a candle's; the equity is marked at ``now_ms``. For a panic with no feed
        to bring the next candle. Returns the symbols whose orders stay resting for the next
        candle (no mark or volume known, or a venue that fills on its own)."""
        waiting: list[str] = []
        symbols = sorted({o.symbol for o in self.venue.open_orders() if o.type is OrderType.MARKET})
        for symbol in symbols:
            mark, volume = self.marks.get(symbol), self.volumes.get(symbol)
            if self._simulated is None or mark is None or volume is None or not volume > 0:
                waiting.append(symbol)
                continue
            for event in self._simulated.fill_market_at(
                symbol, mark, Decimal(repr(volume)), now_ms
            ):
                await self.apply(event, now_ms, write, now_ms)
        write.equity.append(self.equity_point(now_ms))
        write.safety_events += self.safety.take_events()
        return waiting

    # -- orders -------------------------------------------------------------------------------

    async def _cancel(
        self,
        orders: list[Order] | tuple[Order, ...],
        now_ms: int,
        write: StepWrite,
        why: str | None,
    ) -> int:
        cancelled = 0
        for order in orders:
            if await self.venue.cancel(order.client_order_id, now_ms) is not None:
                write.orders.append(OrderUpdate(order, OrderStatus.CANCELLED, reason=why))
                cancelled += 1
        return cancelled

    async def send(
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
            else self.gate.check(order, price, self.account(), now_ms, origin)
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
        event = await self.venue.submit(order, now_ms)
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
        state = self.safety.state
        holds = state.holds
        key: tuple[object, ...] = (
            tuple(sorted((hold.trigger, hold.since_ms) for hold in holds.values()))
            if holds
            else ("cooldown", order.symbol, state.cooldowns.get(order.symbol))
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

    # -- venue events -------------------------------------------------------------------------

    async def apply(
        self, event: VenueEvent, candle_open_ms: int, write: StepWrite, known_ms: int
    ) -> None:
        """Record a venue event; apply its fill to the ledger; protect a new position.

        ``known_ms`` is when the trader learns of the fill (the candle's close): a stop that
        triggered somewhere inside the candle starts its cooldown then, not at the open.
        """
        order = event.order
        fill = event.fill
        if fill is None and event.status is OrderStatus.REJECTED:
            # The venue could not settle it (a buy the account cannot pay at the fill).
            self._reject_at_fill(order, event.reason or "rejected by the venue", write)
            return
        if fill is not None:
            try:
                entry = self.ledger.apply_fill(fill)
            except InsufficientCashError as refused:
                # The venue filled what the ledger cannot pay: never half-booked.
                self._reject_at_fill(order, f"rejected at fill: {refused}", write)
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
        if order.purpose is OrderPurpose.ENTRY:
            await self._protect(order, fill.qty, fill.timestamp_ms, write)

    def _reject_at_fill(self, order: Order, reason: str, write: StepWrite) -> None:
        write.orders.append(OrderUpdate(order, OrderStatus.REJECTED, Decimal(0), reason))
        self.protection.pop(order.client_order_id, None)
        self.totals.rejected += 1
        log.warning("order %s %s", order.client_order_id, reason)

    def _count_trade(
        self, order: Order, fill: Fill, realized: Decimal, left: Decimal, known_ms: int
    ) -> None:
        """Add a fill to its position's trade; report the trade when the position is flat."""
        gross, fees = self.trades.get(order.symbol, (Decimal(0), Decimal(0)))
        gross, fees = gross + realized, fees + fill.fee
        if left > 0 and self.held(order.symbol) > 0:
            self.trades[order.symbol] = (gross, fees)
            return
        self.trades.pop(order.symbol, None)
        self.safety.record_closed_trade(
            order.symbol, gross - fees, known_ms, _EXIT_REASONS[order.purpose]
        )

    async def _protect(self, entry: Order, qty: Decimal, now_ms: int, write: StepWrite) -> None:
        """A stop-loss and a take-profit, one cancelling the other, for a filled entry."""
        levels = self.protection.pop(entry.client_order_id, None)
        if entry.decision_id is None or levels is None:
            return
        stop, target = levels
        rules = self.rules[entry.symbol]
        for role, kind, purpose, price in (
            ("stop", OrderType.STOP_LOSS, OrderPurpose.STOP_LOSS, stop),
            ("target", OrderType.TAKE_PROFIT, OrderPurpose.TAKE_PROFIT, target),
        ):
            level = rules.quantize_price(price, OrderSide.SELL)
            order = Order(
                client_order_id=client_order_id(entry.decision_id, role),
                symbol=entry.symbol,
                side=OrderSide.SELL,
                type=kind,
                qty=qty,
                created_ms=now_ms,
                price=level,
                reference_price=level,
                decision_id=entry.decision_id,
                oco_group=f"oco-{entry.decision_id[:16]}",
                purpose=purpose,
            )
            await self.send(order, order.price or price, now_ms, write, "protective")


def command_key(command_id: int) -> str:
    """What names an operator's command in the client ids of the orders it causes."""
    return f"cmd{command_id}"


def compliance(verdict: GateResult) -> dict[str, Any]:
    """The compliance part of a decision record: the gate's answer."""
    return {"allowed": verdict.allowed, "reason": verdict.reason, "verdict": verdict.policy}
