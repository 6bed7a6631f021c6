"""The dashboard in real headless Chromium against a real `sigmax run` replaying the bundled data.

One run serves every test of the module (started and stopped by the fixtures); each test opens
its own browser context, so its sessionStorage starts empty. Screenshots are written under
``test-artifacts/dashboard/`` (gitignored) for people to look at.

Without Chromium the tests skip locally and fail with SIGMAX_REQUIRE_SERVICES=1 (CI), where
``make test`` installs it first (``make check-chromium``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from dashboard.conftest import conservative_run
from dashboard.severable_proxy import SeverableProxy
from sigmax.bench.dashboard_bench import (
    TARGET_FIRST_RENDER_MS,
    TARGET_GZIP_BYTES,
    DashboardBenchError,
    measure_page_load,
    summarise,
    wait_for_equity,
)
from sigmax.bench.run_process import RunProcess

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
_WAIT_MS = 15_000


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunProcess]:
    """`sigmax run --profile conservative --speed 4` on its own home, until the module ends."""
    home = tmp_path_factory.mktemp("dashboard-home")
    with conservative_run(home) as started:
        yield started


class Console:
    """What the page reported: console errors and uncaught exceptions."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _message(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield opened
    opened.close()


def _open(context: BrowserContext, run: RunProcess) -> tuple[Page, Console]:
    page = context.new_page()
    console = Console(page)
    page.goto(run.base_url + "/")
    wait_for_equity(page)
    return page, console


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _give_token(page: Page, token: str) -> None:
    dialog = page.get_by_test_id("token-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Token").fill(token)
    dialog.get_by_role("button", name="Use this token").click()


def _safety(run: RunProcess) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{run.base_url}/api/safety", timeout=5).json()
    return body


def test_the_page_loads_without_errors_and_draws_the_account(
    context: BrowserContext, run: RunProcess
) -> None:
    page, console = _open(context, run)
    expect(page.get_by_test_id("equity")).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    expect(page.get_by_test_id("feed")).to_have_text("Replay feed")
    expect(page.get_by_test_id("mode")).to_have_text("Paper")
    expect(page.get_by_test_id("engine-state")).to_have_text("Trading")
    # The triggers with their thresholds, as the safety report gives them.
    triggers = page.get_by_test_id("triggers")
    for trigger in _safety(run)["triggers"]:
        label = trigger["name"].replace("_", " ")
        expect(triggers).to_contain_text(label[0].upper() + label[1:])
    # Both charts drew something: candles up to the engine's market time, and the equity curve.
    chart = page.get_by_test_id("candle-chart")
    expect(chart.locator("canvas").first).to_be_visible()
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=candle-chart]').dataset.candles) > 0"
    )
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=equity-chart]').dataset.points) > 0"
    )
    _shot(page, "overview")
    assert console.errors == []


def test_candles_are_read_up_to_the_engines_market_time(run: RunProcess) -> None:
    status = httpx.get(f"{run.base_url}/api/status", timeout=5).json()
    # Early in the replay fewer than five candles have closed: wait until five have.
    deadline = time.monotonic() + 60
    while True:
        as_of_ms = int(httpx.get(f"{run.base_url}/api/safety", timeout=5).json()["at_ms"])
        answer = httpx.get(
            f"{run.base_url}/api/candles",
            params={"symbol": status["symbols"][0], "until_ms": as_of_ms, "limit": 5},
            timeout=5,
        ).json()
        if len(answer["candles"]) == 5 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    hour = 3_600_000
    closes = [c["timestamp_ms"] + hour for c in answer["candles"]]
    assert len(closes) == 5
    assert max(closes) <= as_of_ms
    assert max(closes) > as_of_ms - hour  # the newest closed candle, not an older one
    unbounded = httpx.get(
        f"{run.base_url}/api/candles", params={"symbol": status["symbols"][0]}, timeout=5
    ).json()
    assert unbounded["candles"][-1]["timestamp_ms"] + hour > as_of_ms  # the data runs ahead


def test_a_new_decision_appears_without_reload_once_the_stream_is_live(
    context: BrowserContext, run: RunProcess
) -> None:
    page, console = _open(context, run)
    page.get_by_role("button", name="Connect live stream").click()
    _give_token(page, run.token)
    expect(page.get_by_test_id("link-state")).to_have_attribute(
        "data-state", "live", timeout=_WAIT_MS
    )
    feed = page.get_by_test_id("decision-feed")
    first = feed.locator("li").first.get_attribute("data-decision-id")
    page.wait_for_function(
        "old => document.querySelector('[data-testid=decision-feed] li')"
        "?.dataset.decisionId !== old",
        arg=first,
        timeout=_WAIT_MS,
    )
    # The newest decision opens into its explanation.
    feed.locator("li").first.get_by_role("button").click()
    detail = page.get_by_test_id("decision-detail")
    for heading in ("Bull", "Bear", "Technical analysis", "Risk", "Policy verdict"):
        expect(detail).to_contain_text(heading)
    expect(detail).to_contain_text("Latency per agent")
    expect(detail.locator("table.latency tr")).to_have_count(8)  # seven agents and the total
    _shot(page, "decision")
    # The token stays in this tab's session: never in the URL, never in localStorage.
    assert run.token not in page.url
    assert page.evaluate("() => JSON.stringify(localStorage)") == "{}"
    assert page.evaluate("() => sessionStorage.getItem('sigmax.apiToken')") == run.token
    assert console.errors == []


