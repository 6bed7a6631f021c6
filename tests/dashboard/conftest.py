"""What the dashboard's browser tests share: Debian's Chromium, and a run on a home of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from conftest import CONFIG_VARIABLES, REQUIRE_SERVICES
from sigmax.bench.dashboard_bench import CHROMIUM, launch_chromium, replaying_run
from sigmax.bench.run_process import RunProcess


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium; a failure, not a skip, when it is missing and services are required."""
    if not CHROMIUM.is_file():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} and SIGMAX_REQUIRE_SERVICES=1")
        pytest.skip(message)
    with launch_chromium() as launched:
        yield launched


@contextmanager
def conservative_run(home: Path, extra: Sequence[str] = ()) -> Iterator[RunProcess]:
    """`sigmax run --profile conservative --speed 4` on ``home``, with no configuration of the
    shell leaking in, until the block ends."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name in CONFIG_VARIABLES or (
                name.startswith("SIGMAX_") and name != "SIGMAX_REQUIRE_SERVICES"
            ):
                patch.delenv(name)
        patch.setenv("SIGMAX_HOME", str(home))
        with replaying_run(home, speed="4", profile="conservative", extra=extra) as started:
            yield started
