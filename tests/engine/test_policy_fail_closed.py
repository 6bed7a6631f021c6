"""Compliance fails closed: no policies, no trading; a policy that stops answering pauses."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from sigmax.config import load_settings
from sigmax.config.paths import source_config_dir
from sigmax.domain.candles import datetime_to_ms
from sigmax.engine.runner import RunOptions, run_paper
from sigmax.safety.policy import policy_engine_from_settings
from sigmax.safety.policy_types import PolicyLoadError

from .account_runs import clean_home
from .test_safety_in_the_engine import QUIET, WINDOW

POLICIES = source_config_dir() / "policies"


def _options(home: Path) -> RunOptions:
    return RunOptions(
        profile="aggressive",
        symbols=["BTC/USDT", "ETH/USDT"],
        speed=None,
        start_ms=datetime_to_ms(WINDOW[0]),
        until_ms=datetime_to_ms(WINDOW[1]),
        home=home,
        console_log=False,
    )


def test_a_policy_that_does_not_load_stops_the_run_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    shutil.copytree(source_config_dir(), config)
    broken = config / "policies" / "limits.rego"
    broken.write_text(broken.read_text(encoding="utf-8") + "\ndeny contains {\n", "utf-8")
    home = tmp_path / "home"
    home.mkdir()
    with clean_home(home):
        monkeypatch.setenv("SIGMAX_CONFIG_DIR", str(config))
        with pytest.raises(PolicyLoadError, match=r"limits\.rego"):
            asyncio.run(run_paper(_options(home)))
    assert not (home / "sigmax.db").exists()  # nothing started, nothing traded


def test_a_policy_that_fails_to_evaluate_refuses_the_order_and_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from policy.opa_standin import OpaStandIn

    with OpaStandIn(POLICIES) as opa, clean_home(tmp_path):
        for name, value in QUIET.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OPA_URL", opa.url)
        # The start-up self-check passes; every evaluation after it fails.
        policy_engine_from_settings(load_settings(home=tmp_path))
        opa.fail_after, opa.requests = opa.requests, 0
        asyncio.run(run_paper(_options(tmp_path)))
    engine = create_engine(f"sqlite:///{tmp_path / 'sigmax.db'}")
    try:
        with engine.connect() as connection:
            orders = connection.execute(
                text("SELECT status, reject_reason FROM orders ORDER BY id")
            ).all()
            state = connection.execute(
                text("SELECT value FROM engine_state WHERE key = 'safety'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert orders
    assert all(status == "rejected" for status, _ in orders)
    assert "policy evaluation failed" in str(orders[0][1])
    holds = json.loads(state)["holds"] if isinstance(state, str) else state["holds"]
    assert "policy" in json.dumps(holds)
    log = (tmp_path / "logs" / "sigmax.log").read_text(encoding="utf-8")
    assert "policy evaluation failed" in log
