"""A loopback HTTP server that speaks NewsAPI.org's ``/v2/everything`` wire format, for tests.

It serves only the articles a test gives it (:func:`fixture_article` builds them); they are test
fixtures written for the tests, not real news. What it reproduces of NewsAPI:

* the key from the ``X-Api-Key`` header (or, as NewsAPI also accepts, an ``apiKey`` query
  parameter or ``Authorization`` header); none -> 401 ``apiKeyMissing``, a wrong one -> 401
  ``apiKeyInvalid``;
* ``q`` (terms joined by ``OR``; a term is a "quoted phrase" or words that must all appear,
  case-insensitive, in title, description or content), ``from`` / ``to`` (ISO 8601 date or
  date-time, UTC, both inclusive), ``language``, ``sortBy=publishedAt`` (newest first),
  ``pageSize`` (default and maximum 100) and ``page``; no ``q`` -> 400 ``parametersMissing``, a
  bad value -> 400 ``parameterInvalid``;
* the Developer plan's 100-result cap: a page reaching past it -> 426 ``maximumResultsReached``;
* answers ``{"status": "ok", "totalResults": N, "articles": [...]}`` with every article field
  NewsAPI sends (``source{id,name}``, ``author``, ``title``, ``description``, ``url``,
  ``urlToImage``, ``publishedAt``, ``content``) and errors as
  ``{"status": "error", "code": ..., "message": ...}``.

Fault injection: :meth:`NewsApiLoopback.fail_next` makes the next N requests answer 429
``rateLimited``, 500 ``unexpectedError``, a 502 HTML page, a 200 without ``articles``, or drop
the connection. Every request
is recorded (query and headers) so tests can check what the client sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from aiohttp import web

from support.loopback import LoopbackServer

MAX_PAGE_SIZE: Final = 100
DEVELOPER_RESULT_LIMIT: Final = 100

_MESSAGES: Final = {
    "apiKeyMissing": "Your API key is missing. Append this to the URL with the apiKey param, "
    "or use the x-api-key HTTP header.",
    "apiKeyInvalid": "Your API key is invalid or incorrect. Check your key, or go to "
    "https://newsapi.org to create a free API key.",
    "rateLimited": "You have made too many requests recently. Developer accounts are limited to "
    "100 requests over a 24 hour period (50 requests available every 12 hours). Please upgrade "
    "to a paid plan if you need more requests.",
    "unexpectedError": "Something went wrong on our side. Please try again later.",
    "parametersMissing": "Required parameters are missing, the scope of your search is too "
    "broad. Please set any of the following required parameters and try again: q, qInTitle, "
    "sources, domains.",
}


class NewsFault(Enum):
    """How an injected failure looks on the wire."""

    RATE_LIMITED = "429"  # HTTP 429, NewsAPI's rateLimited body
    SERVER_ERROR = "500"  # HTTP 500, NewsAPI's unexpectedError body
    BAD_GATEWAY = "502"  # HTTP 502 with an HTML page, as a proxy in front would answer
    MALFORMED = "malformed"  # HTTP 200, status ok, but no articles list
    DISCONNECT = "disconnect"  # the connection is closed without any response


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    faulted: NewsFault | None


@dataclass(slots=True)
class _Fault:
    kind: NewsFault
    remaining: int


class _NewsApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def iso(moment: datetime) -> str:
    """NewsAPI's ``publishedAt``: ``2023-09-30T12:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fixture_article(
    title: str,
    published: datetime,
    *,
    source_name: str = "Fixture Wire",
    source_id: str | None = None,
    description: str | None = None,
    content: str | None = None,
    author: str | None = None,
    url: str | None = None,
    language: str = "en",
) -> dict[str, Any]:
    """An article in NewsAPI's JSON shape, written for a test. ``_language`` is kept by the
    server for the ``language`` filter and never sent."""
    slug = "-".join(title.lower().split())[:60]
    return {
        "source": {"id": source_id, "name": source_name},
        "author": author,
        "title": title,
        "description": description,
        "url": url or f"https://news.example.test/{published:%Y%m%d%H%M%S}/{slug}",
        "urlToImage": None,
        "publishedAt": iso(published),
        "content": content,
        "_language": language,
    }


