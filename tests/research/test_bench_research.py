"""``sigmax bench decisions`` with every research feed enabled against the 127.0.0.1 stand-in:
the feeds are fetched ahead of each decision, never inside its timing, and every source is read."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from sigmax.bench.decisions_bench import run_decisions_bench
from sigmax.config import load_settings
from sigmax.data.catalog import DatasetCatalog
from sigmax.domain.candles import ms_to_datetime
from sigmax.engine.facade import HistoryCache
from support.research_servers import CRYPTOPANIC_TOKEN, Post, ResearchLoopback

COUNT = 200


def fill_for(server: ResearchLoopback, start_ms: int, end_ms: int) -> None:
    """A post every two hours over the window in each feed, dated as the bench decides."""
    moment = ms_to_datetime(start_ms) - timedelta(days=1)
    end = ms_to_datetime(end_ms)
    titles = ("Bitcoin rallies on ETF inflows", "Bitcoin slides as liquidations mount")
    k = 0
    posts: list[Post] = []
    while moment <= end:
        posts.append(Post(titles[k % 2], moment, f"https://example.com/{k}", positive=k % 3))
        moment += timedelta(hours=2)
        k += 1
    server.rss["coindesk"] = posts
    server.cryptopanic = posts
    server.reddit["Bitcoin"] = posts
    server.reddit_comments["Bitcoin"] = posts[::3]
    server.global_updated = ms_to_datetime(end_ms)
    server.fear_greed = [(40 + (i % 30), p.at) for i, p in enumerate(posts[::12])]


def enable_all(monkeypatch: pytest.MonkeyPatch, server: ResearchLoopback) -> None:
    monkeypatch.setenv("RSS_FEEDS", f"{server.base_url}/rss/coindesk.xml")
    monkeypatch.setenv("CRYPTOPANIC_TOKEN", CRYPTOPANIC_TOKEN)
    monkeypatch.setenv("CRYPTOPANIC_URL", server.base_url)
    monkeypatch.setenv("REDDIT_SUBREDDITS", "Bitcoin")
    monkeypatch.setenv("REDDIT_URL", server.base_url)
    monkeypatch.setenv("COINGECKO_URL", server.base_url)
    monkeypatch.setenv("FEAR_GREED_URL", server.base_url)
    monkeypatch.setenv("MEMPOOL_URL", server.base_url)


async def test_every_source_is_read_and_fetching_stays_off_the_decision_path(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch, research_server: ResearchLoopback
) -> None:
    settings = load_settings()
    moments = [
        int(m)
        for m in HistoryCache(DatasetCatalog.from_path(None), settings)(
            "BTC/USDT"
        ).decision_moments()
    ]
    fill_for(research_server, moments[-COUNT - 10], moments[-1])
    enable_all(monkeypatch, research_server)
    settings = load_settings(
        overrides={
            "research.coingecko_enabled": True,
            "research.fear_greed_enabled": True,
            "research.onchain_enabled": True,
            # Once per 6 h of market time, as a live run's refresh interval would allow.
            "research.min_refresh_seconds": 6 * 3600,
            "research.max_age_minutes": 12 * 60,
        }
    )
    result = await asyncio.to_thread(run_decisions_bench, "BTC/USDT", COUNT, None, settings)
    assert result["decisions"] == COUNT
    assert result["research_sources_available"]["news"] == COUNT
    assert result["research_sources_available"]["social"] == COUNT
    assert result["research_sources_available"]["market"] == COUNT
    assert result["research_sources_available"]["onchain"] == COUNT
    assert result["research_items_held"] > 0
    assert result["research_fetch_p50_ms"] is not None
    # Fetched over HTTP, then answered by the cache while its answer is fresh.
    assert research_server.hits["rss"] >= 1
    assert research_server.hits["coingecko_global"] >= 1
    assert research_server.hits["mempool"] >= 1
