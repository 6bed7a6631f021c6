"""``sigmax trade``: a manual paper market order, queued on the newest run of the home.

The order passes the checks an automatic order passes, plus the account's (see
:func:`queue_manual_order`). Accepted, it is recorded and added to the run's resume point in ONE
transaction, stamped at the close of the symbol's last processed candle, so the next
``sigmax run`` of the same command fills it at the next candle's open exactly like an
automatic order: the venue, the ledger and the stored rows treat it the same way.

This is the path when no run process is running. While one runs it keeps its own copy of the
resume point, so :func:`sigmax.engine.safety_service.submit_manual_order` sends the order
through the control queue instead, and the running engine checks and places it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any, Final

from sqlalchemy.orm import Session

from sigmax.config import Settings, load_settings
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.domain.orders import Order, OrderPurpose, OrderSide, OrderStatus, OrderType
from sigmax.engine.account import (
    EXACT,
    AccountHome,
    RunRecord,
    decimal_text,
    iso_or_none,
    newest_run,
)
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.gate import AccountView, GateResult, OrderGate
from sigmax.engine.manual_checks import ManualRequest, check_cash, check_position, taker_fee
from sigmax.engine.run_store import STATE_KEY, OrderUpdate, order_row
from sigmax.errors import InputError
from sigmax.execution.instruments import OrderRules, bundled_market_specs
from sigmax.execution.paper import PaperVenue
from sigmax.safety.store import SafetyStore
from sigmax.storage.models import RunStatus
from sigmax.storage.repositories import EngineStateRepository, OrderRepository

log = logging.getLogger("sigmax.engine")

#: Prefix of the client order ids of manual orders; the rest is random, so ids never repeat.
MANUAL_ORDER_PREFIX: Final = "sgx-manual-"
_MANUAL_ID_HEX_DIGITS: Final = 20
_ZERO: Final = Decimal(0)
#: The price a manual order is checked at before SIGMAX knows the market's price.
_UNKNOWN_PRICE: Final = Decimal("1e-8")
_HUNDRED: Final = Decimal(100)


@dataclass(frozen=True, slots=True)
class QueuedOrder:
    """A manual market order added to the run, to fill at the open of the symbol's next candle.

    ``mark`` is the last close it was checked at; ``estimated_notional`` and ``estimated_fee``
    are at that mark (the fill is at the next open, with slippage). ``cancelled`` lists the
    resting sell orders (stop-loss, take-profit) a sell of the whole position replaced.
    ``run_status`` ``running`` means a run process may still be running: it would overwrite
    the order (or the process died without saying so, and resuming is safe).
    """

    run_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    qty: Decimal
    mark: Decimal
    estimated_notional: Decimal
    estimated_fee: Decimal
    queued_at_ms: int
    cancelled: tuple[str, ...]
    run_status: RunStatus

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "type": OrderType.MARKET.value,
            "qty": decimal_text(self.qty),
            "mark": decimal_text(self.mark),
            "estimated_notional": decimal_text(self.estimated_notional),
            "estimated_fee": decimal_text(self.estimated_fee),
            "queued_at": ms_to_iso(self.queued_at_ms),
            # The symbol's next candle opens when its last processed one closed.
            "fills_at_candle_open": ms_to_iso(self.queued_at_ms),
            "cancelled": list(self.cancelled),
            "run_status": self.run_status.value,
        }


def parse_side(text: str) -> OrderSide:
    """``buy`` or ``sell`` (any case)."""
    try:
        return OrderSide(text.strip().lower())
    except ValueError:
        raise InputError(f"SIDE: must be buy or sell (got {text})") from None


def parse_qty(text: str) -> Decimal:
    """A positive, finite decimal quantity of the base currency, such as ``0.0015``."""
    try:
        qty = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"QTY: must be a decimal number such as 0.001 (got {text})") from None
    if not qty.is_finite():
        raise InputError(f"QTY: must be a finite decimal number (got {text})")
    if qty <= 0:
        raise InputError(f"QTY: must be > 0 (got {text.strip()})")
    return qty


def parse_symbol(text: str, field: str = "SYMBOL") -> str:
    """A market such as ``BTC/USDT`` (or ``btc-usdt``) in its canonical spelling."""
    try:
        return str(Symbol.parse(text))
    except ValueError as error:
        raise InputError(f"{field}: {error}") from None


def queue_manual_order(home: AccountHome, symbol: str, side: str, qty: str) -> QueuedOrder:
    """Check a manual paper market order and queue it on the newest run.

    The checks are those an automatic order passes, plus the account's: the symbol is allowed
    by the run's profile and traded by the run; the quantity passes the market's rules at the
    last mark (minimum quantity, step size, minimum notional); a buy's cost at the last mark
    raised by ``safety.max_slippage_pct`` (the next open and slippage may cost more, and a fill
    the cash cannot pay would stop the run), plus the fee and the cost of the buys already
    resting, fits in the cash; a sell does not exceed the position (spot: no shorting).

    A sell of less than the position may only use the part not already promised to resting
    sell orders (a stop-loss and take-profit cover the whole entry); a sell of the whole
    position replaces them: they are cancelled in the same transaction.

    Accepted, the order is recorded (status ``open``, no decision) and added to the resting
    orders of the run's resume point in ONE transaction, stamped at the close of the symbol's
    last processed candle: resuming the run fills it at the open of the next candle. A run
    process that is running meanwhile keeps its own copy of the resume point and would
    overwrite it: stop the run, queue, then resume it.
    """
    wanted = parse_symbol(symbol)
    order_side = parse_side(side)
    order_qty = parse_qty(qty)
    with home.db.transaction() as session:
        run = newest_run(session, for_update=True)
        if run is None:
            raise InputError(
                f"no paper run in SIGMAX_HOME ({home.settings.home}) to queue the order on; "
                "start one with 'sigmax run'"
            )
        settings = _run_settings(home.settings, run.info.profile)
        request = ManualRequest(wanted, order_side, order_qty)
        gate = OrderGate.from_settings(settings, SafetyStore(home.db).load(session))
        # A market without a price yet is checked against the asset rules first, so a symbol
        # SIGMAX may not trade is refused by the rule that forbids it.
        rejection = _gate(gate, run, request) if request.symbol not in run.marks else None
        if rejection is None:
            plan = _plan(run, settings, request)
            rejection = _gate(gate, run, request, plan.order, plan.mark)
            if rejection is None:
                return _queue(session, run, plan)
    # Refused: the order is recorded as rejected with its reasons, in its own transaction.
    order, result = rejection
    with home.db.transaction() as session:
        OrderRepository(session).add(
            order_row(
                OrderUpdate(
                    order, OrderStatus.REJECTED, reason=result.reason, policy=result.policy
                ),
                order.created_ms,
            )
        )
    log.warning("manual order %s refused: %s", request.describe(), result.reason)
    raise OrderRefusedError(f"{request.describe()} refused: {result.reason}", result)


class OrderRefusedError(InputError):
    """The safety enforcer or a compliance policy refused the order; ``result`` says why."""

    def __init__(self, message: str, result: GateResult) -> None:
        super().__init__(message)
        self.result = result


def _gate(
    gate: OrderGate,
    run: RunRecord,
    request: ManualRequest,
    order: Order | None = None,
    mark: Decimal | None = None,
) -> tuple[Order, GateResult] | None:
    """The safety enforcer and the policies on a manual order; the refusal, or None.

    Without ``order`` (a market SIGMAX has no price for) only the asset rules can fire: the
    notional is taken as the smallest unit, so no size rule fires on a price that is not known.
    With the planned order, everything is checked at the last mark.
    """
    now_ms = run.as_of_ms() or 0
    price = mark if mark is not None else run.marks.get(request.symbol, _UNKNOWN_PRICE)
    if order is None:
        order = Order(
            client_order_id=f"{MANUAL_ORDER_PREFIX}{uuid.uuid4().hex[:_MANUAL_ID_HEX_DIGITS]}",
            symbol=request.symbol,
            side=request.side,
            type=OrderType.MARKET,
            qty=request.qty,
            created_ms=now_ms,
            reference_price=price,
            decision_id=None,
            purpose=OrderPurpose.MANUAL,
        )
    account = AccountView.of(run.ledger(), run.marks)
    # An operator's pause counts in wall time: one that has ended no longer refuses the order.
    gate.safety.tick(order.created_ms, wall_clock_ms())
    result = gate.check(order, price, account, order.created_ms, "manual")
    return None if result.allowed else (order, result)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A checked manual order: the venue with it accepted, and what to record."""

    order: Order
    venue: PaperVenue
    cancelled: tuple[Order, ...]
    now_ms: int
    mark: Decimal
    estimated_fee: Decimal


