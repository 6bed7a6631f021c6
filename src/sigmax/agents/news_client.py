"""A client for NewsAPI.org's ``/v2/everything`` search, with typed errors that never hold the key.

The key travels in the ``X-Api-Key`` header, never in the URL: httpx logs every request's URL at
INFO (``HTTP Request: GET https://newsapi.org/v2/everything?q=... "HTTP/1.1 200 OK"``) and error
texts repeat URLs, so a key in the query string would end up in logs and exception messages.
Every message built here is additionally scrubbed of the key, in case the server echoes it.

NewsAPI answers ``{"status": "ok", "totalResults": N, "articles": [...]}`` or, with an HTTP
error status, ``{"status": "error", "code": "apiKeyInvalid", "message": "..."}``. Each error
code becomes a subclass of :class:`NewsApiError`; network failures and answers that are not
NewsAPI JSON become :class:`NewsApiUnavailableError` and :class:`NewsApiResponseError`.

Plan limits worth knowing: the free Developer plan allows 100 requests a day and serves at most
100 results per search (one page of 100); asking for more answers HTTP 426
``maximumResultsReached``, which :meth:`NewsApiClient.everything` treats as the end of the
results and reports through :attr:`NewsSearchResult.truncated`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from pydantic import SecretStr

from sigmax.config.settings import MASK
from sigmax.errors import SigmaxError
from sigmax.research.cache import CacheError, ResearchCache

#: NewsAPI's largest page.
MAX_PAGE_SIZE: Final = 100
#: Default request timeout, seconds.
DEFAULT_TIMEOUT_S: Final = 10.0
#: What NewsAPI puts in place of an article that was taken down (title, source name).
REMOVED_MARK: Final = "[Removed]"


class NewsApiError(SigmaxError):
    """A NewsAPI request failed. ``code`` is NewsAPI's error code (or a SIGMAX one for network
    and format failures), ``http_status`` the HTTP status when an answer arrived."""

    def __init__(self, message: str, *, code: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class NewsApiKeyError(NewsApiError):
    """The key was refused: ``apiKeyInvalid``, ``apiKeyMissing``, ``apiKeyDisabled`` or
    ``apiKeyExhausted``. Retrying does not help; the operator must fix NEWSAPI_KEY."""


class NewsApiRateLimitedError(NewsApiError):
    """``rateLimited``: too many requests in the plan's window. Back off."""


class NewsApiRequestError(NewsApiError):
    """The request was refused as malformed or outside the plan (``parameterInvalid``,
    ``parametersMissing``, ``sourcesTooMany``, ``sourceDoesNotExist``, or a date too far back)."""


class NewsApiUnavailableError(NewsApiError):
    """NewsAPI could not be reached, timed out, or failed on its side (HTTP 5xx)."""


class NewsApiResponseError(NewsApiError):
    """The answer was not in NewsAPI's format (not JSON, or missing fields)."""


_KEY_CODES: Final = frozenset(
    {"apiKeyInvalid", "apiKeyMissing", "apiKeyDisabled", "apiKeyExhausted"}
)
_REQUEST_CODES: Final = frozenset(
    {"parameterInvalid", "parametersMissing", "sourcesTooMany", "sourceDoesNotExist"}
)
#: Developer-plan answer when a page beyond the first 100 results is asked for.
MAXIMUM_RESULTS_CODE: Final = "maximumResultsReached"


@dataclass(frozen=True, slots=True)
class Article:
    """One article as NewsAPI describes it; ``published_ms`` is ``publishedAt`` in ms UTC."""

    source_id: str | None
    source_name: str
    author: str | None
    title: str
    description: str | None
    url: str
    published_ms: int
    content: str | None

    @property
    def removed(self) -> bool:
        """NewsAPI keeps taken-down articles as ``[Removed]`` placeholders with no text."""
        return self.title == REMOVED_MARK or self.source_name == REMOVED_MARK


@dataclass(frozen=True, slots=True)
class NewsSearchResult:
    """The articles of one search over every page fetched.

    ``truncated`` is True when NewsAPI reported more results than were fetched (page cap or the
    plan's result limit): with ``sortBy=publishedAt`` the newest are kept, the oldest missing.
    """

    query: str
    total_results: int
    articles: tuple[Article, ...]
    pages: int

    @property
    def truncated(self) -> bool:
        return self.total_results > len(self.articles)


