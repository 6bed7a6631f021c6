"""``sigmax trade``: a manual paper market order, queued on the newest run of the home.

The order passes the checks an automatic order passes, plus the account's (see
:func:`queue_manual_order`). It is a control command like any operator's: with no run process
running it is applied here, under the engine lease, by the run's own
:class:`~sigmax.engine.trader.Trader` restored from its resume point
(:func:`~sigmax.engine.offline.restore_trader`), through
:meth:`~sigmax.engine.trader.Trader.command`, the function a running engine applies it with;
the order's client id derives from the command either way. Accepted, it rests at the run's
venue, stamped at the close of the symbol's last processed candle, committed with the resume
point in ONE transaction, so the next ``sigmax run`` of the same command fills it at the next
candle's open exactly like an automatic order.

While a run process runs, :func:`sigmax.engine.safety_service.submit_manual_order` leaves the
command in the queue for the running engine instead.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any, Final, NoReturn

from sigmax.config import Settings, load_settings
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.instruments import Symbol
from sigmax.domain.orders import (
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
    client_order_id,
)
from sigmax.engine.account import (
    EXACT,
    AccountHome,
    RunRecord,
    decimal_text,
    iso_or_none,
    newest_run,
)
from sigmax.engine.controls import ControlQueue, request, settle
from sigmax.engine.decision_log import wall_clock_ms
from sigmax.engine.gate import AccountView, GateResult, OrderGate
from sigmax.engine.lease import CLI_HOLDER, EngineLease
from sigmax.engine.manual_checks import ManualRequest, check_cash, check_position, taker_fee
from sigmax.engine.offline import restore_trader
from sigmax.engine.run_store import OrderUpdate, RunStore, StepWrite, order_row
from sigmax.engine.trader import command_key
from sigmax.errors import InputError
from sigmax.execution.instruments import OrderRules, bundled_market_specs
from sigmax.safety.store import SafetyStore
from sigmax.storage.models import ControlKind, ControlStatus, RunStatus
from sigmax.storage.repositories import OrderRepository

log = logging.getLogger("sigmax.engine")

#: Prefix of the client order ids of manual orders (``client_order_id(..., "manual")``).
MANUAL_ORDER_PREFIX: Final = "sgx-manual-"
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
    """Check a manual market order and queue it on the newest run, as a control command the
    run's trader applies (:meth:`~sigmax.engine.trader.Trader.command`, the one command
    function of a running engine and of the CLI), under the engine lease.

    The checks are those an automatic order passes, plus the account's: the symbol is allowed
    by the run's profile and traded by the run; the quantity passes the market's rules at the
    last mark (minimum quantity, step size, minimum notional); a buy's cost at the last mark
    raised by ``safety.max_slippage_pct`` (the next open and slippage may cost more, and a fill
    the cash cannot pay would stop the run), plus the fee and the cost of the buys already
    resting, fits in the cash; a sell does not exceed the position (spot: no shorting).

    A sell of less than the position may only use the part not already promised to resting
    sell orders (a stop-loss and take-profit cover the whole entry); a sell of the whole
    position replaces them: they are cancelled in the same transaction.

    Accepted, the order rests at the run's venue, stamped at the close of the symbol's last
    processed candle, and is committed with the run's resume point in ONE transaction: resuming
    the run fills it at the open of the next candle. Its client id derives from its command
    (``client_order_id("cmd<id>", "manual")``), as a running engine's operator orders do.
    """
    wanted = parse_symbol(symbol)
    order_side = parse_side(side)
    order_qty = parse_qty(qty)
    with home.db.session() as session:
        run = newest_run(session)
    if run is None:
        raise InputError(
            f"no paper run in SIGMAX_HOME ({home.settings.home}) to queue the order on; "
            "start one with 'sigmax run'"
        )
    lease = EngineLease.acquire(home.db, CLI_HOLDER)
    try:
        arguments = {"symbol": wanted, "side": order_side.value, "qty": str(order_qty)}
        command_id = request(home.db, ControlKind.ORDER, arguments)
        try:
            return _apply(home, run, command_id, ManualRequest(wanted, order_side, order_qty))
        except InputError as refused:
            settle(home.db, command_id, ControlStatus.REFUSED, str(refused))
            raise
    finally:
        lease.release()


def _apply(
    home: AccountHome, run: RunRecord, command_id: int, request: ManualRequest
) -> QueuedOrder:
    """The command checked, then applied by the run's trader and committed."""
    settings = _run_settings(home.settings, run.info.profile)
    gate = OrderGate.from_settings(settings, SafetyStore(home.db).load())
    order_id = client_order_id(command_key(command_id), "manual")
    if request.symbol not in run.marks:
        # A market without a price yet is checked against the asset rules first, so a symbol
        # SIGMAX may not trade is refused by the rule that forbids it.
        rejection = _gate(gate, run, request, order_id)
        if rejection is not None:
            _refuse(home, request, *rejection)
    now_ms, mark = _check_market(run, settings, request)
    # The account's checks (the trader makes them again) before the gate's, as for the engine.
    venue = run.venue()
    if request.side is OrderSide.BUY:
        check_cash(
            settings.safety.max_slippage_pct,
            run.ledger(),
            venue.fees,
            venue.open_orders(),
            run.marks,
            request,
            mark,
        )
    else:
        check_position(run.ledger(), venue.open_orders(), request)
    # The very order the trader sends, checked first so a refusal is recorded with its reasons.
    rejection = _gate(gate, run, request, order_id, _order(order_id, request, now_ms, mark), mark)
    if rejection is not None:
        _refuse(home, request, *rejection)
    trader = restore_trader(home, run)
    write = StepWrite()
    (command,) = [c for c in ControlQueue(home.db).pending() if c.id == command_id]
    status, result = asyncio.run(trader.command(command, now_ms, write, wall_clock_ms()))
    if status is not ControlStatus.APPLIED:
        raise InputError(f"{request.describe()} refused: {result}")
    write.controls.append((command_id, status, result))
    write.safety_events += trader.safety.take_events()
    store = RunStore(home.db, run.info.id, applied_by="cli")
    store.commit(
        write, trader.resume_point().to_json(), now_ms, trader.safety.state, ledger=trader.ledger
    )
    (order,) = [u.order for u in write.orders if u.order.client_order_id == order_id]
    with localcontext(EXACT):
        notional = order.qty * mark
    return QueuedOrder(
        run_id=run.info.id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        mark=mark,
        estimated_notional=notional,
        estimated_fee=taker_fee(run.fees(), notional),
        queued_at_ms=now_ms,
        cancelled=tuple(
            u.order.client_order_id for u in write.orders if u.status is OrderStatus.CANCELLED
        ),
        run_status=run.info.status,
    )


def _order(order_id: str, request: ManualRequest, now_ms: int, mark: Decimal) -> Order:
    """The order :meth:`Trader.command` sends for the request (the same id and fields)."""
    return Order(
        client_order_id=order_id,
        symbol=request.symbol,
        side=request.side,
        type=OrderType.MARKET,
        qty=request.qty,
        created_ms=now_ms,
        reference_price=mark,
        decision_id=None,
        purpose=OrderPurpose.MANUAL,
    )


def _refuse(
    home: AccountHome, request: ManualRequest, order: Order, result: GateResult
) -> NoReturn:
    """Record the refused order as rejected with its reasons (its own transaction), raise."""
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
    order_id: str,
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
        order = _order(order_id, request, now_ms, price)
    account = AccountView.of(run.ledger(), run.marks)
    # An operator's pause counts in wall time: one that has ended no longer refuses the order.
    gate.safety.tick(order.created_ms, wall_clock_ms())
    result = gate.check(order, price, account, order.created_ms, "manual")
    return None if result.allowed else (order, result)


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
