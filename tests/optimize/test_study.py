"""A study end to end in this process: real backtests, the same seed the same study, results
stored, listed and applied to a new profile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from optimize.helpers import BASE_ARGS
from sigmax.cli import app

runner = CliRunner()


def _optimize(*extra: str) -> dict[str, object]:
    result = runner.invoke(app, [*BASE_ARGS, "--trials", "6", "--jobs", "0", "--json", *extra])
    assert result.exit_code == 0, result.output
    document: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return document


def test_the_same_seed_gives_the_same_study_and_it_is_stored(sigmax_home: Path) -> None:
    first = _optimize("--seed", "3", "--storage", "memory")
    second = _optimize("--seed", "3", "--storage", "memory")
    assert first["best_params"] == second["best_params"]
    assert first["best_value"] == second["best_value"]
    assert first["top_trials"] == second["top_trials"]
    assert first["overfitting"] == second["overfitting"]
    # The keys, each fold with its windows and both figures.
    for key in ("best_params", "best_value", "trials", "folds", "overfitting"):
        assert key in first
    assert first["trials"] == 6
    folds = first["folds"]
    assert isinstance(folds, list)
    assert len(folds) == 2
    for fold in folds:
        assert set(fold) >= {
            "train_from", "train_to", "test_from", "test_to", "in_sample", "out_of_sample"
        }  # fmt: skip
        assert fold["train_to"] < fold["test_from"]
    assert folds[0]["train_from"] == "2022-06-01T00:00:00Z"
    assert folds[1]["test_to"] == "2022-09-01T00:00:00Z"
    best = first["best_params"]
    assert isinstance(best, dict)
    assert set(best) == {"fast", "slow"}
    assert 10 <= best["fast"] <= 40
    assert best["fast"] % 5 == 0
    # Stored with the data's checksum, and listed.
    stored = list((sigmax_home / "studies").glob("*/study.json"))
    assert len(stored) == 1
    document = json.loads(stored[0].read_text(encoding="utf-8"))
    assert document["result"]["data"]["BTC/USDT"] == first["data"]["BTC/USDT"]  # type: ignore[index]
    assert len(document["result"]["data"]["BTC/USDT"]) == 64
    listed = runner.invoke(app, ["optimize", "--list", "--json"])
    assert listed.exit_code == 0
    (row,) = json.loads(listed.stdout)
    assert row["id"] == first["study"]
    assert row["best_params"] == best


def test_another_seed_is_another_study(sigmax_home: Path) -> None:
    one = _optimize("--seed", "1", "--storage", "memory")
    two = _optimize("--seed", "2", "--storage", "memory")
    assert one["study"] != two["study"]


def test_a_study_resumes_from_its_storage_to_the_trials_asked(sigmax_home: Path) -> None:
    first = _optimize("--seed", "5")
    page = sigmax_home / "study.html"
    again = runner.invoke(
        app,
        [
            *BASE_ARGS,
            "--trials",
            "8",
            "--jobs",
            "0",
            "--json",
            "--seed",
            "5",
            "--report",
            str(page),
        ],
    )
    assert again.exit_code == 0, again.output
    resumed = json.loads(again.stdout.strip().splitlines()[-1])
    assert resumed["study"] == first["study"]
    assert resumed["trials"] == 8
    assert resumed["trial_counts"]["requested"] == 8
    # Six trials were stored: only two more ran.
    assert resumed["trials_run"] == 2
    assert resumed["top_trials"][0]["value"] >= first["best_value"]
    html = page.read_text(encoding="utf-8")
    assert f"SIGMAX study {resumed['study']}" in html
    assert "Folds: in-sample against out-of-sample" in html
    assert "<script src=" not in html  # plotly inline: the page needs no network


def test_apply_writes_a_new_profile_and_never_replaces_one(
    sigmax_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "config", config)
    reference = (config / "profiles" / "reference.yaml").read_text(encoding="utf-8")
    monkeypatch.setenv("SIGMAX_CONFIG_DIR", str(config))
    study = _optimize("--seed", "4", "--storage", "memory")
    applied = runner.invoke(app, ["optimize", "--apply", str(study["study"])[:8], "--json"])
    assert applied.exit_code == 0, applied.output
    written = json.loads(applied.stdout)
    path = Path(written["path"])
    assert path.parent == config / "profiles"
    text = path.read_text(encoding="utf-8")
    values = yaml.safe_load(text)
    # The base profile's values, and the sma_cross periods said where they go.
    assert values["max_position_pct_of_equity"] == 100
    best = study["best_params"]
    assert isinstance(best, dict)
    assert f"--fast {best['fast']}" in text
    assert "Probability of backtest overfitting" in text
    # The new profile loads like any other.
    checked = runner.invoke(app, ["config", "validate", "--profile", path.stem])
    assert checked.exit_code == 0, checked.output
    again = runner.invoke(app, ["optimize", "--apply", str(study["study"])])
    assert again.exit_code == 2
    assert "already exists and is never replaced" in again.output
    assert path.read_text(encoding="utf-8") == text
    clash = runner.invoke(app, ["optimize", "--apply", str(study["study"]), "--name", "reference"])
    assert clash.exit_code == 2
    assert (config / "profiles" / "reference.yaml").read_text(encoding="utf-8") == reference


def test_bad_requests_are_refused_before_any_backtest(sigmax_home: Path) -> None:
    cases = [
        (["--objective", "omega"], "--objective: must be one of sharpe"),
        (["--param", "profile.buy_threshold=0.2..0.6"], "not a searchable parameter of"),
        (["--trials", "0"], "--trials: must be between 1"),
        (["--jobs", "-1"], "--jobs: must be 0"),
        (["--storage", "mysql://x"], "--storage: the scheme mysql is not supported"),
        (["--storage", "nowhere"], "--storage: must be memory, sqlite:///PATH"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, [*BASE_ARGS, "--jobs", "0", *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.output.replace("\n", " "), (extra, result.output)
    missing = runner.invoke(app, ["optimize", "--apply", "abc123"])
    assert missing.exit_code == 2
    assert "no stored study abc123" in missing.output
