from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from support.research_servers import ResearchLoopback


@pytest.fixture
async def research_server() -> AsyncIterator[ResearchLoopback]:
    async with ResearchLoopback() as server:
        yield server
