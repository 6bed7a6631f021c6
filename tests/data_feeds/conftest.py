"""Fixtures for feed tests: the Binance loopback server and a feed pointed at it.

``binance_loopback`` (the server) is shared by every test package from ``tests/conftest.py``;
``binance_feed`` adds a feed pointed at it with retries fast enough for tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sigmax.data.feeds import CcxtFeed, RetryPolicy
from support.binance_server import BinanceLoopback

#: Small delays keep the retry tests fast while still measurable.
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.1, max_delay_s=2.0)


@pytest.fixture
async def binance_feed(binance_loopback: BinanceLoopback) -> AsyncIterator[CcxtFeed]:
    """A real ccxt-backed feed talking to the loopback server, with fast retries."""
    async with CcxtFeed(
        "binance", api_base_url=binance_loopback.base_url, retry=FAST_RETRY, timeout_s=5
    ) as feed:
        yield feed
