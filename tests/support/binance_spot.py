"""A loopback Binance spot stand-in with the signed trading endpoints and a matching engine.

It extends :class:`support.binance_server.BinanceLoopback` (the public market-data endpoints over
the bundled candles) with what an account needs, in Binance's wire format:

* ``POST /api/v3/order``, ``GET /api/v3/order``, ``DELETE /api/v3/order``,
  ``GET /api/v3/openOrders``, ``GET /api/v3/account``, ``GET /api/v3/myTrades``.
* Every one of them is signed as Binance requires: the ``X-MBX-APIKEY`` header must name the
  account's key (else ``-2015``, HTTP 401); ``signature`` must be the hex HMAC-SHA256 of the
  query string followed by the body (everything but the ``signature`` parameter) under the
  account's secret (else ``-1022``); ``timestamp`` is mandatory and must lie in
  ``[server time - recvWindow, server time + 1000 ms)`` with ``recvWindow`` at most 60000 and
  5000 by default (else ``-1021`` / ``-1131``). The server time is ``now_ms`` (the market clock
  of the base class), so a client gives ccxt the same clock.
* Errors are Binance's ``{"code": ..., "msg": ...}`` bodies with its HTTP codes: ``-2010`` (new
  order rejected: insufficient balance, duplicate client order id), ``-1013`` (filter failure:
  ``LOT_SIZE``, ``PRICE_FILTER``, ``NOTIONAL`` / ``MIN_NOTIONAL``), ``-2013`` (order does not
  exist), ``-2011`` (unknown order sent, on cancel).

Matching (documented stand-in rules):

* A market order fills at once at the current price, the base class's ``last_price`` (the open
  of the candle forming at ``now_ms``); a market buy may give ``quoteOrderQty`` instead of a
  quantity (the quantity is the most whole lot steps that amount buys).
* A limit order fills at once if it crosses the current price (at the current price); otherwise
  it rests and is matched at each :meth:`BinanceSpotStandIn.advance` against every candle that
  closed meanwhile: a buy fills when the candle's low reaches its price (at the open if the
  candle opened below it), a sell when the high reaches it (at the open if above).
* ``liquidity`` (base quantity per symbol and matching pass) caps what one pass fills: an
  order then fills in parts, one trade per pass.
* Commission is 0.1 % of the asset received (base for a buy, quote for a sell), rounded to
  8 decimals, as Binance charges without BNB discounts.
* A buy locks its quote (limit price x quantity), a sell its base, until filled or cancelled.

Server time: by default ``now_ms`` stands still until the test moves it (:meth:`advance`,
:meth:`advance_to`), which suits a client that takes the same clock. A client in another process
reads its own wall clock, as against a real exchange, so :meth:`run_clock` makes the server's
time flow with the wall clock from where it stands (matching every candle that closes on the
way at the next request); :meth:`advance_to` still jumps it, and it flows on from there. The
server's time is then one consistent clock for ``/api/v3/time``, the signed ``timestamp`` check
and the matching engine.

Fault injection, besides the base class's :meth:`fail_next` (503 bursts, 429, disconnects
before anything is executed): :meth:`lose_responses` executes requests and then never answers
(the client times out) or drops the connection; :meth:`set_balance` changes a balance behind the
client's back.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import hmac
import itertools
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final, Literal
from urllib.parse import parse_qsl

from aiohttp import web

from support.binance_server import (
    HOUR_MS,
    SYMBOLS,
    BinanceLoopback,
    SymbolRules,
    _BinanceError,
    bundled_candles,
    floor_to,
    fmt8,
)

COMMISSION_RATE: Final = Decimal("0.001")
DEFAULT_RECV_WINDOW: Final = 5000
MAX_RECV_WINDOW: Final = 60000
_EIGHT: Final = Decimal("0.00000001")
_ZERO: Final = Decimal(0)

SIGNED_PATHS: Final = (
    "/api/v3/order",
    "/api/v3/openOrders",
    "/api/v3/account",
    "/api/v3/myTrades",
)


@dataclass(slots=True)
class SpotTrade:
    id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


@dataclass(slots=True)
class SpotOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: Literal["BUY", "SELL"]
    type: Literal["MARKET", "LIMIT"]
    orig_qty: Decimal
    price: Decimal
    time: int
    status: str = "NEW"
    executed: Decimal = _ZERO
    cum_quote: Decimal = _ZERO
    update_time: int = 0
    locked: Decimal = _ZERO
    trades: list[SpotTrade] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed


@dataclass(slots=True)
class _LostResponse:
    mode: Literal["timeout", "disconnect"]
    remaining: int
    delay_s: float


class BinanceSpotStandIn(BinanceLoopback):
    """Binance spot on 127.0.0.1 with one account (``api_key`` / ``api_secret``)."""

    def __init__(
        self,
        *,
        now_ms: int | None = None,
        api_key: str = "sgx-test-key-7Yq2",
        api_secret: str = "sgx-test-secret-Zk81pQ",
        balances: dict[str, Decimal] | None = None,
    ) -> None:
        if now_ms is None:
            super().__init__()
        else:
            super().__init__(now_ms=now_ms)
        self.api_key = api_key
        self.api_secret = api_secret
        self.free: dict[str, Decimal] = dict(balances or {"USDT": Decimal("10000")})
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[int, SpotOrder] = {}
        self.trades: list[SpotTrade] = []
        self.liquidity: dict[str, Decimal] = {}
        self._order_ids = itertools.count(1000)
        self._trade_ids = itertools.count(500_000)
        self._lost: dict[tuple[str, str], list[_LostResponse]] = {}
        #: Every signed request that was executed (method, path), refused ones excluded.
        self.executed: list[tuple[str, str]] = []
        #: With a running clock: (server ms, monotonic s) it flows on from.
        self._anchor: tuple[int, float] | None = None

    # -- app -----------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.middlewares.append(self._flow)
        app.router.add_post("/api/v3/order", self._new_order)
        app.router.add_get("/api/v3/order", self._query_order)
        app.router.add_delete("/api/v3/order", self._cancel_order)
        app.router.add_get("/api/v3/openOrders", self._open_orders)
        app.router.add_get("/api/v3/account", self._account)
        app.router.add_get("/api/v3/myTrades", self._my_trades)
        return app

    # -- control -------------------------------------------------------------------------------

    def lose_responses(
        self,
        method: str,
        path: str,
        count: int = 1,
        *,
        mode: Literal["timeout", "disconnect"] = "timeout",
        delay_s: float = 3.0,
    ) -> None:
        """Execute the next ``count`` ``method path`` requests, then never answer them:
        ``timeout`` holds the answer back ``delay_s`` (longer than the client waits),
        ``disconnect`` closes the connection instead of answering."""
        self._lost.setdefault((method, path), []).append(_LostResponse(mode, count, delay_s))

    def set_balance(self, asset: str, free: Decimal) -> None:
        """Change an asset's free balance behind the client's back (a deposit, a manual
        trade on the exchange's website)."""
        self.free[asset] = free

    def total(self, asset: str) -> Decimal:
        return self.free.get(asset, _ZERO) + self.locked.get(asset, _ZERO)

    def open_orders_now(self) -> list[SpotOrder]:
        return [o for o in self.orders.values() if o.open]

    def order_by_client_id(self, client_order_id: str) -> list[SpotOrder]:
        return [o for o in self.orders.values() if o.client_order_id == client_order_id]

    def run_clock(self) -> None:
        """Let the server's time flow with the wall clock from where it stands now."""
        self._anchor = (self.now_ms, time.monotonic())

    def flowing_now_ms(self) -> int:
        """The server's time as it flows (``now_ms`` with a standing clock)."""
        if self._anchor is None:
            return self.now_ms
        at_ms, at_s = self._anchor
        return at_ms + int((time.monotonic() - at_s) * 1000)

    @web.middleware
    async def _flow(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """With a running clock, every request first sees the time flowed on (and the
        resting orders matched against every candle that closed meanwhile)."""
        if self._anchor is not None:
            self._move_to(self.flowing_now_ms())
        response: web.StreamResponse = await handler(request)
        return response

    def advance(self, hours: int = 1) -> None:
        """Move the clock ``hours`` later and match resting orders against every hourly
        candle that closed on the way, oldest first."""
        self.advance_to(self.now_ms + hours * HOUR_MS)

    def advance_to(self, now_ms: int) -> None:
        """Move the clock to ``now_ms`` (not back) and match resting orders against every
        hourly candle that closed on the way, oldest first. A running clock flows on from
        there."""
        self._move_to(max(now_ms, self.flowing_now_ms()))
        if self._anchor is not None:
            self.run_clock()

    def _move_to(self, now_ms: int) -> None:
        start = self.now_ms
        if now_ms <= start:
            return
        self.now_ms = now_ms
        for rules in SYMBOLS.values():
            candles = bundled_candles(rules.symbol, "1h")
            # Candles closing in (start, now]: open times in (start - 1 h, now - 1 h].
            first = bisect.bisect_right(candles, start - HOUR_MS, key=lambda c: c.open_ms)
            last = bisect.bisect_right(candles, now_ms - HOUR_MS, key=lambda c: c.open_ms)
            for candle in candles[first:last]:
                if start < candle.open_ms + HOUR_MS <= self.now_ms:
                    for order in sorted(self.orders.values(), key=lambda o: o.order_id):
                        if order.open and order.symbol == rules.symbol:
                            self._match_limit(order, candle, candle.open_ms + HOUR_MS)

    # -- signing -------------------------------------------------------------------------------

    async def _signed(self, request: web.Request) -> dict[str, str]:
        body = await request.text()
        total = request.query_string + body
        params = dict(parse_qsl(total, keep_blank_values=True))
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            raise _BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = params.pop("signature", None)
        if not signature:
            raise _BinanceError(
                400,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            )
        signed_part = "&".join(
            part for part in total.split("&") if not part.startswith("signature=")
        )
        expected = hmac.new(
            self.api_secret.encode(), signed_part.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise _BinanceError(400, -1022, "Signature for this request is not valid.")
        timestamp = self._int(params, "timestamp", required=True)
        window = self._int(params, "recvWindow", required=False) or DEFAULT_RECV_WINDOW
        if window > MAX_RECV_WINDOW:
            raise _BinanceError(400, -1131, "recvWindow must be less than 60000")
        now = self.now_ms
        if not (now - window <= timestamp < now + 1000):
            raise _BinanceError(
                400, -1021, "Timestamp for this request is outside of the recvWindow."
            )
        return params

    @staticmethod
    def _int(params: dict[str, str], name: str, *, required: bool) -> int | None:
        text = params.get(name)
        if text is None:
            if required:
                raise _BinanceError(
                    400,
                    -1102,
                    f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
                )
            return None
        try:
            return int(text)
        except ValueError:
            raise _BinanceError(
                400, -1100, f"Illegal characters found in parameter '{name}'."
            ) from None

    async def _answer(self, request: web.Request, payload: Any) -> web.StreamResponse:
        """Answer, unless the response to this request is to be lost."""
        self.executed.append((request.method, request.path))
        queue = self._lost.get((request.method, request.path))
        if queue:
            lost = queue[0]
            lost.remaining -= 1
            if lost.remaining == 0:
                queue.pop(0)
            if lost.mode == "disconnect":
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)
            await asyncio.sleep(lost.delay_s)
        return web.json_response(payload)

    # -- endpoints -----------------------------------------------------------------------------

    @staticmethod
    def _rules(params: dict[str, str]) -> SymbolRules:
        symbol = params.get("symbol")
        if not symbol:
            raise _BinanceError(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        rules = SYMBOLS.get(symbol)
        if rules is None:
            raise _BinanceError(400, -1121, "Invalid symbol.")
        return rules

    @staticmethod
    def _decimal(params: dict[str, str], name: str) -> Decimal | None:
        text = params.get(name)
        if text is None:
            return None
        try:
            value = Decimal(text)
        except ArithmeticError:
            raise _BinanceError(
                400, -1100, f"Illegal characters found in parameter '{name}'."
            ) from None
        if not value.is_finite():
            raise _BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.")
        return value

    async def _new_order(self, request: web.Request) -> web.StreamResponse:
        params = await self._signed(request)
        rules = self._rules(params)
        side = params.get("side")
        kind = params.get("type")
        if side not in ("BUY", "SELL"):
            raise _BinanceError(400, -1128, "Invalid side.")
        if kind not in ("MARKET", "LIMIT"):
            raise _BinanceError(400, -1116, "Invalid orderType.")
        client_id = params.get("newClientOrderId") or f"stand-in-{next(self._order_ids)}"
        if any(o.open for o in self.order_by_client_id(client_id)):
            raise _BinanceError(400, -2010, "Duplicate order sent.")
        qty = self._decimal(params, "quantity")
        quote_qty = self._decimal(params, "quoteOrderQty")
        price = self._decimal(params, "price")
        market_price = self.last_price(rules.symbol)
        if kind == "LIMIT":
            if price is None or qty is None:
                raise _BinanceError(
                    400, -1102, "Mandatory parameter 'price' or 'quantity' was not sent."
                )
            if params.get("timeInForce") != "GTC":
                raise _BinanceError(400, -1115, "Invalid timeInForce.")
            if price % rules.tick_size != 0 or price <= 0:
                raise _BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
        else:
            if price is not None:
                raise _BinanceError(400, -1106, "Parameter 'price' sent when not required.")
            if qty is None and quote_qty is not None and side == "BUY":
                qty = floor_to(quote_qty / market_price, rules.step_size)
            if qty is None:
                raise _BinanceError(
                    400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null."
                )
        if qty <= 0 or qty % rules.step_size != 0 or qty < rules.min_qty or qty > rules.max_qty:
            raise _BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        reference = price if kind == "LIMIT" and price is not None else market_price
        if qty * reference < rules.min_notional:
            raise _BinanceError(400, -1013, f"Filter failure: {rules.notional_filter}")
        if side == "BUY":
            need, asset = qty * reference, rules.quote
        else:
            need, asset = qty, rules.base
        if self.free.get(asset, _ZERO) < need:
            raise _BinanceError(
                400, -2010, "Account has insufficient balance for requested action."
            )
        order = SpotOrder(
            order_id=next(self._order_ids),
            client_order_id=client_id,
            symbol=rules.symbol,
            side=side,
            type=kind,
            orig_qty=qty,
            price=price if price is not None else _ZERO,
            time=self.now_ms,
            update_time=self.now_ms,
        )
        self.orders[order.order_id] = order
        self._lock(order, need, asset)
        self._match_now(order, market_price)
        if kind == "MARKET" and order.open:
            self._finish(order, "EXPIRED")  # no liquidity left: Binance expires the rest
        payload = self._order_json(order)
        payload["transactTime"] = order.time
        payload["fills"] = [
            {
                "price": fmt8(t.price),
                "qty": fmt8(t.qty),
                "commission": fmt8(t.commission),
                "commissionAsset": t.commission_asset,
                "tradeId": t.id,
            }
            for t in order.trades
        ]
        return await self._answer(request, payload)

    def _find(self, params: dict[str, str]) -> SpotOrder:
        rules = self._rules(params)
        order_id = self._int(params, "orderId", required=False)
        client_id = params.get("origClientOrderId")
        if order_id is None and client_id is None:
            raise _BinanceError(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        for order in sorted(self.orders.values(), key=lambda o: -o.order_id):
            if order.symbol != rules.symbol:
                continue
            if order_id is not None and order.order_id == order_id:
                return order
            if order_id is None and order.client_order_id == client_id:
                return order
        raise LookupError

    async def _query_order(self, request: web.Request) -> web.StreamResponse:
        params = await self._signed(request)
        try:
            order = self._find(params)
        except LookupError:
            raise _BinanceError(400, -2013, "Order does not exist.") from None
        return await self._answer(request, self._order_json(order))

    async def _cancel_order(self, request: web.Request) -> web.StreamResponse:
        params = await self._signed(request)
        try:
            order = self._find(params)
        except LookupError:
            raise _BinanceError(400, -2011, "Unknown order sent.") from None
        if not order.open:
            raise _BinanceError(400, -2011, "Unknown order sent.")
        self._finish(order, "CANCELED")
        payload = self._order_json(order)
        payload["origClientOrderId"] = order.client_order_id
        payload["clientOrderId"] = f"cancel-{order.order_id}"
        payload["transactTime"] = self.now_ms
        return await self._answer(request, payload)

    async def _open_orders(self, request: web.Request) -> web.StreamResponse:
        params = await self._signed(request)
        symbol = self._rules(params).symbol if "symbol" in params else None
        orders = [
            self._order_json(o)
            for o in sorted(self.orders.values(), key=lambda o: o.order_id)
            if o.open and (symbol is None or o.symbol == symbol)
        ]
        return await self._answer(request, orders)

    async def _account(self, request: web.Request) -> web.StreamResponse:
        await self._signed(request)
        assets = sorted(set(self.free) | set(self.locked))
        return await self._answer(
            request,
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {
                    "maker": "0.00100000",
                    "taker": "0.00100000",
                    "buyer": "0.00000000",
                    "seller": "0.00000000",
                },
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": self.now_ms,
                "accountType": "SPOT",
                "balances": [
                    {
                        "asset": asset,
                        "free": fmt8(self.free.get(asset, _ZERO)),
                        "locked": fmt8(self.locked.get(asset, _ZERO)),
                    }
                    for asset in assets
                ],
                "permissions": ["SPOT"],
                "uid": 354937868,
            },
        )

    async def _my_trades(self, request: web.Request) -> web.StreamResponse:
        params = await self._signed(request)
        rules = self._rules(params)
        order_id = self._int(params, "orderId", required=False)
        from_id = self._int(params, "fromId", required=False)
        start = self._int(params, "startTime", required=False)
        end = self._int(params, "endTime", required=False)
        limit = self._int(params, "limit", required=False) or 500
        if not 1 <= limit <= 1000:
            raise _BinanceError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        trades = [
            t
            for t in self.trades
            if t.symbol == rules.symbol
            and (order_id is None or t.order_id == order_id)
            and (from_id is None or t.id >= from_id)
            and (start is None or t.time >= start)
            and (end is None or t.time <= end)
        ]
        return await self._answer(
            request,
            [
                {
                    "symbol": t.symbol,
                    "id": t.id,
                    "orderId": t.order_id,
                    "orderListId": -1,
                    "price": fmt8(t.price),
                    "qty": fmt8(t.qty),
                    "quoteQty": fmt8(t.price * t.qty),
                    "commission": fmt8(t.commission),
                    "commissionAsset": t.commission_asset,
                    "time": t.time,
                    "isBuyer": t.is_buyer,
                    "isMaker": t.is_maker,
                    "isBestMatch": True,
                }
                for t in trades[:limit]
            ],
        )

    # -- matching ------------------------------------------------------------------------------

    def _lock(self, order: SpotOrder, amount: Decimal, asset: str) -> None:
        self.free[asset] = self.free.get(asset, _ZERO) - amount
        self.locked[asset] = self.locked.get(asset, _ZERO) + amount
        order.locked = amount

    def _release(self, order: SpotOrder) -> None:
        rules = SYMBOLS[order.symbol]
        asset = rules.quote if order.side == "BUY" else rules.base
        self.locked[asset] = self.locked.get(asset, _ZERO) - order.locked
        self.free[asset] = self.free.get(asset, _ZERO) + order.locked
        order.locked = _ZERO

    def _finish(self, order: SpotOrder, status: str) -> None:
        self._release(order)
        order.status = status
        order.update_time = self.now_ms

    def _match_now(self, order: SpotOrder, market_price: Decimal) -> None:
        crosses = (order.side == "BUY" and order.price >= market_price) or (
            order.side == "SELL" and order.price <= market_price
        )
        if order.type == "MARKET" or crosses:
            self._execute(order, market_price, maker=False, at_ms=self.now_ms)

    def _match_limit(self, order: SpotOrder, candle: Any, close_ms: int) -> None:
        if order.type != "LIMIT" or order.time >= close_ms:
            return
        if order.side == "BUY" and candle.low <= order.price:
            price = min(order.price, candle.open)
        elif order.side == "SELL" and candle.high >= order.price:
            price = max(order.price, candle.open)
        else:
            return
        self._execute(order, price, maker=True, at_ms=close_ms)

    def _execute(self, order: SpotOrder, price: Decimal, *, maker: bool, at_ms: int) -> None:
        rules = SYMBOLS[order.symbol]
        qty = order.remaining
        cap = self.liquidity.get(order.symbol)
        if cap is not None:
            qty = min(qty, cap)
        if qty <= 0:
            return
        notional = qty * price
        quote, base = rules.quote, rules.base
        if order.side == "BUY":
            # Pay from the locked quote (at the limit or market reference), refund the rest.
            paid_from_lock = min(order.locked, notional)
            order.locked -= paid_from_lock
            self.locked[quote] = self.locked.get(quote, _ZERO) - paid_from_lock
            self.free[quote] = self.free.get(quote, _ZERO) - (notional - paid_from_lock)
            commission = (qty * COMMISSION_RATE).quantize(_EIGHT, ROUND_HALF_EVEN)
            self.free[base] = self.free.get(base, _ZERO) + qty - commission
            commission_asset = base
        else:
            order.locked -= qty
            self.locked[base] = self.locked.get(base, _ZERO) - qty
            commission = (notional * COMMISSION_RATE).quantize(_EIGHT, ROUND_HALF_EVEN)
            self.free[quote] = self.free.get(quote, _ZERO) + notional - commission
            commission_asset = quote
        trade = SpotTrade(
            id=next(self._trade_ids),
            order_id=order.order_id,
            symbol=order.symbol,
            price=price,
            qty=qty,
            commission=commission,
            commission_asset=commission_asset,
            time=at_ms,
            is_buyer=order.side == "BUY",
            is_maker=maker,
        )
        order.trades.append(trade)
        self.trades.append(trade)
        order.executed += qty
        order.cum_quote += notional
        order.update_time = at_ms
        if order.remaining == 0:
            self._release(order)  # a buy filled below its limit leaves quote locked
            order.status = "FILLED"
        else:
            order.status = "PARTIALLY_FILLED"

    @staticmethod
    def _order_json(order: SpotOrder) -> dict[str, Any]:
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": fmt8(order.price),
            "origQty": fmt8(order.orig_qty),
            "executedQty": fmt8(order.executed),
            "cummulativeQuoteQty": fmt8(order.cum_quote),
            "status": order.status,
            "timeInForce": "GTC",
            "type": order.type,
            "side": order.side,
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": order.time,
            "updateTime": order.update_time,
            "isWorking": True,
            "workingTime": order.time,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
