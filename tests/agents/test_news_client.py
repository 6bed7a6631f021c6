"""The NewsAPI client against the loopback stand-in: pages, errors, and the key kept secret.

Every headline here is a test fixture written for these tests, not real news.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from sigmax.agents.news_client import (
    NewsApiClient,
    NewsApiError,
    NewsApiKeyError,
    NewsApiRateLimitedError,
    NewsApiRequestError,
    NewsApiResponseError,
    NewsApiUnavailableError,
)
from sigmax.config.settings import MASK
from sigmax.research.cache import MemoryCache
from support.binance_server import unused_tcp_port
from support.newsapi_server import NewsApiLoopback, NewsFault, fixture_article

T0 = datetime(2023, 9, 30, 12, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def client_for(server: NewsApiLoopback, page_size: int = 100, max_pages: int = 1) -> NewsApiClient:
    return NewsApiClient(
        server.base_url,
        SecretStr(server.api_key),
        timeout=5.0,
        page_size=page_size,
        max_pages=max_pages,
    )


def hourly_articles(count: int) -> list[dict[str, object]]:
    return [
        fixture_article(f"Bitcoin fixture story {i}", T0 - timedelta(hours=i)) for i in range(count)
    ]


async def test_a_page_is_parsed_from_the_wire_format(newsapi_loopback: NewsApiLoopback) -> None:
    newsapi_loopback.articles = [
        fixture_article(
            "Bitcoin fixture rally lifts miners",
            T0 - timedelta(minutes=30),
            source_name="Fixture Daily",
            source_id="fixture-daily",
            description="A fixture description.",
            content="Fixture content… [+120 chars]",
            author="A. Writer",
            url="https://news.example.test/a",
        ),
        fixture_article("BTC fixture note", T0 - timedelta(hours=2)),
        fixture_article("Unrelated fixture about gold", T0 - timedelta(hours=1)),
    ]
    result = await client_for(newsapi_loopback).everything(
        "bitcoin OR BTC", ms(T0 - timedelta(days=1)), ms(T0)
    )
    assert result.total_results == 2
    assert result.pages == 1
    assert not result.truncated
    first, second = result.articles
    assert first.title == "Bitcoin fixture rally lifts miners"
    assert first.source_id == "fixture-daily"
    assert first.source_name == "Fixture Daily"
    assert first.author == "A. Writer"
    assert first.description == "A fixture description."
    assert first.content == "Fixture content… [+120 chars]"
    assert first.url == "https://news.example.test/a"
    assert first.published_ms == ms(T0 - timedelta(minutes=30))
    assert second.source_id is None
    assert second.description is None
    assert second.author is None

    (request,) = newsapi_loopback.requests
    assert request.headers["X-Api-Key"] == newsapi_loopback.api_key
    assert "apiKey" not in request.query
    assert request.query == {
        "q": "bitcoin OR BTC",
        "from": "2023-09-29T12:00:00",
        "to": "2023-09-30T12:00:00",
        "language": "en",
        "sortBy": "publishedAt",
        "pageSize": "100",
        "page": "1",
    }


async def test_pages_are_followed_up_to_the_cap(newsapi_loopback: NewsApiLoopback) -> None:
    newsapi_loopback.articles = hourly_articles(5)
    window = (ms(T0 - timedelta(days=1)), ms(T0))
    everything = await client_for(newsapi_loopback, page_size=2, max_pages=5).everything(
        "bitcoin", *window
    )
    assert [a.title for a in everything.articles] == [
        f"Bitcoin fixture story {i}" for i in range(5)
    ]
    assert everything.pages == 3
    assert not everything.truncated

    capped = await client_for(newsapi_loopback, page_size=2, max_pages=2).everything(
        "bitcoin", *window
    )
    assert len(capped.articles) == 4
    assert capped.total_results == 5
    assert capped.truncated
    assert [r.query["page"] for r in newsapi_loopback.requests] == ["1", "2", "3", "1", "2"]


async def test_the_developer_plan_result_cap_ends_the_pages() -> None:
    async with NewsApiLoopback(result_limit=4) as server:
        server.articles = hourly_articles(7)
        result = await client_for(server, page_size=2, max_pages=5).everything(
            "bitcoin", ms(T0 - timedelta(days=1)), ms(T0)
        )
    assert len(result.articles) == 4
    assert result.truncated
    assert [r.query["page"] for r in server.requests] == ["1", "2", "3"]


async def test_a_wrong_key_is_a_key_error() -> None:
    async with NewsApiLoopback(api_key="the-right-fixture-key") as server:
        client = NewsApiClient(server.base_url, SecretStr("wrong-fixture-key-42"))
        with pytest.raises(NewsApiKeyError) as caught:
            await client.everything("bitcoin", ms(T0 - timedelta(days=1)), ms(T0))
    assert caught.value.code == "apiKeyInvalid"
    assert caught.value.http_status == 401
    assert "wrong-fixture-key-42" not in str(caught.value)


@pytest.mark.parametrize(
    ("fault", "error_type", "code", "status"),
    [
        (NewsFault.RATE_LIMITED, NewsApiRateLimitedError, "rateLimited", 429),
        (NewsFault.SERVER_ERROR, NewsApiUnavailableError, "unexpectedError", 500),
        (NewsFault.BAD_GATEWAY, NewsApiUnavailableError, "http", 502),
        (NewsFault.DISCONNECT, NewsApiUnavailableError, "network", None),
        (NewsFault.MALFORMED, NewsApiResponseError, "format", None),
    ],
)
async def test_failures_become_typed_errors(
    newsapi_loopback: NewsApiLoopback,
    fault: NewsFault,
    error_type: type[NewsApiError],
    code: str,
    status: int | None,
) -> None:
    newsapi_loopback.articles = hourly_articles(2)
    newsapi_loopback.fail_next(fault)
    client = client_for(newsapi_loopback)
    with pytest.raises(error_type) as caught:
        await client.everything("bitcoin", ms(T0 - timedelta(days=1)), ms(T0))
    assert caught.value.code == code
    assert caught.value.http_status == status
    # The fault was one request: the next search works.
    result = await client.everything("bitcoin", ms(T0 - timedelta(days=1)), ms(T0))
    assert len(result.articles) == 2


async def test_a_missing_query_is_a_request_error(newsapi_loopback: NewsApiLoopback) -> None:
    with pytest.raises(NewsApiRequestError) as caught:
        await client_for(newsapi_loopback).everything(" ", ms(T0 - timedelta(days=1)), ms(T0))
    assert caught.value.code == "parametersMissing"
    assert caught.value.http_status == 400


async def test_an_unreachable_server_is_unavailable() -> None:
    client = NewsApiClient(
        f"http://127.0.0.1:{unused_tcp_port()}", SecretStr("fixture-key-unreachable"), timeout=2.0
    )
    with pytest.raises(NewsApiUnavailableError) as caught:
        await client.everything("bitcoin", ms(T0 - timedelta(days=1)), ms(T0))
    assert caught.value.code == "network"
    assert caught.value.__cause__ is None


async def test_the_key_never_appears_in_errors_logs_or_reprs(
    newsapi_loopback: NewsApiLoopback, caplog: pytest.LogCaptureFixture
) -> None:
    key = newsapi_loopback.api_key
    newsapi_loopback.articles = hourly_articles(3)
    client = client_for(newsapi_loopback, page_size=2, max_pages=3)
    window = (ms(T0 - timedelta(days=1)), ms(T0))
    errors: list[BaseException] = []
    caplog.set_level(logging.DEBUG)
    for fault in (None, *NewsFault):
        if fault is not None:
            newsapi_loopback.fail_next(fault)
        try:
            await client.everything("bitcoin", *window)
        except NewsApiError as failed:
            errors.append(failed)
    wrong = NewsApiClient(newsapi_loopback.base_url, SecretStr(key + "-but-wrong"))
    try:
        await wrong.everything("bitcoin", *window)
    except NewsApiKeyError as refused:
        errors.append(refused)

    assert len(errors) == len(NewsFault) + 1
    for error in errors:
        rendered = "".join(traceback.format_exception(error))
        assert key not in rendered
        assert key not in repr(error)
    assert key not in repr(client)
    assert MASK in repr(client)
    # httpx logs each request at INFO; the check would be empty if nothing was captured.
    http_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any("/v2/everything?" in line for line in http_lines)
    assert all(key not in r.getMessage() for r in caplog.records)
    assert key not in caplog.text


async def test_answers_are_kept_in_the_research_cache_without_the_key(
    newsapi_loopback: NewsApiLoopback,
) -> None:
    newsapi_loopback.articles = hourly_articles(3)
    cache = MemoryCache()

    def client() -> NewsApiClient:
        return NewsApiClient(
            newsapi_loopback.base_url,
            SecretStr(newsapi_loopback.api_key),
            timeout=5.0,
            cache=cache,
            cache_ttl_s=300,
        )

    window = ("bitcoin OR BTC", ms(T0 - timedelta(days=1)), ms(T0))
    first = await client().everything(*window)
    # Another client on the same cache (another process, with Redis) is answered from it.
    again = await client().everything(*window)
    assert again == first
    assert len(first.articles) == 3
    assert len(newsapi_loopback.requests) == 1
    assert all(newsapi_loopback.api_key not in key for key in cache._data)
    # Another search is asked for.
    await client().everything("ethereum", *window[1:])
    assert len(newsapi_loopback.requests) == 2
