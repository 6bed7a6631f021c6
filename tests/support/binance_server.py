"""A loopback HTTP server that speaks Binance's spot REST wire format, for tests.

It lets the real ccxt client (and anything built on it) run end to end without the network:

* ``GET /api/v3/ping``, ``/api/v3/time``, ``/api/v3/exchangeInfo``, ``/api/v3/klines``,
  ``/api/v3/ticker/24hr``, ``/api/v3/ticker/bookTicker``, ``/api/v3/ticker/price`` and
  ``/api/v3/depth`` answer with Binance's JSON shapes: numbers as strings with 8 decimals,
  klines as 12-element arrays, Binance error bodies (``{"code": -1121, "msg": "Invalid
  symbol."}``) with HTTP 400.
* Candles are the REAL bundled Binance candles (``sigmax.data`` / ``bundled/candles``) for
  BTCUSDT, ETHUSDT, SOLUSDT and BNBUSDT at 1h, and BTCUSDT at 2h. Gaps stay gaps, as on Binance.
* The server has its own clock, ``now_ms``, set to a moment inside the data. ``/api/v3/time``
  returns it and no candle opening after it is served.

What is a stand-in (the bundled data has only open, high, low, close and base volume):

* The candle containing ``now`` (the still-forming one) is served as it looks right after it
  opened: open = high = low = close = its real open, volume 0. The server's last price is that
  open (or the last close if ``now`` falls in a gap).
* Kline quote volume is estimated as volume × (high + low + close) / 3; trade counts and taker
  volumes, which the data lacks, are 0.
* ``/ticker/24hr`` aggregates the hourly candles whose open time lies in (now − 24 h, now].
* The order book is synthetic and deterministic, built around the last price: best bid =
  last × (1 − 0.5 bp) rounded down to the tick, best ask = last × (1 + 0.5 bp) rounded up (at
  least one tick apart); further levels step away by max(tick, 1 bp of the price); the amount at
  level i (0-based) is (i + 1) × 1000 USDT / price, rounded down to the lot step.
* The exchange rules (tick and lot sizes, min notional) are those Binance applied to these pairs
  in 2023. BNBUSDT carries the legacy ``MIN_NOTIONAL`` filter, the others the newer
  ``NOTIONAL`` filter, so both formats are exercised.

Fault injection: :meth:`BinanceLoopback.fail_next` makes the next N requests to a path answer
429 (with ``Retry-After``), 418, 503, or drop the connection. Every request is recorded (path,
query, arrival time) so tests can count retries and check request spacing.
"""

from __future__ import annotations

import csv
import functools
import io
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum
from importlib import resources
from typing import Any, Final

from aiohttp import web

from support.loopback import LoopbackServer

HOUR_MS: Final = 3_600_000
DAY_MS: Final = 24 * HOUR_MS

#: Default server clock: 2023-09-30 12:30:00 UTC, half-way through the 12:00 hourly candle,
#: eleven and a half hours before the end of the bundled data.
DEFAULT_NOW_MS: Final = int(datetime(2023, 9, 30, 12, 30, tzinfo=UTC).timestamp() * 1000)

#: Spread and depth of the synthetic book, in fractions of the price (see the module docstring).
BOOK_HALF_SPREAD: Final = Decimal("0.00005")
BOOK_LEVEL_GAP: Final = Decimal("0.0001")
BOOK_LEVEL_NOTIONAL_USDT: Final = Decimal(1000)

INTERVAL_MS: Final[dict[str, int]] = {"1h": HOUR_MS, "2h": 2 * HOUR_MS}
_EIGHT_DP: Final = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """The exchangeInfo facts of one spot pair."""

    symbol: str
    base: str
    quote: str
    file_token: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    max_market_qty: Decimal
    min_notional: Decimal
    #: ``"NOTIONAL"`` (current Binance) or ``"MIN_NOTIONAL"`` (the legacy filter).
    notional_filter: str


def _usdt_pair(
    base: str, tick: str, step: str, max_qty: str, max_market_qty: str, notional_filter: str
) -> SymbolRules:
    return SymbolRules(
        symbol=f"{base}USDT",
        base=base,
        quote="USDT",
        file_token=f"{base}-USDT",
        tick_size=Decimal(tick),
        step_size=Decimal(step),
        min_qty=Decimal(step),
        max_qty=Decimal(max_qty),
        max_market_qty=Decimal(max_market_qty),
        min_notional=Decimal("5"),
        notional_filter=notional_filter,
    )


