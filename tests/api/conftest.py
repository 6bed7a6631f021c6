"""Fixtures shared by the API tests.

One finished paper run (``engine/account_runs.py``: aggressive, BTC and ETH, 4 days; it ends
paused after three losing trades in a row) is made once per session; each test module gets its
own copy, so what one module changes through the API never reaches another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.api_harness import copy_home
from engine.account_runs import clean_home, complete_run
from sigmax.bus import InProcessBus


@pytest.fixture(scope="session")
def _pristine_completed_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("completed")
    with clean_home(home):
        report = complete_run()
    assert report.totals.fills >= 6, "the run must trade for the API tests to mean much"
    return home


@pytest.fixture(scope="module")
def completed_home(
    _pristine_completed_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """This module's copy of the completed run's home."""
    return copy_home(_pristine_completed_home, tmp_path_factory.mktemp("module") / "home")


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    async with InProcessBus() as started:
        yield started