def ms_to_query_time(ms: int) -> str:
    """NewsAPI's ``from`` / ``to`` format: ISO 8601 in UTC to the second (2024-10-02T12:50:32)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_published_at(text: str) -> int:
    """``publishedAt`` (``2024-10-02T12:50:32Z``, sometimes with fractions) to ms UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        # NewsAPI's times are UTC; a time without an offset is read as such, not as local time.
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class NewsApiClient:
    """``GET {base_url}/v2/everything`` with pagination up to ``max_pages``.

    A new connection pool is opened for each search and closed after it: searches are minutes
    apart, and a pool bound to one event loop would break when a backtest's load and a live
    run's refreshes happen in different loops.
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int = 1,
        language: str = "en",
        cache: ResearchCache | None = None,
        cache_ttl_s: float = 0.0,
    ) -> None:
        """``cache``: the research cache (Redis or memory) that keeps each page's answer for
        ``cache_ttl_s`` seconds, so every process of a home asks NewsAPI once per interval."""
        if not api_key.get_secret_value():
            raise ValueError("api_key must not be empty")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 (got {timeout})")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be in 1..{MAX_PAGE_SIZE} (got {page_size})")
        if max_pages < 1:
            raise ValueError(f"max_pages must be >= 1 (got {max_pages})")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.page_size = page_size
        self.max_pages = max_pages
        self.language = language
        self.cache = cache
        self.cache_ttl_s = cache_ttl_s

    def __repr__(self) -> str:
        return (
            f"NewsApiClient(base_url={self.base_url!r}, api_key={MASK!r}, "
            f"page_size={self.page_size}, max_pages={self.max_pages})"
        )

    async def everything(self, query: str, from_ms: int, to_ms: int) -> NewsSearchResult:
        """Articles matching ``query`` published in [from_ms, to_ms], newest first.

        Raises a :class:`NewsApiError` subclass; the message never contains the key.
        """
        if to_ms < from_ms:
            raise ValueError(f"to_ms ({to_ms}) must not be before from_ms ({from_ms})")
        params = {
            "q": query,
            "from": ms_to_query_time(from_ms),
            "to": ms_to_query_time(to_ms),
            "language": self.language,
            "sortBy": "publishedAt",
            "pageSize": str(self.page_size),
        }
        articles: list[Article] = []
        total = 0
        pages = 0
        async with httpx.AsyncClient(
            base_url=self.base_url,
            headers={"X-Api-Key": self._api_key.get_secret_value()},
            timeout=self.timeout,
        ) as http:
            for page in range(1, self.max_pages + 1):
                body = await self._get(http, {**params, "page": str(page)}, first=page == 1)
                if body is None:  # the plan's result limit: what we have is all we may get
                    break
                total, page_articles = self._parse_ok(body)
                articles.extend(page_articles)
                pages = page
                if len(page_articles) < self.page_size or len(articles) >= total:
                    break
        return NewsSearchResult(query, total, tuple(articles), pages)

    async def _get(
        self, http: httpx.AsyncClient, params: Mapping[str, str], *, first: bool
    ) -> dict[str, Any] | None:
        # The key travels in a header, never in the parameters: the cache key holds no secret.
        key = (
            "newsapi:"
            + hashlib.sha256(f"{self.base_url}|{sorted(params.items())}".encode()).hexdigest()
        )
        cache = self.cache if self.cache_ttl_s > 0 else None
        try:
            found = None if cache is None else await cache.get(key)
            if found is not None:
                cached = json.loads(found)
                if isinstance(cached, dict):
                    return cached
            body = await self._fetch(http, params, first=first)
            if cache is not None and body is not None:
                await cache.set(key, json.dumps(body).encode(), self.cache_ttl_s)
        except CacheError as error:
            raise NewsApiUnavailableError(str(error), code="cache") from None
        return body

    async def _fetch(
        self, http: httpx.AsyncClient, params: Mapping[str, str], *, first: bool
    ) -> dict[str, Any] | None:
        try:
            response = await http.get("/v2/everything", params=params)
        except httpx.TimeoutException as error:
            raise NewsApiUnavailableError(
                self._scrub(
                    f"NewsAPI did not answer within {self.timeout:g} s ({type(error).__name__})"
                ),
                code="timeout",
            ) from None
        except (httpx.HTTPError, OSError) as error:
            # ``from None``: the chained httpx error holds the request, and with it the header.
            raise NewsApiUnavailableError(
                self._scrub(f"NewsAPI could not be reached: {type(error).__name__}: {error}"),
                code="network",
            ) from None
        body = self._json(response)
        if response.status_code == httpx.codes.OK and body.get("status") == "ok":
            return body
        code = body.get("code")
        message = body.get("message")
        if body.get("status") != "error" or not isinstance(code, str):
            if response.status_code >= 500:
                raise NewsApiUnavailableError(
                    f"NewsAPI failed with HTTP {response.status_code}",
                    code="http",
                    http_status=response.status_code,
                )
            raise NewsApiResponseError(
                f"NewsAPI answered HTTP {response.status_code} "
                "without status 'ok' or an error code",
                code="format",
                http_status=response.status_code,
            )
        if code == MAXIMUM_RESULTS_CODE and not first:
            return None
        text = self._scrub(
            f"NewsAPI refused the search (HTTP {response.status_code} {code}): "
            f"{message if isinstance(message, str) else 'no message'}"
        )
        raise _error_class(code, response.status_code)(
            text, code=code, http_status=response.status_code
        )

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            if response.status_code >= 500:
                raise NewsApiUnavailableError(
                    f"NewsAPI failed with HTTP {response.status_code}",
                    code="http",
                    http_status=response.status_code,
                ) from None
            raise NewsApiResponseError(
                f"NewsAPI answered HTTP {response.status_code} with a body that is not JSON",
                code="format",
                http_status=response.status_code,
            ) from None
        if not isinstance(body, dict):
            raise NewsApiResponseError(
                f"NewsAPI answered HTTP {response.status_code} with JSON that is not an object",
                code="format",
                http_status=response.status_code,
            )
        return body

    @staticmethod
    def _parse_ok(body: Mapping[str, Any]) -> tuple[int, list[Article]]:
        total = body.get("totalResults")
        raw_articles = body.get("articles")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise NewsApiResponseError(
                "NewsAPI's totalResults is missing or not a count", code="format"
            )
        if not isinstance(raw_articles, list):
            raise NewsApiResponseError("NewsAPI's articles is missing or not a list", code="format")
        return total, [_parse_article(raw, i) for i, raw in enumerate(raw_articles)]

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key.get_secret_value(), MASK)


def _error_class(code: str, http_status: int) -> type[NewsApiError]:
    if code in _KEY_CODES:
        return NewsApiKeyError
    if code == "rateLimited" or http_status == httpx.codes.TOO_MANY_REQUESTS:
        return NewsApiRateLimitedError
    if code in _REQUEST_CODES or code == MAXIMUM_RESULTS_CODE:
        return NewsApiRequestError
    if http_status >= 500:
        return NewsApiUnavailableError
    return NewsApiError


def _optional_text(raw: Mapping[str, Any], name: str, index: int) -> str | None:
    value = raw.get(name)
    if value is None or isinstance(value, str):
        return value
    raise NewsApiResponseError(f"NewsAPI article {index}: {name} is not text", code="format")


def _parse_article(raw: object, index: int) -> Article:
    if not isinstance(raw, dict):
        raise NewsApiResponseError(f"NewsAPI article {index} is not an object", code="format")
    source = raw.get("source")
    if not isinstance(source, dict):
        raise NewsApiResponseError(f"NewsAPI article {index}: source is missing", code="format")
    published = raw.get("publishedAt")
    if not isinstance(published, str):
        raise NewsApiResponseError(
            f"NewsAPI article {index}: publishedAt is missing", code="format"
        )
    try:
        published_ms = parse_published_at(published)
    except ValueError:
        raise NewsApiResponseError(
            f"NewsAPI article {index}: publishedAt {published!r} is not an ISO 8601 time",
            code="format",
        ) from None
    return Article(
        source_id=_optional_text(source, "id", index),
        source_name=_optional_text(source, "name", index) or "",
        author=_optional_text(raw, "author", index),
        title=_optional_text(raw, "title", index) or "",
        description=_optional_text(raw, "description", index),
        url=_optional_text(raw, "url", index) or "",
        published_ms=published_ms,
        content=_optional_text(raw, "content", index),
    )