SYMBOLS: Final[dict[str, SymbolRules]] = {
    rules.symbol: rules
    for rules in (
        _usdt_pair("BTC", "0.01", "0.00001", "9000", "96.10366250", "NOTIONAL"),
        _usdt_pair("ETH", "0.01", "0.0001", "9000", "2162.43658750", "NOTIONAL"),
        _usdt_pair("SOL", "0.01", "0.001", "92141578", "24826.70370833", "NOTIONAL"),
        _usdt_pair("BNB", "0.1", "0.001", "900000", "3385.90620833", "MIN_NOTIONAL"),
    )
}


def fmt8(value: Decimal) -> str:
    """Binance's number format: a string with exactly 8 decimals."""
    return f"{value.quantize(_EIGHT_DP):f}"


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


@dataclass(frozen=True, slots=True)
class BundledCandle:
    """One row of a bundled candle file, values kept as exact decimals."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@functools.cache
def bundled_candles(symbol: str, interval: str) -> tuple[BundledCandle, ...]:
    """The bundled Binance candles of ``symbol`` (e.g. ``BTCUSDT``) at ``interval``.

    Returns an empty tuple when no file is bundled for that pair and interval. Parsed here with
    the csv module so the test stand-in does not depend on the loader under test.
    """
    rules = SYMBOLS.get(symbol)
    if rules is None or interval not in INTERVAL_MS:
        return ()
    resource = (
        resources.files("sigmax.data")
        .joinpath("bundled")
        .joinpath("candles")
        .joinpath(f"binance_{rules.file_token}_{interval}.csv")
    )
    if not resource.is_file():
        return ()
    reader = csv.reader(io.StringIO(resource.read_text(encoding="utf-8")))
    header = next(reader)
    if header != ["timestamp", "open", "high", "low", "close", "volume"]:
        raise ValueError(f"{resource}: unexpected header {header}")
    return tuple(
        BundledCandle(int(ts), Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v))
        for ts, o, h, lo, c, v in reader
    )


class FaultKind(Enum):
    """How an injected failure looks on the wire."""

    RATE_LIMITED = "429"  # HTTP 429 with Retry-After, Binance's -1003 body
    IP_BANNED = "418"  # HTTP 418 with Retry-After: Binance's auto-ban after ignoring 429s
    UNAVAILABLE = "503"  # HTTP 503 "Service Unavailable."
    DISCONNECT = "disconnect"  # the connection is closed without any response


@dataclass(slots=True)
class _Fault:
    kind: FaultKind
    remaining: int
    retry_after_s: int | None


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it; ``at_s`` is ``time.monotonic()`` on arrival."""

    path: str
    query: dict[str, str]
    at_s: float
    faulted: FaultKind | None


