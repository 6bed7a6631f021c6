"""The dashboard of a run whose engine died says so plainly (headless Chromium, real processes).

``sigmax run`` is killed with SIGKILL, as a crash would; ``sigmax serve`` then serves the home,
and the page must show the run as stale (the engine is gone: pause, resume and panic act on the
stored account), never as "not running" like a run that ended on its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from conftest import CONFIG_VARIABLES, REQUIRE_SERVICES
from sigmax.bench.dashboard_bench import CHROMIUM, launch_chromium, wait_for_equity
from sigmax.bench.run_process import free_port, sigmax_run

pytestmark = pytest.mark.slow


@pytest.fixture
def clean_env(tmp_path: Path) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name in CONFIG_VARIABLES or (
                name.startswith("SIGMAX_") and name != "SIGMAX_REQUIRE_SERVICES"
            ):
                patch.delenv(name)
        patch.setenv("SIGMAX_HOME", str(tmp_path))
        yield tmp_path


def test_a_run_whose_engine_died_is_shown_as_stale(clean_env: Path) -> None:
    if not CHROMIUM.is_file():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} and SIGMAX_REQUIRE_SERVICES=1")
        pytest.skip(message)
    home = clean_env
    with sigmax_run(home, speed="4", profile="conservative", port=free_port(), data=None) as run:
        run.process.send_signal(signal.SIGKILL)
        run.process.wait(timeout=10)
        token = run.token
    port = free_port()
    env = dict(os.environ, SIGMAX_HOME=str(home), SIGMAX_API_TOKEN=token)
    serve = subprocess.Popen(
        [sys.executable, "-c", "import sys; from sigmax.cli import main; sys.exit(main())",
         "serve", "--port", str(port)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status = httpx.get(f"{base}/api/status", timeout=5).json()
                break
            except httpx.TransportError:
                assert serve.poll() is None, "sigmax serve exited"
                assert time.monotonic() < deadline, "sigmax serve did not start"
                time.sleep(0.1)
        assert status["run_status"] == "stale", status
        with launch_chromium() as browser:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(base + "/")
            wait_for_equity(page)
            state = page.get_by_test_id("engine-state")
            expect(state).to_have_text("Engine died (run stale)", timeout=15_000)
            assert "stopped without ending its run" in (state.get_attribute("title") or "")
            assert errors == []
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=30)
