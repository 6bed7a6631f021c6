"""A promoted model votes where decisions are made: ``sigmax analyze`` (the facade the API's
decider shares) records its action and probability, and a backtest runs with it and says so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from conftest import CONFIG_VARIABLES
from sigmax.cli import app
from sigmax.rl.policy import PolicyNetwork
from support.rl_models import save_winning_model

runner = CliRunner()
REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
WINDOW = ["--from", "2022-11-01T00:00:00Z", "--to", "2022-11-10T00:00:00Z"]


def _env(home: Path) -> dict[str, str | None]:
    cleared: dict[str, str | None] = {
        var: None
        for var in os.environ
        if var in CONFIG_VARIABLES
        or (var.startswith("SIGMAX_") and var != "SIGMAX_REQUIRE_SERVICES")
    }
    return {**cleared, "SIGMAX_HOME": str(home), "SIGMAX_CONFIG_DIR": str(REPO_CONFIG)}


def _promoted_home(home: Path) -> str:
    """A model whose (recorded) validation beat both baselines, promoted with weight 0.5."""
    generator = np.random.default_rng(5)
    sizes = [30, 8, 2]
    network = PolicyNetwork(
        tuple(generator.normal(0, 1.0, (sizes[k + 1], sizes[k])) for k in range(2)),
        tuple(generator.normal(0, 0.1, sizes[k + 1]) for k in range(2)),
        "discrete",
    )
    model_id = save_winning_model(home, network)
    done = runner.invoke(app, ["rl", "promote", model_id, "--weight", "0.5"], env=_env(home))
    assert done.exit_code == 0, done.output
    return model_id


def test_a_promoted_policy_votes_in_analyses_and_backtests(tmp_path: Path) -> None:
    plain_home, policy_home = tmp_path / "plain", tmp_path / "policy"
    plain_home.mkdir()
    policy_home.mkdir()
    model = _promoted_home(policy_home)
    listed = runner.invoke(app, ["rl", "list"], env=_env(policy_home))
    assert listed.exit_code == 0, listed.output
    assert model[:8] in listed.output
    at = ["BTC/USDT", "--at", "2022-11-05T12:00:00Z", "--json"]
    with_policy = runner.invoke(app, ["analyze", *at], env=_env(policy_home))
    assert with_policy.exit_code == 0, with_policy.output
    record = json.loads(with_policy.stdout)
    rl = next(agent for agent in record["agents"] if agent["name"] == "rl")
    assert rl["details"]["model"] == model
    assert rl["details"]["action"] in ("long", "flat")
    assert 0.5 <= rl["details"]["probability"] <= 1.0
    assert rl["details"]["weight"] == 0.5
    without = runner.invoke(app, ["analyze", *at], env=_env(plain_home))
    assert without.exit_code == 0, without.output
    plain = json.loads(without.stdout)
    assert all(agent["name"] != "rl" for agent in plain["agents"])
    assert plain["config_digest"] != record["config_digest"]

    args = ["backtest", "--profile", "aggressive", "--symbols", "BTC/USDT", *WINDOW, "--json"]
    backtest = runner.invoke(app, args, env=_env(policy_home))
    assert backtest.exit_code == 0, backtest.output
    assert json.loads(backtest.stdout)["config"]["rl"].startswith(f"{model}|")
    baseline = runner.invoke(app, args, env=_env(plain_home))
    assert baseline.exit_code == 0, baseline.output
    assert "rl" not in json.loads(baseline.stdout)["config"]
