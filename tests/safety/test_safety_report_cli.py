"""``sigmax safety`` prints figures as numbers (``0.00``, ``2.51 %``), never ``0E-8`` or a
30-digit quotient, and says which clock a pause's end counts in."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from conftest import CONFIG_VARIABLES
from sigmax.config.settings import SafetySettings
from sigmax.safety.enforcer import SafetyEnforcer
from sigmax.safety.store import SafetyStore
from sigmax.storage.database import Database

T0 = 1_696_338_000_000  # 2023-10-03 13:00:00 UTC
FAR_WALL = 4_102_444_800_000  # 2100-01-01: a wall-clock pause that has not ended


def _sigmax(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in CONFIG_VARIABLES and not k.startswith("SIGMAX_")
    }
    env.update(SIGMAX_HOME=str(home), COLUMNS="160")
    return subprocess.run(
        [sys.executable, "-c", "import sys; from sigmax.cli import main; sys.exit(main())", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sigmax_safety_prints_numbers_and_the_clock_of_until(tmp_path: Path) -> None:
    database = Database.open(f"sqlite:///{tmp_path / 'sigmax.db'}")
    try:
        safety = SafetyEnforcer(SafetySettings())
        # What a ledger hands over: a day PnL of exactly zero at 8 places, and a slippage
        # that is a long quotient.
        safety.observe_account(Decimal("1000"), Decimal("0E-8"), T0)
        safety.record_fill("BTC/USDT", Decimal("27000"), Decimal("26322.3"), T0)
        safety.pause("paused by the operator", T0, duration_ms=60_000, wall_ms=FAR_WALL)
        SafetyStore(database).save(safety.state, safety.take_events())
    finally:
        database.dispose()

    done = _sigmax(tmp_path, "safety")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "0E-8" not in out
    rows = {
        cells[0]: cells[1:3]
        for line in out.splitlines()
        if (cells := [cell.strip() for cell in line.strip("│ ").split("│")])
    }
    assert rows["daily_loss"] == ["0.00", "-10.00"]
    assert rows["slippage"] == ["2.51 %", "2.50 %"]
    assert "until: a resume" in out  # the slippage hold waits for one
    assert "manual: until 2100-01-01T00:01:00.000Z (wall clock)" in out