def _run_settings(settings: Settings, profile: str) -> Settings:
    """The configuration with the run's profile (SIGMAX_PROFILE may name another one)."""
    if settings.profile_name == profile:
        return settings
    return load_settings(home=settings.home, profile=profile)


def _check_market(
    run: RunRecord, settings: Settings, request: ManualRequest
) -> tuple[int, Decimal]:
    """The checks that do not depend on the account; returns the symbol's clock and mark."""
    symbol = request.symbol
    allowed = settings.profile.allowed_symbols
    if symbol not in allowed:
        raise InputError(
            f"{symbol} is not allowed by the {run.info.profile} profile "
            f"(allowed: {', '.join(allowed)})"
        )
    if symbol not in run.symbols:
        raise InputError(
            f"{symbol} is not traded by run {run.info.id} (it trades {', '.join(run.symbols)})"
        )
    now_ms = run.last_close_ms(symbol)
    mark = run.marks.get(symbol)
    if now_ms is None or mark is None:
        raise InputError(
            f"run {run.info.id} has not processed a candle of {symbol} yet: there is no price "
            "to check the order at; let the run process one first"
        )
    spec = bundled_market_specs().get(symbol)
    if spec is None:
        raise InputError(f"no trading rules are known for {symbol}")
    verdict = OrderRules(spec).check(request.qty, mark, OrderType.MARKET)
    if not verdict.ok:
        raise InputError(
            f"QTY: {request.describe()} at the last mark {decimal_text(mark)} breaks the "
            f"market's rules: {'; '.join(verdict.reasons)}"
        )
    if run.info.status is RunStatus.COMPLETED:
        raise InputError(
            f"run {run.info.id} is completed: it has no candle left to fill an order on "
            f"(its last candle closed at {iso_or_none(run.as_of_ms())})"
        )
    return now_ms, mark


