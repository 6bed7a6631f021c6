"""Assembles the research feeds, the item book and the researcher's sources from the settings.

:func:`research_from_settings` builds a :class:`ResearchHub`: live feeds when no research file
is given (each feed unconfigured is reported as unavailable with the setting that enables it),
or, with ``--research PATH``, the file's items and no network at all. The hub fetches ahead of
decisions (:meth:`ResearchHub.load` for a replay's window, :meth:`ResearchHub.refresh` between
a live run's candles); decisions only read the book.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from sigmax.agents.news_source import news_source_from_settings
from sigmax.agents.researcher import PriceRegimeSource, ResearchSource
from sigmax.config.settings import Settings
from sigmax.research.book import ItemBook
from sigmax.research.cache import ResearchCache, cache_from_url
from sigmax.research.feeds.base import (
    ErrorHook,
    Feed,
    FeedError,
    FeedFailure,
    HttpFeed,
    UnconfiguredFeed,
)
from sigmax.research.feeds.cryptopanic import CryptoPanicFeed
from sigmax.research.feeds.market import CoinGeckoFeed, FearGreedFeed
from sigmax.research.feeds.newsapi import NewsApiFeed
from sigmax.research.feeds.onchain import MempoolFeed
from sigmax.research.feeds.reddit import RedditFeed
from sigmax.research.feeds.rss import RssFeed
from sigmax.research.items import ResearchFileError, ResearchItem, read_research_file
from sigmax.research.llm.stance import LlmStances, LlmStanceSource
from sigmax.research.sentiment import SentimentScorer
from sigmax.research.source import GROUPS, HOUR_MS, ItemSentimentSource
from sigmax.safety.privacy import PrivacyScanner

log = logging.getLogger(__name__)

FEED_KINDS: Final = tuple(kind for kinds in GROUPS.values() for kind in kinds)


class FileFeed(Feed):
    """Items of one kind read from a research file: always readable, never fetched."""

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path

    def problem(self, symbol: str, decision_ms: int) -> str | None:
        return None

    async def update(self, symbols: Iterable[str], now_ms: int) -> tuple[ResearchItem, ...]:
        return ()


class ResearchHub:
    """The feeds, the book they fill and the sources that read it."""

    def __init__(
        self,
        feeds: Sequence[Feed],
        book: ItemBook,
        *,
        lookback_ms: int,
        half_life_ms: int,
        cache: ResearchCache | None = None,
        file: Path | None = None,
        llm_vote: LlmStanceSource | None = None,
    ) -> None:
        self.feeds = {f.kind: f for f in feeds}
        #: The LLM's vote (research.llm.vote_weight > 0); a live run's LLM attacher feeds it.
        self.llm_vote = llm_vote
        self.book = book
        self.lookback_ms = lookback_ms
        self.cache = cache
        self.file = file
        self.sources = tuple(
            ItemSentimentSource(
                name,
                [self.feeds[k] for k in kinds],
                book,
                lookback_ms=lookback_ms,
                half_life_ms=half_life_ms,
            )
            for name, kinds in GROUPS.items()
        )

    @property
    def live(self) -> bool:
        """True when some feed fetches over the network."""
        return self.file is None and any(
            not isinstance(f, UnconfiguredFeed) for f in self.feeds.values()
        )

    @property
    def active(self) -> bool:
        """True when some feed can give items (a file, or a configured live feed)."""
        return self.file is not None or self.live

    def researcher_sources(self) -> tuple[ResearchSource, ...]:
        vote = () if self.llm_vote is None else (self.llm_vote,)
        return (PriceRegimeSource(), *self.sources, *vote)

    def llm_stances(self, *, live: bool) -> LlmStances | None:
        """Where a run's LLM attacher keeps accepted stances: only a live run's (``live``),
        whose decisions happen in wall time; None otherwise or without an LLM vote."""
        if self.llm_vote is None or not live:
            return None
        self.llm_vote.live = True
        return self.llm_vote.stances

    async def load(self, symbols: Iterable[str], start_ms: int, end_ms: int) -> None:
        """Before a replay or backtest: NewsAPI searches the window; the other live feeds only
        give their latest items (dated now), so decisions in the past find them unavailable and
        say to replay a recorded research file."""
        chosen = tuple(symbols)
        jobs = []
        for feed in self.feeds.values():
            if isinstance(feed, NewsApiFeed):
                jobs.append(feed.load(chosen, start_ms, end_ms))
        for items in await asyncio.gather(*jobs):
            self.book.add(items)
        self.prepare(chosen)

    async def refresh(self, symbols: Iterable[str], now_ms: int) -> int:
        """Fetch every feed that is due; returns how many new items the book got."""
        chosen = tuple(symbols)
        results = await asyncio.gather(*(f.update(chosen, now_ms) for f in self.feeds.values()))
        added = sum(self.book.add(items) for items in results)
        if self.live:
            self.book.forget_before(now_ms - 2 * self.lookback_ms)
        self.prepare(chosen)
        return added

    def prepare(self, symbols: Iterable[str]) -> None:
        """Index the book for these symbols now, so that no decision pays for it."""
        for symbol in symbols:
            for source in self.sources:
                self.book.prepare(source.kinds, symbol.split("/")[0])

    async def close(self) -> None:
        if self.cache is not None:
            await self.cache.close()


def fetch_moment(decision_ms: int, now_ms: int, step_ms: int) -> int:
    """The moment an ad-hoc analysis's fetch counts as made: the decision's own, when the
    decision is on the newest closed candle (closed at most one candle before ``now_ms``), as a
    live run's fetch between candles; else ``now_ms``, after the decision, so that a past
    moment finds the feeds unavailable (their items were not known then) and says to replay a
    recorded research file."""
    return decision_ms if 0 <= now_ms - decision_ms <= step_ms else now_ms


def research_from_settings(
    settings: Settings,
    *,
    research_file: Path | None = None,
    on_error: ErrorHook | None = None,
) -> ResearchHub:
    """The hub the configuration describes (see the module docstring)."""
    research = settings.research
    llm_vote = (
        LlmStanceSource(
            LlmStances(),
            vote_weight=research.llm.vote_weight,
            max_age_ms=round(research.max_age_minutes * 60_000),
            live=False,
        )
        if research.llm.vote_weight > 0
        else None
    )
    scorer = SentimentScorer()
    # Each item is screened once, when it arrives, with the secrets every record is screened
    # for: a decision then copies its evidence as it is.
    book = ItemBook(
        scorer=scorer,
        source_weights=research.source_weights,
        screen=PrivacyScanner(settings.secret_values()),
    )
    lookback_ms = round(research.lookback_hours * HOUR_MS)
    half_life_ms = round(research.half_life_hours * HOUR_MS)
    if research_file is not None:
        items = read_research_file(research_file)
        book.add(items)
        log.info("research: %d items from %s", len(items), research_file)
        return ResearchHub(
            [FileFeed(kind, research_file) for kind in FEED_KINDS],
            book,
            lookback_ms=lookback_ms,
            half_life_ms=half_life_ms,
            file=research_file,
            llm_vote=llm_vote,
        )
    redis = settings.services.redis_url
    cache = cache_from_url(None if redis is None else redis.get_secret_value())
    services = settings.services
    options: dict[str, Any] = {
        "timeout_s": research.timeout_s
        if settings.agents.timeout_ms is None
        else settings.agents.timeout_ms / 1000,
        "min_refresh_ms": round(research.min_refresh_seconds * 1000),
        "max_age_ms": round(research.max_age_minutes * 60_000),
        "cache": cache,
        "on_error": on_error,
    }
    feeds: list[Feed] = []
    feeds.append(
        RssFeed(research.rss_feeds, **options)
        if research.rss_feeds
        else UnconfiguredFeed("rss", "no RSS feed is configured (RSS_FEEDS)")
    )
    token = settings.credentials.cryptopanic_token
    feeds.append(
        CryptoPanicFeed(services.cryptopanic_url, token, scorer, **options)
        if token is not None
        else UnconfiguredFeed("cryptopanic", "CRYPTOPANIC_TOKEN is not set")
    )
    news = news_source_from_settings(
        settings,
        cache=cache,
        on_error=None
        if on_error is None
        else lambda f: on_error(FeedFailure("newsapi", f.at_ms, _as_feed_error(f.message))),
    )
    feeds.append(
        NewsApiFeed(news)
        if news is not None
        else UnconfiguredFeed("newsapi", "NEWSAPI_KEY is not set")
    )
    feeds.append(
        RedditFeed(
            services.reddit_url,
            research.reddit_subreddits,
            comments=research.reddit_comments,
            **options,
        )
        if research.reddit_subreddits
        else UnconfiguredFeed("reddit", "no subreddit is configured (REDDIT_SUBREDDITS)")
    )
    feeds.append(
        CoinGeckoFeed(services.coingecko_url, **options)
        if research.coingecko_enabled
        else UnconfiguredFeed("coingecko", "research.coingecko_enabled is false")
    )
    feeds.append(
        FearGreedFeed(services.fear_greed_url, **options)
        if research.fear_greed_enabled
        else UnconfiguredFeed("fear_greed", "research.fear_greed_enabled is false")
    )
    feeds.append(
        MempoolFeed(services.mempool_url, **options)
        if research.onchain_enabled
        else UnconfiguredFeed("mempool", "research.onchain_enabled is false")
    )
    return ResearchHub(
        feeds,
        book,
        lookback_ms=lookback_ms,
        half_life_ms=half_life_ms,
        cache=cache,
        llm_vote=llm_vote,
    )


def _as_feed_error(message: str) -> FeedError:
    return FeedError(message, code="newsapi")


def http_feeds(hub: ResearchHub) -> list[HttpFeed]:
    return [f for f in hub.feeds.values() if isinstance(f, HttpFeed)]


def research_file_digest(path: Path) -> str:
    """The file's sha256: a run replaying other research is another run."""
    import hashlib

    if not path.is_file():
        raise ResearchFileError(f"--research {path}: no such file")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