def test_the_stream_reconnects_by_itself(context: BrowserContext, run: RunProcess) -> None:
    port = int(run.base_url.rsplit(":", 1)[1])
    with SeverableProxy(port).running() as proxy:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{proxy.port}/")
        wait_for_equity(page)
        page.evaluate("token => sessionStorage.setItem('sigmax.apiToken', token)", run.token)
        page.reload()
        link = page.get_by_test_id("link-state")
        expect(link).to_have_attribute("data-state", "live", timeout=_WAIT_MS)
        proxy.sever()  # the network drops every connection
        expect(link).not_to_have_attribute("data-state", "live", timeout=_WAIT_MS)
        expect(link).to_have_attribute("data-state", "live", timeout=_WAIT_MS)
        _shot(page, "reconnected")


def test_a_wrong_token_is_refused_plainly_then_pause_and_resume_work_from_the_keyboard(
    context: BrowserContext, run: RunProcess
) -> None:
    page, console = _open(context, run)
    page.get_by_role("button", name="Pause", exact=True).click()
    _give_token(page, "not-the-token")
    message = page.get_by_test_id("control-message")
    expect(message).to_contain_text("Pause refused")
    expect(message).to_contain_text("token")
    _give_token(page, run.token)  # asked again, and the pause goes through
    expect(page.get_by_test_id("pause-reason")).to_contain_text(
        "paused by the operator", timeout=_WAIT_MS
    )
    expect(page.get_by_test_id("engine-state")).to_have_text("Paused")
    assert _safety(run)["paused"] is True
    # Resume with the keyboard: Tab from the pause button reaches it, Enter presses it.
    page.get_by_role("button", name="Pause", exact=True).focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Resume")).to_be_focused()
    _shot(page, "paused")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("pause-reason")).to_have_count(0, timeout=_WAIT_MS)
    expect(page.get_by_test_id("engine-state")).to_have_text("Trading")
    assert _safety(run)["paused"] is False
    # A pause with a duration says until when, in the wall clock it counts in: an hour of
    # real time, however many hourly candles the replay runs through meanwhile.
    page.get_by_label("Pause for").select_option(label="1 hour")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_test_id("pause-reason")).to_contain_text("(wall clock)", timeout=_WAIT_MS)
    safety = _safety(run)
    assert safety["until"] is not None
    assert safety["until_clock"] == "wall"
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("pause-reason")).to_have_count(0, timeout=_WAIT_MS)
    assert console.errors == [
        # The refused token's 401, as Chromium logs every failed request.
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]


def test_panic_asks_for_confirmation_first(context: BrowserContext, run: RunProcess) -> None:
    page, _ = _open(context, run)
    page.evaluate("token => sessionStorage.setItem('sigmax.apiToken', token)", run.token)
    page.get_by_role("button", name="Panic…").click()
    dialog = page.get_by_role("dialog", name="Panic: close everything?")
    expect(dialog).to_be_visible()
    _shot(page, "panic-confirmation")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert _safety(run)["paused"] is False  # cancelled: nothing happened
    page.get_by_role("button", name="Panic…").click()
    dialog.get_by_role("button", name="Close everything and pause").click()
    expect(page.get_by_test_id("pause-reason")).to_contain_text("panic", timeout=_WAIT_MS)
    assert _safety(run)["paused"] is True


def test_a_narrow_window_gets_one_column_without_sideways_scrolling(
    browser: Browser, run: RunProcess
) -> None:
    narrow = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page, console = _open(narrow, run)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1
        for name in ("Pause", "Panic…"):
            expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
        _shot(page, "narrow")
        assert console.errors == []
    finally:
        narrow.close()


def test_the_page_is_light_and_renders_within_a_second(browser: Browser, run: RunProcess) -> None:
    try:
        loads = [measure_page_load(browser, run.base_url) for _ in range(5)]
    except DashboardBenchError as error:
        pytest.fail(str(error))
    figures = summarise(loads)
    print(json.dumps(figures, sort_keys=True))
    assert figures["assets_gzip_bytes"] < TARGET_GZIP_BYTES
    assert set(figures["assets_gzip_bytes_by_file"]) >= {"/"}
    assert any(path.endswith(".js") for path in figures["assets_gzip_bytes_by_file"])
    assert figures["first_render_ms_median"] < TARGET_FIRST_RENDER_MS
