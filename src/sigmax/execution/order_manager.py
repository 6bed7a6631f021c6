"""Orders on an exchange: placed once, resolved when an answer is lost, fills counted once.

* **Idempotent placement.** Every order carries SIGMAX's ``client_order_id`` (derived from the
  decision id; Binance's ``newClientOrderId``). Before an id is placed for the first time in
  this process the exchange is asked whether it already knows it (a step redone after a crash
  sends the same id; Binance refuses a duplicate id only while the first order is open, so
  asking is what keeps a filled order from being placed twice).
* **Lost answers.** When a placement times out, the connection drops or the exchange answers
  5xx, the order may or may not exist. It is looked up by its client id *before* any retry:
  found, it is adopted; not found, the placement is retried (up to the retry policy's
  attempts, with its backoff). Rate limiting (429/418) is answered before execution, so it is
  retried after ``Retry-After`` without a lookup.
* **Rejections** (``InvalidOrder``, ``InsufficientFunds``, any refusal) are never retried: the
  order is ``rejected`` with the exchange's code and message, e.g. ``-2010 Account has
  insufficient balance for requested action.``
* **Fills by trade id.** Fills come from the exchange's trades of the order (Binance
  ``myTrades``; the ``fills`` of a placement answer), each applied once: a trade id already
  seen is skipped, so a partial fill reported twice is counted once. A fill's ``sequence`` is
  the exchange's trade id.
* **Confirmed cancels.** A cancel is done when the exchange says so (its answer, or the order
  found cancelled when asked again after a lost answer); an order that filled first is not
  reported cancelled.

Fees (:func:`fill_from_trade`): SIGMAX books fees in the quote currency. A fee charged in the
quote is taken as it is. A fee charged in the base asset (Binance's default for buys) is
converted exactly at the trade's price: the fill's quantity is what the account really
received (``qty - fee`` for a buy, ``qty + fee`` given up for a sell) and its fee is
``fee x price`` in quote, so cash, position and fees match the exchange's balances to the unit.
A fee charged in any other asset (BNB) cannot be converted without a price SIGMAX does not
hold: the order manager refuses it with a ``pause`` error that names the asset (turn off
"use BNB to pay fees").
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt

from sigmax.data.feeds.ccxt_feed import _retry_after_of
from sigmax.domain.orders import Fill, Liquidity, Order, OrderSide, OrderStatus
from sigmax.execution.ccxt_session import CcxtSession
from sigmax.execution.exchange_errors import (
    VenueUnavailableError,
    classify,
    exchange_code,
    is_clock_error,
    is_lost_answer,
    venue_error,
)
from sigmax.execution.venue import VenueEvent
from sigmax.execution.venue_errors import ErrorAction, VenueError

log = logging.getLogger(__name__)

_ZERO = Decimal(0)


def exact(raw: Any, unified: Any = None) -> Decimal:
    """An exact decimal from the exchange's raw string, else from ccxt's float (its shortest
    repr, which is the decimal the exchange sent for up to 15 significant digits)."""
    for value in (raw, unified):
        if value is None:
            continue
        try:
            number = Decimal(value if isinstance(value, str) else repr(float(value)))
        except (InvalidOperation, TypeError, ValueError):
            continue
        if number.is_finite():
            return number
    raise ValueError(f"not a number: {raw!r} / {unified!r}")


def fill_from_trade(
    order: Order,
    trade: Mapping[str, Any],
    base: str,
    quote: str,
    exchange: str,
    at_ms: int | None = None,
) -> Fill:
    """A ccxt unified trade of ``order`` as a SIGMAX fill (fee in quote; see the module).

    ``at_ms``: when the trade happened if it does not say (Binance's ``fills`` of a placement
    answer carry no time: the answer's ``transactTime`` is theirs)."""
    info = trade.get("info") or {}
    price = exact(info.get("price"), trade.get("price"))
    qty = exact(info.get("qty"), trade.get("amount"))
    fee_info = trade.get("fee") or {}
    fee_asset = info.get("commissionAsset") or fee_info.get("currency") or quote
    fee_amount = exact(info.get("commission"), fee_info.get("cost") or 0)
    if fee_asset == quote or fee_amount == 0:
        fee = fee_amount
    elif fee_asset == base:
        fee = fee_amount * price
        qty = qty - fee_amount if order.side is OrderSide.BUY else qty + fee_amount
    else:
        raise VenueError(
            exchange,
            "fees",
            ErrorAction.PAUSE,
            f"trade {trade.get('id')} of {order.client_order_id} paid its fee in {fee_asset}; "
            f"SIGMAX books fees in {quote} or {base} only (turn off paying fees with "
            f"{fee_asset} on the account)",
        )
    maker = info.get("isMaker")
    liquidity = (
        Liquidity.MAKER
        if maker is True or trade.get("takerOrMaker") == "maker"
        else Liquidity.TAKER
    )
    return Fill(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        qty=qty,
        price=price,
        fee=fee,
        timestamp_ms=int(trade.get("timestamp") or info.get("time") or at_ms or 0),
        liquidity=liquidity,
        sequence=int(trade["id"]),
    )


@dataclass(slots=True)
class Tracked:
    """What the order manager knows of one order it placed."""

    order: Order
    exchange_order_id: str | None = None
    status: OrderStatus = OrderStatus.NEW
    #: The exchange's executed quantity (gross, before any fee conversion).
    executed: Decimal = _ZERO
    trade_ids: set[str] = field(default_factory=set)
    reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class Placement:
    """The arguments of one exchange order, already at the market's precision."""

    type: str  # ccxt's "market" or "limit"
    amount: float
    price: float | None
    params: dict[str, Any]


class OrderManager:
    """Places, follows and cancels the orders of one account through one :class:`CcxtSession`."""

    def __init__(self, session: CcxtSession, *, rng: random.Random | None = None) -> None:
        self._session = session
        self._ex = session.exchange
        self._rng = rng if rng is not None else random.Random()
        self._orders: dict[str, Tracked] = {}
        self._by_exchange_id: dict[str, str] = {}
        self._pending: dict[str, list[VenueEvent]] = {}

    # -- reading -------------------------------------------------------------------------------

    def get(self, client_order_id: str) -> Tracked | None:
        return self._orders.get(client_order_id)

    def tracked(self, symbol: str | None = None) -> list[Tracked]:
        return [t for t in self._orders.values() if symbol is None or t.order.symbol == symbol]

    def client_id_of(self, exchange_order_id: str) -> str | None:
        return self._by_exchange_id.get(exchange_order_id)

    def remember(self, exchange_order_id: str, client_order_id: str) -> None:
        """Note which client id an exchange order has (one placed by an earlier process)."""
        self._by_exchange_id.setdefault(exchange_order_id, client_order_id)

    def take_pending(self, symbol: str) -> list[VenueEvent]:
        return self._pending.pop(symbol, [])

    def defer(self, events: list[VenueEvent]) -> None:
        """Queue events for the next :meth:`sync` of their symbol."""
        for event in events:
            self._pending.setdefault(event.order.symbol, []).append(event)

    # -- placing -------------------------------------------------------------------------------

    async def place(self, order: Order, placement: Placement) -> VenueEvent:
        """Place ``order`` once (see the module docstring); its acknowledgement event.

        Fills that come back with the answer are queued for :meth:`sync`'s caller
        (:meth:`take_pending`)."""
        known = self._orders.get(order.client_order_id)
        if known is not None:
            return VenueEvent(order, known.status, reason=known.reason)
        existing = await self._lookup(order)
        if existing is not None:
            log.warning(
                "%s order %s already exists on the exchange: adopted, not placed again",
                self._session.exchange_id,
                order.client_order_id,
            )
            return self._adopt(order, existing)
        policy = self._session.retry
        attempt = 0
        resynced = False
        while True:
            attempt += 1
            try:
                answer = await self._ex.create_order(
                    order.symbol,
                    placement.type,
                    order.side.value,
                    placement.amount,
                    placement.price,
                    {**placement.params, "clientOrderId": order.client_order_id},
                )
            except ccxt.BaseError as error:
                action = classify(error)
                if action is ErrorAction.FAIL:
                    reason = venue_error(
                        self._session.exchange_id, "create_order", error, self._session.mask
                    ).reason
                    return self._reject(order, reason)
                self._session.report_error("create_order", error)
                if (
                    is_clock_error(error)
                    and not resynced
                    and await self._session.clock_refused(exchange_code(error))
                ):
                    # Refused before execution: sent once more on the clock measured again.
                    resynced = True
                    continue
                if action is ErrorAction.PAUSE:
                    raise venue_error(
                        self._session.exchange_id, "create_order", error, self._session.mask
                    ) from None
                if is_lost_answer(error):
                    found = await self._lookup(order)
                    if found is not None:
                        log.warning(
                            "%s order %s: the placement's answer was lost (%s); the order was "
                            "found on the exchange and adopted",
                            self._session.exchange_id,
                            order.client_order_id,
                            type(error).__name__,
                        )
                        return self._adopt(order, found)
                if attempt >= policy.max_attempts:
                    raise VenueUnavailableError(
                        self._session.exchange_id,
                        "create_order",
                        attempt,
                        self._session.mask.summary(error),
                    ) from None
                delay = policy.backoff_s(attempt, self._rng)
                requested = _retry_after_of(error)
                if requested is not None:
                    if requested > policy.max_delay_s:
                        raise VenueUnavailableError(
                            self._session.exchange_id,
                            "create_order",
                            attempt,
                            f"the exchange asked to wait {requested:g} s",
                        ) from None
                    delay = max(delay, requested)
                await asyncio.sleep(delay)
                continue
            return self._adopt(order, answer)

    async def resume(self, order: Order, seen_trade_ids: set[str]) -> bool:
        """Follow again an order placed before a restart: looked up by its client id, its
        trades in ``seen_trade_ids`` (already booked) never reported again. False when the
        exchange does not know it."""
        found = await self._lookup(order)
        if found is None:
            return False
        tracked = Tracked(
            order,
            exchange_order_id=str(found["id"]),
            status=OrderStatus.OPEN,
            trade_ids=set(seen_trade_ids),
        )
        self._orders[order.client_order_id] = tracked
        self._by_exchange_id[str(found["id"])] = order.client_order_id
        # What happened while SIGMAX was down is reported by the next sync.
        return True

    async def _lookup(self, order: Order) -> Any | None:
        """The exchange's order of this client id, or None when it has none."""

        async def fetch() -> Any:
            try:
                return await self._ex.fetch_order(
                    None, order.symbol, {"clientOrderId": order.client_order_id}
                )
            except ccxt.OrderNotFound:
                return None

        return await self._session.call("fetch_order", fetch)

    def _reject(self, order: Order, reason: str) -> VenueEvent:
        self._orders[order.client_order_id] = Tracked(
            order, status=OrderStatus.REJECTED, reason=reason
        )
        log.warning("order %s rejected by the exchange: %s", order.client_order_id, reason)
        return VenueEvent(order, OrderStatus.REJECTED, reason=reason)

    def _adopt(self, order: Order, answer: Mapping[str, Any]) -> VenueEvent:
        tracked = Tracked(order, exchange_order_id=str(answer["id"]), status=OrderStatus.OPEN)
        self._orders[order.client_order_id] = tracked
        self._by_exchange_id[str(answer["id"])] = order.client_order_id
        events: list[VenueEvent] = []
        at_ms = answer.get("timestamp") or answer.get("lastTradeTimestamp")
        for trade in answer.get("trades") or []:
            events += self._apply_trade(tracked, trade, at_ms)
        filled = exact((answer.get("info") or {}).get("executedQty"), answer.get("filled") or 0)
        if filled > tracked.executed:
            # Trades not in this answer (an order looked up, not placed): the next sync
            # fetches them before the order's end is reported.
            tracked.status = OrderStatus.PARTIALLY_FILLED
        else:
            events += self._apply_order(tracked, answer)
            if tracked.status is OrderStatus.FILLED:
                events += self._final_event(tracked)
        self._pending.setdefault(order.symbol, []).extend(events)
        if tracked.status is OrderStatus.REJECTED:
            return VenueEvent(order, OrderStatus.REJECTED, reason=tracked.reason)
        return VenueEvent(order, OrderStatus.OPEN)

    # -- following -----------------------------------------------------------------------------

    async def sync(self, symbol: str) -> list[VenueEvent]:
        """Ask the exchange about every open order of ``symbol``: new fills (each trade once)
        and the end of orders (filled, cancelled, expired), in that order."""
        events = self.take_pending(symbol)
        for tracked in [t for t in self._orders.values() if t.order.symbol == symbol]:
            if not tracked.is_open or tracked.exchange_order_id is None:
                continue
            answer = await self._fetch(tracked.exchange_order_id, symbol)
            events += await self._catch_up(tracked, answer)
        return events

    async def _fetch(self, exchange_order_id: str, symbol: str) -> Any:
        async def fetch() -> Any:
            return await self._ex.fetch_order(exchange_order_id, symbol)

        return await self._session.call("fetch_order", fetch)

    async def _catch_up(self, tracked: Tracked, answer: Mapping[str, Any]) -> list[VenueEvent]:
        """Apply the trades the exchange has for the order, then its state."""
        events: list[VenueEvent] = []
        filled = exact((answer.get("info") or {}).get("executedQty"), answer.get("filled") or 0)
        if filled > tracked.executed:
            order_id = tracked.exchange_order_id
            trades = await self._session.call(
                "fetch_my_trades",
                lambda: self._ex.fetch_my_trades(
                    tracked.order.symbol, None, None, {"orderId": order_id}
                ),
            )
            for trade in trades:
                events += self._apply_trade(tracked, trade)
        was_open = tracked.is_open
        events += self._apply_order(tracked, answer)
        if was_open and not tracked.is_open and tracked.status is OrderStatus.FILLED:
            events += self._final_event(tracked)
        return events

    def _apply_trade(
        self, tracked: Tracked, trade: Mapping[str, Any], at_ms: int | None = None
    ) -> list[VenueEvent]:
        trade_id = str(trade.get("id"))
        if trade_id in tracked.trade_ids:
            return []
        base, quote = tracked.order.symbol.split("/")
        fill = fill_from_trade(tracked.order, trade, base, quote, self._session.exchange_id, at_ms)
        tracked.trade_ids.add(trade_id)
        tracked.executed += exact((trade.get("info") or {}).get("qty"), trade.get("amount"))
        return [VenueEvent(tracked.order, OrderStatus.PARTIALLY_FILLED, fill=fill)]

    def _apply_order(self, tracked: Tracked, answer: Mapping[str, Any]) -> list[VenueEvent]:
        """Move ``tracked`` to the exchange's status; a cancel or expiry is an event."""
        status = answer.get("status")
        if status == "open":
            tracked.status = (
                OrderStatus.PARTIALLY_FILLED if tracked.executed > 0 else OrderStatus.OPEN
            )
            return []
        if status == "closed":
            tracked.status = OrderStatus.FILLED
            return []
        if status in ("canceled", "expired", "rejected"):
            if tracked.status is OrderStatus.CANCELLED:
                return []
            tracked.status = OrderStatus.CANCELLED
            tracked.reason = f"{status} on the exchange"
            return [VenueEvent(tracked.order, OrderStatus.CANCELLED, reason=tracked.reason)]
        return []

    @staticmethod
    def _final_event(tracked: Tracked) -> list[VenueEvent]:
        """The event that ends a filled order; it follows the order's fill events (each
        ``partially_filled`` with its fill), so a fill is never reported without its trade."""
        return [VenueEvent(tracked.order, OrderStatus.FILLED)]

    # -- cancelling ----------------------------------------------------------------------------

    async def cancel(self, client_order_id: str) -> list[VenueEvent] | None:
        """Cancel one open order; the events up to and including the confirmed cancel, or
        None when the order is not open (it filled first, or is unknown)."""
        tracked = self._orders.get(client_order_id)
        if tracked is None or not tracked.is_open or tracked.exchange_order_id is None:
            return None
        exchange_id, symbol = tracked.exchange_order_id, tracked.order.symbol

        async def cancel() -> Any:
            try:
                return await self._ex.cancel_order(exchange_id, symbol)
            except ccxt.OrderNotFound:
                return None
            except ccxt.BaseError as error:
                if not is_lost_answer(error):
                    raise
                self._session.report_error("cancel_order", error)
                return None  # resolved below by asking for the order

        await self._session.call("cancel_order", cancel)
        # Confirmation: the order as the exchange holds it now, trades included.
        answer = await self._fetch(exchange_id, symbol)
        events = await self._catch_up(tracked, answer)
        if tracked.status is OrderStatus.CANCELLED:
            return events
        if tracked.is_open:
            raise VenueError(
                self._session.exchange_id,
                "cancel_order",
                ErrorAction.PAUSE,
                f"order {client_order_id} is still open on the exchange after its cancel",
            )
        self._pending.setdefault(symbol, []).extend(events)
        return None