class _BinanceError(Exception):
    """A Binance error answer: HTTP status plus the ``{"code", "msg"}`` body."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def _invalid_symbol() -> _BinanceError:
    return _BinanceError(400, -1121, "Invalid symbol.")


def unused_tcp_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(slots=True)
class _State:
    now_ms: int
    faults: dict[str, list[_Fault]] = field(default_factory=lambda: defaultdict(list))
    requests: list[RecordedRequest] = field(default_factory=list)


class BinanceLoopback(LoopbackServer):
    """The Binance spot REST stand-in on 127.0.0.1 with an ephemeral port.

    Use ``async with BinanceLoopback() as server:`` and point clients at ``server.base_url``
    (for :class:`sigmax.data.feeds.CcxtFeed`: ``api_base_url=server.base_url``).
    """

    def __init__(self, *, now_ms: int = DEFAULT_NOW_MS) -> None:
        self._check_now(now_ms)
        super().__init__()
        self._state = _State(now_ms=now_ms)

    # -- lifecycle -----------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        routes = {
            "/api/v3/ping": self._ping,
            "/api/v3/time": self._time,
            "/api/v3/exchangeInfo": self._exchange_info,
            "/api/v3/klines": self._klines,
            "/api/v3/ticker/24hr": self._ticker_24hr,
            "/api/v3/ticker/bookTicker": self._book_ticker,
            "/api/v3/ticker/price": self._ticker_price,
            "/api/v3/depth": self._depth,
        }
        for path, handler in routes.items():
            app.router.add_get(path, handler)
        return app

    # -- control -------------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return self._state.now_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self._check_now(value)
        self._state.now_ms = value

    def fail_next(
        self,
        path: str,
        kind: FaultKind,
        count: int = 1,
        *,
        retry_after_s: int | None = None,
    ) -> None:
        """Make the next ``count`` requests to ``path`` (e.g. ``/api/v3/klines``) fail."""
        if count < 1:
            raise ValueError(f"count must be >= 1 (got {count})")
        if kind in (FaultKind.RATE_LIMITED, FaultKind.IP_BANNED) and retry_after_s is None:
            raise ValueError(f"{kind.name} needs retry_after_s: Binance always sends Retry-After")
        self._state.faults[path].append(_Fault(kind, count, retry_after_s))

    def pending_faults(self, path: str) -> int:
        """How many injected failures of ``path`` are still to come."""
        return sum(fault.remaining for fault in self._state.faults.get(path, ()))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, in arrival order (faulted ones included)."""
        return list(self._state.requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self._state.requests if r.path == path]

    def request_count(self, path: str) -> int:
        return len(self.requests_to(path))

    # -- market model (public so tests can derive expectations) --------------------------------

    def visible_candles(self, symbol: str, interval: str) -> list[BundledCandle]:
        """Candles that have opened by ``now``; the last may be still forming."""
        candles = bundled_candles(symbol, interval)
        now = self._state.now_ms
        return [c for c in candles if c.open_ms <= now]

    def last_price(self, symbol: str) -> Decimal:
        """The last traded price at ``now`` (see the module docstring for the stand-in rule)."""
        candles = self.visible_candles(symbol, "1h")
        if not candles:
            raise _invalid_symbol()
        latest = candles[-1]
        forming = latest.open_ms + HOUR_MS > self._state.now_ms
        return latest.open if forming else latest.close

    def book(
        self, symbol: str, levels: int
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The synthetic book: ``levels`` (price, amount) pairs a side, best first."""
        rules = SYMBOLS[symbol]
        price = self.last_price(symbol)
        best_bid = floor_to(price * (1 - BOOK_HALF_SPREAD), rules.tick_size)
        best_ask = ceil_to(price * (1 + BOOK_HALF_SPREAD), rules.tick_size)
        if best_ask <= best_bid:
            best_ask = best_bid + rules.tick_size
        gap = max(rules.tick_size, floor_to(price * BOOK_LEVEL_GAP, rules.tick_size))
        bids: list[tuple[Decimal, Decimal]] = []
        asks: list[tuple[Decimal, Decimal]] = []
        for i in range(levels):
            amount = max(
                rules.step_size,
                floor_to(BOOK_LEVEL_NOTIONAL_USDT * (i + 1) / price, rules.step_size),
            )
            bid = best_bid - gap * i
            if bid > 0:
                bids.append((bid, amount))
            asks.append((best_ask + gap * i, amount))
        return bids, asks

    # -- HTTP plumbing -------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        fault = self._take_fault(request.path)
        self._state.requests.append(
            RecordedRequest(
                request.path, dict(request.query), time.monotonic(), fault.kind if fault else None
            )
        )
        if fault is not None:
            return self._faulted(request, fault)
        try:
            response: web.StreamResponse = await handler(request)
        except _BinanceError as error:
            return web.json_response({"code": error.code, "msg": error.msg}, status=error.status)
        return response

    def _take_fault(self, path: str) -> _Fault | None:
        queue = self._state.faults.get(path)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining == 0:
            queue.pop(0)
        return fault

    def _faulted(self, request: web.Request, fault: _Fault) -> web.StreamResponse:
        if fault.kind is FaultKind.DISCONNECT:
            if request.transport is not None:
                request.transport.close()
            # Nothing reaches the client: the transport is gone before any byte is written.
            return web.Response(status=500)
        headers = {}
        if fault.retry_after_s is not None:
            headers["Retry-After"] = str(fault.retry_after_s)
        if fault.kind is FaultKind.RATE_LIMITED:
            body = {
                "code": -1003,
                "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
                "minute. Please use WebSocket Streams for live updates to avoid polling the API.",
            }
            return web.json_response(body, status=429, headers=headers)
        if fault.kind is FaultKind.IP_BANNED:
            until = self._state.now_ms + 1000 * (fault.retry_after_s or 0)
            body = {
                "code": -1003,
                "msg": f"Way too many requests; IP(127.0.0.1) banned until {until}. "
                "Please use WebSocket Streams for live updates to avoid bans.",
            }
            return web.json_response(body, status=418, headers=headers)
        return web.Response(status=503, text="Service Unavailable.", headers=headers)

    @staticmethod
    def _check_now(now_ms: int) -> None:
        candles = bundled_candles("BTCUSDT", "1h")
        first, last = candles[0].open_ms, candles[-1].open_ms + HOUR_MS
        if not first + DAY_MS <= now_ms <= last:
            raise ValueError(
                f"now_ms must lie within the bundled 1h data, one day after its start "
                f"({first + DAY_MS}..{last}); got {now_ms}"
            )

    # -- parameters ----------------------------------------------------------------------------

    @staticmethod
    def _symbol(request: web.Request) -> SymbolRules:
        symbol = request.query.get("symbol")
        if not symbol:
            raise _BinanceError(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        rules = SYMBOLS.get(symbol)
        if rules is None:
            raise _invalid_symbol()
        return rules

    @staticmethod
    def _int_param(
        request: web.Request, name: str, default: int | None, low: int, high: int
    ) -> int | None:
        text = request.query.get(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            raise _BinanceError(
                400,
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is "
                f"'^[0-9]{{1,20}}$'.",
            ) from None
        if not low <= value <= high:
            raise _BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.")
        return value

    # -- endpoints -----------------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self._state.now_ms})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        wanted = list(SYMBOLS)
        if "symbol" in request.query:
            wanted = [self._symbol(request).symbol]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": self._state.now_ms,
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                     "intervalNum": 1, "limit": 6000},
                    {"rateLimitType": "ORDERS", "interval": "SECOND",
                     "intervalNum": 10, "limit": 100},
                    {"rateLimitType": "ORDERS", "interval": "DAY",
                     "intervalNum": 1, "limit": 200000},
                    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE",
                     "intervalNum": 5, "limit": 61000},
                ],
                "exchangeFilters": [],
                "symbols": [self._symbol_info(SYMBOLS[s]) for s in wanted],
            }
        )  # fmt: skip

    @staticmethod
    def _symbol_info(rules: SymbolRules) -> dict[str, Any]:
        if rules.notional_filter == "NOTIONAL":
            notional: dict[str, Any] = {
                "filterType": "NOTIONAL",
                "minNotional": fmt8(rules.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            }
        else:
            notional = {
                "filterType": "MIN_NOTIONAL",
                "minNotional": fmt8(rules.min_notional),
                "applyToMarket": True,
                "avgPriceMins": 5,
            }
        return {
            "symbol": rules.symbol,
            "status": "TRADING",
            "baseAsset": rules.base,
            "baseAssetPrecision": 8,
            "quoteAsset": rules.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": [
                "LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT",
            ],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": True,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": fmt8(rules.tick_size),
                 "maxPrice": "1000000.00000000", "tickSize": fmt8(rules.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": fmt8(rules.min_qty),
                 "maxQty": fmt8(rules.max_qty), "stepSize": fmt8(rules.step_size)},
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000",
                 "maxQty": fmt8(rules.max_market_qty), "stepSize": "0.00000000"},
                {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10,
                 "maxTrailingAboveDelta": 2000, "minTrailingBelowDelta": 10,
                 "maxTrailingBelowDelta": 2000},
                {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5",
                 "bidMultiplierDown": "0.2", "askMultiplierUp": "5", "askMultiplierDown": "0.2",
                 "avgPriceMins": 5},
                notional,
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [],
            "permissionSets": [["SPOT", "MARGIN", "TRD_GRP_004", "TRD_GRP_005", "TRD_GRP_006"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }  # fmt: skip

    async def _klines(self, request: web.Request) -> web.Response:
        rules = self._symbol(request)
        interval = request.query.get("interval", "")
        interval_ms = INTERVAL_MS.get(interval)
        candles = bundled_candles(rules.symbol, interval) if interval_ms else ()
        if interval_ms is None or not candles:
            # Binance serves every interval; this stand-in only what is bundled (documented).
            raise _BinanceError(400, -1120, "Invalid interval.")
        limit = self._int_param(request, "limit", 500, 1, 1000)
        start = self._int_param(request, "startTime", None, 0, 2**62)
        end = self._int_param(request, "endTime", None, 0, 2**62)
        assert limit is not None
        now = self._state.now_ms
        window = [
            c
            for c in candles
            if c.open_ms <= now
            and (start is None or c.open_ms >= start)
            and (end is None or c.open_ms <= end)
        ]
        window = window[:limit] if start is not None else window[-limit:]
        return web.json_response([self._kline(c, interval_ms, now) for c in window])

    @staticmethod
    def _kline(candle: BundledCandle, interval_ms: int, now_ms: int) -> list[Any]:
        if candle.open_ms + interval_ms > now_ms:
            # Still forming: as it looks right after opening (see the module docstring).
            o = h = lo = c = candle.open
            volume = Decimal(0)
        else:
            o, h, lo, c, volume = candle.open, candle.high, candle.low, candle.close, candle.volume
        quote_volume = volume * (h + lo + c) / 3
        return [
            candle.open_ms,
            fmt8(o),
            fmt8(h),
            fmt8(lo),
            fmt8(c),
            fmt8(volume),
            candle.open_ms + interval_ms - 1,
            fmt8(quote_volume),
            0,
            "0.00000000",
            "0.00000000",
            "0",
        ]

    def _ticker_payload(self, rules: SymbolRules) -> dict[str, Any]:
        now = self._state.now_ms
        hours = [
            (c.open_ms, *self._kline(c, HOUR_MS, now)[1:6])
            for c in self.visible_candles(rules.symbol, "1h")
            if c.open_ms > now - DAY_MS
        ]
        earlier = [c for c in self.visible_candles(rules.symbol, "1h") if c.open_ms <= now - DAY_MS]
        opens = [Decimal(h[1]) for h in hours]
        highs = [Decimal(h[2]) for h in hours]
        lows = [Decimal(h[3]) for h in hours]
        closes = [Decimal(h[4]) for h in hours]
        volumes = [Decimal(h[5]) for h in hours]
        volume = sum(volumes, Decimal(0))
        quote_volume = sum(
            (
                v * (hi + lo + cl) / 3
                for v, hi, lo, cl in zip(volumes, highs, lows, closes, strict=True)
            ),
            Decimal(0),
        )
        last = self.last_price(rules.symbol)
        open_price = opens[0]
        bids, asks = self.book(rules.symbol, 1)
        change = last - open_price
        return {
            "symbol": rules.symbol,
            "priceChange": fmt8(change),
            "priceChangePercent": f"{(change / open_price * 100).quantize(Decimal('0.001')):f}",
            "weightedAvgPrice": fmt8(quote_volume / volume if volume else last),
            "prevClosePrice": fmt8(earlier[-1].close if earlier else open_price),
            "lastPrice": fmt8(last),
            "lastQty": "0.00000000",
            "bidPrice": fmt8(bids[0][0]),
            "bidQty": fmt8(bids[0][1]),
            "askPrice": fmt8(asks[0][0]),
            "askQty": fmt8(asks[0][1]),
            "openPrice": fmt8(open_price),
            "highPrice": fmt8(max(highs)),
            "lowPrice": fmt8(min(lows)),
            "volume": fmt8(volume),
            "quoteVolume": fmt8(quote_volume),
            "openTime": now - DAY_MS,
            "closeTime": now,
            "firstId": -1,
            "lastId": -1,
            "count": 0,
        }

    async def _ticker_24hr(self, request: web.Request) -> web.Response:
        if "symbol" in request.query:
            return web.json_response(self._ticker_payload(self._symbol(request)))
        return web.json_response([self._ticker_payload(r) for r in SYMBOLS.values()])

    async def _book_ticker(self, request: web.Request) -> web.Response:
        def entry(rules: SymbolRules) -> dict[str, str]:
            bids, asks = self.book(rules.symbol, 1)
            return {
                "symbol": rules.symbol,
                "bidPrice": fmt8(bids[0][0]),
                "bidQty": fmt8(bids[0][1]),
                "askPrice": fmt8(asks[0][0]),
                "askQty": fmt8(asks[0][1]),
            }

        if "symbol" in request.query:
            return web.json_response(entry(self._symbol(request)))
        return web.json_response([entry(r) for r in SYMBOLS.values()])

    async def _ticker_price(self, request: web.Request) -> web.Response:
        def entry(rules: SymbolRules) -> dict[str, str]:
            return {"symbol": rules.symbol, "price": fmt8(self.last_price(rules.symbol))}

        if "symbol" in request.query:
            return web.json_response(entry(self._symbol(request)))
        return web.json_response([entry(r) for r in SYMBOLS.values()])

    async def _depth(self, request: web.Request) -> web.Response:
        rules = self._symbol(request)
        limit = self._int_param(request, "limit", 100, 1, 5000)
        assert limit is not None
        bids, asks = self.book(rules.symbol, limit)
        return web.json_response(
            {
                # Deterministic and increasing with the server clock, like Binance's sequence.
                "lastUpdateId": self._state.now_ms // 100,
                "bids": [[fmt8(p), fmt8(q)] for p, q in bids],
                "asks": [[fmt8(p), fmt8(q)] for p, q in asks],
            }
        )
