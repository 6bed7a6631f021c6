"""Market-wide readings: CoinGecko's global data and trending searches, the Fear & Greed index.

They become items with a score of their own (no text to read):

* CoinGecko ``/api/v3/global``: ``score = clip(market_cap_change_percentage_24h_usd / 5)`` (a
  5 % day for the whole market is a full-strength reading), market-wide, dated ``updated_at``;
  the title quotes the change, BTC and ETH dominance and the 24 h volume.
* CoinGecko ``/api/v3/search/trending``: a configured asset among the trending searches gets an
  item ``score = 0.3 * (1 - (rank - 1) / count)`` (attention, mildly bullish), dated at the fetch.
* alternative.me ``/fng/``: ``score = (value - 50) / 50``, market-wide, dated its ``timestamp``.
"""

from __future__ import annotations

from typing import Any, Final

from sigmax.research.feeds.base import HttpFeed
from sigmax.research.items import ResearchItem

MARKET_CHANGE_FULL_PCT: Final = 5.0
TRENDING_MAX_SCORE: Final = 0.3


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class CoinGeckoFeed(HttpFeed):
    kind = "coingecko"

    async def fetch(self, bases: tuple[str, ...], now_ms: int) -> tuple[ResearchItem, ...]:
        document = self.json_object(
            await self.get("/api/v3/global", now_ms=now_ms), "the global answer"
        )
        data = document.get("data")
        if not isinstance(data, dict):
            raise self.malformed("global: data is missing")
        change = _number(data.get("market_cap_change_percentage_24h_usd"))
        updated = _number(data.get("updated_at"))
        shares = data.get("market_cap_percentage")
        volume = data.get("total_volume")
        if change is None or updated is None or not isinstance(shares, dict):
            raise self.malformed(
                "global: market_cap_change_percentage_24h_usd, updated_at or "
                "market_cap_percentage is missing"
            )
        btc, eth = _number(shares.get("btc")), _number(shares.get("eth"))
        usd_volume = _number(volume.get("usd")) if isinstance(volume, dict) else None
        parts = [f"Crypto market cap 24h change {change:+.2f}%"]
        if btc is not None:
            parts.append(f"BTC dominance {btc:.2f}%")
        if eth is not None:
            parts.append(f"ETH dominance {eth:.2f}%")
        if usd_volume is not None:
            parts.append(f"24h volume ${usd_volume / 1e9:.1f}bn")
        items = [
            ResearchItem(
                published_ms=round(updated * 1000),
                source="coingecko:global",
                title=", ".join(parts),
                url="https://www.coingecko.com/en/global-charts",
                score=max(-1.0, min(1.0, change / MARKET_CHANGE_FULL_PCT)),
            )
        ]
        trending = self.json_object(
            await self.get("/api/v3/search/trending", now_ms=now_ms), "the trending answer"
        )
        coins = trending.get("coins")
        if not isinstance(coins, list):
            raise self.malformed("trending: coins is missing")
        count = len(coins)
        for rank, coin in enumerate(coins, start=1):
            item = coin.get("item") if isinstance(coin, dict) else None
            if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
                raise self.malformed(f"trending: coin {rank} has no item.symbol")
            symbol = item["symbol"].upper()
            if symbol not in bases:
                continue
            items.append(
                ResearchItem(
                    published_ms=now_ms,
                    source="coingecko:trending",
                    title=f"{symbol} is #{rank} of {count} in CoinGecko's trending searches",
                    url=f"https://www.coingecko.com/en/coins/{item.get('id', '')}",
                    symbols=(symbol,),
                    score=TRENDING_MAX_SCORE * (1 - (rank - 1) / count),
                )
            )
        return tuple(items)


class FearGreedFeed(HttpFeed):
    kind = "fear_greed"

    def __init__(self, base_url: str, **options: Any) -> None:
        super().__init__(base_url, **options)

    async def fetch(self, bases: tuple[str, ...], now_ms: int) -> tuple[ResearchItem, ...]:
        document = self.json_object(
            await self.get("/fng/", {"limit": "2", "format": "json"}, now_ms=now_ms),
            "the index answer",
        )
        data = document.get("data")
        if not isinstance(data, list) or not data:
            raise self.malformed("data is missing or empty")
        items = []
        for index, row in enumerate(data):
            if not isinstance(row, dict):
                raise self.malformed(f"data {index} is not an object")
            try:
                value = int(row["value"])
                stamp = int(row["timestamp"])
            except (KeyError, TypeError, ValueError):
                raise self.malformed(f"data {index}: value or timestamp is not a number") from None
            if not 0 <= value <= 100:
                raise self.malformed(f"data {index}: value {value} is outside 0..100")
            label = row.get("value_classification")
            items.append(
                ResearchItem(
                    published_ms=stamp * 1000,
                    source="fear_greed",
                    title=f"Fear & Greed Index {value}"
                    + (f" ({label})" if isinstance(label, str) else ""),
                    url="https://alternative.me/crypto/fear-and-greed-index/",
                    score=(value - 50) / 50,
                )
            )
        return tuple(items)
