"""``sigmax rl``: a seeded training gives the same model twice, evaluation reads only data after
the training window and refuses a window that overlaps it, promotion needs the baselines
beaten, the weekly retrain keeps the previous model, and the JSON keys the issue names."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import CONFIG_VARIABLES
from sigmax.cli import app
from sigmax.data.catalog import bundled_data_dir
from sigmax.domain.candles import datetime_to_ms
from sigmax.rl.registry import load_model, write_json
from sigmax.rl.voter import voter_in

runner = CliRunner()
REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
TRAIN = ["--from", "2023-01-01T00:00:00Z", "--to", "2023-03-01T00:00:00Z"]
VALIDATE_TO = "2023-04-15T00:00:00Z"
ARGS = [
    "rl", "train", "--symbols", "BTC/USDT", *TRAIN, "--validate-to", VALIDATE_TO,
    "--timesteps", "256", "--n-envs", "2", "--seed", "7", "--episode-length", "64",
]  # fmt: skip
METRIC_KEYS = {
    "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown",
    "max_drawdown_duration", "win_rate", "profit_factor", "expectancy", "exposure",
    "trades", "fees_paid", "final_equity", "buy_and_hold_return",
}  # fmt: skip
TRAIN_END_MS = 1_677_628_800_000  # 2023-03-01T00:00:00Z


def _ms(text: str) -> int:
    from datetime import datetime

    return datetime_to_ms(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _env(home: Path) -> dict[str, str | None]:
    cleared: dict[str, str | None] = {
        var: None
        for var in os.environ
        if var in CONFIG_VARIABLES
        or (var.startswith("SIGMAX_") and var != "SIGMAX_REQUIRE_SERVICES")
    }
    return {**cleared, "SIGMAX_HOME": str(home), "SIGMAX_CONFIG_DIR": str(REPO_CONFIG)}


def _invoke(home: Path, *args: str) -> Any:
    return runner.invoke(app, list(args), env=_env(home))


def _write_data(folder: Path, scale_training: float = 1.0) -> Path:
    """BTC/USDT 1h from 2022-11-01 to 2023-04-22 (training candles scaled by the factor)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = bundled_data_dir() / "binance_BTC-USDT_1h.csv"
    lines = source.read_text().splitlines()
    first, last = _ms("2022-11-01T00:00:00Z"), _ms("2023-04-22T00:00:00Z")
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split(",")
        opened = int(fields[0])
        if not first <= opened < last:
            continue
        if opened + 3_600_000 <= TRAIN_END_MS and scale_training != 1.0:
            prices = [repr(round(float(v) * scale_training, 2)) for v in fields[1:5]]
            fields = [fields[0], *prices, fields[5]]
        kept.append(",".join(fields))
    target = folder / "binance_BTC-USDT_1h.csv"
    target.write_text("\n".join(kept) + "\n")
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data: Path) -> tuple[Path, dict[str, Any]]:
    home = tmp_path_factory.mktemp("home")
    done = _invoke(home, *ARGS, "--data", str(data), "--json")
    assert done.exit_code == 0, done.output
    return home, json.loads(done.stdout)


def test_the_same_seed_trains_the_same_model(
    trained: tuple[Path, dict[str, Any]], data: Path, tmp_path: Path
) -> None:
    home, first = trained
    again = _invoke(tmp_path, *ARGS, "--data", str(data), "--json")
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert (second["id"], second["sha256"]) == (first["id"], first["sha256"])
    assert len(first["sha256"]) == 64
    one = (home / "models" / first["id"] / "policy.npz").read_bytes()
    two = (tmp_path / "models" / first["id"] / "policy.npz").read_bytes()
    assert one == two
    # The card: configuration, windows, checksums, seed, library versions, metrics.
    card = load_model(home, first["id"]).card
    assert card["config"]["seed"] == 7
    assert card["config"]["train_window"] == {
        "from": "2023-01-01T00:00:00Z",
        "to": "2023-03-01T00:00:00Z",
    }
    assert card["config"]["validation_window"]["from"] == "2023-03-01T00:00:00Z"
    assert len(card["config"]["data"]["BTC/USDT"]) == 64
    assert {"torch", "stable-baselines3", "gymnasium", "numpy"} <= set(card["library_versions"])
    assert set(card["metrics"]["training"]["metrics"]) == METRIC_KEYS
    assert (home / "models" / first["id"] / "ppo.zip").is_file()
    # A different seed is a different model.
    other = _invoke(
        tmp_path, *[a if a != "7" else "8" for a in ARGS], "--data", str(data), "--json"
    )
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["sha256"] != first["sha256"]


