"""A small byte cache for feed answers and LLM replies: Redis when REDIS_URL is set, else memory.

Keys are namespaced ``sigmax:research:...``; values expire after their time to live. A Redis
that does not answer is an error of the caller's fetch (counted like any failed request), never
a silent switch to memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Final, Protocol

from redis import asyncio as redis_asyncio
from redis.exceptions import RedisError

from sigmax.errors import SigmaxError
from sigmax.url_secrets import mask_url

PREFIX: Final = "sigmax:research:"
#: Entries the memory cache keeps before dropping the least recently used.
MEMORY_ENTRIES: Final = 4096


class CacheError(SigmaxError):
    """The cache server failed (the message names it without its password)."""


class ResearchCache(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> None: ...

    async def incr(self, key: str, amount: int, ttl_s: float) -> int: ...

    async def close(self) -> None: ...


class MemoryCache:
    """In-process, least-recently-used, with expiry."""

    name = "memory"

    def __init__(self, entries: int = MEMORY_ENTRIES) -> None:
        self._entries = entries
        self._data: OrderedDict[str, tuple[float | None, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        found = self._data.get(key)
        if found is None:
            return None
        expires, value = found
        if expires is not None and time.monotonic() >= expires:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        expires = None if ttl_s is None else time.monotonic() + ttl_s
        self._data[key] = (expires, value)
        self._data.move_to_end(key)
        while len(self._data) > self._entries:
            self._data.popitem(last=False)

    async def incr(self, key: str, amount: int, ttl_s: float) -> int:
        current = await self.get(key)
        total = (int(current) if current is not None else 0) + amount
        await self.set(key, str(total).encode(), ttl_s)
        return total

    async def close(self) -> None:
        self._data.clear()


class RedisCache:
    """Redis through redis-py's asyncio client. A connection is opened per event loop use."""

    name = "redis"

    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._client: redis_asyncio.Redis | None = None

    def __repr__(self) -> str:
        return f"RedisCache({mask_url(self._url)!r})"

    def _redis(self) -> redis_asyncio.Redis:
        if self._client is None:
            self._client = redis_asyncio.Redis.from_url(
                self._url,
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
            )
        return self._client

    def _error(self, error: Exception) -> CacheError:
        return CacheError(
            f"the research cache at {mask_url(self._url)} failed: {type(error).__name__}"
        )

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis().get(PREFIX + key)
        except (RedisError, OSError) as error:
            raise self._error(error) from None
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        try:
            if ttl_s is None:
                await self._redis().set(PREFIX + key, value)
            else:
                await self._redis().set(PREFIX + key, value, px=max(1, round(ttl_s * 1000)))
        except (RedisError, OSError) as error:
            raise self._error(error) from None

    async def incr(self, key: str, amount: int, ttl_s: float) -> int:
        try:
            client = self._redis()
            total = await client.incrby(PREFIX + key, amount)
            await client.pexpire(PREFIX + key, max(1, round(ttl_s * 1000)))
        except (RedisError, OSError) as error:
            raise self._error(error) from None
        return int(total)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def cache_from_url(redis_url: str | None) -> ResearchCache:
    return MemoryCache() if redis_url is None else RedisCache(redis_url)
