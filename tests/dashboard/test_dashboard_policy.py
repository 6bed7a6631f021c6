"""The learned policy's vote in the dashboard: a real ``sigmax run`` in headless Chromium.

With a promoted target-fraction model, each decision's explanation shows the policy's action
(its target), that action's probability, its weight and its vote, as the API returns them; with
no promoted model it says plainly that no policy voted.

Without Chromium the test skips locally and fails with SIGMAX_REQUIRE_SERVICES=1 (CI).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, expect

from dashboard.conftest import conservative_run
from sigmax.bench.dashboard_bench import wait_for_equity
from sigmax.bench.run_process import RunProcess
from sigmax.rl.policy import PolicyNetwork
from sigmax.rl.promote import promote
from support.rl_models import save_winning_model

pytestmark = pytest.mark.slow

START = "2023-01-18T03:00:00Z"
_WAIT_S = 30.0
#: The policy wants 60 % of equity whatever it sees; its Gaussian's spread is 0.3.
TARGET, SPREAD, WEIGHT = 0.6, 0.3, 0.3


def _promote_fraction_model(home: Path) -> str:
    """A target-fraction model whose (recorded) validation beat both baselines, promoted."""
    network = PolicyNetwork(
        (np.zeros((4, 30)), np.zeros((1, 4))),
        (np.zeros(4), np.array([TARGET])),
        "fraction",
        np.array([math.log(SPREAD)]),
    )
    model_id = save_winning_model(home, network)
    promote(home, model_id, WEIGHT)
    return model_id


@contextmanager
def _run(home: Path) -> Iterator[RunProcess]:
    extra = ["--from", START, "--symbols", "BTC/USDT"]
    with conservative_run(home, extra) as started:
        yield started


def _a_decision(run: RunProcess) -> dict[str, Any]:
    """The newest decision the run stored."""
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{run.base_url}/api/history", params={"symbol": "BTC/USDT", "limit": 1}, timeout=5
        ).json()
        if answer["decisions"]:
            found: dict[str, Any] = answer["decisions"][0]
            return found
        time.sleep(0.5)
    raise AssertionError(f"no decision within {_WAIT_S} s")


def _open_decision(browser: Browser, run: RunProcess, record: dict[str, Any]) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(run.base_url + "/")
    wait_for_equity(page)
    item = page.locator(f"[data-decision-id='{record['id']}']")
    expect(item).to_be_visible(timeout=15_000)
    item.get_by_role("button").first.click()
    return context, page


def test_a_decision_shows_the_policys_target_probability_and_weight(
    browser: Browser, tmp_path: Path
) -> None:
    model = _promote_fraction_model(tmp_path)
    with _run(tmp_path) as run:
        record = _a_decision(run)
        # The API returns the vote with the record: the target, its probability, the weight.
        rl = next(agent for agent in record["agents"] if agent["name"] == "rl")
        # P(N(0.6, 0.3) > 0) = Phi(2): the probability of holding a position.
        probability = round(0.5 * math.erfc(-TARGET / SPREAD / math.sqrt(2)), 6)
        assert rl["details"] == {
            "action": "target 0.60",
            "target": TARGET,
            "probability": probability,
            "long_probability": probability,
            "model": model,
            "weight": WEIGHT,
        }
        assert rl["score"] == TARGET  # a long as strong as its target
        assert "rl" in record["agents"][-1]["details"]["voters"]
        context, page = _open_decision(browser, run, record)
        try:
            section = page.get_by_test_id("learned-policy")
            expect(section).to_contain_text("Learned policy")
            expect(page.get_by_test_id("policy-action")).to_have_text("target 0.60")
            expect(page.get_by_test_id("policy-target")).to_have_text("0.6")
            expect(section).to_contain_text("probability of being in the market")
            expect(page.get_by_test_id("policy-probability")).to_have_text("0.97725")
            expect(page.get_by_test_id("policy-weight")).to_have_text("0.3")
            expect(page.get_by_test_id("policy-score")).to_have_text("0.6")
            expect(section).to_contain_text(model)
            expect(section).to_contain_text("target fraction of equity = 0.6")
            expect(section).not_to_contain_text("No learned policy voted")
        finally:
            context.close()


def test_with_no_promoted_model_the_dashboard_says_no_policy_voted(
    browser: Browser, tmp_path: Path
) -> None:
    with _run(tmp_path) as run:
        record = _a_decision(run)
        assert all(agent["name"] != "rl" for agent in record["agents"])
        context, page = _open_decision(browser, run, record)
        try:
            section = page.get_by_test_id("learned-policy")
            expect(section).to_contain_text(
                "No learned policy voted: no model was promoted when this decision was made"
            )
            expect(page.get_by_test_id("policy-action")).to_have_count(0)
        finally:
            context.close()