def _parse_time(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _NewsApiError(
            400,
            "parameterInvalid",
            f"The '{name}' parameter is not in a valid date format. "
            "Please use ISO 8601 format, e.g. 2024-10-02 or 2024-10-02T12:50:32.",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _int_param(query: Any, name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _NewsApiError(
            400, "parameterInvalid", f"The '{name}' parameter must be a number."
        ) from None
    if value < 1:
        raise _NewsApiError(400, "parameterInvalid", f"The '{name}' parameter must be >= 1.")
    return value


def _matches(query: str, article: dict[str, Any]) -> bool:
    text = " ".join(str(article.get(k) or "") for k in ("title", "description", "content")).lower()
    for term in query.split(" OR "):
        term = term.strip()
        if term.startswith('"') and term.endswith('"') and len(term) > 1:
            if term[1:-1].lower() in text:
                return True
        elif term and all(word.lower() in text for word in term.split()):
            return True
    return False


class NewsApiLoopback(LoopbackServer):
    """The NewsAPI stand-in on 127.0.0.1 with an ephemeral port.

    ``async with NewsApiLoopback(api_key=...) as server:``; point clients at
    ``server.base_url`` and put the test's articles in ``server.articles``.
    """

    def __init__(
        self, *, api_key: str = "fixture-newsapi-key-0123456789", result_limit: int | None = None
    ) -> None:
        super().__init__()
        self.api_key = api_key
        #: Articles in NewsAPI's shape (see :func:`fixture_article`), in any order.
        self.articles: list[dict[str, Any]] = []
        #: The Developer plan's cap on results (page * pageSize); None: no cap (paid plans).
        self.result_limit = result_limit
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/everything", self._everything)
        return app

    def fail_next(self, kind: NewsFault, count: int = 1) -> None:
        """The next ``count`` requests fail as ``kind`` (after earlier queued faults)."""
        if count < 1:
            raise ValueError("count must be >= 1")
        self._faults.append(_Fault(kind, count))

    # -- the endpoint ---------------------------------------------------------------------------

    async def _everything(self, request: web.Request) -> web.StreamResponse:
        fault = self._take_fault()
        self.requests.append(
            RecordedRequest(
                request.path,
                dict(request.query),
                dict(request.headers),
                fault.kind if fault else None,
            )
        )
        if fault is not None:
            return self._faulted(request, fault.kind)
        try:
            self._check_key(request)
            return web.json_response(self._search(request))
        except _NewsApiError as error:
            body = {"status": "error", "code": error.code, "message": error.message}
            return web.json_response(body, status=error.status)

    def _check_key(self, request: web.Request) -> None:
        key = request.headers.get("X-Api-Key") or request.query.get("apiKey")
        authorization = request.headers.get("Authorization")
        if key is None and authorization:
            key = authorization.removeprefix("Bearer ").strip()
        if not key:
            raise _NewsApiError(401, "apiKeyMissing", _MESSAGES["apiKeyMissing"])
        if key != self.api_key:
            raise _NewsApiError(401, "apiKeyInvalid", _MESSAGES["apiKeyInvalid"])

    def _search(self, request: web.Request) -> dict[str, Any]:
        query = request.query
        q = query.get("q", "").strip()
        if not q:
            raise _NewsApiError(400, "parametersMissing", _MESSAGES["parametersMissing"])
        start = _parse_time("from", query["from"]) if "from" in query else None
        end = _parse_time("to", query["to"]) if "to" in query else None
        language = query.get("language")
        page_size = min(_int_param(query, "pageSize", MAX_PAGE_SIZE), MAX_PAGE_SIZE)
        page = _int_param(query, "page", 1)
        limit = self.result_limit
        if limit is not None and page * page_size > limit:
            first = (page - 1) * page_size
            raise _NewsApiError(
                426,
                "maximumResultsReached",
                f"You have requested too many results. Developer accounts are limited to a max "
                f"of {limit} results. You are trying to request results {first} to "
                f"{first + page_size}. Please upgrade to a paid plan if you need more results.",
            )
        found = []
        for article in self.articles:
            published = datetime.fromisoformat(article["publishedAt"])
            if start is not None and published < start:
                continue
            if end is not None and published > end:
                continue
            if language and article.get("_language", "en") != language:
                continue
            if _matches(q, article):
                found.append(article)
        if query.get("sortBy", "publishedAt") == "publishedAt":
            found.sort(key=lambda a: a["publishedAt"], reverse=True)
        shown = found[(page - 1) * page_size : page * page_size]
        return {
            "status": "ok",
            "totalResults": len(found),
            "articles": [{k: v for k, v in a.items() if not k.startswith("_")} for a in shown],
        }

    # -- faults ---------------------------------------------------------------------------------

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining == 0:
            self._faults.pop(0)
        return fault

    @staticmethod
    def _faulted(request: web.Request, kind: NewsFault) -> web.StreamResponse:
        if kind is NewsFault.DISCONNECT:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the client: the transport is gone
        if kind is NewsFault.RATE_LIMITED:
            body = {"status": "error", "code": "rateLimited", "message": _MESSAGES["rateLimited"]}
            return web.json_response(body, status=429)
        if kind is NewsFault.MALFORMED:
            return web.json_response({"status": "ok", "totalResults": 3})
        if kind is NewsFault.SERVER_ERROR:
            body = {
                "status": "error",
                "code": "unexpectedError",
                "message": _MESSAGES["unexpectedError"],
            }
            return web.json_response(body, status=500)
        return web.Response(
            status=502,
            text="<html><body><h1>502 Bad Gateway</h1></body></html>",
            content_type="text/html",
        )