def test_a_fraction_policy_trains_the_same_twice_and_votes_its_target(
    data: Path, tmp_path: Path
) -> None:
    """``--actions fraction``: the same seed gives the same model (its Gaussian's spread
    included), and promoted, its vote in ``sigmax analyze`` is its target fraction."""
    args = [*ARGS, "--actions", "fraction", "--data", str(data), "--json"]
    models = []
    for home in (tmp_path / "one", tmp_path / "two"):
        done = _invoke(home, *args)
        assert done.exit_code == 0, done.output
        models.append(json.loads(done.stdout))
    first, second = models
    assert (first["id"], first["sha256"]) == (second["id"], second["sha256"])
    stored = load_model(tmp_path / "one", first["id"])
    assert stored.card["config"]["env"]["actions"] == "fraction"
    network = stored.policy()
    assert network.kind == "fraction"
    assert network.log_std is not None
    assert (stored.folder / "policy.npz").read_bytes() == (
        tmp_path / "two" / "models" / first["id"] / "policy.npz"
    ).read_bytes()

    card = stored.card
    card["metrics"]["validation"]["metrics"]["sharpe"] = 99.0  # above both baselines
    write_json(stored.folder / "model.json", card)
    promoted = _invoke(tmp_path / "one", "rl", "promote", first["id"], "--weight", "0.3")
    assert promoted.exit_code == 0, promoted.output
    at = ["BTC/USDT", "--at", "2023-04-01T12:00:00Z", "--json"]
    analysed = _invoke(tmp_path / "one", "analyze", *at)
    assert analysed.exit_code == 0, analysed.output
    record = json.loads(analysed.stdout)
    rl = next(agent for agent in record["agents"] if agent["name"] == "rl")
    target = rl["details"]["target"]
    assert 0.0 <= target <= 1.0
    if target > 0:
        assert rl["details"]["action"] == f"target {target:.2f}"
        assert rl["score"] == pytest.approx(target, abs=1e-6)
    else:
        assert rl["details"]["action"] == "flat"
        assert rl["score"] == pytest.approx(2 * rl["details"]["long_probability"] - 1, abs=1e-5)
        assert rl["score"] <= 0.0
    assert 0.5 <= rl["details"]["probability"] <= 1.0
    assert rl["details"]["weight"] == 0.3


