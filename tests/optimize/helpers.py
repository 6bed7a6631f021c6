"""A small study over the bundled BTC/USDT hourly candles, shared by the study tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Three months of hourly candles, two folds: each trial is a short backtest.
WINDOW = ("2022-06-01T00:00:00Z", "2022-09-01T00:00:00Z")
BASE_ARGS = [
    "optimize",
    "--strategy",
    "sma_cross",
    "--profile",
    "reference",
    "--symbols",
    "BTC/USDT",
    "--from",
    WINDOW[0],
    "--to",
    WINDOW[1],
    "--param",
    "fast=10..40:5",
    "--param",
    "slow=60..150:10",
    "--folds",
    "2",
]


def sigmax_command() -> list[str]:
    """The venv's ``sigmax`` console script (PYTHONPATH decides which sources it imports)."""
    return [str(Path(sys.executable).with_name("sigmax"))]


def child_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SIGMAX_") or k == "SIGMAX_REQUIRE_SERVICES"
    }
    env["SIGMAX_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2] / "src"), env.get("PYTHONPATH", "")]
    )
    return env
