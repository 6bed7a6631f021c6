"""RSS and Atom feeds (CoinDesk, Cointelegraph, ...) read with feedparser.

Each configured URL is fetched over httpx (time limit, rate limit, cache) and parsed by
feedparser from the bytes. An entry is kept when it has a title, a publication or update time,
and names a configured asset or the crypto market (:func:`~.base.symbols_in`). A body that is
neither RSS nor Atom (feedparser finds no feed version and no entry) is malformed.
"""

from __future__ import annotations

import calendar
import html
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import feedparser  # type: ignore[import-untyped]

from sigmax.research.feeds.base import FeedError, HttpFeed, symbols_in
from sigmax.research.items import ResearchItem

_TAG = re.compile(r"<[^>]+>")


def _plain(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


class RssFeed(HttpFeed):
    """Every configured RSS/Atom URL, read in turn."""

    kind = "rss"

    def __init__(self, urls: Iterable[str], **options: Any) -> None:
        self.urls = tuple(urls)
        if not self.urls:
            raise ValueError("urls must not be empty")
        super().__init__(self.urls[0], **options)

    async def fetch(self, bases: tuple[str, ...], now_ms: int) -> tuple[ResearchItem, ...]:
        items: list[ResearchItem] = []
        for url in self.urls:
            body = await self.get(url, now_ms=now_ms)
            items.extend(self.parse(body, url, bases))
        return tuple(items)

    def parse(self, body: bytes, url: str, bases: Iterable[str]) -> list[ResearchItem]:
        parsed = feedparser.parse(body)
        if not parsed.get("version") and not parsed.entries:
            raise FeedError(f"rss: {url} did not answer an RSS or Atom feed", code="format")
        name = _feed_name(parsed, url)
        items: list[ResearchItem] = []
        for entry in parsed.entries:
            title = _plain(str(entry.get("title") or ""))
            moment = entry.get("published_parsed") or entry.get("updated_parsed")
            if not title or moment is None:
                continue
            summary = _plain(str(entry.get("summary") or "")) or None
            symbols = symbols_in(f"{title} {summary or ''}", bases)
            if symbols is None:
                continue
            items.append(
                ResearchItem(
                    published_ms=calendar.timegm(moment) * 1000,
                    source=f"rss:{name}",
                    title=title,
                    url=str(entry.get("link") or ""),
                    symbols=symbols,
                    body=summary[:1000] if summary else None,
                )
            )
        return items


def _feed_name(parsed: Any, url: str) -> str:
    host = urlsplit(url).hostname or "feed"
    name = host.removeprefix("www.").split(".")[0]
    return name or "feed"
