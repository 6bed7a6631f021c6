"""The exchange venue: SIGMAX's orders on Binance, Coinbase or Kraken spot through ccxt.

It implements :class:`~sigmax.execution.venue.Venue`; the order manager
(:mod:`sigmax.execution.order_manager`) does the placing, following and cancelling, and
:mod:`sigmax.execution.exchange_errors` decides what a failure means.

How SIGMAX's order types are carried:

* ``market`` and ``limit``: the exchange's own. A ``spend`` market buy is Binance's
  ``quoteOrderQty`` (Binance charges a buy's fee in the base asset, so the quote spent is exactly
  ``spend``); on the other exchanges it spends ``spend / (1 + taker fee)`` so the fee fits.
* ``take_profit``: a resting **limit** sell on the exchange at its price. It stays on the book
  when SIGMAX is down.
* ``stop_loss``: **kept by the venue** and sent as a market sell, with the stop's own client
  order id, at the first candle whose low reaches the trigger. An exchange stop
  (``STOP_LOSS_LIMIT``) would lock the same coins as the take-profit, which Binance refuses
  unless both are one OCO list; keeping the stop here keeps one code path for the three
  exchanges. The price of that choice: **while SIGMAX is down the stop does not protect the
  position** (the take-profit does); at the first candle after a restart a stop whose trigger
  was crossed sells at once.
* ``oco_group``: when a member fills (in part or whole) the other members are cancelled, the
  exchange ones with a confirmed cancel. When a stop triggers, the exchange members are
  cancelled first and the stop sells only what they did not sell; if one of them had filled
  completely, the stop is dropped instead of selling.

Quantities and prices are cut to the market's precision with ccxt's ``amount_to_precision`` /
``price_to_precision``, and the market's minimum amount and notional (``limits``) are checked
before anything is sent: a refusal names the rule and the numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sigmax.domain.candles import Candle
from sigmax.domain.market import MarketSpec
from sigmax.domain.orders import (
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
    OrderType,
)
from sigmax.execution.ccxt_session import CcxtSession
from sigmax.execution.order_manager import OrderManager, Placement, exact
from sigmax.execution.venue import Holdings, VenueEvent
from sigmax.execution.venue_errors import ErrorAction, VenueError

log = logging.getLogger(__name__)

_ZERO = Decimal(0)


class CcxtVenue:
    """One exchange account as a :class:`~sigmax.execution.venue.Venue` for ``symbols``."""

    def __init__(self, session: CcxtSession, symbols: tuple[str, ...]) -> None:
        self.name: str = session.exchange_id
        self.session = session
        self.symbols = symbols
        self.orders = OrderManager(session)
        self._ex = session.exchange
        self._stops: dict[str, Order] = {}
        self._specs: dict[str, MarketSpec] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the markets (precision and limits come from the exchange) and check that
        every configured symbol is traded there."""
        await self.session.call("load_markets", self._ex.load_markets)
        missing = [s for s in self.symbols if s not in self._ex.markets]
        if missing:
            raise VenueError(
                self.name,
                "load_markets",
                ErrorAction.FAIL,
                f"{', '.join(missing)} not traded on {self.name}",
            )

    async def close(self) -> None:
        await self.session.close()

    def market(self, symbol: str) -> Mapping[str, Any]:
        market: Mapping[str, Any] = self._ex.market(symbol)
        return market

    # -- Venue protocol ------------------------------------------------------------------------

    async def submit(self, order: Order, now_ms: int) -> VenueEvent:
        if order.type is OrderType.STOP_LOSS:
            return await self._hold_stop(order)
        if order.symbol not in self.symbols:
            return VenueEvent(
                order,
                OrderStatus.REJECTED,
                reason=f"{order.symbol} is not among the venue's symbols "
                f"({', '.join(self.symbols)})",
            )
        try:
            # A take-profit sells the position, whose size a fee paid in the base asset left
            # off the amount step: it is cut down to the step (the rest stays as dust).
            placement = await self._placement(order, cut=_sells_a_position(order))
        except _RefusedError as refused:
            return VenueEvent(order, OrderStatus.REJECTED, reason=str(refused))
        return await self.orders.place(order, placement)

    async def cancel(self, client_order_id: str, now_ms: int) -> VenueEvent | None:
        stop = self._stops.pop(client_order_id, None)
        if stop is not None:
            return VenueEvent(stop, OrderStatus.CANCELLED, reason="cancelled on request")
        events = await self.orders.cancel(client_order_id)
        if events is None:
            return None
        # Fills that came in before the cancel are delivered with the next on_candle.
        self.orders.defer(events[:-1])
        return events[-1]

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        resting = [t.order for t in self.orders.tracked(symbol) if t.is_open]
        stops = [o for o in self._stops.values() if symbol is None or o.symbol == symbol]
        return sorted(resting + stops, key=lambda o: o.created_ms)

    async def balances(self) -> Mapping[str, Decimal]:
        raw = await self.session.call("fetch_balance", self._ex.fetch_balance)
        info = raw.get("info") or {}
        listed = info.get("balances") if isinstance(info, dict) else None
        if isinstance(listed, list):  # Binance: exact strings
            found = {str(b["asset"]): exact(b.get("free")) + exact(b.get("locked")) for b in listed}
        else:
            found = {a: exact(None, v) for a, v in (raw.get("total") or {}).items() if v}
        return {asset: amount for asset, amount in sorted(found.items()) if amount != 0}

    async def on_candle(self, symbol: str, candle: Candle) -> list[VenueEvent]:
        events = await self.orders.sync(symbol)
        events += await self._resolve_oco(events)
        events += await self._check_stops(symbol, Decimal(repr(candle.low)))
        return events

    async def catch_up(self, symbol: str) -> list[VenueEvent]:
        """What the exchange did with ``symbol``'s orders since the last call (fills, ends,
        one-cancels-other resolved), without a candle: no stop is checked."""
        events = await self.orders.sync(symbol)
        events += await self._resolve_oco(events)
        return events

    # -- restart -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The venue's part of the resume point: the stops it keeps (the exchange does not
        know them) and the exchange orders it follows that are open."""
        return {
            "stops": [order_to_json(o) for o in self._stops.values()],
            "open": [order_to_json(t.order) for t in self.orders.tracked() if t.is_open],
        }

    async def resume(self, state: Mapping[str, Any], seen: set[tuple[str, int]]) -> None:
        """Take up a :meth:`snapshot` after a restart: the stops are held again and every
        open order is looked up on the exchange by its client id and followed again (its
        trades in ``seen``, (client id, trade id) pairs the ledger holds, are not reported
        twice; fills made while SIGMAX was down come with the next :meth:`on_candle`)."""
        try:
            stops = [order_from_json(o) for o in state.get("stops") or []]
            open_orders = [order_from_json(o) for o in state.get("open") or []]
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise VenueStateError(f"resume point venue: {error!r}") from None
        for stop in stops:
            self._stops[stop.client_order_id] = stop
        for order in open_orders:
            trades = {str(t) for c, t in seen if c == order.client_order_id}
            if not await self.orders.resume(order, trades):
                log.warning(
                    "%s order %s was open at the last commit and is unknown to the exchange now",
                    self.name,
                    order.client_order_id,
                )
        if stops:
            log.info("%d client-side stop(s) held again after the restart", len(stops))

    # -- panic ---------------------------------------------------------------------------------

    async def cancel_all(self) -> tuple[list[str], list[str]]:
        """Cancel every open order of the venue's symbols on the exchange (SIGMAX's or not) and
        drop the venue's stops; (cancelled, still open) as the exchange reports afterwards."""
        cancelled: list[str] = list(self._stops)
        self.orders.defer(
            [VenueEvent(o, OrderStatus.CANCELLED, reason="panic") for o in self._stops.values()]
        )
        self._stops.clear()
        for symbol in self.symbols:
            listed = await self._open_on_exchange(symbol)
            for raw in listed:
                client = raw.get("clientOrderId") or str(raw["id"])
                mine = self.orders.client_id_of(str(raw["id"]))
                if mine is not None:
                    events = await self.orders.cancel(mine)
                    if events is not None:
                        # Fills before the cancel, and the cancel: the ledger learns of them
                        # through the next on_candle, like every other event.
                        self.orders.defer(events)
                        cancelled.append(mine)
                        continue
                await self._cancel_on_exchange(str(raw["id"]), symbol)
                cancelled.append(client)
        left: list[str] = []
        for symbol in self.symbols:
            listed = await self._open_on_exchange(symbol)
            left += [r.get("clientOrderId") or str(r["id"]) for r in listed]
        return cancelled, left

    async def holdings(self) -> Holdings:
        """The open orders of the venue's symbols and the balances, asked of the exchange."""
        still: list[str] = []
        for symbol in self.symbols:
            still += [
                r.get("clientOrderId") or str(r["id"]) for r in await self._open_on_exchange(symbol)
            ]
        return Holdings(tuple(still), await self.balances())

    # -- internals -----------------------------------------------------------------------------

    async def _open_on_exchange(self, symbol: str) -> list[Any]:
        async def fetch() -> Any:
            return await self._ex.fetch_open_orders(symbol)

        listed: list[Any] = await self.session.call("fetch_open_orders", fetch)
        return listed

    async def _cancel_on_exchange(self, exchange_order_id: str, symbol: str) -> None:
        async def cancel() -> Any:
            return await self._ex.cancel_order(exchange_order_id, symbol)

        await self.session.call("cancel_order", cancel)

    async def _hold_stop(self, order: Order) -> VenueEvent:
        if order.side is not OrderSide.SELL:
            return VenueEvent(order, OrderStatus.REJECTED, reason="a stop_loss must be a sell")
        if order.client_order_id in self._stops or self.orders.get(order.client_order_id):
            held = self._stops.get(order.client_order_id)
            return VenueEvent(order, OrderStatus.OPEN if held else OrderStatus.REJECTED,
                              reason=None if held else "client order id already used")  # fmt: skip
        try:
            # The market sell it will become must be sendable (cut to the amount step, as
            # it will be when it triggers).
            await self._placement(order, cut=True, market_qty=order.qty)
        except _RefusedError as refused:
            return VenueEvent(order, OrderStatus.REJECTED, reason=str(refused))
        self._stops[order.client_order_id] = order
        return VenueEvent(order, OrderStatus.OPEN)

    async def _placement(
        self, order: Order, *, cut: bool = False, market_qty: Decimal | None = None
    ) -> Placement:
        """The exchange arguments of ``order`` at the market's precision, limits checked.

        With ``cut`` the quantity may be cut down to the amount step (a panic sells what is
        held); otherwise a quantity off the step is refused, since SIGMAX quantises first.
        ``market_qty`` sends the order as a market order of that quantity (a triggered stop)."""
        market = self.market(order.symbol)
        limits = market.get("limits") or {}
        wanted = order.qty if market_qty is None else market_qty
        qty_text = self._ex.amount_to_precision(order.symbol, float(wanted))
        qty = Decimal(qty_text)
        if qty != wanted and not cut:
            raise _RefusedError(
                f"qty {order.qty} is not a multiple of {order.symbol}'s amount step "
                f"(would be sent as {qty})"
            )
        min_amount = (limits.get("amount") or {}).get("min")
        if min_amount is not None and qty < exact(None, min_amount) and order.spend is None:
            raise _RefusedError(f"qty {qty} is below {order.symbol}'s minimum amount {min_amount}")
        params: dict[str, Any] = {}
        price: float | None = None
        if order.type is OrderType.MARKET or market_qty is not None:
            kind = "market"
            reference = order.reference_price or order.price
            if reference is None or (cut and order.spend is None):
                reference = await self._last_price(order.symbol)
        else:
            kind = "limit"
            assert order.price is not None
            price_text = self._ex.price_to_precision(order.symbol, float(order.price))
            if Decimal(price_text) != order.price:
                raise _RefusedError(
                    f"price {order.price} is not a multiple of {order.symbol}'s price tick "
                    f"(would be sent as {price_text})"
                )
            price = float(price_text)
            reference = order.price
            params["timeInForce"] = "GTC"
        notional = qty * reference
        if order.spend is not None:
            notional = order.spend
            params.update(self._spend_params(order))
        min_cost = (limits.get("cost") or {}).get("min")
        if min_cost is not None and notional < exact(None, min_cost):
            raise _RefusedError(
                f"notional {notional} of {order.symbol} is below the market's minimum "
                f"{exact(None, min_cost)}"
            )
        return Placement(kind, float(qty_text), price, params)

    def _spend_params(self, order: Order) -> dict[str, Any]:
        assert order.spend is not None
        spend = order.spend
        if self.name != "binance":
            taker = exact(None, self.market(order.symbol).get("taker") or 0)
            spend = spend / (1 + taker)
        cost = self._ex.cost_to_precision(order.symbol, float(spend))
        return {"quoteOrderQty": cost} if self.name == "binance" else {"cost": float(cost)}

    async def _last_price(self, symbol: str) -> Decimal:
        ticker = await self.session.call("fetch_ticker", lambda: self._ex.fetch_ticker(symbol))
        return exact((ticker.get("info") or {}).get("lastPrice"), ticker.get("last"))

    async def _resolve_oco(self, events: list[VenueEvent]) -> list[VenueEvent]:
        """A fill of an OCO member cancels the group's other members."""
        extra: list[VenueEvent] = []
        for event in events:
            group = event.order.oco_group
            if event.fill is None or group is None:
                continue
            for stop in [s for s in self._stops.values() if s.oco_group == group]:
                del self._stops[stop.client_order_id]
                extra.append(
                    VenueEvent(
                        stop,
                        OrderStatus.CANCELLED,
                        reason=f"oco group {group}: {event.order.client_order_id} filled",
                    )
                )
            for tracked in self.orders.tracked(event.order.symbol):
                peer = tracked.order
                if peer.oco_group == group and peer is not event.order and tracked.is_open:
                    cancelled = await self.orders.cancel(peer.client_order_id)
                    extra += cancelled or []
        return extra

    async def _check_stops(self, symbol: str, low: Decimal) -> list[VenueEvent]:
        """Send the stops of ``symbol`` whose trigger the candle reached."""
        events: list[VenueEvent] = []
        for stop in [s for s in self._stops.values() if s.symbol == symbol]:
            assert stop.price is not None
            if low > stop.price:
                continue
            qty = stop.qty
            if stop.oco_group is not None:
                for tracked in self.orders.tracked(symbol):
                    peer = tracked.order
                    if peer.oco_group != stop.oco_group or peer is stop:
                        continue
                    if tracked.is_open:
                        events += await self.orders.cancel(peer.client_order_id) or []
                    sold = sum((e.fill.qty for e in events if e.fill and e.order is peer), _ZERO)
                    qty -= sold + (peer.qty if tracked.status is OrderStatus.FILLED else _ZERO)
            del self._stops[stop.client_order_id]
            if qty <= 0:
                events.append(
                    VenueEvent(stop, OrderStatus.CANCELLED,
                               reason=f"oco group {stop.oco_group}: its peer filled first")
                )  # fmt: skip
                continue
            log.warning("stop %s of %s triggered at %s: selling %s at market",
                        stop.client_order_id, symbol, stop.price, qty)  # fmt: skip
            try:
                placement = await self._placement(stop, cut=True, market_qty=qty)
            except _RefusedError as refused:
                events.append(VenueEvent(stop, OrderStatus.CANCELLED, reason=str(refused)))
                continue
            # The stop itself is placed (its client id, its type): its fills name the stop.
            await self.orders.place(stop, placement)
            events += self.orders.take_pending(symbol)
        return events


