"""One authenticated ccxt client (asyncio) for one exchange account.

The signature of every private request is computed by ccxt (Binance: HMAC-SHA256 of the query
under the API secret); the key and secret live only in the ccxt object and are masked in every
message (:class:`~sigmax.execution.exchange_errors.SecretMask`). ccxt's rate limiter is on
(``enableRateLimit``), and :func:`~sigmax.execution.exchange_errors.call_exchange` adds the
retry policy and ``Retry-After``.

* ``testnet``: ccxt's sandbox mode (Binance's spot testnet).
* ``api_base_url`` (``SIGMAX_EXCHANGE_URL``): every REST URL's scheme and host replaced, paths
  kept, as for the data feed (:mod:`sigmax.data.feeds.ccxt_feed`).
* ``clock``: "now" in ms since the epoch for the signed ``timestamp`` (default: the local wall
  clock, corrected by the exchange's server time once the markets load, which Binance calls
  ``adjustForTimeDifference``). ``resync`` measures that clock against the exchange again: a
  request refused as outside ``recvWindow`` (the local clock stepped since the last reading)
  is sent once more after it, before the refusal counts as a reason to pause.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import ccxt

from sigmax.config.settings import ExchangeName
from sigmax.data.feeds.ccxt_feed import SUPPORTED_EXCHANGES, _instrumented_class, _rebase
from sigmax.data.feeds.ccxt_feed import _validated_base_url as validated_base_url
from sigmax.data.feeds.retry import RetryPolicy
from sigmax.errors import ConfigError, ConfigProblem
from sigmax.execution.exchange_errors import BODY_ATTR, CLOCK_CODES, SecretMask, call_exchange
from sigmax.execution.venue_errors import VenueError

T = TypeVar("T")


class CcxtSession:
    """The ccxt exchange object with credentials, and the one way to call it."""

    def __init__(
        self,
        exchange_id: ExchangeName,
        *,
        api_key: str,
        api_secret: str,
        testnet: bool = False,
        api_base_url: str | None = None,
        timeout_s: float = 10,
        retry: RetryPolicy = RetryPolicy(),
        clock: Callable[[], int] | None = None,
        on_api_error: Callable[[str, str], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        problems: list[ConfigProblem] = []
        if exchange_id not in SUPPORTED_EXCHANGES:
            problems.append(
                ConfigProblem("EXCHANGE", f"must be one of {', '.join(SUPPORTED_EXCHANGES)}",
                              str(exchange_id))
            )  # fmt: skip
        for name, value in (("API_KEY", api_key), ("API_SECRET", api_secret)):
            if not value:
                problems.append(ConfigProblem(name, "is required for the exchange venue"))
        if testnet and api_base_url is not None:
            problems.append(
                ConfigProblem("SIGMAX_EXCHANGE_URL", "cannot be combined with TESTNET=true",
                              api_base_url)
            )  # fmt: skip
        if testnet and exchange_id != "binance":
            problems.append(
                ConfigProblem("TESTNET", "only binance offers a spot testnet in ccxt", exchange_id)
            )
        base_url = None
        if api_base_url is not None:
            try:
                base_url = validated_base_url(api_base_url)
            except ConfigError as error:
                problems.extend(error.problems)
        if problems:
            raise ConfigError(problems)
        self.exchange_id: str = exchange_id
        self.mask = SecretMask([api_key, api_secret])
        self.retry = retry
        self.on_api_error = on_api_error
        #: Measures the signing clock against the exchange again (see the module docstring).
        self.resync: Callable[[], Awaitable[None]] | None = None
        self._sleep = sleep
        options: dict[str, Any] = {}
        if exchange_id == "binance":
            options = {
                # Spot only; no margin or futures hosts, no private currency list (sapi).
                "fetchMarkets": {"types": ["spot"], "loadAllOptions": False},
                "fetchMargins": False,
                "fetchCurrencies": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
                "adjustForTimeDifference": clock is None,
                "newOrderRespType": {"market": "FULL", "limit": "FULL"},
            }
        cls = _keeping_body(_instrumented_class(exchange_id))
        if clock is not None:
            cls = _with_clock(cls, clock)
        self.exchange: Any = cls(
            {
                "apiKey": api_key,
                "secret": api_secret,
                "enableRateLimit": True,
                "timeout": int(timeout_s * 1000),
                "enableLastResponseHeaders": True,
                "options": options,
            }
        )
        if testnet:
            self.exchange.set_sandbox_mode(True)
        if base_url is not None:
            self.exchange.urls["api"] = _rebase(self.exchange.urls["api"], base_url)
        self._closed = False

    async def call(self, name: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one call with retries; failures as typed, masked :class:`VenueError`. A
        timestamp refused as outside ``recvWindow`` is sent once more after :attr:`resync`."""
        for attempt in (1, 2):
            try:
                return await call_exchange(
                    self.exchange_id,
                    name,
                    operation,
                    policy=self.retry,
                    mask=self.mask,
                    on_api_error=self.on_api_error,
                    sleep=self._sleep,
                )
            except VenueError as error:
                if attempt == 2 or not await self.clock_refused(error.code):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def clock_refused(self, code: int | None) -> bool:
        """When ``code`` says the timestamp was outside ``recvWindow`` and a resync is known:
        measure the clock again and answer True (the caller sends the request once more)."""
        if self.resync is None or code not in CLOCK_CODES:
            return False
        await self.resync()
        return True

    def report_error(self, call: str, error: BaseException) -> None:
        if self.on_api_error is not None:
            self.on_api_error(call, self.mask.summary(error))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.exchange.close()


def _keeping_body(base: type[Any]) -> type[Any]:
    """The exchange class that pins the exchange's error body on each error it raises, so
    the exchange's own code and message are known whatever class ccxt maps them to."""

    class KeepingBody(base):  # type: ignore[misc]
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
                return super().handle_errors(
                    code, reason, url, method, headers, body, response, request_headers,
                    request_body,
                )  # fmt: skip
            except ccxt.BaseError as error:
                if isinstance(body, str):
                    setattr(error, BODY_ATTR, body[:1000])
                raise

    KeepingBody.__name__ = KeepingBody.__qualname__ = base.__name__
    return KeepingBody


def _with_clock(base: type[Any], clock: Callable[[], int]) -> type[Any]:
    """The exchange class whose signed ``timestamp`` comes from ``clock``."""

    class Clocked(base):  # type: ignore[misc]
        def nonce(self) -> int:
            difference = int(self.options.get("timeDifference") or 0)
            return clock() - difference

    Clocked.__name__ = Clocked.__qualname__ = f"Clocked_{base.__name__}"
    return Clocked
