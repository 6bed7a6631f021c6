"""Each research feed against the 127.0.0.1 stand-in in its API's real format: the happy path,
a timeout, an HTTP 429 and a malformed answer, each failure typed and reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from sigmax.domain.candles import datetime_to_ms
from sigmax.research.cache import MemoryCache
from sigmax.research.feeds.base import FeedError, FeedFailure, HttpFeed
from sigmax.research.feeds.cryptopanic import CryptoPanicFeed
from sigmax.research.feeds.market import CoinGeckoFeed, FearGreedFeed
from sigmax.research.feeds.onchain import MempoolFeed
from sigmax.research.feeds.reddit import RedditFeed
from sigmax.research.feeds.rss import RssFeed
from sigmax.research.sentiment import SentimentScorer
from support.research_servers import CRYPTOPANIC_TOKEN, Post, ResearchLoopback

NOW = datetime(2024, 3, 11, 12, tzinfo=UTC)
NOW_MS = datetime_to_ms(NOW)
SYMBOLS = ("BTC/USDT", "ETH/USDT")


def _options(failures: list[FeedFailure], **extra: Any) -> dict[str, Any]:
    return {
        "timeout_s": 0.5,
        "min_refresh_ms": 0,
        "max_age_ms": 3_600_000,
        "cache": None,
        "on_error": failures.append,
        **extra,
    }


def _fill(server: ResearchLoopback) -> None:
    hour = timedelta(hours=1)
    server.rss["coindesk"] = [
        Post("Bitcoin surges past record as ETF inflows climb", NOW - hour, "https://x/1"),
        Post("Ethereum developers delay upgrade after bug found", NOW - 2 * hour, "https://x/2"),
        Post("Celebrity launches a cooking show", NOW - hour, "https://x/3"),
    ]
    server.cryptopanic = [
        Post("Exchange hacked, bitcoin stolen", NOW - hour, "https://x/4", negative=8, positive=1),
        Post("Ether rallies on upgrade", NOW - hour, "https://x/5", currencies=("ETH",)),
    ]
    server.reddit["Bitcoin"] = [Post("To the moon, bullish week", NOW - hour, score=250)]
    server.reddit_comments["Bitcoin"] = [Post("This dump is brutal", NOW - hour, score=3)]
    server.fear_greed = [(72, NOW - hour), (65, NOW - 25 * hour)]


def _feeds(server: ResearchLoopback, failures: list[FeedFailure]) -> dict[str, HttpFeed]:
    base = server.base_url
    return {
        "rss": RssFeed([f"{base}/rss/coindesk.xml"], **_options(failures)),
        "cryptopanic": CryptoPanicFeed(
            base, SecretStr(CRYPTOPANIC_TOKEN), SentimentScorer(), **_options(failures)
        ),
        "reddit": RedditFeed(base, ["Bitcoin"], comments=True, **_options(failures)),
        "coingecko": CoinGeckoFeed(base, **_options(failures)),
        "fear_greed": FearGreedFeed(base, **_options(failures)),
        "mempool": MempoolFeed(base, **_options(failures)),
    }


#: The route each feed's first request reaches, for fault injection.
ROUTES = {
    "rss": "rss",
    "cryptopanic": "cryptopanic",
    "reddit": "reddit",
    "coingecko": "coingecko_global",
    "fear_greed": "fear_greed",
    "mempool": "mempool",
}


async def test_each_feed_reads_its_api(research_server: ResearchLoopback) -> None:
    _fill(research_server)
    failures: list[FeedFailure] = []
    feeds = _feeds(research_server, failures)
    got = {kind: await feed.update(SYMBOLS, NOW_MS) for kind, feed in feeds.items()}
    assert failures == []
    rss = {i.title: i for i in got["rss"]}
    assert set(rss) == {
        "Bitcoin surges past record as ETF inflows climb",
        "Ethereum developers delay upgrade after bug found",
    }  # the cooking show names no asset and not the market: left out
    assert rss["Bitcoin surges past record as ETF inflows climb"].symbols == ("BTC",)
    assert rss["Bitcoin surges past record as ETF inflows climb"].published_ms == NOW_MS - 3_600_000
    assert rss["Bitcoin surges past record as ETF inflows climb"].source == "rss:127"
    panic = {i.title: i for i in got["cryptopanic"]}
    hacked = panic["Exchange hacked, bitcoin stolen"]
    assert hacked.score is not None
    assert hacked.score < -0.5
    assert hacked.votes == 9
    assert panic["Ether rallies on upgrade"].symbols == ("ETH",)
    assert panic["Ether rallies on upgrade"].score is None  # no votes: the text is scored
    reddit = {i.title: i for i in got["reddit"]}
    assert reddit["To the moon, bullish week"].votes == 250
    assert reddit["This dump is brutal"].symbols == ("BTC",)
    assert reddit["To the moon, bullish week"].url.startswith("https://www.reddit.com/r/Bitcoin/")
    market = {i.source: i for i in got["coingecko"]}
    assert market["coingecko:global"].score == pytest.approx(0.5)  # +2.5 % / 5 %
    assert "BTC dominance 52.10%" in market["coingecko:global"].title
    assert market["coingecko:trending"].symbols == ("BTC",)  # PEPE is not traded here
    assert market["coingecko:trending"].score == pytest.approx(0.3 * (1 - 1 / 3))
    fng = sorted(got["fear_greed"], key=lambda i: i.published_ms)
    assert [i.score for i in fng] == [pytest.approx(0.3), pytest.approx(0.44)]
    assert fng[-1].title == "Fear & Greed Index 72 (Greed)"
    (chain,) = got["mempool"]
    assert chain.symbols == ("BTC",)  # Bitcoin's chain: about BTC alone
    assert chain.published_ms == NOW_MS  # the chain as it stood when asked, never later
    assert chain.score == pytest.approx(0.321)  # +3.21 % / 10 %
    assert chain.title == (
        "Bitcoin difficulty adjustment estimate +3.21% (54.1% of the epoch mined, previous -1.48%)"
    )
    assert research_server.requests[-1]["path"] == "/api/v1/difficulty-adjustment"
    for feed in feeds.values():
        assert feed.problem("BTC/USDT", NOW_MS) is None


async def test_atom_feeds_are_read_too(research_server: ResearchLoopback) -> None:
    research_server.rss["cointelegraph"] = [Post("Solana network outage halts blocks", NOW)]
    failures: list[FeedFailure] = []
    feed = RssFeed([f"{research_server.base_url}/atom/cointelegraph.xml"], **_options(failures))
    items = await feed.update(("SOL/USDT",), NOW_MS)
    assert [(i.title, i.symbols, i.published_ms) for i in items] == [
        ("Solana network outage halts blocks", ("SOL",), NOW_MS)
    ]


@pytest.mark.parametrize("kind", sorted(ROUTES))
@pytest.mark.parametrize(
    ("fault", "code"), [("timeout", "timeout"), ("429", "rate_limited"), ("malformed", "format")]
)
async def test_a_failing_feed_is_typed_reported_and_unavailable(
    research_server: ResearchLoopback, kind: str, fault: str, code: str
) -> None:
    _fill(research_server)
    failures: list[FeedFailure] = []
    feed = _feeds(research_server, failures)[kind]
    research_server.fail[ROUTES[kind]] = fault
    assert await feed.update(SYMBOLS, NOW_MS) == ()
    assert [(f.source, f.error.code) for f in failures] == [(kind, code)]
    problem = feed.problem("BTC/USDT", NOW_MS)
    assert problem is not None
    assert problem.startswith(f"the last {kind} fetch failed")
    if fault == "429":
        # Retry-After: 120 s is honoured: no request before then, one after.
        hits = research_server.hits[ROUTES[kind]]
        assert await feed.update(SYMBOLS, NOW_MS + 60_000) == ()
        assert research_server.hits[ROUTES[kind]] == hits
        research_server.fail.clear()
        assert await feed.update(SYMBOLS, NOW_MS + 121_000) != ()
        assert feed.problem("BTC/USDT", NOW_MS + 121_000) is None


async def test_the_token_never_reaches_a_message_or_the_cache_key(
    research_server: ResearchLoopback,
) -> None:
    failures: list[FeedFailure] = []
    cache = MemoryCache()
    feed = CryptoPanicFeed(
        research_server.base_url,
        SecretStr(CRYPTOPANIC_TOKEN),
        SentimentScorer(),
        **_options(failures, cache=cache, min_refresh_ms=60_000),
    )
    research_server.cryptopanic = [Post("Bitcoin rallies", NOW)]
    assert len(await feed.update(SYMBOLS, NOW_MS)) == 1
    assert research_server.requests[-1]["query"]["auth_token"] == CRYPTOPANIC_TOKEN
    assert all(CRYPTOPANIC_TOKEN not in key for key in cache._data)
    research_server.fail["cryptopanic"] = "timeout"
    feed2 = CryptoPanicFeed(
        research_server.base_url,
        SecretStr(CRYPTOPANIC_TOKEN),
        SentimentScorer(),
        **_options(failures),
    )
    await feed2.update(SYMBOLS, NOW_MS)
    assert failures
    assert all(CRYPTOPANIC_TOKEN not in f.message for f in failures)


async def test_the_cache_answers_a_repeated_request_and_stale_feeds_are_unavailable(
    research_server: ResearchLoopback,
) -> None:
    _fill(research_server)
    failures: list[FeedFailure] = []
    cache = MemoryCache()
    feed = FearGreedFeed(
        research_server.base_url, **_options(failures, cache=cache, min_refresh_ms=500)
    )
    first = await feed.update(SYMBOLS, NOW_MS)
    second = await feed.update(SYMBOLS, NOW_MS + 1000)
    assert first == second
    assert research_server.hits["fear_greed"] == 1  # the second came from the cache
    later = NOW_MS + 3_600_001 + 1000
    assert "min old" in (feed.problem("BTC/USDT", later) or "")
    assert "first read" in (feed.problem("BTC/USDT", NOW_MS - 1) or "")


@pytest.mark.parametrize(
    ("answer", "rule"),
    [
        ({"progressPercent": 54.1, "previousRetarget": 1.0}, "difficultyChange is missing"),
        (
            {"difficultyChange": "3.2", "progressPercent": 54.1, "previousRetarget": 1.0},
            "difficultyChange is missing or not a number",
        ),
        (
            {"difficultyChange": 3.2, "progressPercent": 140, "previousRetarget": 1.0},
            "progressPercent 140.0 is outside 0..100",
        ),
    ],
)
async def test_an_onchain_answer_out_of_its_format_is_refused_naming_the_field(
    answer: dict[str, Any], rule: str
) -> None:
    failures: list[FeedFailure] = []
    feed = MempoolFeed("http://127.0.0.1:9", **_options(failures))
    with pytest.raises(FeedError, match=rule):
        feed.reading(answer, NOW_MS)
