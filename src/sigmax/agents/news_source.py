"""News sentiment for the researcher: NewsAPI.org headlines scored with VADER.

:class:`NewsSentimentSource` is a :class:`~sigmax.agents.researcher.ResearchSource` named
``news``. It keeps, per symbol, the articles found by a search for the symbol's base asset
(:data:`DEFAULT_QUERIES`, data rather than code), each scored once with VADER's compound score
of ``title. description`` (the vaderSentiment package, MIT licence, lexicon shipped inside it).

Numbers (:meth:`NewsSentimentSource.measure`, called on every candle, never waits on the network):

* the window is the articles published in ``(decision_ms - lookback, decision_ms]``; an article
  published after the decision moment is never read, whatever was fetched (no look-ahead);
* ``sentiment`` = the mean compound over the window, in [-1, 1]; it feeds the safety
  enforcer's sentiment-drop trigger;
* ``score`` = ``clip(SENTIMENT_SCORE_SCALE * sentiment)``. VADER calls a compound of 0.05 or
  more positive; a day of headlines averaging +-0.5 is already one-sided, so it maps to a
  full-strength score;
* ``confidence`` = ``MAX_CONFIDENCE * (1 - exp(-articles / CONFIDENCE_ARTICLES))``: one article
  gives 0.06, ten give 0.38, thirty give 0.57; never above the price regime's 0.6, because
  headlines are a weaker signal than the price itself.

The reading is ``available=False``, with the reason, when there is no key, the symbol has no
query, nothing was fetched yet, the last fetch failed, the fetched news does not cover the whole
window (the window starts before the oldest fetched moment, or the newest fetch is older than
``max_age_ms``), or the window holds no article.

Fetching is separate and asynchronous: :meth:`NewsSentimentSource.load` once for a replay or
backtest window, :meth:`NewsSentimentSource.refresh` repeatedly for a live run (it does nothing
for a symbol fetched less than ``min_refresh_interval_ms`` ago, which keeps a live run within the
free plan's 100 requests a day). A failed fetch keeps the articles already held, marks the symbol
failed until a fetch succeeds, logs a WARNING and calls ``on_error`` with a
:class:`NewsFetchFailure`, so the engine can count it as an API error.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
    SentimentIntensityAnalyzer,
)

from sigmax.agents.base import AnalysisContext, clip
from sigmax.agents.market_view import MarketSnapshot
from sigmax.agents.news_client import Article, NewsApiClient, NewsApiError
from sigmax.agents.researcher import SourceReading
from sigmax.config.settings import Settings
from sigmax.domain.candles import ms_to_iso
from sigmax.domain.decisions import Claim, Evidence
from sigmax.domain.instruments import Symbol
from sigmax.research.cache import ResearchCache

log = logging.getLogger(__name__)

HOUR_MS: Final = 3_600_000

#: NewsAPI search per base asset (NewsAPI's syntax: OR, quotes for a phrase).
DEFAULT_QUERIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "BTC": "bitcoin OR BTC",
        "ETH": "ethereum OR ETH",
        "SOL": "solana",
        "BNB": 'BNB OR "binance coin"',
    }
)
DEFAULT_LOOKBACK_MS: Final = 24 * HOUR_MS
#: One search per symbol an hour: four symbols use 96 of the free plan's 100 requests a day.
DEFAULT_MIN_REFRESH_INTERVAL_MS: Final = HOUR_MS
#: News older than this at a decision counts as missing (two missed refreshes).
DEFAULT_MAX_AGE_MS: Final = 2 * DEFAULT_MIN_REFRESH_INTERVAL_MS

SENTIMENT_SCORE_SCALE: Final = 2.0
MAX_CONFIDENCE: Final = 0.6
CONFIDENCE_ARTICLES: Final = 10.0
#: VADER's own thresholds for calling a text positive or negative.
VADER_POSITIVE: Final = 0.05
VADER_NEGATIVE: Final = -0.05
#: How many failures :attr:`NewsSentimentSource.errors` remembers.
ERROR_HISTORY: Final = 100
SOURCE_NAME: Final = "news"
API_NAME: Final = "newsapi"


class VaderScorer:
    """VADER's compound score (-1..1) of a text."""

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()

    def compound(self, text: str) -> float:
        return float(self._analyzer.polarity_scores(text)["compound"])

    def article(self, article: Article) -> float:
        """The article's title and, when there is one, its description, read as one text."""
        text = article.title
        if article.description:
            text = f"{text}. {article.description}"
        return self.compound(text)


