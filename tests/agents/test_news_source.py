"""The news sentiment source over the NewsAPI stand-in and the bundled candles.

Every headline here is a test fixture written for these tests, not real news.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from sigmax.agents.base import AnalysisContext, PortfolioView
from sigmax.agents.market_view import MarketSnapshot, SymbolHistory
from sigmax.agents.news_client import NewsApiClient, NewsApiRateLimitedError
from sigmax.agents.news_source import (
    CONFIDENCE_ARTICLES,
    MAX_CONFIDENCE,
    SENTIMENT_SCORE_SCALE,
    NewsFetchFailure,
    NewsSentimentSource,
    VaderScorer,
    news_source_from_settings,
)
from sigmax.agents.orchestrator import build_history
from sigmax.agents.researcher import PriceRegimeSource, ResearcherAgent
from sigmax.config import Settings, load_settings
from sigmax.domain.candles import CandleSeries
from sigmax.safety.privacy import PrivacyScanner, ViolationKind
from support.newsapi_server import NewsApiLoopback, NewsFault, fixture_article

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
HOUR = timedelta(hours=1)
#: A decision moment inside the bundled candles (the close of the 11:00 hourly candle).
T = datetime(2023, 9, 30, 12, tzinfo=UTC)

POSITIVE = "Bitcoin fixture rally: investors cheer a great, strong win"
NEGATIVE = "Bitcoin fixture crash: panic and terrible losses after fraud"


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def histories(
    settings: Settings, bundled_series: Callable[[str], CandleSeries]
) -> dict[str, SymbolHistory]:
    return {s: build_history(bundled_series(s), settings) for s in ("BTC/USDT", "ETH/USDT")}


@pytest.fixture
def snapshot_at(histories: dict[str, SymbolHistory]) -> Callable[..., MarketSnapshot]:
    def at(moment: datetime, symbol: str = "BTC/USDT") -> MarketSnapshot:
        snapshot = histories[symbol].snapshot(ms(moment))
        assert snapshot.decision_ms == ms(moment)
        return snapshot

    return at


def context_for(snapshot: MarketSnapshot, settings: Settings) -> AnalysisContext:
    return AnalysisContext(
        snapshot,
        settings.profile_name,
        settings.profile,
        settings.agents,
        PortfolioView.starting(settings.profile.starting_capital_usd),
    )


def source_for(server: NewsApiLoopback, **kwargs: object) -> NewsSentimentSource:
    client = NewsApiClient(server.base_url, SecretStr(server.api_key), timeout=5.0)
    return NewsSentimentSource(client, **kwargs)  # type: ignore[arg-type]


async def test_no_article_after_the_decision_is_read(
    newsapi_loopback: NewsApiLoopback, snapshot_at: Callable[..., MarketSnapshot]
) -> None:
    newsapi_loopback.articles = [
        fixture_article(POSITIVE, T - 2 * HOUR),
        fixture_article("Bitcoin fixture holds steady", T),  # exactly at the decision: visible
        fixture_article(NEGATIVE, T + timedelta(minutes=1)),  # one minute later: not visible
    ]
    source = source_for(newsapi_loopback)
    await source.load(["BTC/USDT"], ms(T - 6 * HOUR), ms(T + 6 * HOUR))
    assert len(source.articles("BTC/USDT")) == 3  # the later article is held...

    scorer = VaderScorer()
    at_t = source.measure(snapshot_at(T))
    visible = [scorer.compound(POSITIVE), scorer.compound("Bitcoin fixture holds steady")]
    assert at_t.available
    assert at_t.sentiment == pytest.approx(sum(visible) / 2)  # ...but not read at T
    assert at_t.sentiment is not None
    assert at_t.sentiment > 0

    later = source.measure(snapshot_at(T + 2 * HOUR))
    assert later.sentiment == pytest.approx((sum(visible) + scorer.compound(NEGATIVE)) / 3)


async def test_sentiment_sign_score_and_confidence(
    newsapi_loopback: NewsApiLoopback, snapshot_at: Callable[..., MarketSnapshot]
) -> None:
    newsapi_loopback.articles = [
        fixture_article(POSITIVE, T - i * HOUR, url=f"https://x.test/btc{i}") for i in range(1, 4)
    ] + [fixture_article(NEGATIVE.replace("Bitcoin", "Ethereum"), T - HOUR)]
    source = source_for(newsapi_loopback)
    failures = await source.load(["BTC/USDT", "ETH/USDT"], ms(T - 6 * HOUR), ms(T))
    assert failures == ()

    btc = source.measure(snapshot_at(T))
    eth = source.measure(snapshot_at(T, "ETH/USDT"))
    assert btc.sentiment is not None
    assert btc.sentiment > 0.5
    assert eth.sentiment is not None
    assert eth.sentiment < -0.5
    for reading, count in ((btc, 3), (eth, 1)):
        assert reading.available
        assert reading.source == "news"
        assert reading.sentiment is not None
        assert reading.score == pytest.approx(
            max(-1.0, min(1.0, SENTIMENT_SCORE_SCALE * reading.sentiment))
        )
        assert reading.confidence == pytest.approx(
            MAX_CONFIDENCE * (1 - math.exp(-count / CONFIDENCE_ARTICLES))
        )
        assert reading.claim_weights == (reading.score, 0.0)
    assert btc.confidence > eth.confidence


async def test_articles_older_than_the_look_back_are_left_out(
    newsapi_loopback: NewsApiLoopback, snapshot_at: Callable[..., MarketSnapshot]
) -> None:
    newsapi_loopback.articles = [
        fixture_article(NEGATIVE, T - 25 * HOUR),
        fixture_article(POSITIVE, T - 23 * HOUR),
    ]
    source = source_for(newsapi_loopback)
    await source.load(["BTC/USDT"], ms(T - 6 * HOUR), ms(T))
    reading = source.measure(snapshot_at(T))
    assert reading.sentiment == pytest.approx(VaderScorer().compound(POSITIVE))
    # A look-back of 2 h holds nothing: unavailable, not a neutral 0.
    short = source_for(newsapi_loopback, lookback_ms=2 * 3_600_000)
    await short.load(["BTC/USDT"], ms(T - 6 * HOUR), ms(T))
    empty = short.measure(snapshot_at(T))
    assert not empty.available
    assert empty.sentiment is None
    assert empty.reason == "no news articles about BTC/USDT in the 2 h before 2023-09-30T12:00:00Z"


async def test_unavailable_without_a_key_or_before_any_fetch(
    newsapi_loopback: NewsApiLoopback,
    snapshot_at: Callable[..., MarketSnapshot],
    sigmax_home: Path,
) -> None:
    no_key = NewsSentimentSource(None).measure(snapshot_at(T))
    assert not no_key.available
    assert "NEWSAPI_KEY is not set" in no_key.reason

    assert news_source_from_settings(load_settings(config_dir=REPO_CONFIG, env={})) is None
    configured = load_settings(
        config_dir=REPO_CONFIG,
        env={"NEWSAPI_KEY": newsapi_loopback.api_key, "NEWSAPI_URL": newsapi_loopback.base_url},
    )
    source = news_source_from_settings(configured)
    assert source is not None
    assert newsapi_loopback.api_key not in repr(source)
    before = source.measure(snapshot_at(T))
    assert not before.available
    assert before.reason == "no news fetched yet for BTC/USDT"
    newsapi_loopback.articles = [fixture_article(POSITIVE, T - HOUR)]
    await source.load(["BTC/USDT"], ms(T - HOUR), ms(T))
    assert source.measure(snapshot_at(T)).available  # NEWSAPI_URL pointed it at the stand-in

    only_btc = source_for(newsapi_loopback, queries={"BTC": "bitcoin"})
    await only_btc.load(["ETH/USDT"], ms(T - HOUR), ms(T))
    eth = only_btc.measure(snapshot_at(T, "ETH/USDT"))
    assert eth.reason == "no news query is configured for ETH"
    assert len(newsapi_loopback.requests) == 1  # nothing was asked for ETH


async def test_news_that_does_not_cover_the_window_is_unavailable(
    snapshot_at: Callable[..., MarketSnapshot],
) -> None:
    async with NewsApiLoopback(result_limit=2) as server:
        # Three articles in the last 3 h; the plan's cap returns the newest two only.
        server.articles = [fixture_article(POSITIVE, T - i * HOUR) for i in (1, 2, 3)]
        client = NewsApiClient(server.base_url, SecretStr(server.api_key), page_size=2)
        source = NewsSentimentSource(client, lookback_ms=2 * 3_600_000)
        await source.load(["BTC/USDT"], ms(T - 2 * HOUR), ms(T))
    # Missing news starts before 10:00 (the oldest article received); a window from 09:30 on
    # would silently lack it, so it is refused; a window from 10:00 on is complete.
    early = source.measure(snapshot_at(T - timedelta(minutes=30)))
    assert not early.available
    assert early.reason.startswith("the news fetched for BTC/USDT starts at 2023-09-30T10:00:00Z")
    assert source.measure(snapshot_at(T)).available
    stale = source.measure(snapshot_at(T + 3 * HOUR))
    assert not stale.available
    assert "ends at 2023-09-30T12:00:00Z" in stale.reason


async def test_a_failed_fetch_is_reported_and_keeps_the_articles(
    newsapi_loopback: NewsApiLoopback, snapshot_at: Callable[..., MarketSnapshot]
) -> None:
    reported: list[NewsFetchFailure] = []
    newsapi_loopback.articles = [fixture_article(POSITIVE, T - 3 * HOUR)]
    source = source_for(newsapi_loopback, on_error=reported.append)
    await source.refresh(["BTC/USDT"], ms(T - 2 * HOUR))
    assert source.measure(snapshot_at(T - 2 * HOUR)).available

    newsapi_loopback.fail_next(NewsFault.RATE_LIMITED)
    failures = await source.refresh(["BTC/USDT"], ms(T))
    (failure,) = failures
    assert reported == [failure]
    assert source.errors == (failure,)
    assert failure.symbol == "BTC/USDT"
    assert failure.at_ms == ms(T)
    assert failure.source == "newsapi"
    assert isinstance(failure.error, NewsApiRateLimitedError)
    assert newsapi_loopback.api_key not in failure.message
    assert len(source.articles("BTC/USDT")) == 1  # kept
    reading = source.measure(snapshot_at(T))
    assert not reading.available
    assert reading.reason.startswith("the last NewsAPI search for BTC/USDT failed:")
    assert "rateLimited" in reading.reason

    # The next allowed refresh searches from the end of the last good fetch, so the articles
    # published while the search failed are found, and the kept ones still count.
    newsapi_loopback.articles.append(fixture_article(NEGATIVE, T - timedelta(minutes=30)))
    assert await source.refresh(["BTC/USDT"], ms(T + HOUR)) == ()
    assert newsapi_loopback.requests[-1].query["from"] == "2023-09-30T10:00:00"
    recovered = source.measure(snapshot_at(T + HOUR))
    assert recovered.available
    assert [a.title for a in source.articles("BTC/USDT")] == [POSITIVE, NEGATIVE]


async def test_refresh_waits_for_the_minimum_interval(
    newsapi_loopback: NewsApiLoopback, snapshot_at: Callable[..., MarketSnapshot]
) -> None:
    newsapi_loopback.articles = [
        fixture_article(POSITIVE, T - 30 * HOUR),
        fixture_article(POSITIVE, T - 20 * HOUR),
        fixture_article(NEGATIVE, T + timedelta(minutes=10)),
    ]
    source = source_for(newsapi_loopback)  # default interval: 1 h
    await source.refresh(["BTC/USDT", "ETH/USDT"], ms(T))
    assert len(newsapi_loopback.requests) == 2
    first = {r.query["q"]: r.query for r in newsapi_loopback.requests}
    assert first["bitcoin OR BTC"]["from"] == "2023-09-29T12:00:00"
    assert first["bitcoin OR BTC"]["to"] == "2023-09-30T12:00:00"

    await source.refresh(["BTC/USDT"], ms(T + timedelta(minutes=59)))
    assert len(newsapi_loopback.requests) == 2  # too soon: no search

    newsapi_loopback.fail_next(NewsFault.SERVER_ERROR)
    await source.refresh(["BTC/USDT"], ms(T + HOUR))
    await source.refresh(["BTC/USDT"], ms(T + timedelta(minutes=90)))  # a failed try counts too
    assert len(newsapi_loopback.requests) == 3

    await source.refresh(["BTC/USDT"], ms(T + 2 * HOUR))
    last = newsapi_loopback.requests[-1].query
    assert (last["from"], last["to"]) == ("2023-09-30T12:00:00", "2023-09-30T14:00:00")
    titles = [a.title for a in source.articles("BTC/USDT")]
    assert titles == [POSITIVE, NEGATIVE]  # the 30 h old one was never in a window
    # The 20 h old article leaves the look-back after four more hours.
    newsapi_loopback.articles.clear()
    await source.refresh(["BTC/USDT"], ms(T + 5 * HOUR))
    assert [a.title for a in source.articles("BTC/USDT")] == [NEGATIVE]


async def test_explain_quotes_headlines_verbatim_for_the_privacy_screen(
    newsapi_loopback: NewsApiLoopback,
    snapshot_at: Callable[..., MarketSnapshot],
    settings: Settings,
) -> None:
    leaky = "Bitcoin fixture fraud: scam victims told to write to help@fixture-scam.test"
    newsapi_loopback.articles = [
        fixture_article(POSITIVE, T - 3 * HOUR, source_name="Fixture Daily"),
        fixture_article(leaky, T - 2 * HOUR, source_name="Fixture Wire"),
        fixture_article("Bitcoin fixture trades sideways", T - HOUR),
    ]
    source = source_for(newsapi_loopback)
    await source.load(["BTC/USDT"], ms(T - HOUR), ms(T))
    snapshot = snapshot_at(T)
    reading = source.measure(snapshot)
    claims = source.explain(context_for(snapshot, settings), reading)

    assert [c.weight for c in claims] == list(reading.claim_weights)
    summary, headlines = claims
    values = {e.key: e.value for e in summary.evidence}
    assert values["news_sentiment"] == pytest.approx(reading.sentiment)
    assert values["news_articles"] == 3
    assert f'"{POSITIVE}" (Fixture Daily, ' in headlines.text
    assert f'"{leaky}" (Fixture Wire, ' in headlines.text
    assert headlines.text.index(POSITIVE) < headlines.text.index(leaky)

    kinds = {v.kind for v in PrivacyScanner().scan(headlines.text)}
    assert ViolationKind.EMAIL in kinds

    # Through the researcher: the claims reach the report the privacy agent screens.
    researcher = ResearcherAgent((PriceRegimeSource(), source))
    report = await researcher.analyze(context_for(snapshot, settings))
    assert report.details["sentiment"] == pytest.approx(reading.sentiment)
    assert report.details["sources"]["news"] == "available"
    assert leaky in report.argument
    assert any(v.kind is ViolationKind.EMAIL for v in PrivacyScanner().scan(report.argument))


async def test_a_single_article_is_quoted_once(
    newsapi_loopback: NewsApiLoopback,
    snapshot_at: Callable[..., MarketSnapshot],
    settings: Settings,
) -> None:
    newsapi_loopback.articles = [fixture_article(NEGATIVE, T - HOUR, source_name="")]
    source = source_for(newsapi_loopback)
    await source.load(["BTC/USDT"], ms(T - HOUR), ms(T))
    snapshot = snapshot_at(T)
    _, headline = source.explain(context_for(snapshot, settings), source.measure(snapshot))
    assert headline.text.startswith(f'Only headline: "{NEGATIVE}" (unknown source, ')
    assert headline.text.count(NEGATIVE) == 1
