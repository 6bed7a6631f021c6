"""Live market data from Binance, Coinbase or Kraken through ccxt's asyncio client.

Only public endpoints are used: no API keys are configured, so none can leak into a log or an
error message. Every call goes through ccxt's own rate limiter (``enableRateLimit``) and through
:func:`~sigmax.data.feeds.retry.retry_async`: transient failures (network errors, timeouts,
HTTP 5xx, 429/418 rate limiting) are retried with jittered backoff, honouring ``Retry-After``;
anything else fails at once with a :class:`~sigmax.data.feeds.errors.FeedRequestError`. When the
retries run out, :class:`~sigmax.data.feeds.errors.FeedUnavailableError` (an
:class:`~sigmax.errors.ExchangeUnavailableError`) names the exchange, the URL, the attempts and
the last error. A failed call never produces empty or made-up data.

``api_base_url`` points the client at a server of our choice (a loopback test server, a
recording proxy): it replaces the scheme and host of *every* REST URL the ccxt exchange class
knows and keeps each URL's path, so no request can slip through to the real exchange. What to
pass, per exchange:

* binance: the origin, e.g. ``http://127.0.0.1:8080``; spot calls then go to
  ``http://127.0.0.1:8080/api/v3/...`` exactly as to ``https://api.binance.com/api/v3/...``.
* coinbase: the origin; calls go to ``<origin>/api/v3/brokerage/...`` and ``<origin>/v2/...``.
* kraken: the origin; calls go to ``<origin>/0/public/...``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar, get_args
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxt_async
import numpy as np

from sigmax.data.feeds.errors import FeedDataError, FeedRequestError, FeedUnavailableError
from sigmax.data.feeds.retry import (
    RetriesExhaustedError,
    RetryPolicy,
    parse_retry_after,
    retry_async,
)
from sigmax.domain.candles import CandleSeries, Timeframe
from sigmax.domain.instruments import Symbol
from sigmax.domain.market import MarketSpec, OrderBook, OrderBookLevel, Ticker
from sigmax.errors import ConfigError, ConfigProblem, InputError

T = TypeVar("T")

ExchangeId = Literal["binance", "coinbase", "kraken"]
SUPPORTED_EXCHANGES: Final[tuple[str, ...]] = get_args(ExchangeId)

#: Attribute names under which the instrumented client pins request facts on a ccxt error.
_URL_ATTR: Final = "_sigmax_url"
_RETRY_AFTER_ATTR: Final = "_sigmax_retry_after_s"

#: Longest error text copied into a message: exchange error pages can be whole HTML documents.
_MAX_DETAIL_CHARS: Final = 300


def _instrumented_class(exchange_id: str) -> type[Any]:
    """The ccxt exchange class, extended to pin the request URL and ``Retry-After`` on errors.

    ccxt keeps the last response headers in a shared attribute, which concurrent requests
    overwrite. Pinning the facts on the exception object where it is raised is race-free.
    """
    base: type[Any] = getattr(ccxt_async, exchange_id)

    class Instrumented(base):  # type: ignore[misc]
        async def fetch(
            self,
            url: str,
            method: str = "GET",
            headers: Any = None,
            body: Any = None,
        ) -> Any:
            try:
                return await super().fetch(url, method, headers, body)
            except ccxt.BaseError as error:
                setattr(error, _URL_ATTR, f"{method} {url}")
                raise

        def handle_errors(
            self,
            code: int,
            reason: str,
            url: str,
            method: str,
            headers: Any,
            body: str,
            response: Any,
            request_headers: Any,
            request_body: Any,
        ) -> Any:
            try:
                result = super().handle_errors(
                    code,
                    reason,
                    url,
                    method,
                    headers,
                    body,
                    response,
                    request_headers,
                    request_body,
                )
                # ccxt's fetch() runs this check right after handle_errors(); running it here
                # first (it is idempotent) lets the HTTP-status error carry the headers too.
                self.handle_http_status_code(code, reason, url, method, body)
            except ccxt.BaseError as error:
                setattr(error, _RETRY_AFTER_ATTR, _retry_after_header(headers))
                raise
            return result

    Instrumented.__name__ = Instrumented.__qualname__ = f"Instrumented_{exchange_id}"
    return Instrumented


def _retry_after_header(headers: Any) -> float | None:
    if not isinstance(headers, Mapping):
        return None
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == "retry-after" and isinstance(value, str):
            return parse_retry_after(value)
    return None


def _is_transient(error: BaseException) -> bool:
    """ccxt's OperationFailed family means "try again later"; nonce and cancel races do not."""
    return isinstance(error, ccxt.OperationFailed) and not isinstance(
        error, ccxt.InvalidNonce | ccxt.CancelPending
    )


