"""Reddit's public JSON listings: ``/r/<sub>/new.json`` (posts) and ``/r/<sub>/comments.json``.

A subreddit named after an asset (``Bitcoin``, ``ethereum``, ``solana``) ties its posts to that
asset; others (``CryptoCurrency``) tie each post to the assets it names, or to the whole market.
Each item's ``votes`` is the post's or comment's Reddit score, which raises its weight.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from sigmax.research.feeds.base import HttpFeed, symbols_in
from sigmax.research.items import ResearchItem

SUBREDDIT_ASSETS: Final = {
    "bitcoin": "BTC",
    "btc": "BTC",
    "ethereum": "ETH",
    "ethtrader": "ETH",
    "ethfinance": "ETH",
    "solana": "SOL",
    "bnbchainofficial": "BNB",
}
LIMIT: Final = 100
#: Comments are cut to this many characters (the title of a comment item).
COMMENT_TITLE_CHARS: Final = 300


class RedditFeed(HttpFeed):
    kind = "reddit"

    def __init__(
        self, base_url: str, subreddits: Iterable[str], *, comments: bool, **options: Any
    ) -> None:
        super().__init__(base_url, **options)
        self.subreddits = tuple(s.strip().removeprefix("r/") for s in subreddits if s.strip())
        if not self.subreddits:
            raise ValueError("subreddits must not be empty")
        self.comments = comments

    async def fetch(self, bases: tuple[str, ...], now_ms: int) -> tuple[ResearchItem, ...]:
        items: list[ResearchItem] = []
        for sub in self.subreddits:
            paths = [f"/r/{sub}/new.json"] + ([f"/r/{sub}/comments.json"] if self.comments else [])
            for path in paths:
                body = await self.get(path, {"limit": str(LIMIT), "raw_json": "1"}, now_ms=now_ms)
                items.extend(self.parse(body, sub, bases))
        return tuple(items)

    def parse(self, body: bytes, sub: str, bases: Iterable[str]) -> list[ResearchItem]:
        document = self.json_object(body, f"r/{sub}'s listing")
        data = document.get("data")
        if document.get("kind") != "Listing" or not isinstance(data, dict):
            raise self.malformed(f"r/{sub}: not a Listing")
        children = data.get("children")
        if not isinstance(children, list):
            raise self.malformed(f"r/{sub}: data.children is not a list")
        asset = SUBREDDIT_ASSETS.get(sub.lower())
        items = []
        for index, child in enumerate(children):
            if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
                raise self.malformed(f"r/{sub}: child {index} has no data")
            kind, entry = child.get("kind"), child["data"]
            created = entry.get("created_utc")
            if isinstance(created, bool) or not isinstance(created, int | float):
                raise self.malformed(f"r/{sub}: child {index} has no created_utc")
            if kind == "t3":
                title, body_text = entry.get("title"), entry.get("selftext") or None
            elif kind == "t1":
                text = entry.get("body")
                title = text[:COMMENT_TITLE_CHARS] if isinstance(text, str) else None
                body_text = None
            else:
                continue
            if not isinstance(title, str) or not title.strip():
                continue
            if body_text is not None and not isinstance(body_text, str):
                body_text = None
            symbols: tuple[str, ...] | None
            if asset is not None:
                symbols = (asset,) if asset in bases else None
            else:
                symbols = symbols_in(f"{title} {body_text or ''}", bases)
            if symbols is None:
                continue
            score = entry.get("score")
            permalink = entry.get("permalink")
            items.append(
                ResearchItem(
                    published_ms=round(float(created) * 1000),
                    source=f"reddit:r/{sub}",
                    title=" ".join(title.split()),
                    url=f"https://www.reddit.com{permalink}" if isinstance(permalink, str) else "",
                    symbols=symbols,
                    body=body_text[:1000] if body_text else None,
                    votes=score if isinstance(score, int) and not isinstance(score, bool) else None,
                )
            )
        return items