@dataclass(frozen=True, slots=True)
class ScoredArticle:
    article: Article
    compound: float


@dataclass(frozen=True, slots=True)
class NewsFetchFailure:
    """One failed NewsAPI search: which symbol, when (the caller's clock), and why.

    ``message`` never contains the key. Hand it to the safety enforcer as
    ``enforcer.record_api_error(f.at_ms, f.source, f.message)``.
    """

    symbol: str
    at_ms: int
    error: NewsApiError
    source: str = API_NAME

    @property
    def message(self) -> str:
        return str(self.error)


@dataclass(frozen=True, slots=True)
class _SymbolNews:
    """What is known for one symbol; replaced whole on every fetch, never changed in place.

    ``covered_from_ms``..``covered_to_ms`` is the span the articles completely cover (None
    before the first successful fetch); ``failure`` is set while the latest fetch failed.
    """

    articles: tuple[ScoredArticle, ...] = ()
    times: tuple[int, ...] = ()
    #: prefix[i] = sum of the first i compounds, so a window's mean costs two look-ups.
    prefix: tuple[float, ...] = (0.0,)
    covered_from_ms: int | None = None
    covered_to_ms: int | None = None
    last_attempt_ms: int | None = None
    failure: NewsFetchFailure | None = None

    @classmethod
    def of(
        cls,
        articles: Iterable[ScoredArticle],
        covered: tuple[int, int],
        attempt_ms: int | None,
    ) -> _SymbolNews:
        ordered = tuple(sorted(articles, key=lambda a: (a.article.published_ms, a.article.url)))
        prefix = [0.0]
        for scored in ordered:
            prefix.append(prefix[-1] + scored.compound)
        return cls(
            ordered,
            tuple(a.article.published_ms for a in ordered),
            tuple(prefix),
            covered[0],
            covered[1],
            attempt_ms,
        )

    def bounds(self, decision_ms: int, lookback_ms: int) -> tuple[int, int]:
        """Index range of the articles published in (decision - lookback, decision]."""
        return (
            bisect.bisect_right(self.times, decision_ms - lookback_ms),
            bisect.bisect_right(self.times, decision_ms),
        )


ErrorHook = Callable[[NewsFetchFailure], None]


