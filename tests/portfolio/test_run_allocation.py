"""`sigmax run` with the allocation step and the quantum solver on: the records say so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from sigmax.cli import app
from sigmax.storage import Database
from sigmax.storage.models import DecisionRow

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.slow
def test_a_paper_replay_sizes_its_buys_together_and_hands_them_to_the_quantum_worker(
    sigmax_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sigmax_home / "config"
    shutil.copytree(REPO_CONFIG, config)
    text = (config / "config.yaml").read_text(encoding="utf-8")
    (config / "config.yaml").write_text(
        text.replace(
            "  enabled: false              # off: each BUY", "  enabled: true  # each BUY"
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("QUANTUM_ENABLED", "true")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--profile",
            "aggressive",
            "--symbols",
            "BTC/USDT,ETH/USDT,SOL/USDT,BNB/USDT",
            "--speed",
            "max",
            "--no-api",
            "--from",
            "2023-01-06T00:00:00Z",
            "--until",
            "2023-01-09T00:00:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    db = Database.open(f"sqlite:///{sigmax_home / 'sigmax.db'}")
    try:
        with db.session() as session:
            records = [row.record for row in session.scalars(select(DecisionRow))]
    finally:
        db.dispose()
    allocated = [r for r in records if "allocation" in r]
    assert allocated, "no BUY reached the allocation step"
    for record in allocated:
        assert record["decision"] == "BUY"
        part = record["allocation"]
        assert part["method"] == "classical"
        assert float(part["size_usd"]) <= float(part["proposed_size_usd"])
        assert (
            part["quantum"]
            in (
                "submitted",
                "dropped (the worker is busy with an earlier allocation)",
            )
            or part["positions_left"] == 0
        )
    assert any(r["allocation"]["quantum"] == "submitted" for r in allocated)
    # A decision the step did not size keeps the document it always had.
    assert any("allocation" not in r for r in records)
