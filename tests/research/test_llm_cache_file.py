"""The LLM's reply cache and budget in `$SIGMAX_HOME/llm/cache.sqlite` (no REDIS_URL): shared by
every reasoner of the home, as two processes would share it, against the OpenAI stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigmax.config import load_settings
from sigmax.research.llm.attach import llm_cache_path, reasoner_from_settings
from sigmax.research.sqlite_cache import SqliteCache
from support.research_servers import OPENAI_KEY, ResearchLoopback

RECORD = {
    "id": "d1",
    "symbol": "BTC/USDT",
    "timestamp": "2023-01-09T04:00:00Z",
    "decision": "BUY",
    "score": 0.5,
    "confidence": 0.7,
    "reasoning": {"decision": "BUY"},
    "agents": [{"name": "analyzer", "evidence": [{"key": "rsi", "label": "RSI", "value": 55.0}]}],
}


async def test_a_second_reasoner_reads_the_first_ones_replies_and_spending(
    sigmax_home: Path, research_server: ResearchLoopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("LLM_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_URL", f"{research_server.base_url}/v1")
    # Room for one call's worst case, not two.
    monkeypatch.setenv("LLM_DAILY_BUDGET_USD", "0.0005")
    settings = load_settings()
    first = reasoner_from_settings(settings)
    assert first is not None
    assert isinstance(first.cache, SqliteCache)
    assert first.cache.path == llm_cache_path(settings)
    assert (await first.annotate(RECORD))["status"] == "ok"
    second = reasoner_from_settings(settings)
    assert second is not None
    # The same evidence: from the file, free. Other evidence: the day's budget is spent.
    assert (await second.annotate(RECORD))["status"] == "cached"
    other = dict(RECORD, decision="SELL")
    refused = await second.annotate(other)
    assert refused["status"] == "budget_spent", refused
    assert research_server.hits["openai"] == 1


async def test_entries_expire_and_counters_add_up(tmp_path: Path) -> None:
    cache = SqliteCache(tmp_path / "llm" / "cache.sqlite")
    await cache.set("kept", b"1", None)
    await cache.set("gone", b"2", -1.0)
    assert await cache.get("kept") == b"1"
    assert await cache.get("gone") is None
    other = SqliteCache(cache.path)
    assert await cache.incr("n", 5, 60) == 5
    assert await other.incr("n", 7, 60) == 12
