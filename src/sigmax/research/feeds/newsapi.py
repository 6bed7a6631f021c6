"""NewsAPI as a research feed: :class:`~sigmax.agents.news_source.NewsSentimentSource` wrapped.

The news source keeps doing what it did (searches per asset, covered windows, the free plan's
refresh interval, failures reported and remembered); this feed hands its articles to the item
book as items of kind ``newsapi`` and asks it whether its news covers a decision's window.
"""

from __future__ import annotations

from collections.abc import Iterable

from sigmax.agents.news_source import NewsSentimentSource
from sigmax.research.feeds.base import Feed
from sigmax.research.items import ResearchItem


class NewsApiFeed(Feed):
    kind = "newsapi"

    def __init__(self, source: NewsSentimentSource) -> None:
        self.source = source

    def problem(self, symbol: str, decision_ms: int) -> str | None:
        return self.source.coverage_problem(symbol, decision_ms)

    def _items(self, symbols: Iterable[str]) -> tuple[ResearchItem, ...]:
        items = []
        for symbol in symbols:
            base = symbol.split("/")[0]
            for article in self.source.articles(symbol):
                if article.removed or not article.title:
                    continue
                items.append(
                    ResearchItem(
                        published_ms=article.published_ms,
                        source=f"newsapi:{article.source_name}"
                        if article.source_name
                        else "newsapi",
                        title=article.title,
                        url=article.url,
                        symbols=(base,),
                        body=article.description,
                    )
                )
        return tuple(items)

    async def load(
        self, symbols: Iterable[str], start_ms: int, end_ms: int
    ) -> tuple[ResearchItem, ...]:
        chosen = tuple(symbols)
        await self.source.load(chosen, start_ms, end_ms)
        return self._items(chosen)

    async def update(self, symbols: Iterable[str], now_ms: int) -> tuple[ResearchItem, ...]:
        chosen = tuple(symbols)
        await self.source.refresh(chosen, now_ms)
        return self._items(chosen)
