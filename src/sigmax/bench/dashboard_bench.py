"""``sigmax bench dashboard``: the web page's weight and how soon it shows the account.

A real ``sigmax run`` replays in its own process (its own temporary SIGMAX_HOME, the API on a
free port of 127.0.0.1) and headless Chromium (Debian's, driven by Playwright) loads the
dashboard from it ``repeat`` times, each in a fresh browser context (an empty cache, as a first
visit). Two figures, with their targets:

* the bytes of the page as the browser loaded it (``/`` and every ``/assets/`` file), each file
  gzipped at level 9: the page must stay under 1 MB gzipped;
* time to first render: from the navigation's start until the equity figure shows an amount
  (the page's ``sigmax:first-render`` mark, set when it does), under 1 s on loopback. The wall
  time the driver saw, from the call to navigate until the figure was on screen, is reported
  next to it: it includes Playwright's own round trips.

The tests of the dashboard use the same functions on their own run.
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from sigmax.bench.machine import machine_info, temporary_home
from sigmax.bench.run_process import RunProcess, free_port, sigmax_run
from sigmax.errors import InputError, SigmaxError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

#: Where Debian's chromium package puts the browser; Playwright's own download cannot work
#: without network access, so the system's browser is used.
CHROMIUM: Final = Path("/usr/bin/chromium")
TARGET_GZIP_BYTES: Final = 1_000_000
TARGET_FIRST_RENDER_MS: Final = 1000.0
DEFAULT_REPEAT: Final = 7
DEFAULT_SPEED: Final = "4"
#: What the equity figure shows until the portfolio has been read.
EQUITY_SELECTOR: Final = "[data-testid=equity]"
_FIRST_RENDER_TIMEOUT_MS: Final = 15_000
_INSTALL_HINT: Final = (
    "install it with 'apt-get install chromium' (Debian) or 'make check-chromium'"
)


class DashboardBenchError(SigmaxError):
    """The dashboard could not be measured (no browser, no build, or the page did not render)."""


@contextlib.contextmanager
def launch_chromium(executable: Path = CHROMIUM) -> Iterator[Browser]:
    """Headless Chromium at ``executable``, driven by Playwright, closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise DashboardBenchError(
            "the Playwright package is missing: pip install 'sigmax[dev]'"
        ) from None
    if not executable.is_file() and shutil.which(str(executable)) is None:
        raise DashboardBenchError(f"no Chromium at {executable}: {_INSTALL_HINT}")
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses to sandbox as root (CI and these machines run as root).
        browser = playwright.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def wait_for_equity(page: Page, timeout_ms: float = _FIRST_RENDER_TIMEOUT_MS) -> str:
    """Wait until the equity figure shows an amount; return its text."""
    page.wait_for_function(
        "selector => /\\d/.test(document.querySelector(selector)?.textContent ?? '')",
        arg=EQUITY_SELECTOR,
        timeout=timeout_ms,
    )
    return page.inner_text(EQUITY_SELECTOR)


@dataclass(frozen=True)
class PageLoad:
    """One cold load of the dashboard."""

    first_render_ms: float
    driver_wall_ms: float
    files: dict[str, int]
    gzip_bytes: int
    raw_bytes: int


def measure_page_load(browser: Browser, base_url: str) -> PageLoad:
    """Load the dashboard in a fresh context and time it until the equity figure shows."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        bodies: dict[str, bytes] = {}

        def keep(response: Any) -> None:
            path = urlsplit(response.url).path
            if path == "/" or path.startswith("/assets/"):
                bodies[path] = response.body()

        page.on("response", keep)
        start = time.perf_counter()
        page.goto(base_url + "/", wait_until="commit")
        wait_for_equity(page)
        wall_ms = (time.perf_counter() - start) * 1000.0
        marked = page.evaluate(
            "() => performance.getEntriesByName('sigmax:first-render')[0]?.startTime ?? null"
        )
        page.wait_for_load_state("load")
    finally:
        context.close()
    if "/" not in bodies:
        raise DashboardBenchError(f"the dashboard at {base_url}/ was not loaded")
    if marked is None:
        raise DashboardBenchError("the page never set its sigmax:first-render mark")
    gzipped = {path: len(gzip.compress(body, compresslevel=9)) for path, body in bodies.items()}
    return PageLoad(
        first_render_ms=float(marked),
        driver_wall_ms=wall_ms,
        files=gzipped,
        gzip_bytes=sum(gzipped.values()),
        raw_bytes=sum(len(body) for body in bodies.values()),
    )


@contextlib.contextmanager
def replaying_run(
    home: Path,
    *,
    speed: str = DEFAULT_SPEED,
    profile: str = "conservative",
    port: int | None = None,
    extra: Sequence[str] = (),
) -> Iterator[RunProcess]:
    """A real ``sigmax run`` replaying into ``home``, its API (and page) on 127.0.0.1; ``extra``
    are more options of ``sigmax run``."""
    with sigmax_run(
        home, speed=speed, profile=profile, port=port or free_port(), data=None, extra=extra
    ) as run:
        yield run


def summarise(loads: list[PageLoad]) -> dict[str, Any]:
    """The figures of several loads: medians and bests against the targets."""
    if not loads:
        raise InputError("no page load to summarise")
    renders = [load.first_render_ms for load in loads]
    walls = [load.driver_wall_ms for load in loads]
    last = loads[-1]
    median_render = statistics.median(renders)
    return {
        "benchmark": "dashboard",
        "loads": len(loads),
        "first_render_ms_median": round(median_render, 1),
        "first_render_ms_best": round(min(renders), 1),
        "first_render_ms_worst": round(max(renders), 1),
        "driver_wall_ms_median": round(statistics.median(walls), 1),
        "target_first_render_ms": TARGET_FIRST_RENDER_MS,
        "assets_gzip_bytes": last.gzip_bytes,
        "assets_raw_bytes": last.raw_bytes,
        "assets_gzip_bytes_by_file": dict(sorted(last.files.items())),
        "target_gzip_bytes": TARGET_GZIP_BYTES,
        "meets_target": median_render < TARGET_FIRST_RENDER_MS
        and last.gzip_bytes < TARGET_GZIP_BYTES,
    }


def run_dashboard_bench(
    *, repeat: int = DEFAULT_REPEAT, speed: str = DEFAULT_SPEED, profile: str = "conservative"
) -> dict[str, Any]:
    """Load the dashboard of a replaying ``sigmax run`` ``repeat`` times, cold each time."""
    if repeat < 1:
        raise InputError("--repeat must be >= 1")
    with (
        temporary_home("sigmax-bench-dashboard-") as home,
        replaying_run(home, speed=speed, profile=profile) as run,
        launch_chromium() as browser,
    ):
        # One unmeasured load first: the API's own first requests warm its caches.
        measure_page_load(browser, run.base_url)
        loads = [measure_page_load(browser, run.base_url) for _ in range(repeat)]
        version = browser.version
    return {
        **summarise(loads),
        "run": {"command": f"sigmax run --profile {profile} --speed {speed}"},
        "machine": {**machine_info("playwright", "fastapi", "uvicorn"), "chromium": version},
    }
