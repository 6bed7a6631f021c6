"""A loopback HTTP server that speaks Kraken's public spot REST wire format, for tests.

``GET /0/public/Time``, ``/0/public/Assets``, ``/0/public/AssetPairs``, ``/0/public/Ticker``
and ``/0/public/Depth`` answer in Kraken's shapes: ``{"error": [], "result": {...}}``, pairs
keyed by Kraken's ids (``XXBTZUSD``, ``XETHXXBT``), assets by theirs (``XXBT``, ``ZUSD``),
prices and volumes as strings, book levels as ``[price, volume, timestamp]``, taker fee tiers
in percent (``fees: [[0, 0.26], ...]``). An unknown pair answers Kraken's
``{"error": ["EQuery:Unknown asset pair"]}``.

What is a stand-in: the books are whatever the test sets with :meth:`KrakenLoopback.set_book`
(there is no matching engine); the ticker's best bid and ask are the book's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from support.loopback import LoopbackServer

#: Kraken taker fee of the first volume tier, percent (0.26 % in 2023).
TAKER_FEE_PCT: Final = Decimal("0.26")


@dataclass(frozen=True, slots=True)
class KrakenPair:
    pair_id: str
    altname: str
    wsname: str
    base: str  # Kraken asset id
    quote: str
    pair_decimals: int
    lot_decimals: int
    ordermin: str
    costmin: str


ASSETS: Final[dict[str, tuple[str, int]]] = {
    "XXBT": ("XBT", 10),
    "XETH": ("ETH", 10),
    "ZUSD": ("USD", 4),
    "USDT": ("USDT", 8),
    "USDC": ("USDC", 8),
}

PAIRS: Final[dict[str, KrakenPair]] = {
    p.pair_id: p
    for p in (
        KrakenPair("XXBTZUSD", "XBTUSD", "XBT/USD", "XXBT", "ZUSD", 1, 8, "0.0001", "0.5"),
        KrakenPair("XETHZUSD", "ETHUSD", "ETH/USD", "XETH", "ZUSD", 2, 8, "0.002", "0.5"),
        KrakenPair("XETHXXBT", "ETHXBT", "ETH/XBT", "XETH", "XXBT", 5, 8, "0.002", "0.00002"),
        KrakenPair("XBTUSDT", "XBTUSDT", "XBT/USDT", "XXBT", "USDT", 1, 8, "0.0001", "0.5"),
        KrakenPair("USDTZUSD", "USDTUSD", "USDT/USD", "USDT", "ZUSD", 5, 8, "5", "0.5"),
        KrakenPair("XBTUSDC", "XBTUSDC", "XBT/USDC", "XXBT", "USDC", 2, 8, "0.0001", "0.5"),
    )
}

Levels = list[tuple[Decimal, Decimal]]


class KrakenLoopback(LoopbackServer):
    """The Kraken public REST stand-in on 127.0.0.1 (``api_base_url=server.base_url``)."""

    def __init__(self, *, now_s: int = 1_696_075_200) -> None:
        super().__init__()
        self.now_s = now_s
        self._books: dict[str, tuple[Levels, Levels]] = {}
        self.paths: list[str] = []

    def set_book(self, pair_id: str, bids: Levels, asks: Levels) -> None:
        """The book of ``pair_id`` from now on: ``(price, volume)`` levels, best first."""
        if pair_id not in PAIRS:
            raise KeyError(pair_id)
        self._books[pair_id] = (list(bids), list(asks))

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/0/public/Time", self._time)
        app.router.add_get("/0/public/Assets", self._assets)
        app.router.add_get("/0/public/AssetPairs", self._asset_pairs)
        app.router.add_get("/0/public/Ticker", self._ticker)
        app.router.add_get("/0/public/Depth", self._depth)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.paths.append(request.path)
        response: web.StreamResponse = await handler(request)
        return response

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"error": [], "result": result})

    @staticmethod
    def _error(message: str) -> web.Response:
        return web.json_response({"error": [message]})

    async def _time(self, request: web.Request) -> web.Response:
        return self._ok({"unixtime": self.now_s, "rfc1123": "Sat, 30 Sep 23 12:00:00 +0000"})

    async def _assets(self, request: web.Request) -> web.Response:
        return self._ok(
            {
                asset_id: {
                    "aclass": "currency",
                    "altname": altname,
                    "decimals": decimals,
                    "display_decimals": min(decimals, 5),
                    "status": "enabled",
                }
                for asset_id, (altname, decimals) in ASSETS.items()
            }
        )

    def _pairs(self, request: web.Request) -> list[KrakenPair] | None:
        wanted = request.query.get("pair")
        if not wanted:
            return list(PAIRS.values())
        by_name = {name: p for p in PAIRS.values() for name in (p.pair_id, p.altname, p.wsname)}
        found = [by_name.get(name) for name in wanted.split(",")]
        if any(p is None for p in found):
            return None
        return [p for p in found if p is not None]

    async def _asset_pairs(self, request: web.Request) -> web.Response:
        pairs = self._pairs(request)
        if pairs is None:
            return self._error("EQuery:Unknown asset pair")
        tiers = [[0, float(TAKER_FEE_PCT)], [50000, 0.24], [100000, 0.22]]
        maker = [[0, 0.16], [50000, 0.14], [100000, 0.12]]
        return self._ok(
            {
                p.pair_id: {
                    "altname": p.altname,
                    "wsname": p.wsname,
                    "aclass_base": "currency",
                    "base": p.base,
                    "aclass_quote": "currency",
                    "quote": p.quote,
                    "lot": "unit",
                    "cost_decimals": 5,
                    "pair_decimals": p.pair_decimals,
                    "lot_decimals": p.lot_decimals,
                    "lot_multiplier": 1,
                    "leverage_buy": [],
                    "leverage_sell": [],
                    "fees": tiers,
                    "fees_maker": maker,
                    "fee_volume_currency": "ZUSD",
                    "margin_call": 80,
                    "margin_stop": 40,
                    "ordermin": p.ordermin,
                    "costmin": p.costmin,
                    "tick_size": str(Decimal(1).scaleb(-p.pair_decimals)),
                    "status": "online",
                }
                for p in pairs
            }
        )

    async def _ticker(self, request: web.Request) -> web.Response:
        pairs = self._pairs(request)
        if pairs is None:
            return self._error("EQuery:Unknown asset pair")
        result: dict[str, Any] = {}
        for p in pairs:
            book = self._books.get(p.pair_id)
            if book is None or not book[0] or not book[1]:
                continue
            (bid, bid_volume), (ask, ask_volume) = book[0][0], book[1][0]
            mid = (bid + ask) / 2
            result[p.pair_id] = {
                "a": [str(ask), "1", str(ask_volume)],
                "b": [str(bid), "1", str(bid_volume)],
                "c": [str(mid), "0.01"],
                "v": ["10", "100"],
                "p": [str(mid), str(mid)],
                "t": [100, 1000],
                "l": [str(bid), str(bid)],
                "h": [str(ask), str(ask)],
                "o": str(mid),
            }
        return self._ok(result)

    async def _depth(self, request: web.Request) -> web.Response:
        pairs = self._pairs(request)
        if pairs is None or len(pairs) != 1:
            return self._error("EQuery:Unknown asset pair")
        pair = pairs[0]
        count = int(request.query.get("count", "100"))
        bids, asks = self._books.get(pair.pair_id, ([], []))
        return self._ok(
            {
                pair.pair_id: {
                    "asks": [[str(p), str(v), self.now_s] for p, v in asks[:count]],
                    "bids": [[str(p), str(v), self.now_s] for p, v in bids[:count]],
                }
            }
        )