def _retry_after_of(error: BaseException) -> float | None:
    value = getattr(error, _RETRY_AFTER_ATTR, None)
    return value if isinstance(value, float) else None


def _url_of(error: BaseException) -> str | None:
    value = getattr(error, _URL_ATTR, None)
    return value if isinstance(value, str) else None


def _summary(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[:_MAX_DETAIL_CHARS] + "..."
    return f"{type(error).__name__}: {text}"


def _rebase(urls: Any, base: str) -> Any:
    """Replace scheme and host of every http(s) URL in ccxt's ``urls['api']`` tree by ``base``."""
    if isinstance(urls, str):
        if not urls.startswith(("http://", "https://")):
            return urls
        return base + urlsplit(urls).path.rstrip("/")
    if isinstance(urls, dict):
        return {key: _rebase(value, base) for key, value in urls.items()}
    return urls


def _validated_base_url(api_base_url: str) -> str:
    parts = urlsplit(api_base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            [
                ConfigProblem(
                    "api_base_url",
                    "must be an http(s) origin such as http://127.0.0.1:8080 "
                    "(an optional path prefix is kept; no query or fragment)",
                    api_base_url,
                )
            ]
        )
    return api_base_url.rstrip("/")


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _decimal(value: Any) -> Decimal | None:
    """ccxt reports limits as floats; ``repr`` gives the shortest exact decimal text."""
    if value is None:
        return None
    try:
        number = Decimal(repr(float(value)))
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


class CcxtFeed:
    """Candles, tickers, order books and market rules from one exchange, public data only.

    Use it as an async context manager (or call :meth:`close`) so the HTTP session is released.

    ``clock`` returns "now" in ms since the epoch. It decides which candles are closed (a candle
    is closed when ``open_time + timeframe <= now``) and stamps ``received_ms``. Without it the
    exchange's own server time is asked before each candle request (one light request), so a
    skewed local clock can never let a still-forming candle through; ``received_ms`` then uses
    the local wall clock.
    """

    def __init__(
        self,
        exchange_id: ExchangeId,
        *,
        testnet: bool = False,
        api_base_url: str | None = None,
        timeout_s: float = 10,
        retry: RetryPolicy = RetryPolicy(),
        clock: Callable[[], int] | None = None,
    ) -> None:
        problems: list[ConfigProblem] = []
        if exchange_id not in SUPPORTED_EXCHANGES:
            problems.append(
                ConfigProblem(
                    "exchange", f"must be one of {', '.join(SUPPORTED_EXCHANGES)}", exchange_id
                )
            )
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            problems.append(ConfigProblem("timeout_s", "must be a number > 0", str(timeout_s)))
        if testnet and exchange_id != "binance":
            problems.append(
                ConfigProblem("testnet", "only binance offers a public testnet", exchange_id)
            )
        if testnet and api_base_url is not None:
            problems.append(
                ConfigProblem("api_base_url", "cannot be combined with testnet", api_base_url)
            )
        base_url = None
        if api_base_url is not None:
            try:
                base_url = _validated_base_url(api_base_url)
            except ConfigError as error:
                problems.extend(error.problems)
        if problems:
            raise ConfigError(problems)

        self.exchange_id: str = exchange_id
        self._retry = retry
        self._clock = clock
        self._rng = random.Random()
        #: Told the kind of every failed request, retried or not (the error's class name, never
        #: its text: ccxt messages carry URLs), so the safety enforcer can count API errors.
        self.on_failure: Callable[[str], None] | None = None
        self._exchange: Any = _instrumented_class(exchange_id)(
            {
                "enableRateLimit": True,
                "timeout": int(timeout_s * 1000),
                "enableLastResponseHeaders": True,
            }
        )
        if exchange_id == "binance":
            # Spot only: do not touch the futures/margin hosts (and their extra weight).
            self._exchange.options["fetchMarkets"] = {"types": ["spot"], "loadAllOptions": False}
            self._exchange.options["fetchMargins"] = False
        if testnet:
            self._exchange.set_sandbox_mode(True)
        if base_url is not None:
            self._exchange.urls["api"] = _rebase(self._exchange.urls["api"], base_url)
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the HTTP session. Safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._exchange.close()

    # -- public API ----------------------------------------------------------------------------

    async def load_markets(self) -> None:
        """Load the market list once (later calls reuse it); needed before any symbol lookup."""
        await self._call("load_markets", None, self._exchange.load_markets)

    async def server_time_ms(self) -> int:
        """The exchange's clock, in ms since the epoch."""
        value = await self._call("fetch_time", None, self._exchange.fetch_time)
        if not isinstance(value, int) or value <= 0:
            raise FeedDataError(self.exchange_id, "fetch_time", None, f"server time {value!r}")
        return value

    async def market_spec(self, symbol: Symbol) -> MarketSpec:
        """Tick size, amount step and min/max limits of ``symbol`` as the exchange publishes."""
        market = await self._market(symbol, "market_spec")
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        amount_limits = limits.get("amount") or {}
        price_limits = limits.get("price") or {}
        cost_limits = limits.get("cost") or {}
        try:
            return MarketSpec(
                exchange=self.exchange_id,
                symbol=symbol,
                active=bool(market.get("active", True)),
                price_tick=self._increment(precision.get("price")),
                amount_step=self._increment(precision.get("amount")),
                min_amount=_decimal(amount_limits.get("min")),
                max_amount=_decimal(amount_limits.get("max")),
                min_price=_decimal(price_limits.get("min")),
                max_price=_decimal(price_limits.get("max")),
                min_notional=_decimal(cost_limits.get("min")),
                max_notional=_decimal(cost_limits.get("max")),
            )
        except ValueError as error:
            raise FeedDataError(self.exchange_id, "market", str(symbol), str(error)) from error

    async def fetch_ohlcv(
        self,
        symbol: Symbol,
        timeframe: Timeframe,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> CandleSeries:
        """Closed candles of ``symbol``, oldest first; the still-forming candle is never included.

        With ``since_ms`` the candles start at the first open time >= ``since_ms`` and at most
        ``limit`` are returned; without it the latest ``limit`` closed candles are returned.
        Missing candles (exchange maintenance) stay missing. One request is made, so the count is
        also capped by the exchange's page size (Binance: 1000; default 500 when ``limit`` is
        None). An empty series means the exchange has no closed candle in that range.
        """
        if limit is not None and limit < 1:
            raise InputError(f"limit must be >= 1 (got {limit})")
        if since_ms is not None and since_ms < 0:
            raise InputError(f"since_ms must be >= 0 (got {since_ms})")
        await self._market(symbol, "fetch_ohlcv")
        if timeframe.value not in (self._exchange.timeframes or {}):
            offered = ", ".join(str(tf) for tf in self._exchange.timeframes or {})
            raise InputError(
                f"{self.exchange_id} has no {timeframe.value} candles (offers: {offered})"
            )
        # "Now" is taken BEFORE the candles are requested: a candle counted as closed was already
        # closed when the exchange answered, so its values are final.
        now_ms = await self._now_ms()
        # One candle more than asked, because the forming one is usually among them and dropped.
        request_limit = None if limit is None else limit + 1

        async def request() -> Any:
            return await self._exchange.fetch_ohlcv(
                str(symbol), timeframe.value, since_ms, request_limit
            )

        rows = await self._call("fetch_ohlcv", symbol, request)
        closed = self._closed_rows(rows, symbol, timeframe, now_ms)
        if limit is not None:
            closed = closed[:limit] if since_ms is not None else closed[-limit:]
        return self._series(closed, symbol, timeframe)

    async def fetch_ticker(self, symbol: Symbol) -> Ticker:
        """Last price, best bid/ask and 24-hour statistics of ``symbol``."""
        await self._market(symbol, "fetch_ticker")

        async def request() -> Any:
            return await self._exchange.fetch_ticker(str(symbol))

        raw = await self._call("fetch_ticker", symbol, request)
        received_ms = self._received_ms()
        try:
            last = _optional_float(raw.get("last"))
            if last is None:
                raise ValueError("the ticker has no last price")
            return Ticker(
                exchange=self.exchange_id,
                symbol=symbol,
                last=last,
                bid=_optional_float(raw.get("bid")),
                ask=_optional_float(raw.get("ask")),
                high_24h=_optional_float(raw.get("high")),
                low_24h=_optional_float(raw.get("low")),
                base_volume_24h=_optional_float(raw.get("baseVolume")),
                quote_volume_24h=_optional_float(raw.get("quoteVolume")),
                exchange_time_ms=_optional_int(raw.get("timestamp")),
                received_ms=received_ms,
            )
        except (TypeError, ValueError) as error:
            raise FeedDataError(
                self.exchange_id, "fetch_ticker", str(symbol), str(error)
            ) from error

    async def fetch_order_book(self, symbol: Symbol, limit: int | None = None) -> OrderBook:
        """A snapshot of ``symbol``'s book with up to ``limit`` levels a side (exchange default)."""
        if limit is not None and limit < 1:
            raise InputError(f"limit must be >= 1 (got {limit})")
        await self._market(symbol, "fetch_order_book")

        async def request() -> Any:
            return await self._exchange.fetch_order_book(str(symbol), limit)

        raw = await self._call("fetch_order_book", symbol, request)
        received_ms = self._received_ms()
        try:
            bids = tuple(OrderBookLevel(float(p), float(a)) for p, a, *_ in raw.get("bids") or [])
            asks = tuple(OrderBookLevel(float(p), float(a)) for p, a, *_ in raw.get("asks") or [])
            if limit is not None:
                bids, asks = bids[:limit], asks[:limit]
            return OrderBook(
                exchange=self.exchange_id,
                symbol=symbol,
                bids=bids,
                asks=asks,
                sequence=_optional_int(raw.get("nonce")),
                exchange_time_ms=_optional_int(raw.get("timestamp")),
                received_ms=received_ms,
            )
        except (TypeError, ValueError) as error:
            raise FeedDataError(
                self.exchange_id, "fetch_order_book", str(symbol), str(error)
            ) from error

    # -- internals -----------------------------------------------------------------------------

    def _failed(self, error: BaseException) -> None:
        if self.on_failure is not None:
            self.on_failure(type(error).__name__)

    async def _call(
        self, endpoint: str, symbol: Symbol | None, operation: Callable[[], Awaitable[T]]
    ) -> T:
        """Run one ccxt call under the retry policy and translate its failures."""
        symbol_text = str(symbol) if symbol is not None else None
        try:
            return await retry_async(
                operation,
                policy=self._retry,
                is_transient=_is_transient,
                retry_after_s=_retry_after_of,
                describe=f"{self.exchange_id} {endpoint}" + (f" {symbol}" if symbol else ""),
                rng=self._rng,
                on_failure=self._failed,
            )
        except RetriesExhaustedError as exhausted:
            raise FeedUnavailableError(
                self.exchange_id,
                endpoint,
                symbol_text,
                _url_of(exhausted.last_error) or self._api_root(),
                exhausted.attempts,
                exhausted.reason,
                _summary(exhausted.last_error),
            ) from exhausted.last_error
        except ccxt.BaseError as error:
            raise FeedRequestError(
                self.exchange_id, endpoint, symbol_text, _url_of(error), _summary(error)
            ) from error

    async def _market(self, symbol: Symbol, endpoint: str) -> Any:
        """ccxt's market entry for ``symbol``; an unknown symbol fails before any data request."""
        await self.load_markets()

        async def lookup() -> Any:
            return self._exchange.market(str(symbol))

        return await self._call(endpoint, symbol, lookup)

    def _api_root(self) -> str:
        """Where requests go, for messages when no request URL was captured."""
        api = self._exchange.urls.get("api")
        if isinstance(api, dict):
            for key in ("public", "rest"):
                if isinstance(api.get(key), str):
                    return str(api[key])
        return str(api)

    async def _now_ms(self) -> int:
        if self._clock is not None:
            return self._clock()
        return await self.server_time_ms()

    def _received_ms(self) -> int:
        return self._clock() if self._clock is not None else _wall_clock_ms()

    def _closed_rows(
        self, rows: Any, symbol: Symbol, timeframe: Timeframe, now_ms: int
    ) -> list[tuple[int, float, float, float, float, float]]:
        """Validate ccxt's OHLCV rows and keep the closed ones."""

        def bad(rule: str) -> FeedDataError:
            return FeedDataError(self.exchange_id, "fetch_ohlcv", str(symbol), rule)

        if not isinstance(rows, list):
            raise bad(f"expected a list of candles, got {type(rows).__name__}")
        closed: list[tuple[int, float, float, float, float, float]] = []
        previous_ms: int | None = None
        for index, row in enumerate(rows):
            if not isinstance(row, list | tuple) or len(row) < 6 or any(v is None for v in row[:6]):
                raise bad(f"candle {index} is not [time, open, high, low, close, volume]: {row!r}")
            try:
                open_ms = int(row[0])
                o, h, low, c, v = (float(x) for x in row[1:6])
            except (TypeError, ValueError):
                raise bad(f"candle {index} has a non-numeric field: {row!r}") from None
            if previous_ms is not None and open_ms <= previous_ms:
                raise bad(f"candle {index} open time {open_ms} does not follow {previous_ms}")
            previous_ms = open_ms
            if not all(math.isfinite(x) for x in (o, h, low, c, v)):
                raise bad(f"candle {index} at {open_ms} has a non-finite value")
            if min(o, h, low, c) <= 0 or v < 0:
                raise bad(f"candle {index} at {open_ms} has a price <= 0 or a negative volume")
            if not (low <= min(o, c) and max(o, c) <= h):
                raise bad(f"candle {index} at {open_ms} breaks low <= open, close <= high")
            if open_ms + timeframe.ms <= now_ms:
                closed.append((open_ms, o, h, low, c, v))
        return closed

    def _series(
        self,
        rows: list[tuple[int, float, float, float, float, float]],
        symbol: Symbol,
        timeframe: Timeframe,
    ) -> CandleSeries:
        columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), (), ()]
        return CandleSeries(
            exchange=self.exchange_id,
            symbol=symbol,
            timeframe=timeframe,
            timestamp=np.asarray(columns[0], dtype=np.int64),
            open=np.asarray(columns[1], dtype=np.float64),
            high=np.asarray(columns[2], dtype=np.float64),
            low=np.asarray(columns[3], dtype=np.float64),
            close=np.asarray(columns[4], dtype=np.float64),
            volume=np.asarray(columns[5], dtype=np.float64),
        )

    def _increment(self, precision: Any) -> Decimal | None:
        """A price/amount increment from ccxt's precision, whatever its precision mode."""
        if precision is None:
            return None
        mode = self._exchange.precisionMode
        if mode == ccxt.TICK_SIZE:
            return _decimal(precision)
        if mode == ccxt.DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(precision))
        # SIGNIFICANT_DIGITS has no fixed increment; say "not published" rather than guess.
        return None
