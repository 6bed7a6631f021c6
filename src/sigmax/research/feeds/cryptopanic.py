"""CryptoPanic's posts API (``GET /api/v1/posts/?auth_token=...&currencies=BTC,ETH``).

The token travels as CryptoPanic requires, in the query; it never enters the cache key, a log
line (the log filter masks CRYPTOPANIC_TOKEN) or an error message (scrubbed here). Each post's
votes are read: with positive or negative votes the item's score is the mean of VADER's reading
of the title and ``(positive - negative) / (positive + negative)``.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from sigmax.research.feeds.base import HttpFeed
from sigmax.research.items import ResearchItem, normalise_symbols, parse_time
from sigmax.research.sentiment import SentimentScorer


class CryptoPanicFeed(HttpFeed):
    kind = "cryptopanic"

    def __init__(
        self, base_url: str, token: SecretStr, scorer: SentimentScorer, **options: Any
    ) -> None:
        super().__init__(base_url, secrets=(token.get_secret_value(),), **options)
        self._token = token
        self._scorer = scorer

    async def fetch(self, bases: tuple[str, ...], now_ms: int) -> tuple[ResearchItem, ...]:
        body = await self.get(
            "/api/v1/posts/",
            {"currencies": ",".join(bases), "public": "true", "kind": "news"},
            secret_params={"auth_token": self._token.get_secret_value()},
            now_ms=now_ms,
        )
        document = self.json_object(body, "the posts answer")
        results = document.get("results")
        if not isinstance(results, list):
            raise self.malformed("results is missing or not a list")
        return tuple(self._item(post, i, bases) for i, post in enumerate(results))

    def _item(self, post: object, index: int, bases: tuple[str, ...]) -> ResearchItem:
        if not isinstance(post, dict):
            raise self.malformed(f"post {index} is not an object")
        title, published = post.get("title"), post.get("published_at")
        if not isinstance(title, str) or not title.strip() or not isinstance(published, str):
            raise self.malformed(f"post {index} has no title or published_at")
        try:
            published_ms = parse_time(published)
        except ValueError:
            raise self.malformed(f"post {index}: published_at {published!r}") from None
        currencies = post.get("currencies") or []
        codes = [
            c["code"] for c in currencies if isinstance(c, dict) and isinstance(c.get("code"), str)
        ]
        votes = post.get("votes") if isinstance(post.get("votes"), dict) else {}
        assert isinstance(votes, dict)
        positive = _count(votes.get("positive")) + _count(votes.get("liked"))
        negative = (
            _count(votes.get("negative"))
            + _count(votes.get("disliked"))
            + _count(votes.get("toxic"))
        )
        score = None
        if positive + negative > 0:
            vader = self._scorer.compound(title)
            score = (vader + (positive - negative) / (positive + negative)) / 2
        source = post.get("source")
        name = source.get("domain") if isinstance(source, dict) else None
        return ResearchItem(
            published_ms=published_ms,
            source=f"cryptopanic:{name}" if isinstance(name, str) and name else "cryptopanic",
            title=title.strip(),
            url=str(post.get("url") or ""),
            symbols=normalise_symbols(c for c in codes if c in bases) if codes else (),
            score=score,
            votes=positive + negative + _count(votes.get("important")),
        )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
