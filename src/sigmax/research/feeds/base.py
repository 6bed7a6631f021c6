"""What every live feed shares: typed errors, rate limit, time limit, cache, freshness.

A feed's :meth:`HttpFeed.update` is called ahead of decisions (a replay's load, a live run's
refresh between candles), never by a decision. It fetches at most once per
``min_refresh_ms`` (a failed try counts, so a rate limit is not hammered; an HTTP 429 waits for
its ``Retry-After``), reads the answer from the cache when a fetch of the same request is still
fresh there, and reports each failure through ``on_error``. :meth:`HttpFeed.problem` tells a
decision whether the feed's items can be trusted at that moment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx

from sigmax.domain.candles import ms_to_iso
from sigmax.errors import SigmaxError
from sigmax.research.cache import CacheError, ResearchCache
from sigmax.research.items import ResearchItem, normalise_symbols

log = logging.getLogger(__name__)

USER_AGENT: Final = "sigmax-research/0.1 (+https://github.com/sigmax)"
#: Without a Retry-After, a 429 waits this long before the next try.
DEFAULT_RETRY_AFTER_MS: Final = 60_000


class FeedError(SigmaxError):
    """A feed request failed: ``code`` is ``timeout``, ``network``, ``http``, ``rate_limited``,
    ``auth``, ``format`` or ``cache``; the message never holds a token."""

    def __init__(self, message: str, *, code: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class FeedFailure:
    """One failed fetch, for the safety enforcer's API-error-burst trigger."""

    source: str
    at_ms: int
    error: FeedError

    @property
    def message(self) -> str:
        return str(self.error)


ErrorHook = Callable[[FeedFailure], None]


class Feed(ABC):
    """A research feed: where items come from, and whether they can be read at a moment."""

    kind: str

    @abstractmethod
    def problem(self, symbol: str, decision_ms: int) -> str | None:
        """Why this feed's items cannot be read for ``symbol`` at ``decision_ms``, or None."""

    @abstractmethod
    async def update(self, symbols: Iterable[str], now_ms: int) -> tuple[ResearchItem, ...]:
        """Fetch if due; the items fetched (empty when nothing was due or it failed)."""


class UnconfiguredFeed(Feed):
    """A feed the configuration does not enable."""

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason

    def problem(self, symbol: str, decision_ms: int) -> str | None:
        return self.reason

    async def update(self, symbols: Iterable[str], now_ms: int) -> tuple[ResearchItem, ...]:
        return ()