def _sells_a_position(order: Order) -> bool:
    """An order that sells what a position holds (a take-profit, a signal exit, a panic's
    close): a fee paid in the base asset leaves the position off the amount step, so it is
    cut down to the step (the rest stays as dust)."""
    return order.side is OrderSide.SELL and (
        order.type is OrderType.TAKE_PROFIT
        or order.purpose in (OrderPurpose.EXIT, OrderPurpose.PANIC)
    )


class VenueStateError(ValueError):
    """A stored venue snapshot cannot be read; the message names what is wrong."""


def order_to_json(order: Order) -> dict[str, Any]:
    """An order as JSON-ready data (decimals as strings)."""

    def text(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "qty": str(order.qty),
        "created_ms": order.created_ms,
        "price": text(order.price),
        "reference_price": text(order.reference_price),
        "decision_id": order.decision_id,
        "oco_group": order.oco_group,
        "spend": text(order.spend),
        "purpose": order.purpose.value,
    }


def order_from_json(data: Mapping[str, Any]) -> Order:
    """:func:`order_to_json` read back (every field validated by :class:`Order`)."""

    def number(key: str) -> Decimal | None:
        value = data.get(key)
        return None if value is None else Decimal(str(value))

    qty = number("qty")
    if qty is None:
        raise ValueError("order qty: missing")
    return Order(
        client_order_id=str(data["client_order_id"]),
        symbol=str(data["symbol"]),
        side=OrderSide(data["side"]),
        type=OrderType(data["type"]),
        qty=qty,
        created_ms=int(data["created_ms"]),
        price=number("price"),
        reference_price=number("reference_price"),
        decision_id=data.get("decision_id"),
        oco_group=data.get("oco_group"),
        spend=number("spend"),
        purpose=OrderPurpose(data["purpose"]),
    )


class _RefusedError(Exception):
    """An order the venue will not send; the message names the rule and the numbers."""