class NewsSentimentSource:
    """The ``news`` research source (see the module docstring for every number it gives).

    ``client`` None means NEWSAPI_KEY is not set: every reading is unavailable with that reason.
    ``on_error`` is called once per failed search (load or refresh); the last
    :data:`ERROR_HISTORY` failures are also kept in :attr:`errors`.
    """

    name = SOURCE_NAME

    def __init__(
        self,
        client: NewsApiClient | None,
        *,
        queries: Mapping[str, str] = DEFAULT_QUERIES,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        min_refresh_interval_ms: int = DEFAULT_MIN_REFRESH_INTERVAL_MS,
        max_age_ms: int = DEFAULT_MAX_AGE_MS,
        on_error: ErrorHook | None = None,
        scorer: VaderScorer | None = None,
    ) -> None:
        if lookback_ms <= 0:
            raise ValueError(f"lookback_ms must be > 0 (got {lookback_ms})")
        if min_refresh_interval_ms < 0:
            raise ValueError(
                f"min_refresh_interval_ms must be >= 0 (got {min_refresh_interval_ms})"
            )
        if max_age_ms <= 0:
            raise ValueError(f"max_age_ms must be > 0 (got {max_age_ms})")
        self._client = client
        self.queries = MappingProxyType({k.upper(): v for k, v in queries.items()})
        self.lookback_ms = lookback_ms
        self.min_refresh_interval_ms = min_refresh_interval_ms
        self.max_age_ms = max_age_ms
        self.on_error = on_error
        self._scorer = scorer or VaderScorer()
        self._news: dict[str, _SymbolNews] = {}
        self._errors: deque[NewsFetchFailure] = deque(maxlen=ERROR_HISTORY)
        # The window measure() used, so explain() quotes exactly the articles that were counted
        # even if a refresh completed in between.
        self._measured: dict[str, tuple[int, _SymbolNews, int, int]] = {}
        self._no_key = SourceReading(
            self.name, False, reason="NEWSAPI_KEY is not set, so no news is fetched"
        )
        self._hours = f"{lookback_ms / HOUR_MS:g} h"

    @property
    def client(self) -> NewsApiClient | None:
        """The NewsAPI client (``None``: no key, nothing is fetched)."""
        return self._client

    def __repr__(self) -> str:
        return (
            f"NewsSentimentSource(client={self._client!r}, symbols={sorted(self._news)}, "
            f"lookback_ms={self.lookback_ms})"
        )

    @property
    def errors(self) -> tuple[NewsFetchFailure, ...]:
        """The most recent failed searches, oldest first."""
        return tuple(self._errors)

    def articles(self, symbol: str) -> tuple[Article, ...]:
        """Every article held for ``symbol``, oldest first."""
        state = self._news.get(_symbol_key(symbol))
        return tuple(a.article for a in state.articles) if state else ()

    # -- numbers --------------------------------------------------------------------------------

    def measure(self, snapshot: MarketSnapshot) -> SourceReading:
        if self._client is None:
            return self._no_key
        symbol = snapshot.symbol
        state = self._news.get(symbol)
        decision_ms = snapshot.decision_ms
        reason = self._unavailable_because(symbol, state, decision_ms)
        if state is None or reason is not None:
            return SourceReading(self.name, False, reason=reason or "no news fetched yet")
        lo, hi = state.bounds(decision_ms, self.lookback_ms)
        count = hi - lo
        if count == 0:
            return SourceReading(
                self.name,
                False,
                reason=f"no news articles about {symbol} in the {self._hours} "
                f"before {ms_to_iso(decision_ms)}",
            )
        self._measured[symbol] = (decision_ms, state, lo, hi)
        sentiment = clip((state.prefix[hi] - state.prefix[lo]) / count)
        score = clip(SENTIMENT_SCORE_SCALE * sentiment)
        return SourceReading(
            self.name,
            True,
            score=score,
            confidence=_confidence(count),
            claim_weights=(score, 0.0),
            sentiment=sentiment,
        )

    def coverage_problem(self, symbol: str, decision_ms: int) -> str | None:
        """Why the news held for ``symbol`` cannot be read at ``decision_ms`` (no key, not
        fetched, the last search failed, the window not covered), or None."""
        if self._client is None:
            return self._no_key.reason
        key = _symbol_key(symbol)
        return self._unavailable_because(key, self._news.get(key), decision_ms)

    def _unavailable_because(
        self, symbol: str, state: _SymbolNews | None, decision_ms: int
    ) -> str | None:
        if state is None:
            base = symbol.split("/")[0]
            if base not in self.queries:
                return f"no news query is configured for {base}"
            return f"no news fetched yet for {symbol}"
        if state.failure is not None:
            return f"the last NewsAPI search for {symbol} failed: {state.failure.message}"
        if state.covered_from_ms is None or state.covered_to_ms is None:
            return f"no news fetched yet for {symbol}"
        if decision_ms - self.lookback_ms < state.covered_from_ms:
            return (
                f"the news fetched for {symbol} starts at {ms_to_iso(state.covered_from_ms)}, "
                f"after the start of the {self._hours} window"
            )
        if decision_ms - state.covered_to_ms > self.max_age_ms:
            return (
                f"the news fetched for {symbol} ends at {ms_to_iso(state.covered_to_ms)}, "
                f"more than {self.max_age_ms / HOUR_MS:g} h before the decision"
            )
        return None

    # -- explanation ----------------------------------------------------------------------------

    def explain(self, context: AnalysisContext, reading: SourceReading) -> tuple[Claim, ...]:
        """The sentiment with its article count, then the most positive and the most negative
        headline of the window, quoted verbatim with their sources (the privacy screen redacts
        the record's texts after this)."""
        window = self._window(context.snapshot)
        count = len(window)
        sentiment = sum(a.compound for a in window) / count
        label = (
            "positive"
            if sentiment >= VADER_POSITIVE
            else "negative"
            if sentiment <= VADER_NEGATIVE
            else "neutral"
        )
        summary = Claim(
            (
                "News sentiment: ",
                Evidence("news_sentiment", "mean VADER compound of headlines", sentiment),
                " over ",
                Evidence("news_articles", f"articles in the last {self._hours}", float(count)),
                f": {label}.",
            ),
            reading.claim_weights[0],
        )
        # Ties go to the most recent article.
        best = max(window, key=lambda a: (a.compound, a.article.published_ms))
        worst = min(window, key=lambda a: (a.compound, -a.article.published_ms))
        if best is worst:
            parts: tuple[str | Evidence, ...] = (
                "Only headline: ",
                *_quote(best, "news_headline_compound"),
                ".",
            )
        else:
            parts = (
                "Most positive headline: ",
                *_quote(best, "news_top_headline_compound"),
                "; most negative: ",
                *_quote(worst, "news_bottom_headline_compound"),
                ".",
            )
        return (summary, Claim(parts, reading.claim_weights[1]))

    def _window(self, snapshot: MarketSnapshot) -> tuple[ScoredArticle, ...]:
        measured = self._measured.get(snapshot.symbol)
        if measured is not None and measured[0] == snapshot.decision_ms:
            _, state, lo, hi = measured
        else:
            state = self._news.get(snapshot.symbol, _SymbolNews())
            lo, hi = state.bounds(snapshot.decision_ms, self.lookback_ms)
        if hi <= lo:
            raise ValueError(
                f"explain needs an available news reading for {snapshot.symbol} at "
                f"{ms_to_iso(snapshot.decision_ms)}; measure found no article"
            )
        return state.articles[lo:hi]

    # -- fetching -------------------------------------------------------------------------------

    async def load(
        self, symbols: Iterable[str], start_ms: int, end_ms: int
    ) -> tuple[NewsFetchFailure, ...]:
        """Fetch what decisions in [start_ms, end_ms] need (from ``start_ms - lookback``), once,
        for a replay or backtest. Replaces what was held for each symbol that succeeds; returns
        the failures (also reported through ``on_error`` and :attr:`errors`)."""
        if end_ms < start_ms:
            raise ValueError(f"end_ms ({end_ms}) must not be before start_ms ({start_ms})")
        keys = [_symbol_key(s) for s in symbols]
        jobs = [
            self._fetch(key, start_ms - self.lookback_ms, end_ms, end_ms, merge=False)
            for key in keys
        ]
        results = await asyncio.gather(*jobs)
        return tuple(f for f in results if f is not None)

    async def refresh(self, symbols: Iterable[str], now_ms: int) -> tuple[NewsFetchFailure, ...]:
        """For a live run: search again for each symbol last tried at least
        ``min_refresh_interval_ms`` ago (failed tries count, so a rate limit is not hammered).

        Only the time since the last fetch is searched, and the new articles join those held;
        articles older than the look-back are dropped. Returns the failures of this call.
        """
        jobs = []
        for key in dict.fromkeys(_symbol_key(s) for s in symbols):
            state = self._news.get(key)
            last = state.last_attempt_ms if state else None
            if last is not None and now_ms - last < self.min_refresh_interval_ms:
                continue
            start = now_ms - self.lookback_ms
            if state is not None and state.covered_to_ms is not None:
                start = max(start, min(state.covered_to_ms, now_ms))
            jobs.append(self._fetch(key, start, now_ms, now_ms, merge=True))
        results = await asyncio.gather(*jobs)
        return tuple(f for f in results if f is not None)

    async def _fetch(
        self, symbol: str, from_ms: int, to_ms: int, at_ms: int, *, merge: bool
    ) -> NewsFetchFailure | None:
        client = self._client
        query = self.queries.get(symbol.split("/")[0])
        if client is None or query is None:
            return None  # measure() reports why; there is nothing to ask NewsAPI
        previous = self._news.get(symbol, _SymbolNews())
        try:
            result = await client.everything(query, from_ms, to_ms)
        except NewsApiError as error:
            failure = NewsFetchFailure(symbol, at_ms, error)
            self._news[symbol] = _replace_failure(previous, failure, at_ms)
            self._errors.append(failure)
            log.warning("News search for %s failed: %s", symbol, failure.message)
            if self.on_error is not None:
                self.on_error(failure)
            return failure
        fresh = [
            ScoredArticle(a, self._scorer.article(a))
            for a in result.articles
            if not a.removed and a.title and from_ms <= a.published_ms <= to_ms
        ]
        covered_from = from_ms
        if result.truncated and result.articles:
            # Newest first: what is missing is older than the oldest article received.
            covered_from = min(a.published_ms for a in result.articles)
            log.warning(
                "NewsAPI returned %d of %d articles for %s; news before %s is missing",
                len(result.articles),
                result.total_results,
                symbol,
                ms_to_iso(covered_from),
            )
        if (
            merge
            and previous.covered_from_ms is not None
            and previous.covered_to_ms is not None
            and covered_from <= previous.covered_to_ms
        ):
            keep_from = to_ms - self.lookback_ms
            seen = {(a.article.url, a.article.published_ms) for a in fresh}
            kept = [
                a
                for a in previous.articles
                if a.article.published_ms > keep_from
                and (a.article.url, a.article.published_ms) not in seen
            ]
            fresh = kept + fresh
            covered_from = max(previous.covered_from_ms, keep_from)
        self._news[symbol] = _SymbolNews.of(fresh, (covered_from, to_ms), at_ms)
        return None