class HttpFeed(Feed):
    """A feed over HTTP JSON or XML. Subclasses implement :meth:`fetch`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        min_refresh_ms: int,
        max_age_ms: int,
        cache: ResearchCache | None,
        on_error: ErrorHook | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.min_refresh_ms = min_refresh_ms
        self.max_age_ms = max_age_ms
        self.cache = cache
        self.on_error = on_error
        self._secrets = tuple(s for s in secrets if s)
        self.first_ok_ms: int | None = None
        self.last_ok_ms: int | None = None
        self.last_attempt_ms: int | None = None
        self.retry_at_ms: int | None = None
        self.failure: FeedFailure | None = None
        self.requests = 0

    # -- state ----------------------------------------------------------------------------------

    def problem(self, symbol: str, decision_ms: int) -> str | None:
        if self.failure is not None:
            return f"the last {self.kind} fetch failed: {self.failure.message}"
        if self.first_ok_ms is None or self.last_ok_ms is None:
            return f"nothing fetched from {self.kind} yet"
        if decision_ms < self.first_ok_ms:
            return (
                f"{self.kind} was first read at {ms_to_iso(self.first_ok_ms)}, after this "
                "moment; replay a recorded research file (--research) for the past"
            )
        if decision_ms - self.last_ok_ms > self.max_age_ms:
            return (
                f"the last {self.kind} fetch, at {ms_to_iso(self.last_ok_ms)}, is more than "
                f"{self.max_age_ms / 60_000:g} min old"
            )
        return None

    async def update(self, symbols: Iterable[str], now_ms: int) -> tuple[ResearchItem, ...]:
        if self.last_attempt_ms is not None and now_ms - self.last_attempt_ms < self.min_refresh_ms:
            return ()
        if self.retry_at_ms is not None and now_ms < self.retry_at_ms:
            return ()
        self.last_attempt_ms = now_ms
        try:
            items = await self.fetch(normalise_symbols(symbols), now_ms)
        except FeedError as error:
            failure = FeedFailure(self.kind, now_ms, error)
            self.failure = failure
            if error.code == "rate_limited" and self.retry_at_ms is None:
                self.retry_at_ms = now_ms + DEFAULT_RETRY_AFTER_MS
            log.warning("Research feed %s failed: %s", self.kind, failure.message)
            if self.on_error is not None:
                self.on_error(failure)
            return ()
        self.failure = None
        self.retry_at_ms = None
        self.first_ok_ms = now_ms if self.first_ok_ms is None else self.first_ok_ms
        self.last_ok_ms = now_ms
        return items

    @abstractmethod
    async def fetch(self, bases: tuple[str, ...], now_ms: int) -> tuple[ResearchItem, ...]:
        """One fetch; raises :class:`FeedError`."""

    # -- HTTP -----------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        secret_params: Mapping[str, str] | None = None,
        now_ms: int,
    ) -> bytes:
        """The body of ``GET base_url + path``: from the cache when fresh there, else fetched.

        ``secret_params`` travel with the request but never enter the cache key or a message.
        """
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        public = dict(params or {})
        key = (
            "feed:"
            + hashlib.sha256(f"{self.kind}|{url}|{sorted(public.items())}".encode()).hexdigest()
        )
        if self.cache is not None:
            try:
                cached = await self.cache.get(key)
            except CacheError as error:
                raise FeedError(str(error), code="cache") from None
            if cached is not None:
                return cached
        body = await self._request(url, {**public, **(secret_params or {})}, headers, now_ms)
        if self.cache is not None and self.min_refresh_ms > 0:
            try:
                await self.cache.set(key, body, self.min_refresh_ms / 1000)
            except CacheError as error:
                raise FeedError(str(error), code="cache") from None
        return body

    async def _request(
        self,
        url: str,
        params: Mapping[str, str],
        headers: Mapping[str, str] | None,
        now_ms: int,
    ) -> bytes:
        shown = self.scrub(url)
        self.requests += 1
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout_s,
                headers={"User-Agent": USER_AGENT, **(headers or {})},
                follow_redirects=True,
            ) as http:
                response = await http.get(url, params=params)
        except httpx.TimeoutException:
            raise FeedError(
                f"{self.kind} ({shown}) did not answer within {self.timeout_s:g} s", code="timeout"
            ) from None
        except (httpx.HTTPError, OSError) as error:
            # ``from None``: the chained httpx error holds the request and its token.
            raise FeedError(
                self.scrub(f"{self.kind} ({shown}) could not be reached: {type(error).__name__}"),
                code="network",
            ) from None
        status = response.status_code
        if status == httpx.codes.TOO_MANY_REQUESTS:
            self.retry_at_ms = now_ms + _retry_after_ms(response.headers.get("Retry-After"))
            raise FeedError(
                f"{self.kind} ({shown}) answered HTTP 429 (rate limited); next try after "
                f"{ms_to_iso(self.retry_at_ms)}",
                code="rate_limited",
                http_status=status,
            )
        if status in (401, 403):
            raise FeedError(
                f"{self.kind} ({shown}) refused the credentials (HTTP {status})",
                code="auth",
                http_status=status,
            )
        if status != httpx.codes.OK:
            raise FeedError(
                f"{self.kind} ({shown}) answered HTTP {status}", code="http", http_status=status
            )
        return response.content

    def malformed(self, what: str) -> FeedError:
        return FeedError(f"{self.kind}: the answer is not in its format ({what})", code="format")

    def json_object(self, body: bytes, what: str) -> dict[str, Any]:
        try:
            document = json.loads(body)
        except ValueError:
            raise self.malformed(f"{what} is not JSON") from None
        if not isinstance(document, dict):
            raise self.malformed(f"{what} is not a JSON object")
        return document


def _retry_after_ms(value: str | None) -> int:
    if value is None:
        return DEFAULT_RETRY_AFTER_MS
    try:
        return max(0, round(float(value) * 1000))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_MS
    return max(0, round((moment.timestamp() - time.time()) * 1000))


#: Words that tie a text to a base asset (lower case, matched as whole words).
ASSET_TERMS: Final[Mapping[str, tuple[str, ...]]] = {
    "BTC": ("bitcoin", "btc"),
    "ETH": ("ethereum", "eth", "ether"),
    "SOL": ("solana", "sol"),
    "BNB": ("bnb", "binance coin"),
    "XRP": ("xrp", "ripple"),
    "ADA": ("cardano", "ada"),
    "DOGE": ("dogecoin", "doge"),
}
#: Words that make a text about the whole crypto market.
MARKET_TERMS: Final = ("crypto", "cryptocurrency", "cryptocurrencies", "digital asset", "altcoin")


def symbols_in(text: str, bases: Iterable[str]) -> tuple[str, ...] | None:
    """The bases ``text`` names; ``()`` when it names none but is about the crypto market;
    None when it is about neither (the item is not kept)."""
    lowered = f" {re.sub(r'[^a-z0-9 ]+', ' ', text.lower())} "
    found = tuple(
        sorted(
            base
            for base in bases
            if any(f" {term} " in lowered for term in ASSET_TERMS.get(base, (base.lower(),)))
        )
    )
    if found:
        return found
    if any(f" {term} " in lowered or f" {term}s " in lowered for term in MARKET_TERMS):
        return ()
    return None