def _plan(run: RunRecord, settings: Settings, request: ManualRequest) -> _Plan:
    """Check ``request`` against the market and the account; accept it on the run's venue."""
    now_ms, mark = _check_market(run, settings, request)
    venue = run.venue()
    fees = run.fees()
    with localcontext(EXACT):
        notional = request.qty * mark
    estimated_fee = taker_fee(fees, notional)
    ledger = run.ledger()
    cancelled: tuple[Order, ...] = ()
    if request.side is OrderSide.BUY:
        check_cash(
            settings.safety.max_slippage_pct,
            ledger,
            venue.fees,
            venue.open_orders(),
            run.marks,
            request,
            mark,
        )
    else:
        cancelled = check_position(ledger, venue.open_orders(), request)
    order = Order(
        client_order_id=f"{MANUAL_ORDER_PREFIX}{uuid.uuid4().hex[:_MANUAL_ID_HEX_DIGITS]}",
        symbol=request.symbol,
        side=request.side,
        type=OrderType.MARKET,
        qty=request.qty,
        created_ms=now_ms,
        reference_price=mark,
        decision_id=None,
        purpose=OrderPurpose.MANUAL,
    )
    for resting in cancelled:
        venue.withdraw(resting.client_order_id, now_ms)
    event = venue.accept(order, now_ms)
    if event.status is not OrderStatus.OPEN:
        raise InputError(f"{request.describe()}: the paper venue refused it: {event.reason}")
    return _Plan(order, venue, cancelled, now_ms, mark, estimated_fee)


def _queue(session: Session, run: RunRecord, plan: _Plan) -> QueuedOrder:
    """Record the order and the new resume point; the caller's transaction commits both."""
    order = plan.order
    orders = OrderRepository(session)
    for cancelled in plan.cancelled:
        row = orders.get_by_client_id(cancelled.client_order_id)
        if row is not None:
            row.status = OrderStatus.CANCELLED
            row.reject_reason = f"replaced by manual order {order.client_order_id}"
            row.updated_at_ms = plan.now_ms
    orders.add(order_row(OrderUpdate(order, OrderStatus.OPEN), plan.now_ms))
    state = dict(run.state or {})
    state["venue"] = plan.venue.snapshot()
    EngineStateRepository(session).set(
        STATE_KEY.format(run_id=run.info.id), state, updated_at_ms=plan.now_ms
    )
    with localcontext(EXACT):
        notional = order.qty * plan.mark
    return QueuedOrder(
        run_id=run.info.id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        mark=plan.mark,
        estimated_notional=notional,
        estimated_fee=plan.estimated_fee,
        queued_at_ms=plan.now_ms,
        cancelled=tuple(o.client_order_id for o in plan.cancelled),
        run_status=run.info.status,
    )