def test_evaluation_reads_nothing_of_the_training_window(
    trained: tuple[Path, dict[str, Any]], data: Path, tmp_path: Path
) -> None:
    home, model = trained
    window = ["--from", "2023-03-01T00:00:00Z", "--to", VALIDATE_TO]
    done = _invoke(home, "rl", "evaluate", model["id"], *window, "--data", str(data), "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert set(document) >= {"model", "window", "metrics", "baselines"}
    assert document["model"] == model["id"]
    assert document["window"] == {"from": "2023-03-01T00:00:00Z", "to": VALIDATE_TO}
    assert set(document["metrics"]) == METRIC_KEYS
    assert set(document["baselines"]) == {"buy_and_hold", "agents", "sma_cross"}
    for metrics in document["baselines"].values():
        assert set(metrics) == METRIC_KEYS
    # The same window as training's validation: the same numbers.
    assert document["metrics"] == model["metrics"]["validation"]["metrics"]
    assert document["baselines"] == model["metrics"]["validation"]["baselines"]

    # Every candle of the training window changed (prices x1.5): the evaluation does not move.
    corrupted = _write_data(tmp_path / "corrupted", scale_training=1.5)
    assert (corrupted / "binance_BTC-USDT_1h.csv").read_bytes() != (
        data / "binance_BTC-USDT_1h.csv"
    ).read_bytes()
    again = _invoke(
        home, "rl", "evaluate", model["id"], *window, "--data", str(corrupted), "--json"
    )
    assert again.exit_code == 0, again.output
    assert again.stdout == done.stdout

    overlapping = _invoke(
        home, "rl", "evaluate", model["id"], "--from", "2023-02-20T00:00:00Z",
        "--to", VALIDATE_TO, "--data", str(data), "--json",
    )  # fmt: skip
    assert overlapping.exit_code == 2
    assert "overlaps the model's training window" in overlapping.output


def test_a_model_that_does_not_beat_its_baselines_is_not_promoted(
    trained: tuple[Path, dict[str, Any]],
) -> None:
    home, model = trained
    validation = model["metrics"]["validation"]
    own = validation["metrics"]["sharpe"]
    hold = validation["baselines"]["buy_and_hold"]["sharpe"]
    # This seeded 256-step policy trails buy-and-hold on its validation window.
    assert own is not None
    assert hold is not None
    assert own < hold
    refused = _invoke(home, "rl", "promote", model["id"])
    assert refused.exit_code == 1
    assert f"{hold - own:.4f} short of buy-and-hold's {hold:.4f}" in refused.output
    assert not (home / "models" / "promoted.json").exists()
    assert voter_in(home) is None
    listed = _invoke(home, "rl", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [row["id"] for row in rows] == [model["id"]]
    assert {"id", "sha256", "train_window", "validation_window", "seed", "promoted"} <= set(rows[0])
    assert rows[0]["promoted"] is False


def test_a_model_that_beats_its_baselines_is_promoted_and_votes(
    trained: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    home, model = trained
    # The same model in another home, its card's validation Sharpe set above both baselines.
    shutil.copytree(home / "models", tmp_path / "models")
    stored = load_model(tmp_path, model["id"])
    card = stored.card
    validation = card["metrics"]["validation"]
    best = max(
        validation["baselines"][name]["sharpe"] or 0.0 for name in ("buy_and_hold", "agents")
    )
    validation["metrics"]["sharpe"] = best + 0.5
    write_json(stored.folder / "model.json", card)
    done = _invoke(tmp_path, "rl", "promote", model["id"][:8], "--weight", "0.3", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["weight"] == 0.3
    voter = voter_in(tmp_path)
    assert voter is not None
    assert voter.weight == 0.3
    assert voter.model == model["id"]
    rows = json.loads(_invoke(tmp_path, "rl", "list", "--json").stdout)
    assert rows[0]["promoted"] is True
    assert rows[0]["weight"] == 0.3
    # A changed model file is refused before it can vote.
    (stored.folder / "policy.npz").write_bytes(b"changed")
    with pytest.raises(Exception, match="sha256"):
        voter_in(tmp_path)
    assert _invoke(tmp_path, "rl", "demote").exit_code == 0
    assert voter_in(tmp_path) is None


def test_the_weekly_retrain_appends_seven_days_and_keeps_the_previous_model(
    trained: tuple[Path, dict[str, Any]], data: Path, tmp_path: Path
) -> None:
    home, model = trained
    shutil.copytree(home / "models", tmp_path / "models")
    done = _invoke(tmp_path, "rl", "train", "--days", "7", "--data", str(data), "--json")
    assert done.exit_code == 0, done.output
    retrained = json.loads(done.stdout)
    assert retrained["id"] != model["id"]
    assert retrained["parent"] == model["id"]
    assert retrained["train_window"] == {
        "from": "2023-01-01T00:00:00Z",
        "to": "2023-03-08T00:00:00Z",
    }
    assert retrained["validation_window"] == {
        "from": "2023-03-08T00:00:00Z",
        "to": "2023-04-22T00:00:00Z",
    }
    ids = [row["id"] for row in json.loads(_invoke(tmp_path, "rl", "list", "--json").stdout)]
    assert set(ids) == {model["id"], retrained["id"]}


def test_bad_input_is_refused_naming_the_option(tmp_path: Path) -> None:
    cases = [
        (["rl", "train", "--symbols", "BTC/USDT"], "--from and --to"),
        (["rl", "train", *TRAIN, "--timesteps", "0"], "--timesteps"),
        (["rl", "train", *TRAIN, "--n-envs", "0"], "--n-envs"),
        (["rl", "evaluate", "zz"], "MODEL"),
        (["rl", "promote", "abcdef12"], "no model abcdef12"),
        (["rl", "train", "--days", "7"], "no model to retrain"),
    ]
    for args, message in cases:
        done = _invoke(tmp_path, *args)
        assert done.exit_code == 2, (args, done.output)
        assert message in done.output, (args, done.output)
