"""The research a decision counted, in the dashboard: a real ``sigmax run --research FILE`` in
headless Chromium. The decision's explanation lists each item with its source, time and score,
links only to web pages, and shows a hostile feed item as plain text.

Without Chromium the test skips locally and fails with SIGMAX_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, expect

from dashboard.conftest import conservative_run
from sigmax.bench.dashboard_bench import wait_for_equity
from sigmax.bench.run_process import RunProcess

pytestmark = pytest.mark.slow

#: A real headline (Tech Startups, 2023-01-18; its time of day is not known, so midnight UTC).
HEADLINE = "FTX says $415 million of crypto was hacked from its accounts"
#: What a compromised or malicious feed could send: markup for a title, a script for a link.
HOSTILE_TITLE = "<img src=x onerror=\"document.title='owned'\"> hostile feed item"
START = "2023-01-18T03:00:00Z"
_WAIT_S = 30.0


def _research_file(path: Path) -> Path:
    items = [
        {
            "published_at": "2023-01-18T00:00:00Z",
            "source": "rss:techstartups",
            "title": HEADLINE,
            "url": "https://techstartups.com/",
            "symbols": [],
        },
        {
            "published_at": "2023-01-18T01:00:00Z",
            "source": "rss:hostile",
            "title": HOSTILE_TITLE,
            "url": "javascript:document.title='owned'",
            "symbols": ["BTC"],
        },
    ]
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunProcess]:
    home = tmp_path_factory.mktemp("research-home")
    research = _research_file(home / "research.jsonl")
    extra = ["--from", START, "--research", str(research), "--symbols", "BTC/USDT"]
    with conservative_run(home, extra) as started:
        yield started


def _decision_with_items(run: RunProcess) -> dict[str, Any]:
    """The newest stored decision whose researcher counted research items."""
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{run.base_url}/api/history", params={"symbol": "BTC/USDT", "limit": 5}, timeout=5
        ).json()
        for record in answer["decisions"]:
            researcher = next(a for a in record["agents"] if a["name"] == "researcher")
            if researcher["details"].get("items"):
                found: dict[str, Any] = record
                return found
        time.sleep(0.5)
    raise AssertionError(f"no decision with research items within {_WAIT_S} s")


def test_a_decision_lists_the_research_it_counted(browser: Browser, run: RunProcess) -> None:
    record = _decision_with_items(run)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        dialogs: list[Dialog] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog))
        page.goto(run.base_url + "/")
        wait_for_equity(page)
        item = page.locator(f"[data-decision-id='{record['id']}']")
        expect(item).to_be_visible(timeout=15_000)
        item.get_by_role("button").first.click()
        research = page.get_by_test_id("research")
        expect(research).to_contain_text("Research")
        expect(research).to_contain_text("Sentiment")
        listed = page.get_by_test_id("research-items")
        expect(listed).to_contain_text(HEADLINE)
        expect(listed).to_contain_text("rss:techstartups · 2023-01-18 00:00 UTC")
        link = listed.get_by_role("link", name=HEADLINE)
        expect(link).to_have_attribute("href", "https://techstartups.com/")
        expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
        # The hostile item is text: no element from its title, no link from its script.
        expect(listed).to_contain_text(HOSTILE_TITLE)
        assert listed.locator("img").count() == 0
        assert listed.locator("a[href^='javascript']").count() == 0
        assert page.title() != "owned"
        assert dialogs == []
    finally:
        context.close()
