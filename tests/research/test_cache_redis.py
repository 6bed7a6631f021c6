"""The research cache on the real Redis server (127.0.0.1:6379), and the LLM budget over it."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest

from conftest import require_service
from sigmax.research.cache import CacheError, RedisCache
from sigmax.research.llm.reasoner import LlmBudget

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


async def test_values_expire_and_counters_add_up(redis_url: str) -> None:
    cache = RedisCache(redis_url)
    key = f"test:{uuid.uuid4().hex}"
    try:
        assert await cache.get(key) is None
        await cache.set(key, b"body", 0.2)
        assert await cache.get(key) == b"body"
        await asyncio.sleep(0.35)
        assert await cache.get(key) is None
        assert await cache.incr(f"{key}:n", 5, 10) == 5
        assert await cache.incr(f"{key}:n", 7, 10) == 12
    finally:
        await cache.close()


async def test_the_budget_is_shared_through_redis(redis_url: str) -> None:
    day = 1_700_000_000.0 + uuid.uuid4().int % 10_000 * 86_400  # a day no other test uses
    one, two = RedisCache(redis_url), RedisCache(redis_url)
    try:
        first = LlmBudget(one, daily_usd=Decimal("0.001"), daily_tokens=10_000, clock=lambda: day)
        second = LlmBudget(two, daily_usd=Decimal("0.001"), daily_tokens=10_000, clock=lambda: day)
        assert await second.refusal(600, 100) is None
        await first.charge(600, 100)  # 0.0006 USD spent by one process
        refusal = await second.refusal(600, 100)  # another sees it
        assert refusal is not None
        assert "0.0006 of 0.001 USD used" in refusal
    finally:
        await one.close()
        await two.close()


async def test_an_unreachable_redis_is_a_typed_error_without_the_password() -> None:
    cache = RedisCache("redis://:hunter2secret@127.0.0.1:1/0", timeout_s=0.5)
    with pytest.raises(CacheError) as caught:
        await cache.get("x")
    assert "hunter2secret" not in str(caught.value)
    await cache.close()
