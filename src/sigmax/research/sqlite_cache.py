"""The research cache in a SQLite file under SIGMAX_HOME: LLM replies and the LLM budget when no
REDIS_URL is set.

A memory cache forgets with its process, so a rerun of the same backtest (or a second
``sigmax analyze``) would ask the LLM again and might get another answer. The file keeps
replies across processes, so the same evidence is answered free and identically, and every
process of one home spends from one daily budget. Each operation opens its own connection
(they are rare: one per LLM call) and runs in a worker thread, so the event loop never waits on
the file's lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Final

from sigmax.research.cache import CacheError

#: Waits for another process's write before failing (ms).
BUSY_TIMEOUT_MS: Final = 5_000
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS entries ("
    "key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL)"
)


class SqliteCache:
    """A :class:`~sigmax.research.cache.ResearchCache` in one SQLite file (see the module
    docstring). Expiry is wall time (seconds since the epoch); ``ttl_s=None`` keeps forever."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    def __repr__(self) -> str:
        return f"SqliteCache({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
            connection.isolation_level = None  # explicit transactions below
            if not self._ready:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(_SCHEMA)
                self._ready = True
        except (sqlite3.Error, OSError) as error:
            raise self._error(error) from None
        return connection

    def _error(self, error: Exception) -> CacheError:
        return CacheError(f"the LLM cache {self.path} failed: {type(error).__name__}: {error}")

    def _get(self, key: str) -> bytes | None:
        connection = self._connect()
        try:
            row = connection.execute(
                "SELECT value, expires_at FROM entries WHERE key = ?", (key,)
            ).fetchone()
        except sqlite3.Error as error:
            raise self._error(error) from None
        finally:
            connection.close()
        if row is None or (row[1] is not None and time.time() >= row[1]):
            return None
        return bytes(row[0])

    def _set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        expires = None if ttl_s is None else time.time() + ttl_s
        connection = self._connect()
        try:
            connection.execute(
                "INSERT INTO entries (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at",
                (key, value, expires),
            )
        except sqlite3.Error as error:
            raise self._error(error) from None
        finally:
            connection.close()

    def _incr(self, key: str, amount: int, ttl_s: float) -> int:
        now = time.time()
        connection = self._connect()
        try:
            # One writer at a time: two processes spending from one budget add up.
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute(
                "SELECT value, expires_at FROM entries WHERE key = ?", (key,)
            ).fetchone()
            current = 0 if row is None or (row[1] is not None and now >= row[1]) else int(row[0])
            total = current + amount
            connection.execute(
                "INSERT INTO entries (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                "expires_at = excluded.expires_at",
                (key, str(total).encode(), now + ttl_s),
            )
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise self._error(error) from None
        finally:
            connection.close()
        return total

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        await asyncio.to_thread(self._set, key, value, ttl_s)

    async def incr(self, key: str, amount: int, ttl_s: float) -> int:
        return await asyncio.to_thread(self._incr, key, amount, ttl_s)

    async def close(self) -> None:
        """Nothing stays open between operations."""
