"""`sigmax analyze SYMBOL` without --research reads the live feeds a live run reads, fetched once
before the decision, against the 127.0.0.1 stand-in: on the newest closed candle their items
count; at a past moment they are unavailable (they were not known then) and say why."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from support.research_servers import CRYPTOPANIC_TOKEN, Post, ResearchLoopback

HOUR_MS = 3_600_000
BUNDLED = Path(__file__).parents[2] / "src/sigmax/data/bundled/candles/binance_BTC-USDT_1h.csv"
CANDLES = 3000
FEEDS = ("rss", "cryptopanic", "newsapi", "reddit", "coingecko", "fear_greed", "mempool")


def _candles_closing_at(folder: Path, last_close_ms: int) -> Path:
    """The bundled BTC/USDT 1h candles' last CANDLES rows, moved in time so that the newest
    closes at ``last_close_ms`` (real prices, a recent clock)."""
    rows = BUNDLED.read_text(encoding="utf-8").splitlines()
    header, body = rows[0], rows[-CANDLES:]
    shift = last_close_ms - HOUR_MS - int(body[-1].split(",", 1)[0])
    moved = [f"{int(r.split(',', 1)[0]) + shift},{r.split(',', 1)[1]}" for r in body]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BUNDLED.name).write_text("\n".join([header, *moved]) + "\n", encoding="utf-8")
    return folder


def _configure(home: Path, monkeypatch: pytest.MonkeyPatch, server: ResearchLoopback) -> None:
    base = server.base_url
    monkeypatch.setenv("RSS_FEEDS", f"{base}/rss/coindesk.xml")
    monkeypatch.setenv("CRYPTOPANIC_TOKEN", CRYPTOPANIC_TOKEN)
    monkeypatch.setenv("REDDIT_SUBREDDITS", "Bitcoin")
    for name in ("CRYPTOPANIC_URL", "REDDIT_URL", "COINGECKO_URL", "FEAR_GREED_URL", "MEMPOOL_URL"):
        monkeypatch.setenv(name, base)
    config = home / "config"
    repo_config = Path(__file__).parents[2] / "config"
    (config / "profiles").mkdir(parents=True)
    for name in ("safety.yaml", "agents.yaml"):
        (config / name).write_text((repo_config / name).read_text(), encoding="utf-8")
    for profile in (repo_config / "profiles").iterdir():
        (config / "profiles" / profile.name).write_text(profile.read_text(), encoding="utf-8")
    (config / "config.yaml").write_text(
        "research:\n"
        "  reddit_comments: false\n"
        "  coingecko_enabled: true\n"
        "  fear_greed_enabled: true\n"
        "  onchain_enabled: true\n",
        encoding="utf-8",
    )


async def _analyze(*args: str) -> dict[str, Any]:
    result = await asyncio.to_thread(CliRunner().invoke, _app(), ["analyze", *args, "--json"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _app() -> Any:
    from sigmax.cli import app

    return app


async def _newest_close_ms() -> int:
    """The close of the newest closed 1h candle, far enough from the next close that it is
    still the newest when the command runs (the fetch counts at the decision's moment only
    then)."""
    if time.time() * 1000 % HOUR_MS > HOUR_MS - 20_000:
        await asyncio.sleep(25)
    return int(time.time() * 1000) // HOUR_MS * HOUR_MS


def _researcher(document: dict[str, Any]) -> dict[str, Any]:
    agent = next(a for a in document["agents"] if a["name"] == "researcher")
    details: dict[str, Any] = agent["details"]
    return details


async def test_analyze_reads_the_configured_live_feeds_fetched_once(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch, research_server: ResearchLoopback
) -> None:
    last_close_ms = await _newest_close_ms()
    decided_at = datetime.fromtimestamp(last_close_ms / 1000, UTC)
    research_server.rss["coindesk"] = [
        Post(
            "Bitcoin rallies on record ETF inflows", decided_at - timedelta(hours=1), "https://x/1"
        )
    ]
    research_server.cryptopanic = [
        Post("Bitcoin miners expand", decided_at - timedelta(hours=2), positive=9, negative=1)
    ]
    research_server.reddit["Bitcoin"] = [Post("BTC looks strong", decided_at - timedelta(hours=3))]
    research_server.fear_greed = [(72, decided_at - timedelta(hours=4))]
    research_server.global_updated = decided_at - timedelta(minutes=30)
    _configure(sigmax_home, monkeypatch, research_server)
    data = _candles_closing_at(sigmax_home / "candles", last_close_ms)

    document = await _analyze("BTC/USDT", "--data", str(data))
    details = _researcher(document)
    feeds = details["feeds"]
    assert set(feeds) == set(FEEDS)
    for kind in ("rss", "cryptopanic", "reddit", "coingecko", "fear_greed", "mempool"):
        assert feeds[kind] == "available", (kind, feeds[kind])
    assert "NEWSAPI_KEY" in feeds["newsapi"]
    available = {s for s, status in details["sources"].items() if status == "available"}
    assert available == {"price_regime", "news", "social", "market", "onchain"}
    titles = {item["title"] for item in details["items"]}
    assert "Bitcoin rallies on record ETF inflows" in titles
    # Fetched once each, before the decision.
    for route in ("rss", "cryptopanic", "reddit", "fear_greed", "mempool"):
        assert research_server.hits[route] == 1, (route, research_server.hits)

    # A past moment: the same feeds, fetched now, are unavailable there and say why.
    past = datetime.fromtimestamp((last_close_ms - 30 * HOUR_MS) / 1000, UTC).isoformat()
    earlier = _researcher(await _analyze("BTC/USDT", "--data", str(data), "--at", past))
    assert "items" not in earlier or earlier["items"] == []
    for kind in ("rss", "cryptopanic", "reddit", "coingecko", "fear_greed", "mempool"):
        assert "after this moment" in earlier["feeds"][kind], earlier["feeds"][kind]
        assert "--research" in earlier["feeds"][kind]


async def test_a_failing_feed_is_unavailable_with_its_reason(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch, research_server: ResearchLoopback
) -> None:
    last_close_ms = await _newest_close_ms()
    research_server.fail["rss"] = "malformed"
    research_server.fail["fear_greed"] = "429"
    _configure(sigmax_home, monkeypatch, research_server)
    data = _candles_closing_at(sigmax_home / "candles", last_close_ms)
    feeds = _researcher(await _analyze("BTC/USDT", "--data", str(data)))["feeds"]
    assert feeds["rss"].startswith("unavailable: the last rss fetch failed"), feeds["rss"]
    assert feeds["fear_greed"].startswith("unavailable: the last fear_greed fetch failed"), feeds[
        "fear_greed"
    ]
    assert feeds["mempool"] == "available"