def _replace_failure(previous: _SymbolNews, failure: NewsFetchFailure, at_ms: int) -> _SymbolNews:
    return _SymbolNews(
        previous.articles,
        previous.times,
        previous.prefix,
        previous.covered_from_ms,
        previous.covered_to_ms,
        at_ms,
        failure,
    )


def _symbol_key(symbol: str) -> str:
    return str(Symbol.parse(symbol))


def _confidence(count: int) -> float:
    return MAX_CONFIDENCE * (1.0 - math.exp(-count / CONFIDENCE_ARTICLES))


def _quote(scored: ScoredArticle, key: str) -> tuple[str | Evidence, ...]:
    article = scored.article
    return (
        f'"{article.title}" ({article.source_name or "unknown source"}, ',
        Evidence(key, "VADER compound", scored.compound),
        ")",
    )


def news_source_from_settings(
    settings: Settings,
    *,
    on_error: ErrorHook | None = None,
    cache: ResearchCache | None = None,
) -> NewsSentimentSource | None:
    """The news source configured by NEWSAPI_KEY and NEWSAPI_URL; None without a key.
    ``cache`` keeps NewsAPI's answers for ``research.min_refresh_seconds``."""
    key = settings.credentials.newsapi_key
    if key is None:
        return None
    timeout_ms = settings.agents.timeout_ms
    options: dict[str, Any] = {
        "cache": cache,
        "cache_ttl_s": settings.research.min_refresh_seconds,
    }
    if timeout_ms is not None:  # agents.timeout_ms (the runbook's optimization.yaml)
        options["timeout"] = timeout_ms / 1000
    client = NewsApiClient(settings.services.newsapi_url, key, **options)
    return NewsSentimentSource(client, on_error=on_error)
